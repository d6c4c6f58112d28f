"""Corrections: which adjustments and reversals the ledger allows, and the cap given back."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from cmrewards.domain.caps import cap_given_back
from cmrewards.domain.corrections import (
    MAX_POINTS,
    check_adjustment,
    check_points_to_remove,
    check_points_to_take_back,
    check_reversible,
)
from cmrewards.domain.ledger import FUNDING, REDEEMED, Movement, Transfer, available, held, route
from cmrewards.domain.programs import load_preset
from cmrewards.errors import InsufficientPoints, InvalidInput, InvalidTransition

AT = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)


def posted(kind: Movement, amount: int = 30, *, cause: str | None = "outcome:1") -> Transfer:
    source, sink = (
        (held("P001"), available("P001")) if kind is Movement.REVERSAL else route(kind, "P001")
    )
    return Transfer(
        id=5,
        program_id="stim",
        kind=kind,
        from_account=source,
        to_account=sink,
        amount=amount,
        participant="P001",
        actor="admin-1",
        reason="why",
        cause=cause,
        reverses=None,
        occurred_at=AT,
        recorded_at=AT,
        prev_hash="",
        hash="",
    )


@pytest.mark.parametrize("points", [1, -1, MAX_POINTS, -MAX_POINTS])
def test_an_adjustment_is_a_whole_number_of_points_other_than_zero(points: int) -> None:
    check_adjustment(points)


@pytest.mark.parametrize("points", [0, True, 2.0, "5", MAX_POINTS + 1, -MAX_POINTS - 1])
def test_zero_fractions_text_and_typos_are_no_adjustment(points: int) -> None:
    with pytest.raises(InvalidInput, match="points must be"):
        check_adjustment(points)


def test_points_are_removed_only_while_they_are_available() -> None:
    check_points_to_remove("P001", 40, 40)
    with pytest.raises(InsufficientPoints, match="cannot remove 41 points: P001 has 40 available"):
        check_points_to_remove("P001", 41, 40)


@pytest.mark.parametrize(
    "kind", [Movement.AWARD, Movement.BONUS, Movement.ADJUSTMENT_UP, Movement.ADJUSTMENT_DOWN]
)
def test_awards_and_adjustments_are_reversible_once(kind: Movement) -> None:
    original = posted(kind)
    check_reversible(original, None)
    mirror = attrs.evolve(original, id=9, kind=Movement.REVERSAL, reverses=original.id)
    with pytest.raises(InvalidTransition, match="already reversed by transfer 9"):
        check_reversible(original, mirror)


def test_a_reversal_is_corrected_by_an_adjustment_not_reversed() -> None:
    with pytest.raises(InvalidTransition, match="itself a reversal; correct it with an adjustment"):
        check_reversible(posted(Movement.REVERSAL), None)


@pytest.mark.parametrize("kind", [Movement.HOLD, Movement.RELEASE])
def test_holds_and_releases_are_resolved_through_their_redemption(kind: Movement) -> None:
    with pytest.raises(InvalidTransition, match="cancel the redemption instead"):
        check_reversible(posted(kind, cause="redemption:2"), None)


def test_only_the_spend_of_a_redemption_is_reversible() -> None:
    check_reversible(posted(Movement.SPEND, cause="redemption:2"), None)
    with pytest.raises(InvalidTransition, match="spends points of no redemption"):
        check_reversible(posted(Movement.SPEND, cause=None), None)


def test_a_participants_balance_never_goes_negative_by_a_reversal() -> None:
    award = posted(Movement.AWARD, 30)
    check_points_to_take_back(award, 30)
    with pytest.raises(
        InsufficientPoints, match=r"needs 30 points in available:P001 but it holds 29"
    ):
        check_points_to_take_back(award, 29)


@pytest.mark.parametrize("kind", [Movement.ADJUSTMENT_DOWN, Movement.SPEND])
def test_the_clinics_own_accounts_are_not_limited(kind: Movement) -> None:
    original = posted(kind, 30, cause="redemption:2")
    assert original.to_account in (FUNDING, REDEEMED)
    check_points_to_take_back(original, -1_000)


def test_a_reversed_award_gives_its_value_back_to_the_cap() -> None:
    capped = attrs.evolve(load_preset("higgins-vbrt"), cap_cents=59_900)
    assert capped.point_value_cents == 25
    assert cap_given_back(capped, posted(Movement.AWARD, 30)) == 750
    assert cap_given_back(capped, posted(Movement.BONUS, 4)) == 100


def test_nothing_is_given_back_for_other_movements_or_without_a_cap() -> None:
    program = load_preset("higgins-vbrt")
    capped = attrs.evolve(program, cap_cents=59_900)
    assert cap_given_back(program, posted(Movement.AWARD)) is None
    assert cap_given_back(capped, posted(Movement.ADJUSTMENT_UP)) is None
    assert cap_given_back(capped, posted(Movement.SPEND, cause="redemption:2")) is None
