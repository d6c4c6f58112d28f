"""The one money formatter: what the statement page, the preview sentence and the CLI print."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmrewards.domain.money import format_cents


@pytest.mark.parametrize(
    ("cents", "expected"),
    [
        (0, "$0.00"),
        (5, "$0.05"),
        (250, "$2.50"),
        (99_750, "$997.50"),  # the Higgins preset's published check: 36 negatives
        (107_400, "$1,074.00"),
        (123_456, "$1,234.56"),
        (100_000_000, "$1,000,000.00"),
        (-5, "-$0.05"),
        (-250, "-$2.50"),
        (-123_456, "-$1,234.56"),
    ],
)
def test_cents_as_dollars(cents: int, expected: str) -> None:
    assert expected == format_cents(cents)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_the_text_reads_back_as_the_same_cents(cents: int) -> None:
    text = format_cents(cents)
    negative = text.startswith("-")
    dollars, _, part = text.removeprefix("-").removeprefix("$").partition(".")
    assert len(part) == 2
    assert cents == (-1 if negative else 1) * (int(dollars.replace(",", "")) * 100 + int(part))


@given(st.integers(min_value=0, max_value=10**15))
def test_a_negative_amount_is_the_positive_one_with_a_leading_minus(cents: int) -> None:
    expected = format_cents(cents) if cents == 0 else "-" + format_cents(cents)
    assert expected == format_cents(-cents)
