"""``preview``: what each target pays next, in the sentence a counsellor reads aloud."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs

from ..domain.calendar import FIRST_RESULT, Attendance, phase_at
from ..domain.clock import program_week
from ..domain.earning import Unpaid, earn
from ..domain.money import format_cents
from ..domain.programs import Program, Target, expected_draw_cents
from ..domain.schedules import AwardKind, EscalatingSchedule, Outcome, ScheduleState


@attrs.frozen
class TargetPreview:
    """One target's standing and what the next opportunity can bring."""

    target: str
    unit: AwardKind
    """``points`` or ``draws``."""
    streak: int
    """Consecutive ``met`` so far."""
    next_amount: int
    """What a ``met`` next pays, bonus included."""
    next_bonus: int
    """The part of ``next_amount`` that is a bonus."""
    next_value_cents: int
    """Its value: points at the point value, draws at the bowl's expected value."""
    after_reset: int
    """What the first ``met`` after a reset pays (the schedule's start)."""
    recovery_in: int | None
    """More consecutive ``met`` needed to restore the pre-reset level, if one is saved."""
    requires: tuple[str, ...]
    sentence: str
    unpaid: str = ""
    """Why nothing more is paid (after the target's last paid week); empty otherwise."""


def current_week(program: Program, start: dt.date, now: dt.datetime) -> int:
    """The program week ``now`` falls in for an enrolment from ``start``; week 1 before
    the first week starts (a future start date)."""
    return max(program_week(start, now, program.timezone), 1)


def previews(
    program: Program,
    start: dt.date,
    states: Mapping[str, ScheduleState | None],
    now: dt.datetime,
    attendance: Mapping[str, Attendance] | None = None,
) -> list[TargetPreview]:
    """Every target's preview at ``now``, from its schedule state (none yet: the start) and
    what its results so far say about the calendar (``attendance``; none: no results)."""
    week = current_week(program, start, now)
    known = attendance or {}
    return [
        preview_target(
            program, t, states.get(t.id) or ScheduleState(), week, known.get(t.id, FIRST_RESULT)
        )
        for t in program.targets
    ]


def preview_target(
    program: Program,
    target: Target,
    state: ScheduleState,
    week: int,
    attendance: Attendance = FIRST_RESULT,
) -> TargetPreview:
    """What the target's next owed sample pays from ``state`` in program ``week``, given what
    its results so far say about the calendar (``attendance``): this week's, or next
    week's once this week's owed samples are in."""
    nxt = earn(program, target, state, Outcome.MET, week=week, attendance=attendance,
               assume_required=True)  # fmt: skip
    if nxt.unpaid is Unpaid.EXTRA:
        week += 1  # this week's owed samples are in: the next one falls next week
        nxt = earn(program, target, state, Outcome.MET, week=week, attendance=attendance,
                   assume_required=True)  # fmt: skip
    phase = phase_at(program, target, week) if program.calendar else None
    schedule = target.schedule if phase is None else phase.schedule
    unit = target.schedule.award
    amount = nxt.points + nxt.bonus_points + nxt.draws
    bonus = nxt.bonus_points if unit is AwardKind.POINTS else nxt.step.bonus
    resetting = sorted(target.reset_on)
    reset = state
    if resetting:
        resets = earn(program, target, state, resetting[0], week=week, attendance=attendance)
        reset = resets.step.state
    restart = earn(program, target, reset, Outcome.MET, week=week, attendance=attendance,
                   assume_required=True)  # fmt: skip
    after_reset = restart.points + restart.bonus_points + restart.draws
    recovery_in = None
    if isinstance(schedule, EscalatingSchedule) and state.saved is not None:
        recovery_in = max(schedule.recovery_after - state.run, 1)
    value = _value(program, unit, amount)
    if nxt.unpaid is Unpaid.OUTSIDE:
        return TargetPreview(
            target=target.id,
            unit=unit,
            streak=state.run,
            next_amount=0,
            next_bonus=0,
            next_value_cents=0,
            after_reset=0,
            recovery_in=None,
            requires=target.requires,
            sentence=f"{target.id}: {nxt.reason}; results are recorded and not paid.",
            unpaid=nxt.reason,
        )
    return TargetPreview(
        target=target.id,
        unit=unit,
        streak=state.run,
        next_amount=amount,
        next_bonus=bonus,
        next_value_cents=value,
        after_reset=after_reset,
        recovery_in=recovery_in,
        requires=target.requires,
        sentence=_sentence(program, target, state, amount, bonus, after_reset, recovery_in),
    )


def _value(program: Program, unit: AwardKind, amount: int) -> int:
    if unit is AwardKind.POINTS:
        return amount * program.point_value_cents
    return round(amount * expected_draw_cents(program))


_PLAIN = {"not_met": "positive", "missed": "missed", "invalid": "invalid", "excused": "excused"}


def _amount(amount: int, unit: AwardKind) -> str:
    return f"{amount} {unit if amount != 1 else unit[:-1]}"


def _sentence(
    program: Program,
    target: Target,
    state: ScheduleState,
    amount: int,
    bonus: int,
    after_reset: int,
    recovery_in: int | None,
) -> str:
    unit = target.schedule.award
    streak = f"{state.run} in a row" if state.run else "no current streak"
    worth = format_cents(_value(program, unit, amount))
    approx = "about " if unit is AwardKind.DRAWS else ""
    pays = f"{_amount(amount, unit)} ({approx}{worth})"
    if bonus:
        pays += f", including a {bonus}-{unit[:-1]} bonus"
    parts = [f"{target.id}: {streak}. Met next time, it pays {pays}"]
    if target.requires:
        parts[0] += f" (when {', '.join(target.requires)} is met at the same visit)"
    if target.reset_on:
        words = [
            _PLAIN[o] for o in ("not_met", "missed", "invalid", "excused") if o in target.reset_on
        ]
        resets = ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]
        parts.append(f"A {resets} result resets it to {_amount(after_reset, unit)}")
    if recovery_in is not None:
        parts.append(f"{recovery_in} more in a row restore the earlier level")
    return ". ".join(parts) + "."
