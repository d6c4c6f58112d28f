"""Enrolment: a participant joins one program once; withdrawing or completing ends it."""

from __future__ import annotations

import datetime as dt

from ..domain.clock import require_date_in_range
from ..domain.enrolment import ended, enrolment
from ..domain.records import Participant, Status
from ..domain.staff import Action
from ..domain.validation import check_id
from ..store.lookup import find_participant, find_program
from .unit_of_work import UnitOfWork


def enroll(
    work: UnitOfWork,
    participant: str,
    program_id: str,
    *,
    start: dt.date | None = None,
    actor: str,
) -> Participant:
    """Enrol ``participant`` in a stored program (see ``Clinic.enroll``)."""
    check_id(participant, "participant id")
    if start is not None:
        require_date_in_range(start, "start")
    now = work.clock()
    with work.write(actor, Action.ENROL) as tx:
        program = find_program(tx, program_id)
        record = enrolment(
            tx.participant(participant), participant, program, start=start, now=now, actor=actor
        )
        tx.add_participant(record)
        return record


def end_enrolment(work: UnitOfWork, participant: str, status: Status, *, actor: str) -> Participant:
    """End an active enrolment as ``status`` (see ``Clinic.withdraw``, ``Clinic.complete``)."""
    with work.write(actor, Action.ENROL) as tx:
        record = ended(find_participant(tx, participant), status)
        tx.set_participant_status(participant, status)
        return record
