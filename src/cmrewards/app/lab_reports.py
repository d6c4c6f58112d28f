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
import (``lab_import.py``) each message is its own unit of work, so the others are
applied, the refusal is listed, and rerunning tries it again (docs/design.md section 3.13).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ..domain.clock import format_when, require_aware, zone
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
from ..domain.validation import check_text
from ..errors import InvalidInput, PermissionDenied
from ..store.lookup import find_participant, find_program
from ..store.port import RecordTx
from .corrections import correct_recorded
from .recording import (
    Details,
    apply_result,
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


# --- one message, one transaction -------------------------------------------------------


def apply_lab_message(
    work: UnitOfWork, message: LabMessage, *, actor: str, targets: Sequence[str] = ()
) -> LabMessageResult:
    """Apply every report of ``message`` in one transaction (see ``Clinic.apply_lab_message``)."""
    with work.write(actor, Action.RECORD) as tx:
        return apply_message(work, tx, message, actor, targets)


def apply_message(
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
    # As ``parse_when`` reads the same time spelled out (fold 0), without the spelling.
    local = collected.replace(tzinfo=zone(program.timezone), fold=0)
    return require_aware(local, "collected").astimezone(dt.UTC)
