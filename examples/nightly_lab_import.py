"""A nightly import of the lab's results file.

The lab drops a CSV (participant,target,outcome,at,key,note) every night; this
job imports it, and because every row carries the lab's accession number as its
key, rerunning it after a crash or on a resent file is harmless.
Run it: ``python examples/nightly_lab_import.py [DB]``.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

import cmrewards


def write_sample_lab_file(path: Path, start: dt.date) -> None:
    lines = ["participant,target,outcome,at,key,note"]
    for week in range(2):
        for offset in (0, 3):
            day = start + dt.timedelta(days=7 * week + offset)
            for n, participant in enumerate(("P-3001", "P-3002", "P-3003")):
                outcome = "not_met" if (participant == "P-3002" and week == 1) else "met"
                lines.append(
                    f"{participant},stimulant-negative,{outcome},{day}T08:{n}0,A{day:%m%d}{n},"
                )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def nightly_import(clinic: cmrewards.Clinic, lab_file: Path, actor: str) -> cmrewards.ImportReport:
    with lab_file.open(encoding="utf-8", newline="") as rows:
        report = clinic.import_outcomes(cmrewards.read_rows(rows, str(lab_file)), actor=actor)
    if not report.complete:
        # A real job would page the on-call engineer; the rows before are kept.
        print(f"import stopped: {report.error}", file=sys.stderr)
    return report


def main(path: Path) -> None:
    with cmrewards.open(path) as clinic:
        clinic.init("admin-1")
        clinic.add_staff("lab-bot", "recorder", actor="admin-1")
        clinic.add_program(cmrewards.load_preset("va-prize-cm"), actor="admin-1")
        start = dt.date.today() - dt.timedelta(days=13)
        for participant in ("P-3001", "P-3002", "P-3003"):
            clinic.enroll(participant, "va-prize-cm", start=start, actor="admin-1")
        lab_file = path.with_name("results.csv")
        write_sample_lab_file(lab_file, start)
        first = nightly_import(clinic, lab_file, "lab-bot")
        again = nightly_import(clinic, lab_file, "lab-bot")  # the lab resent the file
        print(f"first run: {first.applied} applied; second run: {again.replayed} skipped")
        for participant in ("P-3001", "P-3002", "P-3003"):
            owed = [p.category for p in clinic.prizes(participant) if p.status == "owed"]
            print(f"{participant}: prizes owed {owed}")
        assert first.applied == again.replayed
        assert clinic.verify().ok


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "lab.db"
    main(target)
