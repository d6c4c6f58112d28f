"""Recording outcomes, one at a time or in bulk from a lab file: outcomes in, awards out."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import attrs

from ..domain.bowl import draw
from ..domain.caps import cap_period, pay_within_cap
from ..domain.chain import position_after, sealed
from ..domain.clock import parse_when, program_week, require_aware, to_utc_text
from ..domain.earning import earn
from ..domain.json_form import from_json
from ..domain.ledger import Movement
from ..domain.prizes import prizes_won
from ..domain.recordable import check_recordable
from ..domain.records import OutcomeRecord, Participant
from ..domain.refs import Ref, RefKind, next_id
from ..domain.results import Award, PrizeWon, RecordResult
from ..domain.schedules import Outcome, ScheduleState
from ..domain.staff import Action
from ..domain.validation import check_id, check_text, choice
from ..errors import CMRewardsError, InvalidInput
from ..store.buffered import BufferedTx
from ..store.lookup import find_participant, find_program
from ..store.port import (
    IdempotencyCheck,
    LedgerPosting,
    OutcomeChain,
    ParticipantLookup,
    PrizeDraws,
    ProgramLookup,
)
from ..views.balance import balance_of
from .lab_file import BadRow, ImportReport, ImportRow
from .postings import transfer
from .unit_of_work import UnitOfWork


class Recording(ProgramLookup, OutcomeChain, LedgerPosting, PrizeDraws, Protocol):
    """What storing and paying one outcome reads and writes, its participant found: the
    program, the outcome chain and schedule state, the award transfers and cap usage, the
    prizes."""


class RowRecording(ParticipantLookup, IdempotencyCheck, Recording, Protocol):
    """What applying one import row reads and writes: its participant, its key, the recording
    (all of ``RecordTx``, which the import's write-behind provides, but the staff)."""


def record(
    work: UnitOfWork,
    participant: str,
    target: str,
    outcome: Outcome | str,
    *,
    actor: str,
    at: dt.datetime | None = None,
    key: str | None = None,
    note: str | None = None,
) -> RecordResult:
    """Record one verified outcome and pay what the schedule says (see ``Clinic.record``)."""
    result: Outcome = choice(Outcome, outcome, "outcome")
    if at is not None:
        require_aware(at, "at")
    note = check_text(note, "note")
    request = record_request(participant, target, result, at, note)
    with work.write(actor, Action.RECORD) as tx:
        person = find_participant(tx, participant)
        return work.idempotent(
            tx,
            person.program_id,
            key,
            request,
            lambda data: attrs.evolve(from_json(RecordResult, data), replayed=True),
            lambda: write_outcome(work, tx, person, target, result, at, actor, key, note),
        )


def import_outcomes(
    work: UnitOfWork,
    rows: Iterable[ImportRow | BadRow],
    *,
    actor: str,
    chunk_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Record many outcomes in order, one transaction per chunk (see ``Clinic.import_outcomes``)."""
    if chunk_size < 1:
        raise InvalidInput("chunk size must be at least 1")
    pending = iter(rows)
    applied = replayed = 0
    while chunk := list(itertools.islice(pending, chunk_size)):
        failure: tuple[int, CMRewardsError] | None = None
        with work.write(actor, Action.RECORD) as direct:
            tx = BufferedTx(direct)
            tx.prefetch_keys(_chunk_keys(tx, chunk))
            for row in chunk:
                try:
                    if _import_row(work, tx, row, actor):
                        applied += 1
                    else:
                        replayed += 1
                except CMRewardsError as error:
                    # Rows are checked before anything is written for them, so the
                    # rows before this one are whole and are committed.
                    failure = (row.line, error)
                    break
            tx.flush()
        if progress is not None:
            progress(len(chunk))
        if failure is not None:
            line, refusal = failure
            return ImportReport(
                rows=applied + replayed,
                applied=applied,
                replayed=replayed,
                failed_line=line,
                error=f"line {line}: {refusal}",
                error_type=type(refusal).__name__,
                exit_code=refusal.exit_code,
            )
    return ImportReport(rows=applied + replayed, applied=applied, replayed=replayed)


def write_outcome(
    work: UnitOfWork,
    tx: Recording,
    person: Participant,
    target_id: str,
    outcome: Outcome,
    at: dt.datetime | None,
    actor: str,
    key: str | None,
    note: str | None,
) -> RecordResult:
    """Check, store and pay one outcome: the outcome row, its schedule state, its award
    and bonus transfers, the prizes its draws won and the cap it used."""
    now = work.clock()
    # Stored and returned in UTC whatever zone the caller used, on every store.
    at = now if at is None else at.astimezone(dt.UTC)
    program = find_program(tx, person.program_id)
    target = program.target(target_id)
    check_recordable(person, program.timezone, at, now, tx.last_outcome_for(person.id, target_id))
    state = tx.schedule_state(person.id, target_id) or ScheduleState()
    week = program_week(person.start, at, program.timezone)
    visit = tx.outcomes_at(person.id, at) if target.requires else []
    earning = earn(target, state, outcome, week=week, visit=visit)

    seed = work.seeds() if earning.draws else None
    period = cap_period(program, person.start, at)
    remaining = None
    if program.cap_cents is not None:
        remaining = program.cap_cents - tx.cap_usage(person.id, period)
    slips = draw(program.bowl, seed, earning.draws) if seed is not None else []
    payout = pay_within_cap(program, remaining, earning.points, earning.bonus_points, slips)

    outcome_id, prev_hash = position_after(tx.last_outcome())
    record = sealed(
        OutcomeRecord(
            id=outcome_id,
            program_id=program.id,
            participant=person.id,
            target=target_id,
            outcome=outcome,
            occurred_at=at,
            recorded_at=now,
            actor=actor,
            key=key,
            note=note,
            seed=seed,
            prev_hash=prev_hash,
            hash="",
        )
    )
    tx.append_outcomes([record])
    tx.put_schedule_states([((person.id, target_id), earning.step.state)])
    cause = Ref.to(RefKind.OUTCOME, outcome_id)
    for movement, amount, reason in (
        (Movement.AWARD, payout.points, f"{target_id} met"),
        (Movement.BONUS, payout.bonus_points, f"{target_id} bonus"),
    ):
        if amount:
            transfer(
                tx, work.clock(), program.id, movement, person.id, amount, actor, reason, cause, at
            )
    prizes = prizes_won(
        payout.slips,
        first_id=next_id(tx.last_prize()),
        program_id=program.id,
        participant=person.id,
        outcome_id=outcome_id,
        at=at,
    )
    tx.add_prizes(prizes)
    if payout.value_cents and program.cap_cents is not None:
        tx.add_cap_usage(person.id, period, payout.value_cents)
    award = Award(
        points=payout.points,
        bonus_points=payout.bonus_points,
        draws=earning.draws,
        value_cents=payout.value_cents,
        capped=payout.capped,
        reset=earning.step.reset,
        recovered=earning.step.recovered,
        paid=earning.paid,
        slips=tuple(slip.category for slip in payout.slips),
    )
    return RecordResult(
        outcome_id=outcome_id,
        participant=person.id,
        target=target_id,
        outcome=outcome,
        occurred_at=at,
        award=award,
        prizes=tuple(PrizeWon(p.id, p.category, p.value_cents) for p in prizes),
        balance=balance_of(tx, person, program, now),
    )


def _import_row(work: UnitOfWork, tx: RowRecording, row: ImportRow | BadRow, actor: str) -> bool:
    """Apply one row; False when its key shows it was applied before."""
    if isinstance(row, BadRow):
        raise InvalidInput(row.problem)
    person = find_participant(tx, row.participant)
    program = find_program(tx, person.program_id)
    at = parse_when(row.at, program.timezone, "at")
    outcome: Outcome = choice(Outcome, row.outcome, "outcome")
    note = check_text(row.note, "note")
    request = record_request(row.participant, row.target, outcome, at, note)
    result = work.idempotent(
        tx,
        person.program_id,
        row.key,
        request,
        lambda _: None,
        lambda: write_outcome(work, tx, person, row.target, outcome, at, actor, row.key, note),
    )
    return result is not None


def _chunk_keys(tx: ParticipantLookup, chunk: list[ImportRow | BadRow]) -> list[tuple[str, str]]:
    """The (program, key) of each well-formed row whose participant exists: what the
    replay checks will look up. Other rows fail in their turn, with their line number."""
    keys = []
    for row in chunk:
        if not isinstance(row, ImportRow):
            continue
        try:
            check_id(row.participant, "participant id")
            check_text(row.key, "key", required=True)
        except InvalidInput:
            continue
        if person := tx.participant(row.participant):
            keys.append((person.program_id, row.key))
    return keys


def record_request(
    participant: str, target: str, outcome: Outcome, at: dt.datetime | None, note: str | None
) -> dict[str, Any]:
    """A recording as its idempotency fingerprint sees it: as the caller gave it."""
    return {
        "op": "record",
        "participant": participant,
        "target": target,
        "outcome": str(outcome),
        "at": None if at is None else to_utc_text(at),
        "note": note,
    }
