"""The stored records of enrolment and outcomes: frozen, append-only where it matters."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs

from .clock import to_utc_text
from .schedules import Outcome


class Status(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


@attrs.frozen
class Participant:
    """A pseudonymous participant and their one enrolment."""

    id: str
    """The clinic's pseudonymous id: never a name."""
    program_id: str
    start: dt.date
    """Enrolment date, in the program's time zone; program weeks count from it."""
    status: Status
    enrolled_at: dt.datetime
    enrolled_by: str


@attrs.frozen
class OutcomeRecord:
    """One scheduled opportunity for one target, as recorded. Never updated."""

    id: int
    program_id: str
    participant: str
    target: str
    outcome: Outcome
    occurred_at: dt.datetime
    """Clinical time: when the sample was given or the session held."""
    recorded_at: dt.datetime
    actor: str
    key: str | None
    note: str | None
    seed: int | None
    """Seed of this outcome's prize draws, generated at recording time."""
    prev_hash: str
    hash: str

    def hash_fields(self) -> dict[str, Any]:
        """Everything but the hash itself, in the form the chain hashes."""
        return {
            "id": self.id,
            "program_id": self.program_id,
            "participant": self.participant,
            "target": self.target,
            "outcome": str(self.outcome),
            "occurred_at": to_utc_text(self.occurred_at),
            "recorded_at": to_utc_text(self.recorded_at),
            "actor": self.actor,
            "key": self.key,
            "note": self.note,
            "seed": self.seed,
        }


@attrs.frozen
class IdempotencyRecord:
    """A caller's key, the fingerprint of the request it was used for, and the result."""

    scope: str
    """The program id, or '' for clinic-wide writes (staff, programs)."""
    key: str
    fingerprint: str
    result: dict[str, Any]
    created_at: dt.datetime


class PrizeStatus(enum.StrEnum):
    OWED = "owed"
    """Won from the bowl, not yet handed over."""
    FULFILLED = "fulfilled"
    """Handed over from the prize cabinet."""
    TRADED = "traded"
    """Given up, with others, for one prize of a better category (the program's trade)."""


@attrs.frozen
class Prize:
    """A prize won from the bowl and owed to the participant until staff hand it over."""

    id: int
    program_id: str
    participant: str
    outcome_id: int | None
    """The recorded outcome whose draws won it; None for a prize received in a trade."""
    draw: int | None
    """Which of that outcome's draws (0-based), so ``verify`` can redraw it."""
    category: str
    value_cents: int
    won_at: dt.datetime
    status: PrizeStatus = PrizeStatus.OWED
