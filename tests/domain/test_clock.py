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
