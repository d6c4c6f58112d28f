"""Tamper evidence: every append-only row carries ``sha256(prev_hash + canonical row)``.

An edit, insertion, deletion or reordering made outside the library breaks the
chain from that row on, which ``verify`` reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
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


def _c_encoder(*, sort_keys: bool) -> Any:
    """The C encoder behind ``_CANONICAL``, or None where this Python has none."""
    if _C_ENCODER is None:
        return None
    # markers, default, string encoder, indent, key and item separators, sort_keys,
    # skipkeys, allow_nan: what ``_CANONICAL.encode`` passes it at every call.
    return _C_ENCODER(
        None, _unencodable, json.encoder.encode_basestring, None, ":", ",", sort_keys, False,
        True,
    )  # fmt: skip


_ENCODE = _c_encoder(sort_keys=True)
"""The C encoder behind ``_CANONICAL``, built once as well: ``JSONEncoder.encode`` builds it
(and a float formatter) anew for every row, a third of spelling one (verify's profile,
issue 16). No circular-reference markers: hashed fields are trees. Where the C encoder is
missing (another Python), ``_CANONICAL`` spells the same bytes."""
_ENCODE_IN_ORDER = _c_encoder(sort_keys=False)
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


Spelling = Callable[[Mapping[str, Any]], str]
"""A chain's spelling of one link's fields: ``canonical``'s text, or ``TypeError``."""

_string = json.encoder.encode_basestring
"""A string as the encoder spells it (UTF-8 kept); anything else raises ``TypeError``."""


def _nullable(value: Any) -> str:
    return "null" if value is None else _string(value)


def _integer(value: Any) -> str:
    if type(value) is not int:  # a bool is an int to isinstance, and spelled "true"
        raise TypeError(type(value).__name__)
    return repr(value)


def fixed_spelling(required: Mapping[str, str], optional: Mapping[str, str] = {}) -> Spelling:
    """The spelling of a chained table's fixed field shape, as one f-string: ``required``
    fields always present, each ``"str"``, ``"str?"`` (NULL allowed), ``"int"`` or
    ``"int?"``, and ``optional`` ones, ``"str"`` or ``"int"``, present only when set.

    The spelling is ``canonical(fields)``, byte for byte, for fields of that shape (a
    property test pins it for any values of a shape: tests/views/test_chain_shapes.py; every
    stored row of a filled clinic takes it: tests/store/test_tamper.py); for any others
    (another type, a key missing or extra) it raises ``TypeError`` or ``KeyError``, and
    ``broken_links`` spells them with the encoder. About half the encoder's time a row:
    the keys are written once, and only the values are escaped (issue 16, verify's fifth
    pass)."""
    shape = {**required, **optional}
    keys = sorted(shape)
    assert keys[0] in required, keys  # an optional field first would need no comma before it
    assert set(optional.values()) <= {"str", "int"}, optional
    scope: dict[str, Any] = {"_string": _string, "_nullable": _nullable, "_integer": _integer}
    present = " + ".join(f'("{k}" in f)' for k in optional) or "0"
    lines = [
        "def spell(f):",
        f"    if len(f) != {len(required)} + {present}:",
        "        raise KeyError('a field more or less than the shape')",
    ]
    checks = [f'type(f["{k}"]) is not int' for k, kind in required.items() if kind == "int"]
    checks += [
        f'(f["{k}"] is not None and type(f["{k}"]) is not int)'
        for k, kind in required.items()
        if kind == "int?"
    ]
    if checks:
        lines += [f"    if {' or '.join(checks)}:", "        raise TypeError('another type')"]
    parts = []
    for n, key in enumerate(keys):
        assert key.isidentifier(), key  # spelled as it is, in the code and in the text
        value = {
            "str": f'_string(f["{key}"])',
            "str?": f'_nullable(f["{key}"])',
            "int": f'_integer(f["{key}"])' if key in optional else f'repr(f["{key}"])',
            "int?": f'("null" if f["{key}"] is None else repr(f["{key}"]))',
        }[shape[key]]
        prefix = f'{"," if n else ""}"{key}":'
        if key in optional:
            scope[f"_p{n}"] = prefix
            parts.append(f'{{(_p{n} + {value}) if "{key}" in f else ""}}')
        else:
            parts.append(f"{prefix}{{{value}}}")
    lines.append(f"    return f'''{{{{{''.join(parts)}}}}}'''")
    exec("\n".join(lines), scope)  # built once per table, from its shape
    spell: Spelling = scope["spell"]
    return spell


def link(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


ChainLink = tuple[int, str, str, dict[str, Any]]
"""One row of a chain as ``verify`` checks it: ``(id, prev_hash, hash, hash fields)``, the
fields in sorted key order (``canonical``'s), as the stores read them
(``sql_rows.links_from_rows``, ``links_of``)."""


def broken_links(
    rows: Iterable[tuple[int, str, str, Mapping[str, Any]]],
    kind: RefKind,
    check: Check,
    spell: Spelling = canonical_in_order,
) -> Iterable[Problem]:
    """Problems in a chain of ``kind`` records, given ``(id, prev_hash, hash, fields)`` by id,
    the fields in sorted key order (``ChainLink``), spelled by ``spell`` (the chain's
    ``fixed_spelling``). Fields ``spell`` refuses are spelled by the encoder, and a row whose
    hash does not match is spelled by ``canonical`` before it is reported: a faster
    spelling costs a row a second one at worst, never a wrong answer."""
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
        try:
            text = spell(fields)
        except (TypeError, KeyError):  # not the chain's shape: a value a tamperer wrote
            text = canonical_in_order(fields)
        spelled = sha256((prev_hash + text).encode()).hexdigest()
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
