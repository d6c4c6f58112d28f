"""Importing lab results per analyte: stored as they come, each specimen decided once complete.

The rows of a lab export are gathered into specimens (a specimen's rows may be anywhere
in the file) and applied in order of collection, one transaction per chunk of about
``chunk_size`` rows. For each specimen: every analyte result not stored before is
stored (the same result again is a replay; a different one is refused), and each
target with ``analytes`` that the specimen now decides (``domain/specimens.py``) gets
its outcome through the normal record path, at the collection time, keyed by the
accession so that rerunning the import, or the next file completing a pending
specimen, never records it twice. A specimen still missing a required analyte stays
pending: its results wait in the store for the file that completes it.

The first bad row stops the gathering, and the first refusal the applying: the report
names the line, everything applied before it stays, and running the import again
(after fixing the file) resumes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

import attrs

from ..domain.clock import format_when, local_date, parse_when
from ..domain.programs import Program, Target
from ..domain.recordable import check_recordable
from ..domain.records import Participant
from ..domain.refs import next_id
from ..domain.schedules import Outcome
from ..domain.specimens import AnalyteResult, results_by_analyte, specimen_verdict
from ..domain.staff import Action
from ..domain.validation import check_text
from ..errors import CMRewardsError, IdempotencyConflict, InvalidInput
from ..store.buffered import BufferedTx
from ..store.lookup import find_participant, find_program
from ..store.port import RecordTx
from .lab_export import LabRow
from .lab_file import BadRow
from .recording import Details, apply_result
from .unit_of_work import UnitOfWork


@attrs.frozen
class LabImportReport:
    """What a lab-results import did."""

    rows: int
    """Analyte rows applied: stored now or found stored already."""
    stored: int
    """Analyte results stored by this import."""
    replayed: int
    """Analyte results that were stored already (the same result again)."""
    specimens: int
    """Specimens the applied rows belong to."""
    outcomes: int
    """Outcomes recorded by this import (a specimen deciding a target)."""
    pending: int
    """Specimens still waiting for a required analyte of some target."""
    failed_line: int | None = None
    """The line of the first bad row; None when every row was applied."""
    error: str | None = None
    error_type: str | None = None
    exit_code: int = 0
    """The CLI exit code of the error that stopped the import (0 when complete)."""
    last_day: dt.date | None = None
    """The latest collection date among the specimens applied, each in its program's zone:
    the day ``import --close`` closes the calendar through. None when none was applied."""

    @property
    def complete(self) -> bool:
        return self.failed_line is None


@attrs.define
class _Tally:
    line: int = 0
    """The row being checked: the one a refusal names."""
    rows: int = 0
    stored: int = 0
    replayed: int = 0
    specimens: int = 0
    outcomes: int = 0
    pending: int = 0
    last_day: dt.date | None = None


Specimen = list[LabRow]


def import_lab_results(
    work: UnitOfWork,
    rows: Iterable[LabRow | BadRow],
    *,
    actor: str,
    targets: Sequence[str] = (),
    chunk_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> LabImportReport:
    """Store analyte results and record what complete specimens decide (see
    ``Clinic.import_lab_results``)."""
    if chunk_size < 1:
        raise InvalidInput("chunk size must be at least 1")
    specimens, bad = _gather(rows)
    tally = _Tally()
    for chunk in _chunks(specimens, chunk_size):
        failure: tuple[int, CMRewardsError] | None = None
        with work.write(actor, Action.RECORD) as direct:
            tx = BufferedTx(direct)
            for specimen in chunk:
                try:
                    _apply(work, tx, specimen, actor, targets, tally)
                except CMRewardsError as error:
                    # A specimen is checked before anything is written for it, so the
                    # specimens before it are whole and are committed.
                    failure = (tally.line, error)
                    break
            tx.flush()
        if progress is not None:
            progress(sum(len(s) for s in chunk))
        if failure is not None:
            return _report(tally, *failure)
    if bad is not None:
        return _report(tally, bad.line, InvalidInput(bad.problem))
    return _report(tally)


def _gather(rows: Iterable[LabRow | BadRow]) -> tuple[list[Specimen], BadRow | None]:
    """The rows before the first bad one, as specimens in order of collection."""
    specimens: dict[tuple[str, str], Specimen] = {}
    for row in rows:
        if isinstance(row, BadRow):
            return _in_clinical_order(specimens), row
        specimens.setdefault((row.participant, row.specimen), []).append(row)
    return _in_clinical_order(specimens), None


def _in_clinical_order(specimens: dict[tuple[str, str], Specimen]) -> list[Specimen]:
    # Outcomes of one target are recorded in time order: a participant's specimens are
    # applied oldest first wherever their rows stand in the file.
    return sorted(
        specimens.values(), key=lambda s: (s[0].collected.replace(tzinfo=None), s[0].line)
    )


def _chunks(specimens: list[Specimen], size: int) -> Iterable[list[Specimen]]:
    chunk: list[Specimen] = []
    count = 0
    for specimen in specimens:
        chunk.append(specimen)
        count += len(specimen)
        if count >= size:
            yield chunk
            chunk, count = [], 0
    if chunk:
        yield chunk


def _apply(
    work: UnitOfWork,
    tx: RecordTx,
    rows: Specimen,
    actor: str,
    target_ids: Sequence[str],
    tally: _Tally,
) -> None:
    """Check one specimen's rows and what they decide, then write it all."""
    first = rows[0]
    tally.line = first.line
    accession = check_text(first.specimen, "specimen", required=True) or ""
    person = find_participant(tx, first.participant)
    program = find_program(tx, person.program_id)
    deciding = _deciding(program, target_ids)
    stored = tx.specimen_results(person.id, accession)
    collected = stored[0].collected_at if stored else _clinical_time(first, program)
    known = results_by_analyte(stored)
    new: list[AnalyteResult] = []
    now = work.clock()
    head = tx.last_analyte_result()
    for row in rows:
        tally.line = row.line
        at = _clinical_time(row, program)
        if at != collected:
            raise InvalidInput(
                f"specimen {accession} was collected at {format_when(collected, program.timezone)},"
                f" this row says {format_when(at, program.timezone)}"
            )
        earlier = known.get(row.analyte)
        if earlier is not None:
            if earlier is not row.result:
                raise IdempotencyConflict(
                    f"specimen {accession} {row.analyte} is recorded"
                    f" {earlier}, this row says {row.result}; nothing was written"
                )
            tally.replayed += 1
            continue
        head = AnalyteResult(
            id=next_id(head),
            program_id=program.id,
            participant=person.id,
            specimen=accession,
            analyte=row.analyte,
            result=row.result,
            collected_at=collected,
            recorded_at=now,
            actor=actor,
        )
        new.append(head)
        known[row.analyte] = row.result
    decided = [(t, v) for t in deciding if (v := specimen_verdict(t.analytes, known)) is not None]
    tally.line = rows[-1].line
    _check_decisions(tx, person, program, accession, decided, collected, now)
    for target, outcome in decided:
        tally.outcomes += _record_decision(
            work, tx, person, accession, target, outcome, collected, actor
        )
    tx.add_analyte_results(new)
    tally.rows += len(rows)
    tally.stored += len(new)
    tally.specimens += 1
    tally.pending += int(len(decided) < len(deciding))
    day = local_date(collected, program.timezone)
    tally.last_day = day if tally.last_day is None else max(tally.last_day, day)


def _record_decision(
    work: UnitOfWork,
    tx: RecordTx,
    person: Participant,
    accession: str,
    target: Target,
    outcome: Outcome,
    at: dt.datetime,
    actor: str,
) -> bool:
    """Record what the specimen decides for ``target``; False when it was recorded before."""
    key = _outcome_key(accession, target)
    details = Details(specimen=accession)
    return apply_result(work, tx, person, target.id, outcome, at, actor, key, details)


def _check_decisions(
    tx: RecordTx,
    person: Participant,
    program: Program,
    accession: str,
    decided: list[tuple[Target, Outcome]],
    at: dt.datetime,
    now: dt.datetime,
) -> None:
    """Every outcome this specimen will record may be recorded: checked before any is,
    so a refusal leaves nothing of the specimen behind."""
    for target, _ in decided:
        if tx.idempotency(program.id, _outcome_key(accession, target)) is None:
            check_recordable(person, program.timezone, at, now)


def _outcome_key(accession: str, target: Target) -> str:
    return f"specimen:{accession}:{target.id}"


def _deciding(program: Program, target_ids: Sequence[str]) -> list[Target]:
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


def _clinical_time(row: LabRow, program: Program) -> dt.datetime:
    if row.collected.tzinfo is not None:
        return row.collected.astimezone(dt.UTC)
    local = parse_when(row.collected.isoformat(), program.timezone, "collected")
    return local.astimezone(dt.UTC)


def _report(
    tally: _Tally, line: int | None = None, error: CMRewardsError | None = None
) -> LabImportReport:
    failed = {}
    if line is not None and error is not None:
        failed = {
            "failed_line": line,
            "error": f"line {line}: {error}",
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
        **failed,  # type: ignore[arg-type]
    )
