"""The journal check compares each record with its latest entry, and names a key two stored
records share: ``verify`` runs SQLite's ``quick_check``, which does not re-check UNIQUE
index by index (docs/decisions.md, "verify's page check")."""

from __future__ import annotations

import datetime as dt

from cmrewards.domain.chain import links_of
from cmrewards.domain.journal import entry_for, journal_problems, latest_digests
from cmrewards.domain.problems import Check, Problem
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
