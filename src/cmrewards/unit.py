"""The unit of work every ``Clinic`` method runs in, and the readers the parts share."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar, cast

from . import ledger
from .caps import cap_period
from .chain import canonical, position_after, sealed
from .clock import (
    Clock,
    system_clock,
    to_utc_text,
)
from .earning import value_cents
from .errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    NotFound,
)
from .journal import JournalingTx
from .ledger import Movement, Transfer
from .programs import Program
from .records import IdempotencyRecord, Participant
from .redemption import Redemption, StockMovement, StockReason
from .results import (
    Balance,
)
from .serde import to_json
from .staff import Action, Staff, authorise
from .store.port import Store, Tx

R = TypeVar("R")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MAX_TEXT = 500


def is_row_id(value: int) -> bool:
    """Whether ``value`` can name a row at all (ids are positive 64-bit integers)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def check_id(value: str, what: str) -> str:
    """Pseudonymous ids only: letters, digits, '.', '-', '_' (so no names with spaces)."""
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(
            f"{what} {value!r} must be 1-64 letters, digits, '.', '-' or '_' (a pseudonymous id)"
        )
    return value


def check_text(value: str | None, what: str, *, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InvalidInput(f"{what} must not be empty")
        return None
    if len(value) > _MAX_TEXT or any(ord(c) < 32 and c not in "\t" for c in value):
        raise InvalidInput(f"{what} must be one line of at most {_MAX_TEXT} characters")
    return value


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
            yield cast(Tx, JournalingTx(raw, self._clock()))

    def _expire_overdue(self, tx: Tx, actor: str) -> list[Redemption]:
        """Release holds older than their program's ``hold_days`` (see ``Redeeming``)."""
        return []

    def _move_stock(
        self, tx: Tx, sku: str, change: int, reason: StockReason, cause: str | None, actor: str
    ) -> None:
        last = tx.last_stock_movement()
        movement = StockMovement(
            id=1 if last is None else last.id + 1,
            sku=sku,
            change=change,
            reason=reason,
            cause=cause,
            actor=actor,
            at=self._clock(),
        )
        tx.add_stock_movements([movement])

    def _authorise(self, tx: Tx, actor: str, action: Action) -> Staff:
        return authorise(tx.staff(actor), actor, action)

    def _idempotent(
        self,
        tx: Tx,
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
        tx: Tx,
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


def choice(kind: type[Any], value: Any, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member) for member in kind)
        raise InvalidInput(f"{what} {value!r} is not one of {allowed}") from None


def find_program(tx: Tx, program_id: str) -> Program:
    program = tx.program(program_id)
    if program is None:
        raise NotFound(f"no program {program_id!r}")
    return program


def find_participant(tx: Tx, participant: str) -> Participant:
    # No stored id is malformed (enrolment checks), so a malformed one is not looked up: a
    # NUL in an imported row must be "no participant", not a value PostgreSQL refuses.
    is_id = isinstance(participant, str) and _ID.match(participant)
    record = tx.participant(participant) if is_id else None
    if record is None:
        raise NotFound(f"no participant {participant!r}")
    return record


def balance_of(tx: Tx, person: Participant, program: Program, now: dt.datetime) -> Balance:
    available = tx.balance(program.id, ledger.available(person.id))
    held = tx.balance(program.id, ledger.held(person.id))
    cap_remaining = None
    if program.cap_cents is not None:
        used = tx.cap_usage(person.id, cap_period(program, person.start, now))
        cap_remaining = max(program.cap_cents - used, 0)
    return Balance(
        participant=person.id,
        program_id=program.id,
        points=available + held,
        held_points=held,
        available_points=available,
        value_cents=value_cents(program, available + held),
        cap_remaining_cents=cap_remaining,
    )


def require_available(tx: Tx, person: Participant, points: int, doing: str) -> None:
    have = tx.balance(person.program_id, ledger.available(person.id))
    if have < points:
        raise InsufficientPoints(
            f"cannot {doing} {points} points: {person.id} has {have} available"
        )
