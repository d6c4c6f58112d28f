"""``preview``: what each target pays next, in the sentence a counsellor reads aloud."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import attrs

from ..domain.calendar import FIRST_RESULT, Attendance, phase_at
from ..domain.caps import cap_period, next_cap_period_start, pay_within_cap, period_label
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
    """Why nothing more is paid (after the target's last paid week, or the cap reached);
    empty otherwise."""
    capped: bool = False
    """The cap cut ``next_amount`` (and its value) to what is left of it this period."""


@attrs.frozen
class CapRoom:
    """What is left of a participant's cap in the period ``now`` falls in."""

    remaining_cents: int
    period: str
    """As staff read it: ``2027`` or ``enrolment year 2`` (``period_label``)."""
    renews: dt.date
    """The first day of the next period, in the program's zone."""


def cap_room(
    program: Program, cap_start: dt.date, now: dt.datetime, remaining_cents: int | None
) -> CapRoom | None:
    """The cap room for previews, from ``Balance.cap_remaining_cents`` (None: no cap)."""
    if remaining_cents is None or program.cap_cents is None:
        return None
    return CapRoom(
        remaining_cents=remaining_cents,
        period=period_label(cap_period(program, cap_start, now)),
        renews=next_cap_period_start(program, cap_start, now),
    )


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
    cap: CapRoom | None = None,
) -> list[TargetPreview]:
    """Every target's preview at ``now``, from its schedule state (none yet: the start) and
    what its results so far say about the calendar (``attendance``; none: no results),
    each next award cut to what is left of the cap this period (``cap``; none: no cap)."""
    week = current_week(program, start, now)
    known = attendance or {}
    return [
        preview_target(
            program,
            t,
            states.get(t.id) or ScheduleState(),
            week,
            known.get(t.id, FIRST_RESULT),
            cap,
        )
        for t in program.targets
    ]


def preview_target(
    program: Program,
    target: Target,
    state: ScheduleState,
    week: int,
    attendance: Attendance = FIRST_RESULT,
    cap: CapRoom | None = None,
) -> TargetPreview:
    """What the target's next owed sample pays from ``state`` in program ``week``, given what
    its results so far say about the calendar (``attendance``): this week's, or next
    week's once this week's owed samples are in. With ``cap``, points are cut to what fits
    (``pay_within_cap``'s rule) and a draw's prize is said to be limited to what is left."""
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
        needed = max(schedule.recovery_after - state.run, 1)
        # Said only when the run cannot climb to the saved level by itself: each met
        # rises one level at most, so above that a recovery restores something.
        if state.saved > state.pos + needed:
            recovery_in = needed
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
    if cap is None or value <= cap.remaining_cents:
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
    return _capped(program, target, state, nxt.points + nxt.draws, nxt.bonus_points, value, cap,
                   after_reset, recovery_in)  # fmt: skip


def _capped(
    program: Program,
    target: Target,
    state: ScheduleState,
    points: int,
    bonus: int,
    value: int,
    cap: CapRoom,
    after_reset: int,
    recovery_in: int | None,
) -> TargetPreview:
    """The preview of a next award worth ``value`` that the cap's room cuts."""
    unit = target.schedule.award
    left = format_cents(cap.remaining_cents)
    until = f"until {cap.renews.isoformat()}"
    if unit is AwardKind.POINTS:
        paid = pay_within_cap(program, cap.remaining_cents, points, bonus, ())
        amount, paid_bonus, cents = (
            paid.points + paid.bonus_points,
            paid.bonus_points,
            paid.value_cents,
        )
    else:
        # A draw is still drawn; its prize is downgraded to what fits (domain/caps.py).
        amount, paid_bonus, cents = points + bonus, 0, min(value, cap.remaining_cents)
    full = _pays(program, unit, points + bonus, bonus if unit is AwardKind.POINTS else 0)
    if cents == 0:
        clause = (
            f"The cap for {cap.period} is reached: nothing more is paid {until}"
            f" (met next time, it would pay {full})"
        )
        said = _sentence(program, target, state, 0, 0, after_reset, recovery_in, clause)
        unpaid = f"the cap for {cap.period} is reached {until}"
        return TargetPreview(target.id, unit, state.run, 0, 0, 0, after_reset, recovery_in,
                             target.requires, said, unpaid, capped=True)  # fmt: skip
    if unit is AwardKind.POINTS:
        pays = f"{_amount(amount, unit)} ({format_cents(cents)}), cut from {full}"
    else:
        pays = f"{_amount(amount, unit)}, with prizes worth at most {left}"
    clause = f"Met next time, it pays {pays}: the cap for {cap.period} has {left} left {until}"
    said = _sentence(program, target, state, amount, paid_bonus, after_reset, recovery_in, clause)
    return TargetPreview(target.id, unit, state.run, amount, paid_bonus, cents, after_reset,
                         recovery_in, target.requires, said, capped=True)  # fmt: skip


def _value(program: Program, unit: AwardKind, amount: int) -> int:
    if unit is AwardKind.POINTS:
        return amount * program.point_value_cents
    return round(amount * expected_draw_cents(program))


def _pays(program: Program, unit: AwardKind, amount: int, bonus: int) -> str:
    """``1,000 points ($10.00), including a 50-point bonus``; draws at about their value."""
    approx = "about " if unit is AwardKind.DRAWS else ""
    pays = f"{_amount(amount, unit)} ({approx}{format_cents(_value(program, unit, amount))})"
    if bonus:
        pays += f", including a {bonus:,}-{unit[:-1]} bonus"
    return pays


_PLAIN = {"not_met": "positive", "missed": "missed", "invalid": "invalid", "excused": "excused"}


def _amount(amount: int, unit: AwardKind) -> str:
    return f"{amount:,} {unit if amount != 1 else unit[:-1]}"


def _sentence(
    program: Program,
    target: Target,
    state: ScheduleState,
    amount: int,
    bonus: int,
    after_reset: int,
    recovery_in: int | None,
    clause: str | None = None,
) -> str:
    """The counsellor's sentence; ``clause`` replaces "Met next time, it pays ..." (the cap)."""
    unit = target.schedule.award
    streak = f"{state.run} in a row" if state.run else "no current streak"
    said = clause or f"Met next time, it pays {_pays(program, unit, amount, bonus)}"
    parts = [f"{target.id}: {streak}. {said}"]
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
