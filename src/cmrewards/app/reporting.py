"""The reporting part of the facade: statements, program reports, the audit export."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..domain.clock import require_date_in_range, to_utc_text
from ..errors import InvalidInput
from ..store.lookup import find_participant, find_program
from ..views.balance import balance_of
from ..views.export import ExportManifest, export_all
from ..views.history import history_entries
from ..views.program_report import ProgramReport, program_report
from ..views.statement import Statement, longest_abstinence, statement_lines
from .unit_of_work import ClinicBase


class Reporting(ClinicBase):
    """Read-only views for counsellors, program managers and auditors."""

    def statement(self, participant: str) -> Statement:
        with self._store.read() as tx:
            person = find_participant(tx, participant)
            program = find_program(tx, person.program_id)
            outcomes = tx.outcomes(person.id)
            lines = statement_lines(program, person, outcomes, tx)
            return Statement(
                participant=person.id,
                program_id=program.id,
                program_name=program.name,
                timezone=program.timezone,
                start=person.start,
                status=str(person.status),
                balance=balance_of(tx, person, program, self._clock()),
                lines=tuple(lines),
                longest_streak=longest_abstinence(
                    line.outcome for line in lines if line.target == program.primary_target.id
                ),
                resets=sum(line.reset for line in lines),
                recoveries=sum(line.recovered for line in lines),
                earned_cents=lines[-1].cumulative_cents if lines else 0,
                redemptions=tuple(tx.redemptions(person.id)),
                prizes=tuple(tx.prizes(person.id)),
                history=tuple(history_entries(person.id, outcomes, tx.transfers(person.id))),
            )

    def report(
        self,
        program_id: str | None = None,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[ProgramReport]:
        """One report per program (or the one named), over clinical dates since..until."""
        for day, what in ((since, "since"), (until, "until")):
            if day is not None:
                require_date_in_range(day, what)
        if since and until and since > until:
            raise InvalidInput(f"since {since} is after until {until}")
        with self._store.read() as tx:
            programs = [find_program(tx, program_id)] if program_id is not None else tx.programs()
            return [program_report(tx, program, since, until) for program in programs]

    def export(self, directory: str | Path) -> ExportManifest:
        """Write every table as CSV and JSON, with a manifest of row counts and chain heads."""
        target = Path(directory)
        try:
            occupied = target.exists() and (not target.is_dir() or any(target.iterdir()))
        except OSError as error:
            raise InvalidInput(f"cannot use {str(target)[:80]}: {error.strerror}") from None
        if occupied:
            raise InvalidInput(f"{target} must be a new or empty directory")
        with self._store.read() as tx:
            try:
                return export_all(tx, target, to_utc_text(self._clock()))
            except OSError as error:
                raise InvalidInput(
                    f"cannot write the export to {target}: {error.strerror}"
                ) from None
