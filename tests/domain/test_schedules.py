"""The reinforcement schedules of docs/design.md section 3.1, read like the protocol manuals.

The worked examples come first (Higgins vouchers, Petry/VA weekly draws), then the rules
one by one, then Hypothesis properties that state the section's invariants for any schedule
and any outcome history.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import attrs
import hypothesis.strategies as st
from hypothesis import given, settings

from cmrewards.domain.programs import load_preset
from cmrewards.domain.schedules import (
    DEFAULT_RESET_ON,
    AwardKind,
    EscalatingSchedule,
    FixedSchedule,
    Outcome,
    Schedule,
    ScheduleState,
    Step,
    StepBy,
    advance,
    replay,
)

MET = Outcome.MET
NOT_MET = Outcome.NOT_MET
MISSED = Outcome.MISSED
EXCUSED = Outcome.EXCUSED
INVALID = Outcome.INVALID

HIGGINS = EscalatingSchedule(
    award=AwardKind.POINTS, start=10, step=5, bonus=40, bonus_every=3, recovery_after=5
)
"""Budney & Higgins (1998): 10 points, +5 per consecutive negative, +40 every third,
a positive resets to 10, five consecutive negatives restore the pre-reset position."""


def same_week(*outcomes: Outcome, week: int = 1) -> list[tuple[Outcome, int]]:
    return [(outcome, week) for outcome in outcomes]


def paid(steps: Sequence[Step]) -> list[tuple[int, int]]:
    """(base award, bonus) of every step."""
    return [(step.amount, step.bonus) for step in steps]


def draws(steps: Sequence[Step]) -> list[int]:
    return [step.total for step in steps]


# --- the presets' schedules ---------------------------------------------------


def test_higgins_preset_schedule_is_the_manuals() -> None:
    target = load_preset("higgins-vbrt").primary_target

    assert target.schedule == HIGGINS
    assert target.reset_on == frozenset({NOT_MET, MISSED, INVALID})


def test_higgins_published_check_36_negatives_earn_997_dollars_50() -> None:
    program = load_preset("higgins-vbrt")
    schedule = program.primary_target.schedule
    # three samples a week for twelve weeks, every one negative
    history = [(MET, sample // 3 + 1) for sample in range(36)]

    steps = replay(schedule, history)

    # base: 10 + 15 + ... + 185 = 36 * (10 + 185) / 2 = 3510; bonus: 12 * 40 = 480
    assert sum(step.amount for step in steps) == 3510
    assert sum(step.bonus for step in steps) == 480
    assert sum(step.total for step in steps) == 3990
    assert program.point_value_cents == 25
    assert sum(step.total for step in steps) * program.point_value_cents == 99_750  # $997.50
    assert steps[-1].amount == 185
    assert not any(step.reset or step.recovered for step in steps)


def test_higgins_first_ten_negatives() -> None:
    steps = replay(HIGGINS, same_week(*[MET] * 10))

    assert paid(steps) == [
        (10, 0),
        (15, 0),
        (20, 40),
        (25, 0),
        (30, 0),
        (35, 40),
        (40, 0),
        (45, 0),
        (50, 40),
        (55, 0),
    ]
    assert steps[-1].state == ScheduleState(pos=10, run=10, saved=None, last_week=1)


def test_higgins_worked_example_reset_and_recovery() -> None:
    """docs/design.md 3.1: ten negatives earn 10 ... 55; a positive resets; the next four earn
    10, 15, 20+40, 25; the fifth is paid at the pre-reset position, 55, and escalation
    continues from there."""
    history = same_week(*[MET] * 10, NOT_MET, *[MET] * 7)

    steps = replay(HIGGINS, history)
    positive, after = steps[10], steps[11:]

    assert (positive.amount, positive.bonus, positive.reset) == (0, 0, True)
    assert positive.state == ScheduleState(pos=0, run=0, saved=10, last_week=None)
    assert [(s.amount, s.bonus, s.recovered) for s in after] == [
        (10, 0, False),
        (15, 0, False),
        (20, 40, False),  # the bonus counts the new run
        (25, 0, False),
        (55, 0, True),  # fifth consecutive negative: restored to position 10
        (60, 40, False),  # position 11; run 6 earns the bonus
        (65, 0, False),
    ]
    assert after[4].state == ScheduleState(pos=10, run=5, saved=None, last_week=1)
    assert after[-1].state == ScheduleState(pos=12, run=7, saved=None, last_week=1)


def test_a_first_run_is_never_recovered() -> None:
    steps = replay(HIGGINS, same_week(*[MET] * 6))

    assert [s.recovered for s in steps] == [False] * 6
    assert [s.amount for s in steps] == [10, 15, 20, 25, 30, 35]


def test_missed_and_invalid_reset_like_a_positive() -> None:
    for outcome in (NOT_MET, MISSED, INVALID):
        steps = replay(HIGGINS, same_week(MET, MET, outcome, MET))

        assert draws(steps) == [10, 15, 0, 10], outcome
        assert steps[2].reset, outcome


def test_a_second_reset_before_recovery_keeps_the_higher_position() -> None:
    # ten negatives (position 10), positive, three negatives (position 3), positive:
    # saved = max(10, 3) = 10, and five more negatives recover position 10
    history = same_week(*[MET] * 10, NOT_MET, MET, MET, MET, MISSED, *[MET] * 5)

    steps = replay(HIGGINS, history)

    assert steps[10].state.saved == 10
    assert steps[14].state == ScheduleState(pos=0, run=0, saved=10, last_week=None)
    assert [(s.amount, s.recovered) for s in steps[15:]] == [
        (10, False),
        (15, False),
        (20, False),
        (25, False),
        (55, True),
    ]


def test_a_second_reset_saves_the_newer_position_when_it_is_higher() -> None:
    # two negatives (position 2), positive: saved 2; four negatives (position 4),
    # positive: saved = max(2, 4) = 4
    history = same_week(MET, MET, NOT_MET, MET, MET, MET, MET, NOT_MET)

    steps = replay(HIGGINS, history)

    assert steps[2].state.saved == 2
    assert steps[-1].state == ScheduleState(pos=0, run=0, saved=4, last_week=None)


def test_back_to_back_resets_keep_what_was_saved() -> None:
    steps = replay(HIGGINS, same_week(*[MET] * 4, NOT_MET, MISSED, INVALID))

    assert [s.state.saved for s in steps[4:]] == [4, 4, 4]
    assert all(s.reset and s.total == 0 for s in steps[4:])


def test_recovery_after_zero_means_no_recovery() -> None:
    schedule = attrs.evolve(HIGGINS, recovery_after=0)

    steps = replay(schedule, same_week(*[MET] * 10, NOT_MET, *[MET] * 6))

    assert steps[10].state == ScheduleState()
    assert [s.amount for s in steps[11:]] == [10, 15, 20, 25, 30, 35]
    assert not any(s.recovered for s in steps)
    assert all(s.state.saved is None for s in steps)


# --- the parts of an escalating schedule ----------------------------------------


def test_max_caps_one_award_but_not_the_bonus() -> None:
    schedule = EscalatingSchedule(
        award=AwardKind.POINTS, start=10, step=5, max=25, bonus=40, bonus_every=3
    )

    steps = replay(schedule, same_week(*[MET] * 7))

    assert paid(steps) == [(10, 0), (15, 0), (20, 40), (25, 0), (25, 0), (25, 40), (25, 0)]
    # the position keeps counting under the cap
    assert steps[-1].state.pos == 7


def test_step_every_escalates_every_nth_position() -> None:
    schedule = EscalatingSchedule(award=AwardKind.POINTS, start=3, step=1, step_every=2)

    steps = replay(schedule, same_week(*[MET] * 7))

    # positions 1..7: 3 + ((pos - 1) // 2) * 1
    assert [s.amount for s in steps] == [3, 3, 4, 4, 5, 5, 6]


def test_bonus_every_counts_the_run() -> None:
    schedule = EscalatingSchedule(award=AwardKind.POINTS, start=1, bonus=7, bonus_every=2)

    steps = replay(schedule, same_week(MET, MET, MET, NOT_MET, MET, MET, MET, MET))

    assert [s.bonus for s in steps] == [0, 7, 0, 0, 0, 7, 0, 7]
    assert [s.total for s in steps] == [1, 8, 1, 0, 1, 8, 1, 8]


def test_bonus_every_zero_never_pays_a_bonus() -> None:
    schedule = EscalatingSchedule(award=AwardKind.POINTS, start=1, bonus=7, bonus_every=0)

    steps = replay(schedule, same_week(*[MET] * 6))

    assert [s.bonus for s in steps] == [0] * 6


def test_step_zero_pays_start_every_time() -> None:
    schedule = EscalatingSchedule(award=AwardKind.DRAWS, start=2)

    assert draws(replay(schedule, same_week(MET, MET, MET))) == [2, 2, 2]


def test_excused_is_neutral_no_award_no_reset_streak_kept() -> None:
    steps = replay(HIGGINS, same_week(MET, MET, EXCUSED, EXCUSED, MET))

    assert [(s.amount, s.bonus, s.reset) for s in steps] == [
        (10, 0, False),
        (15, 0, False),
        (0, 0, False),
        (0, 0, False),
        (20, 40, False),  # third consecutive negative: the streak survived the excused absences
    ]
    assert steps[2].state == steps[1].state
    assert steps[3].state == steps[1].state


def test_excused_during_recovery_does_not_break_the_recovery_run() -> None:
    history = same_week(*[MET] * 10, NOT_MET, MET, MET, EXCUSED, MET, MET, MET)

    steps = replay(HIGGINS, history)

    assert [(s.amount, s.recovered) for s in steps[11:]] == [
        (10, False),
        (15, False),
        (0, False),
        (20, False),
        (25, False),
        (55, True),
    ]


def test_a_custom_reset_on_where_missed_does_not_reset() -> None:
    reset_on = frozenset({NOT_MET, INVALID})

    steps = replay(HIGGINS, same_week(MET, MET, MISSED, MET, NOT_MET, MET), reset_on=reset_on)

    assert paid(steps) == [(10, 0), (15, 0), (0, 0), (20, 40), (0, 0), (10, 0)]
    assert [s.reset for s in steps] == [False, False, False, False, True, False]
    assert steps[2].state == steps[1].state


def test_a_custom_reset_on_can_make_excused_reset() -> None:
    reset_on = frozenset({NOT_MET, MISSED, INVALID, EXCUSED})

    steps = replay(HIGGINS, same_week(MET, MET, EXCUSED, MET), reset_on=reset_on)

    assert draws(steps) == [10, 15, 0, 10]
    assert steps[2].reset


def test_an_empty_reset_on_never_resets() -> None:
    steps = replay(HIGGINS, same_week(MET, NOT_MET, MISSED, INVALID, MET), reset_on=frozenset())

    assert draws(steps) == [10, 0, 0, 0, 15]
    assert not any(s.reset for s in steps)


def test_advance_defaults_to_the_standard_reset_on_and_week_one() -> None:
    state = advance(HIGGINS, ScheduleState(), MET).state

    assert state == ScheduleState(pos=1, run=1, saved=None, last_week=1)
    assert advance(HIGGINS, state, MISSED).reset
    assert frozenset({NOT_MET, MISSED, INVALID}) == DEFAULT_RESET_ON


# --- weekly escalation (Petry fishbowl, VA) ---------------------------------------


VA = EscalatingSchedule(award=AwardKind.DRAWS, start=1, step=1, step_by=StepBy.WEEK, max=8)
"""One draw for the first negative, one more for each consecutive week of negatives, up to 8."""


def test_va_preset_schedule() -> None:
    assert load_preset("va-prize-cm").primary_target.schedule == VA


def test_weekly_escalation_two_samples_a_week_capped_at_max() -> None:
    history = [(MET, sample // 2 + 1) for sample in range(24)]

    steps = replay(VA, history)

    # weeks 1..12, two samples each: 1,1,2,2,...,8,8 then 8 for weeks 9-12
    assert draws(steps) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8] + [8] * 8
    assert steps[-1].state == ScheduleState(pos=12, run=24, saved=None, last_week=12)


def test_weekly_escalation_petry_max_12() -> None:
    schedule = load_preset("petry-fishbowl").primary_target.schedule
    history = [(MET, sample // 2 + 1) for sample in range(24)]

    assert draws(replay(schedule, history)) == [week for week in range(1, 13) for _ in (1, 2)]


def test_weekly_escalation_advances_on_the_runs_first_met_even_within_a_week() -> None:
    history = [(MET, 1), (MET, 1), (MET, 2), (NOT_MET, 2), (MET, 2), (MET, 3), (MET, 3)]

    steps = replay(VA, history)

    # the reset in week 2 starts a new run; its first met is position 1, the next week 2
    assert draws(steps) == [1, 1, 2, 0, 1, 2, 2]
    assert steps[4].state == ScheduleState(pos=1, run=1, saved=None, last_week=2)


def test_weekly_escalation_advances_one_position_for_any_later_week() -> None:
    # an excused week in between: week 3 is later than the last met's week 1
    history = [(MET, 1), (MET, 1), (EXCUSED, 2), (EXCUSED, 2), (MET, 3), (MET, 5)]

    steps = replay(VA, history)

    assert draws(steps) == [1, 1, 0, 0, 2, 3]
    assert [s.state.last_week for s in steps] == [1, 1, 1, 1, 3, 5]


def test_weekly_escalation_with_recovery() -> None:
    schedule = attrs.evolve(VA, recovery_after=2)
    history = [(MET, w) for w in (1, 1, 2, 2, 3, 3)] + [(NOT_MET, 4), (MET, 4), (MET, 4), (MET, 5)]

    steps = replay(schedule, history)

    # position 3 at the reset; the run's second met (same week) recovers 3; week 5 goes to 4
    assert draws(steps) == [1, 1, 2, 2, 3, 3, 0, 1, 3, 4]
    assert [s.recovered for s in steps[7:]] == [False, True, False]


# --- fixed schedules ---------------------------------------------------------------


def test_fixed_schedule_pays_the_amount_for_every_met() -> None:
    schedule = FixedSchedule(award=AwardKind.DRAWS, amount=2)

    steps = replay(schedule, same_week(MET, MET, EXCUSED, NOT_MET, MET, MISSED, MET))

    assert paid(steps) == [(2, 0), (2, 0), (0, 0), (0, 0), (2, 0), (0, 0), (2, 0)]
    assert [s.reset for s in steps] == [False, False, False, True, False, True, False]
    assert [s.state.run for s in steps] == [1, 2, 2, 0, 1, 0, 1]
    assert not any(s.recovered for s in steps)


def test_fixed_schedule_amount_does_not_depend_on_position() -> None:
    schedule = FixedSchedule(award=AwardKind.POINTS, amount=5)

    assert [schedule.amount_at(pos) for pos in (1, 2, 10, 100)] == [5, 5, 5, 5]


def test_escalating_amount_at() -> None:
    assert [HIGGINS.amount_at(pos) for pos in (1, 2, 3, 10)] == [10, 15, 20, 55]
    assert [VA.amount_at(pos) for pos in (1, 8, 9, 50)] == [1, 8, 8, 8]


def test_step_total_is_amount_plus_bonus() -> None:
    assert Step(state=ScheduleState(), amount=20, bonus=40).total == 60
    assert Step(state=ScheduleState()).total == 0


# --- ScheduleState ------------------------------------------------------------------


def test_schedule_state_starts_empty() -> None:
    assert ScheduleState() == ScheduleState(pos=0, run=0, saved=None, last_week=None)
    assert ScheduleState().to_dict() == {"pos": 0, "run": 0, "saved": None, "last_week": None}


def test_schedule_state_to_dict() -> None:
    state = ScheduleState(pos=4, run=2, saved=10, last_week=3)

    assert state.to_dict() == {"pos": 4, "run": 2, "saved": 10, "last_week": 3}
    assert ScheduleState.from_dict(state.to_dict()) == state


def test_schedule_state_from_dict_without_optional_keys() -> None:
    assert ScheduleState.from_dict({"pos": 3, "run": 3}) == ScheduleState(pos=3, run=3)


# --- properties of docs/design.md section 3.1 ---------------------------------------------

RESETTABLE = [NOT_MET, MISSED, INVALID, EXCUSED]


@st.composite
def escalating_schedules(draw: st.DrawFn) -> EscalatingSchedule:
    start = draw(st.integers(1, 50))
    bonus = draw(st.integers(0, 50))
    return EscalatingSchedule(
        award=draw(st.sampled_from(AwardKind)),
        start=start,
        step=draw(st.integers(0, 20)),
        step_by=draw(st.sampled_from(StepBy)),
        step_every=draw(st.integers(1, 4)),
        max=draw(st.none() | st.integers(start, start + 100)),
        bonus=bonus,
        bonus_every=draw(st.integers(1, 5) if bonus else st.integers(0, 5)),
        recovery_after=draw(st.integers(0, 6)),
    )


fixed_schedules = st.builds(
    FixedSchedule, award=st.sampled_from(AwardKind), amount=st.integers(1, 50)
)
schedules: st.SearchStrategy[Schedule] = escalating_schedules() | fixed_schedules
reset_ons = st.frozensets(st.sampled_from(RESETTABLE))


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[Outcome, int]]:
    """Outcomes in time order, each with a program week that never goes back."""
    raw = draw(
        st.lists(
            st.tuples(st.sampled_from([MET, MET, MET, *RESETTABLE]), st.integers(0, 2)),
            max_size=40,
        )
    )
    week, history = 1, []
    for outcome, weeks_later in raw:
        week += weeks_later
        history.append((outcome, week))
    return history


def states_before(steps: Sequence[Step]) -> list[ScheduleState]:
    """The state each step started from."""
    return [ScheduleState(), *(step.state for step in steps)][: len(steps)]


@settings(max_examples=60)
@given(schedule=schedules, history=histories(), reset_on=reset_ons)
def test_replay_is_deterministic_and_equals_advance_step_by_step(
    schedule: Schedule, history: list[tuple[Outcome, int]], reset_on: frozenset[Outcome]
) -> None:
    steps = replay(schedule, history, reset_on=reset_on)

    state = ScheduleState()
    by_hand = []
    for outcome, week in history:
        step = advance(schedule, state, outcome, reset_on=reset_on, week=week)
        by_hand.append(step)
        state = step.state
    assert steps == by_hand
    assert replay(schedule, history, reset_on=reset_on) == steps
    # the state after a prefix depends on that prefix alone
    half = len(history) // 2
    assert replay(schedule, history[:half], reset_on=reset_on) == steps[:half]


@settings(max_examples=60)
@given(schedule=escalating_schedules(), history=histories())
def test_an_award_never_exceeds_max_plus_the_bonus_when_due(
    schedule: EscalatingSchedule, history: list[tuple[Outcome, int]]
) -> None:
    steps = replay(schedule, history)

    for (outcome, _), step in zip(history, steps, strict=True):
        if outcome is not MET:
            assert (step.amount, step.bonus) == (0, 0)
            continue
        due = schedule.bonus_every > 0 and step.state.run % schedule.bonus_every == 0
        assert step.bonus == (schedule.bonus if due else 0)
        assert schedule.start <= step.amount
        if schedule.max is not None:
            assert step.amount <= schedule.max
            assert step.total <= schedule.max + (schedule.bonus if due else 0)
        assert step.amount == schedule.amount_at(step.state.pos)


@settings(max_examples=60)
@given(schedule=schedules, history=histories(), reset_on=reset_ons)
def test_after_any_reset_outcome_run_and_pos_are_zero(
    schedule: Schedule, history: list[tuple[Outcome, int]], reset_on: frozenset[Outcome]
) -> None:
    steps = replay(schedule, history, reset_on=reset_on)

    for (outcome, _), step in zip(history, steps, strict=True):
        if outcome in reset_on:
            assert step.reset
            assert (step.state.run, step.state.pos, step.total) == (0, 0, 0)
        else:
            assert not step.reset


@settings(max_examples=60)
@given(schedule=escalating_schedules(), history=histories())
def test_a_reset_saves_the_highest_position_since_the_last_recovery(
    schedule: EscalatingSchedule, history: list[tuple[Outcome, int]]
) -> None:
    steps = replay(schedule, history)

    for (outcome, _), before, step in zip(history, states_before(steps), steps, strict=True):
        if outcome not in DEFAULT_RESET_ON:
            continue
        expected: int | None
        if schedule.recovery_after and before.pos > 0:
            expected = max(before.saved or 0, before.pos)
        else:
            expected = before.saved
        assert step.state == ScheduleState(pos=0, run=0, saved=expected, last_week=None)


@settings(max_examples=60)
@given(schedule=schedules, history=histories())
def test_excused_never_changes_state(
    schedule: Schedule, history: list[tuple[Outcome, int]]
) -> None:
    steps = replay(schedule, history)

    for (outcome, _), before, step in zip(history, states_before(steps), steps, strict=True):
        if outcome is EXCUSED:
            assert step == Step(state=before)


@settings(max_examples=60)
@given(schedule=escalating_schedules(), history=histories(), reset_on=reset_ons)
def test_a_met_right_after_a_reset_pays_start_unless_recovery_applies(
    schedule: EscalatingSchedule,
    history: list[tuple[Outcome, int]],
    reset_on: frozenset[Outcome],
) -> None:
    steps = replay(schedule, history, reset_on=reset_on)

    for (outcome, _), before, step in zip(history, states_before(steps), steps, strict=True):
        if outcome is not MET or before.run != 0:
            continue
        if schedule.recovery_after == 1 and before.saved is not None:
            # The saved level is restored; it counts as a recovery only if it is above 1.
            assert step.recovered == (before.saved > 1)
            assert step.state.pos == before.saved
            assert step.amount == schedule.amount_at(before.saved)
        else:
            assert not step.recovered
            assert step.amount == schedule.start
            assert step.state.pos == 1


@settings(max_examples=60)
@given(schedule=escalating_schedules(), history=histories())
def test_recovery_happens_only_at_run_recovery_after_and_only_once(
    schedule: EscalatingSchedule, history: list[tuple[Outcome, int]]
) -> None:
    steps = replay(schedule, history)

    for before, step in zip(states_before(steps), steps, strict=True):
        if step.recovered:
            assert before.saved is not None
            assert step.state.run == schedule.recovery_after
            assert step.state.saved is None
            assert step.state.pos == before.saved
            # A recovery restores a level above the one the run had climbed to.
            assert before.saved > before.pos
        if schedule.recovery_after == 0:
            assert step.state.saved is None
            assert not step.recovered


@settings(max_examples=50)
@given(
    state=st.builds(
        ScheduleState,
        pos=st.integers(0, 10**6),
        run=st.integers(0, 10**6),
        saved=st.none() | st.integers(1, 10**6),
        last_week=st.none() | st.integers(1, 10**4),
    )
)
def test_schedule_state_round_trips_through_dict_and_json(state: ScheduleState) -> None:
    assert ScheduleState.from_dict(state.to_dict()) == state
    assert ScheduleState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
