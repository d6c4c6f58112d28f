"""The protocol calendar: phases by program week, the samples each week owes, week spans.

A CM protocol is a calendar (docs/design.md section 3.8): each target owes so many
samples a week, for so many weeks, in phases that may each have their own schedule.
This module answers what the calendar says about one target and one program week;
``earning.py`` applies it to one outcome. It reads programs through two small
Protocols so that ``programs.py`` (which defines ``Target`` and ``Program``) can use it.

Programs stored before the calendar existed have ``calendar = false`` and keep their
legacy rules: every sample pays, whatever its week (docs/decisions.md "The calendar").
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from typing import Protocol

import attrs

from .clock import program_week
from .schedules import EscalatingSchedule, Outcome, Schedule, ScheduleState, StepBy

__all__ = [
    "FIRST_RESULT",
    "Attendance",
    "Escalation",
    "ExtraSamples",
    "Phase",
    "broken_weeks",
    "enter_phase",
    "last_paid_week",
    "owed",
    "phase_at",
    "phases_of",
    "program_week",
    "week_span",
    "weeks_of",
]


class Escalation(enum.StrEnum):
    """How a phase's schedule begins."""

    CARRY = "carry"
    """The schedule state of the phase before carries in (position, run, saved level)."""
    RESTART = "restart"
    """The phase starts at position 0 with no saved (recovery) level."""


class ExtraSamples(enum.StrEnum):
    """What a sample beyond the week's owed ones does."""

    IGNORE = "ignore"
    """Recorded and shown as extra; it neither pays nor moves the schedule."""
    COUNT = "count"
    """Every sample pays and moves the schedule (the rule before the calendar)."""


@attrs.frozen
class Phase:
    """Program weeks ``first``..``last`` (inclusive, 1-based) of one target's calendar."""

    first: int
    last: int
    per_week: int
    """Samples each week of the phase owes."""
    schedule: Schedule
    escalation: Escalation = Escalation.CARRY

    @property
    def weeks(self) -> int:
        return self.last - self.first + 1

    def holds(self, week: int) -> bool:
        return self.first <= week <= self.last


class Calendared(Protocol):
    """What the calendar reads of a program (``programs.Program``)."""

    @property
    def calendar(self) -> bool: ...
    @property
    def weeks(self) -> int: ...


class Phased(Protocol):
    """What the calendar reads of a target (``programs.Target``)."""

    @property
    def schedule(self) -> Schedule: ...
    @property
    def per_week(self) -> int: ...
    @property
    def phases(self) -> tuple[Phase, ...]: ...


def phases_of(program: Calendared, target: Phased) -> tuple[Phase, ...]:
    """The target's phases in week order: its ``[[targets.phases]]``, else one phase of its
    ``schedule`` and ``per_week`` over weeks 1..``program.weeks``."""
    if target.phases:
        return target.phases
    return (Phase(1, program.weeks, target.per_week, target.schedule),)


def phase_at(program: Calendared, target: Phased, week: int) -> Phase | None:
    """The phase that holds program ``week``; None before week 1 and after the last phase."""
    if not target.phases:  # its one phase, built only when it holds the week
        return phases_of(program, target)[0] if 1 <= week <= program.weeks else None
    for phase in target.phases:
        if phase.holds(week):
            return phase
    return None


def last_paid_week(program: Calendared, target: Phased) -> int:
    """The last program week in which the target's results can pay."""
    return target.phases[-1].last if target.phases else program.weeks


def owed(program: Calendared, target: Phased, week: int) -> int:
    """Samples program ``week`` owes for the target: its phase's ``per_week``, 0 outside
    every phase. A legacy program (``calendar = false``) owes ``target.per_week`` in weeks
    1..``program.weeks`` (it never enforces it)."""
    if not program.calendar:
        return target.per_week if 1 <= week <= program.weeks else 0
    phase = phase_at(program, target, week)
    return 0 if phase is None else phase.per_week


def week_span(start: dt.date, week: int) -> tuple[dt.date, dt.date]:
    """First and last local day of program ``week`` of an enrolment starting on ``start``:
    days ``start + 7(week - 1)`` .. ``start + 7 week - 1``, as ``clock.program_week`` counts."""
    first = start + dt.timedelta(days=7 * (week - 1))
    return first, first + dt.timedelta(days=6)


def weeks_of(program: Calendared, target: Phased) -> Iterable[tuple[int, Phase]]:
    """Every paid program week of the target with its phase, in order."""
    for phase in phases_of(program, target):
        for week in range(phase.first, phase.last + 1):
            yield week, phase


def enter_phase(
    program: Calendared,
    target: Phased,
    state: ScheduleState,
    previous: int | None,
    week: int,
) -> ScheduleState:
    """The schedule state a result in program ``week`` starts from, when the target's
    previous result fell in week ``previous`` (None: it has none): a fresh state when
    ``week`` opens a phase that restarts, else ``state`` as it is."""
    if previous is None:
        return state
    phase = phase_at(program, target, week)
    if phase is None or phase.escalation is Escalation.CARRY or phase.holds(previous):
        return state
    return ScheduleState()


def steps_by_week(phase: Phase) -> bool:
    schedule = phase.schedule
    return isinstance(schedule, EscalatingSchedule) and schedule.step_by is StepBy.WEEK


# --- what a target's earlier results say about the weeks ---------------------------

KEEPS_THE_WEEK = frozenset({Outcome.MET, Outcome.EXCUSED})
"""A week with one of these for the target does not break a weekly run."""


@attrs.frozen
class Attendance:
    """What a target's effective results before one outcome say about the calendar: the
    week of the previous one, how many fell in that week, and the weeks that had a ``met``
    or an ``excused`` result. The replay folds ``after`` over every result; the in-order
    fast path folds it over the few results since the weeks it needs (``since_week``)."""

    week: int | None = None
    """Program week of the target's previous result; None before its first."""
    count: int = 0
    """The target's results in ``week``."""
    kept: frozenset[int] = frozenset()
    """Program weeks with a ``met`` or an ``excused`` result of the target."""

    def after(self, outcome: Outcome, week: int) -> Attendance:
        """The attendance once a result of ``outcome`` in program ``week`` is counted."""
        count = self.count + 1 if week == self.week else 1
        kept = self.kept
        if outcome in KEEPS_THE_WEEK and week not in kept:  # not copied for each result
            kept = kept | {week}
        return Attendance(week=week, count=count, kept=kept)

    def in_week(self, week: int) -> int:
        """The target's results earlier in program ``week``."""
        return self.count if week == self.week else 0

    @classmethod
    def of(cls, results: Sequence[tuple[Outcome, int]], before: Attendance) -> Attendance:
        """``before`` followed by ``results`` (``(outcome, program week)`` in clinical order)."""
        attendance = before
        for outcome, week in results:
            attendance = attendance.after(outcome, week)
        return attendance


FIRST_RESULT = Attendance()
"""The attendance before a target's first result."""


def broken_weeks(
    program: Calendared, target: Phased, attendance: Attendance, since: int, week: int
) -> list[int]:
    """The weeks strictly between ``since`` (the week of the run's last ``met``) and ``week``
    that break a weekly run: in a phase that steps by week, owing samples, and without a
    ``met`` or an ``excused`` result (docs/design.md section 3.8, rule 5)."""
    broken = []
    for between in range(since + 1, week):
        phase = phase_at(program, target, between)
        if phase is not None and steps_by_week(phase) and between not in attendance.kept:
            broken.append(between)
    return broken
