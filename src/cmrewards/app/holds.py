"""Releasing a redemption's hold: a cancel, a decline or an expiry gives the held points and
the unit of stock back.

``expire_overdue`` is the first step of every write (``UnitOfWork.write``): holds
older than a program's ``hold_days`` are released "at the start of the next write"
(docs/design.md section 5), so held points are never stuck waiting for ``expire``.
"""

from __future__ import annotations

import datetime as dt

import attrs

from ..domain.clock import Clock
from ..domain.ledger import Movement
from ..domain.programs import Program
from ..domain.redemption import Command, Redemption, StockReason, is_overdue, transition
from ..domain.refs import Ref, RefKind
from ..store.lookup import find_program
from ..store.port import HoldRelease
from .postings import move_stock, transfer


def release_hold(
    tx: HoldRelease, clock: Clock, redemption: Redemption, command: Command, actor: str, reason: str
) -> Redemption:
    """Close an open ``redemption`` by ``command`` (cancel or expire) and return it closed.

    ``InvalidTransition`` if its status does not allow ``command``. The release
    transfer and the returned unit of stock name the redemption as their cause.
    """
    program = find_program(tx, redemption.program_id)
    status = transition(redemption.status, command, require_approval=program.require_approval)
    closed = attrs.evolve(
        redemption, status=status, closed_at=clock(), closed_by=actor, close_reason=reason
    )
    tx.update_redemption(closed)
    cause = Ref.to(RefKind.REDEMPTION, redemption.id)
    transfer(
        tx, clock(), redemption.program_id, Movement.RELEASE, redemption.participant,
        redemption.cost, actor, reason, cause,
    )  # fmt: skip
    item = tx.item(redemption.sku)
    if item is not None and item.stock is not None:
        move_stock(tx, clock(), redemption.sku, 1, StockReason.CANCEL, cause, actor)
    return closed


def held_long_enough(now: dt.datetime) -> dt.datetime:
    """The latest request time a hold may expire at ``now`` by: programs hold for at least
    a day, so younger holds need not even be read (``UnitOfWork.write`` reads them ahead)."""
    return now - dt.timedelta(days=1)


def expire_overdue(tx: HoldRelease, clock: Clock, actor: str) -> list[Redemption]:
    """Release every hold older than its program's ``hold_days``, attributed to ``actor``
    (whose write triggered it, or who ran ``expire``). Returns the expired redemptions
    in the order the store lists open ones."""
    now = clock()
    expired = []
    programs: dict[str, Program] = {}
    for redemption in tx.open_redemptions(held_long_enough(now)):
        program = programs.get(redemption.program_id) or find_program(tx, redemption.program_id)
        programs[program.id] = program
        if is_overdue(redemption, program.hold_days, now):
            reason = f"expired: held longer than {program.hold_days} days"
            expired.append(release_hold(tx, clock, redemption, Command.EXPIRE, actor, reason))
    return expired
