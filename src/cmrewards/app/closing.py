"""Closing the calendar and excused absences: what fills the samples each week owes.

``close_calendar`` records a ``missed`` placeholder (``domain/closing.py``) for every owed
sample without a result in every program week that ended by a date, for every active
enrolment of every calendar program, one unit of work per participant: the placeholders
and the settlement of what they change (a reset that lowers later awards) commit
together, so a failure leaves whole participants closed and a rerun resumes. Closing
again writes nothing: the weeks are full. ``excuse`` records an excused absence through
the record path; before closing it fills an owed sample, after closing it replaces the
week's placeholder as any late result does (``recording.write_outcome``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence

import attrs

from ..domain.calendar import owed
from ..domain.clock import clinical_noon, local_date, program_week, require_date_in_range
from ..domain.closing import (
    WeekResults,
    last_instant,
    placeholder_key,
    placeholder_visit,
    results_by_week,
    shortfalls,
)
from ..domain.programs import Program, Target
from ..domain.recordable import FUTURE_TOLERANCE, check_active
from ..domain.records import Correction, OutcomeRecord, Participant, Status
from ..domain.refs import Ref, RefKind
from ..domain.results import Settlement, VisitResult
from ..domain.schedules import Outcome
from ..domain.settlement import Effective, effective_history, replay_episodes
from ..domain.staff import Action, authorise
from ..domain.validation import check_text
from ..domain.visits import visit_key, visit_of
from ..errors import CMRewardsError, InvalidInput, InvalidTransition
from ..store.lookup import find_episodes, find_participant, find_program
from ..store.port import RecordTx
from .recording import Details, sealed_outcome, write_visit
from .settling import settle
from .unit_of_work import UnitOfWork


@attrs.frozen
class ClosedParticipant:
    """What closing the calendar recorded for one participant."""

    participant: str
    program_id: str
    missed: dict[str, int]
    """Placeholders recorded per target id."""
    weeks: tuple[int, ...]
    """The program weeks that got at least one placeholder, in order."""
    outcomes: tuple[int, ...]
    """The placeholders' outcome ids."""
    settlement: Settlement | None
    """What the placeholders changed for the participant's other outcomes (a reset that
    lowers the awards after it is taken back); None when they changed nothing."""


@attrs.frozen
class CloseReport:
    """What closing the calendar through a date did."""

    through: dt.date
    participants: int
    """Active enrolments of calendar programs closed through ``through`` (those that
    needed nothing included)."""
    missed: dict[str, int]
    """``missed`` placeholders recorded per target id, over every participant."""
    weeks: int
    """Participant weeks that got at least one placeholder."""
    closed: tuple[ClosedParticipant, ...]
    """The participants that got a placeholder, in id order."""
    skipped_programs: tuple[str, ...]
    """Programs stored before the calendar (``calendar = false``): they owe nothing that
    closing could write."""
    stopped_at: str | None = None
    """The participant whose unit of work failed; those after it were not closed."""
    error: str | None = None
    error_type: str | None = None
    exit_code: int = 0
    """The CLI exit code of the error that stopped it (0 when complete)."""

    @property
    def complete(self) -> bool:
        return self.stopped_at is None

    @property
    def samples(self) -> int:
        """Placeholders recorded in all."""
        return sum(self.missed.values())


def close_calendar(work: UnitOfWork, through: dt.date, *, actor: str) -> CloseReport:
    """Close every calendar program's active enrolments through ``through`` (see
    ``Clinic.close_calendar``)."""
    if isinstance(through, dt.datetime) or not isinstance(through, dt.date):
        raise InvalidInput("through must be a date (the last day to close)")
    require_date_in_range(through, "through")
    now = work.clock()
    with work.read() as tx:
        authorise(tx.staff(actor), actor, Action.RECORD)
        programs = {p.id: p for p in tx.programs()}
        people = sorted(
            (p for p in tx.participants() if p.status is Status.ACTIVE), key=lambda p: p.id
        )
        outcomes = tx.outcomes()
        corrections = tx.corrections()
    # Today where it is latest among the programs' zones, an hour's drift allowed as when
    # recording: any date a result can be recorded for may be closed through (a file's
    # last day, for `import --close`). A week closes only once it has ended anyway.
    ahead = now + FUTURE_TOLERANCE
    zones = {p.timezone for p in programs.values()}
    today = max((local_date(ahead, z) for z in zones), default=ahead.date())
    if through > today:
        raise InvalidInput(
            f"through {through} is after today ({today}): only weeks that have ended are closed"
        )
    people = [p for p in people if programs[p.program_id].calendar]
    # A first look in one snapshot: who has anything to close, so that closing again
    # opens no write at all. Each participant's unit of work looks again before writing.
    own_outcomes: dict[str, list[OutcomeRecord]] = defaultdict(list)
    for outcome in outcomes:
        own_outcomes[outcome.participant].append(outcome)
    own_corrections: dict[str, list[Correction]] = defaultdict(list)
    for correction in corrections:
        own_corrections[correction.participant].append(correction)
    due = [
        p
        for p in people
        if shortfalls(
            programs[p.program_id],
            p.start,
            effective_history(own_outcomes[p.id], own_corrections[p.id]),
            through,
            now,
        )
    ]
    closed: list[ClosedParticipant] = []
    report = _Report(through, [p.id for p in people],
                     tuple(sorted(p.id for p in programs.values() if not p.calendar)))  # fmt: skip
    for person in due:
        try:
            done = _close_one(work, person.id, through, now, actor)
        except CMRewardsError as error:
            return report.finish(closed, person.id, error)
        if done is not None:
            closed.append(done)
    return report.finish(closed)


@attrs.frozen
class _Report:
    through: dt.date
    people: list[str]
    """The active enrolments of calendar programs, in the order they are closed."""
    skipped: tuple[str, ...]

    def finish(
        self,
        closed: Sequence[ClosedParticipant],
        stopped_at: str | None = None,
        error: CMRewardsError | None = None,
    ) -> CloseReport:
        missed: Counter[str] = Counter()
        for one in closed:
            missed.update(one.missed)
        failed = {}
        if stopped_at is not None and error is not None:
            failed = {
                "stopped_at": stopped_at,
                "error": f"participant {stopped_at}: {error}",
                "error_type": type(error).__name__,
                "exit_code": error.exit_code,
            }
        # Those from a failure on were not closed: only those before it count.
        stop = len(self.people) if stopped_at is None else self.people.index(stopped_at)
        return CloseReport(
            through=self.through,
            participants=stop,
            missed=dict(sorted(missed.items())),
            weeks=sum(len(one.weeks) for one in closed),
            closed=tuple(closed),
            skipped_programs=self.skipped,
            **failed,  # type: ignore[arg-type]
        )


def _close_one(
    work: UnitOfWork, participant: str, through: dt.date, now: dt.datetime, actor: str
) -> ClosedParticipant | None:
    """One participant's unit of work: their placeholders and the settlement of what they
    change. None when there was nothing to close after all (another writer got there)."""
    with work.write(actor, Action.RECORD) as tx:
        person = find_participant(tx, participant)
        program = find_program(tx, person.program_id)
        if person.status is not Status.ACTIVE:
            return None
        recorded = tx.outcomes(person.id)
        corrections = tx.corrections(person.id)
        history = effective_history(recorded, corrections)
        found = shortfalls(program, person.start, history, through, now)
        if not found:
            return None
        placeholders = []
        for short in found:
            at = last_instant(person.start, short.week, program.timezone)
            for sample in short.samples:
                record = _placeholder(tx, work, program, person, short.target, short.week,
                                      sample, at, through, actor)  # fmt: skip
                tx.append_outcomes([record])
                placeholders.append(record)
        episodes = find_episodes(tx, person, program)
        settled = settle(
            tx,
            work.clock(),
            episodes,
            replay_episodes(episodes, history),
            effective_history([*recorded, *placeholders], corrections),
            cause=Ref.to(RefKind.OUTCOME, placeholders[0].id),
            actor=actor,
        )
        written = {r.id for r in placeholders}
        others = tuple(i for i in settled.settlement.outcomes if i not in written)
        return ClosedParticipant(
            participant=person.id,
            program_id=program.id,
            missed=dict(Counter(r.target for r in placeholders)),
            weeks=tuple(sorted({s.week for s in found})),
            outcomes=tuple(r.id for r in placeholders),
            settlement=attrs.evolve(settled.settlement, outcomes=others) if others else None,
        )


def _placeholder(
    tx: RecordTx,
    work: UnitOfWork,
    program: Program,
    person: Participant,
    target: str,
    week: int,
    sample: int,
    at: dt.datetime,
    through: dt.date,
    actor: str,
) -> OutcomeRecord:
    note = f"no result for owed sample {sample} of week {week}; calendar closed through {through}"
    details = Details(visit=placeholder_visit(week, sample), note=note)
    key = placeholder_key(person.id, target, week, sample, person.episode)
    return sealed_outcome(
        tx, program, person, target, Outcome.MISSED, at, work.clock(), actor, key, None, details
    )


# --- excused absences --------------------------------------------------------------


def excuse(
    work: UnitOfWork,
    participant: str,
    day: dt.date,
    *,
    reason: str,
    actor: str,
    target: str | None = None,
) -> VisitResult:
    """Record an excused absence on ``day`` (see ``Clinic.excuse``)."""
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise InvalidInput("day must be a date")
    require_date_in_range(day, "day")
    note = check_text(reason, "reason", required=True)
    with work.write(actor, Action.RECORD) as tx:
        person = find_participant(tx, participant)
        program = find_program(tx, person.program_id)
        check_active(person)
        now = work.clock()
        if day > local_date(now, program.timezone):
            raise InvalidInput(f"{day} is in the future: an absence is excused once its day came")
        if day < person.start:
            raise InvalidInput(f"{day} is before {person.id}'s enrolment on {person.start}")
        targets = list(program.targets) if target is None else [program.target(target)]
        history = effective_history(tx.outcomes(person.id), tx.corrections(person.id))
        at = _excused_at(history, program, day, now)
        chosen = _excusable(program, person, history, targets, at, named=target is not None)
        return write_visit(work, tx, person, chosen, at, actor, Details(note=note))


def _excused_at(
    history: list[Effective], program: Program, day: dt.date, now: dt.datetime
) -> dt.datetime:
    """The clinical time of an excused absence on ``day``: the participant's visit that day
    if they had one (its first result), else noon in the program's zone, or now when an
    absence today is excused in the morning."""
    same_day = [
        e.record.occurred_at
        for e in history
        if not e.voided
        and e.record.visit is None
        and local_date(e.record.occurred_at, program.timezone) == day
    ]
    if same_day:
        return min(same_day)
    return min(clinical_noon(day, program.timezone), now)


def _excusable(
    program: Program,
    person: Participant,
    history: list[Effective],
    targets: list[Target],
    at: dt.datetime,
    *,
    named: bool,
) -> dict[str, Outcome]:
    """The targets to excuse at clinical time ``at``: each whose week still owes a sample
    beyond its real results (a close placeholder is replaced). A named target that cannot
    be excused is ``InvalidTransition``; with every target, those that cannot are left
    out, and ``InvalidTransition`` when none is left. A target with a result at this visit
    goes to the record path, which replays an ``excused`` and refuses anything else."""
    visit = visit_key(at, None, program.timezone)
    here = {
        e.record.target: e.outcome
        for e in history
        if not e.voided and visit_of(e.record, program.timezone) == visit
    }
    week = program_week(person.start, at, program.timezone)
    weeks = results_by_week(program, person.start, history)
    chosen: dict[str, Outcome] = {}
    refusals = []
    for target in targets:
        recorded = here.get(target.id)
        if recorded is not None:
            if named or recorded is Outcome.EXCUSED:
                chosen[target.id] = Outcome.EXCUSED
            else:
                refusals.append(f"{target.id} is recorded {recorded} that day")
            continue
        owes = owed(program, target, week)
        real = len(weeks.get((target.id, week), WeekResults()).real)
        if owes == 0:
            refusals.append(f"week {week} owes no {target.id} samples")
        elif real >= owes:
            samples = f"{owes} owed sample{'s' if owes != 1 else ''}"
            refusals.append(f"week {week} already has its {samples} of {target.id}")
        else:
            chosen[target.id] = Outcome.EXCUSED
    if not chosen or (named and refusals):
        raise InvalidTransition(
            f"nothing to excuse for {person.id} on {local_date(at, program.timezone)}: "
            + "; ".join(refusals)
        )
    return chosen
