"""The journal: tamper evidence for every record that is not already hash-chained.

Outcomes and transfers carry their own chains. Everything else the library writes (staff,
programs, participants and their past episodes, prizes and their hand-overs, trades and
withdrawals, the catalog, stock movements, redemptions, analyte results and revisions,
idempotency keys, corrections, write-offs, passphrase hashes and sign-in events) gets a
journal entry each time it is written: the record's kind, key and a digest of its canonical
form, chained like the ledger. ``verify`` recomputes each record's digest and compares it
with its latest journal entry, so an edit, insertion or deletion made outside the library
shows up even in tables whose rows legitimately change (a redemption's status).

Derived values are left out of the digests because ``verify`` recomputes them from
their sources: balances, schedule states, cap usage, and an item's stock. The store
layer's ``JournalingTx`` (store/journaling.py) writes the entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .chain import ChainLink, canonical, link
from .clock import to_utc_text
from .json_form import to_json
from .problems import Check, Problem
from .programs import Program
from .records import (
    Correction,
    Episode,
    IdempotencyRecord,
    Participant,
    Prize,
    PrizeWithdrawal,
    StoredKey,
    WriteOff,
)
from .redemption import CatalogItem, PrizeFulfilment, PrizeTrade, Redemption, StockMovement
from .refs import Ref, next_id
from .revisions import AnalyteRevision
from .sign_in import SignInEvent, StaffSecret
from .specimens import AnalyteResult
from .staff import Staff


@attrs.frozen
class JournalEntry:
    """One write of one record."""

    id: int
    kind: str
    key: str
    digest: str
    """sha256 of the record's canonical form at this write."""
    at: dt.datetime
    prev_hash: str
    hash: str

    def hash_fields(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "key": self.key,
            "digest": self.digest,
            "at": to_utc_text(self.at),
        }


@attrs.frozen
class ProgramAdded:
    """A program with who added it and when (the stored program row)."""

    program: Program
    added_at: dt.datetime
    added_by: str


Journaled = (
    Staff
    | ProgramAdded
    | Participant
    | Episode
    | Prize
    | PrizeFulfilment
    | PrizeTrade
    | CatalogItem
    | StockMovement
    | Redemption
    | AnalyteResult
    | AnalyteRevision
    | IdempotencyRecord
    | Correction
    | WriteOff
    | PrizeWithdrawal
    | StaffSecret
    | SignInEvent
)


def identify(record: Journaled) -> tuple[str, str, dict[str, Any]]:
    """(kind, key, canonical fields) of a record."""
    if isinstance(record, IdempotencyRecord):
        # The stored result is JSON already; walking it again would dominate verify.
        fields = {
            "scope": record.scope,
            "key": record.key,
            "fingerprint": record.fingerprint,
            "result": record.result,
            "created_at": to_utc_text(record.created_at),
        }
        return "idempotency-key", f"{record.scope}/{record.key}", fields
    if isinstance(record, ProgramAdded):
        origin = {"added_at": to_utc_text(record.added_at), "added_by": record.added_by}
        return "program", record.program.id, record.program.to_dict() | origin
    fields = to_json(record)
    match record:
        case Staff():
            return "staff", record.id, fields
        case Participant():
            # The episode fields came later (docs/design.md section 2, "Episodes"): each is
            # in the digest only when it differs from a first enrolment's, so every
            # participant journaled before them digests as it did.
            for name, first in _FIRST_EPISODE.items():
                if fields[name] == first:
                    del fields[name]
            return "participant", record.id, fields
        case Episode():
            return "episode", f"{record.participant}/{record.number}", fields
        case Prize():
            return "prize", str(record.id), fields
        case PrizeFulfilment():
            return "prize-fulfilment", str(record.prize_id), fields
        case PrizeTrade():
            return "prize-trade", str(record.traded_prize), fields
        case CatalogItem():
            # The count is derived from the stock movements and checked against them;
            # whether the item is counted at all is the item's own.
            fields["stock"] = "on demand" if record.stock is None else "counted"
            return "catalog-item", record.sku, fields
        case StockMovement():
            return "stock-movement", str(record.id), fields
        case Redemption():
            return "redemption", str(record.id), fields
        case AnalyteResult():
            return "analyte-result", str(record.id), fields
        case AnalyteRevision():
            return "analyte-revision", str(record.id), fields
        case Correction():
            return "correction", str(record.id), fields
        case WriteOff():
            return "write-off", str(record.id), fields
        case PrizeWithdrawal():
            return "prize-withdrawal", str(record.id), fields
        case StaffSecret():
            return "staff-secret", record.staff_id, fields
        case SignInEvent():
            return "sign-in", str(record.id), fields
    raise TypeError(f"{type(record).__name__} is not journaled")


_FIRST_EPISODE = {"episode": 1, "first_start": None, "ended_at": None, "ended_by": None}
"""The episode fields of a ``Participant`` as a first enrolment holds them."""


_string = json.encoder.encode_basestring
"""A string as ``canonical`` spells it (the C encoder's own, UTF-8 kept); anything else
raises ``TypeError``."""
_sha256 = hashlib.sha256


def digest(fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(fields).encode()).hexdigest()


def entry_for(record: Journaled, head: JournalEntry | None, at: dt.datetime) -> JournalEntry:
    kind, key, fields = identify(record)
    entry_id, prev_hash = next_id(head), "0" * 64 if head is None else head.hash
    entry = JournalEntry(entry_id, kind, key, digest(fields), at, prev_hash, "")
    return attrs.evolve(entry, hash=link(prev_hash, entry.hash_fields()))


def latest_digests(entries: Iterable[ChainLink]) -> dict[tuple[str, str], str]:
    """Each ``(kind, key)``'s digest at its latest entry, from the journal's links in id
    order."""
    return {(f["kind"], f["key"]): f["digest"] for _, _, _, f in entries}


def journal_problems(
    latest: Mapping[tuple[str, str], str],
    records: Iterable[Journaled],
    keys: Iterable[StoredKey] = (),
) -> Iterable[Problem]:
    """Every record whose current form is not the one its latest journal entry recorded
    (``latest``: ``latest_digests``), the idempotency ``keys`` read as rows (``StoredKey``,
    checked by ``key_digest_matches``) among them,
    and every key two records share (the store's UNIQUE constraints are not re-checked
    index by index: docs/decisions.md, "verify's page check")."""
    seen: set[tuple[str, str]] = set()
    for record in records:
        kind, key, fields = identify(record)
        recorded = _recorded(latest, seen, kind, key)
        if isinstance(recorded, Problem):
            yield recorded
        elif recorded != digest(fields):
            yield _changed(kind, key)
    for stored in keys:
        pair = ("idempotency-key", f"{stored[0]}/{stored[1]}")
        digest_then = latest.get(pair)
        if digest_then is not None and pair not in seen:  # _recorded's answer, inline
            seen.add(pair)
            if not key_digest_matches(stored, digest_then):
                yield _changed(*pair)
            continue
        problem = _recorded(latest, seen, *pair)
        assert isinstance(problem, Problem)
        yield problem
    for kind, key in sorted(set(latest) - seen):
        yield _problem(kind, key, "was deleted outside cmrewards (its journal entry remains)")


def _recorded(
    latest: Mapping[tuple[str, str], str], seen: set[tuple[str, str]], kind: str, key: str
) -> str | Problem:
    """The digest the latest entry of the record ``(kind, key)`` recorded, or what is wrong
    with the record before its digest is looked at."""
    if (kind, key) in seen:
        return _problem(kind, key, "is stored twice (a row was copied outside cmrewards)")
    seen.add((kind, key))
    recorded = latest.get((kind, key))
    if recorded is None:
        return _problem(kind, key, "was added outside cmrewards (no journal entry)")
    return recorded


def _changed(kind: str, key: str) -> Problem:
    return _problem(kind, key, "was changed outside cmrewards (differs from its journal entry)")


def key_digest_matches(stored: StoredKey, recorded: str) -> bool:
    """Whether an idempotency key's row still has the digest its journal entry recorded:
    ``digest(identify(record)[2])`` of the record the row reads as.

    First the stored result text is taken as its own canonical spelling and spliced into
    the record's (a key written since issue 16's fourth pass is stored so): a match proves
    the row is the one journaled, byte for byte: the text hashed is then the one hashed at
    the write, and its other fields are complete JSON strings (spelled here, not spliced),
    the key by the entry's name and the scope by what follows the result, so the result's
    text can only be the one it was. A row
    stored in another spelling (``json.dumps``'s, before that pass), or changed, is parsed
    and spelled again, as its record would be; text that is no JSON is changed."""
    scope, key, fingerprint, result, created_at = stored
    try:
        spliced = (
            f'{{"created_at":{_string(created_at)},"fingerprint":{_string(fingerprint)},'
            f'"key":{_string(key)},"result":{result},"scope":{_string(scope)}}}'
        )
    except TypeError:  # a column that is no text: only the full spelling can say
        spliced = None
    if spliced is not None and _sha256(spliced.encode()).hexdigest() == recorded:
        return True
    try:
        parsed = json.loads(result)
    except (TypeError, ValueError):
        return False
    fields = {
        "scope": scope,
        "key": key,
        "fingerprint": fingerprint,
        "result": parsed,
        "created_at": created_at,
    }
    return digest(fields) == recorded


def _problem(kind: str, key: str, what: str) -> Problem:
    """``prize 4 was changed outside cmrewards …``, about the record the journal names."""
    ref = Ref.parse(f"{kind}:{key}")  # the journal's kinds are reference kinds
    return Problem(Check.JOURNAL, ref, f"{kind} {key} {what}")
