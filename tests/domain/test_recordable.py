"""When an outcome may be recorded: an active enrolment, a plausible time, time order."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from cmrewards.domain.recordable import (
    FUTURE_TOLERANCE,
    check_active,
    check_in_time_order,
    check_not_ahead,
    check_not_before_enrolment,
    check_recordable,
)
from cmrewards.domain.records import OutcomeRecord, Participant, Status
from cmrewards.domain.schedules import Outcome
from cmrewards.errors import InvalidInput, InvalidTransition, OutOfOrder

NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
PERSON = Participant(
    id="P001",
    program_id="stim",
    start=dt.date(2027, 5, 3),
    status=Status.ACTIVE,
    enrolled_at=dt.datetime(2027, 5, 3, 9, tzinfo=dt.UTC),
    enrolled_by="admin-1",
)


def last_at(at: dt.datetime) -> OutcomeRecord:
    return OutcomeRecord(
        id=7,
        program_id="stim",
        participant="P001",
        target="stimulant-negative",
        outcome=Outcome.MET,
        occurred_at=at,
        recorded_at=at,
        actor="rec-1",
        key=None,
        note=None,
        seed=None,
        prev_hash="",
        hash="",
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


def test_the_same_time_as_the_last_outcome_is_one_visit_an_earlier_one_out_of_order() -> None:
    at = dt.datetime(2027, 5, 10, 9, tzinfo=dt.UTC)
    check_in_time_order(at, None)
    check_in_time_order(at, last_at(at))
    check_in_time_order(at + dt.timedelta(days=1), last_at(at))
    with pytest.raises(OutOfOrder, match="stimulant-negative for P001 was last recorded at"):
        check_in_time_order(at - dt.timedelta(microseconds=1), last_at(at))


def test_refusals_come_in_order_status_future_enrolment_time_order() -> None:
    """One request breaking every rule is told about the first: the caller fixes one thing
    at a time, and the order stays what it was when the checks sat in the use case."""
    ahead = NOW + dt.timedelta(days=1)
    withdrawn = attrs.evolve(PERSON, status=Status.WITHDRAWN, start=dt.date(2027, 7, 1))
    with pytest.raises(InvalidTransition):
        check_recordable(withdrawn, "UTC", ahead, NOW, last_at(ahead + dt.timedelta(days=1)))
    active = attrs.evolve(withdrawn, status=Status.ACTIVE)
    with pytest.raises(InvalidInput, match="in the future"):
        check_recordable(active, "UTC", ahead, NOW, last_at(ahead + dt.timedelta(days=1)))
    with pytest.raises(InvalidInput, match="before P001's enrolment"):
        check_recordable(active, "UTC", NOW, NOW, last_at(ahead))
    with pytest.raises(OutOfOrder):
        check_recordable(PERSON, "UTC", NOW, NOW, last_at(ahead))
    check_recordable(PERSON, "UTC", NOW, NOW, last_at(NOW))
