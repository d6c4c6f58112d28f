"""The lab-status vocabulary the result-status tests share (issue 13): the CTN-0094
program, its start, the five statuses, the two results, the two stimulant analytes, and
when each numbered specimen was collected."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import cmrewards
from cmrewards import LabResult, ResultStatus

ROOT = Path(__file__).resolve().parents[2]
LAB_PROGRAM = cmrewards.load_program_file(ROOT / "examples" / "ctn0094-program.toml")
"""The CTN-0094 program (``examples/ctn0094-program.toml``): a stimulant-negative target
decided by the cocaine and amphetamine analytes."""
LAB_START = dt.date(2026, 1, 5)
"""A Monday: the enrolment of the lab tests' participants."""
P, F, C = ResultStatus.PRELIMINARY, ResultStatus.FINAL, ResultStatus.CORRECTED
W, X = ResultStatus.ENTERED_IN_ERROR, ResultStatus.CANCELLED
NEG, POS = LabResult.NEGATIVE, LabResult.POSITIVE
ANALYTES = ("cocaine", "amphetamine")


def collected(specimen: int) -> dt.datetime:
    """Specimen ``n`` is given on the Monday of program week ``n + 1``, 15:00 UTC."""
    return dt.datetime(2026, 1, 12, 15, tzinfo=dt.UTC) + dt.timedelta(weeks=specimen)


def both(
    status: ResultStatus, result: LabResult | None
) -> dict[str, tuple[ResultStatus, LabResult | None]]:
    """Each of ``ANALYTES`` reported as ``result`` with ``status``."""
    return dict.fromkeys(ANALYTES, (status, result))
