"""Money as staff read it: integer cents shown as dollars, never through a float."""

from __future__ import annotations


def format_cents(cents: int) -> str:
    """``$1,074.00`` from ``107400`` cents: thousands separated, always two decimals.

    A negative amount (a correction, a reversal) puts the sign before the dollar
    sign: ``-250`` is ``-$2.50``. Raises nothing.
    """
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{part:02d}"


__all__ = ["format_cents"]
