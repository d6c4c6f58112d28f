"""Enrolment: one enrolment per participant id, and an ended one stays ended."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from cmrewards.domain.enrolment import ended, enrolment
from cmrewards.domain.programs import load_preset
from cmrewards.domain.records import Participant, Status
from cmrewards.errors import AlreadyExists, InvalidTransition

PROGRAM = attrs.evolve(load_preset("petry-fishbowl"), timezone="America/Chicago")
NOW = dt.datetime(2027, 6, 1, 3, 0, tzinfo=dt.UTC)
"""Still 31 May in Chicago."""


def enrolled(start: dt.date | None = None) -> Participant:
    return enrolment(None, "P001", PROGRAM, start=start, now=NOW, actor="admin-1")


def test_a_new_enrolment_is_active_from_today_in_the_programs_zone() -> None:
    expected = Participant(
        id="P001",
        program_id="petry-fishbowl",
        start=dt.date(2027, 5, 31),
        status=Status.ACTIVE,
        enrolled_at=NOW,
        enrolled_by="admin-1",
    )
    assert expected == enrolled()
    assert dt.date(2027, 7, 1) == enrolled(dt.date(2027, 7, 1)).start


@pytest.mark.parametrize("status", list(Status))
def test_a_participant_is_enrolled_once_whatever_became_of_it(status: Status) -> None:
    earlier = attrs.evolve(enrolled(), status=status)
    with pytest.raises(AlreadyExists, match="already enrolled in petry-fishbowl"):
        enrolment(earlier, "P001", PROGRAM, start=None, now=NOW, actor="admin-1")


@pytest.mark.parametrize("status", [Status.WITHDRAWN, Status.COMPLETED])
def test_an_active_enrolment_ends_once(status: Status) -> None:
    done = ended(enrolled(), status)
    assert attrs.evolve(enrolled(), status=status) == done
    for again in (Status.WITHDRAWN, Status.COMPLETED):
        with pytest.raises(InvalidTransition, match=f"'P001' is already {status}"):
            ended(done, again)
