"""Counts as a person reads them in the library's messages: the count and its noun agreeing.

The command line has its own (``cli/_output.plural``), as it reaches the library only
through ``cmrewards``; this one serves the views and use cases.
"""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 prize``, ``2 prizes``, ``1,000 points``: ``count`` with thousands separators and
    ``noun``, or ``nouns`` (default ``noun`` + "s") unless the count is 1. Raises nothing."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"
