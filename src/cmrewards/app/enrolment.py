"""Enrolment: a person's episodes in programs; withdrawing or completing ends the current one."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from ..domain import ledger
from ..domain.clock import require_date_in_range
from ..domain.enrolment import end_time, ended, enrolment
from ..domain.records import Episode, Participant, Status
from ..domain.schedules import ScheduleState
from ..domain.settlement import clinical_order
from ..domain.staff import Action
from ..domain.validation import check_id
from ..store.lookup import find_participant, find_program
from ..store.port import Enrolment, LedgerPosting, Outcomes
from .unit_of_work import UnitOfWork


def enroll(
    work: UnitOfWork,
    participant: str,
    program_id: str,
    *,
    start: dt.date | None = None,
    actor: str,
) -> Participant:
    """Enrol ``participant`` in a stored program, or start their next episode once the
    current one ended (see ``Clinic.enroll``)."""
    check_id(participant, "participant id")
    if start is not None:
        require_date_in_range(start, "start")
    now = work.clock()
    with work.write(actor, Action.ENROL) as tx:
        program = find_program(tx, program_id)
        existing = tx.participant(participant)
        if existing is None or existing.status is Status.ACTIVE:
            record = enrolment(existing, participant, program, start=start, now=now, actor=actor)
            tx.add_participant(record)
            return record
        outcomes = tx.outcomes(participant)
        record = enrolment(
            existing,
            participant,
            program,
            start=start,
            now=now,
            actor=actor,
            last_result=max(outcomes, key=clinical_order, default=None),
            points_left=_points_left(tx, existing),
            ended_zone=find_program(tx, existing.program_id).timezone,
        )
        _start_next_episode(tx, existing, record, {o.target for o in outcomes})
        return record


def _points_left(tx: LedgerPosting, person: Participant) -> int:
    """Points ``person`` holds in their current episode's program, available and held."""
    return sum(
        tx.balance(person.program_id, account(person.id))
        for account in (ledger.available, ledger.held)
    )


class _NextEpisode(Enrolment, Outcomes, Protocol):
    """What starting an episode writes: the ended one kept, the participant row, the
    schedule states."""


def _start_next_episode(
    tx: _NextEpisode, ended_one: Participant, record: Participant, targets: set[str]
) -> None:
    """Keep the ended episode, make ``record`` the current one, and put every target's
    cached schedule state back at the start: a new episode starts afresh (the replay
    gives the same, ``settlement.current_states``)."""
    tx.add_past_episode(ended_one.as_episode())
    tx.update_participant(record)
    fresh = ScheduleState()
    tx.put_schedule_states(
        [
            ((record.id, target), fresh)
            for target in sorted(targets)
            if tx.schedule_state(record.id, target) not in (None, fresh)
        ]
    )


def episodes(work: UnitOfWork, participant: str) -> list[Episode]:
    """Every episode of ``participant``, the current one last (see ``Clinic.episodes``)."""
    with work.read() as tx:
        person = find_participant(tx, participant)
        return [*tx.past_episodes(person.id), person.as_episode()]


def end_enrolment(
    work: UnitOfWork,
    participant: str,
    status: Status,
    *,
    on: dt.date | None = None,
    actor: str,
) -> Participant:
    """End the current episode as ``status``, now or on the date ``on`` (see
    ``Clinic.withdraw``, ``Clinic.complete``)."""
    if on is not None:
        require_date_in_range(on, "the end date")
    with work.write(actor, Action.ENROL) as tx:
        person = find_participant(tx, participant)
        at = work.clock()
        ended(person, status, at, actor)  # an ended episode is refused first
        program = find_program(tx, person.program_id)
        last = None
        if on is not None:
            last = max(tx.outcomes(person.id), key=clinical_order, default=None)
        record = ended(person, status, end_time(person, program, on, at, last), actor)
        tx.update_participant(record)
        return record
