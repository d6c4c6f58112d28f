"""Checks on values a caller hands in: pseudonymous ids, one-line text, enum choices, row ids."""

from __future__ import annotations

import re
from typing import Any

from ..errors import InvalidInput

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MAX_TEXT = 500
_NOT_ONE_LINE = re.compile("[\x00-\x08\x0a-\x1f]")
"""A control character other than a tab: text of one line has none."""
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_CHUNK_SIZE = 100_000
"""The most rows an import writes in one transaction: a chunk is held in memory until it
commits, and more rows a transaction only hold the writers' lock longer (issue 16)."""


def is_row_id(value: int) -> bool:
    """Whether ``value`` can name a row at all (ids are positive 64-bit integers)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


def is_pseudonymous_id(value: object) -> bool:
    """Whether ``value`` has the shape of a participant or staff id."""
    return isinstance(value, str) and _ID.match(value) is not None


def check_id(value: str, what: str) -> str:
    """``value`` if it is a pseudonymous id: 1-64 letters, digits, '.', '-', '_' (so no
    names with spaces). Raises ``InvalidInput`` naming ``what`` otherwise."""
    if not is_pseudonymous_id(value):
        raise InvalidInput(
            f"{what} {value!r} must be 1-64 letters, digits, '.', '-' or '_' (a pseudonymous id)"
        )
    return value


def check_text(value: str | None, what: str, *, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InvalidInput(f"{what} must not be empty")
        return None
    # One regex scan each, not a Python step per character: every key of an import is
    # checked (a lab report's two cost more than its analyte result: issue 16).
    if len(value) > _MAX_TEXT or _NOT_ONE_LINE.search(value):
        raise InvalidInput(f"{what} must be one line of at most {_MAX_TEXT} characters")
    if _SURROGATE.search(value):
        # A lone surrogate is no character: UTF-8 cannot hold it, so no hash covers it. It is
        # what Python makes of bytes a locale could not decode.
        raise InvalidInput(f"{what} is not valid Unicode text (an undecodable byte?)")
    return value


def choice(kind: type[Any], value: Any, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member) for member in kind)
        raise InvalidInput(f"{what} {value!r} is not one of {allowed}") from None


def check_chunk_size(value: int) -> int:
    """``value``, the rows an import applies in one transaction, if it is 1 to
    ``MAX_CHUNK_SIZE``; InvalidInput otherwise."""
    if not 1 <= value <= MAX_CHUNK_SIZE:
        raise InvalidInput(f"chunk size must be 1 to {MAX_CHUNK_SIZE:,}, not {value}")
    return value
