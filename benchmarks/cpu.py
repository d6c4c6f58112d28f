"""CPU time of one bulk import, or of ``verify``, which the machine's load moves far less
than its wall time.

``.venv/bin/python benchmarks/cpu.py import|lab|lab-refused [ROWS] [RUNS]`` (defaults 5,000
and 3) imports ROWS results into a new SQLite clinic as ``make bench`` does — as an
outcome file (``import``), as a per-analyte lab export through a mapping (``lab``), or as
that export with every tenth row's patient unknown, so one specimen in ten is refused
(``lab-refused``) — and prints the best ``time.process_time()`` of RUNS runs of the import
alone, and per result.

``cpu.py verify [ROWS] [RUNS] [FILE]`` verifies a copy of FILE (else a new clinic of ROWS
imported outcomes, as the bench's) RUNS times and reads every table ``verify`` reads with
a plain ``SELECT *`` (``run.VERIFIED_TABLES``) RUNS times, and prints the best CPU time of
each and their ratio: issue 16's "verify within 5x of a raw scan". Give two checkouts the
same FILE to compare them. benchmarks/PROFILE.md compares checkouts with it, alternating.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from run import (
    LAB_MAP,
    VERIFIED_TABLES,
    clinic_with_participants,
    lab_program,
    people_for,
    write_export,
    write_lab_file,
)

import cmrewards

REFUSED_EVERY = 10


def unknown_every(path: Path, every: int) -> None:
    """Every ``every``-th row of a lab export names a patient nobody enrolled."""
    lines = path.read_text().splitlines(keepends=True)
    for n in range(every, len(lines), every):
        specimen, _, rest = lines[n].split(",", 2)
        lines[n] = f"{specimen},X9999,{rest}"
    path.write_text("".join(lines))


def once(kind: str, rows: int) -> float:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / "rows.csv"
        if kind == "import":
            write_lab_file(source, rows)
            clinic = clinic_with_participants(folder / "clinic.db", people_for(rows))
        else:
            write_export(source, rows)
            if kind == "lab-refused":
                unknown_every(source, REFUSED_EVERY)
            clinic = clinic_with_participants(folder / "clinic.db", people_for(rows), lab_program())
        lab_map = cmrewards.lab_map_from_dict(LAB_MAP, "bench-map")
        began = time.process_time()
        with source.open(newline="") as file:
            if kind == "import":
                report = clinic.import_outcomes(cmrewards.read_rows(file, str(source)),
                                                actor="admin-1")  # fmt: skip
                assert report.applied == rows
            else:
                read = cmrewards.read_lab_file(file, lab_map, str(source))
                done = clinic.import_lab_results(read, actor="admin-1")
                refused = rows // REFUSED_EVERY if kind == "lab-refused" else 0
                assert (done.outcomes, len(done.refused)) == (rows - refused, refused), done
        took = time.process_time() - began
        clinic.close()
        return took


def cpu(work: Callable[[], object]) -> float:
    began = time.process_time()
    work()
    return time.process_time() - began


def verify_against_scan(rows: int, runs: int, given: Path | None) -> tuple[float, float]:
    """Best CPU time of ``verify`` and of a plain ``SELECT *`` of what it reads, on a copy."""
    with tempfile.TemporaryDirectory() as name:
        database = Path(name) / "clinic.db"
        if given is not None:
            shutil.copyfile(given, database)
        else:
            source = Path(name) / "rows.csv"
            write_lab_file(source, rows)
            clinic = clinic_with_participants(database, people_for(rows))
            with source.open(newline="") as file:
                clinic.import_outcomes(cmrewards.read_rows(file, str(source)), actor="admin-1")
            clinic.close()
        conn = sqlite3.connect(database)
        scan = min(
            cpu(lambda: [conn.execute(f"SELECT * FROM {t}").fetchall() for t in VERIFIED_TABLES])
            for _ in range(runs)
        )
        conn.close()
        with cmrewards.open(database) as clinic:
            reports = []
            best = min(cpu(lambda: reports.append(clinic.verify())) for _ in range(runs))
        assert all(report.ok for report in reports), reports[0].problems[:3]
        return best, scan


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "lab"
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if kind == "verify":
        given = Path(sys.argv[4]) if len(sys.argv) > 4 else None
        best, scan = verify_against_scan(rows, runs, given)
        print(f"verify {best:.3f} s of CPU, SELECT * {scan:.3f} s: {best / scan:.2f}x")
        return
    if kind not in ("import", "lab", "lab-refused"):
        raise SystemExit("usage: cpu.py import|lab|lab-refused|verify [ROWS] [RUNS] [FILE]")
    best = min(once(kind, rows) for _ in range(runs))
    print(f"{kind} {rows:,}: {best:.3f} s of CPU, {best / rows * 1e6:.0f} µs a result")


if __name__ == "__main__":
    main()
