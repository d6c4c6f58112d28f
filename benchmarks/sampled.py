"""A sampling CPU profile of the bulk import, without cProfile's per-call overhead.

``.venv/bin/python benchmarks/sampled.py import|lab|verify [ROWS]`` (default 10,000) imports
ROWS outcomes (``import``) or the same results as a per-analyte lab file through a mapping
(``lab``) into a new SQLite clinic as ``make bench`` does, interrupting it on every few
milliseconds of CPU (``ITIMER_PROF``) to note the stack; ``verify`` imports the outcomes
unsampled and samples three ``verify`` runs of the result. It prints each function's share
of the samples, with what it calls and on its own. cProfile (``hotspots.py``) charges every
call an overhead, which inflates code made of many small calls; these shares do not.
benchmarks/PROFILE.md keeps one run's.
"""

from __future__ import annotations

import collections
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from run import (
    LAB_MAP,
    clinic_with_participants,
    lab_program,
    people_for,
    write_export,
    write_lab_file,
)

import cmrewards

SHOWN = 70
INTERVAL = 0.001
"""Seconds of CPU between samples (the kernel may round it up to its tick)."""


class Samples:
    def __init__(self) -> None:
        self.total = 0
        self.inclusive: collections.Counter[str] = collections.Counter()
        self.own: collections.Counter[str] = collections.Counter()

    def take(self, _signal: int, frame: FrameType | None) -> None:
        self.total += 1
        seen = set()
        first = True
        while frame is not None:
            code = frame.f_code
            name = f"{Path(code.co_filename).name}:{code.co_name}"
            if first:
                self.own[name] += 1
                first = False
            if name not in seen:
                self.inclusive[name] += 1
                seen.add(name)
            frame = frame.f_back

    def show(self) -> None:
        print(f"{self.total} samples")
        for title, counts in (("with what it calls", self.inclusive), ("own", self.own)):
            print(f"\n{title}:")
            for name, count in counts.most_common(SHOWN):
                print(f"  {count / self.total:6.1%}  {name}")


def main() -> None:
    kind = sys.argv[1] if len(sys.argv) > 1 else "import"
    if kind not in ("import", "lab", "verify"):
        raise SystemExit("usage: sampled.py import|lab|verify [ROWS]")
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    samples = Samples()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        source = folder / "rows.csv"
        if kind == "lab":
            write_export(source, rows)
            clinic = clinic_with_participants(folder / "clinic.db", people_for(rows), lab_program())
            lab_map = cmrewards.lab_map_from_dict(LAB_MAP, "bench-map")
        else:
            write_lab_file(source, rows)
            clinic = clinic_with_participants(folder / "clinic.db", people_for(rows))
        if kind == "verify":
            with source.open(newline="") as file:
                clinic.import_outcomes(cmrewards.read_rows(file, str(source)), actor="admin-1")
        signal.signal(signal.SIGPROF, samples.take)
        signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)
        try:
            with source.open(newline="") as file:
                if kind == "verify":
                    for _ in range(3):
                        assert clinic.verify().ok
                elif kind == "lab":
                    read = cmrewards.read_lab_file(file, lab_map, str(source))
                    clinic.import_lab_results(read, actor="admin-1")
                else:
                    clinic.import_outcomes(cmrewards.read_rows(file, str(source)), actor="admin-1")
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0, 0)
        clinic.close()
    samples.show()


if __name__ == "__main__":
    main()
