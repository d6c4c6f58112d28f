"""Specimens: the analyte results a lab reports for one urine sample, and what they decide.

A lab reports a specimen one analyte at a time, often in separate files on separate
days. Each analyte result is stored as it arrives (``AnalyteResult``, append-only
and journaled); a target that lists ``analytes`` is decided by ``specimen_verdict``
from the results of the analytes it requires (docs/design.md section 3.6):

- a positive for any required analyte is ``not_met``, whatever else the specimen
  shows or will show: the sample shows use, so a positive beside a dilute result
  is ``not_met`` too, and nothing reported later can change it;
- otherwise a required analyte not reported yet leaves the target pending (no
  outcome, nothing paid);
- otherwise a dilute, substituted or invalid result is ``invalid``;
- otherwise every required analyte is negative: ``met``.

An analyte the target does not require is ignored for that target, positive or not
(a stimulant target is not reset by a methadone-positive sample); it is stored all
the same, and decides the targets that do require it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import attrs

from .analytes import LabResult
from .schedules import Outcome

SPOILED = frozenset({LabResult.DILUTE, LabResult.SUBSTITUTED, LabResult.INVALID})
"""Results that say the sample cannot show abstinence."""


@attrs.frozen
class AnalyteResult:
    """One analyte of one specimen as the lab reported it. Never updated."""

    id: int
    program_id: str
    participant: str
    specimen: str
    """The lab's accession number of the sample."""
    analyte: str
    """A stable analyte name (``domain/analytes.py``)."""
    result: LabResult
    collected_at: dt.datetime
    """When the sample was given (clinical time), UTC."""
    recorded_at: dt.datetime
    actor: str


def specimen_verdict(required: Iterable[str], results: Mapping[str, LabResult]) -> Outcome | None:
    """What a specimen's results decide for a target requiring ``required``; None while
    the target is still pending."""
    readings = [results.get(name) for name in required]
    if LabResult.POSITIVE in readings:
        return Outcome.NOT_MET
    if None in readings:
        return None
    if any(reading in SPOILED for reading in readings):
        return Outcome.INVALID
    return Outcome.MET


def results_by_analyte(results: Iterable[AnalyteResult]) -> dict[str, LabResult]:
    """A specimen's stored results, by analyte."""
    return {r.analyte: r.result for r in results}
