"""Reinforcement schedules: what one verified outcome earns, and the state it leaves.

Pure functions over frozen values, written to read like the protocol manuals
(docs/design.md section 3.1). The state is a function of the outcome history alone,
so ``replay`` must reproduce what the clinic recorded, step by step.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import attrs


class Outcome(enum.StrEnum):
    """The result of one scheduled opportunity for one target."""

    MET = "met"
    """Negative sample, attended, taken: the behaviour was verified."""
    NOT_MET = "not_met"
    """Positive sample."""
    MISSED = "missed"
    """No sample or no-show; counts as positive in every published protocol."""
    EXCUSED = "excused"
    """Excused absence: neutral, no award, no reset, streak kept."""
    INVALID = "invalid"
    """Dilute, substituted or tampered sample."""


DEFAULT_RESET_ON: frozenset[Outcome] = frozenset({Outcome.NOT_MET, Outcome.MISSED, Outcome.INVALID})


class AwardKind(enum.StrEnum):
    """What a schedule pays: points (vouchers, worth ``point_value_cents`` each) or draws
    from the program's prize bowl."""

    POINTS = "points"
    DRAWS = "draws"


class StepBy(enum.StrEnum):
    """When an escalating schedule steps up (docs/design.md section 3.1)."""

    OPPORTUNITY = "opportunity"
    """Escalate with every consecutive ``met``."""
    WEEK = "week"
    """Escalate once per consecutive program week with a ``met``."""


@attrs.frozen
class FixedSchedule:
    """The same award for every ``met``."""

    award: AwardKind
    """Whether ``amount`` counts points or prize-bowl draws."""
    amount: int
    """Paid for each ``met``."""

    kind = "fixed"
    __json_extra__ = ("kind",)  # which schedule, for readers of the JSON form

    def amount_at(self, position: int) -> int:
        return self.amount


@attrs.frozen
class EscalatingSchedule:
    """An award that grows with consecutive successes and resets on a miss."""

    award: AwardKind
    start: int
    """Paid at position 1, the first ``met`` of a run."""
    step: int = 0
    """Added for every ``step_every`` positions."""
    step_by: StepBy = StepBy.OPPORTUNITY
    step_every: int = 1
    max: int | None = None
    """Cap on one award, before the bonus."""
    bonus: int = 0
    bonus_every: int = 0
    """``bonus`` is added when this many consecutive ``met`` divide the run; 0 = never."""
    recovery_after: int = 0
    """After a reset, this many consecutive ``met`` restore the pre-reset position; 0 = never."""

    kind = "escalating"
    __json_extra__ = ("kind",)

    def amount_at(self, position: int) -> int:
        """The base award at ``position`` (1 = first ``met`` of a run)."""
        amount = self.start + ((position - 1) // self.step_every) * self.step
        return amount if self.max is None else min(amount, self.max)


Schedule = FixedSchedule | EscalatingSchedule


@attrs.frozen
class ScheduleState:
    """Where a participant stands on one target's schedule."""

    pos: int = 0
    """Position of the last award; 0 = none since the start or the last reset."""
    run: int = 0
    """Consecutive ``met`` since the start or the last reset."""
    saved: int | None = None
    """Position held at the last reset, waiting for ``recovery_after``."""
    last_week: int | None = None
    """Program week of the run's last ``met`` (weekly escalation)."""

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleState:
        return cls(
            pos=int(data["pos"]),
            run=int(data["run"]),
            saved=None if data.get("saved") is None else int(data["saved"]),
            last_week=None if data.get("last_week") is None else int(data["last_week"]),
        )


@attrs.frozen
class Step:
    """What one outcome did to a schedule."""

    state: ScheduleState
    """The state after the outcome."""
    amount: int = 0
    """Base award, in the schedule's unit (points or draws)."""
    bonus: int = 0
    """Bonus on top of ``amount``, same unit."""
    reset: bool = False
    recovered: bool = False
    """This award was paid at the restored pre-reset position."""

    @property
    def total(self) -> int:
        return self.amount + self.bonus


def advance(
    schedule: Schedule,
    state: ScheduleState,
    outcome: Outcome,
    *,
    reset_on: frozenset[Outcome] = DEFAULT_RESET_ON,
    week: int = 1,
) -> Step:
    """Apply one outcome to a schedule (docs/design.md section 3.1)."""
    if outcome is Outcome.MET:
        return _on_met(schedule, state, week)
    if outcome in reset_on:
        return _on_reset(schedule, state)
    return Step(state=state)


def _on_met(schedule: Schedule, state: ScheduleState, week: int) -> Step:
    run = state.run + 1
    if isinstance(schedule, FixedSchedule):
        return Step(state=attrs.evolve(state, pos=run, run=run), amount=schedule.amount)
    escalates = (
        schedule.step_by is StepBy.OPPORTUNITY
        or run == 1
        or state.last_week is None
        or week > state.last_week
    )
    pos = state.pos + 1 if escalates else state.pos
    saved = state.saved
    recovered = False
    if saved is not None and run == schedule.recovery_after:
        # Recovered only when the held level is above where the run has climbed to.
        recovered = saved > pos
        pos, saved = max(pos, saved), None
    bonus = schedule.bonus if schedule.bonus_every and run % schedule.bonus_every == 0 else 0
    new_state = ScheduleState(pos=pos, run=run, saved=saved, last_week=week)
    return Step(state=new_state, amount=schedule.amount_at(pos), bonus=bonus, recovered=recovered)


def _on_reset(schedule: Schedule, state: ScheduleState) -> Step:
    saved = state.saved
    if isinstance(schedule, EscalatingSchedule) and schedule.recovery_after and state.pos > 0:
        saved = max(saved or 0, state.pos)
    return Step(state=ScheduleState(saved=saved), reset=True)


def replay(
    schedule: Schedule,
    history: Iterable[tuple[Outcome, int]],
    *,
    reset_on: frozenset[Outcome] = DEFAULT_RESET_ON,
) -> list[Step]:
    """Every step of an outcome history of ``(outcome, program week)`` pairs, in order."""
    state = ScheduleState()
    steps = []
    for outcome, week in history:
        step = advance(schedule, state, outcome, reset_on=reset_on, week=week)
        steps.append(step)
        state = step.state
    return steps
