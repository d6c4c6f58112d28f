"""The catalog, redemptions and the prize cabinet: points and prizes become things.

A request holds the points and one unit of stock in the same transaction as the
request itself, so two terminals can never spend the same points or the last
unit twice. Every later step moves the redemption one way along the table in
``redemption.py`` and writes the matching ledger transfer.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

import attrs

from ..domain import ledger
from ..domain.balances import Balance
from ..domain.json_form import from_json
from ..domain.ledger import Movement
from ..domain.prizes import (
    check_fulfils,
    check_owed,
    prizes_to_trade,
    trade_rule,
    traded_value_cents,
)
from ..domain.programs import Program
from ..domain.records import Prize, PrizeStatus
from ..domain.redemption import (
    CatalogItem,
    Command,
    PrizeFulfilment,
    PrizeTrade,
    Redemption,
    RedemptionStatus,
    StockReason,
    check_request,
    check_separate_duties,
    transition,
)
from ..domain.refs import Ref, RefKind, next_id
from ..domain.staff import Action, authorise
from ..domain.validation import check_id, check_text, is_row_id
from ..errors import AlreadyExists, InvalidInput, InvalidTransition, NotFound
from ..store.lookup import find_participant, find_program
from ..store.port import (
    Catalog,
    LedgerPosting,
    ParticipantLookup,
    ProgramLookup,
    Redemptions,
)
from ..views.balance import balance_of
from .holds import expire_overdue, release_hold
from .postings import move_stock, transfer
from .unit_of_work import UnitOfWork

MAX_QUANTITY = 100_000
"""No stock count is larger: a bigger number is a typo."""
MAX_COST = 10**9
"""No price, in points or cents, is larger."""
T = TypeVar("T")


class RedemptionLookup(Redemptions, ProgramLookup, Protocol):
    """A redemption by id, and its program's rules."""


class BalanceReads(ParticipantLookup, ProgramLookup, LedgerPosting, Protocol):
    """A participant's balance: their enrolment, their program, the ledger's balances and cap
    usage."""


@attrs.frozen
class RedemptionResult:
    """A redemption after a request or a step, with the participant's balance."""

    redemption: Redemption
    balance: Balance
    replayed: bool = False


# --- catalog ------------------------------------------------------------------------


def add_item(
    work: UnitOfWork,
    sku: str,
    *,
    name: str,
    cost: int,
    actor: str,
    stock: int | None = None,
    category: str | None = None,
    low_stock: int = 0,
) -> CatalogItem:
    """Add a catalog item (see ``Clinic.add_item``)."""
    check_id(sku, "sku")
    item_name = check_text(name, "name", required=True)
    _count(cost, "cost", minimum=0, maximum=MAX_COST)
    _count(low_stock, "low stock threshold", minimum=0)
    if stock is not None:
        _count(stock, "stock", minimum=0)
    if category is not None:
        check_id(category, "category")
    elif cost == 0:
        # Bought for no points and handed over for no prize: nobody could ever receive it.
        raise InvalidInput(
            f"catalog item {sku!r} costs 0 points and fulfils no prize category:"
            " give it a cost in points or a prize category"
        )
    now = work.clock()
    with work.write(actor, Action.MANAGE_CATALOG) as tx:
        if tx.item(sku) is not None:
            raise AlreadyExists(f"catalog item {sku!r} already exists")
        assert item_name is not None
        counted = None if stock is None else 0  # the first restock movement adds the units
        tx.add_item(CatalogItem(sku, item_name, cost, counted, category, low_stock, now, actor))
        if stock:
            move_stock(tx, work.clock(), sku, stock, StockReason.RESTOCK, None, actor)
        return _item(tx, sku)


def restock(work: UnitOfWork, sku: str, quantity: int, *, actor: str) -> CatalogItem:
    """Count ``quantity`` more units of a stocked item in (see ``Clinic.restock``)."""
    _count(quantity, "quantity", minimum=1)
    with work.write(actor, Action.MANAGE_CATALOG) as tx:
        item = _item(tx, sku)
        if item.stock is None:
            raise InvalidTransition(f"{sku} is bought on demand and has no stock to count")
        move_stock(tx, work.clock(), sku, quantity, StockReason.RESTOCK, None, actor)
        return _item(tx, sku)


# --- redemption lifecycle ---------------------------------------------------------------


def request_redemption(
    work: UnitOfWork, participant: str, sku: str, *, actor: str, key: str | None = None
) -> RedemptionResult:
    """Hold an item's cost in points and a unit of stock (see ``Clinic.request_redemption``)."""
    request = {"op": "redeem", "participant": participant, "sku": sku}
    with work.write(actor, Action.REQUEST) as tx:
        person = find_participant(tx, participant)

        def perform() -> RedemptionResult:
            item = _item(tx, sku)
            available = tx.balance(person.program_id, ledger.available(person.id))
            check_request(item, person.id, available)
            redemption = Redemption(
                id=next_id(tx.last_redemption()),
                program_id=person.program_id,
                participant=person.id,
                sku=sku,
                cost=item.cost,
                status=RedemptionStatus.REQUESTED,
                requested_at=work.clock(),
                requested_by=actor,
            )
            tx.add_redemption(redemption)
            cause = Ref.to(RefKind.REDEMPTION, redemption.id)
            transfer(
                tx, work.clock(), person.program_id, Movement.HOLD, person.id, item.cost, actor,
                f"held for {sku}", cause,
            )  # fmt: skip
            if item.stock is not None:
                move_stock(tx, work.clock(), sku, -1, StockReason.REQUEST, cause, actor)
            return _result(work, tx, redemption)

        return work.idempotent(tx, person.program_id, key, request, _replayed_redemption, perform)


def approve_redemption(work: UnitOfWork, redemption_id: int, *, actor: str) -> RedemptionResult:
    """A clinician agrees the item fits (see ``Clinic.approve_redemption``)."""
    with work.write(actor, Action.APPROVE) as tx:
        redemption, program = _redemption(tx, redemption_id)
        status = transition(
            redemption.status, Command.APPROVE, require_approval=program.require_approval
        )
        approved = attrs.evolve(
            redemption, status=status, approved_at=work.clock(), approved_by=actor
        )
        tx.update_redemption(approved)
        return _result(work, tx, approved)


def fulfil_redemption(
    work: UnitOfWork,
    redemption_id: int,
    *,
    actor: str,
    note: str | None = None,
    cost_cents: int | None = None,
) -> RedemptionResult:
    """Hand the item over and spend the held points (see ``Clinic.fulfil_redemption``)."""
    note = check_text(note, "note")
    if cost_cents is not None:
        _count(cost_cents, "cost in cents", minimum=0, maximum=MAX_COST)
    with work.write(actor, Action.FULFIL) as tx:
        redemption, program = _redemption(tx, redemption_id)
        status = transition(
            redemption.status, Command.FULFIL, require_approval=program.require_approval
        )
        check_separate_duties(program, redemption, actor)
        fulfilled = attrs.evolve(
            redemption,
            status=status,
            fulfilled_at=work.clock(),
            fulfilled_by=actor,
            note=note,
            actual_cost_cents=cost_cents,
        )
        tx.update_redemption(fulfilled)
        transfer(
            tx, work.clock(), redemption.program_id, Movement.SPEND, redemption.participant,
            redemption.cost, actor, f"{redemption.sku} handed over",
            Ref.to(RefKind.REDEMPTION, redemption.id),
        )  # fmt: skip
        return _result(work, tx, fulfilled)


def cancel_redemption(
    work: UnitOfWork, redemption_id: int, *, reason: str, actor: str
) -> RedemptionResult:
    """Cancel or decline, releasing the hold (see ``Clinic.cancel_redemption``)."""
    why = check_text(reason, "reason", required=True)
    assert why is not None
    with work.write(actor, Action.CANCEL) as tx:
        redemption, _ = _redemption(tx, redemption_id)
        cancelled = release_hold(tx, work.clock, redemption, Command.CANCEL, actor, why)
        return _result(work, tx, cancelled)


def expire(work: UnitOfWork, *, actor: str) -> list[Redemption]:
    """Release every overdue hold now (see ``Clinic.expire``).

    Not a ``write``: its first step would expire the holds and leave nothing to return.
    """
    with work.journaled() as tx:
        work.check_vouch(tx, actor, work.clock())
        authorise(tx.staff(actor), actor, Action.EXPIRE)
        return expire_overdue(tx, work.clock, actor)


# --- prizes --------------------------------------------------------------------------


def fulfil_prize(
    work: UnitOfWork, prize_id: int, *, sku: str, actor: str, note: str | None = None
) -> Prize:
    """Hand over an item of the won category (see ``Clinic.fulfil_prize``)."""
    note = check_text(note, "note")
    with work.write(actor, Action.FULFIL) as tx:
        prize = _found(tx.prize(prize_id) if is_row_id(prize_id) else None, f"prize {prize_id}")
        check_owed(prize)
        item = _item(tx, sku)
        check_fulfils(prize, item)
        if item.stock is not None:
            cause = Ref.to(RefKind.PRIZE, prize_id)
            move_stock(tx, work.clock(), sku, -1, StockReason.PRIZE, cause, actor)
        tx.fulfil_prize(PrizeFulfilment(prize_id, sku, actor, work.clock(), note))
        return attrs.evolve(prize, status=PrizeStatus.FULFILLED)


def trade_prizes(work: UnitOfWork, participant: str, *, give: str, get: str, actor: str) -> Prize:
    """Exchange owed prizes for one better one (see ``Clinic.trade_prizes``)."""
    with work.write(actor, Action.FULFIL) as tx:
        person = find_participant(tx, participant)
        program = find_program(tx, person.program_id)
        rule = trade_rule(program, give, get)
        given = prizes_to_trade(rule, person.id, tx.prizes(person.id))
        now = work.clock()
        received = Prize(
            id=next_id(tx.last_prize()),
            program_id=program.id,
            participant=person.id,
            outcome_id=None,
            draw=None,
            category=get,
            value_cents=traded_value_cents(program, get),
            won_at=now,
        )
        tx.add_prizes([received])
        tx.add_prize_trades([PrizeTrade(p.id, received.id, actor, now) for p in given])
        return received


# --- helpers -------------------------------------------------------------------------


def _item(tx: Catalog, sku: str) -> CatalogItem:
    return _found(tx.item(sku), f"catalog item {sku!r}")


def _redemption(tx: RedemptionLookup, redemption_id: int) -> tuple[Redemption, Program]:
    redemption = _found(
        tx.redemption(redemption_id) if is_row_id(redemption_id) else None,
        f"redemption {redemption_id}",
    )
    return redemption, find_program(tx, redemption.program_id)


def _result(work: UnitOfWork, tx: BalanceReads, redemption: Redemption) -> RedemptionResult:
    person = find_participant(tx, redemption.participant)
    program = find_program(tx, redemption.program_id)
    return RedemptionResult(redemption, balance_of(tx, person, program, work.clock()))


def _count(value: int, what: str, *, minimum: int, maximum: int = MAX_QUANTITY) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be a whole number")
    if not minimum <= value <= maximum:
        raise InvalidInput(f"{what} must be between {minimum} and {maximum:,}")
    return value


def _found(value: T | None, what: str) -> T:
    if value is None:
        raise NotFound(f"no {what}")
    return value


def _replayed_redemption(data: Any) -> RedemptionResult:
    return attrs.evolve(from_json(RedemptionResult, data), replayed=True)
