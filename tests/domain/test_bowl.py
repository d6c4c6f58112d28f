"""The prize bowl (docs/design.md section 3.2): draws with replacement, reproducible from a seed.

The classic 500-slip bowl is 250 "good job" ($0), 209 small ($1), 40 large ($20) and
1 jumbo ($100): 50 / 41.8 / 8 / 0.2 %, about $2.22 a draw. The statistical tests draw
about 200,000 slips from a fixed set of seeds, so they are deterministic; the tolerances
are still chosen so that a correct ``draw`` with *fresh* seeds would fail them only about
once in a million runs, i.e. a failure means the weights are wrong, not bad luck.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from cmrewards.domain.bowl import draw, largest_fitting
from cmrewards.domain.programs import BowlCategory

GOOD_JOB = BowlCategory(category="good-job", slips=250, value_cents=0)
SMALL = BowlCategory(category="small", slips=209, value_cents=100)
LARGE = BowlCategory(category="large", slips=40, value_cents=2000)
JUMBO = BowlCategory(category="jumbo", slips=1, value_cents=10000)
CLASSIC_BOWL = (GOOD_JOB, SMALL, LARGE, JUMBO)

SEEDS = range(1, 201)
DRAWS_PER_SEED = 1000
N = len(SEEDS) * DRAWS_PER_SEED
"""200,000 draws in all."""

Z = 5.0
"""Tolerance in standard deviations. For a normal approximation P(|Z| > 5) ≈ 5.7e-7,
so a correct implementation would fail a check like this about once in two million runs;
with the seeds fixed the test is deterministic anyway."""


def classic_draws() -> list[BowlCategory]:
    slips: list[BowlCategory] = []
    for seed in SEEDS:
        slips += draw(CLASSIC_BOWL, seed, DRAWS_PER_SEED)
    return slips


def test_draw_returns_the_requested_number_of_slips() -> None:
    assert len(draw(CLASSIC_BOWL, 7, 12)) == 12
    assert draw(CLASSIC_BOWL, 7, 0) == []


def test_each_category_is_drawn_in_proportion_to_its_slips() -> None:
    slips = classic_draws()
    counts = Counter(slip.category for slip in slips)
    total_slips = sum(c.slips for c in CLASSIC_BOWL)

    assert len(slips) == N
    assert set(counts) == {c.category for c in CLASSIC_BOWL}
    for category in CLASSIC_BOWL:
        p = category.slips / total_slips
        # The count of one category in N independent draws is Binomial(N, p):
        # mean N p, standard deviation sqrt(N p (1 - p)). For good-job that is
        # 100,000 ± 224 (tolerance ±1,118); for jumbo 400 ± 20 (tolerance ±100).
        expected = N * p
        sd = math.sqrt(N * p * (1 - p))
        assert abs(counts[category.category] - expected) <= Z * sd, (
            category.category,
            counts[category.category],
            expected,
            sd,
        )


def test_mean_value_per_draw_is_the_bowls_expected_value() -> None:
    slips = classic_draws()
    total_slips = sum(c.slips for c in CLASSIC_BOWL)
    mean = Fraction(sum(c.slips * c.value_cents for c in CLASSIC_BOWL), total_slips)
    assert mean == Fraction(2218, 10)  # $2.218 a draw, docs/design.md's "about $2.22"

    second_moment = Fraction(sum(c.slips * c.value_cents**2 for c in CLASSIC_BOWL), total_slips)
    # One draw's value has variance E[X²] - E[X]² ≈ 474,985 (sd ≈ 689 cents); the
    # mean of N draws has sd ≈ 689 / sqrt(200,000) ≈ 1.54 cents, so ±5 sd ≈ ±7.7 cents.
    sd_of_mean = math.sqrt(float(second_moment - mean**2) / N)
    observed = sum(slip.value_cents for slip in slips) / N
    assert abs(observed - float(mean)) <= Z * sd_of_mean, (observed, float(mean), sd_of_mean)


def test_same_seed_draws_the_same_slips() -> None:
    first = draw(CLASSIC_BOWL, 12345, 50)
    again = draw(CLASSIC_BOWL, 12345, 50)
    assert [s.category for s in first] == [s.category for s in again]
    # A shorter draw from the same seed is a prefix of the longer one.
    assert draw(CLASSIC_BOWL, 12345, 10) == first[:10]


def test_different_seeds_draw_different_slips() -> None:
    sequences = {tuple(s.category for s in draw(CLASSIC_BOWL, seed, 50)) for seed in range(1, 21)}
    # 20 seeds, 50 draws each: a collision would have probability far below 1e-10.
    assert len(sequences) == 20


def test_largest_fitting_picks_the_most_valuable_category_within_budget() -> None:
    assert largest_fitting(CLASSIC_BOWL, 10000) == JUMBO
    assert largest_fitting(CLASSIC_BOWL, 1_000_000) == JUMBO
    assert largest_fitting(CLASSIC_BOWL, 9999) == LARGE
    assert largest_fitting(CLASSIC_BOWL, 2000) == LARGE
    assert largest_fitting(CLASSIC_BOWL, 1999) == SMALL
    assert largest_fitting(CLASSIC_BOWL, 100) == SMALL
    assert largest_fitting(CLASSIC_BOWL, 99) == GOOD_JOB
    assert largest_fitting(CLASSIC_BOWL, 0) == GOOD_JOB


def test_largest_fitting_is_none_when_nothing_fits() -> None:
    no_good_job = (SMALL, LARGE, JUMBO)
    assert largest_fitting(no_good_job, 99) is None
    assert largest_fitting(no_good_job, 0) is None
    assert largest_fitting((), 10_000) is None
    assert largest_fitting(no_good_job, 100) == SMALL


def test_largest_fitting_does_not_depend_on_the_bowls_order() -> None:
    assert largest_fitting((JUMBO, SMALL, GOOD_JOB, LARGE), 5000) == LARGE
    assert largest_fitting(tuple(reversed(CLASSIC_BOWL)), 150) == SMALL


@st.composite
def bowls(draw_: st.DrawFn) -> tuple[BowlCategory, ...]:
    names = draw_(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    slips = draw_(
        st.lists(st.integers(0, 500), min_size=len(names), max_size=len(names)).filter(
            lambda counts: sum(counts) > 0
        )
    )
    values = draw_(st.lists(st.integers(0, 20000), min_size=len(names), max_size=len(names)))
    return tuple(
        BowlCategory(category=n, slips=s, value_cents=v)
        for n, s, v in zip(names, slips, values, strict=True)
    )


@settings(max_examples=150, deadline=None)
@given(bowl=bowls(), seed=st.integers(0, 2**63 - 1), count=st.integers(0, 40))
def test_draw_returns_count_categories_from_the_bowl(
    bowl: tuple[BowlCategory, ...], seed: int, count: int
) -> None:
    slips = draw(bowl, seed, count)
    assert len(slips) == count
    for slip in slips:
        assert slip in bowl
        assert slip.slips > 0, "a category without slips can never be drawn"
    assert draw(bowl, seed, count) == slips


@settings(max_examples=150, deadline=None)
@given(bowl=bowls(), cents=st.integers(0, 30000))
def test_largest_fitting_property(bowl: tuple[BowlCategory, ...], cents: int) -> None:
    chosen = largest_fitting(bowl, cents)
    fitting = [c.value_cents for c in bowl if c.value_cents <= cents]
    if not fitting:
        assert chosen is None
    else:
        assert chosen is not None
        assert chosen in bowl
        assert chosen.value_cents == max(fitting)
