"""The budget simulation (docs/design.md section 7, ``simulate``): hand-computed cases.

Results that are certain (p_met = 1 or 0) are checked exactly; random ones against their
expected value with a margin of several standard errors, on fixed seeds.
"""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import attrs
import pytest

from cmrewards.domain.programs import (
    Program,
    expected_draw_cents,
    load_preset,
    maximum_earnings,
    preset_names,
    program_from_toml,
)
from cmrewards.domain.simulation import SimulationReport, simulate
from cmrewards.errors import InvalidInput

N = 2000


def higgins_with_cap(cap_cents: int) -> Program:
    """The higgins-vbrt rules (36 negatives earn $997.50) with an annual cap."""
    return program_from_toml(
        f"""
id = "higgins-capped"
name = "Higgins VBRT with a cap"
point_value_cents = 25
cap_cents = {cap_cents}
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 3
schedule = {{ kind = "escalating", award = "points", start = 10, step = 5, bonus = 40, \
bonus_every = 3, recovery_after = 5 }}
""",
        "test",
    )


def petry_with_cap(cap_cents: int) -> Program:
    """The petry-fishbowl preset file with a cap added (a top-level key, so it goes first)."""
    text = (resources.files("cmrewards") / "presets" / "petry-fishbowl.toml").read_text("utf-8")
    return program_from_toml(f"cap_cents = {cap_cents}\n{text}", "petry with a cap")


def fixed_points(extra: str = "") -> Program:
    """One point worth $1 for each of 3 x 12 = 36 negatives; ``extra`` adds targets."""
    return program_from_toml(
        f"""
id = "fixed"
name = "A dollar a negative"
point_value_cents = 100
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 3
schedule = {{ kind = "fixed", amount = 1 }}
{extra}
""",
        "test",
    )


def spread(report: SimulationReport) -> int:
    return report.p95_cents - report.median_cents


def test_every_negative_pays_the_protocol_maximum() -> None:
    report = simulate(load_preset("higgins-vbrt"), participants=N, p_met=1.0, seed=1)

    # docs/design.md section 3.1: 36 consecutive negatives earn $997.50, for every participant.
    assert report.mean_cents == report.median_cents == report.p95_cents == 99750
    assert report.maximum_cents == 99750
    assert report.total_cents == N * 99750
    assert report.cap_hit_share == 0.0
    assert report.mean_draws == 0.0


def test_the_report_repeats_its_assumptions() -> None:
    report = simulate(
        load_preset("va-prize-cm"), participants=10, p_met=0.25, seed=9, persistence=0.5
    )

    assert (report.program_id, report.participants, report.seed, report.weeks) == (
        "va-prize-cm",
        10,
        9,
        12,
    )
    assert (report.p_met, report.persistence) == (0.25, 0.5)


@pytest.mark.parametrize("preset", preset_names())
def test_no_negatives_cost_nothing(preset: str) -> None:
    report = simulate(load_preset(preset), participants=N, p_met=0.0, seed=1, persistence=0.3)

    assert (report.mean_cents, report.median_cents, report.p95_cents, report.total_cents) == (
        0,
        0,
        0,
        0,
    )
    assert report.mean_draws == 0.0
    assert report.maximum_cents > 0


def test_a_cap_limits_every_participant() -> None:
    report = simulate(higgins_with_cap(50000), participants=N, p_met=1.0, seed=1)

    # 99750 cents of vouchers against a 50000 cap: exactly 2000 points fit.
    assert report.cap_hit_share == 1.0
    assert report.mean_cents == report.median_cents == report.p95_cents == 50000
    assert report.maximum_cents == 50000
    assert report.total_cents == N * 50000


def test_the_award_that_reaches_the_cap_is_cut_to_whole_points() -> None:
    report = simulate(higgins_with_cap(12345), participants=50, p_met=1.0, seed=1)

    # 12345 // 25 = 493 points fit; the 20 cents left cannot buy a point, yet the cap was hit.
    assert report.mean_cents == report.p95_cents == 493 * 25
    assert report.cap_hit_share == 1.0


def test_a_cap_on_prizes_downgrades_them() -> None:
    report = simulate(petry_with_cap(2000), participants=500, p_met=1.0, seed=1)

    # 204 draws are still earned; what is paid never passes the cap. Reaching $20 fails only
    # if none of the 204 draws is a large prize (0.92 ** 204 < 1e-7 per participant).
    assert report.mean_draws == 204
    assert report.p95_cents <= 2000
    assert report.mean_cents <= 2000
    assert report.cap_hit_share == 1.0


def test_the_same_seed_gives_the_same_report() -> None:
    program = load_preset("petry-fishbowl")

    first = simulate(program, participants=500, p_met=0.6, seed=42, persistence=0.4)
    again = simulate(program, participants=500, p_met=0.6, seed=42, persistence=0.4)
    other = simulate(program, participants=500, p_met=0.6, seed=43, persistence=0.4)

    assert first == again
    assert other != first
    assert other.total_cents != first.total_cents


def test_prize_costs_match_the_expected_draw_value() -> None:
    program = load_preset("petry-fishbowl")
    maximum = maximum_earnings(program)

    report = simulate(program, participants=N, p_met=1.0, seed=5)

    assert report.mean_draws == maximum.draws == 204
    assert report.maximum_cents == maximum.capped_cents
    # Every participant draws 204 slips, so the mean cost estimates 204 x E[slip] = 45247
    # cents. One slip's standard deviation is about $6.89 (the $20 and $100 prizes), one
    # participant's about $98 and the mean of N participants' about $2.20; five standard
    # errors is a margin a fixed seed clears with room to spare.
    expected = maximum.draws * expected_draw_cents(program)
    slips = sum(c.slips for c in program.bowl)
    second_moment = sum(c.slips * c.value_cents**2 for c in program.bowl) / slips
    per_draw_sd = math.sqrt(second_moment - float(expected_draw_cents(program)) ** 2)
    standard_error = per_draw_sd * math.sqrt(maximum.draws / N)
    assert abs(report.mean_cents - float(expected)) < 5 * standard_error


def test_a_required_target_must_be_met_at_the_same_visit() -> None:
    program = fixed_points(
        """
[[targets]]
id = "secondary-negative"
per_week = 3
requires = ["stimulant-negative"]
schedule = { kind = "fixed", amount = 1 }
"""
    )

    report = simulate(program, participants=N, p_met=0.5, seed=3)

    # The primary pays at half the 36 visits, the secondary only when both are negative, at a
    # quarter: (18 + 9) x $1 = 2700 cents. Were the requirement ignored it would be 3600. One
    # participant's standard deviation is under sqrt(36 x 0.25) + sqrt(36 x 0.1875) ≈ 5.6
    # points, so the mean of N is within about 13 cents; 80 cents is over five of those.
    assert abs(report.mean_cents - 2700) < 80


@pytest.mark.parametrize("persistence", [0.0, 0.5, 0.8])
def test_persistence_keeps_the_share_met(persistence: float) -> None:
    report = simulate(fixed_points(), participants=N, p_met=0.5, seed=11, persistence=persistence)

    # Each result is met with probability 0.5 whatever the persistence, so a dollar a
    # negative costs 36 x 0.5 x 100 = 1800 cents on average. Results ρ^|i-j| apart are
    # correlated, which widens one participant's count of negatives: its variance is
    # p(1-p) (n + 2 Σ (n-k) ρ^k). The margin is five standard errors of the mean.
    n, p = 36, 0.5
    variance = p * (1 - p) * (n + 2 * sum((n - k) * persistence**k for k in range(1, n)))
    standard_error = 100 * math.sqrt(variance / N)
    assert abs(report.mean_cents - 1800) < 5 * standard_error


def test_persistence_widens_the_spread_of_escalating_costs() -> None:
    program = load_preset("higgins-vbrt")

    independent = simulate(program, participants=N, p_met=0.6, seed=21)
    persistent = simulate(program, participants=N, p_met=0.6, seed=21, persistence=0.8)

    # With persistence, long runs of negatives (which escalate) and of positives are common,
    # so costs fan out: at these seeds the gap between p95 and median is about six times
    # wider (≈ $514 against $86); twice is a safe margin.
    assert spread(persistent) > 2 * spread(independent)
    # Escalation pays long runs more, so the mean rises too (the share met does not).
    assert persistent.mean_cents > independent.mean_cents


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"participants": 0}, "participants"),
        ({"participants": 1_000_001}, "participants"),
        ({"participants": 2.0}, "participants"),
        ({"participants": True}, "participants"),
        ({"p_met": -0.1}, "p_met"),
        ({"p_met": 1.5}, "p_met"),
        ({"p_met": math.nan}, "p_met"),
        ({"p_met": "0.5"}, "p_met"),
        ({"persistence": -0.1}, "persistence"),
        ({"persistence": 1.0}, "persistence"),
        ({"seed": "one"}, "seed"),
    ],
)
def test_bad_inputs_are_refused(changes: dict[str, Any], named: str) -> None:
    arguments: dict[str, Any] = {"participants": 10, "p_met": 0.5, "seed": 1} | changes

    with pytest.raises(InvalidInput, match=named) as raised:
        simulate(load_preset("higgins-vbrt"), **arguments)

    assert "\n" not in str(raised.value)


def test_a_phased_program_simulates_the_samples_its_calendar_owes() -> None:
    """ca-recovery-incentives: 24 samples in weeks 1-12 and 12 in weeks 13-24; every one
    negative is $600.00 of incentives, held to $599.00 by the cap."""
    program = load_preset("ca-recovery-incentives")
    report = simulate(program, participants=50, p_met=1.0, seed=3)
    assert (report.median_cents, report.p95_cents, report.maximum_cents) == (59_900,) * 3
    assert report.cap_hit_share == 1.0
    uncapped = simulate(attrs.evolve(program, cap_cents=None), participants=50, p_met=1.0, seed=3)
    assert uncapped.mean_cents == maximum_earnings(program).value_cents == 60_000
