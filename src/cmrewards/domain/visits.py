"""Visits: one participant's attendance, the unit a clinic and a lab think in.

A visit is the clinical day in the program's time zone, or an explicit visit id the
caller gives (a clinic whose visits cross midnight, or that sees a participant twice a
day). For a participant, a target and a visit there is one result (docs/design.md
section 3.7): the same result again is a replay, a different one is corrected, never
recorded twice. ``requires`` is judged within the visit, whatever the order.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from .clock import local_date
from .records import OutcomeRecord
from .validation import check_text


@lru_cache(maxsize=65536)
def visit_key(at: dt.datetime, visit: str | None, timezone: str) -> str:
    """The visit a result at clinical time ``at`` belongs to: ``visit`` when the caller
    named one, else the clinical day (``2026-01-06``) in ``timezone``."""
    return visit if visit is not None else visit_on(local_date(at, timezone), None)


def visit_on(day: dt.date, visit: str | None) -> str:
    """``visit_key`` of a result whose clinical date is ``day`` (``clock.local_date``): the
    replay reads each result's date once, for its visit and its program week."""
    return visit if visit is not None else day.isoformat()


def visit_of(record: OutcomeRecord, timezone: str) -> str:
    """The visit of a recorded outcome."""
    return visit_key(record.occurred_at, record.visit, timezone)


def check_visit_id(visit: str | None) -> str | None:
    """A caller's visit id: one line of text, or None for the clinical day."""
    return check_text(visit, "visit")


def check_specimen(specimen: str | None) -> str | None:
    """A lab accession: one line of text, or None."""
    return check_text(specimen, "specimen")
