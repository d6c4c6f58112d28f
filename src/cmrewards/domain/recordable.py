"""When an outcome may be recorded: an active enrolment, a plausible time, and time order.

The rules are in docs/decisions.md ("Identities and enrolment", "Recording
outcomes"). Each check raises the refusal a caller sees; ``check_recordable``
runs them in the order a refusal is reported.
"""

from __future__ import annotations

import datetime as dt

from ..errors import InvalidInput, InvalidTransition, OutOfOrder
from .clock import local_date, to_utc_text
from .records import OutcomeRecord, Participant, Status

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


def check_not_ahead(at: dt.datetime, now: dt.datetime) -> None:
    """A clinical time more than ``FUTURE_TOLERANCE`` ahead of ``now`` is ``InvalidInput``."""
    if at > now + FUTURE_TOLERANCE:
        raise InvalidInput(f"at {to_utc_text(at)} is in the future")


def check_not_before_enrolment(person: Participant, at: dt.datetime, timezone: str) -> None:
    """A clinical time whose date (in the program's ``timezone``) is before the enrolment
    date is ``InvalidInput``: program weeks count from the enrolment."""
    if local_date(at, timezone) < person.start:
        raise InvalidInput(
            f"at {to_utc_text(at)} is before {person.id}'s enrolment on {person.start}"
        )


def check_in_time_order(at: dt.datetime, last: OutcomeRecord | None) -> None:
    """Outcomes of one participant and target are in time order: a time earlier than
    ``last`` (the latest recorded for that pair) is ``OutOfOrder``. The *same* time is
    allowed: it is how one visit records two targets."""
    if last is not None and at < last.occurred_at:
        raise OutOfOrder(
            f"{last.target} for {last.participant} was last recorded at"
            f" {to_utc_text(last.occurred_at)}; {to_utc_text(at)} is earlier (outcomes are"
            " recorded in time order)"
        )


def check_recordable(
    person: Participant,
    timezone: str,
    at: dt.datetime,
    now: dt.datetime,
    last: OutcomeRecord | None,
) -> None:
    """Every rule above, in order: ``person`` may have an outcome at clinical time ``at``
    recorded at wall-clock ``now``, after ``last`` (the latest outcome of the same target).
    ``timezone`` is the program's."""
    check_active(person)
    check_not_ahead(at, now)
    check_not_before_enrolment(person, at, timezone)
    check_in_time_order(at, last)
