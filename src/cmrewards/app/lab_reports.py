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
import, the messages before it stay and rerunning resumes.
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
from ..domain.staff import Action
from ..domain.validation import check_text, is_pseudonymous_id
from ..errors import CMRewardsError, InvalidInput
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
    """A target the report's targets include is still undecided."""
    collected_at: dt.datetime
    replayed: bool = False
    """The same report was applied before: nothing was written."""


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
class LabImportReport:
    """What a lab-results import did (a lab export, or a stream of messages)."""

    rows: int
    """Analyte reports applied: stored now or found standing already."""
    stored: int
    """Analyte reports stored by this import."""
    replayed: int
    """Analyte reports that wrote nothing: the same result again, or a report applied
    before."""
    specimens: int
    """Reports (specimens) applied."""
    outcomes: int
    """Outcomes recorded by this import (a specimen deciding a target)."""
    pending: int
    """Specimens this import applied that still wait for a required analyte of some
    target (a replayed report, which wrote nothing, is not counted)."""
    failed_line: int | None = None
    """The line of the first bad row or message; None when every one was applied (or the
    message that stopped it has no line)."""
    error: str | None = None
    error_type: str | None = None
    exit_code: int = 0
    """The CLI exit code of the error that stopped the import (0 when complete)."""
    last_day: dt.date | None = None
    """The latest collection date among the specimens applied, each in its program's zone:
    the day ``import --close`` closes the calendar through. None when none was applied."""
    messages: int = 0
    """Messages applied (0 for a lab export, which has rows)."""
    preliminary: int = 0
    """Preliminary analyte reports stored."""
    corrected: int = 0
    """Outcomes corrected by a corrected result."""
    voided: int = 0
    """Outcomes voided by a withdrawn result."""
    failed_at: str | None = None
    """Where the import stopped: ``line 12`` (a row, or a message's position)."""

    @property
    def complete(self) -> bool:
        return self.failed_at is None


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
        pending = pending or verdict is None
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
            reason = _reason(accession, report, verdict)
            correct_recorded(work, tx, live, verdict, reason=reason, actor=actor)
            (voided if verdict is None else corrected).append(live.id)
    return _Decided(tuple(recorded), tuple(corrected), tuple(voided), pending)


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


@attrs.define
class _Tally:
    at: str = ""
    """The position being applied: the one a refusal names."""
    line: int | None = None
    rows: int = 0
    stored: int = 0
    replayed: int = 0
    specimens: int = 0
    outcomes: int = 0
    pending: int = 0
    messages: int = 0
    preliminary: int = 0
    corrected: int = 0
    voided: int = 0
    last_day: dt.date | None = None

    def add(self, result: LabMessageResult, program_zone: Callable[[str], str]) -> None:
        self.messages += 1
        for report in result.reports:
            self.rows += report.analytes
            self.specimens += 1
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
            self.pending += report.pending


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
    stopping at the first bad one; see ``Clinic.import_lab_messages``."""
    if chunk_size < 1:
        raise InvalidInput("chunk size must be at least 1")
    tally = _Tally()
    for chunk, bad in _chunks(units, chunk_size):
        start = attrs.evolve(tally)
        failure = None if not chunk else _apply_chunk(work, chunk, actor, targets, tally, source)
        if failure is not None:
            # The refused message may have written part of itself: roll the chunk back
            # and apply the messages before it again, so that they alone are committed.
            index, error = failure
            where = (tally.at, tally.line)
            tally = start
            if index:
                again = _apply_chunk(work, chunk[:index], actor, targets, tally, source)
                assert again is None, "a message applied once applies again"
            if progress is not None and index:
                progress(sum(u.weight for u in chunk[:index]))
            return _report(tally, where, error)
        if progress is not None:
            progress(sum(u.weight for u in chunk))
        if bad is not None:
            return _report(tally, (f"line {bad.line}", bad.line), InvalidInput(bad.problem))
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
) -> tuple[int, CMRewardsError] | None:
    """Apply ``chunk`` in one transaction; on a refusal, roll it all back and say which."""
    failure: tuple[int, CMRewardsError] | None = None
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

                def mark(i: int, unit: Unit = unit) -> None:
                    if unit.lines:
                        line = unit.lines[i]
                        tally.at, tally.line = f"line {line}", line

                try:
                    result = _apply_message(work, tx, unit.message, actor, targets, mark, source)
                except CMRewardsError as error:
                    failure = (index, error)
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


def _chunks(
    units: Iterable[Unit | BadRow], size: int
) -> Iterator[tuple[list[Unit], BadRow | None]]:
    """Chunks of about ``size`` in weight; the first bad one ends the last chunk."""
    chunk: list[Unit] = []
    weight = 0
    for unit in units:
        if isinstance(unit, BadRow):
            yield chunk, unit
            return
        chunk.append(unit)
        weight += unit.weight
        if weight >= size:
            yield chunk, None
            chunk, weight = [], 0
    if chunk:
        yield chunk, None


def _report(
    tally: _Tally,
    where: tuple[str, int | None] | None = None,
    error: CMRewardsError | None = None,
) -> LabImportReport:
    failed: dict[str, Any] = {}
    if where is not None and error is not None:
        at, line = where
        failed = {
            "failed_at": at,
            "failed_line": line,
            "error": f"{at}: {error}",
            "error_type": type(error).__name__,
            "exit_code": error.exit_code,
        }
    return LabImportReport(
        rows=tally.rows,
        stored=tally.stored,
        replayed=tally.replayed,
        specimens=tally.specimens,
        outcomes=tally.outcomes,
        pending=tally.pending,
        last_day=tally.last_day,
        messages=tally.messages,
        preliminary=tally.preliminary,
        corrected=tally.corrected,
        voided=tally.voided,
        **failed,
    )
