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
    latest: Mapping[tuple[str, str], str], records: Iterable[Journaled]
) -> Iterable[Problem]:
    """Every record whose current form is not the one its latest journal entry recorded
    (``latest``: ``latest_digests``),
    and every key two records share (the store's UNIQUE constraints are not re-checked
    index by index: docs/decisions.md, "verify's page check")."""
    seen = set()
    for record in records:
        kind, key, fields = identify(record)
        if (kind, key) in seen:
            yield _problem(kind, key, "is stored twice (a row was copied outside cmrewards)")
            continue
        seen.add((kind, key))
        recorded = latest.get((kind, key))
        if recorded is None:
            yield _problem(kind, key, "was added outside cmrewards (no journal entry)")
        elif recorded != digest(fields):
            yield _problem(
                kind, key, "was changed outside cmrewards (differs from its journal entry)"
            )
    for kind, key in sorted(set(latest) - seen):
        yield _problem(kind, key, "was deleted outside cmrewards (its journal entry remains)")


def _problem(kind: str, key: str, what: str) -> Problem:
    """``prize 4 was changed outside cmrewards …``, about the record the journal names."""
    ref = Ref.parse(f"{kind}:{key}")  # the journal's kinds are reference kinds
    return Problem(Check.JOURNAL, ref, f"{kind} {key} {what}")
