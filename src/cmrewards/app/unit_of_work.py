"""The unit of work every ``Clinic`` method runs in, and the readers the parts share."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar

from ..domain import ledger
from ..domain.chain import canonical, position_after, sealed
from ..domain.clock import (
    Clock,
    system_clock,
    to_utc_text,
)
from ..domain.json_form import to_json
from ..domain.ledger import Movement, Transfer
from ..domain.records import IdempotencyRecord, Participant
from ..domain.redemption import Redemption, StockMovement, StockReason
from ..domain.refs import next_id
from ..domain.staff import Action, Staff, authorise
from ..domain.validation import check_text
from ..errors import (
    IdempotencyConflict,
    InsufficientPoints,
)
from ..store.journaling import JournalingTx
from ..store.port import IdempotencyCheck, LedgerPosting, StaffLookup, Store, Tx

R = TypeVar("R")


class ClinicBase:
    """What every part of the facade shares: the store, the clock, the unit-of-work helpers."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = system_clock,
        seeds: Callable[[], int] = lambda: secrets.randbits(63),
    ) -> None:
        self._store = store
        self._clock = clock
        self._seeds = seeds

    @property
    def location(self) -> str:
        return self._store.location

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self, actor: str) -> Iterator[Tx]:
        """One unit of work on behalf of ``actor``.

        Overdue redemption holds expire first: the contract's "on the next write",
        so points held past the program's ``hold_days`` are never stuck.
        """
        with self._unit() as tx:
            if tx.staff(actor) is not None:
                self._expire_overdue(tx, actor)
            yield tx

    @contextmanager
    def _unit(self) -> Iterator[Tx]:
        """One unit of work whose writes of journaled records are journaled."""
        with self._store.write() as raw:
            yield JournalingTx(raw, self._clock())

    def _expire_overdue(self, tx: Tx, actor: str) -> list[Redemption]:
        """Release holds older than their program's ``hold_days`` (see ``Redeeming``)."""
        return []

    def _move_stock(
        self, tx: Tx, sku: str, change: int, reason: StockReason, cause: str | None, actor: str
    ) -> None:
        last = tx.last_stock_movement()
        movement = StockMovement(
            id=next_id(last),
            sku=sku,
            change=change,
            reason=reason,
            cause=cause,
            actor=actor,
            at=self._clock(),
        )
        tx.add_stock_movements([movement])

    def _authorise(self, tx: StaffLookup, actor: str, action: Action) -> Staff:
        return authorise(tx.staff(actor), actor, action)

    def _idempotent(
        self,
        tx: IdempotencyCheck,
        scope: str,
        key: str | None,
        request: dict[str, Any],
        replay: Callable[[Any], R],
        perform: Callable[[], R],
    ) -> R:
        """Run ``perform`` once per key: a repeat returns the stored result, writing nothing."""
        if key is None:
            return perform()
        check_text(key, "key", required=True)
        fingerprint = hashlib.sha256(canonical(request).encode()).hexdigest()
        earlier = tx.idempotency(scope, key)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise IdempotencyConflict(
                    f"key {key!r} was already used on {to_utc_text(earlier.created_at)}"
                    " for a different request; nothing was written"
                )
            return replay(earlier.result)
        result = perform()
        tx.remember(IdempotencyRecord(scope, key, fingerprint, to_json(result), self._clock()))
        return result

    def _transfer(
        self,
        tx: LedgerPosting,
        program_id: str,
        movement: Movement,
        participant: str | None,
        amount: int,
        actor: str,
        reason: str,
        cause: str | None,
        occurred_at: dt.datetime | None = None,
        *,
        accounts: tuple[str, str] | None = None,
        reverses: int | None = None,
    ) -> Transfer:
        if accounts is None:
            assert participant is not None
            accounts = ledger.route(movement, participant)
        now = self._clock()
        transfer_id, prev_hash = position_after(tx.last_transfer())
        transfer = sealed(
            Transfer(
                id=transfer_id,
                program_id=program_id,
                kind=movement,
                from_account=accounts[0],
                to_account=accounts[1],
                amount=amount,
                participant=participant,
                actor=actor,
                reason=reason,
                cause=cause,
                reverses=reverses,
                occurred_at=occurred_at or now,
                recorded_at=now,
                prev_hash=prev_hash,
                hash="",
            )
        )
        tx.append_transfers([transfer])
        return transfer


def require_available(tx: Tx, person: Participant, points: int, doing: str) -> None:
    have = tx.balance(person.program_id, ledger.available(person.id))
    if have < points:
        raise InsufficientPoints(
            f"cannot {doing} {points} points: {person.id} has {have} available"
        )
