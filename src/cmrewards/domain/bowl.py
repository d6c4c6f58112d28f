"""The prize bowl: draws with replacement, reproducible from a stored seed.

The seed is generated fresh for each recorded outcome and stored with it, so no
one can choose results in advance, yet ``verify`` can redraw every slip.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from .programs import BowlCategory


def draw(bowl: Sequence[BowlCategory], seed: int, count: int) -> list[BowlCategory]:
    """``count`` slips drawn with replacement, each category weighted by its slips."""
    rng = random.Random(seed)
    total = sum(category.slips for category in bowl)
    slips = []
    for _ in range(count):
        ticket = rng.randrange(total)
        for category in bowl:
            if ticket < category.slips:
                slips.append(category)
                break
            ticket -= category.slips
    return slips


def largest_fitting(bowl: Sequence[BowlCategory], cents: int) -> BowlCategory | None:
    """The most valuable category worth at most ``cents`` (the cap's downgrade)."""
    fitting = [category for category in bowl if category.value_cents <= cents]
    return max(fitting, key=lambda c: c.value_cents, default=None)
