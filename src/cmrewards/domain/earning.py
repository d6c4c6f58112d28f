"""What one recorded outcome earns under a program: the rules ``record`` and ``verify`` share.

Recording applies them once; ``verify`` replays them over the whole history and
must arrive at the same awards and the same schedule states.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .programs import Program, Target
from .records import OutcomeRecord
from .schedules import AwardKind, Outcome, ScheduleState, Step, advance


@attrs.frozen
class Earning:
    """The schedule's answer to one outcome, before any cap."""

    step: Step
    paid: bool
    """False when a ``met`` did not count because a required target was not met at the visit."""
    points: int = 0
    bonus_points: int = 0
    draws: int = 0


def requirements_met(target: Target, visit: Iterable[OutcomeRecord]) -> bool:
    """Every target ``target`` requires has a ``met`` recorded earlier at the same visit."""
    met = {o.target for o in visit if o.outcome is Outcome.MET}
    return all(required in met for required in target.requires)


def earn(
    target: Target,
    state: ScheduleState,
    outcome: Outcome,
    *,
    week: int,
    visit: Iterable[OutcomeRecord] = (),
    assume_required: bool = False,
) -> Earning:
    """Apply one outcome to one target's schedule.

    ``visit`` is what was recorded earlier for the same participant at the same
    clinical time; it decides whether a ``met`` with ``requires`` pays. A ``met``
    that does not pay leaves the schedule where it was (neutral, like ``excused``).
    ``assume_required`` answers "what if the required targets are met" (previews).
    """
    required_missing = target.requires and not requirements_met(target, visit)
    if outcome is Outcome.MET and required_missing and not assume_required:
        return Earning(step=Step(state=state), paid=False)
    step = advance(target.schedule, state, outcome, reset_on=target.reset_on, week=week)
    if target.schedule.award is AwardKind.POINTS:
        return Earning(step=step, paid=True, points=step.amount, bonus_points=step.bonus)
    return Earning(step=step, paid=True, draws=step.total)


def value_cents(program: Program, points: int) -> int:
    return points * program.point_value_cents
