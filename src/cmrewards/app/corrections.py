"""Balances, history and corrections: adjustments and reversals, never edits."""

from __future__ import annotations

from typing import Any

import attrs

from ..domain import ledger
from ..domain.caps import cap_period
from ..domain.earning import value_cents
from ..domain.json_form import from_json
from ..domain.ledger import Movement, Transfer
from ..domain.redemption import Command, StockReason, transition
from ..domain.refs import Ref, RefKind, id_of
from ..domain.results import (
    Balance,
    HistoryEntry,
    TransferResult,
)
from ..domain.staff import Action
from ..domain.validation import check_text, is_row_id
from ..errors import (
    InsufficientPoints,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from ..store.lookup import find_participant, find_program
from ..store.port import Tx
from ..views.balance import balance_of
from ..views.history import history_entries
from .unit_of_work import ClinicBase, require_available

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
                    Ref.to(RefKind.TRANSFER, original.id),
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
        redemption_id = id_of(spend.cause, RefKind.REDEMPTION)
        assert redemption_id is not None
        assert spend.participant is not None
        redemption = tx.redemption(redemption_id)
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


def _replayed_transfer(data: Any) -> TransferResult:
    return attrs.evolve(from_json(TransferResult, data), replayed=True)
