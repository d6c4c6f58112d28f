"""Program reports, statements and the audit export against hand-computed cases.

docs/design.md sections 3-5 and 7. Every number below is worked out by hand in the comments
from the program rules, then compared with what ``Clinic.report``, ``Clinic.statement``
and ``Clinic.export`` say, on the in-memory store and on SQLite.

One clinic (``build_clinic``) runs three programs side by side:

- ``higgins-vbrt`` (25 cents a point): H1 ten negatives, a positive, five negatives (the
  fifth recovers the pre-reset position); H2 with an excused and a missed sample, an
  award reversed, then withdrawn; H3 two negatives, an adjustment, completed; H4 nothing.
  H1 redeems a gift card (fulfilled) and requests a second (held).
- ``stim-la`` (a TOML file: $1 a point, America/Los_Angeles, $50 calendar-year cap,
  $200 budget): L1 reaches the cap, L2 has one positive.
- ``petry-fishbowl`` with injected seeds 1, 2, 3, ...: Q1 wins one large and two small
  prizes; the large one is handed over from the cabinet.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import sqlite3
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import cmrewards
from cmrewards import Clinic, InvalidInput, NotFound
from cmrewards.domain.programs import program_from_toml
from cmrewards.views.program_report import ProgramReport, TargetSummary
from cmrewards.views.statement import Statement
from support.clinics import START, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"
SECONDARY = "secondary-negative"
ATTEND = "attendance"
LA = ZoneInfo("America/Los_Angeles")
GENESIS = "0" * 64

MWF = [week * 7 + day for week in range(6) for day in (0, 2, 4)]
"""Higgins visit days after START: Monday, Wednesday and Friday of six weeks."""

LOW_STOCK = ("CAB-LARGE", "GC-10")
"""The catalog is clinic-wide, so every program's report lists the same low items:
GC-10 (stock 3, threshold 1) after H1's two requests has 3 - 1 - 1 = 1 <= 1;
CAB-LARGE (stock 2, threshold 1) after the large prize has 2 - 1 = 1 <= 1;
CAB-SMALL (stock 5, threshold 1) is untouched at 5."""

LA_PROGRAM = """\
id = "stim-la"
name = "Stimulant CM in Los Angeles"
point_value_cents = 100
timezone = "America/Los_Angeles"
cap_cents = 5000
cap_period = "calendar-year"
budget_cents = 20000
require_approval = false

[[targets]]
id = "stimulant-negative"
per_week = 2
schedule = { kind = "escalating", award = "points", start = 10, step = 5, max = 20 }

[[targets]]
id = "attendance"
per_week = 2
schedule = { kind = "fixed", award = "points", amount = 2 }
"""

TABLES = (
    "staff",
    "staff_secrets",
    "sign_ins",
    "programs",
    "participants",
    "past_episodes",
    "outcomes",
    "schedule_states",
    "transfers",
    "balances",
    "prizes",
    "prize_fulfilments",
    "prize_trades",
    "cap_usage",
    "catalog",
    "stock_movements",
    "redemptions",
    "analyte_results",
    "analyte_revisions",
    "idempotency_keys",
    "corrections",
    "write_offs",
    "prize_withdrawals",
)
"""Every table the export writes; ``idempotency_keys`` is the ``idempotency`` table;
``staff_secrets`` is written without its hashes."""


def la(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A clinical time in January/February 2027 in Los Angeles (PST, UTC-8)."""
    month, day_of_month = (1, day) if day <= 31 else (2, day - 31)
    return dt.datetime(2027, month, day_of_month, hour, minute, tzinfo=LA)


LATE_JAN_31 = la(31, 23, 30)
"""2027-01-31T23:30-08:00: January 31 at the clinic, February 1 in UTC."""


# --- building the clinic ---------------------------------------------------------------


def rec(
    clinic: Clinic,
    participant: str,
    target: str,
    outcome: str,
    at: dt.datetime,
    key: str | None = None,
) -> None:
    clinic.record(participant, target, outcome, at=at, actor=ADMIN, key=key)


def last_transfer_id(clinic: Clinic, participant: str) -> int:
    """The id of the participant's latest transfer, from their history."""
    refs = [e.ref for e in clinic.history(participant) if e.ref.startswith("transfer:")]
    return max(int(ref.removeprefix("transfer:")) for ref in refs)


def build_higgins(clinic: Clinic) -> None:
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
    for participant in ("H1", "H2", "H3", "H4"):
        clinic.enroll(participant, "higgins-vbrt", start=START, actor=ADMIN)
    # H1: ten negatives, a positive, five negatives.
    for index, outcome in enumerate(["met"] * 10 + ["not_met"] + ["met"] * 5):
        rec(clinic, "H1", STIM, outcome, visit(MWF[index]))
    # H2: met, met, excused, met, missed, met; the last award (10 points) is reversed.
    for index, outcome in enumerate(["met", "met", "excused", "met", "missed", "met"]):
        rec(clinic, "H2", STIM, outcome, visit(MWF[index]))
    clinic.reverse(last_transfer_id(clinic, "H2"), reason="recorded twice", actor=ADMIN)
    clinic.withdraw("H2", actor=ADMIN)
    # H3: two negatives, a 20-point credit by hand, then the phase is complete.
    rec(clinic, "H3", STIM, "met", visit(MWF[0]), key="LAB-H3-1")
    rec(clinic, "H3", STIM, "met", visit(MWF[0]), key="LAB-H3-1")  # a replay: nothing new
    rec(clinic, "H3", STIM, "met", visit(MWF[1]))
    clinic.adjust("H3", 20, reason="lab delay", actor=ADMIN)
    clinic.complete("H3", actor=ADMIN)
    # H1 buys a gift card (fulfilled) and asks for a second (held).
    clinic.add_item(
        "GC-10", name="$10 grocery gift card", cost=100, stock=3, low_stock=1, actor=ADMIN
    )
    first = clinic.request_redemption("H1", "GC-10", actor=ADMIN).redemption.id
    clinic.approve_redemption(first, actor=ADMIN)
    clinic.fulfil_redemption(first, actor=ADMIN, note="card ending 4417", cost_cents=1000)
    clinic.request_redemption("H1", "GC-10", actor=ADMIN)


def build_la(clinic: Clinic) -> None:
    clinic.add_program(program_from_toml(LA_PROGRAM, "stim-la.toml"), actor=ADMIN)
    for participant in ("L1", "L2"):
        clinic.enroll(participant, "stim-la", start=START, actor=ADMIN)
    rec(clinic, "L1", STIM, "met", la(29, 10))  # 10 points, $10 of the $50 cap
    rec(clinic, "L1", ATTEND, "met", la(29, 10))  # 2 points, $12 used
    rec(clinic, "L2", STIM, "not_met", la(30, 9))
    rec(clinic, "L1", STIM, "met", LATE_JAN_31)  # 15 points, $27 used
    rec(clinic, "L1", ATTEND, "missed", LATE_JAN_31)  # nothing
    rec(clinic, "L1", STIM, "met", la(32, 10))  # Feb 1: 20 points, $47 used
    rec(clinic, "L2", STIM, "met", la(33, 9))  # Feb 2: 10 points (L2's own cap)
    rec(clinic, "L1", STIM, "met", la(34, 10))  # Feb 3: 20 wanted, $3 fit: 3 points, capped
    rec(clinic, "L1", ATTEND, "met", la(34, 10))  # 2 wanted, $0 fit: nothing, capped


def build_petry(clinic: Clinic) -> None:
    """Seeds are handed out 1, 2, 3, ... to the outcomes that earn draws, in order.

    The bowl is 250 good-job (tickets 0-249), 209 small $1 (250-458), 40 large $20
    (459-498), 1 jumbo $100 (499); ``random.Random(seed).randrange(500)`` draws a ticket.
    """
    clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    clinic.enroll("Q1", "petry-fishbowl", start=START, actor=ADMIN)
    rec(clinic, "Q1", STIM, "met", visit(0))  # week 1: 1 draw, seed 1: ticket 68 good-job
    rec(clinic, "Q1", SECONDARY, "met", visit(0))  # 2 draws, seed 2: 489 large, 441 small
    rec(clinic, "Q1", STIM, "met", visit(3))  # still week 1: 1 draw, seed 3: 121 good-job
    rec(clinic, "Q1", STIM, "met", visit(7))  # week 2: 2 draws, seed 4: 120, 155 good-job
    rec(clinic, "Q1", STIM, "not_met", visit(10))  # reset, no draw, no seed
    rec(clinic, "Q1", STIM, "met", visit(14))  # back to 1 draw, seed 5: 318 small
    for category, stock in (("large", 2), ("small", 5)):
        clinic.add_item(
            f"CAB-{category.upper()}",
            name=f"{category} prize",
            cost=0,
            stock=stock,
            category=category,
            low_stock=1,
            actor=ADMIN,
        )
    (large,) = [p for p in clinic.prizes("Q1") if p.category == "large"]
    clinic.fulfil_prize(large.id, sku="CAB-LARGE", actor=ADMIN, note="headphones")


def build_clinic(clinic: Clinic) -> None:
    build_higgins(clinic)
    build_la(clinic)
    build_petry(clinic)


@pytest.fixture
def clinic(any_clinic: Clinic) -> Clinic:
    build_clinic(any_clinic)
    return any_clinic


def one_report(clinic: Clinic, program: str, **period: dt.date) -> ProgramReport:
    (report,) = clinic.report(program, **period)
    return report


# --- the hand computation's own premises ------------------------------------------------


def test_the_seeded_tickets_are_as_the_comments_say() -> None:
    def tickets(seed: int, count: int) -> list[int]:
        rng = random.Random(seed)
        return [rng.randrange(500) for _ in range(count)]

    assert [tickets(1, 1), tickets(2, 2), tickets(3, 1), tickets(4, 2), tickets(5, 1)] == [
        [68],
        [489, 441],
        [121],
        [120, 155],
        [318],
    ]


def test_late_january_31_is_february_1_in_utc() -> None:
    assert LATE_JAN_31.utcoffset() == dt.timedelta(hours=-8)
    assert LATE_JAN_31.date() == dt.date(2027, 1, 31)
    assert LATE_JAN_31.astimezone(dt.UTC).date() == dt.date(2027, 2, 1)


# --- program reports ---------------------------------------------------------------------


def test_higgins_report(clinic: Clinic) -> None:
    # H1 (16 results): positions 1-10 pay 10, 15, ..., 55 = (10 + 55) * 10 / 2 = 325, plus
    #   the 40-point bonus at runs 3, 6, 9 = 120: 445. The positive saves position 10.
    #   Then 10, 15, 20+40, 25 and the fifth recovers position 10: 55. 165. H1: 610.
    # H2 (6 results): 10, 15, excused 0, 20+40 (run 3), missed 0, 10 (reversed): 85.
    # H3 (2 results): 10, 15 = 25 (the +20 adjustment is not an award).
    # Awarded: 610 + 85 + 25 = 720 points = 720 * 25 = 18000 cents.
    # Balances: H1 610 - 100 spent - 100 held = 410 available, 100 held; H2 85; H3 25 + 20.
    #   Outstanding = 410 + 100 + 85 + 45 = 640 points = 16000 cents;
    #   check: 720 awarded + 20 adjusted = 740 = 100 redeemed + 640 outstanding.
    # Opportunities: 16 + 6 + 2 = 24; met: 15 + 4 + 2 = 21; 1000 * 21 / 24 = 875.
    # Longest runs: H1 10; H2 met, met, (excused), met = 3, then missed; H3 2; H4 0.
    #   Mean (10 + 3 + 2 + 0) / 4 = 3.75 -> 37.5 tenths -> 38; median (2 + 3) / 2 = 2.5 -> 25.
    assert one_report(clinic, "higgins-vbrt") == ProgramReport(
        program_id="higgins-vbrt",
        name="Higgins voucher-based reinforcement therapy",
        since=None,
        until=None,
        enrolled=4,
        episodes=4,
        active=2,  # H1, H4
        completed=1,  # H3
        withdrawn=1,  # H2
        targets=(TargetSummary(STIM, opportunities=24, met=21, met_per_mille=875),),
        longest_abstinence={"H1": 10, "H2": 3, "H3": 2, "H4": 0},
        lda_mean_tenths=38,
        lda_median_tenths=25,
        points_awarded=720,
        points_held=100,
        points_redeemed=100,
        points_outstanding=640,
        awarded_cents=18000,
        outstanding_cents=16000,
        prizes_won={},
        prizes_handed_over={},
        cost_per_participant_cents=4500,  # 18000 / 4 enrolled
        budget_cents=None,
        budget_committed_cents=18000,
        budget_remaining_cents=None,
        cap_hits=0,  # no cap
        low_stock=LOW_STOCK,
        adjusted_points=20,  # the money adds up: 720 + 20 = 100 redeemed + 640 outstanding
        adjusted_cents=500,
    )


def test_capped_program_with_a_budget(clinic: Clinic) -> None:
    # L1: stimulant 10 + 15 + 20 + 3 (cut by the cap), attendance 2 + 0 (missed) + 0 (cut):
    #   50 points = $50.00, the whole cap. L2: not_met, then 10. Awarded 60 points = 6000.
    # Stimulant: L1 4 of 4, L2 1 of 2: 5 of 6 -> 833 (833.3). Attendance: 2 of 3 -> 667.
    # Longest runs: L1 4, L2 1: mean 2.5 and median 2.5 -> 25 tenths.
    # Budget $200.00 - $60.00 = $140.00. One participant-period (L1, 2027) reached $50.
    assert one_report(clinic, "stim-la") == ProgramReport(
        program_id="stim-la",
        name="Stimulant CM in Los Angeles",
        since=None,
        until=None,
        enrolled=2,
        episodes=2,
        active=2,
        completed=0,
        withdrawn=0,
        targets=(
            TargetSummary(STIM, opportunities=6, met=5, met_per_mille=833),
            TargetSummary(ATTEND, opportunities=3, met=2, met_per_mille=667),
        ),
        longest_abstinence={"L1": 4, "L2": 1},
        lda_mean_tenths=25,
        lda_median_tenths=25,
        points_awarded=60,
        points_held=0,
        points_redeemed=0,
        points_outstanding=60,
        awarded_cents=6000,
        outstanding_cents=6000,
        prizes_won={},
        prizes_handed_over={},
        cost_per_participant_cents=3000,  # 6000 / 2
        budget_cents=20000,
        budget_committed_cents=6000,
        budget_remaining_cents=14000,
        cap_hits=1,
        low_stock=LOW_STOCK,
    )


def test_prize_program_report(clinic: Clinic) -> None:
    # Q1 won large ($20) and small ($1) on the secondary target and small ($1) later:
    #   2000 + 100 + 100 = 2200 cents committed; the large was handed over, so the two
    #   smalls (200 cents) are still owed. No points at all.
    # Stimulant: met, met, met, not_met, met: 4 of 5 -> 800, longest run 3.
    # Secondary: 1 of 1 -> 1000.
    assert one_report(clinic, "petry-fishbowl") == ProgramReport(
        program_id="petry-fishbowl",
        name="Petry prize-based CM (fishbowl)",
        since=None,
        until=None,
        enrolled=1,
        episodes=1,
        active=1,
        completed=0,
        withdrawn=0,
        targets=(
            TargetSummary(STIM, opportunities=5, met=4, met_per_mille=800),
            TargetSummary(SECONDARY, opportunities=1, met=1, met_per_mille=1000),
        ),
        longest_abstinence={"Q1": 3},
        lda_mean_tenths=30,
        lda_median_tenths=30,
        points_awarded=0,
        points_held=0,
        points_redeemed=0,
        points_outstanding=0,
        awarded_cents=2200,
        outstanding_cents=200,
        prizes_won={"large": 1, "small": 2},
        prizes_handed_over={"large": 1},
        cost_per_participant_cents=2200,
        budget_cents=None,
        budget_committed_cents=2200,
        budget_remaining_cents=None,
        cap_hits=0,
        low_stock=LOW_STOCK,
    )


def test_every_program_is_reported_in_id_order(clinic: Clinic) -> None:
    reports = clinic.report()
    assert [r.program_id for r in reports] == ["higgins-vbrt", "petry-fishbowl", "stim-la"]
    assert reports == [
        one_report(clinic, "higgins-vbrt"),
        one_report(clinic, "petry-fishbowl"),
        one_report(clinic, "stim-la"),
    ]


def test_program_without_participants(any_clinic: Clinic) -> None:
    any_clinic.add_program(cmrewards.load_preset("va-prize-cm"), actor=ADMIN)
    assert one_report(any_clinic, "va-prize-cm") == ProgramReport(
        program_id="va-prize-cm",
        name="VA prize-based contingency management",
        since=None,
        until=None,
        enrolled=0,
        episodes=0,
        active=0,
        completed=0,
        withdrawn=0,
        targets=(TargetSummary(STIM, opportunities=0, met=0, met_per_mille=0),),
        longest_abstinence={},
        lda_mean_tenths=0,
        lda_median_tenths=0,
        points_awarded=0,
        points_held=0,
        points_redeemed=0,
        points_outstanding=0,
        awarded_cents=0,
        outstanding_cents=0,
        prizes_won={},
        prizes_handed_over={},
        cost_per_participant_cents=0,
        budget_cents=None,
        budget_committed_cents=0,
        budget_remaining_cents=None,
        cap_hits=0,
        low_stock=(),
    )


def test_period_until_january_31_in_los_angeles(clinic: Clinic) -> None:
    # Clinical dates up to Jan 31 in Los Angeles: the 23:30 results belong to Jan 31.
    # Stimulant: L1 Jan 29 met, Jan 31 met; L2 Jan 30 not_met: 2 of 3 -> 667.
    # Attendance: L1 Jan 29 met, Jan 31 missed: 1 of 2 -> 500.
    # Longest runs L1 2, L2 0: mean 1.0, median 1.0 -> 10 tenths.
    # Awarded in the period: 10 + 2 + 15 = 27 points = 2700 cents; 2700 // 2 = 1350.
    # Balances, owed prizes and cap usage are as they stand now (60 points outstanding).
    until = dt.date(2027, 1, 31)
    report = one_report(clinic, "stim-la", until=until)
    assert report == ProgramReport(
        program_id="stim-la",
        name="Stimulant CM in Los Angeles",
        since=None,
        until=until,
        enrolled=2,
        episodes=2,
        active=2,
        completed=0,
        withdrawn=0,
        targets=(
            TargetSummary(STIM, opportunities=3, met=2, met_per_mille=667),
            TargetSummary(ATTEND, opportunities=2, met=1, met_per_mille=500),
        ),
        longest_abstinence={"L1": 2, "L2": 0},
        lda_mean_tenths=10,
        lda_median_tenths=10,
        points_awarded=27,
        points_held=0,
        points_redeemed=0,
        points_outstanding=60,
        awarded_cents=2700,
        outstanding_cents=6000,
        prizes_won={},
        prizes_handed_over={},
        cost_per_participant_cents=1350,
        budget_cents=20000,
        budget_committed_cents=2700,
        budget_remaining_cents=20000 - 2700,
        cap_hits=1,
        low_stock=LOW_STOCK,
    )


def test_period_since_february_1_in_los_angeles(clinic: Clinic) -> None:
    # From Feb 1 (clinic time): the 23:30 Jan 31 results are out though they are Feb 1 UTC.
    # Stimulant: L1 Feb 1 met, Feb 3 met; L2 Feb 2 met: 3 of 3. Attendance: Feb 3 met, 1 of 1
    # (met counts as met even when the cap left nothing to pay).
    # Longest runs L1 2, L2 1: mean 1.5, median 1.5 -> 15.
    # Awarded: 20 + 3 (L1) + 10 (L2) = 33 points = 3300 cents; 3300 // 2 = 1650.
    since = dt.date(2027, 2, 1)
    report = one_report(clinic, "stim-la", since=since)
    assert report == ProgramReport(
        program_id="stim-la",
        name="Stimulant CM in Los Angeles",
        since=since,
        until=None,
        enrolled=2,
        episodes=2,
        active=2,
        completed=0,
        withdrawn=0,
        targets=(
            TargetSummary(STIM, opportunities=3, met=3, met_per_mille=1000),
            TargetSummary(ATTEND, opportunities=1, met=1, met_per_mille=1000),
        ),
        longest_abstinence={"L1": 2, "L2": 1},
        lda_mean_tenths=15,
        lda_median_tenths=15,
        points_awarded=33,
        points_held=0,
        points_redeemed=0,
        points_outstanding=60,
        awarded_cents=3300,
        outstanding_cents=6000,
        prizes_won={},
        prizes_handed_over={},
        cost_per_participant_cents=1650,
        budget_cents=20000,
        budget_committed_cents=2700 + 3300,
        budget_remaining_cents=20000 - (2700 + 3300),  # a budget spans the whole program
        cap_hits=1,
        low_stock=LOW_STOCK,
    )


@pytest.mark.parametrize(
    ("day", "stim", "attend", "l1_run", "points"),
    [
        # Jan 31: L1's 23:30 stimulant met (15 points) and attendance missed.
        (dt.date(2027, 1, 31), (1, 1, 1000), (1, 0, 0), 1, 15),
        # Feb 1: only L1's 10:00 stimulant met (20 points); nothing of the 23:30 visit.
        (dt.date(2027, 2, 1), (1, 1, 1000), (0, 0, 0), 1, 20),
        # Feb 2: only L2's met (10 points).
        (dt.date(2027, 2, 2), (1, 1, 1000), (0, 0, 0), 0, 10),
    ],
)
def test_one_day_by_the_clinic_calendar(
    clinic: Clinic,
    day: dt.date,
    stim: tuple[int, int, int],
    attend: tuple[int, int, int],
    l1_run: int,
    points: int,
) -> None:
    report = one_report(clinic, "stim-la", since=day, until=day)
    assert (report.since, report.until) == (day, day)
    assert report.targets == (TargetSummary(STIM, *stim), TargetSummary(ATTEND, *attend))
    l2_run = 1 if day == dt.date(2027, 2, 2) else 0
    assert report.longest_abstinence == {"L1": l1_run, "L2": l2_run}
    assert report.points_awarded == points
    assert report.awarded_cents == points * 100
    assert report.cost_per_participant_cents == points * 100 // 2


def test_period_filters_prizes_by_the_day_they_were_won(clinic: Clinic) -> None:
    # Q1's prizes: large and small on Jan 4 (day 0), small on Jan 18 (day 14).
    first_week = one_report(clinic, "petry-fishbowl", until=START + dt.timedelta(days=6))
    assert (first_week.prizes_won, first_week.prizes_handed_over) == (
        {"large": 1, "small": 1},
        {"large": 1},
    )
    assert first_week.awarded_cents == 2100
    later = one_report(clinic, "petry-fishbowl", since=START + dt.timedelta(days=7))
    assert (later.prizes_won, later.prizes_handed_over, later.awarded_cents) == (
        {"small": 1},
        {},
        100,
    )
    # Days 7, 10, 14: met, not_met, met -> 2 of 3, longest run 1.
    assert later.targets[0] == TargetSummary(STIM, opportunities=3, met=2, met_per_mille=667)
    assert later.longest_abstinence == {"Q1": 1}


def test_since_after_until_is_refused(clinic: Clinic) -> None:
    with pytest.raises(InvalidInput, match="since 2027-02-02 is after until 2027-02-01"):
        clinic.report(since=dt.date(2027, 2, 2), until=dt.date(2027, 2, 1))


def test_same_day_since_and_until_is_allowed(clinic: Clinic) -> None:
    day = dt.date(2027, 2, 1)
    assert one_report(clinic, "stim-la", since=day, until=day).since == day


def test_unknown_program_is_not_found(clinic: Clinic) -> None:
    with pytest.raises(NotFound, match="no program 'nope'"):
        clinic.report("nope")


def test_empty_program_id_is_not_found(any_clinic: Clinic) -> None:
    """An explicit (empty) id names no program; it must not silently report them all."""
    any_clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
    with pytest.raises(NotFound):
        any_clinic.report("")


def test_cap_reversal_frees_the_cap_hit(any_clinic: Clinic) -> None:
    """A reversed award no longer counts against the cap, so the period is no longer a hit."""
    any_clinic.add_program(program_from_toml(LA_PROGRAM, "stim-la.toml"), actor=ADMIN)
    any_clinic.enroll("L1", "stim-la", start=START, actor=ADMIN)
    # 10 + 15 + 20 = 45 points = $45; then 20 wanted, $5 fit: 5 points. $50: the cap.
    for day in (18, 20, 25, 27):  # two samples a week, as the program owes
        rec(any_clinic, "L1", STIM, "met", la(day, 10))
    before = one_report(any_clinic, "stim-la")
    assert (before.cap_hits, before.points_awarded) == (1, 50)
    any_clinic.reverse(last_transfer_id(any_clinic, "L1"), reason="wrong", actor=ADMIN)
    after = one_report(any_clinic, "stim-la")
    # 50 - 5 = 45 awarded, $45 used of $50: no hit; budget 20000 - 4500.
    assert (after.cap_hits, after.points_awarded, after.awarded_cents) == (0, 45, 4500)
    assert (after.budget_remaining_cents, after.points_outstanding) == (15500, 45)


# --- longest duration of abstinence -------------------------------------------------------

MISSED_IS_NEUTRAL = """\
id = "lenient"
name = "Missed samples do not reset the schedule"
[[targets]]
id = "stimulant-negative"
per_week = 3  # Monday, Wednesday, Friday: each result is an owed sample, none extra
reset_on = ["not_met", "invalid"]
schedule = { kind = "escalating", award = "points", start = 10, step = 5 }
"""


def test_excused_neither_breaks_nor_extends_the_run(higgins: Clinic) -> None:
    # met, excused, met, excused, met: a run of 3 (not 5, not broken).
    for day, outcome in zip(MWF, ["met", "excused", "met", "excused", "met"], strict=False):
        rec(higgins, "P001", STIM, outcome, visit(day))
    assert one_report(higgins, "higgins-vbrt").longest_abstinence == {"P001": 3}
    assert higgins.statement("P001").longest_streak == 3


def test_an_extra_sample_neither_lengthens_nor_breaks_the_run(higgins: Clinic) -> None:
    # Week 1 owes three samples (Mon, Wed, Fri): a fourth on Saturday is extra, met or not;
    # week 2's Monday is not met. The run is the three owed negatives, not four.
    for day in (0, 2, 4):
        rec(higgins, "P001", STIM, "met", visit(day))
    extra = higgins.record("P001", STIM, "met", at=visit(5), actor=ADMIN)
    assert extra.award.note == "extra sample: week 1 owes 3 samples"
    rec(higgins, "P001", STIM, "not_met", visit(7))
    assert one_report(higgins, "higgins-vbrt").longest_abstinence == {"P001": 3}
    statement = higgins.statement("P001")
    assert (statement.longest_streak, statement.episodes[0].longest_streak) == (3, 3)
    # An extra positive at a second visit on Friday does not break it either: it is not a
    # scheduled sample.
    higgins.enroll("P002", "higgins-vbrt", start=START, actor=ADMIN)
    for day in (0, 2, 4):
        rec(higgins, "P002", STIM, "met", visit(day))
    higgins.record("P002", STIM, "not_met", at=visit(4, 15), actor=ADMIN, visit="V-4b")
    rec(higgins, "P002", STIM, "met", visit(7))
    assert one_report(higgins, "higgins-vbrt").longest_abstinence == {"P001": 3, "P002": 4}
    assert higgins.statement("P002").longest_streak == 4


def test_invalid_breaks_the_run(higgins: Clinic) -> None:
    # met, met, invalid, met: longest 2; 10 + 15 + 0 + 10 = 35 points.
    for day, outcome in zip(MWF, ["met", "met", "invalid", "met"], strict=False):
        rec(higgins, "P001", STIM, outcome, visit(day))
    report = one_report(higgins, "higgins-vbrt")
    assert (report.longest_abstinence, report.points_awarded) == ({"P001": 2}, 35)
    assert higgins.statement("P001").longest_streak == 2


def test_statement_and_report_agree_on_longest_abstinence_when_missed_does_not_reset(
    any_clinic: Clinic,
) -> None:
    """A missed sample is not a negative: the run of consecutive ``met`` ends there even
    when the program's schedule does not reset on it. The report says 2; the statement's
    ``longest_streak`` (documented as the same abstinence measure) must say 2 as well."""
    any_clinic.add_program(program_from_toml(MISSED_IS_NEUTRAL, "lenient.toml"), actor=ADMIN)
    any_clinic.enroll("P001", "lenient", start=START, actor=ADMIN)
    for day, outcome in zip(MWF, ["met", "met", "missed", "met"], strict=False):
        rec(any_clinic, "P001", STIM, outcome, visit(day))
    assert one_report(any_clinic, "lenient").longest_abstinence == {"P001": 2}
    assert any_clinic.statement("P001").longest_streak == 2


TRADE_BOWL = """\
id = "trade-bowl"
name = "Only small slips, two smalls trade for a large"
[[targets]]
id = "attendance"
schedule = { kind = "fixed", award = "draws", amount = 2 }
[[bowl]]
category = "small"
slips = 1
value_cents = 100
[[bowl]]
category = "large"
slips = 0
value_cents = 2000
[[trades]]
give = "small"
count = 2
get = "large"
"""


def test_prizes_won_are_the_prizes_drawn_not_those_received_in_trades(
    any_clinic: Clinic,
) -> None:
    """Two small prizes drawn ($2 committed), then traded for a large one. ``awarded_cents``
    counts only drawn prizes (200); ``prizes_won`` by category must describe the same
    prizes: {"small": 2}, not a large that was never drawn from the bowl."""
    any_clinic.add_program(program_from_toml(TRADE_BOWL, "trade.toml"), actor=ADMIN)
    any_clinic.enroll("T1", "trade-bowl", start=START, actor=ADMIN)
    rec(any_clinic, "T1", ATTEND, "met", visit(0))  # 2 draws, both small (the only slips)
    any_clinic.trade_prizes("T1", give="small", get="large", actor=ADMIN)
    report = one_report(any_clinic, "trade-bowl")
    assert report.awarded_cents == 200
    assert report.outstanding_cents == 2000  # the large prize is owed
    assert report.prizes_won == {"small": 2}


# --- statements ---------------------------------------------------------------------------

Line = tuple[str, str, int, int, int, int, bool, bool, int]


def line_tuples(statement: Statement) -> list[Line]:
    return [
        (
            line.target,
            str(line.outcome),
            line.points,
            line.draws,
            line.value_cents,
            line.streak,
            line.reset,
            line.recovered,
            line.cumulative_cents,
        )
        for line in statement.lines
    ]


def expected_lines(target: str, rows: list[tuple[str, int, int, bool, bool]]) -> list[Line]:
    """Points lines at 25 cents a point: (outcome, points, streak, reset, recovered)."""
    cumulative = 0
    lines: list[Line] = []
    for outcome, points, streak, reset, recovered in rows:
        cumulative += points * 25
        lines.append(
            (target, outcome, points, 0, points * 25, streak, reset, recovered, cumulative)
        )
    return lines


def test_statement_with_reset_recovery_and_redemptions(clinic: Clinic) -> None:
    made = clinic.statement("H1")
    # Runs 3, 6, 9 carry the 40-point bonus; the positive resets; the fifth negative after
    # it is paid at the saved position 10 (55 points) and is marked recovered.
    assert line_tuples(made) == expected_lines(
        STIM,
        [
            ("met", 10, 1, False, False),
            ("met", 15, 2, False, False),
            ("met", 60, 3, False, False),
            ("met", 25, 4, False, False),
            ("met", 30, 5, False, False),
            ("met", 75, 6, False, False),
            ("met", 40, 7, False, False),
            ("met", 45, 8, False, False),
            ("met", 90, 9, False, False),
            ("met", 55, 10, False, False),
            ("not_met", 0, 0, True, False),
            ("met", 10, 1, False, False),
            ("met", 15, 2, False, False),
            ("met", 60, 3, False, False),
            ("met", 25, 4, False, False),
            ("met", 55, 5, False, True),
        ],
    )
    assert [line.occurred_at for line in made.lines] == [visit(day) for day in MWF[:16]]
    assert (made.longest_streak, made.resets, made.recoveries) == (10, 1, 1)
    assert made.earned_cents == 610 * 25 == 15250
    assert (made.participant, made.program_id, made.start, made.status) == (
        "H1",
        "higgins-vbrt",
        START,
        "active",
    )
    assert made.program_name == "Higgins voucher-based reinforcement therapy"
    assert (made.balance.points, made.balance.available_points, made.balance.held_points) == (
        510,
        410,
        100,
    )
    assert [(r.id, r.sku, r.cost, str(r.status)) for r in made.redemptions] == [
        (1, "GC-10", 100, "fulfilled"),
        (2, "GC-10", 100, "requested"),
    ]
    assert made.redemptions[0].note == "card ending 4417"
    assert made.redemptions[0].actual_cost_cents == 1000
    assert made.prizes == ()
    # The history's last entry is the second hold: 410 available, 100 held.
    assert (made.history[-1].kind, made.history[-1].available_points) == ("hold", 410)
    assert made.history[-1].held_points == 100


def test_statement_excludes_a_reversed_award(clinic: Clinic) -> None:
    made = clinic.statement("H2")
    # The last met paid 10 points, reversed: it shows 0 points and adds nothing.
    assert line_tuples(made) == expected_lines(
        STIM,
        [
            ("met", 10, 1, False, False),
            ("met", 15, 2, False, False),
            ("excused", 0, 2, False, False),
            ("met", 60, 3, False, False),
            ("missed", 0, 0, True, False),
            ("met", 0, 1, False, False),
        ],
    )
    assert (made.longest_streak, made.resets, made.recoveries) == (3, 1, 0)
    assert made.earned_cents == (10 + 15 + 60) * 25 == 2125
    assert made.status == "withdrawn"
    assert made.balance.points == 85
    assert made.redemptions == ()


def test_statement_adjustments_are_not_earnings(clinic: Clinic) -> None:
    made = clinic.statement("H3")
    assert line_tuples(made) == expected_lines(
        STIM, [("met", 10, 1, False, False), ("met", 15, 2, False, False)]
    )
    # earned: 25 points = 625 cents; the balance also has the 20-point credit.
    assert (made.earned_cents, made.balance.points, made.status) == (625, 45, "completed")


def test_statement_in_the_program_time_zone_with_the_cap(clinic: Clinic) -> None:
    made = clinic.statement("L1")
    assert made.timezone == "America/Los_Angeles"
    # In recording order, $1 a point; the cap ($50) cuts the Feb 3 awards to 3 and 0.
    assert [
        (line.target, str(line.outcome), line.points, line.value_cents, line.streak, line.reset)
        for line in made.lines
    ] == [
        (STIM, "met", 10, 1000, 1, False),
        (ATTEND, "met", 2, 200, 1, False),
        (STIM, "met", 15, 1500, 2, False),
        (ATTEND, "missed", 0, 0, 0, True),
        (STIM, "met", 20, 2000, 3, False),
        (STIM, "met", 3, 300, 4, False),
        (ATTEND, "met", 0, 0, 1, False),
    ]
    assert [line.cumulative_cents for line in made.lines] == [
        1000,
        1200,
        2700,
        2700,
        4700,
        5000,
        5000,
    ]
    assert made.lines[2].occurred_at == LATE_JAN_31
    # Longest run on the primary (stimulant) target: 4; the one reset is attendance's.
    assert (made.longest_streak, made.resets, made.recoveries) == (4, 1, 0)
    assert made.earned_cents == 5000
    assert (made.balance.points, made.balance.cap_remaining_cents) == (50, 0)


def test_statement_of_prizes(clinic: Clinic) -> None:
    made = clinic.statement("Q1")
    assert [
        (line.target, str(line.outcome), line.draws, line.value_cents, line.streak)
        for line in made.lines
    ] == [
        (STIM, "met", 1, 0, 1),  # good-job
        (SECONDARY, "met", 2, 2100, 1),  # large $20 + small $1
        (STIM, "met", 1, 0, 2),  # same week: still 1 draw
        (STIM, "met", 2, 0, 3),  # week 2: 2 draws, both good-job
        (STIM, "not_met", 0, 0, 0),
        (STIM, "met", 1, 100, 1),  # back to 1 draw: small
    ]
    assert [line.cumulative_cents for line in made.lines] == [0, 2100, 2100, 2100, 2100, 2200]
    assert all(line.points == 0 for line in made.lines)
    assert [line.reset for line in made.lines] == [False] * 4 + [True, False]
    assert (made.longest_streak, made.resets, made.recoveries) == (3, 1, 0)
    assert made.earned_cents == 2200
    assert [(p.category, p.value_cents, str(p.status)) for p in made.prizes] == [
        ("large", 2000, "fulfilled"),
        ("small", 100, "owed"),
        ("small", 100, "owed"),
    ]
    secondary_line = made.lines[1]
    assert [p.outcome_id for p in made.prizes] == [secondary_line.outcome_id] * 2 + [
        made.lines[5].outcome_id
    ]


def test_statement_of_a_participant_with_no_results(clinic: Clinic) -> None:
    made = clinic.statement("H4")
    assert (made.lines, made.longest_streak, made.resets, made.earned_cents) == ((), 0, 0, 0)
    assert made.history == ()


def test_statement_of_an_unknown_participant(clinic: Clinic) -> None:
    with pytest.raises(NotFound, match="no participant 'H9'"):
        clinic.statement("H9")


def test_statements_agree_with_the_ledger(clinic: Clinic, tmp_path: Path) -> None:
    """Each line's points are the award and bonus transfers it caused, not reversed; its value
    adds the prizes its draws won; the cumulative column and earned_cents add them up."""
    clinic.export(tmp_path / "audit")
    transfers = json.loads((tmp_path / "audit" / "transfers.json").read_text("utf-8"))
    prizes = json.loads((tmp_path / "audit" / "prizes.json").read_text("utf-8"))
    reversed_ids = {t["reverses"] for t in transfers if t["reverses"] is not None}
    values = {p.id: p.point_value_cents for p in clinic.programs()}
    for person in clinic.participants():
        made = clinic.statement(person.id)
        running = 0
        for line in made.lines:
            points = sum(
                t["amount"]
                for t in transfers
                if t["kind"] in ("award", "bonus")
                and t["cause"] == f"outcome:{line.outcome_id}"
                and t["id"] not in reversed_ids
            )
            won = sum(p["value_cents"] for p in prizes if p["outcome_id"] == line.outcome_id)
            assert line.points == points
            assert line.value_cents == points * values[person.program_id] + won
            running += line.value_cents
            assert line.cumulative_cents == running
        assert made.earned_cents == running
    # And across the clinic: 18000 (higgins) + 6000 (stim-la) + 2200 (petry) cents.
    total = sum(clinic.statement(p.id).earned_cents for p in clinic.participants())
    assert total == 18000 + 6000 + 2200
    assert total == sum(r.awarded_cents for r in clinic.report())


# --- export --------------------------------------------------------------------------------


def stored_counts(location: str) -> dict[str, int]:
    """Rows per exported table, counted past the library (SQLite file or PostgreSQL URL)."""
    if location.startswith("postgresql://"):
        import psycopg

        connect: Any = psycopg.connect
    else:
        connect = sqlite3.connect
    conn = connect(location)
    try:
        counts = {}
        for name in TABLES:
            table = "idempotency" if name == "idempotency_keys" else name
            (counts[name],) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return counts
    finally:
        conn.close()


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


EXPECTED_COUNTS = {
    "staff": 1,  # admin-1
    "staff_secrets": 0,  # a library clinic: its host signs staff in
    "sign_ins": 0,
    "programs": 3,
    "participants": 7,  # H1-H4, L1, L2, Q1
    "past_episodes": 0,  # nobody enrolled twice
    # 16 + 6 + 2 (higgins) + 9 (stim-la) + 6 (petry)
    "outcomes": 39,
    # (participant, target) pairs: H1, H2, H3 stimulant; L1 x2, L2; Q1 x2
    "schedule_states": 8,
    # higgins: H1 15 awards (one per met) + 4 bonuses (runs 3, 6, 9, then 3) = 19; H2 4
    #   awards + 1 bonus + 1 reversal = 6; H3 2 awards + 1 adjustment = 3; H1's hold, spend
    #   and second hold = 3: 31. stim-la: L1 10, 2, 15, 20, 3 = 5 awards (the capped-out
    #   attendance paid nothing, so no transfer); L2 1 award: 6. petry: none (prizes only).
    "transfers": 31 + 6,
    # accounts: higgins funding, redeemed, available H1-H3, held H1; stim-la funding,
    #   available L1, L2.
    "balances": 6 + 3,
    "prizes": 3,
    "prize_fulfilments": 1,
    "prize_trades": 0,
    "cap_usage": 2,  # (L1, 2027), (L2, 2027)
    "catalog": 3,  # GC-10, CAB-LARGE, CAB-SMALL
    # GC-10 restock, request, request; CAB-LARGE restock, prize; CAB-SMALL restock
    "stock_movements": 6,
    "redemptions": 2,
    "analyte_results": 0,  # no lab panel in this clinic
    "analyte_revisions": 0,
    "idempotency_keys": 1,  # LAB-H3-1
    "corrections": 0,
    "write_offs": 0,
    "prize_withdrawals": 0,
}


def test_export_writes_every_table(clinic: Clinic, tmp_path: Path) -> None:
    out = tmp_path / "export"
    manifest = clinic.export(out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", *(f"{t}.json" for t in TABLES), *(f"{t}.csv" for t in TABLES)]
    )
    assert manifest.tables == EXPECTED_COUNTS
    assert list(manifest.tables) == list(TABLES)
    for name in TABLES:
        rows = read_json(out / f"{name}.json")
        assert isinstance(rows, list)
        assert len(rows) == manifest.tables[name], name
        assert len(csv_rows(out / f"{name}.csv")) == len(rows), name
    written = read_json(out / "manifest.json")
    assert written == {
        "tables": EXPECTED_COUNTS,
        "outcome_chain_head": manifest.outcome_chain_head,
        "transfer_chain_head": manifest.transfer_chain_head,
        "exported_at": "2027-06-01T12:00:00.000000Z",
        "checkpoint": cmrewards.to_json(clinic.checkpoint()),
    }
    # No path of the machine: the manifest travels with the files, wherever they go.
    assert str(tmp_path) not in (out / "manifest.json").read_text(encoding="utf-8")


def test_export_files_and_folders_are_owner_only(clinic: Clinic, tmp_path: Path) -> None:
    out = tmp_path / "audit" / "2027-06" / "export"
    clinic.export(out)
    for folder in (tmp_path / "audit", tmp_path / "audit" / "2027-06", out):
        assert oct(folder.stat().st_mode & 0o777) == oct(0o700), folder
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in out.iterdir()}
    assert set(modes.values()) == {oct(0o600)}, modes


def test_export_counts_match_the_database(clinic: Clinic, tmp_path: Path) -> None:
    manifest = clinic.export(tmp_path / "export")
    checked = clinic.verify()
    assert checked.ok, checked.problems
    assert manifest.tables["outcomes"] == checked.outcomes
    assert manifest.tables["transfers"] == checked.transfers
    assert manifest.tables["participants"] == checked.participants == len(clinic.participants())
    assert manifest.tables["staff"] == len(clinic.staff())
    assert manifest.tables["programs"] == len(clinic.programs())
    assert manifest.tables["catalog"] == len(clinic.items())
    assert manifest.tables["redemptions"] == len(clinic.redemptions())
    assert manifest.tables["prizes"] == sum(len(clinic.prizes(p.id)) for p in clinic.participants())
    if clinic.location != ":memory:":
        assert stored_counts(clinic.location) == manifest.tables


def test_export_chain_heads_match_verify(clinic: Clinic, tmp_path: Path) -> None:
    manifest = clinic.export(tmp_path / "export")
    checked = clinic.verify()
    assert manifest.transfer_chain_head == checked.transfer_chain_head
    assert manifest.outcome_chain_head == checked.outcome_chain_head
    transfers = read_json(tmp_path / "export" / "transfers.json")
    outcomes = read_json(tmp_path / "export" / "outcomes.json")
    assert transfers[-1]["hash"] == checked.transfer_chain_head
    assert outcomes[-1]["hash"] == checked.outcome_chain_head
    assert GENESIS not in (checked.transfer_chain_head, checked.outcome_chain_head)
    # The chains link up in the exported rows as well.
    for rows in (transfers, outcomes):
        assert [r["prev_hash"] for r in rows] == [GENESIS] + [r["hash"] for r in rows[:-1]]


def test_export_csv_matches_json(clinic: Clinic, tmp_path: Path) -> None:
    clinic.export(tmp_path / "export")
    for name in ("transfers", "outcomes", "participants", "redemptions", "prizes"):
        rows = read_json(tmp_path / "export" / f"{name}.json")
        parsed = csv_rows(tmp_path / "export" / f"{name}.csv")
        for from_json, from_csv in zip(rows, parsed, strict=True):
            assert set(from_csv) == set(from_json)
            assert from_csv == {k: "" if v is None else str(v) for k, v in from_json.items()}
    programs = csv_rows(tmp_path / "export" / "programs.csv")
    assert [json.loads(p["targets"])[0]["id"] for p in programs] == [STIM, STIM, STIM]
    transfers = read_json(tmp_path / "export" / "transfers.json")
    # 720 + 60 points awarded (reversed award included in the raw rows: + 10).
    assert sum(t["amount"] for t in transfers if t["kind"] in ("award", "bonus")) == 790


def test_export_refuses_a_non_empty_directory(clinic: Clinic, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(InvalidInput, match="must be a new or empty directory"):
        clinic.export(out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_export_refuses_a_file(clinic: Clinic, tmp_path: Path) -> None:
    target = tmp_path / "file.txt"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(InvalidInput):
        clinic.export(target)
    assert target.read_text(encoding="utf-8") == "x"


def test_export_into_an_existing_empty_directory(clinic: Clinic, tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    assert clinic.export(out).tables == EXPECTED_COUNTS


ADMIN_ROW = [
    {
        "id": "admin-1",
        "role": "admin",
        "active": True,
        "added_at": "2027-06-01T12:00:00.000000Z",
        "added_by": None,
    }
]


def test_export_of_an_empty_clinic(any_clinic: Clinic, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    manifest = any_clinic.export(out)
    assert manifest.tables == {name: (1 if name == "staff" else 0) for name in TABLES}
    assert (manifest.outcome_chain_head, manifest.transfer_chain_head) == (GENESIS, GENESIS)
    checked = any_clinic.verify()
    assert (checked.outcome_chain_head, checked.transfer_chain_head) == (GENESIS, GENESIS)
    for name in TABLES:
        assert read_json(out / f"{name}.json") == (ADMIN_ROW if name == "staff" else [])
        assert len(csv_rows(out / f"{name}.csv")) == manifest.tables[name]
    assert read_json(out / "manifest.json")["tables"] == manifest.tables
