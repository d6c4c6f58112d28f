"""Record ids and the references between records.

Every stored row of an append-only or status table has a positive integer id,
one more than the newest row of its table; staff, programs, participants,
accounts, catalog items and idempotency keys are named by text instead. A
transfer names what caused it, and a history line or a ``verify`` problem names
the record it is about, as a ``Ref``: stored and shown as ``kind:id`` text
(``outcome:12``, ``redemption:3``, ``participant:P-1001``), which is what the
hash chains already cover, so the text form never changes.
"""

from __future__ import annotations

import enum
from typing import Protocol

import attrs


class RefKind(enum.StrEnum):
    """The kinds of record a reference can name.

    The journal's kinds of record are among them, spelled the same.
    """

    OUTCOME = "outcome"
    CORRECTION = "correction"
    WRITE_OFF = "write-off"
    PRIZE_WITHDRAWAL = "prize-withdrawal"
    TRANSFER = "transfer"
    REDEMPTION = "redemption"
    PRIZE = "prize"
    PRIZE_FULFILMENT = "prize-fulfilment"
    """Named by the id of the prize handed over."""
    PRIZE_TRADE = "prize-trade"
    """Named by the id of the prize traded in."""
    STOCK_MOVEMENT = "stock-movement"
    ANALYTE_RESULT = "analyte-result"
    JOURNAL_ENTRY = "journal-entry"
    PARTICIPANT = "participant"
    EPISODE = "episode"
    """Named ``participant/number``: an episode before the participant's current one."""
    PROGRAM = "program"
    STAFF = "staff"
    STAFF_SECRET = "staff-secret"
    """Named by the staff id: their passphrase hash."""
    SIGN_IN = "sign-in"
    ACCOUNT = "account"
    """Named ``program/account``: ``funding`` and ``redeemed`` exist once per program."""
    CATALOG_ITEM = "catalog-item"
    """Named by its SKU."""
    IDEMPOTENCY_KEY = "idempotency-key"
    """Named ``scope/key``."""

    @property
    def numbered(self) -> bool:
        """Its records have integer ids (the others are named by text)."""
        return self not in _NAMED_BY_TEXT


_NAMED_BY_TEXT = frozenset(
    {
        RefKind.PARTICIPANT,
        RefKind.EPISODE,
        RefKind.PROGRAM,
        RefKind.STAFF,
        RefKind.STAFF_SECRET,
        RefKind.ACCOUNT,
        RefKind.CATALOG_ITEM,
        RefKind.IDEMPOTENCY_KEY,
    }
)


@attrs.frozen(order=True)
class Ref:
    """A reference to one stored record: ``str(Ref(RefKind.OUTCOME, 12)) == "outcome:12"``.

    ``id`` is an ``int`` for a numbered kind and the record's text name otherwise.
    """

    kind: RefKind
    id: int | str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str | None) -> Ref | None:
        """The reference ``text`` names, or None when it names none (no cause, free text)."""
        if not text:
            return None
        spelled, _, name = text.partition(":")
        kind = _KINDS.get(spelled)
        if kind is None or not name:
            return None
        if kind not in _NUMBERED:
            return cls(kind, name)
        return cls(kind, int(name)) if name.isdigit() else None

    @classmethod
    def to(cls, kind: RefKind, record_id: int | str) -> str:
        """The stored text of a reference: ``Ref.to(RefKind.OUTCOME, 12) == "outcome:12"``."""
        return str(cls(kind, record_id))


def account_ref(program_id: str, account: str) -> Ref:
    """The reference to one ledger account: ``account:higgins/available:P-1001``."""
    return Ref(RefKind.ACCOUNT, f"{program_id}/{account}")


def id_of(text: str | None, kind: RefKind) -> int | None:
    """The id ``text`` names if it is a reference to a record of the numbered ``kind``
    (``Ref.parse``'s, without building the reference: verify asks it of every transfer)."""
    if not text:
        return None
    spelled, _, name = text.partition(":")
    if spelled != kind or kind not in _NUMBERED or not name.isdigit():
        return None
    return int(name)


_KINDS = {kind.value: kind for kind in RefKind}
"""Each kind by its spelling (a dict lookup instead of an enum call per reference)."""
_NUMBERED = frozenset(kind for kind in RefKind if kind.numbered)


class HasId(Protocol):
    @property
    def id(self) -> int: ...


def next_id(newest: HasId | None) -> int:
    """The id of the row after ``newest`` (the newest row of its table; None when empty)."""
    return 1 if newest is None else newest.id + 1
