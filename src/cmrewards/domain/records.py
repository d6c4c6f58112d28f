"""The stored records of enrolment and outcomes: frozen, append-only where it matters."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs

from .clock import from_utc_text, to_utc_text
from .schedules import Outcome


class Status(enum.StrEnum):
    """An enrolment's state: outcomes are recorded only while ``active``; the others are final."""

    ACTIVE = "active"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"


@attrs.frozen
class Participant:
    """A pseudonymous person and their current enrolment (episode).

    A person enrolled again after an enrolment ended has a later ``episode``; the
    fields describe that episode, the earlier ones are ``Episode`` records
    (docs/design.md section 2, "Episodes")."""

    id: str
    """The clinic's pseudonymous id: never a name."""
    program_id: str
    start: dt.date
    """Enrolment date of the current episode, in the program's time zone; program weeks
    count from it."""
    status: Status
    enrolled_at: dt.datetime
    enrolled_by: str
    episode: int = 1
    """The current episode's number: 1 for a first enrolment, 2 after one re-enrolment."""
    first_start: dt.date | None = None
    """The first episode's start, when this is a later one (None for episode 1)."""
    ended_at: dt.datetime | None = None
    """When the current episode was withdrawn or completed; None while active (and for
    an enrolment ended before episodes were recorded)."""
    ended_by: str | None = None

    @property
    def cap_start(self) -> dt.date:
        """The date ``enrollment-year`` cap periods count from: the first episode's start,
        so a yearly per-person limit does not start again with a new episode."""
        return self.first_start or self.start

    def as_episode(self) -> Episode:
        """The current episode as an ``Episode`` record."""
        return Episode(
            participant=self.id,
            number=self.episode,
            program_id=self.program_id,
            start=self.start,
            status=self.status,
            enrolled_at=self.enrolled_at,
            enrolled_by=self.enrolled_by,
            ended_at=self.ended_at,
            ended_by=self.ended_by,
        )


@attrs.frozen
class Episode:
    """One enrolment of a person: its program, start, and how it ended.

    The current episode is the ``Participant`` row; each earlier one is stored once, when
    the next one starts, and never changes (docs/design.md section 2, "Episodes")."""

    participant: str
    number: int
    """1, 2, ...: the order of the person's enrolments."""
    program_id: str
    start: dt.date
    """In the program's time zone: the episode holds the results from this date until
    the next episode's start."""
    status: Status
    """``active`` only for the current episode; an earlier one is completed or withdrawn."""
    enrolled_at: dt.datetime
    enrolled_by: str
    ended_at: dt.datetime | None = None
    """None while active, and for an enrolment ended before episodes were recorded."""
    ended_by: str | None = None

    def as_enrolled(self, person: Participant) -> Participant:
        """``person`` as they stood during this episode: what the replay of its results
        reads (the program, the start its weeks count from)."""
        return attrs.evolve(
            person,
            program_id=self.program_id,
            start=self.start,
            status=self.status,
            enrolled_at=self.enrolled_at,
            enrolled_by=self.enrolled_by,
            episode=self.number,
            ended_at=self.ended_at,
            ended_by=self.ended_by,
        )


_OUTCOMES = {str(o): o for o in Outcome}
"""Each outcome by its stored text: looked up, not called through the enum (a fifth of
making a record of a stored row, issue 16); an unknown text still raises ``ValueError``."""


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
    visit: str | None = None
    """The caller's visit id; None means the clinical day (``visits.visit_of``)."""
    specimen: str | None = None
    """The lab accession of the sample, when the lab or the desk gave one."""

    def hash_fields(self) -> dict[str, Any]:
        """Everything but the hash itself, in the form the chain hashes.

        ``visit`` and ``specimen`` came later (migration 0005): each is hashed only when
        set, so every row written before them hashes as it did."""
        optional = {
            name: value
            for name, value in (("visit", self.visit), ("specimen", self.specimen))
            if value is not None
        }
        return optional | {
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

    @classmethod
    def of_link(cls, link: tuple[int, str, str, dict[str, Any]]) -> OutcomeRecord:
        """The record a chain link (``chain.ChainLink``) holds: the inverse of
        ``hash_fields``. ``verify`` reads each outcome once, as its link, and checks the
        meaning of the same fields it hashed. Raises ``ValueError`` for a field that is no
        outcome or time."""
        row_id, prev_hash, row_hash, fields = link
        return cls(
            row_id,
            fields["program_id"],
            fields["participant"],
            fields["target"],
            _OUTCOMES.get(fields["outcome"]) or Outcome(fields["outcome"]),
            from_utc_text(fields["occurred_at"]),
            from_utc_text(fields["recorded_at"]),
            fields["actor"],
            fields["key"],
            fields["note"],
            fields["seed"],
            prev_hash,
            row_hash,
            fields.get("visit"),
            fields.get("specimen"),
        )


@attrs.frozen
class IdempotencyRecord:
    """A caller's key, the fingerprint of the request it was used for, and the result."""

    scope: str
    """The program id, or '' for clinic-wide writes (staff, programs)."""
    key: str
    fingerprint: str
    result: dict[str, Any]
    created_at: dt.datetime


StoredKey = tuple[str, str, str, str, str]
"""An idempotency key as ``verify`` reads it, with no record built: ``(scope, key,
fingerprint, result, created_at)``, the result as its stored JSON text and the time as the
journal hashed it (``to_utc_text``'s spelling). Written since issue 16's fourth pass, the
result's text is its canonical spelling (``chain.canonical``)."""


class PrizeStatus(enum.StrEnum):
    """Where a prize won from the bowl stands."""

    OWED = "owed"
    """Won from the bowl, not yet handed over."""
    FULFILLED = "fulfilled"
    """Handed over from the prize cabinet."""
    TRADED = "traded"
    """Given up, with others, for one prize of a better category (the program's trade)."""
    WITHDRAWN = "withdrawn"
    """No longer owed: a correction or a late result left its outcome fewer draws. Stored
    as a ``PrizeWithdrawal``, not in the prize row (whose CHECK list predates it)."""


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


class CorrectionKind(enum.StrEnum):
    """What a correction does to its outcome (docs/design.md section 3.7)."""

    CORRECT = "correct"
    """The outcome was recorded wrong: its effective outcome is the correction's."""
    VOID = "void"
    """Entered in error (wrong participant, wrong target, never happened): it counts for
    nothing, as if never recorded."""


@attrs.frozen
class Correction:
    """An append-only correction of one recorded outcome; the outcome row never changes.

    The newest correction of an outcome decides its effective outcome (docs/design.md
    section 3.7)."""

    id: int
    program_id: str
    participant: str
    outcome_id: int
    kind: CorrectionKind
    outcome: Outcome | None
    """The right outcome, for ``correct``; None for ``void``."""
    seed: int | None
    """A seed for the draws of an outcome corrected to one that earns draws, when the
    outcome was recorded without one."""
    reason: str
    actor: str
    recorded_at: dt.datetime


@attrs.frozen
class WriteOff:
    """What a settlement could not take back: points already spent, or a surplus prize
    already handed over. The clinic bears it; reports count it."""

    id: int
    program_id: str
    participant: str
    outcome_id: int
    """The outcome whose award was too high."""
    points: int
    """Points not taken back (0 for a prize)."""
    prize_id: int | None
    """The prize handed over that its outcome no longer earns."""
    value_cents: int
    """What it is worth: the points at the program's value, or the prize's value."""
    cause: str
    """What settled it: ``correction:3`` or ``outcome:12`` (a late result)."""
    actor: str
    at: dt.datetime


@attrs.frozen
class PrizeWithdrawal:
    """A prize its outcome no longer earns taken off the owed list (``reinstated`` False),
    or put back when a later settlement earns that draw again (``reinstated`` True)."""

    id: int
    prize_id: int
    reinstated: bool
    cause: str
    actor: str
    at: dt.datetime
