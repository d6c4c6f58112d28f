"""When an outcome may be recorded: an active enrolment and a plausible time.

The rules are in docs/decisions.md ("Identities and enrolment", "Recording
outcomes"). Each check raises the refusal a caller sees; ``check_recordable``
runs them in the order a refusal is reported.
"""

from __future__ import annotations

import datetime as dt

from ..errors import InvalidInput, InvalidTransition
from .clock import format_when, local_date
from .records import Participant, Status

FUTURE_TOLERANCE = dt.timedelta(hours=1)
"""Terminals' clocks drift; a clinical time further ahead of the clock than this is a typo."""


def check_active(person: Participant) -> None:
    """Outcomes are recorded only while the enrolment is active; ``InvalidTransition`` if not.

    Withdrawn and completed enrolments are final (corrections remain possible).
    """
    if person.status is not Status.ACTIVE:
        raise InvalidTransition(
            f"participant {person.id!r} is {person.status}; outcomes are recorded only while active"
        )


def check_not_ahead(at: dt.datetime, now: dt.datetime, timezone: str = "UTC") -> None:
    """A clinical time more than ``FUTURE_TOLERANCE`` ahead of ``now`` is ``InvalidInput``;
    the message shows both in ``timezone`` (the program's)."""
    if at > now + FUTURE_TOLERANCE:
        raise InvalidInput(
            f"at {format_when(at, timezone)} is in the future (it is now"
            f" {format_when(now, timezone)})"
        )


def check_not_before_enrolment(person: Participant, at: dt.datetime, timezone: str) -> None:
    """A clinical time whose date (in the program's ``timezone``) is before the enrolment
    date is ``InvalidInput``: program weeks count from the enrolment. Before a later
    episode's start it would belong to an ended episode, which takes no new results
    (docs/decisions.md, "Episodes")."""
    if local_date(at, timezone) < person.start:
        if person.episode > 1:
            raise InvalidInput(
                f"at {format_when(at, timezone)} is before {person.id}'s episode"
                f" {person.episode}, from {person.start}: an ended episode takes no new results"
                " (correct one instead)"
            )
        raise InvalidInput(
            f"at {format_when(at, timezone)} is before {person.id}'s enrolment on {person.start}"
        )


def check_recordable(person: Participant, timezone: str, at: dt.datetime, now: dt.datetime) -> None:
    """Every rule above, in order: ``person`` may have an outcome at clinical time ``at``
    recorded at wall-clock ``now``. ``timezone`` is the program's. A time earlier than
    the last one recorded is a late result, recorded in clinical order and settled
    (docs/design.md section 4.1)."""
    check_active(person)
    check_not_ahead(at, now, timezone)
    check_not_before_enrolment(person, at, timezone)
