"""References between records keep the ``kind:id`` text the hash chains cover."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmrewards.domain.refs import Ref, RefKind, id_of, next_id

NUMBERED = [kind for kind in RefKind if kind.numbered]
NAMED_BY_TEXT = [kind for kind in RefKind if not kind.numbered]


@given(st.sampled_from(NUMBERED), st.integers(min_value=1, max_value=2**63 - 1))
def test_a_reference_reads_back_from_its_text(kind: RefKind, record_id: int) -> None:
    text = Ref.to(kind, record_id)
    assert text == f"{kind.value}:{record_id}"
    assert Ref.parse(text) == Ref(kind, record_id)
    assert id_of(text, kind) == record_id


@given(
    st.sampled_from(NAMED_BY_TEXT),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1),
)
def test_a_reference_by_name_reads_back_from_its_text(kind: RefKind, name: str) -> None:
    """Participants, accounts (``program/available:P-1``), items: the name is kept as text."""
    text = Ref.to(kind, name)
    assert text == f"{kind.value}:{name}"
    assert Ref.parse(text) == Ref(kind, name)
    assert id_of(text, kind) is None


def test_the_journal_kinds_are_reference_kinds() -> None:
    """A ``verify`` problem about a journaled record names it with the journal's own kind."""
    kinds = {
        "staff", "program", "participant", "prize", "prize-fulfilment", "prize-trade",
        "catalog-item", "stock-movement", "redemption", "idempotency-key",
    }  # fmt: skip
    assert kinds <= {kind.value for kind in RefKind}


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "outcome",
        "outcome:",
        "outcome:x",
        "outcome:-1",
        "visit:3",
        "prize 3",
        "participant:",
    ],
)
def test_text_that_names_no_record_is_no_reference(text: str | None) -> None:
    assert Ref.parse(text) is None
    assert id_of(text, RefKind.OUTCOME) is None


def test_a_reference_of_another_kind_names_no_id_of_this_kind() -> None:
    assert id_of("redemption:4", RefKind.OUTCOME) is None
    assert id_of("redemption:4", RefKind.REDEMPTION) == 4


def test_ids_start_at_one_and_follow_the_newest_row() -> None:
    class Row:
        id = 41

    assert next_id(None) == 1
    assert next_id(Row()) == 42
