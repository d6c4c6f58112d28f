"""The prize cabinet's rules: what a draw owes, which item fulfils a prize, what a trade takes.

Prizes are won from the bowl (``bowl.py``) and owed until staff hand over an item of
the won category (README, "Redemption"); a program's trades exchange several owed
prizes for one of a better category.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from ..errors import InvalidTransition, OutOfStock
from .counts import plural
from .programs import BowlCategory, Program, Trade
from .records import Prize, PrizeStatus
from .redemption import CatalogItem


def prizes_won(
    slips: Sequence[BowlCategory],
    *,
    first_id: int,
    program_id: str,
    participant: str,
    outcome_id: int,
    at: dt.datetime,
) -> list[Prize]:
    """A prize owed for every winning slip of one outcome's draws, numbered from
    ``first_id``. "Good job" slips are worth nothing and owe nothing; each prize keeps
    the index of its draw so ``verify`` can redraw it."""
    prizes: list[Prize] = []
    for index, slip in enumerate(slips):
        if slip.value_cents:
            prizes.append(
                Prize(
                    id=first_id + len(prizes),
                    program_id=program_id,
                    participant=participant,
                    outcome_id=outcome_id,
                    draw=index,
                    category=slip.category,
                    value_cents=slip.value_cents,
                    won_at=at,
                )
            )
    return prizes


def check_owed(prize: Prize) -> None:
    """Only an owed prize is handed over; a fulfilled or traded one is ``InvalidTransition``."""
    if prize.status is not PrizeStatus.OWED:
        raise InvalidTransition(f"prize {prize.id} was already {prize.status}")


def check_fulfils(prize: Prize, item: CatalogItem) -> None:
    """``item`` may be handed over for ``prize``: it is in the prize cabinet under the won
    category (``InvalidTransition``), with a unit in stock if its stock is counted
    (``OutOfStock``)."""
    if item.category != prize.category:
        raise InvalidTransition(
            f"prize {prize.id} is a {prize.category} prize; {item.sku} is"
            f" {'not in the prize cabinet' if item.category is None else item.category}"
        )
    if item.stock is not None and item.stock < 1:
        raise OutOfStock(f"{item.sku} is out of stock")


def trade_rule(program: Program, give: str, get: str) -> Trade:
    """The program's trade of ``give`` prizes for one ``get``, or ``InvalidTransition``."""
    rule = next((t for t in program.trades if (t.give, t.get) == (give, get)), None)
    if rule is None:
        raise InvalidTransition(f"{program.id} has no trade of {give} prizes for {get}")
    return rule


def prizes_to_trade(rule: Trade, participant: str, prizes: Iterable[Prize]) -> list[Prize]:
    """The owed prizes ``rule`` takes from ``participant``'s ``prizes`` (in id order): the
    oldest owed of the category it gives. Too few is ``InvalidTransition``."""
    owed = [p for p in prizes if p.category == rule.give and p.status is PrizeStatus.OWED]
    if len(owed) < rule.count:
        raise InvalidTransition(
            f"the trade takes {plural(rule.count, f'owed {rule.give} prize')}; {participant}"
            f" has {len(owed)}"
        )
    return owed[: rule.count]


def traded_value_cents(program: Program, category: str) -> int:
    """What a prize of ``category`` received in a trade is worth: its bowl category's value."""
    return next(c.value_cents for c in program.bowl if c.category == category)
