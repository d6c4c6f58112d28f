"""The protocol calendar (docs/design.md section 3.8): phases, owed samples, the last paid
week and weekly runs, in program files, in ``earn`` and in ``maximum_earnings``.

Worked cases first, then every bad program key, then Hypothesis properties: an extra
sample never changes money or state, a result after the last phase pays nothing, an
empty week breaks a weekly run exactly as a ``missed`` written for it would, and a
legacy program (``calendar = false``) earns what the schedule alone says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from cmrewards.domain.calendar import (
    FIRST_RESULT,
    Escalation,
    Phase,
    last_paid_week,
    owed,
    phase_at,
    phases_of,
    week_span,
)
from cmrewards.domain.clock import program_week
from cmrewards.domain.earning import Earning, Unpaid, earn
from cmrewards.domain.programs import (
    Program,
    load_preset,
    maximum_earnings,
    program_from_dict,
    program_from_toml,
)
from cmrewards.domain.schedules import (
    AwardKind,
    EscalatingSchedule,
    Outcome,
    ScheduleState,
    StepBy,
    replay,
)
from cmrewards.errors import InvalidInput

MET = Outcome.MET
NOT_MET = Outcome.NOT_MET
MISSED = Outcome.MISSED
EXCUSED = Outcome.EXCUSED
INVALID = Outcome.INVALID

PHASED = """
id = "phased"
name = "Two phases"
weeks = 24

[[targets]]
id = "stimulant-negative"

[[targets.phases]]
weeks = [1, 12]
per_week = 2
schedule = { kind = "escalating", start = 10, step = 2, max = 20 }

[[targets.phases]]
weeks = [13, 24]
per_week = 1
escalation = "{escalation}"
schedule = { kind = "escalating", start = 30, step = 5 }
"""


def phased(escalation: str = "carry") -> Program:
    return program_from_toml(PHASED.replace("{escalation}", escalation), "phased.toml")


def simple(per_week: int = 2, weeks: int = 12, extra: str = "", schedule: str = "") -> Program:
    return program_from_toml(
        f"""
id = "simple"
name = "One phase"
weeks = {weeks}
{extra}

[[targets]]
id = "stimulant-negative"
per_week = {per_week}
schedule = {schedule or '{ kind = "escalating", start = 10, step = 5 }'}
""",
        "simple.toml",
    )


def weekly(per_week: int = 1, weeks: int = 12, reset_on: str = "") -> Program:
    """Weekly escalation (the prize presets' ``step_by``), one sample a week by default."""
    return program_from_toml(
        f"""
id = "weekly"
name = "Weekly escalation"
weeks = {weeks}

[[targets]]
id = "stimulant-negative"
per_week = {per_week}
{reset_on}
[targets.schedule]
kind = "escalating"
start = 1
step = 1
step_by = "week"
max = 8
recovery_after = 2
""",
        "weekly.toml",
    )


def run(program: Program, history: Sequence[tuple[Outcome, int]]) -> list[Earning]:
    """Every earning of a one-target history of (outcome, program week), as the replay
    feeds ``earn``: each from the state and attendance the ones before left."""
    target = program.targets[0]
    state, attendance = ScheduleState(), FIRST_RESULT
    earnings = []
    for outcome, week in history:
        earning = earn(program, target, state, outcome, week=week, attendance=attendance)
        earnings.append(earning)
        state, attendance = earning.step.state, attendance.after(outcome, week)
    return earnings


def amounts(earnings: Sequence[Earning]) -> list[int]:
    return [e.points + e.bonus_points + e.draws for e in earnings]


# --- the calendar of a target -------------------------------------------------------


def test_a_target_without_phases_is_one_phase_over_the_program_weeks() -> None:
    program = simple(per_week=3, weeks=10)
    target = program.targets[0]
    assert phases_of(program, target) == (Phase(1, 10, 3, target.schedule),)
    assert [owed(program, target, w) for w in (0, 1, 10, 11)] == [0, 3, 3, 0]
    assert last_paid_week(program, target) == 10


def test_phases_say_what_each_week_owes() -> None:
    program = phased()
    target = program.targets[0]
    first, second = phases_of(program, target)
    assert (first.first, first.last, first.per_week) == (1, 12, 2)
    assert (second.first, second.last, second.per_week) == (13, 24, 1)
    assert phase_at(program, target, 12) == first
    assert phase_at(program, target, 13) == second
    assert phase_at(program, target, 25) is None
    assert phase_at(program, target, 0) is None
    assert [owed(program, target, w) for w in (1, 12, 13, 24, 25)] == [2, 2, 1, 1, 0]
    assert (target.schedule, target.per_week) == (first.schedule, 2)


def test_a_legacy_program_owes_per_week_within_its_weeks() -> None:
    program = attrs.evolve(simple(per_week=3), calendar=False)
    target = program.targets[0]
    assert [owed(program, target, w) for w in (0, 1, 12, 13)] == [0, 3, 3, 0]


def test_week_span_counts_as_program_week_does() -> None:
    start = dt.date(2027, 1, 6)  # a Wednesday
    assert week_span(start, 1) == (dt.date(2027, 1, 6), dt.date(2027, 1, 12))
    assert week_span(start, 3) == (dt.date(2027, 1, 20), dt.date(2027, 1, 26))
    for week in (1, 2, 5):
        first, last = week_span(start, week)
        for day in (first, last):
            at = dt.datetime.combine(day, dt.time(12), dt.UTC)
            assert program_week(start, at, "UTC") == week
        before = dt.datetime.combine(first - dt.timedelta(days=1), dt.time(12), dt.UTC)
        assert program_week(start, before, "UTC") == week - 1


# --- weeks and owed samples are enforced ----------------------------------------------


def test_a_negative_in_week_14_of_a_12_week_program_pays_nothing() -> None:
    program = simple()
    earnings = run(program, [(MET, 12), (MET, 14)])
    assert amounts(earnings) == [10, 0]
    late = earnings[1]
    assert (late.paid, late.unpaid) == (False, Unpaid.OUTSIDE)
    assert late.reason == "week 14 is after the program's last paid week (12)"
    assert late.step.state == earnings[0].step.state


def test_a_positive_after_the_last_paid_week_does_not_reset() -> None:
    program = simple()
    earnings = run(program, [(MET, 12), (NOT_MET, 13)])
    assert earnings[1].step.reset is False
    assert earnings[1].step.state == earnings[0].step.state


def test_a_third_sample_in_a_twice_weekly_week_pays_nothing() -> None:
    program = simple(per_week=2)
    earnings = run(program, [(MET, 1), (MET, 1), (MET, 1), (MET, 2)])
    assert amounts(earnings) == [10, 15, 0, 20]
    extra = earnings[2]
    assert (extra.paid, extra.unpaid) == (False, Unpaid.EXTRA)
    assert extra.reason == "extra sample: week 1 owes 2 samples"
    assert extra.step.state == earnings[1].step.state


def test_an_extra_positive_neither_resets_nor_counts() -> None:
    program = simple(per_week=1)
    earnings = run(program, [(MET, 1), (NOT_MET, 1), (MET, 2)])
    assert amounts(earnings) == [10, 0, 15]
    assert earnings[1].unpaid is Unpaid.EXTRA
    assert earnings[1].reason == "extra sample: week 1 owes 1 sample"


def test_extra_samples_count_pays_every_sample_as_before() -> None:
    program = program_from_toml(
        """
id = "counted"
name = "Every sample"
[[targets]]
id = "stimulant-negative"
per_week = 2
extra_samples = "count"
schedule = { kind = "escalating", start = 10, step = 5 }
""",
        "counted.toml",
    )
    assert amounts(run(program, [(MET, 1), (MET, 1), (MET, 1), (MET, 13)])) == [10, 15, 20, 0]


def test_each_target_has_its_own_last_paid_week_in_the_reason() -> None:
    program = program_from_toml(
        """
id = "two"
name = "Two targets"
weeks = 12
[[targets]]
id = "stimulant-negative"
[[targets.phases]]
weeks = [1, 8]
schedule = { kind = "fixed", amount = 5 }
[[targets]]
id = "attendance"
schedule = { kind = "fixed", amount = 1 }
""",
        "two.toml",
    )
    stim, attendance = program.targets
    at_nine = earn(program, stim, ScheduleState(), MET, week=9)
    assert at_nine.reason == "week 9 is after stimulant-negative's last paid week (8)"
    assert earn(program, attendance, ScheduleState(), MET, week=9).points == 1


# --- phases ---------------------------------------------------------------------------


def twelve_weeks_of_negatives_then(history: list[tuple[Outcome, int]]) -> list[tuple[Outcome, int]]:
    return [(MET, w) for w in range(1, 13) for _ in range(2)] + history


def test_a_carried_phase_continues_the_run_on_its_own_schedule() -> None:
    # 24 negatives reach position 24; phase 2 pays 30 + 5 x 24 at position 25.
    earnings = run(phased("carry"), twelve_weeks_of_negatives_then([(MET, 13), (MET, 14)]))
    assert amounts(earnings)[:7] == [10, 12, 14, 16, 18, 20, 20]
    assert amounts(earnings)[-2:] == [30 + 5 * 24, 30 + 5 * 25]


def test_a_restarted_phase_starts_at_its_first_position() -> None:
    earnings = run(phased("restart"), twelve_weeks_of_negatives_then([(MET, 13), (MET, 14)]))
    assert amounts(earnings)[-2:] == [30, 35]


def test_a_restart_clears_the_saved_level() -> None:
    program = program_from_toml(
        """
id = "saved"
name = "Recovery across phases"
weeks = 4
[[targets]]
id = "stimulant-negative"
[[targets.phases]]
weeks = [1, 2]
per_week = 2
schedule = { kind = "escalating", start = 10, step = 10, recovery_after = 2 }
[[targets.phases]]
weeks = [3, 4]
per_week = 2
escalation = "restart"
schedule = { kind = "escalating", start = 10, step = 10, recovery_after = 2 }
""",
        "saved.toml",
    )
    history = [(MET, 1), (MET, 1), (MET, 2), (NOT_MET, 2), (MET, 3), (MET, 3)]
    earnings = run(program, history)
    # Without the restart, the second negative of week 3 would be restored to 30.
    assert amounts(earnings) == [10, 20, 30, 0, 10, 20]
    assert earnings[4].step.state.saved is None


def test_the_first_result_of_a_restarted_phase_restarts_even_when_it_does_not_pay() -> None:
    program = phased("restart")
    history = twelve_weeks_of_negatives_then([(EXCUSED, 13), (MET, 14)])
    earnings = run(program, history)
    assert earnings[-2].step.state == ScheduleState()
    assert amounts(earnings)[-1] == 30


def test_maximum_earnings_walks_the_phases() -> None:
    # Phase 1: 10, 12, 14, 16, 18, then 20 for the other 19 samples = 70 + 380.
    # Phase 2 carried: positions 25..36 pay 30 + 5 (p - 1); restarted: 30, 35, ... 85.
    carried = 450 + sum(30 + 5 * (p - 1) for p in range(25, 37))
    restarted = 450 + sum(30 + 5 * (p - 1) for p in range(1, 13))
    assert maximum_earnings(phased("carry")).points == carried
    assert maximum_earnings(phased("restart")).points == restarted


def test_the_presets_keep_their_published_maximum() -> None:
    assert maximum_earnings(load_preset("higgins-vbrt")).value_cents == 99_750
    assert maximum_earnings(load_preset("petry-fishbowl")).draws == 204
    assert maximum_earnings(load_preset("va-prize-cm")).draws == 136


# --- weekly escalation counts consecutive weeks ----------------------------------------


def test_an_empty_week_breaks_a_weekly_run() -> None:
    earnings = run(weekly(), [(MET, 1), (MET, 2), (MET, 4), (MET, 5)])
    assert amounts(earnings) == [1, 2, 1, 2]
    assert earnings[2].broken == 3
    assert earnings[2].note == "week 3 had no met or excused result: the run started again"


def test_an_empty_week_pays_as_a_missed_sample_written_for_it() -> None:
    gap = [(MET, 1), (MET, 2), (MET, 3), (MET, 6), (MET, 7), (MET, 8), (MET, 9)]
    closed = [*gap[:3], (MISSED, 4), (MISSED, 5), *gap[3:]]
    earnings, closed_earnings = run(weekly(), gap), run(weekly(), closed)
    # recovery_after = 2: the second negative after the gap restores week 3's level.
    assert amounts(earnings) == [1, 2, 3, 1, 3, 4, 5]
    assert amounts(closed_earnings) == [1, 2, 3, 0, 0, 1, 3, 4, 5]
    assert earnings[-1].step.state == closed_earnings[-1].step.state


def test_an_excused_week_keeps_a_weekly_run() -> None:
    earnings = run(weekly(), [(MET, 1), (MET, 2), (EXCUSED, 3), (MET, 4)])
    assert amounts(earnings) == [1, 2, 0, 3]
    assert earnings[3].broken is None


def test_a_week_of_only_a_non_resetting_result_breaks_the_run_as_missed_would() -> None:
    program = weekly(reset_on='reset_on = ["not_met", "missed"]')
    earnings = run(program, [(MET, 1), (MET, 2), (INVALID, 3), (MET, 4)])
    assert amounts(earnings) == [1, 2, 0, 1]
    assert earnings[3].broken == 3


def test_an_empty_week_does_not_break_a_run_when_missed_does_not_reset() -> None:
    program = weekly(reset_on='reset_on = ["not_met"]')
    earnings = run(program, [(MET, 1), (MET, 2), (MET, 4)])
    assert amounts(earnings) == [1, 2, 3]
    assert earnings[2].broken is None


def test_an_empty_week_under_opportunity_escalation_breaks_nothing() -> None:
    assert amounts(run(simple(per_week=1), [(MET, 1), (MET, 3)])) == [10, 15]


# --- program files ----------------------------------------------------------------------


def test_calendar_defaults_to_true_and_round_trips() -> None:
    for program in (phased("restart"), simple(), load_preset("petry-fishbowl")):
        assert program.calendar is True
        data = program.to_dict()
        assert data["calendar"] is True
        assert program_from_dict(data, "stored") == program


def test_a_legacy_program_keeps_its_canonical_form() -> None:
    legacy = simple(extra="calendar = false")
    data = legacy.to_dict()
    assert "calendar" not in data
    target = data["targets"][0]
    assert list(target) == ["id", "per_week", "reset_on", "requires", "schedule"]
    assert program_from_dict(data | {"calendar": False}, "stored") == legacy


def test_a_phased_target_is_stored_with_its_phases_only() -> None:
    target = phased("restart").to_dict()["targets"][0]
    assert list(target) == ["id", "reset_on", "requires", "phases"]
    assert target["phases"][1] == {
        "weeks": [13, 24],
        "per_week": 1,
        "escalation": "restart",
        "schedule": {
            "kind": "escalating",
            "award": "points",
            "start": 30,
            "step": 5,
            "step_by": "opportunity",
            "step_every": 1,
            "bonus": 0,
            "bonus_every": 0,
            "recovery_after": 0,
        },
    }


def test_a_legacy_program_pays_after_its_weeks_as_before() -> None:
    legacy = attrs.evolve(simple(per_week=2), calendar=False)
    history = [(MET, 1), (MET, 1), (MET, 1), (MET, 14)]
    assert amounts(run(legacy, history)) == [10, 15, 20, 25]


PHASE = 'weeks = [1, 12]\nschedule = { kind = "fixed", amount = 1 }'


def program_with(target_body: str, top: str = "") -> str:
    return f"""
id = "bad"
name = "Bad"
weeks = 12
{top}
[[targets]]
id = "stimulant-negative"
{target_body}
"""


BAD = [
    (
        f'schedule = {{ kind = "fixed", amount = 1 }}\n[[targets.phases]]\n{PHASE}',
        "targets[0].schedule: give either schedule and per_week or [[targets.phases]]",
    ),
    (
        f"per_week = 2\n[[targets.phases]]\n{PHASE}",
        "targets[0].per_week: give either schedule and per_week or [[targets.phases]]",
    ),
    ("phases = []", "targets[0].phases: needs at least one [[targets.phases]] table"),
    ('phases = "weekly"', "targets[0].phases: must be a list of tables"),
    (
        '[[targets.phases]]\nschedule = { kind = "fixed", amount = 1 }',
        "targets[0].phases[0].weeks: is required",
    ),
    (
        '[[targets.phases]]\nweeks = 12\nschedule = { kind = "fixed", amount = 1 }',
        "targets[0].phases[0].weeks: must be [first, last] program weeks, not 12",
    ),
    (
        '[[targets.phases]]\nweeks = [1, true]\nschedule = { kind = "fixed", amount = 1 }',
        "targets[0].phases[0].weeks: must be [first, last] program weeks, not [1, True]",
    ),
    (
        '[[targets.phases]]\nweeks = [3, 2]\nschedule = { kind = "fixed", amount = 1 }',
        "targets[0].phases[0].weeks: must be [first, last] with 1 <= first <= last, not [3, 2]",
    ),
    (
        '[[targets.phases]]\nweeks = [2, 12]\nschedule = { kind = "fixed", amount = 1 }',
        "targets[0].phases[0].weeks: must start at week 1, right after the phase before",
    ),
    (
        '[[targets.phases]]\nweeks = [1, 13]\nschedule = { kind = "fixed", amount = 1 }',
        "targets[0].phases[0].weeks: ends after the program's last week (12)",
    ),
    (
        '[[targets.phases]]\nweeks = [1, 4]\nschedule = { kind = "fixed", amount = 1 }\n'
        '[[targets.phases]]\nweeks = [6, 8]\nschedule = { kind = "fixed", amount = 1 }',
        "targets[0].phases[1].weeks: must start at week 5, right after the phase before",
    ),
    (
        '[[targets.phases]]\nweeks = [1, 4]\nschedule = { kind = "fixed", amount = 1 }\n'
        '[[targets.phases]]\nweeks = [4, 8]\nschedule = { kind = "fixed", amount = 1 }',
        "targets[0].phases[1].weeks: must start at week 5, right after the phase before",
    ),
    (
        '[[targets.phases]]\nweeks = [1, 4]\nschedule = { kind = "fixed", amount = 1 }\n'
        "[[targets.phases]]\nweeks = [5, 8]\n"
        'schedule = { kind = "fixed", award = "draws", amount = 1 }',
        "targets[0].phases[1].schedule.award: must be points, as in the first phase",
    ),
    (
        f'[[targets.phases]]\n{PHASE}\nescalation = "reset"',
        "targets[0].phases[0].escalation: 'reset' is not one of 'carry', 'restart'",
    ),
    (
        f"[[targets.phases]]\n{PHASE}\nper_week = 0",
        "targets[0].phases[0].per_week: must be at least 1, not 0",
    ),
    (
        f"[[targets.phases]]\n{PHASE}\nrepeat = true",
        "targets[0].phases[0].repeat: unknown key",
    ),
    (
        '[[targets.phases]]\nweeks = [1, 12]\nschedule = { kind = "fixed" }',
        "targets[0].phases[0].schedule.amount: is required",
    ),
    (
        'extra_samples = "pay"\nschedule = { kind = "fixed", amount = 1 }',
        "targets[0].extra_samples: 'pay' is not one of 'ignore', 'count'",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m.split(": ")[0] for _, m in BAD])
def test_a_bad_phase_key_is_named(body: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        program_from_toml(program_with(body), "stim.toml")
    assert str(refused.value) == f"stim.toml: {message}"


def test_phases_and_extra_samples_need_the_calendar() -> None:
    with pytest.raises(InvalidInput, match=r"^stim.toml: targets\[0\].phases: phases need cal"):
        program_from_toml(
            program_with(f"[[targets.phases]]\n{PHASE}", "calendar = false"), "stim.toml"
        )
    body = 'extra_samples = "count"\nschedule = { kind = "fixed", amount = 1 }'
    with pytest.raises(InvalidInput, match=r"targets\[0\].extra_samples: needs calendar = true"):
        program_from_toml(program_with(body, "calendar = false"), "stim.toml")
    with pytest.raises(InvalidInput, match=r"^stim.toml: calendar: must be true or false"):
        program_from_toml(program_with(PHASE.split("\n")[1], 'calendar = "yes"'), "stim.toml")


# --- properties -------------------------------------------------------------------------

OUTCOMES = st.sampled_from([MET, MET, MET, NOT_MET, MISSED, EXCUSED, INVALID])


@st.composite
def histories(draw: st.DrawFn, weeks: int = 16, per_week: int = 3) -> list[tuple[Outcome, int]]:
    """A one-target history in clinical order: up to ``per_week`` results in each week."""
    history = []
    for week in range(1, weeks + 1):
        count = draw(st.integers(0, per_week))
        history += [(draw(OUTCOMES), week) for _ in range(count)]
    return history


SCHEDULES = st.builds(
    EscalatingSchedule,
    award=st.just(AwardKind.POINTS),
    start=st.integers(1, 20),
    step=st.integers(0, 5),
    step_by=st.sampled_from(StepBy),
    step_every=st.integers(1, 3),
    max=st.none() | st.integers(20, 40),
    bonus=st.integers(0, 10),
    bonus_every=st.integers(0, 4),
    recovery_after=st.integers(0, 3),
).filter(lambda s: not (s.bonus and not s.bonus_every))


def one_target(
    schedule: EscalatingSchedule, per_week: int, weeks: int, calendar: bool = True
) -> Program:
    data = {
        "id": "p",
        "name": "P",
        "weeks": weeks,
        "calendar": calendar,
        "targets": [
            {
                "id": "t",
                "per_week": per_week,
                "schedule": {"kind": "escalating"}
                | {k: str(v) if isinstance(v, AwardKind | StepBy) else v
                   for k, v in attrs.asdict(schedule).items() if v is not None},
            }
        ],
    }  # fmt: skip
    return program_from_dict(data, "property")


PROPERTY = settings(max_examples=200, deadline=None)


@PROPERTY
@given(schedule=SCHEDULES, per_week=st.integers(1, 3), weeks=st.integers(1, 14),
       history=histories())  # fmt: skip
def test_extra_samples_and_results_outside_the_weeks_change_no_money_and_no_state(
    schedule: EscalatingSchedule,
    per_week: int,
    weeks: int,
    history: list[tuple[Outcome, int]],
) -> None:
    program = one_target(schedule, per_week, weeks)
    earnings = run(program, history)
    counted: dict[int, int] = {}
    state = ScheduleState()
    for (_, week), earning in zip(history, earnings, strict=True):
        counted[week] = counted.get(week, 0) + 1
        beyond = counted[week] > per_week or week > weeks
        assert beyond == (not earning.paid), (week, counted[week])
        if beyond:
            assert (earning.points, earning.bonus_points, earning.draws) == (0, 0, 0)
            assert earning.step.state == state
        state = earning.step.state
    # Dropping every extra and late result leaves every other award as it was.
    kept = [(h, e) for h, e in zip(history, earnings, strict=True) if e.paid]
    assert amounts(run(program, [h for h, _ in kept])) == amounts([e for _, e in kept])


@PROPERTY
@given(schedule=SCHEDULES, history=histories(weeks=14, per_week=1))
def test_a_missed_written_into_every_empty_week_changes_no_award(
    schedule: EscalatingSchedule, history: list[tuple[Outcome, int]]
) -> None:
    program = one_target(attrs.evolve(schedule, step_by=StepBy.WEEK), 1, 14)
    filled = {week for _, week in history}
    closed = sorted([*history, *((MISSED, w) for w in range(1, 15) if w not in filled)],
                    key=lambda h: h[1])  # fmt: skip
    real = [i for i, (_, week) in enumerate(closed) if week in filled]
    closed_earnings = run(program, closed)
    as_closed = [closed_earnings[i] for i in real]
    earnings = run(program, history)
    assert amounts(earnings) == amounts(as_closed)
    assert [e.step.state for e in earnings] == [e.step.state for e in as_closed]


@PROPERTY
@given(schedule=SCHEDULES, per_week=st.integers(1, 3), history=histories())
def test_a_legacy_program_earns_what_the_schedule_alone_says(
    schedule: EscalatingSchedule, per_week: int, history: list[tuple[Outcome, int]]
) -> None:
    program = one_target(schedule, per_week, 12, calendar=False)
    steps = replay(program.targets[0].schedule, history, reset_on=program.targets[0].reset_on)
    earnings = run(program, history)
    assert [e.step for e in earnings] == steps
    assert all(e.paid and e.note == "" for e in earnings)


@PROPERTY
@given(
    first=SCHEDULES,
    second=SCHEDULES,
    escalation=st.sampled_from(Escalation),
    history=histories(weeks=8, per_week=2),
)
def test_a_phase_that_restarts_earns_as_a_fresh_participant_would(
    first: EscalatingSchedule,
    second: EscalatingSchedule,
    escalation: Escalation,
    history: list[tuple[Outcome, int]],
) -> None:
    program = program_from_dict(
        {
            "id": "p",
            "name": "P",
            "weeks": 8,
            "targets": [
                {
                    "id": "t",
                    "phases": [
                        {"weeks": [1, 4], "per_week": 2, "schedule": _schedule(first)},
                        {
                            "weeks": [5, 8],
                            "per_week": 2,
                            "escalation": str(escalation),
                            "schedule": _schedule(second),
                        },
                    ],
                }
            ],
        },
        "property",
    )
    later = [(o, w) for o, w in history if w >= 5]
    earnings = run(program, history)[len(history) - len(later) :]
    if escalation is Escalation.RESTART or all(w >= 5 for _, w in history):
        assert amounts(earnings) == amounts(run(program, later))


def _schedule(schedule: EscalatingSchedule) -> dict[str, object]:
    return {"kind": "escalating"} | {
        k: str(v) if isinstance(v, AwardKind | StepBy) else v
        for k, v in attrs.asdict(schedule).items()
        if v is not None
    }


def test_the_readme_example_is_a_valid_phased_program() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### The protocol calendar: phases, owed samples, weeks\n", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    program = program_from_toml(block, "README")
    assert [(p.first, p.last, p.per_week) for p in program.targets[0].phases] == [
        (1, 12, 2),
        (13, 24, 1),
    ]
    # Two tests a week at $10.00 rising $1.50 a week to $26.50, then 12 x $13.50.
    assert maximum_earnings(program).value_cents == 2 * 21_900 + 12 * 1_350
