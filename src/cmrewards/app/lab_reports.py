"""Applying lab reports: every door's results (a lab export, HL7 v2, FHIR) through one path.

A ``LabMessage`` is applied in one transaction, its reports in order. For each report
(one specimen): each analyte's report is stored as it comes (``domain/revisions.py``:
the first decisive result in ``analyte_results``, every other report in
``analyte_revisions``), then each target with ``analytes`` is decided again from what
now stands, and the specimen's outcome for it follows (docs/design.md section 3.10):

- decided and nothing recorded for it yet: recorded through the record path at the
  collection time, keyed ``specimen:ACC:TARGET`` (a late result settles what it changes,
  and replaces a close placeholder);
- decided otherwise than what is recorded (a corrected result): corrected through the
  correction path, and settled;
- no longer decided (a withdrawn result): its outcome is voided, and settled.

Each report is keyed by its accession and a digest of its normalized content
(``lab:ACC:DIGEST``, in the program's scope), so the same report again is a replay that
writes nothing, whenever it comes. A refusal rolls its whole message back; in a bulk
import each message is its own unit of work, so the others are applied, the refusal is
listed, and rerunning tries it again (docs/design.md section 3.13).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import attrs

from ..domain.clock import format_when, local_date, parse_when
from ..domain.json_form import from_json
from ..domain.lab_reports import LabMessage, LabReport, ReportedAnalyte, ResultStatus
from ..domain.programs import Program, Target
from ..domain.records import OutcomeRecord, Participant
from ..domain.refs import next_id
from ..domain.revisions import (
    AnalyteReading,
    AnalyteRevision,
    Step,
    decided,
    readings,
    report_digest,
    step,
)
from ..domain.schedules import Outcome
from ..domain.settlement import effective_history
from ..domain.specimens import AnalyteResult, specimen_verdict
from ..domain.staff import Action, authorise
from ..domain.validation import check_text, is_pseudonymous_id
from ..errors import CMRewardsError, InvalidInput, PermissionDenied
from ..store.buffered import BufferedTx
from ..store.lookup import find_participant, find_program
from ..store.port import RecordTx
from .corrections import correct_recorded
from .lab_file import BadRow
from .recording import (
    Details,
    apply_result,
    read_participants,
    read_recent_ahead,
    reads_of_a_record,
    sendable,
)
from .unit_of_work import UnitOfWork

# --- what applying did ---------------------------------------------------------------


@attrs.frozen
class ReportResult:
    """What one report (one specimen) did."""

    participant: str
    accession: str
    analytes: int
    """Analyte reports in it."""
    stored: int
    """Analyte reports stored (first results and revisions)."""
    unchanged: int
    """Analyte reports that said what stood already: nothing written for them."""
    preliminary: int
    """Preliminary analyte reports stored (shown, deciding nothing)."""
    recorded: tuple[int, ...]
    """Outcome ids recorded for targets the specimen decided for the first time."""
    corrected: tuple[int, ...]
    """Outcome ids corrected to what the specimen decides now."""
    voided: tuple[int, ...]
    """Outcome ids voided: the specimen decides nothing for their target any more."""
    pending: bool
    """A target the report decides is undecided and waits for a final result
    (``waits_for_final``)."""
    collected_at: dt.datetime
    replayed: bool = False
    """The same report was applied before: nothing was written."""

    @property
    def wrote_nothing(self) -> bool:
        """Every analyte it reports stood already, and no outcome changed."""
        return not (self.stored or self.recorded or self.corrected or self.voided)


@attrs.frozen
class LabMessageResult:
    """What one message did: each report's result, in the message's order."""

    position: str
    control_id: str | None
    reports: tuple[ReportResult, ...]

    @property
    def replayed(self) -> bool:
        """Every report of the message was applied before: nothing was written."""
        return all(r.replayed for r in self.reports)


@attrs.frozen
class Refusal:
    """A unit of a lab import (a message, or one specimen of a lab export) that was refused:
    nothing of it was written, and running the import again tries it again."""

    at: str
    """Where: ``line 12`` (the row or segment at fault, else where the message starts)."""
    line: int | None
    """That line; None for a message from a stream without lines."""
    error: str
    """One line, ``line 12: reason``, naming no person's details."""
    error_type: str
    """The class of the error (``NotFound``, ``InvalidInput`` ...)."""
    exit_code: int
    """The CLI exit code of that error."""


@attrs.frozen
class LabImportReport:
    """What a lab-results import did (a lab export, or a stream of messages).

    Each unit (a message; a lab export's specimen) is applied, replayed, refused, or
    skipped as not in CM; a refusal does not stop the rest (docs/decisions.md, "A lab
    file's units are applied one by one")."""

    rows: int
    """Analyte reports applied: stored now or found standing already."""
    stored: int
    """Analyte reports stored by this import."""
    replayed: int
    """Analyte reports that wrote nothing: the same result again, or a report applied
    before."""
    specimens: int
    """Distinct specimens (accessions) in the units applied or replayed: a specimen
    reported twice (a final, then its amendment) counts once."""
    outcomes: int
    """Outcomes recorded by this import (a specimen deciding a target)."""
    pending: int
    """Specimens this import wrote to that still wait for a final result: a target's
    required analyte has none yet (nothing reported, or only a preliminary). A withdrawn
    result waits for nothing, and a replayed report, which wrote nothing, is not counted."""
    failed_line: int | None = None
    """The line of the first refusal (``refused[0]``); None when nothing was refused."""
    error: str | None = None
    """The first refusal's one-line error."""
    error_type: str | None = None
    exit_code: int = 0
    """The first refusal's CLI exit code (0 when nothing was refused)."""
    last_day: dt.date | None = None
    """The latest collection date among the specimens applied, each in its program's zone:
    the day ``import --close`` closes the calendar through. None when none was applied."""
    messages: int = 0
    """Messages applied or replayed (0 for a lab export, which has rows)."""
    preliminary: int = 0
    """Preliminary analyte reports stored."""
    corrected: int = 0
    """Outcomes corrected by a corrected result."""
    voided: int = 0
    """Outcomes voided by a withdrawn result."""
    failed_at: str | None = None
    """Where the first refusal is: ``line 12``."""
    applied: int = 0
    """Units that wrote something: messages, or a lab export's specimens."""
    replayed_units: int = 0
    """Units that were applied before, or said only what stood already: nothing of their
    results or outcomes written."""
    refused: tuple[Refusal, ...] = ()
    """Every unit refused, in file order (by line)."""
    not_in_cm: int = 0
    """Reports (a lab export's specimens) about a patient the mapping's ``[identity]
    ids`` (or, for HL7 and FHIR, its identifier) names no participant for: skipped, not
    refused, and nothing of theirs is shown."""

    @property
    def complete(self) -> bool:
        """Nothing was refused."""
        return not self.refused


# --- one message, one transaction -------------------------------------------------------


def apply_lab_message(
    work: UnitOfWork, message: LabMessage, *, actor: str, targets: Sequence[str] = ()
) -> LabMessageResult:
    """Apply every report of ``message`` in one transaction (see ``Clinic.apply_lab_message``)."""
    with work.write(actor, Action.RECORD) as tx:
        return _apply_message(work, tx, message, actor, targets)


def _apply_message(
    work: UnitOfWork,
    tx: RecordTx,
    message: LabMessage,
    actor: str,
    targets: Sequence[str],
    mark: Callable[[int], None] | None = None,
    source: str = "report",
) -> LabMessageResult:
    if not message.reports:
        raise InvalidInput("the message holds no report")
    results = []
    offset = 0
    for report in message.reports:
        # ``mark`` counts the message's analytes across its reports.
        def at(i: int, offset: int = offset, size: int = len(report.analytes)) -> None:
            if mark is not None:
                mark(offset + (i if i >= 0 else size - 1))

        results.append(apply_report(work, tx, report, actor, targets, source=source, mark=at))
        offset += len(report.analytes)
    return LabMessageResult(message.position, message.control_id, tuple(results))


def apply_report(
    work: UnitOfWork,
    tx: RecordTx,
    report: LabReport,
    actor: str,
    target_ids: Sequence[str],
    *,
    source: str = "report",
    mark: Callable[[int], None] | None = None,
) -> ReportResult:
    """Apply one report in the caller's unit of work, once per content (its key).

    ``mark`` is told the index of each analyte before it is checked (0 before the report
    is), and -1 before the targets are decided (a lab export names the row a refusal is
    about). The caller rolls
    the unit back on a refusal: writing may have begun.
    """
    if mark is not None:
        mark(0)
    accession = check_text(report.accession, "accession", required=True) or ""
    if not report.analytes:
        raise InvalidInput(f"specimen {accession}: the report holds no analyte")
    person = find_participant(tx, report.participant)
    program = find_program(tx, person.program_id)
    deciding = deciding_targets(program, target_ids)
    collected = clinical_time(report.collected, program)
    key = f"lab:{accession}:{report_digest(report, collected)}"
    request: dict[str, Any] = {"op": "lab-report", "participant": person.id, "key": key}

    def perform() -> ReportResult:
        return _write_report(work, tx, person, program, report, accession, collected,
                             deciding, actor, source, mark)  # fmt: skip

    return work.idempotent(
        tx,
        program.id,
        key,
        request,
        lambda data: attrs.evolve(from_json(ReportResult, data), replayed=True),
        perform,
    )


def _write_report(
    work: UnitOfWork,
    tx: RecordTx,
    person: Participant,
    program: Program,
    report: LabReport,
    accession: str,
    collected: dt.datetime,
    deciding: list[Target],
    actor: str,
    source: str,
    mark: Callable[[int], None] | None,
) -> ReportResult:
    firsts = tx.specimen_results(person.id, accession)
    revisions = tx.specimen_revisions(person.id, accession)
    stored_at = [r.collected_at for r in firsts] + [r.collected_at for r in revisions]
    if stored_at and stored_at[0] != collected:
        raise InvalidInput(
            f"specimen {accession} was collected at"
            f" {format_when(stored_at[0], program.timezone)}, this {source} says"
            f" {format_when(collected, program.timezone)}"
        )
    now = work.clock()
    stored = unchanged = preliminary = 0
    new_firsts: list[AnalyteResult] = []
    new_revisions: list[AnalyteRevision] = []
    first_head = tx.last_analyte_result()
    revision_head = tx.last_analyte_revision()
    standing = readings(firsts, revisions)
    for index, reported in enumerate(report.analytes):
        if mark is not None:
            mark(index)
        _check_reported(accession, reported)
        current = standing.get(reported.analyte)
        first = next((r for r in [*firsts, *new_firsts] if r.analyte == reported.analyte), None)
        done = step(accession, current, None if first is None else first.result, reported, source)
        if done is Step.NOTHING:
            unchanged += 1
            continue
        if done is Step.REVISION and current is not None and current.decisive is not None:
            may_change_decided(tx, actor, accession, reported)
        stored += 1
        preliminary += reported.status is ResultStatus.PRELIMINARY
        if done is Step.FIRST:
            assert reported.result is not None
            first_head = AnalyteResult(
                id=next_id(first_head), program_id=program.id, participant=person.id,
                specimen=accession, analyte=reported.analyte, result=reported.result,
                collected_at=collected, recorded_at=now, actor=actor,
            )  # fmt: skip
            new_firsts.append(first_head)
        else:
            revision_head = AnalyteRevision(
                id=next_id(revision_head), program_id=program.id, participant=person.id,
                specimen=accession, analyte=reported.analyte, status=reported.status,
                result=reported.result, revises=None if first is None else first.id,
                collected_at=collected, recorded_at=now, actor=actor,
            )  # fmt: skip
            new_revisions.append(revision_head)
        standing = readings([*firsts, *new_firsts], [*revisions, *new_revisions])
    if mark is not None:
        mark(-1)
    tx.add_analyte_results(new_firsts)
    tx.add_analyte_revisions(new_revisions)
    outcomes = _decide(work, tx, person, program, accession, collected, deciding, standing,
                       report, actor)  # fmt: skip
    return ReportResult(
        participant=person.id,
        accession=accession,
        analytes=len(report.analytes),
        stored=stored,
        unchanged=unchanged,
        preliminary=preliminary,
        recorded=outcomes.recorded,
        corrected=outcomes.corrected,
        voided=outcomes.voided,
        pending=outcomes.pending,
        collected_at=collected,
    )


def may_change_decided(tx: RecordTx, actor: str, accession: str, reported: ReportedAnalyte) -> None:
    """Refuse (``PermissionDenied``, one line) a report that changes an analyte's decided
    result unless ``actor`` may apply a lab's change (``Action.APPLY_LAB_CHANGE``: an admin
    or a ``lab-feed`` account): by hand, ``correct`` and ``void`` are a clinician's or an
    admin's, so a recorder's file may not do it for them (docs/decisions.md, "Who may
    change a result through a lab message")."""
    staff = tx.staff(actor)
    if staff is not None and staff.active and not staff.applies_lab_changes:
        raise PermissionDenied(
            f"specimen {accession} {reported.analyte}: this {reported.status} report changes"
            f" a decided result, and {actor!r} is a {staff.role}; only an admin or a lab-feed"
            " account may apply a lab's change; nothing of it was written"
        )
    authorise(staff, actor, Action.APPLY_LAB_CHANGE)


def _check_reported(accession: str, reported: ReportedAnalyte) -> None:
    check_text(reported.analyte, "analyte", required=True)
    if reported.result is None and not reported.status.withdrawn:
        raise InvalidInput(
            f"specimen {accession} {reported.analyte}: a {reported.status} result needs a value"
        )


@attrs.frozen
class _Decided:
    recorded: tuple[int, ...]
    corrected: tuple[int, ...]
    voided: tuple[int, ...]
    pending: bool


def _decide(
    work: UnitOfWork,
    tx: RecordTx,
    person: Participant,
    program: Program,
    accession: str,
    collected: dt.datetime,
    deciding: list[Target],
    standing: dict[str, AnalyteReading],
    report: LabReport,
    actor: str,
) -> _Decided:
    """Bring each target's outcome of the specimen to what it decides now."""
    values = decided(standing)
    recorded: list[int] = []
    corrected: list[int] = []
    voided: list[int] = []
    pending = False
    for target in deciding:
        verdict = specimen_verdict(target.analytes, values)
        pending = pending or (verdict is None and waits_for_final(target, standing))
        key = outcome_key(accession, target)
        # Every outcome a specimen decides is recorded under its key: an unused key means
        # none was, and the history need not be read (a lab export's common case).
        earlier = (
            []
            if tx.idempotency(program.id, key) is None
            else _outcomes_of(tx, person, accession, target)
        )
        live = next((r for r, o in earlier if o is not None), None)
        standing_outcome = next((o for _, o in earlier if o is not None), None)
        if live is None:
            if verdict is None:
                continue
            again = key if not earlier else f"{key}:{len(earlier) + 1}"
            details = Details(specimen=accession)
            if apply_result(work, tx, person, target.id, verdict, collected, actor, again,
                            details):  # fmt: skip
                remembered = tx.idempotency(program.id, again)
                assert remembered is not None
                recorded.append(remembered.result["outcome_id"])
        elif verdict is not standing_outcome:
            # Only a revision of a decided analyte changes a verdict, and that was
            # authorised as it was read; this keeps the rule whatever decides a verdict.
            authorise(tx.staff(actor), actor, Action.APPLY_LAB_CHANGE)
            reason = _reason(accession, report, verdict)
            correct_recorded(work, tx, live, verdict, reason=reason, actor=actor)
            (voided if verdict is None else corrected).append(live.id)
    return _Decided(tuple(recorded), tuple(corrected), tuple(voided), pending)


def waits_for_final(target: Target, standing: dict[str, AnalyteReading]) -> bool:
    """An undecided specimen still waits for a final result for ``target``: no analyte it
    requires is withdrawn (entered in error, cancelled), so one it lacks, or holds only a
    preliminary result for, may yet come. A withdrawn result waits for nothing."""
    return not any(name in standing and standing[name].status.withdrawn for name in target.analytes)


def _outcomes_of(
    tx: RecordTx, person: Participant, accession: str, target: Target
) -> list[tuple[OutcomeRecord, Outcome | None]]:
    """The outcomes recorded for ``target`` from this specimen, each as it stands (None
    once voided), in recording order."""
    history = effective_history(tx.outcomes(person.id), tx.corrections(person.id))
    return [
        (e.record, e.outcome)
        for e in history
        if e.record.specimen == accession and e.record.target == target.id
    ]


def _reason(accession: str, report: LabReport, verdict: Outcome | None) -> str:
    changed = ", ".join(
        f"{a.analyte} {a.status}" + ("" if a.result is None else f" {a.result}")
        for a in report.analytes
        if a.status is ResultStatus.CORRECTED or a.status.withdrawn
    )
    what = "withdrew" if verdict is None else "corrected"
    return f"the lab {what} specimen {accession} ({changed or 'its results'})"


def outcome_key(accession: str, target: Target) -> str:
    """The key of the outcome a specimen decides for a target (as since lab exports)."""
    return f"specimen:{accession}:{target.id}"


def deciding_targets(program: Program, target_ids: Sequence[str]) -> list[Target]:
    """The targets a specimen decides: those named, or every target with ``analytes``."""
    if not target_ids:
        targets = [t for t in program.targets if t.analytes]
        if not targets:
            raise InvalidInput(
                f"program {program.id} has no target with analytes: list a target's"
                " analytes in the program, or name the targets in the mapping"
            )
        return targets
    chosen = [program.target(t) for t in target_ids]
    for target in chosen:
        if not target.analytes:
            raise InvalidInput(
                f"target {target.id} of program {program.id} lists no analytes to decide it"
            )
    return chosen


def clinical_time(collected: dt.datetime, program: Program) -> dt.datetime:
    """A report's collection time in UTC: a naive one is read in the program's zone."""
    if collected.tzinfo is not None:
        return collected.astimezone(dt.UTC)
    local = parse_when(collected.isoformat(), program.timezone, "collected")
    return local.astimezone(dt.UTC)


# --- many messages, in chunked transactions --------------------------------------------


@attrs.frozen
class Unit:
    """One message of a bulk import, with what a refusal of it names."""

    message: LabMessage
    lines: tuple[int, ...] = ()
    """A lab export's rows: each analyte's line (a refusal names the row's)."""
    line: int | None = None
    """The line the message starts on, when it has one."""
    weight: int = 1
    """What it counts for in a chunk (a lab export counts rows)."""
    problem: str | None = None
    """Why it cannot be read (a reader's ``BadRow``): refused without being applied."""


def unreadable(bad: BadRow, weight: int = 1) -> Unit:
    """A reader's ``BadRow`` as a unit that is refused in its turn."""
    return Unit(
        LabMessage((), f"line {bad.line}"), line=bad.line, weight=weight, problem=bad.problem
    )


@attrs.define
class _Tally:
    at: str = ""
    """The position being applied: the one a refusal names."""
    line: int | None = None
    rows: int = 0
    stored: int = 0
    replayed: int = 0
    outcomes: int = 0
    messages: int = 0
    preliminary: int = 0
    corrected: int = 0
    voided: int = 0
    applied: int = 0
    replayed_units: int = 0
    not_in_cm: int = 0
    last_day: dt.date | None = None
    specimens: set[tuple[str, str]] = attrs.field(factory=set)
    waiting: dict[tuple[str, str], bool] = attrs.field(factory=dict)
    """Each specimen written to: whether its latest report left it waiting."""
    refused: list[Refusal] = attrs.field(factory=list)

    def copy(self) -> _Tally:
        return attrs.evolve(
            self,
            specimens=set(self.specimens),
            waiting=dict(self.waiting),
            refused=list(self.refused),
        )

    def add(self, result: LabMessageResult, program_zone: Callable[[str], str]) -> None:
        self.messages += 1
        if all(r.replayed or r.wrote_nothing for r in result.reports):
            self.replayed_units += 1
        else:
            self.applied += 1
        for report in result.reports:
            self.rows += report.analytes
            specimen = (report.participant, report.accession)
            self.specimens.add(specimen)
            # A replayed specimen counts for the day too: rerunning `import --close`
            # closes through the same day.
            day = local_date(report.collected_at, program_zone(report.participant))
            self.last_day = day if self.last_day is None else max(self.last_day, day)
            if report.replayed:
                self.replayed += report.analytes
                continue
            self.stored += report.stored
            self.replayed += report.unchanged
            self.preliminary += report.preliminary
            self.outcomes += len(report.recorded)
            self.corrected += len(report.corrected)
            self.voided += len(report.voided)
            self.waiting[specimen] = report.pending

    def refuse(self, error: CMRewardsError | str, error_type: str = "InvalidInput") -> None:
        """Count the unit at ``at`` refused, for ``error`` (a reader's problem, or a
        refusal), in one line."""
        kind = error_type if isinstance(error, str) else type(error).__name__
        code = InvalidInput.exit_code if isinstance(error, str) else error.exit_code
        self.refused.append(Refusal(self.at, self.line, f"{self.at}: {error}", kind, code))


def import_units(
    work: UnitOfWork,
    units: Iterable[Unit | BadRow],
    *,
    actor: str,
    targets: Sequence[str] = (),
    chunk_size: int = 500,
    progress: Callable[[int], None] | None = None,
    source: str = "report",
) -> LabImportReport:
    """Apply messages in order, several per transaction (about ``chunk_size`` in weight),
    each its own unit of work: a refused one is counted and the rest go on; see
    ``Clinic.import_lab_messages``."""
    if chunk_size < 1:
        raise InvalidInput("chunk size must be at least 1")
    tally = _Tally()
    for chunk in _chunks(units, chunk_size):
        while chunk:
            start = tally.copy()
            failure = _apply_chunk(work, chunk, actor, targets, tally, source)
            if failure is None:
                done, chunk = chunk, []
            else:
                # The refused message may have written part of itself: the chunk was
                # rolled back; apply the messages before it again, so that they alone are
                # committed, and go on after it.
                index, refusal = failure
                tally = start
                if index:
                    again = _apply_chunk(work, chunk[:index], actor, targets, tally, source)
                    assert again is None, "a message applied once applies again"
                tally.refused.append(refusal)
                done, chunk = chunk[: index + 1], chunk[index + 1 :]
            if progress is not None:
                progress(sum(u.weight for u in done))
    return _report(tally)


class _Refused(Exception):
    """Rolls a chunk's transaction back after a refusal."""


def _apply_chunk(
    work: UnitOfWork,
    chunk: list[Unit],
    actor: str,
    targets: Sequence[str],
    tally: _Tally,
    source: str,
) -> tuple[int, Refusal] | None:
    """Apply ``chunk`` in one transaction; on a refusal, roll it all back and say which
    unit and why."""
    failure: tuple[int, Refusal] | None = None
    try:
        with work.write(actor, Action.RECORD) as direct:
            tx = BufferedTx(direct)
            _read_chunk_ahead(tx, [r for u in chunk for r in u.message.reports], targets)
            zones: dict[str, str] = {}

            def zone_of(participant: str) -> str:
                if participant not in zones:
                    person = find_participant(tx, participant)
                    zones[participant] = find_program(tx, person.program_id).timezone
                return zones[participant]

            for index, unit in enumerate(chunk):
                tally.at, tally.line = unit.message.position, unit.line
                tally.not_in_cm += unit.message.not_in_cm
                if unit.problem is not None:
                    tally.refuse(unit.problem)  # unreadable: nothing of it to apply
                    continue
                if not unit.message.reports:
                    continue  # every report of it is about a patient not in CM

                def mark(i: int, unit: Unit = unit) -> None:
                    if unit.lines:
                        line = unit.lines[i]
                        tally.at, tally.line = f"line {line}", line

                try:
                    result = _apply_message(work, tx, unit.message, actor, targets, mark, source)
                except CMRewardsError as error:
                    tally.refuse(error)
                    failure = (index, tally.refused.pop())
                    raise _Refused from error
                tally.add(result, zone_of)
            tx.flush()
    except _Refused:
        return failure
    return None


def _read_chunk_ahead(
    tx: BufferedTx, reports: Sequence[LabReport], target_ids: Sequence[str]
) -> None:
    """Read what a chunk's reports will read, as the outcome import does: their
    participants, then their keys (one query), then each report's specimen and what
    recording each deciding target reads (``reads_of_a_record``), and the recent outcomes
    the calendar asks about (on PostgreSQL a few round trips a chunk instead of several a
    report: issue 16)."""
    named = sorted({r.participant for r in reports if is_pseudonymous_id(r.participant)})
    tx.read_ahead(lambda ahead: read_participants(ahead, named))
    # Read here, not while reading ahead.
    people = {p: person for p in named if (person := tx.participant(p)) is not None}
    programs = {p.program_id: tx.program(p.program_id) for p in people.values()}
    tx.prefetch_keys(_chunk_keys(tx, reports, target_ids))

    def reads(ahead: RecordTx) -> None:
        for report in reports:
            person = people.get(report.participant)
            program = None if person is None else programs[person.program_id]
            if person is None or program is None or not sendable(report.accession):
                continue
            ahead.specimen_results(person.id, report.accession)
            ahead.specimen_revisions(person.id, report.accession)
            for target in _deciding_or_none(program, target_ids):
                reads_of_a_record(ahead, person, target.id, None)

    tx.read_ahead(reads)
    read_recent_ahead(tx, [(r.participant, r.collected.isoformat()) for r in reports])


def _deciding_or_none(program: Program, target_ids: Sequence[str]) -> list[Target]:
    """``deciding_targets``, or none where it refuses (the report fails in its turn)."""
    try:
        return deciding_targets(program, target_ids)
    except CMRewardsError:
        return []


def _chunk_keys(
    tx: RecordTx, reports: Sequence[LabReport], target_ids: Sequence[str]
) -> list[tuple[str, str]]:
    """The keys a chunk's reports will look up (``apply_report``'s and each deciding
    target's, ``outcome_key``), read in one query; a report that cannot be applied is
    left to fail in its turn."""
    keys = []
    for report in reports:
        if not (is_pseudonymous_id(report.participant) and sendable(report.accession)):
            continue
        person = tx.participant(report.participant)
        program = None if person is None else tx.program(person.program_id)
        if program is None:
            continue
        try:
            collected = clinical_time(report.collected, program)
            deciding = deciding_targets(program, target_ids)
        except CMRewardsError:
            continue
        keys.append((program.id, f"lab:{report.accession}:{report_digest(report, collected)}"))
        keys += [(program.id, outcome_key(report.accession, t)) for t in deciding]
    return keys


def _chunks(units: Iterable[Unit | BadRow], size: int) -> Iterator[list[Unit]]:
    """Chunks of about ``size`` in weight, a reader's ``BadRow`` as a unit refused in turn."""
    chunk: list[Unit] = []
    weight = 0
    for item in units:
        unit = unreadable(item) if isinstance(item, BadRow) else item
        chunk.append(unit)
        weight += unit.weight
        if weight >= size:
            yield chunk
            chunk, weight = [], 0
    if chunk:
        yield chunk


def _report(tally: _Tally) -> LabImportReport:
    refused = tuple(sorted(tally.refused, key=lambda r: (r.line is None, r.line or 0)))
    first: dict[str, Any] = {}
    if refused:
        first = {
            "failed_at": refused[0].at,
            "failed_line": refused[0].line,
            "error": refused[0].error,
            "error_type": refused[0].error_type,
            "exit_code": refused[0].exit_code,
        }
    return LabImportReport(
        rows=tally.rows,
        stored=tally.stored,
        replayed=tally.replayed,
        specimens=len(tally.specimens),
        outcomes=tally.outcomes,
        pending=sum(tally.waiting.values()),
        last_day=tally.last_day,
        messages=tally.messages,
        preliminary=tally.preliminary,
        corrected=tally.corrected,
        voided=tally.voided,
        applied=tally.applied,
        replayed_units=tally.replayed_units,
        refused=refused,
        not_in_cm=tally.not_in_cm,
        **first,
    )
