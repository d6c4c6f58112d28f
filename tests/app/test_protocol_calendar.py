"""The protocol calendar through the clinic, on every store (docs/design.md section 3.8).

A negative after the last paid week and a sample beyond the week's owed ones are recorded
and shown with their reason, never paid; a late result that fills a week turns the later
sample into an extra and takes its award back; an empty week breaks a weekly run whether
it is closed or not; phases that restart; a program stored before the calendar keeps its
legacy rules. ``verify`` checks after each that the in-order fast path and the replay
agree (cached states and awards).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import cmrewards
from cmrewards import Clinic
from cmrewards.domain.programs import program_from_toml
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"

TWICE_WEEKLY = """
id = "twice"
name = "Twice a week for 12 weeks"
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 2
schedule = { kind = "escalating", start = 10, step = 5 }
"""

WEEKLY_DRAWS = """
id = "weekly"
name = "Weekly escalation, one sample a week"
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 1
schedule = { kind = "escalating", award = "draws", start = 1, step = 1, step_by = "week", max = 8 }

[[bowl]]
category = "good-job"
slips = 1
value_cents = 0
"""

RESTARTING = """
id = "phased"
name = "Two phases, the second restarts"
weeks = 6

[[targets]]
id = "stimulant-negative"

[[targets.phases]]
weeks = [1, 3]
per_week = 2
schedule = { kind = "escalating", start = 10, step = 10 }

[[targets.phases]]
weeks = [4, 6]
per_week = 1
escalation = "restart"
schedule = { kind = "escalating", start = 5, step = 5 }
"""


def enrolled(clinic: Clinic, toml: str) -> Clinic:
    program = program_from_toml(toml, "test.toml")
    clinic.add_program(program, actor=ADMIN)
    clinic.enroll("P001", program.id, start=START, actor=ADMIN)
    return clinic


def record(clinic: Clinic, day: int, outcome: str = "met") -> cmrewards.RecordResult:
    return clinic.record("P001", STIM, outcome, actor=ADMIN, at=visit(day))


def awarded(clinic: Clinic, days: list[int], outcome: str = "met") -> list[int]:
    paid = []
    for day in days:
        award = record(clinic, day, outcome).award
        paid.append(award.points + award.bonus_points + award.draws)
    return paid


def check_verifies(clinic: Clinic) -> None:
    report = clinic.verify()
    assert (report.ok, report.problems) == (True, ())


def test_a_third_sample_in_a_twice_weekly_week_is_recorded_not_paid(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    assert awarded(clinic, [0, 2]) == [10, 15]
    extra = record(clinic, 4)
    assert (extra.award.points, extra.award.paid) == (0, False)
    assert extra.award.note == "extra sample: week 1 owes 2 samples"
    assert extra.balance.points == 25
    assert awarded(clinic, [7]) == [20]  # the extra did not move the schedule
    line = clinic.statement("P001").lines[2]
    assert (line.paid, line.points, line.note) == (False, 0, "extra sample: week 1 owes 2 samples")
    details = [e.detail for e in clinic.history("P001") if e.kind == "outcome"]
    assert details[2] == "stimulant-negative: met (extra sample: week 1 owes 2 samples)"
    check_verifies(clinic)


def test_a_negative_in_week_14_of_a_12_week_program_pays_nothing(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    assert awarded(clinic, [0, 77]) == [10, 15]  # day 77 is in week 12
    late = record(clinic, 91)  # week 14
    assert (late.award.points, late.award.paid) == (0, False)
    assert late.award.note == "week 14 is after the program's last paid week (12)"
    positive = record(clinic, 93, "not_met")
    assert (positive.award.reset, positive.award.paid) == (False, False)
    preview = clinic.preview("P001")[0]
    assert preview.next_amount == 0
    assert preview.unpaid == "week 22 is after the program's last paid week (12)"
    assert preview.sentence == (
        "stimulant-negative: week 22 is after the program's last paid week (12);"
        " results are recorded and not paid."
    )
    check_verifies(clinic)


def test_a_late_result_that_fills_the_week_makes_the_later_sample_extra(
    any_clinic: Clinic,
) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    assert awarded(clinic, [0, 4]) == [10, 15]
    late = record(clinic, 2)
    assert late.award.points == 15
    assert late.settlement is not None
    assert late.settlement.taken_back_points == 15  # day 4 is now the week's third sample
    assert [(line.points, line.note) for line in clinic.statement("P001").lines] == [
        (10, ""),
        (15, ""),
        (0, "extra sample: week 1 owes 2 samples"),
    ]
    assert clinic.balance("P001").points == 25
    check_verifies(clinic)


def test_voiding_a_sample_lets_the_extra_one_count(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    assert awarded(clinic, [0, 2, 4]) == [10, 15, 0]
    first = clinic.statement("P001").lines[0].outcome_id
    voided = clinic.void(first, reason="wrong participant", actor=ADMIN)
    assert voided.balance.points == 25  # day 2 pays 10, day 4 now counts and pays 15
    check_verifies(clinic)


def test_an_empty_week_breaks_a_weekly_run_closed_or_not(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, WEEKLY_DRAWS)
    assert awarded(clinic, [0, 7]) == [1, 2]
    after_gap = record(clinic, 21)
    assert after_gap.award.draws == 1
    assert after_gap.award.note == "week 3 had no met or excused result: the run started again"
    assert awarded(clinic, [28]) == [2]
    check_verifies(clinic)

    # The same history with the empty week closed by a ``missed`` pays the same.
    closed = cmrewards.open(None, clock=FakeClock(), seeds=iter(range(1, 10**6)).__next__)
    closed.init(ADMIN)
    enrolled(closed, WEEKLY_DRAWS)
    assert awarded(closed, [0, 7]) == [1, 2]
    assert awarded(closed, [20], "missed") == [0]
    assert awarded(closed, [21, 28]) == [1, 2]


def test_an_excused_week_keeps_a_weekly_run(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, WEEKLY_DRAWS)
    assert awarded(clinic, [0, 7]) == [1, 2]
    assert awarded(clinic, [14], "excused") == [0]
    assert awarded(clinic, [21, 28]) == [3, 4]
    check_verifies(clinic)


def test_a_late_result_in_an_empty_week_mends_the_run(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, WEEKLY_DRAWS)
    assert awarded(clinic, [0, 7, 21, 28]) == [1, 2, 1, 2]
    late = record(clinic, 14)
    assert late.award.draws == 3
    assert [line.draws for line in clinic.statement("P001").lines] == [1, 2, 3, 4, 5]
    check_verifies(clinic)


def test_a_phase_that_restarts_starts_again(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, RESTARTING)
    # Weeks 1-3 twice a week, then weeks 4-6 once, from 5 again.
    assert awarded(clinic, [0, 2, 7, 9, 14, 16, 21, 28, 35]) == [10, 20, 30, 40, 50, 60, 5, 10, 15]
    assert clinic.preview("P001")[0].next_amount == 0  # day 35 is the last paid week's sample
    check_verifies(clinic)


def test_the_preview_shows_next_week_once_this_week_is_full(
    any_clinic: Clinic, clock: FakeClock
) -> None:
    clinic = enrolled(any_clinic, RESTARTING)
    clock.now = visit(23, 12)  # week 4, which owes one sample
    assert awarded(clinic, [0, 2, 7, 9, 14, 16, 21]) == [10, 20, 30, 40, 50, 60, 5]
    preview = clinic.preview("P001")[0]
    assert (preview.next_amount, preview.streak) == (10, 1)  # the run restarted in week 4


def test_a_program_stored_before_the_calendar_keeps_paying_every_sample(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "old.db"
    clinic = cmrewards.open(str(path), clock=clock)
    clinic.init(ADMIN)
    legacy = program_from_toml("calendar = false\n" + TWICE_WEEKLY, "old.toml")
    clinic.add_program(legacy, actor=ADMIN)
    clinic.enroll("P001", "twice", start=START, actor=ADMIN)
    clinic.close()
    with sqlite3.connect(path) as conn:
        (definition,) = conn.execute("SELECT definition FROM programs").fetchone()
    assert "calendar" not in json.loads(definition)

    reopened = cmrewards.open(str(path), clock=clock)
    assert reopened.program("twice").calendar is False
    assert awarded(reopened, [0, 2, 4, 91]) == [10, 15, 20, 25]
    assert reopened.program("twice").to_dict() == json.loads(definition)
    check_verifies(reopened)
    reopened.close()


@pytest.mark.parametrize(
    ("days", "extras"), [([0, 2, 4, 5, 9, 11], 2), ([0, 7, 14, 2, 9, 16, 4], 1)]
)
def test_record_in_order_and_the_replay_agree_on_every_sample(
    any_clinic: Clinic, days: list[int], extras: int
) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    for day in days:
        record(clinic, day)
    check_verifies(clinic)
    lines = clinic.statement("P001").lines
    assert sum(line.points for line in lines) == clinic.balance("P001").points
    assert sum(1 for line in lines if not line.paid) == extras
