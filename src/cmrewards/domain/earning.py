"""What one recorded outcome earns under a program: the rules ``record`` and ``verify`` share.

Recording applies them once; ``verify`` replays them over the whole history and
must arrive at the same awards and the same schedule states. ``earn`` is the one
place that applies the protocol calendar (docs/design.md section 3.8) to an outcome.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from .calendar import (
    FIRST_RESULT,
    Attendance,
    ExtraSamples,
    broken_weeks,
    enter_phase,
    last_paid_week,
    phase_at,
)
from .programs import Program, Target
from .programs import value_cents as value_cents  # re-exported: where callers look
from .records import OutcomeRecord
from .schedules import AwardKind, Outcome, Schedule, ScheduleState, Step, advance


class Unpaid(enum.StrEnum):
    """Why an outcome did not pay and left the schedule where it was."""

    REQUIRES = "requires-not-met"
    """A ``met`` whose required targets were not met at the same visit."""
    EXTRA = "extra-sample"
    """A sample beyond the ones its program week owes."""
    OUTSIDE = "outside-the-phases"
    """A result after the target's last paid week (or before week 1)."""


@attrs.frozen
class Earning:
    """The schedule's answer to one outcome, before any cap."""

    step: Step
    paid: bool
    """False when the outcome did not count (``unpaid`` says why): it pays nothing and
    leaves the schedule where it was, like ``excused``."""
    points: int = 0
    bonus_points: int = 0
    draws: int = 0
    unpaid: Unpaid | None = None
    """Why it did not count; None when it did."""
    reason: str = ""
    """``unpaid`` in words, for history and statements ("week 25 is after the program's
    last paid week (24)"); empty when it counted."""
    broken: int | None = None
    """The first week without a ``met`` or ``excused`` that broke a weekly run just
    before this outcome (docs/design.md section 3.8, rule 5); None when none did."""

    @property
    def note(self) -> str:
        """What a statement or a history says beside the outcome: why it did not pay, or
        the empty week that broke the run before it; empty when neither."""
        if self.reason:
            return self.reason
        if self.broken is not None:
            return f"week {self.broken} had no met or excused result: the run started again"
        return ""


def requirements_met(target: Target, visit: Iterable[OutcomeRecord]) -> bool:
    """Every target ``target`` requires has a ``met`` recorded earlier at the same visit."""
    met = {o.target for o in visit if o.outcome is Outcome.MET}
    return all(required in met for required in target.requires)


def earn(
    program: Program,
    target: Target,
    state: ScheduleState,
    outcome: Outcome,
    *,
    week: int,
    attendance: Attendance = FIRST_RESULT,
    visit: Iterable[OutcomeRecord] = (),
    assume_required: bool = False,
) -> Earning:
    """Apply one outcome in program ``week`` to one target's schedule ``state``.

    ``attendance`` is what the target's earlier effective results say about the weeks
    (``calendar.Attendance``). In a calendar program (docs/design.md section 3.8) a result
    outside the target's phases and a sample beyond its week's owed ones do not count; a
    phase that restarts starts from a fresh state; under weekly escalation a week between
    the run's last ``met`` and this result with neither a ``met`` nor an ``excused`` resets
    the run as a ``missed`` would. ``visit`` is what was recorded earlier for the same
    participant at the same clinical time; it decides whether a ``met`` with ``requires``
    pays. ``assume_required`` answers "what if the required targets are met" (previews).
    A legacy program (``calendar = false``) pays every sample on ``target.schedule``.
    Raises nothing: ``target`` must be one of ``program``'s."""
    schedule = target.schedule
    broken = None
    if program.calendar:
        phase = phase_at(program, target, week)
        if phase is None:
            return _unpaid(state, Unpaid.OUTSIDE, _outside(program, target, week))
        state = enter_phase(program, target, state, attendance.week, week)
        counts_extra = target.extra_samples is ExtraSamples.COUNT
        if not counts_extra and attendance.in_week(week) >= phase.per_week:
            owes = f"{phase.per_week} sample{'s' if phase.per_week != 1 else ''}"
            return _unpaid(state, Unpaid.EXTRA, f"extra sample: week {week} owes {owes}")
        state, broken = _break_run(program, target, state, attendance, week)
        schedule = phase.schedule
    required_missing = target.requires and not requirements_met(target, visit)
    if outcome is Outcome.MET and required_missing and not assume_required:
        earning = _unpaid(state, Unpaid.REQUIRES, "required target not met at this visit")
        return attrs.evolve(earning, broken=broken)
    step = advance(schedule, state, outcome, reset_on=target.reset_on, week=week)
    if schedule.award is AwardKind.POINTS:
        return Earning(step, True, points=step.amount, bonus_points=step.bonus, broken=broken)
    return Earning(step=step, paid=True, draws=step.total, broken=broken)


def _unpaid(state: ScheduleState, unpaid: Unpaid, reason: str) -> Earning:
    return Earning(step=Step(state=state), paid=False, unpaid=unpaid, reason=reason)


def _outside(program: Program, target: Target, week: int) -> str:
    if week < 1:
        return f"week {week} is before the program's first week"
    last = last_paid_week(program, target)
    whose = (
        "the program's"
        if all(last_paid_week(program, t) == last for t in program.targets)
        else f"{target.id}'s"
    )
    return f"week {week} is after {whose} last paid week ({last})"


def _break_run(
    program: Program, target: Target, state: ScheduleState, attendance: Attendance, week: int
) -> tuple[ScheduleState, int | None]:
    """``state`` once the first week that broke its weekly run, if any, has reset it as a
    ``missed`` result in that week would have (entering that week's phase first)."""
    if state.last_week is None:
        return state, None
    broken = broken_weeks(program, target, attendance, state.last_week, week)
    if not broken:
        return state, None
    first = broken[0]
    gap_phase = phase_at(program, target, first)
    assert gap_phase is not None  # broken_weeks lists only weeks in a phase
    state = enter_phase(program, target, state, attendance.week, first)
    reset = _reset(gap_phase.schedule, state, target, first)
    if reset == state:
        return state, None  # a program whose ``missed`` does not reset: nothing broke
    return enter_phase(program, target, reset, first, week), first


def _reset(schedule: Schedule, state: ScheduleState, target: Target, week: int) -> ScheduleState:
    return advance(schedule, state, Outcome.MISSED, reset_on=target.reset_on, week=week).state
