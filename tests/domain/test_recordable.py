"""When an outcome may be recorded: an active enrolment and a plausible time (a late one too)."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from cmrewards.domain.recordable import (
    FUTURE_TOLERANCE,
    check_active,
    check_not_ahead,
    check_not_before_enrolment,
    check_recordable,
)
from cmrewards.domain.records import Participant, Status
from cmrewards.errors import InvalidInput, InvalidTransition

NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
PERSON = Participant(
    id="P001",
    program_id="stim",
    start=dt.date(2027, 5, 3),
    status=Status.ACTIVE,
    enrolled_at=dt.datetime(2027, 5, 3, 9, tzinfo=dt.UTC),
    enrolled_by="admin-1",
)


def test_an_active_enrolment_may_record() -> None:
    check_active(PERSON)


@pytest.mark.parametrize("status", [Status.WITHDRAWN, Status.COMPLETED])
def test_an_ended_enrolment_records_nothing(status: Status) -> None:
    with pytest.raises(InvalidTransition, match=f"P001' is {status}"):
        check_active(attrs.evolve(PERSON, status=status))


def test_up_to_an_hour_ahead_of_the_clock_is_drift_beyond_it_a_typo() -> None:
    assert dt.timedelta(hours=1) == FUTURE_TOLERANCE
    check_not_ahead(NOW + FUTURE_TOLERANCE, NOW)
    with pytest.raises(InvalidInput, match="in the future"):
        check_not_ahead(NOW + FUTURE_TOLERANCE + dt.timedelta(microseconds=1), NOW)


def test_the_enrolment_date_counts_in_the_programs_zone() -> None:
    # 02:00 UTC on the start date is still the day before in Chicago.
    early = dt.datetime(2027, 5, 3, 2, tzinfo=dt.UTC)
    check_not_before_enrolment(PERSON, early, "UTC")
    with pytest.raises(InvalidInput, match="before P001's enrolment on 2027-05-03"):
        check_not_before_enrolment(PERSON, early, "America/Chicago")


def test_refusals_come_in_order_status_future_enrolment() -> None:
    """One request breaking every rule is told about the first: the caller fixes one thing
    at a time. A time earlier than the last one recorded is no refusal: it is a late
    result, placed in clinical order and settled."""
    ahead = NOW + dt.timedelta(days=1)
    withdrawn = attrs.evolve(PERSON, status=Status.WITHDRAWN, start=dt.date(2027, 7, 1))
    with pytest.raises(InvalidTransition):
        check_recordable(withdrawn, "UTC", ahead, NOW)
    active = attrs.evolve(withdrawn, status=Status.ACTIVE)
    with pytest.raises(InvalidInput, match="in the future"):
        check_recordable(active, "UTC", ahead, NOW)
    with pytest.raises(InvalidInput, match="before P001's enrolment"):
        check_recordable(active, "UTC", NOW, NOW)
    check_recordable(PERSON, "UTC", NOW - dt.timedelta(days=20), NOW)
