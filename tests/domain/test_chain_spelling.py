"""The hash chains' spelling is pinned: rows written by any earlier version must still verify.

Issue 16 made hashing faster (one JSON encoder built once, UTC times spelled once and
remembered); every stored hash depends on the exact bytes hashed, so these hashes, computed
by the version before that change, must never move. The record takes the awkward paths: a
time in a zone with a fold (its second 1:30), non-ASCII text, a float and nested JSON in an
idempotency result, an optional field set and one not.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from cmrewards.domain.chain import GENESIS, broken_links, canonical, canonical_in_order, link
from cmrewards.domain.clock import to_utc_text
from cmrewards.domain.journal import entry_for
from cmrewards.domain.problems import Check
from cmrewards.domain.records import IdempotencyRecord, OutcomeRecord
from cmrewards.domain.refs import RefKind
from cmrewards.domain.schedules import Outcome

NEW_YORK = ZoneInfo("America/New_York")
NOW = dt.datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=dt.UTC)


def outcome() -> OutcomeRecord:
    return OutcomeRecord(
        id=7,
        program_id="higgins-vbrt",
        participant="P-1001",
        target="stimulant-negative",
        outcome=Outcome.MET,
        occurred_at=dt.datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK),
        recorded_at=NOW,
        actor="rec-01",
        key="row:é",
        note="négatif ✓",
        seed=None,
        prev_hash=GENESIS,
        hash="",
        visit="v-1",
        specimen=None,
    )


def test_an_outcome_hashes_as_it_always_has() -> None:
    record = outcome()
    assert link(record.prev_hash, record.hash_fields()) == (
        "355de31759568f1b8f2b0132e84e4f268108aa0c821d1e99da9adc1d67edf953"
    )


def test_a_journal_entry_of_a_key_digests_and_hashes_as_it_always_has() -> None:
    result = {"outcome_id": 7, "nested": {"b": [1, 2.5, None, True], "a": "ü"}}
    key = IdempotencyRecord("higgins-vbrt", "L1", "f" * 64, result, NOW.replace(microsecond=0))
    entry = entry_for(key, None, NOW.replace(microsecond=0))
    assert entry.digest == "639bb12332fcd4a4ac40c67a2effaed20f0bd31d3fa5c34674f0249b98d041b1"
    assert entry.hash == "190336999850fae8a349f536fc8cb62626b33903c41a54c876fe42957e9fd5f3"


def test_remembered_utc_spellings_tell_a_folded_hour_apart() -> None:
    first = dt.datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)
    second = first.replace(fold=1)
    assert first == second  # the same wall time in one zone compares equal...
    assert to_utc_text(first) == "2026-11-01T05:30:00.000000Z"
    assert to_utc_text(second) == "2026-11-01T06:30:00.000000Z"  # ...but is not the same instant
    for when in (first, second):  # and so are their UTC forms, spelled from the cache
        utc = when.astimezone(dt.UTC)
        assert to_utc_text(utc) == to_utc_text(utc) == to_utc_text(when)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), JSON_VALUES, max_size=6))
def test_the_encoder_built_once_spells_as_the_standard_encoder(fields: dict[str, Any]) -> None:
    # canonical() calls the C encoder it built once; JSONEncoder.encode builds it per call.
    standard = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(fields) == standard.encode(fields)


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
"""What a chained row's column can hold (a value a tamperer wrote included)."""


@given(st.dictionaries(st.text(), SCALARS, max_size=16))
def test_a_link_spelled_in_its_own_order_is_the_canonical_spelling(fields: dict[str, Any]) -> None:
    # verify's fifth pass (issue 16): a link's fields come sorted, and are spelled as they come.
    assert canonical_in_order(dict(sorted(fields.items()))) == canonical(fields)


def test_fields_out_of_order_still_link_and_an_edit_still_breaks() -> None:
    record = outcome()
    fields = record.hash_fields()
    row_hash = link(GENESIS, fields)
    backwards = dict(sorted(fields.items(), reverse=True))
    assert canonical_in_order(backwards) != canonical(fields)  # spelled again before judged
    assert (
        list(
            broken_links([(7, GENESIS, row_hash, backwards)], RefKind.OUTCOME, Check.OUTCOME_CHAIN)
        )
        == []
    )
    edited = backwards | {"note": "edited"}
    problems = list(
        broken_links([(7, GENESIS, row_hash, edited)], RefKind.OUTCOME, Check.OUTCOME_CHAIN)
    )
    assert [p.message for p in problems] == [
        "outcome 7: hash does not match its contents (edited outside cmrewards)"
    ]
