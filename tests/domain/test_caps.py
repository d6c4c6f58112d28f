"""Annual caps (docs/design.md section 3.3) and the replay of prize draws.

"The value of everything awarded in the period (points × point_value_cents, plus the
value of prizes won) never exceeds the cap: the award that reaches it is cut to what fits
(a prize is downgraded to the largest category that fits, else "good job"), and the
result says capped." Calendar-year periods are years in the program's time zone;
enrolment-year periods turn over on the enrolment anniversary.

The property tests drive a real ``Clinic`` twice over the same random outcomes: once
under a capped program and once under an uncapped twin (same schedule, same seeds), so
the twin says what the schedule and the bowl would have paid without the cap.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cmrewards
from cmrewards import Clinic
from cmrewards.domain.caps import (
    Payout,
    adjustment_cap_change,
    cap_excess,
    cap_period,
    cap_refusal,
    capped_maximum,
    pay_within_cap,
    period_label,
)
from cmrewards.domain.ledger import Movement
from cmrewards.domain.programs import (
    BowlCategory,
    CapPeriod,
    Program,
    maximum_earnings,
    program_from_toml,
)
from support.clinics import START, FakeClock, visit

LA = ZoneInfo("America/Los_Angeles")
ADMIN = "admin-1"
CAP = 2000
"""$20 a year: small enough that a few awards reach it."""

GOOD_JOB = BowlCategory(category="good-job", slips=250, value_cents=0)
SMALL = BowlCategory(category="small", slips=209, value_cents=100)
LARGE = BowlCategory(category="large", slips=40, value_cents=2000)
JUMBO = BowlCategory(category="jumbo", slips=1, value_cents=10000)

CLASSIC_BOWL_TOML = """
[[bowl]]
category = "good-job"
slips = 250
value_cents = 0

[[bowl]]
category = "small"
slips = 209
value_cents = 100

[[bowl]]
category = "large"
slips = 40
value_cents = 2000

[[bowl]]
category = "jumbo"
slips = 1
value_cents = 10000
"""


LEGACY_CALENDAR = "calendar = false"
"""The cap tests record day after day and across years: under the legacy rules every
sample pays whatever its week, so the awards keep meeting the cap (the protocol calendar
has its own tests, tests/domain/test_calendar.py)."""


def points_program_toml(*, cap: int | None, period: str = "calendar-year") -> str:
    cap_line = "" if cap is None else f'cap_cents = {cap}\ncap_period = "{period}"\n'
    return f"""
id = "capped-points"
name = "Capped escalating points"
point_value_cents = 10
timezone = "America/Los_Angeles"
{LEGACY_CALENDAR}
{cap_line}
[[targets]]
id = "stimulant-negative"
schedule = {{ kind = "escalating", award = "points", start = 10, step = 5, bonus = 20, bonus_every = 3, recovery_after = 3 }}
"""  # noqa: E501


def draws_program_toml(*, cap: int | None, period: str = "calendar-year") -> str:
    cap_line = "" if cap is None else f'cap_cents = {cap}\ncap_period = "{period}"\n'
    return (
        f"""
id = "capped-draws"
name = "Capped prize draws plus attendance points"
point_value_cents = 10
timezone = "America/Los_Angeles"
{LEGACY_CALENDAR}
{cap_line}
[[targets]]
id = "stimulant-negative"
schedule = {{ kind = "escalating", award = "draws", start = 1, step = 1, max = 4 }}

[[targets]]
id = "attendance"
schedule = {{ kind = "fixed", award = "points", amount = 5 }}
"""
        + CLASSIC_BOWL_TOML
    )


def program(text: str) -> Program:
    return program_from_toml(text, "test program")


def la(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=LA)


def utc(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


# --- cap_period ----------------------------------------------------------------------


def test_calendar_year_is_the_year_in_the_programs_time_zone() -> None:
    capped = program(points_program_toml(cap=CAP))
    assert capped.cap_period is CapPeriod.CALENDAR_YEAR
    # 00:30 UTC on 1 January 2028 is still 16:30 on 31 December 2027 in Los Angeles.
    assert cap_period(capped, START, utc(2028, 1, 1, 0, 30)) == "2027"
    assert cap_period(capped, START, la(2027, 12, 31, 23, 59)) == "2027"
    assert cap_period(capped, START, la(2028, 1, 1, 0, 0)) == "2028"
    assert cap_period(capped, START, utc(2028, 1, 1, 8, 0)) == "2028"  # midnight in LA
    assert cap_period(capped, START, utc(2028, 1, 1, 7, 59)) == "2027"


def test_calendar_year_in_utc_program() -> None:
    in_utc = program(points_program_toml(cap=CAP).replace("America/Los_Angeles", "UTC"))
    assert cap_period(in_utc, START, utc(2028, 1, 1, 0, 30)) == "2028"
    assert cap_period(in_utc, START, utc(2027, 12, 31, 23, 59)) == "2027"


def test_enrollment_year_turns_over_on_the_anniversary() -> None:
    capped = program(points_program_toml(cap=CAP, period="enrollment-year"))
    start = dt.date(2027, 3, 15)
    assert cap_period(capped, start, la(2027, 3, 15, 9)) == "enrolment-1"
    assert cap_period(capped, start, la(2027, 12, 31, 23)) == "enrolment-1"
    assert cap_period(capped, start, la(2028, 1, 1, 1)) == "enrolment-1"
    assert cap_period(capped, start, la(2028, 3, 14, 23, 59)) == "enrolment-1"
    assert cap_period(capped, start, la(2028, 3, 15, 0, 0)) == "enrolment-2"
    assert cap_period(capped, start, la(2029, 3, 14, 12)) == "enrolment-2"
    assert cap_period(capped, start, la(2029, 3, 15, 12)) == "enrolment-3"


def test_enrollment_anniversary_is_counted_in_the_programs_time_zone() -> None:
    capped = program(points_program_toml(cap=CAP, period="enrollment-year"))
    start = dt.date(2027, 3, 15)
    # 05:00 UTC on 15 March 2028 is 22:00 on 14 March in Los Angeles: not yet the anniversary.
    assert cap_period(capped, start, utc(2028, 3, 15, 5, 0)) == "enrolment-1"
    assert cap_period(capped, start, utc(2028, 3, 15, 7, 0)) == "enrolment-2"  # 00:00 PDT


# --- pay_within_cap --------------------------------------------------------------------


def bowl_program(*, point_value: int = 25, bowl: str = CLASSIC_BOWL_TOML) -> Program:
    return program(
        f"""
id = "bowl"
name = "Bowl"
point_value_cents = {point_value}
cap_cents = {CAP}

[[targets]]
id = "stimulant-negative"
schedule = {{ kind = "fixed", award = "draws", amount = 1 }}
"""
        + bowl
    )


def test_no_cap_pays_everything() -> None:
    prog = bowl_program()
    paid = pay_within_cap(prog, None, 100, 40, [JUMBO, SMALL])
    assert paid == Payout(100, 40, (JUMBO, SMALL), 140 * 25 + 10100, capped=False)


def test_an_award_that_fits_is_paid_in_full() -> None:
    prog = bowl_program()
    assert pay_within_cap(prog, 5000, 10, 40, [SMALL]) == Payout(
        10, 40, (SMALL,), 50 * 25 + 100, capped=False
    )
    # Exactly filling the room cuts nothing (Award.capped: "the cap cut this award").
    assert pay_within_cap(prog, 500, 10, 10, []) == Payout(10, 10, (), 500, capped=False)


def test_points_are_cut_first_then_the_bonus() -> None:
    prog = bowl_program()
    # Room for 20 points ($5.00): all 10 base points, then 10 of the 40 bonus points.
    assert pay_within_cap(prog, 500, 10, 40, []) == Payout(10, 10, (), 500, capped=True)
    # Room for 8 points: base points cut, no bonus at all.
    assert pay_within_cap(prog, 200, 10, 40, []) == Payout(8, 0, (), 200, capped=True)
    # Room that is not a whole number of points: never more than the room.
    assert pay_within_cap(prog, 510, 10, 40, []) == Payout(10, 10, (), 500, capped=True)
    assert pay_within_cap(prog, 24, 10, 0, []) == Payout(0, 0, (), 0, capped=True)


def test_no_room_pays_nothing() -> None:
    prog = bowl_program()
    assert pay_within_cap(prog, 0, 10, 40, []) == Payout(0, 0, (), 0, capped=True)
    assert pay_within_cap(prog, -300, 10, 0, []) == Payout(0, 0, (), 0, capped=True)


def test_a_prize_is_downgraded_to_the_largest_category_that_fits() -> None:
    prog = bowl_program()
    assert pay_within_cap(prog, 1999, 0, 0, [LARGE]) == Payout(0, 0, (SMALL,), 100, capped=True)
    assert pay_within_cap(prog, 5000, 0, 0, [JUMBO]) == Payout(0, 0, (LARGE,), 2000, capped=True)
    assert pay_within_cap(prog, 99, 0, 0, [SMALL]) == Payout(0, 0, (GOOD_JOB,), 0, capped=True)


def test_prizes_are_cut_in_draw_order_after_points() -> None:
    prog = bowl_program()
    # 2050 cents: 2 points (50 cents), then the large prize fits exactly, the small
    # one that follows becomes a good job.
    paid = pay_within_cap(prog, 2050, 2, 0, [LARGE, SMALL])
    assert paid == Payout(2, 0, (LARGE, GOOD_JOB), 2050, capped=True)
    # The points take the room first: with 4 points the large prize no longer fits.
    paid = pay_within_cap(prog, 2050, 4, 0, [LARGE, SMALL])
    assert paid == Payout(4, 0, (SMALL, SMALL), 300, capped=True)


def test_a_prize_is_dropped_when_the_bowl_has_nothing_that_fits() -> None:
    no_good_job = "\n".join(CLASSIC_BOWL_TOML.split("\n")[5:])
    prog = bowl_program(bowl=no_good_job)
    assert [c.category for c in prog.bowl] == ["small", "large", "jumbo"]
    assert pay_within_cap(prog, 50, 0, 0, [LARGE]) == Payout(0, 0, (), 0, capped=True)


slips_strategy = st.lists(st.sampled_from([GOOD_JOB, SMALL, LARGE, JUMBO]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    remaining=st.none() | st.integers(-1000, 15000),
    points=st.integers(0, 300),
    bonus=st.integers(0, 100),
    slips=slips_strategy,
    point_value=st.sampled_from([1, 10, 25]),
)
def test_pay_within_cap_never_exceeds_the_room(
    remaining: int | None,
    points: int,
    bonus: int,
    slips: list[BowlCategory],
    point_value: int,
) -> None:
    prog = bowl_program(point_value=point_value)
    paid = pay_within_cap(prog, remaining, points, bonus, slips)
    wanted = (points + bonus) * point_value + sum(s.value_cents for s in slips)
    assert paid.value_cents == (paid.points + paid.bonus_points) * point_value + sum(
        s.value_cents for s in paid.slips
    )
    if remaining is None:
        assert paid == Payout(points, bonus, tuple(slips), wanted, capped=False)
        return
    room = max(remaining, 0)
    assert 0 <= paid.value_cents <= room
    assert paid.value_cents == min(wanted, paid.value_cents)
    # Points are cut first, to as many as fit; the bonus only gets what the points left.
    assert paid.points == min(points, room // point_value)
    assert paid.bonus_points == min(bonus, (room - paid.points * point_value) // point_value)
    # The classic bowl has a $0 category, so every slip is kept, never upgraded.
    assert len(paid.slips) == len(slips)
    assert all(p.value_cents <= s.value_cents for p, s in zip(paid.slips, slips, strict=True))
    cut = (paid.points, paid.bonus_points, paid.slips) != (points, bonus, tuple(slips))
    assert paid.capped == cut
    assert paid.capped == (wanted > room)


# --- the cap through a real Clinic -------------------------------------------------------

T0 = dt.datetime(START.year, START.month, START.day, 17, 0, tzinfo=dt.UTC)
"""09:00 in Los Angeles on the enrolment date."""

outcome_strategy = st.sampled_from(["met", "met", "met", "met", "not_met", "missed", "excused"])
GAP_HOURS = st.one_of(
    st.integers(1, 24 * 7),  # mostly a few days: enough awards in one period to reach the cap
    st.integers(1, 24 * 7),
    st.integers(1, 24 * 7),
    st.integers(24 * 7, 24 * 200),  # now and then a long gap into the next period
)
step_strategy = st.tuples(
    st.integers(0, 1),  # which target (draws program only; points program has one)
    outcome_strategy,
    GAP_HOURS,  # hours since the previous outcome
)


PROPERTY_CAPS = {"points": 1000, "draws": 2000}
"""$10 of points (a handful of consecutive negatives) or $20 of prizes and points a year."""


def expected_period(period: str, at: dt.datetime) -> str:
    """The cap period, computed here independently of ``cap_period``."""
    day = at.astimezone(LA).date()
    if period == "calendar-year":
        return str(day.year)
    years = day.year - START.year
    if (day.month, day.day) < (START.month, START.day):
        years -= 1
    return f"enrolment-{years + 1}"


def open_clinic(clock: FakeClock, text: str) -> Clinic:
    clinic = cmrewards.open(None, clock=clock, seeds=iter(range(1, 10**6)).__next__)
    clinic.init(ADMIN)
    prog = clinic.add_program(program(text), actor=ADMIN)
    clinic.enroll("P001", prog.id, start=START, actor=ADMIN)
    return clinic


@pytest.mark.parametrize("period", ["calendar-year", "enrollment-year"])
@pytest.mark.parametrize("kind", ["points", "draws"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step_strategy, min_size=3, max_size=30))
def test_a_cap_is_never_exceeded(kind: str, period: str, steps: list[tuple[int, str, int]]) -> None:
    make = points_program_toml if kind == "points" else draws_program_toml
    cap = PROPERTY_CAPS[kind]
    clock = FakeClock(T0)
    capped = open_clinic(clock, make(cap=cap, period=period))
    twin = open_clinic(clock, make(cap=None))
    targets = [t.id for t in capped.program(f"capped-{kind}").targets]
    prog = capped.program(f"capped-{kind}")

    awarded: dict[str, int] = defaultdict(int)
    at = T0
    for index, (which, outcome, gap_hours) in enumerate(steps):
        at = at if index == 0 else at + dt.timedelta(hours=gap_hours)
        clock.now = at  # the current cap period is the period of this outcome
        target = targets[which % len(targets)]
        key = expected_period(period, at)
        room = cap - awarded[key]

        # Each step is its own visit, however close in time (one result per visit).
        got = capped.record("P001", target, outcome, at=at, actor=ADMIN, visit=f"v{index}")
        free = twin.record("P001", target, outcome, at=at, actor=ADMIN, visit=f"v{index}")
        award, uncapped = got.award, free.award

        assert award.draws == uncapped.draws
        assert len(award.slips) == uncapped.draws
        assert 0 <= award.value_cents <= room
        if uncapped.value_cents <= room:
            assert award == uncapped
            assert not award.capped
        else:
            # The award that reaches the cap is cut to what fits and says so.
            assert award.capped
            values = {c.category: c.value_cents for c in prog.bowl}
            for paid_slip, drawn_slip in zip(award.slips, uncapped.slips, strict=True):
                assert values[paid_slip] <= values[drawn_slip]
            if kind == "points":
                # Points of 10 cents fill a cap of whole tens of cents exactly.
                assert award.value_cents == room
        assert award.value_cents == (award.points + award.bonus_points) * 10 + sum(
            p.value_cents for p in got.prizes
        )
        awarded[key] += award.value_cents
        assert awarded[key] <= cap

        balance = capped.balance("P001")
        assert balance.cap_remaining_cents == cap - awarded[key]
        assert got.balance.cap_remaining_cents == cap - awarded[key]

    report = capped.verify()
    assert report.ok, report.problems
    assert twin.verify().ok
    assert all(total <= cap for total in awarded.values())


def test_cap_remaining_follows_the_clock_into_the_next_period(clock: FakeClock) -> None:
    clinic = open_clinic(clock, points_program_toml(cap=CAP))
    for day in (0, 2, 4):
        clinic.record("P001", "stimulant-negative", "met", at=visit(day), actor=ADMIN)
    # 10 + 15 + (20 + 20 bonus) points at 10 cents.
    assert clinic.balance("P001").cap_remaining_cents == CAP - 650
    clock.now = la(2027, 12, 31, 23, 59)
    assert clinic.balance("P001").cap_remaining_cents == CAP - 650
    clock.now = la(2028, 1, 1, 0, 1)
    assert clinic.balance("P001").cap_remaining_cents == CAP
    assert clinic.verify().ok


def test_new_years_eve_in_los_angeles_counts_toward_the_old_year(clock: FakeClock) -> None:
    clinic = open_clinic(clock, points_program_toml(cap=CAP))
    paid = []
    for day in range(20, 27):
        clock.now = la(2027, 12, day, 9)
        result = clinic.record("P001", "stimulant-negative", "met", at=clock.now, actor=ADMIN)
        paid.append(result.award.value_cents)
    # 10, 15, 20+20, 25, 30, 35+20 points, then 40 of which only 2 fit: 200 points in all.
    assert paid == [100, 150, 400, 250, 300, 550, 250]
    assert result.award.capped
    assert result.balance.cap_remaining_cents == 0

    clock.now = utc(2028, 1, 1, 0, 30)  # 16:30 on 31 December in Los Angeles
    late = clinic.record("P001", "stimulant-negative", "met", at=clock.now, actor=ADMIN)
    assert late.award.capped
    assert (late.award.points, late.award.bonus_points, late.award.value_cents) == (0, 0, 0)
    assert clinic.balance("P001").cap_remaining_cents == 0

    clock.now = utc(2028, 1, 1, 8, 30)  # 00:30 on 1 January in Los Angeles
    new_year = clinic.record("P001", "stimulant-negative", "met", at=clock.now, actor=ADMIN)
    assert not new_year.award.capped
    # Ninth consecutive negative: 10 + 8 * 5 = 50 points plus the 20-point bonus.
    assert (new_year.award.points, new_year.award.bonus_points) == (50, 20)
    assert clinic.balance("P001").cap_remaining_cents == CAP - 700
    assert clinic.balance("P001").points == 200 + 70
    report = clinic.verify()
    assert report.ok, report.problems


def test_reversing_an_award_gives_its_value_back_to_the_cap(any_clinic: Clinic) -> None:
    prog = any_clinic.add_program(program(points_program_toml(cap=CAP)), actor=ADMIN)
    any_clinic.enroll("P001", prog.id, start=START, actor=ADMIN)
    first = any_clinic.record("P001", "stimulant-negative", "met", at=visit(0), actor=ADMIN)
    third = None
    for day in (2, 4):
        third = any_clinic.record("P001", "stimulant-negative", "met", at=visit(day), actor=ADMIN)
    assert first.award.points == 10
    assert third is not None
    assert (third.award.points, third.award.bonus_points) == (20, 20)
    before = any_clinic.balance("P001").cap_remaining_cents
    assert before == CAP - 650

    transfers = {
        entry.detail: int(entry.ref.removeprefix("transfer:"))
        for entry in any_clinic.history("P001")
        if entry.kind in ("award", "bonus")
    }
    bonus_transfer = transfers["stimulant-negative bonus"]
    result = any_clinic.reverse(bonus_transfer, reason="bonus paid in error", actor=ADMIN)
    assert result.balance.cap_remaining_cents == before + 200
    assert any_clinic.balance("P001").cap_remaining_cents == CAP - 450
    assert any_clinic.balance("P001").points == 45

    # The room given back can be awarded again, up to the cap and no further.
    for day in (7, 9, 11, 14, 16):
        any_clinic.record("P001", "stimulant-negative", "met", at=visit(day), actor=ADMIN)
    last = any_clinic.record("P001", "stimulant-negative", "met", at=visit(18), actor=ADMIN)
    assert last.award.capped
    assert any_clinic.balance("P001").cap_remaining_cents == 0
    assert any_clinic.balance("P001").points * 10 == CAP  # 200 points: the cap, exactly
    report = any_clinic.verify()
    assert report.ok, report.problems


# --- replay reproduces every draw ---------------------------------------------------------


@contextmanager
def sqlite_clinic(clock: FakeClock, first_seed: int) -> Iterator[tuple[Clinic, Path]]:
    """A clinic on a fresh SQLite file (a fresh directory per Hypothesis example)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clinic.db"
        clinic = cmrewards.open(
            path, clock=clock, seeds=iter(range(first_seed, first_seed + 10**6)).__next__
        )
        try:
            yield clinic, path
        finally:
            clinic.close()


def tamper_prize_category(path: Path, prize_id: int, category: str) -> None:
    """What a stray script could do: rewrite a prize's category behind the library's back."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TRIGGER prizes_only_status")
        updated = conn.execute(
            "UPDATE prizes SET category = ? WHERE id = ?", [category, prize_id]
        ).rowcount
        conn.commit()
    finally:
        conn.close()
    assert updated == 1


def other_category(category: str) -> str:
    return "large" if category != "large" else "small"


def petry_visit(index: int) -> dt.datetime:
    """Two samples a week, Monday and Thursday, at 09:00 UTC."""
    return visit((index // 2) * 7 + (index % 2) * 3)


PRIZE_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["met", "met", "met", "not_met", "missed", "excused"]),
        st.sampled_from(["met", "not_met", None]),  # the secondary sample, if any
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=PRIZE_STEPS, first_seed=st.integers(0, 2**40))
def test_replay_reproduces_every_draw(steps: list[tuple[str, str | None]], first_seed: int) -> None:
    clock = FakeClock()
    with sqlite_clinic(clock, first_seed) as (clinic, path):
        clinic.init(ADMIN)
        clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
        clinic.enroll("P001", "petry-fishbowl", start=START, actor=ADMIN)
        prizes: list[tuple[int, str]] = []
        for index, (stimulant, secondary) in enumerate(steps):
            at = petry_visit(index)
            results = [clinic.record("P001", "stimulant-negative", stimulant, at=at, actor=ADMIN)]
            if secondary is not None:
                results.append(
                    clinic.record("P001", "secondary-negative", secondary, at=at, actor=ADMIN)
                )
            for result in results:
                assert len(result.award.slips) == result.award.draws
                prizes += [(p.id, p.category) for p in result.prizes]
        report = clinic.verify()
        assert report.ok, report.problems
        clinic.close()

        if prizes:
            prize_id, category = prizes[-1]
            tamper_prize_category(path, prize_id, other_category(category))
            reopened = cmrewards.open(path, clock=clock)
            try:
                tampered = reopened.verify()
            finally:
                reopened.close()
            assert not tampered.ok
            assert any(f"prize {prize_id}" in problem.message for problem in tampered.problems), (
                tampered.problems
            )


def test_a_rewritten_prize_category_is_found(tmp_path: Path, clock: FakeClock) -> None:
    """The deterministic companion of the property: seeds 1, 2, 3, … always win a prize."""
    path = tmp_path / "clinic.db"
    with cmrewards.open(path, clock=clock, seeds=iter(range(1, 100)).__next__) as clinic:
        clinic.init(ADMIN)
        clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
        clinic.enroll("P001", "petry-fishbowl", start=START, actor=ADMIN)
        prizes = []
        for index in range(8):
            result = clinic.record(
                "P001", "stimulant-negative", "met", at=petry_visit(index), actor=ADMIN
            )
            prizes += list(result.prizes)
        assert prizes, "eight visits of 1-4 draws each win at least one prize with these seeds"
        assert clinic.verify().ok
    tamper_prize_category(path, prizes[0].id, other_category(prizes[0].category))
    with cmrewards.open(path, clock=clock) as clinic:
        report = clinic.verify()
    assert not report.ok
    assert any(f"prize {prizes[0].id}" in problem.message for problem in report.problems)


def test_a_rewritten_prize_category_is_found_under_a_cap(tmp_path: Path, clock: FakeClock) -> None:
    """Under a cap a prize may legitimately be a cheaper category than its slip, but a
    prize whose category was rewritten to a dearer one (its value left alone) is a
    $20 prize owed for a $1 slip: ``verify`` must still find it."""
    path = tmp_path / "clinic.db"
    with cmrewards.open(path, clock=clock, seeds=iter(range(1, 100)).__next__) as clinic:
        clinic.init(ADMIN)
        clinic.add_program(program(draws_program_toml(cap=50_000)), actor=ADMIN)
        clinic.enroll("P001", "capped-draws", start=START, actor=ADMIN)
        prizes = []
        for index in range(8):
            result = clinic.record(
                "P001", "stimulant-negative", "met", at=petry_visit(index), actor=ADMIN
            )
            prizes += list(result.prizes)
        small = [p for p in prizes if p.category == "small"]
        assert small
        assert clinic.verify().ok
    tamper_prize_category(path, small[0].id, "large")
    with cmrewards.open(path, clock=clock) as clinic:
        report = clinic.verify()
    assert not report.ok, "a small prize rewritten to 'large' went unnoticed"
    assert any(f"prize {small[0].id}" in problem.message for problem in report.problems)


# --- hard limits: adjustments and the maximum with the cap (issue 12) ---------------------


def test_an_adjustment_s_cap_change_never_leaves_usage_below_zero() -> None:
    up, down, reversal = Movement.ADJUSTMENT_UP, Movement.ADJUSTMENT_DOWN, Movement.REVERSAL
    assert adjustment_cap_change(up, 4000, 0) == 4000
    # Down: only the room adjustments hold comes back.
    assert adjustment_cap_change(down, 2000, 500) == -500
    assert adjustment_cap_change(down, 2000, 0) == 0
    assert adjustment_cap_change(down, 200, 500) == -200
    # The reversal of an upward one gives back what is left of it; of a downward one,
    # takes back exactly the room it gave.
    assert adjustment_cap_change(reversal, 0, 300, 4000) == -300
    assert adjustment_cap_change(reversal, 0, 9000, 4000) == -4000
    assert adjustment_cap_change(reversal, 0, 0, -500) == 500


def test_the_refusal_says_what_room_is_left() -> None:
    program = program_from_toml(
        """
id = "p"
name = "p"
point_value_cents = 100
cap_cents = 5000
[[targets]]
id = "t"
schedule = { kind = "fixed", award = "points", amount = 10 }
""",
        "test",
    )
    assert (cap_excess(program, 4000, 1000), cap_excess(program, 4000, 4000)) == (0, 3000)
    assert cap_excess(program, 6000, 100) == 100  # already past it (a grant): no room
    refusal = cap_refusal(program, "P-1001", "2026", 4000, 4000, "+40 points")
    assert str(refusal) == (
        "P-1001 has $10.00 left under the $50.00 cap for 2026; +40 points is $40.00"
    )
    assert (period_label("2026"), period_label("enrolment-2")) == ("2026", "enrolment year 2")


@pytest.mark.parametrize(
    ("period", "weeks", "periods"),
    [
        ("calendar-year", 1, 2),  # a week can cross New Year's Eve
        ("calendar-year", 52, 2),
        ("calendar-year", 60, 3),
        ("enrollment-year", 52, 1),
        ("enrollment-year", 53, 2),
    ],
)
def test_the_maximum_with_the_cap_counts_the_periods_an_enrolment_can_span(
    period: str, weeks: int, periods: int
) -> None:
    program = attrs.evolve(
        cmrewards.load_preset("higgins-vbrt"),
        cap_cents=59900,
        cap_period=CapPeriod(period),
        weeks=weeks,
    )
    most = capped_maximum(program, maximum_earnings(program))
    assert most.periods == periods
    assert most.cents == min(most.schedule_cents, 59900)
    assert most.capped is (most.schedule_cents > 59900)


def test_without_a_cap_the_maximum_is_the_schedule_s() -> None:
    program = cmrewards.load_preset("higgins-vbrt")
    most = capped_maximum(program, maximum_earnings(program))
    assert (most.cents, most.schedule_cents, most.cap_cents, most.capped) == (
        99750,
        99750,
        None,
        False,
    )
