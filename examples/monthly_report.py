"""The program manager's monthly report: is it working, what does it cost, is the record clean.

Builds a small clinic, then prints last month's report for each program the way a
manager would paste it into an email, and the audit check.
Run it: ``python examples/monthly_report.py [DB]``.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import cmrewards


def dollars(cents: int | None) -> str:
    return "n/a" if cents is None else cmrewards.format_cents(cents)


def monthly_report(clinic: cmrewards.Clinic, since: dt.date, until: dt.date) -> list[str]:
    lines = [f"CM report {since} to {until}"]
    for report in clinic.report(since=since, until=until):
        primary = report.targets[0]
        lines += [
            f"{report.name}",
            f"  enrolled {report.enrolled} ({report.active} active, {report.withdrawn} withdrawn)",
            f"  {primary.target}: {primary.met} of {primary.opportunities} met"
            f" ({primary.met_per_mille / 10:.1f} %)",
            f"  longest abstinence: mean {report.lda_mean_tenths / 10:.1f},"
            f" median {report.lda_median_tenths / 10:.1f} samples",
            f"  awarded {dollars(report.awarded_cents)},"
            f" outstanding {dollars(report.outstanding_cents)},"
            f" budget left {dollars(report.budget_remaining_cents)}",
        ]
    audit = clinic.verify()
    lines.append(f"record verified: {audit.ok} (chain head {audit.transfer_chain_head[:16]})")
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
        print("\n".join(monthly_report(clinic, start, dt.date.today())))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "month.db"
    main(target)
