"""``preview_target``'s sentence: a restore only when there is a higher level to restore,
and amounts as staff read them (docs/design.md section 3)."""

from __future__ import annotations

import attrs

import cmrewards
from cmrewards.domain.schedules import EscalatingSchedule, ScheduleState
from cmrewards.views.preview import preview_target

HIGGINS = cmrewards.load_preset("higgins-vbrt")
TARGET = HIGGINS.targets[0]


def test_a_saved_level_above_the_climb_is_restored() -> None:
    # Reset from level 9: five in a row climb to level 5 at most, the restore gives 9.
    seen = preview_target(HIGGINS, TARGET, ScheduleState(saved=9), 2)
    assert seen.recovery_in == 5
    assert "5 more in a row restore the earlier level" in seen.sentence


def test_a_saved_level_the_run_reaches_anyway_is_not_promised() -> None:
    # Reset from level 1: the run passes it by itself, so nothing is restored.
    seen = preview_target(HIGGINS, TARGET, ScheduleState(saved=1), 2)
    assert seen.recovery_in is None
    assert "restore" not in seen.sentence


def test_amounts_have_thousands_separators() -> None:
    costly = attrs.evolve(HIGGINS, point_value_cents=1)
    assert isinstance(TARGET.schedule, EscalatingSchedule)
    big = attrs.evolve(TARGET, schedule=attrs.evolve(TARGET.schedule, start=1000, bonus=1500))
    seen = preview_target(costly, big, ScheduleState(pos=1, run=2), 1)
    assert "it pays 2,505 points ($25.05), including a 1,500-point bonus" in seen.sentence
