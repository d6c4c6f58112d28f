"""The ``ca-recovery-incentives`` preset reproduces California's published figures, on
every store: 24 negatives in weeks 1-12 pay $438.00; 36 negatives over 24 weeks reach
$599.00 and never more; a positive resets to $10.00 and two negatives restore the amount
before it (the preset's description gives the sources, and what is not confirmed).
"""

from __future__ import annotations

import datetime as dt

import pytest

import cmrewards
from cmrewards import Clinic
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
PRESET = "ca-recovery-incentives"
STIM = "stimulant-negative"
WEEKLY_AMOUNTS = [1000 + 150 * (week - 1) for week in range(1, 13)]
"""Cents a negative pays in weeks 1-12 of an unbroken run: $10.00 rising $1.50 to $26.50."""


@pytest.fixture
def rip(any_clinic: Clinic, clock: FakeClock) -> Clinic:
    clock.now = dt.datetime(2027, 9, 1, 12, tzinfo=dt.UTC)  # after the 24 weeks
    any_clinic.add_program(cmrewards.load_preset(PRESET), actor=ADMIN)
    any_clinic.enroll("P001", PRESET, start=START, actor=ADMIN)
    return any_clinic


def twice_weekly(week: int) -> list[int]:
    """Monday and Thursday of program week ``week`` (START is a Monday)."""
    return [7 * (week - 1), 7 * (week - 1) + 3]


def cents(clinic: Clinic, day: int, outcome: str = "met") -> int:
    return clinic.record("P001", STIM, outcome, actor=ADMIN, at=visit(day)).award.value_cents


def test_the_weekly_amounts_are_the_published_ones() -> None:
    assert WEEKLY_AMOUNTS[0] == 1000
    assert WEEKLY_AMOUNTS[1:3] == [1150, 1300]  # "$11.50 per test in week two, $13 in week three"
    assert WEEKLY_AMOUNTS[-1] == 2650  # "up to $26.50 per test"


def test_24_negatives_in_weeks_1_to_12_pay_438_dollars(rip: Clinic) -> None:
    paid = [cents(rip, day) for week in range(1, 13) for day in twice_weekly(week)]
    assert paid == [amount for amount in WEEKLY_AMOUNTS for _ in range(2)]
    assert sum(paid) == rip.balance("P001").value_cents == 43_800
    assert rip.verify().ok


def test_36_negatives_reach_599_dollars_and_never_more(rip: Clinic) -> None:
    for week in range(1, 13):
        for day in twice_weekly(week):
            cents(rip, day)
    later = [cents(rip, 7 * (week - 1) + 1) for week in range(13, 25)]
    # $13.50 a week: the twelfth would bring the total to $600.00; the cap cuts it to $12.50.
    assert later == [1350] * 11 + [1250]
    balance = rip.balance("P001")
    assert (balance.value_cents, balance.cap_remaining_cents) == (59_900, 0)
    # Nothing more: another negative in week 24 is an extra, one in week 25 is after the
    # last paid week, and both say so.
    extra = rip.record("P001", STIM, "met", actor=ADMIN, at=visit(7 * 23 + 4))
    after = rip.record("P001", STIM, "met", actor=ADMIN, at=visit(7 * 24 + 1))
    assert (extra.award.value_cents, after.award.value_cents) == (0, 0)
    assert extra.award.note == "extra sample: week 24 owes 1 sample"
    assert after.award.note == "week 25 is after the program's last paid week (24)"
    assert rip.balance("P001").value_cents == 59_900
    report = rip.verify()
    assert (report.ok, report.problems) == (True, ())


def test_the_maximum_is_600_dollars_held_to_599_by_the_cap() -> None:
    maximum = cmrewards.maximum_earnings(cmrewards.load_preset(PRESET))
    assert (maximum.value_cents, maximum.capped_cents) == (60_000, 59_900)


def test_a_positive_resets_to_10_dollars_and_two_negatives_restore_the_level(rip: Clinic) -> None:
    for week in range(1, 5):
        for day in twice_weekly(week):
            cents(rip, day)
    monday, thursday = twice_weekly(5)
    assert cents(rip, monday) == 1600  # week 5's amount
    assert cents(rip, thursday, "not_met") == 0
    monday, thursday = twice_weekly(6)
    assert cents(rip, monday) == 1000  # back to $10.00
    restored = rip.record("P001", STIM, "met", actor=ADMIN, at=visit(thursday))
    assert (restored.award.value_cents, restored.award.recovered) == (1600, True)
    assert [cents(rip, day) for day in twice_weekly(7)] == [1750, 1750]  # and on from there
    assert rip.verify().ok


def test_a_missed_week_resets_the_weekly_run_even_unclosed(rip: Clinic) -> None:
    for week in (1, 2):
        for day in twice_weekly(week):
            cents(rip, day)
    # Week 3 has no sample: its empty week breaks the run as a missed sample would.
    result = rip.record("P001", STIM, "met", actor=ADMIN, at=visit(twice_weekly(4)[0]))
    assert result.award.value_cents == 1000
    assert result.award.note == "week 3 had no met or excused result: the run started again"
    assert rip.verify().ok


def test_phase_two_starts_from_its_own_amount_and_shows_it(rip: Clinic, clock: FakeClock) -> None:
    clock.now = visit(7 * 12 + 2, 12)  # week 13
    (before,) = rip.preview("P001")
    assert (before.next_amount, before.next_value_cents) == (1350, 1350)
    assert cents(rip, 7 * 12 + 1) == 1350
