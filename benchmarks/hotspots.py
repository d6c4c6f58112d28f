"""cProfile of the bulk import and of ``verify``, the two figures issue 16 misses by most.

``.venv/bin/python benchmarks/hotspots.py [ROWS]`` (default 10,000) imports ROWS outcomes
into a new SQLite clinic as ``make bench`` does, then verifies it, and prints the top of
each profile by own time and by cumulative time. benchmarks/PROFILE.md keeps one run's.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

from run import clinic_with_participants, people_for, write_lab_file

import cmrewards

LINES = 25


def show(title: str, profile: cProfile.Profile, took: float) -> None:
    print(f"## {title}: {took:.2f} s under the profiler\n")
    stats = pstats.Stats(profile, stream=sys.stdout)
    stats.strip_dirs()
    for order in ("tottime", "cumulative"):
        stats.sort_stats(order).print_stats(LINES)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        lab = folder / "lab.csv"
        write_lab_file(lab, rows)
        clinic = clinic_with_participants(folder / "clinic.db", people_for(rows))
        importing = cProfile.Profile()
        began = time.perf_counter()
        with lab.open(newline="") as file, importing:
            clinic.import_outcomes(cmrewards.read_rows(file, str(lab)), actor="admin-1")
        show(f"import of {rows:,} outcomes", importing, time.perf_counter() - began)
        verifying = cProfile.Profile()
        began = time.perf_counter()
        with verifying:
            assert clinic.verify().ok
        show(f"verify of {rows:,} outcomes", verifying, time.perf_counter() - began)
        clinic.close()


if __name__ == "__main__":
    main()
