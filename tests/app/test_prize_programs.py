"""The prize-bowl presets against their published protocols (docs/design.md sections 3.1 and 3.2).

``petry-fishbowl``: 1 draw for a stimulant-negative sample, one more for each consecutive
week of negatives (two samples a week), at most 12; a positive or an unexcused absence
resets to 1; 2 more draws when the secondary substance is also negative, paid only with a
negative primary sample recorded first at the same visit. ``va-prize-cm``: the same weekly
escalation, stimulant target only, at most 8 draws. Both use the classic 500-slip bowl.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import re
from fractions import Fraction

import pytest
from click.testing import CliRunner, Result

import cmrewards
from cmrewards import Clinic, RecordResult
from cmrewards.cli import cli
from cmrewards.domain.programs import expected_draw_cents, maximum_earnings
from support.clinics import START, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"
SECONDARY = "secondary-negative"
BOWL_VALUES = {"good-job": 0, "small": 100, "large": 2000, "jumbo": 10000}


def sample_day(index: int) -> int:
    """Sample ``index`` (0-based) of a twice-weekly schedule: Mondays and Thursdays."""
    return (index // 2) * 7 + (index % 2) * 3


def enrol(clinic: Clinic, preset: str, participant: str = "P001") -> None:
    if preset not in {p.id for p in clinic.programs()}:
        clinic.add_program(cmrewards.load_preset(preset), actor=ADMIN)
    clinic.enroll(participant, preset, start=START, actor=ADMIN)


def record(
    clinic: Clinic, target: str, outcome: str, at: dt.datetime, participant: str = "P001"
) -> RecordResult:
    return clinic.record(participant, target, outcome, at=at, actor=ADMIN)


def check_prizes(result: RecordResult) -> None:
    """Every slip is listed; every winning slip (and only those) created a prize."""
    award = result.award
    assert len(award.slips) == award.draws
    assert set(award.slips) <= set(BOWL_VALUES)
    winners = [slip for slip in award.slips if BOWL_VALUES[slip] > 0]
    assert [p.category for p in result.prizes] == winners
    assert [p.value_cents for p in result.prizes] == [BOWL_VALUES[s] for s in winners]
    assert award.value_cents == sum(BOWL_VALUES[s] for s in award.slips)
    assert award.points == 0
    assert award.bonus_points == 0


# --- twelve weeks of negatives ----------------------------------------------------------


def test_petry_twelve_weeks_of_negatives(any_clinic: Clinic) -> None:
    enrol(any_clinic, "petry-fishbowl")
    primary: list[int] = []
    secondary: list[int] = []
    for index in range(24):
        at = visit(sample_day(index))
        first = record(any_clinic, STIM, "met", at)
        second = record(any_clinic, SECONDARY, "met", at)
        for result in (first, second):
            check_prizes(result)
            assert result.award.paid
            assert not result.award.reset
        primary.append(first.award.draws)
        secondary.append(second.award.draws)

    assert primary == [week for week in range(1, 13) for _ in range(2)]
    assert secondary == [2] * 24
    program = any_clinic.program("petry-fishbowl")
    assert sum(primary) + sum(secondary) == maximum_earnings(program).draws == 204
    report = any_clinic.verify()
    assert report.ok, report.problems
    assert report.outcomes == 48


def test_petry_escalation_stops_at_12_draws(any_clinic: Clinic) -> None:
    # The preset's 12 weeks end as its escalation reaches 12: run it for 15 weeks.
    longer = cmrewards.load_preset("petry-fishbowl").to_dict() | {"weeks": 15}
    any_clinic.add_program(cmrewards.program_from_dict(longer, "15 weeks"), actor=ADMIN)
    enrol(any_clinic, "petry-fishbowl")
    days = [sample_day(i) for i in range(30)]
    draws = [record(any_clinic, STIM, "met", visit(day)).award.draws for day in days]
    assert draws == [min(i // 2 + 1, 12) for i in range(30)]
    assert draws[-6:] == [12] * 6


def test_va_twelve_weeks_of_negatives_capped_at_8_draws(any_clinic: Clinic) -> None:
    enrol(any_clinic, "va-prize-cm")
    program = any_clinic.program("va-prize-cm")
    assert [t.id for t in program.targets] == [STIM]
    draws = []
    for index in range(24):
        result = record(any_clinic, STIM, "met", visit(sample_day(index)))
        check_prizes(result)
        draws.append(result.award.draws)
    assert draws == [min(week, 8) for week in range(1, 13) for _ in range(2)]
    assert sum(draws) == maximum_earnings(program).draws == 136
    assert any_clinic.verify().ok


# --- the secondary target -----------------------------------------------------------------


def test_secondary_pays_two_draws_only_with_the_primary_met_first(any_clinic: Clinic) -> None:
    enrol(any_clinic, "petry-fishbowl")
    at = visit(0)
    assert record(any_clinic, STIM, "met", at).award.draws == 1
    paid = record(any_clinic, SECONDARY, "met", at)
    assert paid.award.paid
    assert paid.award.draws == 2
    check_prizes(paid)


def test_secondary_first_does_not_pay_and_leaves_its_schedule(any_clinic: Clinic) -> None:
    enrol(any_clinic, "petry-fishbowl")
    before = {p.target: p for p in any_clinic.preview("P001")}[SECONDARY]
    at = visit(0)
    early = record(any_clinic, SECONDARY, "met", at)
    assert not early.award.paid
    assert early.award.draws == 0
    assert early.award.slips == ()
    assert early.prizes == ()
    assert not early.award.reset
    after = {p.target: p for p in any_clinic.preview("P001")}[SECONDARY]
    assert after == before
    assert after.streak == 0
    # The primary arriving afterwards at the same visit makes the secondary pay: settled.
    primary = record(any_clinic, STIM, "met", at)
    assert primary.award.draws == 1
    assert primary.settlement is not None
    assert primary.settlement.outcomes == (early.outcome_id,)
    assert {p.target: p.streak for p in any_clinic.preview("P001")}[SECONDARY] == 1
    assert any_clinic.verify().ok


def test_secondary_does_not_pay_when_the_primary_is_positive(any_clinic: Clinic) -> None:
    enrol(any_clinic, "petry-fishbowl")
    for index in range(2):
        at = visit(sample_day(index))
        record(any_clinic, STIM, "met", at)
        assert record(any_clinic, SECONDARY, "met", at).award.draws == 2
    streak = {p.target: p.streak for p in any_clinic.preview("P001")}[SECONDARY]
    assert streak == 2

    at = visit(sample_day(2))
    assert record(any_clinic, STIM, "not_met", at).award.reset
    unpaid = record(any_clinic, SECONDARY, "met", at)
    assert not unpaid.award.paid
    assert unpaid.award.draws == 0
    assert {p.target: p.streak for p in any_clinic.preview("P001")}[SECONDARY] == streak


def test_secondary_does_not_pay_with_the_primary_met_at_another_visit(
    any_clinic: Clinic,
) -> None:
    enrol(any_clinic, "petry-fishbowl")
    record(any_clinic, STIM, "met", visit(0, hour=9))
    later = record(any_clinic, SECONDARY, "met", visit(1, hour=9))
    assert not later.award.paid
    assert later.award.draws == 0
    assert any_clinic.verify().ok


def test_secondary_pays_with_the_primary_met_earlier_the_same_day(any_clinic: Clinic) -> None:
    """One visit is one clinical day: a second or an hour apart is the same visit."""
    enrol(any_clinic, "petry-fishbowl")
    record(any_clinic, STIM, "met", visit(0, hour=9))
    later = record(any_clinic, SECONDARY, "met", visit(0, hour=10))
    assert later.award.paid
    assert later.award.draws == 2
    assert any_clinic.verify().ok


# --- resets and excused absences ------------------------------------------------------------


def test_a_positive_resets_to_one_draw(any_clinic: Clinic) -> None:
    enrol(any_clinic, "petry-fishbowl")
    draws = [record(any_clinic, STIM, "met", visit(sample_day(i))).award.draws for i in range(6)]
    assert draws == [1, 1, 2, 2, 3, 3]

    positive = record(any_clinic, STIM, "not_met", visit(sample_day(6)))
    assert positive.award.reset
    assert positive.award.draws == 0
    assert positive.award.slips == ()
    assert positive.prizes == ()

    after = [
        record(any_clinic, STIM, "met", visit(sample_day(i))).award.draws for i in range(7, 11)
    ]
    # Week 4's second sample restarts at 1; weeks 5 and 6 escalate from there.
    assert after == [1, 2, 2, 3]
    assert any_clinic.verify().ok


@pytest.mark.parametrize("outcome", ["missed", "invalid"])
def test_an_unexcused_absence_or_invalid_sample_resets(any_clinic: Clinic, outcome: str) -> None:
    enrol(any_clinic, "petry-fishbowl")
    for index in range(4):
        record(any_clinic, STIM, "met", visit(sample_day(index)))
    assert record(any_clinic, STIM, outcome, visit(sample_day(4))).award.reset
    assert record(any_clinic, STIM, "met", visit(sample_day(5))).award.draws == 1


def test_an_excused_absence_is_neutral(any_clinic: Clinic) -> None:
    enrol(any_clinic, "petry-fishbowl")
    enrol(any_clinic, "petry-fishbowl", participant="P002")
    with_excused = []
    without = []
    for index in range(8):
        at = visit(sample_day(index))
        if index == 3:
            excused = record(any_clinic, STIM, "excused", at)
            assert not excused.award.reset
            assert excused.award.draws == 0
            assert excused.prizes == ()
        else:
            with_excused.append(record(any_clinic, STIM, "met", at).award.draws)
        without.append(record(any_clinic, STIM, "met", at, participant="P002").award.draws)
    # The excused sample pays nothing and changes nothing: the streak carries on.
    assert with_excused == [1, 1, 2, 3, 3, 4, 4]
    assert without == [1, 1, 2, 2, 3, 3, 4, 4]
    assert with_excused == without[:3] + without[4:]
    assert any_clinic.verify().ok


# --- prizes -----------------------------------------------------------------------------


def test_winning_slips_create_prizes_and_good_jobs_do_not(any_clinic: Clinic) -> None:
    enrol(any_clinic, "petry-fishbowl")
    slips: list[str] = []
    prize_ids: list[int] = []
    for index in range(24):
        at = visit(sample_day(index))
        for target in (STIM, SECONDARY):
            result = record(any_clinic, target, "met", at)
            check_prizes(result)
            slips += result.award.slips
            prize_ids += [p.id for p in result.prizes]
    assert len(slips) == 204
    # 204 draws from the classic bowl: both kinds of slips certainly turn up.
    assert "good-job" in slips
    assert {"small", "large"} & set(slips)
    assert len(prize_ids) == sum(1 for s in slips if s != "good-job")
    assert prize_ids == sorted(set(prize_ids))


def test_points_balance_is_untouched_by_prize_draws(any_clinic: Clinic) -> None:
    enrol(any_clinic, "petry-fishbowl")
    result = record(any_clinic, STIM, "met", visit(0))
    assert result.balance.points == 0
    assert result.balance.cap_remaining_cents is None


# --- the presets command -------------------------------------------------------------------


def invoke(args: list[str]) -> Result:
    runner = CliRunner()
    return contextvars.Context().run(runner.invoke, cli, args, prog_name="cmrewards")


def expected_maxima() -> dict[str, dict[str, int]]:
    return {
        "higgins-vbrt": {"points": 3990, "draws": 0, "value_cents": 99750},  # $997.50
        "petry-fishbowl": {
            "points": 0,
            "draws": 204,
            "value_cents": round(204 * Fraction(2218, 10)),
        },
        "va-prize-cm": {"points": 0, "draws": 136, "value_cents": round(136 * Fraction(2218, 10))},
        # 2 x $219.00 in weeks 1-12 and 12 x $13.50 in weeks 13-24 (before the $599 cap).
        "ca-recovery-incentives": {"points": 60000, "draws": 0, "value_cents": 60000},
    }


def test_expected_value_of_the_classic_bowl() -> None:
    for name in ("petry-fishbowl", "va-prize-cm"):
        assert expected_draw_cents(cmrewards.load_preset(name)) == Fraction(2218, 10)


def test_presets_json_lists_every_preset_with_its_maximum() -> None:
    result = invoke(["--json", "presets"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    rows = json.loads(result.stdout)
    assert [row["preset"] for row in rows] == [
        "ca-recovery-incentives",
        "higgins-vbrt",
        "petry-fishbowl",
        "va-prize-cm",
    ]
    for row in rows:
        expected = expected_maxima()[row["preset"]]
        program = cmrewards.load_preset(row["preset"])
        assert row["name"] == program.name
        assert row["description"] == program.description
        maximum = row["maximum"]
        assert {k: maximum[k] for k in expected} == expected
        cap = program.cap_cents  # only ca-recovery-incentives has one: $599
        limit = expected["value_cents"] if cap is None else min(expected["value_cents"], cap)
        assert maximum["capped_cents"] == limit
        most = maximum_earnings(program)
        assert (maximum["points"], maximum["draws"], maximum["value_cents"]) == (
            most.points,
            most.draws,
            most.value_cents,
        )


def test_presets_text_names_maximum_draws_points_and_dollars() -> None:
    result = invoke(["presets"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    rows = [re.split(r"\s{2,}", line) for line in result.stdout.splitlines()]
    assert [(row[0], *row[2:]) for row in rows] == [
        ("preset", "points", "draws", "expected", "with the cap"),
        ("ca-recovery-incentives", "60,000", "0", "$600.00", "$599.00"),
        ("higgins-vbrt", "3,990", "0", "$997.50", "no cap"),
        ("petry-fishbowl", "0", "204", "$452.47", "no cap"),
        ("va-prize-cm", "0", "136", "$301.65", "no cap"),
    ]
