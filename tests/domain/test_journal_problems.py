"""The journal check compares each record with its latest entry, and names a key two stored
records share: ``verify`` runs SQLite's ``quick_check``, which does not re-check UNIQUE
index by index (docs/decisions.md, "verify's page check")."""

from __future__ import annotations

import datetime as dt
import json

import attrs
import pytest

from cmrewards.domain.chain import canonical, links_of
from cmrewards.domain.journal import (
    digest,
    entry_for,
    identify,
    journal_problems,
    key_digest_matches,
    latest_digests,
)
from cmrewards.domain.problems import Check, Problem
from cmrewards.domain.records import IdempotencyRecord, StoredKey
from cmrewards.domain.refs import Ref, RefKind
from cmrewards.domain.staff import Role, Staff

AT = dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC)
NURSE = Staff("nurse-1", Role.RECORDER, True, AT, "admin-1")


def test_a_record_matching_its_entry_is_no_problem() -> None:
    entries = [entry_for(NURSE, None, AT)]

    assert list(journal_problems(latest_digests(links_of(entries)), [NURSE])) == []


def test_a_record_stored_twice_under_one_key_is_a_problem() -> None:
    entries = [entry_for(NURSE, None, AT)]

    problems = list(journal_problems(latest_digests(links_of(entries)), [NURSE, NURSE]))

    expected = Problem(
        Check.JOURNAL,
        Ref(RefKind.STAFF, "nurse-1"),
        "staff nurse-1 is stored twice (a row was copied outside cmrewards)",
    )
    assert [expected] == problems


# --- idempotency keys, digested from their rows (issue 16, verify's fourth pass) --------

RESULT = {"outcome": "met", "outcome_id": 7, "participant": "P0001", "note": "café"}
KEY = IdempotencyRecord("higgins-vbrt", "L7", "f" * 64, RESULT, AT)
RECORDED = digest(identify(KEY)[2])
HASHED_AT = "2027-01-04T09:00:00.000000Z"


def stored(result: object, *, scope: str = "higgins-vbrt", key: str = "L7") -> StoredKey:
    return (scope, key, "f" * 64, result, HASHED_AT)  # type: ignore[return-value]


@pytest.mark.parametrize(
    "spelling",
    [
        canonical(RESULT),  # written since the fourth pass
        json.dumps(RESULT, sort_keys=True),  # written before it
        json.dumps(RESULT, indent=2),  # any other spelling of the same document
    ],
)
def test_a_stored_key_in_any_spelling_of_its_result_has_its_digest(spelling: str) -> None:
    assert key_digest_matches(stored(spelling), RECORDED)


@pytest.mark.parametrize(
    "result",
    [
        canonical(RESULT | {"outcome_id": 8}),
        json.dumps(RESULT | {"outcome": "not-met"}, sort_keys=True),
        canonical(RESULT)[:-1],  # no JSON any more
        None,
        5,
    ],
)
def test_a_changed_stored_result_does_not_have_its_digest(result: object) -> None:
    assert not key_digest_matches(stored(result), RECORDED)


def test_text_spliced_across_the_result_and_the_scope_does_not_have_its_digest() -> None:
    """The spliced spelling matches byte for byte only for the journaled row: a result that
    swallows the scope's spelling, with a scope that makes up the rest, is no match."""
    original = stored(canonical(RESULT), scope='a"b')
    recorded = digest(identify(attrs.evolve(KEY, scope='a"b'))[2])
    assert key_digest_matches(original, recorded)
    shifted = stored(canonical(RESULT) + ',"scope":"a\\', scope="b")

    assert not key_digest_matches(shifted, recorded)


def test_journal_problems_checks_stored_keys_with_the_records() -> None:
    entries = [entry_for(NURSE, None, AT), entry_for(KEY, None, AT)]
    latest = latest_digests(links_of(entries))
    changed = stored(canonical(RESULT | {"outcome_id": 8}))

    assert list(journal_problems(latest, [NURSE], [stored(canonical(RESULT))])) == []
    assert [p.message for p in journal_problems(latest, [NURSE], [changed, changed])] == [
        "idempotency-key higgins-vbrt/L7 was changed outside cmrewards"
        " (differs from its journal entry)",
        "idempotency-key higgins-vbrt/L7 is stored twice (a row was copied outside cmrewards)",
    ]
    assert [p.message for p in journal_problems(latest, [NURSE])] == [
        "idempotency-key higgins-vbrt/L7 was deleted outside cmrewards (its journal entry remains)"
    ]
