"""Balances, history and corrections: adjustments and reversals, never edits."""

from __future__ import annotations

from typing import Any

import attrs

from . import ledger
from .caps import cap_period
from .earning import value_cents
from .errors import (
    InsufficientPoints,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from .ledger import Movement, Transfer
from .records import OutcomeRecord
from .redemption import Command, StockReason, transition
from .results import (
    Balance,
    HistoryEntry,
    TransferResult,
)
from .serde import from_json
from .staff import Action
from .store.port import Tx
from .unit import (
    ClinicBase,
    balance_of,
    check_text,
    find_participant,
    find_program,
    is_row_id,
    require_available,
)

MAX_POINTS = 10**9
"""No single adjustment is larger: a bigger number is a typo, not a correction."""


class Corrections(ClinicBase):
    """Reading balances and correcting them with new transfers."""

    # --- balances and corrections ---------------------------------------------

    def balance(self, participant: str) -> Balance:
        with self._store.read() as tx:
            person = find_participant(tx, participant)
            return balance_of(tx, person, find_program(tx, person.program_id), self._clock())

    def history(self, participant: str) -> list[HistoryEntry]:
        """Outcomes and transfers in the order they were recorded, with running balances."""
        with self._store.read() as tx:
            person = find_participant(tx, participant)
            outcomes = tx.outcomes(person.id)
            transfers = tx.transfers(person.id)
        return history_entries(person.id, outcomes, transfers)

    def adjust(
        self, participant: str, points: int, *, reason: str, actor: str, key: str | None = None
    ) -> TransferResult:
        """Add (positive) or remove (negative) points by hand, with a reason."""
        if isinstance(points, bool) or not isinstance(points, int) or points == 0:
            raise InvalidInput("points must be a whole number other than 0, e.g. +20 or -15")
        if abs(points) > MAX_POINTS:
            raise InvalidInput(f"points must be between -{MAX_POINTS:,} and {MAX_POINTS:,}")
        reason_text = check_text(reason, "reason", required=True)
        assert reason_text is not None
        request = {"op": "adjust", "participant": participant, "points": points, "reason": reason}
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.ADJUST)
            person = find_participant(tx, participant)
            program = find_program(tx, person.program_id)

            def adjust() -> TransferResult:
                movement = Movement.ADJUSTMENT_UP if points > 0 else Movement.ADJUSTMENT_DOWN
                if points < 0:
                    require_available(tx, person, -points, "remove")
                transfer = self._transfer(
                    tx, program.id, movement, person.id, abs(points), actor, reason_text, None
                )
                return TransferResult(
                    transfer=transfer, balance=balance_of(tx, person, program, self._clock())
                )

            return self._idempotent(tx, program.id, key, request, _replayed_transfer, adjust)

    def reverse(
        self,
        transfer_id: int,
        *,
        reason: str,
        actor: str,
        key: str | None = None,
        returned: bool = False,
    ) -> TransferResult:
        """Undo one transfer with a mirror transfer; the original row is never touched.

        Reversing a fulfilled redemption's spend gives the points back (the mirror
        transfer, then the release of the hold it returns to) and marks the
        redemption reversed; the item goes back into stock only if ``returned``.
        """
        reason_text = check_text(reason, "reason", required=True)
        assert reason_text is not None
        request = {"op": "reverse", "transfer": transfer_id, "reason": reason, "returned": returned}
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.REVERSE)
            original = tx.transfer(transfer_id) if is_row_id(transfer_id) else None
            if original is None:
                raise NotFound(f"no transfer {transfer_id}")

            def reverse() -> TransferResult:
                self._check_reversible(tx, original)
                transfer = self._transfer(
                    tx,
                    original.program_id,
                    Movement.REVERSAL,
                    original.participant,
                    original.amount,
                    actor,
                    reason_text,
                    f"transfer:{original.id}",
                    accounts=(original.to_account, original.from_account),
                    reverses=original.id,
                )
                assert original.participant is not None
                person = find_participant(tx, original.participant)
                program = find_program(tx, person.program_id)
                if original.kind is Movement.SPEND:
                    self._undo_redemption(tx, original, actor, reason_text, returned)
                capped = program.cap_cents is not None
                if capped and original.kind in (Movement.AWARD, Movement.BONUS):
                    # What was taken back no longer counts against the annual cap.
                    period = cap_period(program, person.start, original.occurred_at)
                    given_back = value_cents(program, original.amount)
                    tx.add_cap_usage(person.id, period, -given_back)
                return TransferResult(
                    transfer=transfer, balance=balance_of(tx, person, program, self._clock())
                )

            return self._idempotent(
                tx, original.program_id, key, request, _replayed_transfer, reverse
            )

    def _undo_redemption(
        self, tx: Tx, spend: Transfer, actor: str, reason: str, returned: bool
    ) -> None:
        assert spend.cause is not None
        assert spend.participant is not None
        redemption = tx.redemption(int(spend.cause.removeprefix("redemption:")))
        assert redemption is not None
        program = find_program(tx, redemption.program_id)
        status = transition(
            redemption.status, Command.REVERSE, require_approval=program.require_approval
        )
        now = self._clock()
        tx.update_redemption(
            attrs.evolve(
                redemption, status=status, closed_at=now, closed_by=actor, close_reason=reason
            )
        )
        self._transfer(
            tx, spend.program_id, Movement.RELEASE, spend.participant, spend.amount, actor,
            reason, spend.cause,
        )  # fmt: skip
        item = tx.item(redemption.sku)
        if returned and item is not None and item.stock is not None:
            self._move_stock(tx, item.sku, 1, StockReason.RETURN, spend.cause, actor)

    def _check_reversible(self, tx: Tx, original: Transfer) -> None:
        earlier = tx.reversal_of(original.id)
        if earlier is not None:
            raise InvalidTransition(
                f"transfer {original.id} was already reversed by transfer {earlier.id}"
            )
        if original.kind is Movement.REVERSAL:
            raise InvalidTransition(
                f"transfer {original.id} is itself a reversal; use 'adjust' to correct it"
            )
        if original.kind in (Movement.HOLD, Movement.RELEASE):
            raise InvalidTransition(
                f"transfer {original.id} is a {original.kind}; cancel the redemption instead"
            )
        if original.kind is Movement.SPEND and original.cause is None:
            raise InvalidTransition(f"transfer {original.id} spends points of no redemption")
        source = original.to_account
        if ledger.is_participant_account(source):
            have = tx.balance(original.program_id, source)
            if have < original.amount:
                raise InsufficientPoints(
                    f"reversing transfer {original.id} needs {original.amount} points in"
                    f" {source} but it holds {have}"
                )


def history_entries(
    participant: str, outcomes: list[OutcomeRecord], transfers: list[Transfer]
) -> list[HistoryEntry]:
    """A participant's outcomes and transfers in ledger order, with running balances."""
    available = held = 0
    entries = []
    for event in _ledger_order(outcomes, transfers):
        if isinstance(event, OutcomeRecord):
            entries.append(
                HistoryEntry(
                    occurred_at=event.occurred_at,
                    recorded_at=event.recorded_at,
                    kind="outcome",
                    detail=f"{event.target}: {event.outcome}",
                    points=0,
                    available_points=available,
                    held_points=held,
                    ref=f"outcome:{event.id}",
                    actor=event.actor,
                )
            )
            continue
        before = available + held
        available += _change(event, ledger.available(participant))
        held += _change(event, ledger.held(participant))
        entries.append(
            HistoryEntry(
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
                kind=str(event.kind),
                detail=event.reason,
                points=available + held - before,
                available_points=available,
                held_points=held,
                ref=f"transfer:{event.id}",
                actor=event.actor,
            )
        )
    return entries


def _change(transfer: Transfer, account: str) -> int:
    if transfer.to_account == account:
        return transfer.amount
    if transfer.from_account == account:
        return -transfer.amount
    return 0


def _ledger_order(
    outcomes: list[OutcomeRecord], transfers: list[Transfer]
) -> list[OutcomeRecord | Transfer]:
    """Outcomes and transfers merged in the order they were recorded.

    Transfers keep their ledger (id) order, so the running balance replays the
    ledger and never dips below zero; each outcome stands just before the
    transfers it caused.
    """
    merged: list[OutcomeRecord | Transfer] = []
    i = j = 0
    while i < len(outcomes) or j < len(transfers):
        if j == len(transfers):
            merged.append(outcomes[i])
            i += 1
            continue
        transfer = transfers[j]
        if i < len(outcomes):
            outcome = outcomes[i]
            caused_by = _outcome_id(transfer.cause)
            belongs_earlier = caused_by is not None and caused_by < outcome.id
            if not belongs_earlier and outcome.recorded_at <= transfer.recorded_at:
                merged.append(outcome)
                i += 1
                continue
        merged.append(transfer)
        j += 1
    return merged


def _outcome_id(cause: str | None) -> int | None:
    if cause is None or not cause.startswith("outcome:"):
        return None
    return int(cause.removeprefix("outcome:"))


def _replayed_transfer(data: Any) -> TransferResult:
    return attrs.evolve(from_json(TransferResult, data), replayed=True)
