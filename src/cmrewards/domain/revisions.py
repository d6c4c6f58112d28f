"""Analyte revisions: how a lab's later reports about an analyte change what stands.

Each analyte of a specimen has at most one *first decisive* report, stored in
``analyte_results`` (``AnalyteResult``) exactly as a lab export's row always was: the
first ``final`` (or ``corrected``) result. Every other report is an ``AnalyteRevision``
(``analyte_revisions``, append-only and journaled): a ``preliminary`` before it, a
``corrected`` or withdrawal (``entered-in-error``, ``cancelled``) after it, a ``final``
after a withdrawal. A revision names the decisive row it follows (``revises``), or None
when it came before there was one, so the latest report of an analyte is well defined
whatever the clocks say (docs/design.md section 3.10).

The latest report wins (HL7 v2.5.1 Table 0085, FHIR ``ObservationStatus``):

- ``preliminary`` is shown but decides nothing; one arriving after a final is refused
  (``InvalidTransition``): a final result is changed only by a ``corrected`` one;
- ``final`` decides; a second final with another result is ``IdempotencyConflict`` (the
  change must come as ``corrected``); a final equal to the analyte's first decisive
  result while a correction stands is that first result sent again, and writes nothing;
  a final after a withdrawal stands again;
- ``corrected`` replaces the result and decides;
- ``entered-in-error`` / ``cancelled`` withdraw it: the analyte decides nothing.

The same report as the one standing writes nothing.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections import defaultdict
from collections.abc import Iterable

import attrs

from ..errors import IdempotencyConflict, InvalidTransition
from .analytes import LabResult
from .chain import canonical
from .clock import to_utc_text
from .lab_reports import LabReport, ReportedAnalyte, ResultStatus
from .specimens import AnalyteResult


@attrs.frozen
class AnalyteRevision:
    """A report about one analyte of one specimen that is not its first decisive result.
    Never updated."""

    id: int
    program_id: str
    participant: str
    specimen: str
    analyte: str
    status: ResultStatus
    result: LabResult | None
    """None only for a withdrawal that did not repeat the value."""
    revises: int | None
    """The ``AnalyteResult`` id standing when it came; None when it came before one."""
    collected_at: dt.datetime
    """When the sample was given (clinical time), UTC: the specimen's."""
    recorded_at: dt.datetime
    actor: str


@attrs.frozen
class AnalyteReading:
    """An analyte of a specimen as it stands: its latest report."""

    participant: str
    specimen: str
    analyte: str
    status: ResultStatus
    result: LabResult | None
    """The latest value reported (for a withdrawal that gave none, the value withdrawn;
    None when there never was one)."""
    collected_at: dt.datetime
    recorded_at: dt.datetime
    """When the latest report was stored."""
    reports: int
    """How many reports of the analyte are stored (the first decisive one included)."""
    decisive: int | None
    """The id of its first decisive result (``AnalyteResult``); None while there is none."""

    @property
    def decides(self) -> bool:
        """A final or corrected value stands: the analyte counts for ``specimen_verdict``."""
        return self.status.pays and self.result is not None


def readings(
    results: Iterable[AnalyteResult], revisions: Iterable[AnalyteRevision]
) -> dict[str, AnalyteReading]:
    """Each analyte of one specimen as it stands, by analyte name."""
    firsts = {r.analyte: r for r in results}
    later: dict[str, list[AnalyteRevision]] = defaultdict(list)
    for revision in sorted(revisions, key=lambda r: r.id):
        later[revision.analyte].append(revision)
    standing: dict[str, AnalyteReading] = {}
    for analyte in [*firsts, *(a for a in later if a not in firsts)]:
        first = firsts.get(analyte)
        base = None if first is None else first.id
        # Reports from before the first decisive result no longer stand.
        own = [r for r in later[analyte] if r.revises == base]
        values = [first.result] if first is not None else []
        values += [r.result for r in own if r.result is not None]
        latest: AnalyteResult | AnalyteRevision = own[-1] if own else first  # type: ignore[assignment]
        standing[analyte] = AnalyteReading(
            participant=latest.participant,
            specimen=latest.specimen,
            analyte=analyte,
            status=latest.status if isinstance(latest, AnalyteRevision) else ResultStatus.FINAL,
            result=values[-1] if values else None,
            collected_at=latest.collected_at,
            recorded_at=latest.recorded_at,
            reports=len(later[analyte]) + (first is not None),
            decisive=base,
        )
    return standing


def standing_readings(
    results: Iterable[AnalyteResult], revisions: Iterable[AnalyteRevision]
) -> list[AnalyteReading]:
    """Each analyte of each specimen of one participant as it stands: specimens in order of
    collection (ties in the order their first row was stored), analytes in the order they
    arrived (``Clinic.analyte_results``)."""
    firsts = list(results)
    later = list(revisions)
    specimens = dict.fromkeys([r.specimen for r in firsts] + [r.specimen for r in later])
    standing = [
        reading
        for specimen in specimens
        for reading in readings(
            [r for r in firsts if r.specimen == specimen],
            [r for r in later if r.specimen == specimen],
        ).values()
    ]
    return sorted(standing, key=lambda r: r.collected_at)  # stable: arrival order kept


def awaiting_final(standing: Iterable[AnalyteReading]) -> list[str]:
    """The specimens (accessions, in the order of ``standing``) with an analyte whose
    standing report is preliminary: shown, deciding nothing until a final one comes
    (issue 13). The stores answer the same with one query (``Specimens.awaiting_final``)."""
    waiting = [r.specimen for r in standing if r.status is ResultStatus.PRELIMINARY]
    return list(dict.fromkeys(waiting))


def decided(standing: dict[str, AnalyteReading]) -> dict[str, LabResult]:
    """The analytes whose value decides (final or corrected), for ``specimen_verdict``."""
    return {a: r.result for a, r in standing.items() if r.decides and r.result is not None}


class Step(enum.Enum):
    """What one reported analyte writes."""

    NOTHING = "nothing"
    """It is what stands already (or a resend of the first decisive result)."""
    FIRST = "first"
    """The analyte's first decisive result (``analyte_results``)."""
    REVISION = "revision"
    """A report before or after it (``analyte_revisions``)."""


def step(
    accession: str,
    current: AnalyteReading | None,
    first: LabResult | None,
    new: ReportedAnalyte,
    source: str = "report",
) -> Step:
    """What ``new`` writes for an analyte standing at ``current`` whose first decisive
    result is ``first`` (None: none yet); ``source`` names what brought it in an error
    (``report``, ``row``). Raises ``InvalidTransition`` for a preliminary after a final
    and ``IdempotencyConflict`` for a final that changes a final."""
    status = new.status
    if (
        current is not None
        and current.status is status
        and (current.result == new.result or (status.withdrawn and new.result is None))
    ):
        return Step.NOTHING
    if current is None or current.decisive is None:
        return Step.FIRST if status.pays else Step.REVISION
    if status is ResultStatus.PRELIMINARY and current.status.pays:
        raise InvalidTransition(
            f"specimen {accession} {new.analyte} has a {current.status} result"
            f" ({current.result}); a preliminary {source} cannot follow it; nothing was"
            " written"
        )
    if status is ResultStatus.FINAL and current.status.pays:
        if new.result in (first, current.result):
            return Step.NOTHING  # what stands, or the first final again under a correction
        raise IdempotencyConflict(
            f"specimen {accession} {new.analyte} is recorded {current.result},"
            f" this {source} says {new.result}; a final result changes only through a"
            " corrected one; nothing was written"
        )
    return Step.REVISION


def report_digest(report: LabReport, collected: dt.datetime) -> str:
    """A digest of a report's normalized content: its status, analytes and results (in
    analyte order) and its collection time in UTC. The participant is not in it (the key
    is scoped to the program, and a key never holds anything about a person)."""
    content = {
        "collected": to_utc_text(collected),
        "analytes": sorted(
            [a.analyte, str(a.status), None if a.result is None else str(a.result)]
            for a in report.analytes
        ),
    }
    return hashlib.sha256(canonical(content).encode()).hexdigest()[:32]
