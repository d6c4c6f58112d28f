"""The one money formatter (what the statement page, the preview sentence and the CLI print),
shares of money rounded half to even, and dollars as staff type them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmrewards.domain.money import divide_cents, format_cents, parse_dollars
from cmrewards.errors import InvalidInput


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


# --- sharing and typing money ------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "count", "expected"),
    [
        (18_500, 3, 6_167),  # $185.00 / 3 = $61.666...: $61.67, never the truncated $61.66
        (2_375, 2, 1_188),  # $11.875: the half goes to the even cent
        (2_385, 2, 1_192),  # $11.925: the half goes to the even cent, down this time
        (1, 3, 0),
        (2, 3, 1),
        (-18_500, 3, -6_167),
        (0, 5, 0),
    ],
)
def test_sharing_cents_rounds_half_to_even(total: int, count: int, expected: int) -> None:
    assert expected == divide_cents(total, count)


@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(1, 10_000))
def test_a_share_is_within_half_a_cent_of_the_exact_one(total: int, count: int) -> None:
    share = divide_cents(total, count)
    assert abs(share * count - total) * 2 <= count


@pytest.mark.parametrize(
    ("typed", "cents"),
    [
        ("25", 2_500),
        ("25.00", 2_500),
        ("25.5", 2_550),
        ("$25.05", 2_505),
        ("1,025.50", 102_550),
        (" 0.99 ", 99),
        ("0", 0),
    ],
)
def test_dollars_as_a_person_types_them(typed: str, cents: int) -> None:
    assert cents == parse_dollars(typed, "--cost")


@pytest.mark.parametrize(
    "typed", ["", "ten", "25.001", "-5", "$-1", "1e3", "0x10", "1,00", "٣", "+7", "25.", str(10**9)]
)
def test_anything_else_is_refused_naming_the_option(typed: str) -> None:
    with pytest.raises(InvalidInput, match=r"^--cost "):
        parse_dollars(typed, "--cost")


@given(st.integers(min_value=0, max_value=10**11 - 1))
def test_what_format_cents_prints_reads_back(cents: int) -> None:
    assert cents == parse_dollars(format_cents(cents))
