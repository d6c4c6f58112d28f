"""Tamper evidence: every append-only row carries ``sha256(prev_hash + canonical row)``.

An edit, insertion, deletion or reordering made outside the library breaks the
chain from that row on, which ``verify`` reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar

import attrs

from .problems import Check, Problem
from .refs import Ref, RefKind, next_id

GENESIS = "0" * 64
"""The ``prev_hash`` of the first row of every chain."""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""Built once: ``json.dumps`` with these options builds a new encoder at every call, which
was a fifth of hashing a row (issue 16's profile). The spelling is the same."""


def _unencodable(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_ENCODE = (
    None
    if _C_ENCODER is None
    else _C_ENCODER(
        # markers, default, string encoder, indent, key and item separators, sort_keys,
        # skipkeys, allow_nan: what ``_CANONICAL.encode`` passes it at every call.
        None, _unencodable, json.encoder.encode_basestring, None, ":", ",", True, False, True
    )
)  # fmt: skip
"""The C encoder behind ``_CANONICAL``, built once as well: ``JSONEncoder.encode`` builds it
(and a float formatter) anew for every row, a third of spelling one (verify's profile,
issue 16). No circular-reference markers: hashed fields are trees. Where the C encoder is
missing (another Python), ``_CANONICAL`` spells the same bytes."""


_ENCODE_IN_ORDER = (
    None
    if _C_ENCODER is None
    else _C_ENCODER(
        None, _unencodable, json.encoder.encode_basestring, None, ":", ",", False, False, True
    )
)  # fmt: skip
"""The same C encoder without ``sort_keys``: it spells a dict's items in its own order."""


def canonical(fields: Mapping[str, Any]) -> str:
    """One spelling per row: sorted keys, no spaces, UTF-8 kept as is."""
    if _ENCODE is None:
        return _CANONICAL.encode(fields)
    return "".join(_ENCODE(fields, 0))


def canonical_in_order(fields: Mapping[str, Any]) -> str:
    """``canonical(fields)`` for a chain link's fields, whose keys come sorted and whose
    values are no dicts (``ChainLink``): the same text, without sorting the keys again.

    The C encoder sorts by listing a dict's items as pairs and sorting them, about a third
    of spelling a chained row (issue 16, verify's fifth pass). Fields in another order are
    spelled in that order, which ``canonical`` would not: ``broken_links`` spells a row
    again with ``canonical`` before it says the row's hash does not match."""
    if _ENCODE_IN_ORDER is None:
        return _CANONICAL.encode(fields)
    return "".join(_ENCODE_IN_ORDER(fields, 0))


def link(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


ChainLink = tuple[int, str, str, dict[str, Any]]
"""One row of a chain as ``verify`` checks it: ``(id, prev_hash, hash, hash fields)``, the
fields in sorted key order (``canonical``'s), as the stores read them
(``sql_rows.links_from_rows``, ``links_of``)."""


def broken_links(
    rows: Iterable[tuple[int, str, str, Mapping[str, Any]]], kind: RefKind, check: Check
) -> Iterable[Problem]:
    """Problems in a chain of ``kind`` records, given ``(id, prev_hash, hash, fields)`` by id,
    the fields in sorted key order (``ChainLink``; in another order a row costs a second
    spelling, never a wrong answer)."""
    what = kind.replace("-", " ")  # "journal entry 3: …"
    expected_prev = GENESIS
    sha256 = hashlib.sha256
    for row_id, prev_hash, row_hash, fields in rows:
        if prev_hash != expected_prev:
            yield Problem(
                check,
                Ref(kind, row_id),
                f"{what} {row_id}: previous hash does not match (a row was removed or reordered)",
            )
        spelled = sha256((prev_hash + canonical_in_order(fields)).encode()).hexdigest()
        if spelled != row_hash and link(prev_hash, fields) != row_hash:
            yield Problem(
                check,
                Ref(kind, row_id),
                f"{what} {row_id}: hash does not match its contents (edited outside cmrewards)",
            )
        expected_prev = row_hash


class Chained(Protocol):
    """A hash-chained record: an id, the previous row's hash, its own hash."""

    @property
    def id(self) -> int: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...
    def hash_fields(self) -> dict[str, Any]: ...


def links_of(records: Iterable[Chained]) -> list[ChainLink]:
    """Each record as its chain link (a store that keeps records rather than rows)."""
    return [(r.id, r.prev_hash, r.hash, dict(sorted(r.hash_fields().items()))) for r in records]


def position_after(head: Chained | None) -> tuple[int, str]:
    """The id and ``prev_hash`` of the row that follows ``head``."""
    return next_id(head), GENESIS if head is None else head.hash


C = TypeVar("C", bound=Chained)


def sealed(record: C) -> C:
    """``record`` with its hash filled in."""
    return attrs.evolve(record, hash=link(record.prev_hash, record.hash_fields()))  # type: ignore[misc]
