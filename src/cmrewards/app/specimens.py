"""Importing a lab export: its rows gathered into specimens, each applied as a final report.

The rows of a lab export are gathered into specimens (a specimen's rows may be anywhere
in the file) and applied in order of collection, one transaction per chunk of about
``chunk_size`` rows, through the one path every door's results take
(``lab_reports.apply_report``): each specimen is a report whose analytes are all
``final``. An analyte result stored before is a replay (a different one is refused: a
change comes as a corrected result, which an export cannot say), and each target with
``analytes`` that the specimen now decides (``domain/specimens.py``) gets its outcome
through the normal record path, at the collection time, keyed by the accession so that
rerunning the import, or the next file completing a pending specimen, never records it
twice. A specimen still missing a required analyte stays pending: its results wait in
the store for the file that completes it.

Each specimen is its own unit of work (docs/design.md section 3.13): a bad row refuses its
specimen (or itself, when it names none), a refusal while applying refuses the specimen,
and the others are applied; the report lists each refusal by line. Running the import
again (after fixing the file) replays what was applied and applies the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..domain.lab_reports import LabMessage, LabReport, ReportedAnalyte, ResultStatus
from .lab_export import LabRow, NotInCM
from .lab_file import BadRow
from .lab_import import LabImportReport, Unit, import_units, unreadable
from .unit_of_work import UnitOfWork

Specimen = list[LabRow]


def import_lab_results(
    work: UnitOfWork,
    rows: Iterable[LabRow | BadRow | NotInCM],
    *,
    actor: str,
    targets: Sequence[str] = (),
    chunk_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> LabImportReport:
    """Store analyte results and record what complete specimens decide (see
    ``Clinic.import_lab_results``)."""
    return import_units(
        work,
        _gather(rows),
        actor=actor,
        targets=targets,
        chunk_size=chunk_size,
        progress=progress,
        source="row",
    )


def _unit(rows: Specimen) -> Unit:
    """A specimen's rows as one message of final reports: one report per collection time
    the rows give, so that rows disagreeing with the first are refused, naming the first
    of them, and the specimen with them (one message, one transaction)."""
    first = rows[0]
    times: dict[object, Specimen] = {}
    for row in rows:
        times.setdefault(row.collected, []).append(row)
    reports = tuple(
        LabReport(
            participant=first.participant,
            accession=first.specimen,
            collected=same[0].collected,
            analytes=tuple(ReportedAnalyte(r.analyte, r.result, ResultStatus.FINAL) for r in same),
        )
        for same in times.values()
    )
    return Unit(
        message=LabMessage(reports, position=f"line {first.line}"),
        lines=tuple(r.line for same in times.values() for r in same),
        line=first.line,
        weight=len(rows),
    )


def _gather(rows: Iterable[LabRow | BadRow | NotInCM]) -> list[Unit]:
    """The file's units: each specimen its own, in order of collection. A bad row that
    names its specimen refuses the specimen (at the row's line; nothing of it is applied),
    one that does not is refused alone; the specimens of patients not in CM are counted
    once each."""
    specimens: dict[tuple[str, str], Specimen] = {}
    bad: dict[tuple[str, str] | int, tuple[BadRow, int]] = {}
    outside: dict[str, tuple[int, int]] = {}
    for row in rows:
        if isinstance(row, NotInCM):
            line, weight = outside.get(row.specimen, (row.line, 0))
            outside[row.specimen] = (line, weight + 1)
        elif isinstance(row, BadRow):
            key = row.specimen or row.line
            first, weight = bad.get(key, (row, 0))
            bad[key] = (first, weight + 1)
        else:
            specimens.setdefault((row.participant, row.specimen), []).append(row)
    # A refused specimen counts its good rows too (for the progress bar), and applies none.
    refused = [
        unreadable(
            first, weight + len(specimens.pop(key, ())) if isinstance(key, tuple) else weight
        )
        for key, (first, weight) in bad.items()
    ]
    skipped = [
        Unit(LabMessage((), f"line {line}", not_in_cm=1), line=line, weight=weight)
        for line, weight in outside.values()
    ]
    return [*refused, *skipped, *(_unit(s) for s in _in_clinical_order(specimens))]


def _in_clinical_order(specimens: dict[tuple[str, str], Specimen]) -> list[Specimen]:
    # Outcomes of one target are recorded in time order: a participant's specimens are
    # applied oldest first wherever their rows stand in the file.
    return sorted(
        specimens.values(), key=lambda s: (s[0].collected.replace(tzinfo=None), s[0].line)
    )
