"""Reads for counsellors, program managers and auditors: one snapshot each, the answer a view's.

Each function checks what the caller named, opens one read snapshot and hands the
records to a view (``views/``), which computes the answer. Nothing here writes. Each view
but the balance's is imported when its read is called, so a command starts with only the
view it shows (issue 16).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ..domain.clock import require_date_in_range
from ..domain.schedules import ScheduleState
from ..errors import InvalidInput
from ..store.lookup import find_episodes, find_participant, find_program
from ..views.balance import balance_at_desk, balance_of
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from pathlib import Path

    from ..domain.balances import Balance
    from ..domain.checkpoint import Checkpoint
    from ..domain.results import HistoryEntry
    from ..domain.verify_report import VerifyReport
    from ..views.export import ExportManifest
    from ..views.preview import TargetPreview
    from ..views.program_report import ProgramReport
    from ..views.statement import Statement


def balance(work: UnitOfWork, participant: str) -> Balance:
    """The participant's balance now (see ``Clinic.balance``)."""
    with work.read() as tx:
        person = find_participant(tx, participant)
        return balance_at_desk(tx, person, find_program(tx, person.program_id), work.clock())


def history(work: UnitOfWork, participant: str) -> list[HistoryEntry]:
    """Outcomes and transfers by clinical time (see ``Clinic.history``)."""
    from ..views.history import history_entries, notes_of
    from ..views.replay import replay_outcomes

    with work.read() as tx:
        person = find_participant(tx, participant)
        episodes = find_episodes(tx, person, find_program(tx, person.program_id))
        outcomes = tx.outcomes(person.id)
        transfers = tx.transfers(person.id)
        corrections = tx.corrections(person.id)
        write_offs = tx.write_offs(person.id)
    notes = notes_of(replay_outcomes(episodes, outcomes, corrections))
    return history_entries(person.id, outcomes, transfers, corrections, write_offs, notes, episodes)


def preview(work: UnitOfWork, participant: str) -> list[TargetPreview]:
    """What each target pays next (see ``Clinic.preview``)."""
    from ..views.attendance import attendance_before
    from ..views.preview import cap_room, current_week, previews

    with work.read() as tx:
        person = find_participant(tx, participant)
        program = find_program(tx, person.program_id)
        now = work.clock()
        week = current_week(program, person.start, now)
        states = {
            t.id: tx.schedule_state(person.id, t.id) or ScheduleState() for t in program.targets
        }
        attendance = {
            t.id: attendance_before(
                tx, person, program, t, states[t.id], tx.last_outcome_for(person.id, t.id), week
            )
            for t in program.targets
        }
        left = balance_of(tx, person, program, now).cap_remaining_cents
        cap = cap_room(program, person.cap_start, now, left)
        return previews(program, person.start, states, now, attendance, cap)


def statement(work: UnitOfWork, participant: str) -> Statement:
    """The participant's statement (see ``Clinic.statement``)."""
    from ..views.statement import statement_of

    with work.read() as tx:
        person = find_participant(tx, participant)
        episodes = find_episodes(tx, person, find_program(tx, person.program_id))
        return statement_of(tx, episodes, work.clock())


def reports(
    work: UnitOfWork,
    program_id: str | None = None,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> list[ProgramReport]:
    """One report per program, or the one named (see ``Clinic.report``)."""
    from ..views.program_report import program_report

    for day, what in ((since, "since"), (until, "until")):
        if day is not None:
            require_date_in_range(day, what)
    if since and until and since > until:
        raise InvalidInput(f"since {since} is after until {until}")
    with work.read() as tx:
        programs = [find_program(tx, program_id)] if program_id is not None else tx.programs()
        return [program_report(tx, program, since, until) for program in programs]


def export(work: UnitOfWork, directory: str | Path) -> ExportManifest:
    """Every table as CSV and JSON in a new or empty ``directory`` (see ``Clinic.export``)."""
    from pathlib import Path

    from ..views.export import export_all

    target = Path(directory)
    try:
        occupied = target.exists() and (not target.is_dir() or any(target.iterdir()))
    except OSError as error:
        raise InvalidInput(f"cannot use {str(target)[:80]}: {error.strerror}") from None
    if occupied:
        raise InvalidInput(f"{target} must be a new or empty directory")
    with work.read() as tx:
        try:
            return export_all(tx, target, work.clock())
        except OSError as error:
            raise InvalidInput(f"cannot write the export to {target}: {error.strerror}") from None


def checkpoint(work: UnitOfWork) -> Checkpoint:
    """Every chain's length and head now, to keep outside the database (see
    ``Clinic.checkpoint``)."""
    from ..views.chains import take_checkpoint

    with work.read() as tx:
        # Whole seconds: the statement is read and copied by people.
        return take_checkpoint(tx, work.clock().replace(microsecond=0))


def verify(work: UnitOfWork, against: Checkpoint | str | None = None) -> VerifyReport:
    """Every check, and whether the chains extend ``against`` (see ``Clinic.verify``)."""
    from ..domain.checkpoint import parse_checkpoint
    from ..views.verify import verify_store

    checkpoint = parse_checkpoint(against) if isinstance(against, str) else against
    with work.read() as tx:
        return verify_store(tx, work.store.integrity_problems(), checkpoint)
