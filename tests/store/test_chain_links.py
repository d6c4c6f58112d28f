"""``verify`` hashes a chained row as a link read straight from its columns
(``sql_rows.links_from_rows``): a time stored in another spelling than the hashed one is
spelled again, as reading it into a record would, and a value that is no time stays as
stored, for its row's hash to report."""

from __future__ import annotations

from typing import Any

import pytest

from cmrewards.domain.chain import link
from cmrewards.store.sql_rows import JOURNAL_LINKS, links_from_rows

HASHED = "2027-01-04T09:00:00.000000Z"


def journal_row(at: Any) -> dict[str, Any]:
    fields = {"id": 1, "kind": "staff", "key": "nurse-1", "digest": "d" * 64, "at": HASHED}
    return fields | {"at": at, "prev_hash": "0" * 64, "hash": link("0" * 64, fields)}


@pytest.mark.parametrize(
    "stored",
    [HASHED, "2027-01-04T09:00:00+00:00", "2027-01-04 09:00:00Z", "2027-01-04T10:00+01:00"],
)
def test_a_time_in_another_spelling_links_as_hashed(stored: str) -> None:
    ((_, prev_hash, row_hash, fields),) = links_from_rows([journal_row(stored)], *JOURNAL_LINKS)

    assert fields["at"] == HASHED
    assert link(prev_hash, fields) == row_hash
    assert list(fields) == sorted(fields)  # spelled in this order (chain.ChainLink)


@pytest.mark.parametrize("stored", ["2027-01-04T09:00:00", "not a time", 5])
def test_a_value_that_is_no_utc_time_stays_as_stored_and_breaks_the_hash(stored: Any) -> None:
    ((_, prev_hash, row_hash, fields),) = links_from_rows([journal_row(stored)], *JOURNAL_LINKS)

    assert fields["at"] == stored
    assert link(prev_hash, fields) != row_hash
