"""Time: aware datetimes in, UTC text out, program weeks in the clinic's zone.

Timestamps are stored as fixed-width UTC text (microsecond precision, ``Z``) so
that string order in the database is time order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ..errors import InvalidInput

Clock = Callable[[], dt.datetime]

FIRST_YEAR, LAST_YEAR = 1970, 2999
"""Clinical dates outside these years are typos; inside, the stored text is fixed-width."""


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@cache
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(unknown_zone(name)) from None


def unknown_zone(name: str) -> str:
    """``unknown time zone 'utc'; did you mean UTC?``: the IANA name that differs from
    ``name`` only in case, when there is one (zone names are case-sensitive on most
    systems, and ``utc`` or ``america/chicago`` are how people type them)."""
    said = f"unknown time zone {name[:64]!r}"
    folded = name.casefold()
    # Only on the error path: listing the zones reads the time-zone database.
    matches = sorted(z for z in available_timezones() if z.casefold() == folded)
    return f"{said}; did you mean {matches[0]}?" if matches else said


def require_aware(value: dt.datetime, what: str) -> dt.datetime:
    """``value`` if it is aware and lies within what UTC can represent."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{what} must be a time-zone aware datetime")
    try:
        year = value.astimezone(dt.UTC).year
    except OverflowError:
        year = 0
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"{what} {value.isoformat()} is out of range ({FIRST_YEAR}-{LAST_YEAR})")
    return value


def to_utc_text(value: dt.datetime) -> str:
    if value.tzinfo is dt.UTC:  # what the library stores: spelled once, then remembered
        return _utc_text(value)
    if value.tzinfo is None:
        raise InvalidInput("time must be a time-zone aware datetime")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@lru_cache(maxsize=4096)
def _utc_text(value: dt.datetime) -> str:
    # A write spells the same few UTC times (its clock's now, its clinical time) in every
    # hash, row and journal entry it makes (issue 16's profile: 13 a row). Only UTC values
    # are cached: two of them are equal exactly when they are the same instant (in a zone
    # with a fold, equal wall times may be different instants).
    return value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def from_utc_text(text: str) -> dt.datetime:
    # fromisoformat is C; strptime would dominate reading a long history.
    return dt.datetime.fromisoformat(text)


def parse_date(text: str, what: str = "date") -> dt.date:
    """A clinical date typed as ``YYYY-MM-DD``.

    Raises ``InvalidInput`` naming ``what`` for any other text or a year out of range.
    """
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a date (YYYY-MM-DD)") from None
    return require_date_in_range(day, what)


def require_date_in_range(day: dt.date, what: str) -> dt.date:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidInput(f"{what} {day.isoformat()} is out of range ({FIRST_YEAR}-{LAST_YEAR})")
    return day


def parse_when(text: str, timezone: str, what: str = "time") -> dt.datetime:
    """Parse a staff-typed time: ISO 8601 with or without offset, or a bare date.

    A time without an offset, or a bare date (midnight), is read in the clinic's
    time zone: that is what the person at the front desk means. Returns an aware datetime.
    Raises ``InvalidInput`` naming ``what`` for text that is no time, or an unknown zone.
    """
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            parsed = dt.datetime(day.year, day.month, day.day)
        else:
            parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{what} {text!r} is not an ISO date or time (e.g. 2027-01-04 or 2027-01-04T09:30)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone(timezone))
    return require_aware(parsed, what)


def clinical_noon(day: dt.date, timezone: str) -> dt.datetime:
    """Noon of ``day`` in ``timezone``, in UTC: where an act dated by its day alone stands
    (an excused absence without a visit that day, an episode ended ``--on`` a past day).
    Noon, not midnight: inside the clinical day whatever the zone's offset or daylight-saving
    shift. Raises ``InvalidInput`` for an unknown zone."""
    return dt.datetime.combine(day, dt.time(12), zone(timezone)).astimezone(dt.UTC)


def local_date(value: dt.datetime, timezone: str) -> dt.date:
    """The clinical date of an aware datetime in ``timezone`` (an IANA zone name).

    Raises ``InvalidInput`` for an unknown zone.
    """
    return value.astimezone(zone(timezone)).date()


def format_when(value: dt.datetime, timezone: str) -> str:
    """A time as staff read it: ``2026-11-27 09:05 CST`` in ``timezone`` (the program's), to
    the minute, with the zone's abbreviation for that instant (its offset, ``-03``, where the
    zone has no abbreviation).

    Every time the CLI prints, and every refusal that names a time, goes through this one
    function (docs/decisions.md, "The front desk: Times in the program's zone"); JSON keeps
    UTC instants.
    Raises ``InvalidInput`` for an unknown time zone.
    """
    local = value.astimezone(zone(timezone))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def program_week(start: dt.date, at: dt.datetime, timezone: str) -> int:
    """Week number (1-based) of ``at`` counted from the enrolment date, in the clinic's zone."""
    return week_of_day(start, local_date(at, timezone))


def week_of_day(start: dt.date, day: dt.date) -> int:
    """``program_week`` of a result whose clinical date is ``day`` (``local_date``): the
    1-based week of an enrolment starting on ``start``."""
    return (day - start).days // 7 + 1
