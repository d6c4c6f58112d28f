"""Corrections: adjustments and reversals are new transfers, and a corrected or voided
outcome a new ``Correction`` followed by its settlement; nothing old is ever edited."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from ..domain import ledger
from ..domain.caps import (
    adjusted_in,
    adjustment_cap_change,
    adjustment_charges,
    cap_excess,
    cap_given_back,
    cap_period,
    cap_refusal,
)
from ..domain.corrections import (
    check_adjustment,
    check_correctable,
    check_points_to_remove,
    check_points_to_take_back,
    check_reversible,
    check_still_given,
)
from ..domain.earning import value_cents
from ..domain.json_form import from_json
from ..domain.ledger import Movement, Transfer
from ..domain.programs import Program
from ..domain.records import Correction, CorrectionKind, OutcomeRecord, Participant
from ..domain.redemption import Command, StockReason, transition
from ..domain.refs import Ref, RefKind, id_of, next_id
from ..domain.results import CorrectionResult, TransferResult
from ..domain.schedules import AwardKind, Outcome
from ..domain.settlement import (
    Paid,
    effective_history,
    paid_by_outcome,
    replay_episodes,
    settled_outcome,
)
from ..domain.staff import Action, authorise
from ..domain.validation import check_text, choice, is_row_id
from ..errors import NotFound
from ..store.lookup import find_episodes, find_participant, find_program
from ..store.port import Corrections, HoldRelease, LedgerPosting, Prizes, RecordTx
from ..views.balance import balance_of
from .postings import move_stock, transfer
from .settling import settle
from .unit_of_work import UnitOfWork


def adjust(
    work: UnitOfWork,
    participant: str,
    points: int,
    *,
    reason: str,
    actor: str,
    key: str | None = None,
    over_cap: bool = False,
) -> TransferResult:
    """Add (positive) or remove (negative) points by hand (see ``Clinic.adjust``)."""
    check_adjustment(points)
    reason_text = check_text(reason, "reason", required=True)
    assert reason_text is not None
    request: dict[str, Any] = {
        "op": "adjust", "participant": participant, "points": points, "reason": reason
    }  # fmt: skip
    if over_cap:  # only when asked, so keys used before it replay as they did
        request["over_cap"] = True
    with work.write(actor, Action.ADJUST) as tx:
        if over_cap:
            authorise(tx.staff(actor), actor, Action.GRANT_OVER_CAP)
        person = find_participant(tx, participant)
        program = find_program(tx, person.program_id)

        def perform() -> TransferResult:
            movement = Movement.ADJUSTMENT_UP if points > 0 else Movement.ADJUSTMENT_DOWN
            if points < 0:
                available = tx.balance(program.id, ledger.available(person.id))
                check_points_to_remove(person.id, -points, available)
            now = work.clock()
            change = over = None
            if program.cap_cents is not None:
                period = cap_period(program, person.cap_start, now)
                adjusted = adjusted_in(
                    adjustment_charges(program, person.cap_start, tx.transfers(person.id)), period
                )
                value = value_cents(program, abs(points))
                change = adjustment_cap_change(movement, value, adjusted)
                used = tx.cap_usage(person.id, period)
                over = cap_excess(program, used, change) or None
                if over is not None and not over_cap:
                    what = f"{points:+,} points"
                    raise cap_refusal(program, person.id, period, used, value, what)
                tx.add_cap_usage(person.id, period, change)
            posted = transfer(
                tx, now, program.id, movement, person.id, abs(points), actor, reason_text, None,
                cap_change_cents=change, over_cap_cents=over,
            )  # fmt: skip
            return TransferResult(transfer=posted, balance=balance_of(tx, person, program, now))

        return work.idempotent(tx, program.id, key, request, _replayed_transfer, perform)


def reverse(
    work: UnitOfWork,
    transfer_id: int,
    *,
    reason: str,
    actor: str,
    key: str | None = None,
    returned: bool = False,
) -> TransferResult:
    """Undo one transfer with a mirror transfer (see ``Clinic.reverse``)."""
    reason_text = check_text(reason, "reason", required=True)
    assert reason_text is not None
    request = {"op": "reverse", "transfer": transfer_id, "reason": reason, "returned": returned}
    with work.write(actor, Action.REVERSE) as tx:
        original = tx.transfer(transfer_id) if is_row_id(transfer_id) else None
        if original is None:
            raise NotFound(f"no transfer {transfer_id}")

        def perform() -> TransferResult:
            check_reversible(original, tx.reversal_of(original.id))
            assert original.participant is not None
            person = find_participant(tx, original.participant)
            program = find_program(tx, original.program_id)  # an earlier episode's, maybe
            mine = tx.transfers(person.id)
            outcome_id = settled_outcome(original)
            if outcome_id is not None:
                paid = paid_by_outcome(mine, tx.write_offs(person.id), []).get(outcome_id, Paid())
                check_still_given(original, outcome_id, paid.standing_points)
            check_points_to_take_back(
                original, tx.balance(original.program_id, original.to_account)
            )
            period = cap_period(program, person.cap_start, original.occurred_at)
            change = _reversal_cap_change(tx, program, person, period, original, mine)
            mirror = transfer(
                tx,
                work.clock(),
                original.program_id,
                Movement.REVERSAL,
                original.participant,
                original.amount,
                actor,
                reason_text,
                Ref.to(RefKind.TRANSFER, original.id),
                accounts=(original.to_account, original.from_account),
                reverses=original.id,
                cap_change_cents=change,
            )
            if original.kind is Movement.SPEND:
                _undo_redemption(work, tx, original, actor, reason_text, returned)
            given_back = cap_given_back(program, original)
            if given_back is not None:
                tx.add_cap_usage(person.id, period, -given_back)
            if change is not None:
                tx.add_cap_usage(person.id, period, change)
            return TransferResult(
                transfer=mirror, balance=balance_of(tx, person, program, work.clock())
            )

        return work.idempotent(tx, original.program_id, key, request, _replayed_transfer, perform)


def _reversal_cap_change(
    tx: LedgerPosting,
    program: Program,
    person: Participant,
    period: str,
    original: Transfer,
    transfers: list[Transfer],
) -> int | None:
    """What reversing ``original`` changes in the cap usage of its ``period`` when it is a
    counted adjustment (None otherwise). Undoing a downward one uses room again: refused
    with ``CapExceeded`` when the cap has not that much left (an admin adjusts over the
    cap instead, with a reason)."""
    charges = {c.transfer.id: c for c in adjustment_charges(program, person.cap_start, transfers)}
    undone = charges.get(original.id)
    if undone is None:
        return None
    adjusted = adjusted_in(charges.values(), period)
    change = adjustment_cap_change(Movement.REVERSAL, 0, adjusted, undone.cents)
    used = tx.cap_usage(person.id, period)
    if change > 0 and cap_excess(program, used, change):
        what = f"reversing transfer {original.id}"
        raise cap_refusal(program, person.id, period, used, change, what)
    return change


def _undo_redemption(
    work: UnitOfWork, tx: HoldRelease, spend: Transfer, actor: str, reason: str, returned: bool
) -> None:
    """After the mirror of a redemption's spend: mark the redemption reversed, release
    the hold the points returned to, and count the item back in if it was ``returned``."""
    redemption_id = id_of(spend.cause, RefKind.REDEMPTION)
    assert redemption_id is not None
    assert spend.participant is not None
    redemption = tx.redemption(redemption_id)
    assert redemption is not None
    program = find_program(tx, redemption.program_id)
    status = transition(
        redemption.status, Command.REVERSE, require_approval=program.require_approval
    )
    tx.update_redemption(
        attrs.evolve(
            redemption, status=status, closed_at=work.clock(), closed_by=actor, close_reason=reason
        )
    )
    transfer(
        tx, work.clock(), spend.program_id, Movement.RELEASE, spend.participant, spend.amount,
        actor, reason, spend.cause,
    )  # fmt: skip
    item = tx.item(redemption.sku)
    if returned and item is not None and item.stock is not None:
        move_stock(tx, work.clock(), item.sku, 1, StockReason.RETURN, spend.cause, actor)


def _replayed_transfer(data: Any) -> TransferResult:
    return attrs.evolve(from_json(TransferResult, data), replayed=True)


def add_correction(
    tx: Corrections,
    record: OutcomeRecord,
    wanted: Outcome | None,
    *,
    seed: int | None,
    reason: str,
    actor: str,
    at: dt.datetime,
) -> Correction:
    """Append the correction of ``record`` to ``wanted`` (None: its void) and return it; the
    caller settles the participant. ``seed`` is for an outcome corrected to one that draws
    and recorded without a seed."""
    correction = Correction(
        id=next_id(tx.last_correction()),
        program_id=record.program_id,
        participant=record.participant,
        outcome_id=record.id,
        kind=CorrectionKind.VOID if wanted is None else CorrectionKind.CORRECT,
        outcome=wanted,
        seed=seed,
        reason=reason,
        actor=actor,
        recorded_at=at,
    )
    tx.add_corrections([correction])
    return correction


def correct(
    work: UnitOfWork,
    outcome_id: int,
    outcome: Outcome | str | None,
    *,
    reason: str,
    actor: str,
    key: str | None = None,
) -> CorrectionResult:
    """Correct one recorded outcome (``outcome``) or void it (None), and settle the
    participant (see ``Clinic.correct`` and ``Clinic.void``)."""
    wanted: Outcome | None = None if outcome is None else choice(Outcome, outcome, "outcome")
    reason_text = check_text(reason, "reason", required=True)
    assert reason_text is not None
    kind = CorrectionKind.VOID if wanted is None else CorrectionKind.CORRECT
    request = {
        "op": str(kind),
        "outcome_id": outcome_id,
        "outcome": None if wanted is None else str(wanted),
        "reason": reason,
    }
    action = Action.VOID if wanted is None else Action.CORRECT
    with work.write(actor, action) as tx:
        record = tx.outcome(outcome_id) if is_row_id(outcome_id) else None
        if record is None:
            raise NotFound(f"no outcome {outcome_id}")
        return work.idempotent(
            tx,
            record.program_id,
            key,
            request,
            lambda data: attrs.evolve(from_json(CorrectionResult, data), replayed=True),
            lambda: _with_prizes_owed(
                tx, correct_recorded(work, tx, record, wanted, reason=reason_text, actor=actor)
            ),
        )


def _with_prizes_owed(tx: Prizes, result: CorrectionResult) -> CorrectionResult:
    """``result`` with the prizes still owed, read in its own transaction: a correction
    may withdraw some, and its balance line says what ``balance`` says (decisions.md).
    Only the owed rows, as ``balance`` reads them; lab corrections (bulk) skip it."""
    owed = tuple(tx.owed_prizes(result.balance.participant))
    return attrs.evolve(result, balance=attrs.evolve(result.balance, prizes_owed=owed))


def correct_recorded(
    work: UnitOfWork,
    tx: RecordTx,
    record: OutcomeRecord,
    wanted: Outcome | None,
    *,
    reason: str,
    actor: str,
) -> CorrectionResult:
    """Correct ``record`` to ``wanted`` (None: void it) in the caller's unit of work, and
    settle its participant: what ``correct`` does once its request is checked, and what a
    lab's corrected or withdrawn result does (``lab_reports``). Raises
    ``InvalidTransition`` for an outcome voided before or already ``wanted``."""
    person = find_participant(tx, record.participant)
    # An outcome of an earlier episode is corrected under that episode's program.
    program = find_program(tx, record.program_id)
    current = find_program(tx, person.program_id)
    outcomes = tx.outcomes(person.id)
    corrections = tx.corrections(person.id)
    history = effective_history(outcomes, corrections)
    entry = next(e for e in history if e.record.id == record.id)
    voided_by = entry.corrections[-1].id if entry.corrections else None
    check_correctable(record, entry.outcome, voided_by, wanted)
    target = program.target(record.target)
    needs_seed = (
        wanted is Outcome.MET and target.schedule.award is AwardKind.DRAWS and entry.seed is None
    )
    correction = add_correction(
        tx,
        record,
        wanted,
        seed=work.seeds() if needs_seed else None,
        reason=reason,
        actor=actor,
        at=work.clock(),
    )
    episodes = find_episodes(tx, person, current)
    settled = settle(
        tx,
        work.clock(),
        episodes,
        replay_episodes(episodes, history),
        effective_history(outcomes, [*corrections, correction]),
        cause=Ref.to(RefKind.CORRECTION, correction.id),
        actor=actor,
    )
    return CorrectionResult(
        correction=correction,
        settlement=settled.settlement,
        balance=balance_of(tx, person, current, work.clock()),
    )
