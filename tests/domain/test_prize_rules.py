"""The prize cabinet's rules: what a draw owes, which item fulfils a prize, what a trade takes."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from cmrewards.domain.prizes import (
    check_fulfils,
    check_owed,
    prizes_to_trade,
    prizes_won,
    trade_rule,
    traded_value_cents,
)
from cmrewards.domain.programs import BowlCategory, load_preset
from cmrewards.domain.records import Prize, PrizeStatus
from cmrewards.domain.redemption import CatalogItem
from cmrewards.errors import InvalidTransition, OutOfStock

NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
PROGRAM = load_preset("petry-fishbowl")
BOWL = {category.category: category for category in PROGRAM.bowl}
TOY = CatalogItem("toy", "Toy", 0, 2, "small", 0, NOW, "admin-1")


def prize(prize_id: int, category: str = "small", status: PrizeStatus = PrizeStatus.OWED) -> Prize:
    return Prize(prize_id, "petry-fishbowl", "P001", 3, 0, category, 100, NOW, status)


def test_every_winning_slip_owes_a_prize_and_good_job_slips_nothing() -> None:
    slips: list[BowlCategory] = [BOWL["good-job"], BOWL["small"], BOWL["good-job"], BOWL["large"]]
    won = prizes_won(
        slips, first_id=11, program_id="petry-fishbowl", participant="P001", outcome_id=3, at=NOW
    )
    assert [(p.id, p.draw, p.category) for p in won] == [(11, 1, "small"), (12, 3, "large")]
    assert all(p.status is PrizeStatus.OWED and p.outcome_id == 3 for p in won)
    assert [BOWL["small"].value_cents, BOWL["large"].value_cents] == [p.value_cents for p in won]


def test_only_an_owed_prize_is_handed_over() -> None:
    check_owed(prize(1))
    for status in (PrizeStatus.FULFILLED, PrizeStatus.TRADED):
        with pytest.raises(InvalidTransition, match=f"prize 1 was already {status}"):
            check_owed(prize(1, status=status))


def test_a_prize_is_fulfilled_from_its_own_category_while_stock_lasts() -> None:
    check_fulfils(prize(1), TOY)
    check_fulfils(prize(1), attrs.evolve(TOY, stock=None))
    with pytest.raises(InvalidTransition, match="a large prize; toy is small"):
        check_fulfils(prize(1, "large"), TOY)
    with pytest.raises(InvalidTransition, match="toy is not in the prize cabinet"):
        check_fulfils(prize(1), attrs.evolve(TOY, category=None, cost=40))
    with pytest.raises(OutOfStock, match="toy is out of stock"):
        check_fulfils(prize(1), attrs.evolve(TOY, stock=0))


def test_a_trade_takes_the_oldest_owed_prizes_of_its_category() -> None:
    rule = trade_rule(PROGRAM, "small", "large")
    assert (rule.count, rule.get) == (5, "large")
    prizes = [
        prize(1, status=PrizeStatus.FULFILLED),
        prize(2, "large"),
        *(prize(n) for n in range(3, 10)),
    ]
    assert [p.id for p in prizes_to_trade(rule, "P001", prizes)] == [3, 4, 5, 6, 7]
    with pytest.raises(InvalidTransition, match="takes 5 owed small prizes; P001 has 4"):
        prizes_to_trade(rule, "P001", prizes[:6])
    assert BOWL["large"].value_cents == traded_value_cents(PROGRAM, "large")


def test_only_the_programs_trades_are_allowed() -> None:
    with pytest.raises(InvalidTransition, match="petry-fishbowl has no trade of large prizes for"):
        trade_rule(PROGRAM, "large", "jumbo")
