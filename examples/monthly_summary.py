"""A monthly summary for the program manager: who earned what, what is owed, is it clean.

Run it: ``python examples/monthly_summary.py [DB]`` (builds a small clinic first).
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import cmrewards


def summary(clinic: cmrewards.Clinic) -> list[str]:
    lines = []
    liability = 0
    for person in clinic.participants():
        balance = clinic.balance(person.id)
        liability += balance.value_cents
        history = clinic.history(person.id)
        negatives = sum(1 for e in history if e.kind == "outcome" and e.detail.endswith(": met"))
        lines.append(
            f"{person.id:<8} {person.status:<10} {negatives:>3} negatives"
            f"  {balance.points:>5} points outstanding (${balance.value_cents / 100:,.2f})"
        )
    report = clinic.verify()
    lines.append(f"outstanding liability ${liability / 100:,.2f}; record verified: {report.ok}")
    return lines


def main(path: Path) -> None:
    with cmrewards.open(path) as clinic:
        clinic.init("admin-1")
        clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
        start = dt.date.today() - dt.timedelta(days=20)
        results = {"P-4001": "met met met met met", "P-4002": "met not_met met missed met"}
        for participant, outcomes in results.items():
            clinic.enroll(participant, "higgins-vbrt", start=start, actor="admin-1")
            for visit, outcome in enumerate(outcomes.split()):
                when = dt.datetime.combine(start + dt.timedelta(days=2 * visit), dt.time(9), dt.UTC)
                clinic.record(participant, "stimulant-negative", outcome, at=when, actor="admin-1")
        clinic.withdraw("P-4002", actor="admin-1")
        print("\n".join(summary(clinic)))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "month.db"
    main(target)
