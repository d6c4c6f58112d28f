"""Redemption rules beside the lifecycle table: what may be requested, separate duties, expiry."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from cmrewards.domain.programs import load_preset
from cmrewards.domain.redemption import (
    CatalogItem,
    Redemption,
    RedemptionStatus,
    check_request,
    check_separate_duties,
    is_overdue,
)
from cmrewards.errors import InsufficientPoints, InvalidTransition, OutOfStock, PermissionDenied

NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
CARD = CatalogItem("card-10", "Gift card", 40, 3, None, 0, NOW, "admin-1")
REQUESTED = Redemption(
    id=4,
    program_id="petry-fishbowl",
    participant="P001",
    sku="card-10",
    cost=40,
    status=RedemptionStatus.REQUESTED,
    requested_at=NOW,
    requested_by="rec-1",
)
APPROVED = attrs.evolve(
    REQUESTED, status=RedemptionStatus.APPROVED, approved_at=NOW, approved_by="clin-1"
)


def test_an_item_in_stock_is_requested_with_enough_points() -> None:
    check_request(CARD, "P001", 40)
    check_request(attrs.evolve(CARD, stock=None), "P001", 40)


def test_refusals_of_a_request() -> None:
    with pytest.raises(InvalidTransition, match="prize-cabinet item; it is not for points"):
        check_request(attrs.evolve(CARD, cost=0, category="small"), "P001", 40)
    with pytest.raises(InsufficientPoints, match="card-10 costs 40 points; P001 has 39 available"):
        check_request(CARD, "P001", 39)
    with pytest.raises(OutOfStock, match="card-10 is out of stock"):
        check_request(attrs.evolve(CARD, stock=0), "P001", 40)


def test_the_points_come_before_the_stock() -> None:
    with pytest.raises(InsufficientPoints):
        check_request(attrs.evolve(CARD, stock=0), "P001", 0)


def test_without_separate_duties_anyone_allowed_may_fulfil() -> None:
    program = load_preset("petry-fishbowl")
    assert not program.separate_duties
    for actor in ("rec-1", "clin-1", "clin-2"):
        check_separate_duties(program, APPROVED, actor)


@pytest.mark.parametrize("actor", ["rec-1", "clin-1"])
def test_separate_duties_refuse_whoever_requested_or_approved(actor: str) -> None:
    program = attrs.evolve(load_preset("petry-fishbowl"), separate_duties=True)
    with pytest.raises(PermissionDenied, match=f"separates duties: {actor} requested or approved"):
        check_separate_duties(program, APPROVED, actor)
    check_separate_duties(program, APPROVED, "clin-2")


def test_separate_duties_without_an_approval_refuse_only_the_requester() -> None:
    program = attrs.evolve(load_preset("petry-fishbowl"), separate_duties=True)
    check_separate_duties(program, REQUESTED, "clin-1")
    with pytest.raises(PermissionDenied):
        check_separate_duties(program, REQUESTED, "rec-1")


@pytest.mark.parametrize("hold_days", [1, 2, 30])
def test_a_hold_is_overdue_once_strictly_older_than_hold_days(hold_days: int) -> None:
    exactly = NOW + dt.timedelta(days=hold_days)
    assert not is_overdue(REQUESTED, hold_days, exactly)
    assert is_overdue(REQUESTED, hold_days, exactly + dt.timedelta(microseconds=1))
