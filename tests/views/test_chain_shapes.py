"""Each chain's fixed spelling (``views/chains.CHAINS``, ``chain.fixed_spelling``) is the
canonical JSON of its rows, byte for byte, for any values of its shape, and refuses
(``TypeError`` / ``KeyError``, spelled by the encoder instead) whatever is not of it; its
shape is its record's ``hash_fields`` (issue 16, verify's fifth pass)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cmrewards.domain.chain import GENESIS, broken_links, canonical, fixed_spelling, link
from cmrewards.domain.journal import JournalEntry
from cmrewards.domain.ledger import Movement, Transfer
from cmrewards.domain.records import OutcomeRecord
from cmrewards.domain.schedules import Outcome
from cmrewards.views.chains import CHAINS

AT = dt.datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=dt.UTC)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
"""Anything a chained row's column can hold (a value a tamperer wrote included)."""
OF_KIND = {
    "str": st.text(),
    "str?": st.none() | st.text(),
    "int": st.integers(),
    "int?": st.none() | st.integers(),
}

SHAPE = ({"id": "int", "name": "str", "note": "str?", "seed": "int?"}, {"visit": "str", "z": "int"})


def spelled(spell: Any, fields: dict[str, Any]) -> str | None:
    try:
        text: str = spell(dict(sorted(fields.items())))
    except (TypeError, KeyError):
        return None
    return text


@st.composite
def of_shape(draw: st.DrawFn) -> dict[str, Any]:
    required, optional = SHAPE
    fields = {k: draw(OF_KIND[kind]) for k, kind in required.items()}
    return fields | {k: draw(OF_KIND[kind]) for k, kind in optional.items() if draw(st.booleans())}


@given(of_shape())
def test_a_fixed_spelling_is_the_canonical_one_for_its_shape(fields: dict[str, Any]) -> None:
    assert spelled(fixed_spelling(*SHAPE), fields) == canonical(fields)


@given(st.dictionaries(st.sampled_from(["id", "name", "note", "seed", "visit", "z", "x"]), SCALARS))
def test_a_fixed_spelling_is_canonical_or_refuses(fields: dict[str, Any]) -> None:
    assert spelled(fixed_spelling(*SHAPE), fields) in (None, canonical(fields))


OUTCOME = OutcomeRecord(
    7, "higgins-vbrt", "P-1", "stimulant-negative", Outcome.MET, AT, AT, "rec-1", "k",
    "é ✓", 42, GENESIS, "",
)  # fmt: skip
TRANSFER = Transfer(
    3, "higgins-vbrt", Movement.AWARD, "funding", "available:P-1", 10, "P-1", "rec-1",
    "met", "outcome:7", None, AT, AT, GENESIS, "",
)  # fmt: skip
RECORDS: dict[str, list[Any]] = {
    "outcomes": [
        OUTCOME,
        attrs.evolve(OUTCOME, visit="v-1", specimen="S1"),
        attrs.evolve(OUTCOME, key=None, note=None, seed=None),
    ],
    "transfers": [
        TRANSFER,
        attrs.evolve(TRANSFER, settles=7, cap_change_cents=-50, over_cap_cents=20),
        attrs.evolve(TRANSFER, participant=None, cause=None, reverses=2),
    ],
    "journal": [JournalEntry(1, "staff", "nurse-1", "d" * 64, AT, GENESIS, "")],
}


@pytest.mark.parametrize("spec", CHAINS, ids=lambda spec: spec.name)
def test_each_chain_spells_its_records_in_its_own_shape(spec: Any) -> None:
    for record in RECORDS[spec.name]:
        fields = record.hash_fields()
        assert spelled(spec.spell, fields) == canonical(fields)


@pytest.mark.parametrize("spec", CHAINS, ids=lambda spec: spec.name)
def test_a_value_of_another_type_is_spelled_by_the_encoder_and_still_links(spec: Any) -> None:
    fields = dict(sorted(RECORDS[spec.name][0].hash_fields().items()))
    row_hash = link(GENESIS, fields)
    assert (
        list(broken_links([(1, GENESIS, row_hash, fields)], spec.kind, spec.check, spec.spell))
        == []
    )
    retyped = fields | {"id": float(fields["id"])}  # what a tamperer may write
    assert spelled(spec.spell, retyped) is None
    problems = list(
        broken_links([(1, GENESIS, row_hash, retyped)], spec.kind, spec.check, spec.spell)
    )
    assert len(problems) == 1
    assert "hash does not match its contents" in problems[0].message
