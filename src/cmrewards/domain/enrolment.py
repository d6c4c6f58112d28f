"""Enrolment: a person's episodes, one at a time; an ended episode stays ended.

The rules are in docs/decisions.md ("Identities and enrolment", "Episodes"): a
pseudonymous id is enrolled again only after its current episode ended, and the new
episode starts after every result already recorded for the person, so a result's
clinical date says which episode it is in (``domain/episodes.py``), and not before the
day the episode before it ended, so two episodes never overlap.
"""

from __future__ import annotations

import datetime as dt

import attrs

from ..errors import AlreadyExists, InvalidInput, InvalidTransition
from .clock import clinical_noon, local_date
from .counts import plural
from .programs import Program
from .records import OutcomeRecord, Participant, Status

START_AHEAD_DAYS = 31
"""How far ahead an enrolment may start: a month's booking; a later date is most likely a
mistyped year, and an episode not started cannot be ended (docs/decisions.md)."""


def enrolment(
    existing: Participant | None,
    participant: str,
    program: Program,
    *,
    start: dt.date | None,
    now: dt.datetime,
    actor: str,
    last_result: OutcomeRecord | None = None,
    points_left: int = 0,
    ended_zone: str | None = None,
) -> Participant:
    """The active episode of ``participant`` in ``program`` that ``actor`` starts at ``now``.

    ``start`` defaults to today in the program's time zone; more than ``START_AHEAD_DAYS``
    after today it is ``InvalidInput``. ``existing`` is the
    participant's stored (current) episode, if any; the new one is then its next
    episode, under ``check_enrol_again``: ``last_result`` is the person's latest result
    in clinical time, ``points_left`` what they still hold (available and held) in the
    ended episode's program, ``ended_zone`` that program's time zone (default: ``program``'s),
    in which the day it ended is read.

    An active ``existing`` is ``AlreadyExists`` before any date is checked: whatever the
    start, that person cannot be enrolled now, and that is the reason staff can act on.
    """
    if existing is not None:
        check_not_active(existing)
    today = local_date(now, program.timezone)
    day = start or today
    if day > today + dt.timedelta(days=START_AHEAD_DAYS):
        raise InvalidInput(
            f"start {day} is more than {START_AHEAD_DAYS} days after today ({today}) in"
            f" {program.timezone}: enrol closer to the first visit"
        )
    if existing is None:
        return Participant(
            id=participant,
            program_id=program.id,
            start=day,
            status=Status.ACTIVE,
            enrolled_at=now,
            enrolled_by=actor,
        )
    check_enrol_again(
        existing, program, day, last_result, points_left, ended_zone or program.timezone
    )
    return Participant(
        id=participant,
        program_id=program.id,
        start=day,
        status=Status.ACTIVE,
        enrolled_at=now,
        enrolled_by=actor,
        episode=existing.episode + 1,
        first_start=existing.cap_start,
    )


def check_not_active(existing: Participant) -> None:
    """An active episode is not enrolled again: ``AlreadyExists``, as a second enrolment
    always was (withdraw or complete it first)."""
    if existing.status is Status.ACTIVE:
        raise AlreadyExists(
            f"participant {existing.id!r} is already enrolled in {existing.program_id}"
            f" (active, episode {existing.episode}); withdraw or complete it before"
            " enrolling again"
        )


def check_enrol_again(
    existing: Participant,
    program: Program,
    start: dt.date,
    last_result: OutcomeRecord | None,
    points_left: int,
    ended_zone: str,
) -> None:
    """A person may start a new episode on ``start`` in ``program`` when:

    - their current episode ended (withdrawn or completed): ``check_not_active``;
    - ``start`` is after the current episode's start and after the local date (in
      ``program``'s zone) of their latest result, ``InvalidTransition`` otherwise (a date
      that contradicts the record, exit 1, as an overlap): which episode a result is in
      follows from its date alone;
    - ``start`` is not before the local date (in ``ended_zone``, the ended episode's program's
      zone) the current episode ended on, ``InvalidTransition`` otherwise: episodes do not
      overlap (the same day is allowed: discharged and taken back that day). An episode
      ended before episodes were recorded has no end time, and is not checked;
    - in another program, no points are left in the old one (``InvalidTransition``):
      a point is worth what its program says, so points do not move between programs.
    """
    check_not_active(existing)
    who = existing.id
    if start <= existing.start:
        raise InvalidTransition(
            f"start {start} must be after the start of {who}'s episode {existing.episode}"
            f" ({existing.start})"
        )
    if last_result is not None:
        last_day = local_date(last_result.occurred_at, program.timezone)
        if start <= last_day:
            raise InvalidTransition(
                f"start {start} must be after {who}'s last result, on {last_day} (outcome"
                f" {last_result.id}): a new episode starts after the results of the one before"
            )
    if existing.ended_at is not None:
        end_day = local_date(existing.ended_at, ended_zone)
        if start < end_day:
            raise InvalidTransition(
                f"start {start} is before {who}'s episode {existing.episode} ended, on"
                f" {end_day} ({existing.status}): episodes may not overlap"
            )
    if program.id != existing.program_id and points_left:
        raise InvalidTransition(
            f"{who} still has {plural(points_left, 'point')} in {existing.program_id}; redeem"
            f" or adjust them before an episode in {program.id} (points do not move between"
            " programs)"
        )


def end_time(
    record: Participant,
    program: Program,
    on: dt.date | None,
    now: dt.datetime,
    last_result: OutcomeRecord | None,
) -> dt.datetime:
    """When ``record``'s current episode ends: ``now``, or on the clinical date ``on`` (noon
    there, as any date given without a time; now when ``on`` is today). An episode that
    has not started yet is ``InvalidTransition`` (it would end before it starts), as is an
    ``on`` before the episode's start or the local date of the person's latest result (a
    date that contradicts the record); an ``on`` after today is ``InvalidInput`` (out of
    range): the episode holds its results, and the end is a fact, not a plan."""
    who, timezone = record.id, program.timezone
    today = local_date(now, timezone)
    if today < record.start:
        # Ending it now would store an end before its start (and ``on`` may not be in the
        # future): a booked episode is ended once its first day has come.
        raise InvalidTransition(
            f"{who}'s episode {record.episode} has not started (it starts on {record.start},"
            f" today is {today} in {timezone}); it can be ended from {record.start}"
        )
    if on is None:
        return now
    if on > today:
        raise InvalidInput(f"the end date {on} is after today ({today}) in {timezone}")
    if on < record.start:
        raise InvalidTransition(
            f"the end date {on} is before the start of {who}'s episode {record.episode}"
            f" ({record.start})"
        )
    if last_result is not None:
        last_day = local_date(last_result.occurred_at, timezone)
        if on < last_day:
            raise InvalidTransition(
                f"the end date {on} is before {who}'s last result, on {last_day} (outcome"
                f" {last_result.id}): an episode ends after its results"
            )
    return now if on == today else clinical_noon(on, timezone)


def ended(record: Participant, status: Status, at: dt.datetime, actor: str) -> Participant:
    """``record``'s current episode ended as ``status`` (withdrawn or completed) by ``actor``
    at ``at``. Only an active episode ends, and ending is final: ``InvalidTransition``
    otherwise (a new episode is a new enrolment)."""
    if record.status is not Status.ACTIVE:
        raise InvalidTransition(f"participant {record.id!r} is already {record.status}")
    return attrs.evolve(record, status=status, ended_at=at, ended_by=actor)
