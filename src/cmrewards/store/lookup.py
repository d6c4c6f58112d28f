"""Stored records a request names, or ``NotFound``: the lookups every use case and view shares."""

from __future__ import annotations

from ..domain.programs import Program
from ..domain.records import Participant
from ..domain.validation import is_pseudonymous_id
from ..errors import NotFound
from .port import ParticipantLookup, ProgramLookup


def find_program(tx: ProgramLookup, program_id: str) -> Program:
    program = tx.program(program_id)
    if program is None:
        raise NotFound(f"no program {program_id!r}")
    return program


def find_participant(tx: ParticipantLookup, participant: str) -> Participant:
    # No stored id is malformed (enrolment checks), so a malformed one is not looked up: a
    # NUL in an imported row must be "no participant", not a value PostgreSQL refuses.
    record = tx.participant(participant) if is_pseudonymous_id(participant) else None
    if record is None:
        raise NotFound(f"no participant {participant!r}")
    return record
