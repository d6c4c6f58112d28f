"""``format_when``: every time a person reads, in the program's zone with its name."""

from __future__ import annotations

import datetime as dt

import pytest

from cmrewards.domain.clock import format_when, parse_when

VISIT = dt.datetime(2026, 11, 27, 15, 5, tzinfo=dt.UTC)
"""09:05 at a Chicago clinic, the day after Thanksgiving (CST, UTC-6)."""


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        ("America/Chicago", "2026-11-27 09:05 CST"),
        ("UTC", "2026-11-27 15:05 UTC"),
        ("Europe/Berlin", "2026-11-27 16:05 CET"),
        ("America/Sao_Paulo", "2026-11-27 12:05 -03"),  # a zone without an abbreviation
        ("Asia/Kolkata", "2026-11-27 20:35 IST"),
    ],
)
def test_a_time_in_the_programs_zone_with_its_name(timezone: str, expected: str) -> None:
    assert expected == format_when(VISIT, timezone)


def test_summer_time_has_its_own_name() -> None:
    july = dt.datetime(2026, 7, 1, 14, 5, tzinfo=dt.UTC)
    assert format_when(july, "America/Chicago") == "2026-07-01 09:05 CDT"


def test_what_staff_type_is_what_they_read() -> None:
    typed = parse_when("2026-11-27T09:05", "America/Chicago")
    assert typed == VISIT
    assert format_when(typed, "America/Chicago") == "2026-11-27 09:05 CST"


def test_a_bare_date_is_noon_in_the_zone_as_an_excused_absence_is() -> None:
    """Newcomer finding 10: ``--at DATE`` meant 00:00 while ``excuse`` used noon."""
    from cmrewards.domain.clock import clinical_noon

    day = dt.date(2026, 3, 8)  # the day Chicago springs forward: midnight is still there
    parsed = parse_when("2026-03-08", "America/Chicago")
    assert parsed == clinical_noon(day, "America/Chicago")
    assert parsed.astimezone(dt.UTC) == dt.datetime(2026, 3, 8, 17, tzinfo=dt.UTC)  # CDT


def test_today_s_bare_date_typed_in_the_morning_is_now_and_a_later_day_stays_noon() -> None:
    morning = dt.datetime(2026, 3, 9, 14, 0, tzinfo=dt.UTC)  # 09:00 in Chicago
    assert parse_when("2026-03-09", "America/Chicago", now=morning) == morning
    evening = dt.datetime(2026, 3, 9, 23, 0, tzinfo=dt.UTC)
    noon = dt.datetime(2026, 3, 9, 17, tzinfo=dt.UTC)
    assert parse_when("2026-03-09", "America/Chicago", now=evening) == noon
    later = parse_when("2026-03-12", "America/Chicago", now=morning)
    assert later == dt.datetime(2026, 3, 12, 17, tzinfo=dt.UTC)  # ahead: refused by its caller
