"""Stored records a request names, or ``NotFound``: the lookups every use case and view shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..domain.programs import Program
from ..domain.records import Participant
from ..domain.validation import is_pseudonymous_id
from ..errors import NotFound
from .port import ParticipantLookup, ProgramLookup

if TYPE_CHECKING:
    from ..domain.episodes import Episodes


class EpisodeLookup(ParticipantLookup, ProgramLookup, Protocol):
    """A person's past episodes and their programs."""


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


def find_episodes(tx: EpisodeLookup, person: Participant, program: Program) -> Episodes:
    """Every episode of ``person``, each with its program; ``program`` is the current
    episode's. A person in their first episode costs no read."""
    from ..domain.episodes import Episodes  # with verify's problem records: not a balance's

    if person.episode == 1:
        return Episodes.single(person, program)
    past = tx.past_episodes(person.id)
    programs = {program.id: program}
    for episode in past:
        if episode.program_id not in programs:
            programs[episode.program_id] = find_program(tx, episode.program_id)
    return Episodes.of(person, past, programs)
