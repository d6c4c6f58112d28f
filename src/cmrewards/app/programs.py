"""Programs: stored once and never changed, so a program id always means one rule set."""

from __future__ import annotations

from ..domain.programs import Program
from ..domain.staff import Action
from ..errors import AlreadyExists
from .unit_of_work import UnitOfWork


def add_program(work: UnitOfWork, program: Program, *, actor: str) -> Program:
    """Store ``program`` (see ``Clinic.add_program``)."""
    with work.write(actor, Action.MANAGE_PROGRAMS) as tx:
        if tx.program(program.id) is not None:
            raise AlreadyExists(
                f"program {program.id!r} already exists and programs never change;"
                f" add the new version under a new id (e.g. {program.id}-v2)"
            )
        tx.add_program(program, work.clock(), actor)
        return program
