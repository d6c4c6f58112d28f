"""Money as staff read and type it: integer cents shown as dollars, never through a float."""

from __future__ import annotations

import re

from ..errors import InvalidInput


def format_cents(cents: int) -> str:
    """``$1,074.00`` from ``107400`` cents: thousands separated, always two decimals.

    A negative amount (a correction, a reversal) puts the sign before the dollar
    sign: ``-250`` is ``-$2.50``. Raises nothing.
    """
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


def divide_cents(total: int, count: int) -> int:
    """``total`` cents shared among ``count`` (> 0), to the cent, half to even (banker's
    rounding, as in accounting): $185.00 / 3 is $61.67, never the truncated $61.66."""
    from fractions import Fraction  # with decimal: a balance that only shows cents needs neither

    return round(Fraction(total, count))


_DOLLARS = re.compile(r"\$?([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]{1,2}))?")

MAX_DOLLARS = 10**9
"""A typed amount above a billion dollars is a typo (and beyond any column's range)."""


def parse_dollars(text: str, what: str = "amount") -> int:
    """Cents from an amount a person types in dollars: ``25``, ``25.00``, ``$25.5``,
    ``1,025.50``. Raises ``InvalidInput`` naming ``what`` (e.g. ``--cost``) for a negative
    amount, a third decimal, an amount out of range or anything else."""
    found = _DOLLARS.fullmatch(text.strip())
    if found is None:
        raise InvalidInput(f"{what} {text[:40]!r} is not an amount in dollars (e.g. 25.00)")
    whole = int(found.group(1).replace(",", ""))
    if whole >= MAX_DOLLARS:
        raise InvalidInput(f"{what} {text[:40]!r} is out of range")
    return whole * 100 + int((found.group(2) or "0").ljust(2, "0"))


__all__ = ["divide_cents", "format_cents", "parse_dollars"]
