"""Cap periods: which year of a participant's cap a clinical time falls in.

A program's cap counts per calendar year or per enrolment year (``CapPeriod``); an
award, an adjustment and the balance's "left under the cap" are all counted in the
period their clinical time falls in, in the program's zone. Kept apart from ``caps`` (the
payouts and charges under a cap) so a balance reads its period without building those
(issue 16, CLI start-up); ``caps`` re-exports these names.
"""

from __future__ import annotations

import datetime as dt

from .clock import local_date
from .programs import CapPeriod, Program


def cap_period(program: Program, start: dt.date, at: dt.datetime) -> str:
    """The cap period an award at clinical time ``at`` falls in: ``2027`` or ``enrolment-2``."""
    day = local_date(at, program.timezone)
    if program.cap_period is CapPeriod.CALENDAR_YEAR:
        return str(day.year)
    years = day.year - start.year - ((day.month, day.day) < (start.month, start.day))
    return f"enrolment-{years + 1}"


def next_cap_period_start(program: Program, start: dt.date, at: dt.datetime) -> dt.date:
    """The first day of the cap period after the one clinical time ``at`` falls in: the
    next 1 January, or the next anniversary of ``start`` (a 29 February start renews on
    1 March in other years, as ``cap_period`` counts it)."""
    day = local_date(at, program.timezone)
    if program.cap_period is CapPeriod.CALENDAR_YEAR:
        return dt.date(day.year + 1, 1, 1)
    years = day.year - start.year - ((day.month, day.day) < (start.month, start.day))
    year = start.year + years + 1
    try:
        return start.replace(year=year)
    except ValueError:
        return dt.date(year, 3, 1)


def period_label(period: str) -> str:
    """A cap period as staff read it: ``2027``, or ``enrolment year 2``."""
    return period.replace("enrolment-", "enrolment year ")
