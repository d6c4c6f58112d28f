"""Recording outcomes: one at a time, in bulk from a lab file, and what the next one pays."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from ..domain.bowl import draw
from ..domain.caps import cap_period, pay_within_cap
from ..domain.chain import position_after, sealed
from ..domain.clock import (
    local_date,
    parse_when,
    program_week,
    require_aware,
    to_utc_text,
)
from ..domain.earning import earn
from ..domain.json_form import from_json
from ..domain.ledger import Movement
from ..domain.programs import BowlCategory, Program
from ..domain.records import OutcomeRecord, Participant, Prize, Status
from ..domain.refs import Ref, RefKind, next_id
from ..domain.results import (
    Award,
    PrizeWon,
    RecordResult,
)
from ..domain.schedules import Outcome, ScheduleState
from ..domain.staff import Action
from ..domain.validation import check_id, check_text, choice
from ..errors import (
    CMRewardsError,
    InvalidInput,
    InvalidTransition,
    OutOfOrder,
)
from ..store.buffered import BufferedTx
from ..store.lookup import find_participant, find_program
from ..store.port import RecordingTx
from ..views.balance import balance_of
from ..views.preview import TargetPreview, preview_target
from .lab_file import BadRow, ImportReport, ImportRow
from .unit_of_work import ClinicBase

_FUTURE_TOLERANCE = dt.timedelta(hours=1)
"""Terminals' clocks drift; a clinical time further ahead than this is a typo."""


class Recording(ClinicBase):
    """Outcomes in, awards out."""

    # --- outcomes ------------------------------------------------------------

    def record(
        self,
        participant: str,
        target: str,
        outcome: Outcome | str,
        *,
        actor: str,
        at: dt.datetime | None = None,
        key: str | None = None,
        note: str | None = None,
    ) -> RecordResult:
        """Record one verified outcome and pay what the schedule says."""
        result: Outcome = choice(Outcome, outcome, "outcome")
        if at is not None:
            require_aware(at, "at")
        note = check_text(note, "note")
        request = _record_request(participant, target, result, at, note)
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.RECORD)
            person = find_participant(tx, participant)
            return self._idempotent(
                tx,
                person.program_id,
                key,
                request,
                lambda data: attrs.evolve(from_json(RecordResult, data), replayed=True),
                lambda: self._record(tx, person, target, result, at, actor, key, note),
            )

    def _record(
        self,
        tx: RecordingTx,
        person: Participant,
        target_id: str,
        outcome: Outcome,
        at: dt.datetime | None,
        actor: str,
        key: str | None,
        note: str | None,
    ) -> RecordResult:
        now = self._clock()
        # Stored and returned in UTC whatever zone the caller used, on every store.
        at = now if at is None else at.astimezone(dt.UTC)
        program = find_program(tx, person.program_id)
        target = program.target(target_id)
        self._check_recordable(tx, person, program, target_id, at, now)
        state = tx.schedule_state(person.id, target_id) or ScheduleState()
        week = program_week(person.start, at, program.timezone)
        visit = tx.outcomes_at(person.id, at) if target.requires else []
        earning = earn(target, state, outcome, week=week, visit=visit)

        seed = self._seeds() if earning.draws else None
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
                self._transfer(
                    tx, program.id, movement, person.id, amount, actor, reason, cause, at
                )
        prizes = self._add_prizes(tx, program, person, outcome_id, payout.slips, at)
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

    def _add_prizes(
        self,
        tx: RecordingTx,
        program: Program,
        person: Participant,
        outcome_id: int,
        slips: tuple[BowlCategory, ...],
        at: dt.datetime,
    ) -> list[Prize]:
        """A prize owed for every winning slip ("good job" slips are worth nothing)."""
        last = tx.last_prize()
        first_id = next_id(last)
        prizes: list[Prize] = []
        for index, slip in enumerate(slips):
            if slip.value_cents:
                prizes.append(
                    Prize(
                        id=first_id + len(prizes),
                        program_id=program.id,
                        participant=person.id,
                        outcome_id=outcome_id,
                        draw=index,
                        category=slip.category,
                        value_cents=slip.value_cents,
                        won_at=at,
                    )
                )
        tx.add_prizes(prizes)
        return prizes

    def _check_recordable(
        self,
        tx: RecordingTx,
        person: Participant,
        program: Program,
        target_id: str,
        at: dt.datetime,
        now: dt.datetime,
    ) -> None:
        if person.status is not Status.ACTIVE:
            raise InvalidTransition(
                f"participant {person.id!r} is {person.status}; outcomes are recorded only while"
                " active"
            )
        if at > now + _FUTURE_TOLERANCE:
            raise InvalidInput(f"at {to_utc_text(at)} is in the future")
        if local_date(at, program.timezone) < person.start:
            raise InvalidInput(
                f"at {to_utc_text(at)} is before {person.id}'s enrolment on {person.start}"
            )
        last = tx.last_outcome_for(person.id, target_id)
        if last is not None and at < last.occurred_at:
            raise OutOfOrder(
                f"{target_id} for {person.id} was last recorded at {to_utc_text(last.occurred_at)};"
                f" {to_utc_text(at)} is earlier (outcomes are recorded in time order)"
            )

    def preview(self, participant: str) -> list[TargetPreview]:
        """For each target: the streak, what a ``met`` pays next, what a reset returns to."""
        with self._store.read() as tx:
            person = find_participant(tx, participant)
            program = find_program(tx, person.program_id)
            week = max(program_week(person.start, self._clock(), program.timezone), 1)
            return [
                preview_target(
                    program, t, tx.schedule_state(person.id, t.id) or ScheduleState(), week
                )
                for t in program.targets
            ]

    def import_outcomes(
        self,
        rows: Iterable[ImportRow | BadRow],
        *,
        actor: str,
        chunk_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Record many outcomes in order, one transaction per chunk of rows.

        A row whose key was applied before is skipped as a replay. The first bad row
        stops the import: the rows before it are committed, and the report names its
        line. ``progress`` is told how many rows each committed chunk held.
        """
        if chunk_size < 1:
            raise InvalidInput("chunk size must be at least 1")
        pending = iter(rows)
        applied = replayed = 0
        while chunk := list(itertools.islice(pending, chunk_size)):
            failure: tuple[int, CMRewardsError] | None = None
            with self._write(actor) as direct:
                tx = BufferedTx(direct)
                self._authorise(tx, actor, Action.RECORD)
                tx.prefetch_keys(_chunk_keys(tx, chunk))
                for row in chunk:
                    try:
                        if self._import_row(tx, row, actor):
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

    def _import_row(self, tx: RecordingTx, row: ImportRow | BadRow, actor: str) -> bool:
        """Apply one row; False when its key shows it was applied before."""
        if isinstance(row, BadRow):
            raise InvalidInput(row.problem)
        person = find_participant(tx, row.participant)
        program = find_program(tx, person.program_id)
        at = parse_when(row.at, program.timezone, "at")
        outcome: Outcome = choice(Outcome, row.outcome, "outcome")
        note = check_text(row.note, "note")
        request = _record_request(row.participant, row.target, outcome, at, note)
        result = self._idempotent(
            tx,
            person.program_id,
            row.key,
            request,
            lambda _: None,
            lambda: self._record(tx, person, row.target, outcome, at, actor, row.key, note),
        )
        return result is not None


def _chunk_keys(tx: RecordingTx, chunk: list[ImportRow | BadRow]) -> list[tuple[str, str]]:
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


def _record_request(
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
