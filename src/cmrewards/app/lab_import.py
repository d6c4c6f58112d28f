"""Importing many lab units (a lab export's specimens, HL7 messages, FHIR documents) in chunks.

``import_units`` applies units in order, several per transaction (about ``chunk_size`` in
weight), each its own unit of work through ``lab_reports.apply_message``: what a chunk's
units will read is read ahead together, their writes are held back to one batch per table
(``store/buffered.py``), and a refused unit is taken back alone — the units before it stay
applied, the refusal is listed, and the chunk goes on after it (docs/design.md section
3.13).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import attrs

from ..domain.clock import local_date
from ..domain.lab_reports import LabMessage, LabReport
from ..domain.programs import Program, Target
from ..domain.revisions import report_digest
from ..domain.staff import Action
from ..domain.validation import check_chunk_size, is_pseudonymous_id
from ..errors import CMRewardsError, InvalidInput
from ..store.buffered import BufferedTx
from ..store.lookup import find_participant, find_program
from ..store.port import RecordTx
from .lab_file import BadRow
from .lab_reports import (
    LabMessageResult,
    apply_message,
    clinical_time,
    deciding_targets,
    outcome_key,
)
from .recording import read_participants, read_recent_ahead, reads_of_a_record, sendable
from .unit_of_work import UnitOfWork


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
    check_chunk_size(chunk_size)
    tally = _Tally()
    for chunk in _chunks(units, chunk_size):
        while chunk:
            start = tally.copy()
            failure = _apply_chunk(work, chunk, actor, targets, tally, source)
            if failure is None:
                done, chunk = chunk, []
            else:
                # The refused message wrote part of itself through to the store (a
                # correction flushes the chunk first), so it could not be taken back alone:
                # the chunk was rolled back; apply the messages before it again, so that
                # they alone are committed, and go on after it.
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
    """Apply ``chunk`` in one transaction. A refused unit whose writes are all still
    pending is taken back alone (``BufferedTx.take_back``) and listed, and the chunk goes
    on; one that wrote through (a correction) rolls the whole chunk back, and the result
    says which unit and why."""
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
                if unit.problem is not None:
                    tally.refuse(unit.problem)  # unreadable: nothing of it to apply
                    continue

                def mark(i: int, unit: Unit = unit) -> None:
                    if unit.lines:
                        line = unit.lines[i]
                        tally.at, tally.line = f"line {line}", line

                # A unit without reports is only patients not in CM.
                if unit.message.reports:
                    tx.begin_unit()
                    try:
                        result = apply_message(work, tx, unit.message, actor, targets, mark,
                                               source)  # fmt: skip
                    except CMRewardsError as error:
                        tally.refuse(error)
                        if tx.take_back():
                            continue  # its writes were still pending: forgotten alone
                        failure = (index, tally.refused.pop())
                        raise _Refused from error
                    tally.add(result, zone_of)
                tally.not_in_cm += unit.message.not_in_cm
            tx.flush()
    except _Refused:
        return failure
    return None


def _read_chunk_ahead(
    tx: BufferedTx, reports: Sequence[LabReport], target_ids: Sequence[str]
) -> None:
    """Read what a chunk's reports will read, as the outcome import does: their
    participants, then their keys (one query), then their specimens' stored results and
    revisions (two queries, ``prefetch_specimens``) and what recording each deciding
    target reads (``reads_of_a_record``), and the recent outcomes the calendar asks about
    (on PostgreSQL a few round trips a chunk instead of several a report; on SQLite two
    queries a chunk instead of two a report: issue 16)."""
    named = sorted({r.participant for r in reports if is_pseudonymous_id(r.participant)})
    tx.read_ahead(lambda ahead: read_participants(ahead, named))
    # Read here, not while reading ahead.
    people = {p: person for p in named if (person := tx.participant(p)) is not None}
    programs = {p.program_id: tx.program(p.program_id) for p in people.values()}
    tx.prefetch_keys(_chunk_keys(tx, reports, target_ids))
    specimens = [
        (r.participant, r.accession)
        for r in reports
        if r.participant in people and sendable(r.accession)
    ]

    def reads(ahead: RecordTx) -> None:
        ahead.specimens_of(specimens)
        for report in reports:
            person = people.get(report.participant)
            program = None if person is None else programs[person.program_id]
            if person is None or program is None or not sendable(report.accession):
                continue
            for target in _deciding_or_none(program, target_ids):
                reads_of_a_record(ahead, person, target.id, None)

    tx.read_ahead(reads)
    tx.prefetch_specimens(specimens)  # answered by the read-ahead
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
