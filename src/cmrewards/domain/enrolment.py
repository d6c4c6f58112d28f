"""Enrolment: a participant id is enrolled once, and an ended enrolment stays ended.

The rules are in docs/decisions.md ("Identities and enrolment"): a returning
participant gets a new pseudonymous id, so their earlier record stays intact.
"""

from __future__ import annotations

import datetime as dt

import attrs

from ..errors import AlreadyExists, InvalidTransition
from .clock import local_date
from .programs import Program
from .records import Participant, Status


def enrolment(
    existing: Participant | None,
    participant: str,
    program: Program,
    *,
    start: dt.date | None,
    now: dt.datetime,
    actor: str,
) -> Participant:
    """The active enrolment of ``participant`` in ``program`` that ``actor`` makes at ``now``.

    ``start`` defaults to today in the program's time zone. ``existing`` is the
    participant's stored enrolment, if any: a participant is enrolled once, whatever
    its status, so one is ``AlreadyExists``.
    """
    if existing is not None:
        raise AlreadyExists(
            f"participant {participant!r} is already enrolled in {existing.program_id}"
            f" ({existing.status}); a participant is enrolled once"
        )
    return Participant(
        id=participant,
        program_id=program.id,
        start=start or local_date(now, program.timezone),
        status=Status.ACTIVE,
        enrolled_at=now,
        enrolled_by=actor,
    )


def ended(record: Participant, status: Status) -> Participant:
    """``record`` ended as ``status`` (withdrawn or completed). Only an active enrolment
    ends, and ending is final: ``InvalidTransition`` otherwise."""
    if record.status is not Status.ACTIVE:
        raise InvalidTransition(f"participant {record.id!r} is already {record.status}")
    return attrs.evolve(record, status=status)
