"""Embedding cmrewards in an intake service.

An intake tool enrols each new participant under the clinic's pseudonymous id
and, at every visit, records the verified result and reads back what to tell the
participant. Run it: ``python examples/intake_service.py [DB]``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import tempfile
from pathlib import Path

import cmrewards


class IntakeService:
    """The small surface a clinic's own software would wrap around cmrewards."""

    def __init__(self, clinic: cmrewards.Clinic, staff_id: str) -> None:
        self.clinic = clinic
        self.staff_id = staff_id

    def admit(self, participant: str, program: str, start: dt.date) -> None:
        # Re-admitting the same id is a no-op for the intake tool.
        with contextlib.suppress(cmrewards.AlreadyExists):
            self.clinic.enroll(participant, program, start=start, actor=self.staff_id)

    def visit(self, participant: str, negative: bool, at: dt.datetime, accession: str) -> str:
        """Record one urine result; return the sentence the counsellor reads out."""
        outcome = "met" if negative else "not_met"
        result = self.clinic.record(
            participant, "stimulant-negative", outcome, at=at, actor=self.staff_id, key=accession
        )
        earned = result.award.points + result.award.bonus_points
        next_up = self.clinic.preview(participant)[0].sentence
        return f"{participant}: +{earned} points, balance {result.balance.points}. {next_up}"


def main(path: Path) -> None:
    with cmrewards.open(path) as clinic:
        clinic.init("admin-1")
        clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
        intake = IntakeService(clinic, "admin-1")
        start = dt.date.today() - dt.timedelta(days=14)
        intake.admit("P-2001", "higgins-vbrt", start)
        intake.admit("P-2001", "higgins-vbrt", start)  # safe to call twice
        for day, negative in [(0, True), (2, True), (4, True), (7, False), (9, True)]:
            when = dt.datetime.combine(start + dt.timedelta(days=day), dt.time(10), dt.UTC)
            print(intake.visit("P-2001", negative, when, accession=f"ACC-{day:03d}"))
        assert clinic.verify().ok


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "intake.db"
    main(target)
