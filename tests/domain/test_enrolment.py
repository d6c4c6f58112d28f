"""Enrolment: one active episode at a time, the next only after the current one ended."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from cmrewards.domain.chain import GENESIS
from cmrewards.domain.enrolment import ended, enrolment
from cmrewards.domain.programs import Program, load_preset
from cmrewards.domain.records import Episode, OutcomeRecord, Participant, Status
from cmrewards.domain.schedules import Outcome
from cmrewards.errors import AlreadyExists, InvalidInput, InvalidTransition

PROGRAM = attrs.evolve(load_preset("petry-fishbowl"), timezone="America/Chicago")
OTHER = attrs.evolve(load_preset("va-prize-cm"), timezone="America/Chicago")
NOW = dt.datetime(2027, 6, 1, 3, 0, tzinfo=dt.UTC)
"""Still 31 May in Chicago."""
LATER = dt.datetime(2027, 9, 1, 15, 0, tzinfo=dt.UTC)


def enrolled(start: dt.date | None = None) -> Participant:
    return enrolment(None, "P001", PROGRAM, start=start, now=NOW, actor="admin-1")


def withdrawn(at: dt.datetime = NOW) -> Participant:
    return ended(enrolled(), Status.WITHDRAWN, at, "admin-2")


def result_at(at: dt.datetime) -> OutcomeRecord:
    return OutcomeRecord(
        id=7,
        program_id=PROGRAM.id,
        participant="P001",
        target="stimulant-negative",
        outcome=Outcome.MET,
        occurred_at=at,
        recorded_at=at,
        actor="rec-1",
        key=None,
        note=None,
        seed=None,
        prev_hash=GENESIS,
        hash="h",
    )


def again(
    existing: Participant,
    start: dt.date | None,
    *,
    program: Program = PROGRAM,
    last: OutcomeRecord | None = None,
    points: int = 0,
) -> Participant:
    return enrolment(
        existing,
        "P001",
        program,
        start=start,
        now=LATER,
        actor="admin-1",
        last_result=last,
        points_left=points,
    )


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
    assert (expected.episode, expected.first_start) == (1, None)
    assert dt.date(2027, 7, 1) == enrolled(dt.date(2027, 7, 1)).start


def test_an_active_episode_is_not_enrolled_again() -> None:
    with pytest.raises(AlreadyExists, match="already enrolled in petry-fishbowl"):
        enrolment(enrolled(), "P001", PROGRAM, start=None, now=NOW, actor="admin-1")
    second = again(withdrawn(), dt.date(2027, 8, 1))
    with pytest.raises(AlreadyExists, match=r"\(active, episode 2\); withdraw or complete"):
        again(second, dt.date(2027, 8, 20))


def test_already_enrolled_is_said_before_a_start_too_far_ahead() -> None:
    """Second reviewer: an active person re-enrolled with a start a year ahead heard the
    31-day limit, though no start would do; the active episode is the reason to act on."""
    far = NOW.date() + dt.timedelta(days=365)
    with pytest.raises(AlreadyExists, match="already enrolled in petry-fishbowl"):
        enrolment(enrolled(), "P001", PROGRAM, start=far, now=NOW, actor="admin-1")
    with pytest.raises(InvalidInput, match="more than 31 days after today"):
        again(withdrawn(), LATER.date() + dt.timedelta(days=365))


@pytest.mark.parametrize("status", [Status.WITHDRAWN, Status.COMPLETED])
def test_an_ended_episode_is_followed_by_the_next(status: Status) -> None:
    done = ended(enrolled(), status, NOW, "admin-1")
    second = again(
        done, dt.date(2027, 8, 1), last=result_at(dt.datetime(2027, 7, 31, 4, 0, tzinfo=dt.UTC))
    )
    expected = Participant(
        id="P001",
        program_id=PROGRAM.id,
        start=dt.date(2027, 8, 1),
        status=Status.ACTIVE,
        enrolled_at=LATER,
        enrolled_by="admin-1",
        episode=2,
        first_start=dt.date(2027, 5, 31),
    )
    assert expected == second
    # Without a start it is today in the program's zone; a third keeps the first start.
    third = again(ended(second, status, LATER, "admin-1"), None)
    assert (3, dt.date(2027, 9, 1), dt.date(2027, 5, 31)) == (
        third.episode,
        third.start,
        third.first_start,
    )
    assert dt.date(2027, 5, 31) == third.cap_start


def test_the_next_episode_starts_after_the_last_result_in_the_programs_zone() -> None:
    # 04:00 UTC on 10 June is still 9 June in Chicago.
    last = result_at(dt.datetime(2027, 6, 10, 4, 0, tzinfo=dt.UTC))
    for start in (dt.date(2027, 6, 1), dt.date(2027, 6, 9)):
        with pytest.raises(InvalidTransition, match=r"last result, on 2027-06-09 \(outcome 7\)"):
            again(withdrawn(), start, last=last)
    assert dt.date(2027, 6, 10) == again(withdrawn(), dt.date(2027, 6, 10), last=last).start


def test_the_next_episode_starts_after_the_one_before() -> None:
    for start in (dt.date(2027, 5, 30), dt.date(2027, 5, 31)):
        with pytest.raises(InvalidTransition, match="after the start of P001's episode 1"):
            again(withdrawn(), start)


def test_the_next_episode_does_not_start_before_the_one_before_ended() -> None:
    # Withdrawn at 03:00 UTC on 21 June: still 20 June in Chicago, the program's zone.
    left = withdrawn(NOW + dt.timedelta(days=20))
    last = result_at(dt.datetime(2027, 6, 10, 4, 0, tzinfo=dt.UTC))
    for start in (dt.date(2027, 6, 10), dt.date(2027, 6, 19)):
        message = r"before P001's episode 1 ended, on 2027-06-20 \(withdrawn\): episodes may not"
        with pytest.raises(InvalidTransition, match=message):
            again(left, start, last=last)
    # A result on or before the start is the sharper refusal, and is said first.
    with pytest.raises(InvalidTransition, match="last result, on 2027-06-09"):
        again(left, dt.date(2027, 6, 9), last=last)
    # Taken back the day they left, or any day after.
    assert dt.date(2027, 6, 20) == again(left, dt.date(2027, 6, 20), last=last).start
    # The day it ended is read in the ended episode's program's zone, when it is another.
    with pytest.raises(InvalidTransition, match="ended, on 2027-06-21"):
        enrolment(
            left, "P001", PROGRAM, start=dt.date(2027, 6, 20), now=LATER, actor="admin-1",
            ended_zone="Asia/Tokyo",
        )  # fmt: skip
    # An episode ended before episodes were recorded has no end time to compare.
    unrecorded = attrs.evolve(left, ended_at=None)
    assert dt.date(2027, 6, 11) == again(unrecorded, dt.date(2027, 6, 11), last=last).start


def test_another_program_only_once_the_old_one_s_points_are_gone() -> None:
    with pytest.raises(InvalidTransition, match="still has 40 points in petry-fishbowl"):
        again(withdrawn(), dt.date(2027, 8, 1), program=OTHER, points=40)
    with pytest.raises(InvalidTransition, match="still has 1 point in petry-fishbowl"):
        again(withdrawn(), dt.date(2027, 8, 1), program=OTHER, points=1)
    assert OTHER.id == again(withdrawn(), dt.date(2027, 8, 1), program=OTHER).program_id
    # In the same program the points simply stay.
    assert again(withdrawn(), dt.date(2027, 8, 1), points=40).episode == 2


@pytest.mark.parametrize("status", [Status.WITHDRAWN, Status.COMPLETED])
def test_an_active_enrolment_ends_once(status: Status) -> None:
    done = ended(enrolled(), status, LATER, "admin-2")
    assert attrs.evolve(enrolled(), status=status, ended_at=LATER, ended_by="admin-2") == done
    for twice in (Status.WITHDRAWN, Status.COMPLETED):
        with pytest.raises(InvalidTransition, match=f"'P001' is already {status}"):
            ended(done, twice, LATER, "admin-2")


def test_an_episode_record_is_the_participant_as_enrolled_then() -> None:
    second = again(withdrawn(), dt.date(2027, 8, 1), program=OTHER)
    first = withdrawn().as_episode()
    assert (
        Episode(
            participant="P001",
            number=1,
            program_id=PROGRAM.id,
            start=dt.date(2027, 5, 31),
            status=Status.WITHDRAWN,
            enrolled_at=NOW,
            enrolled_by="admin-1",
            ended_at=NOW,
            ended_by="admin-2",
        )
        == first
    )
    then = first.as_enrolled(second)
    assert (PROGRAM.id, dt.date(2027, 5, 31), 1, Status.WITHDRAWN) == (
        then.program_id,
        then.start,
        then.episode,
        then.status,
    )
    assert dt.date(2027, 5, 31) == then.cap_start
