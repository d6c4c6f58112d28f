"""Record ids and the references between records.

Every stored row has a positive integer id, one more than the newest row of its
table. A transfer names what caused it, and a history line or a ``verify``
problem names the record it is about, as a ``Ref``: stored and shown as
``kind:id`` text (``outcome:12``, ``redemption:3``), which is what the hash
chains already cover, so the text form never changes.
"""

from __future__ import annotations

import enum
from typing import Protocol

import attrs


class RefKind(enum.StrEnum):
    """The kinds of record a reference can name."""

    OUTCOME = "outcome"
    TRANSFER = "transfer"
    REDEMPTION = "redemption"
    PRIZE = "prize"


@attrs.frozen(order=True)
class Ref:
    """A reference to one stored record: ``str(Ref(RefKind.OUTCOME, 12)) == "outcome:12"``."""

    kind: RefKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, text: str | None) -> Ref | None:
        """The reference ``text`` names, or None when it names none (no cause, free text)."""
        if not text:
            return None
        kind, _, number = text.partition(":")
        if kind not in RefKind.__members__.values() or not number.isdigit():
            return None
        return cls(RefKind(kind), int(number))

    @classmethod
    def to(cls, kind: RefKind, record_id: int) -> str:
        """The stored text of a reference: ``Ref.to(RefKind.OUTCOME, 12) == "outcome:12"``."""
        return str(cls(kind, record_id))


def id_of(text: str | None, kind: RefKind) -> int | None:
    """The id ``text`` names if it is a reference to a ``kind`` record, else None."""
    ref = Ref.parse(text)
    return ref.id if ref is not None and ref.kind is kind else None


class HasId(Protocol):
    @property
    def id(self) -> int: ...


def next_id(newest: HasId | None) -> int:
    """The id of the row after ``newest`` (the newest row of its table; None when empty)."""
    return 1 if newest is None else newest.id + 1
