"""Performance figures as ratios against plain sqlite3 doing the same work in the same run.

Machines here are noisy, so absolute times mean little; a ratio measured in one run
on one machine is stable enough to compare. Run with ``make bench``. Sizes can be
lowered for a quick look: BENCH_ROWS (bulk import, default 50,000), BENCH_TRANSFERS
(the large file for balance/preview, default 1,000,000), BENCH_MEMORY_ROWS (the two
import sizes whose peak memory is compared, default "20000,100000").
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cmrewards
from cmrewards.importer import read_rows

PARTICIPANTS = 200
START = dt.date(2026, 1, 5)
PRAGMAS = ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON")


def timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def best_of(runs: int, work: Callable[[], object]) -> float:
    return min(timed(work) for _ in range(runs))


def raw_connection(path: Path) -> sqlite3.Connection:
    """Plain sqlite3 with the same pragmas cmrewards uses, and tables of the same width."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(
        "CREATE TABLE outcomes (id INTEGER PRIMARY KEY, participant TEXT, target TEXT,"
        " outcome TEXT, at TEXT, key TEXT, hash TEXT) STRICT"
    )
    conn.execute(
        "CREATE TABLE transfers (id INTEGER PRIMARY KEY, participant TEXT, amount INTEGER,"
        " at TEXT, hash TEXT) STRICT"
    )
    return conn


def clinic_with_participants(path: Path, count: int = PARTICIPANTS) -> cmrewards.Clinic:
    clinic = cmrewards.open(path)
    clinic.init("admin-1")
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
    for n in range(count):
        clinic.enroll(f"P{n:04d}", "higgins-vbrt", start=START, actor="admin-1")
    return clinic


def visit(i: int) -> dt.datetime:
    return dt.datetime.combine(START, dt.time(9), dt.UTC) + dt.timedelta(hours=8 * i)


def write_lab_file(path: Path, rows: int) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["participant", "target", "outcome", "at", "key", "note"])
        for i in range(rows):
            when = visit(i // PARTICIPANTS).isoformat()
            writer.writerow(
                [f"P{i % PARTICIPANTS:04d}", "stimulant-negative", "met", when, f"L{i}", ""]
            )


# --- the figures --------------------------------------------------------------------


def single_record(folder: Path, count: int = 200) -> tuple[float, float]:
    clinic = clinic_with_participants(folder / "single.db")

    def ours() -> None:
        for i in range(count):
            clinic.record(
                f"P{i % PARTICIPANTS:04d}", "stimulant-negative", "met",
                at=visit(i // PARTICIPANTS), actor="admin-1",
            )  # fmt: skip

    took = timed(ours)
    clinic.close()
    conn = raw_connection(folder / "single-raw.db")

    def raw() -> None:
        for i in range(count):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO outcomes (participant, target, outcome, at, key, hash)"
                " VALUES (?, 'stimulant-negative', 'met', ?, NULL, ?)",
                (f"P{i:04d}", visit(i).isoformat(), "h" * 64),
            )
            conn.execute(
                "INSERT INTO transfers (participant, amount, at, hash) VALUES (?, 10, ?, ?)",
                (f"P{i:04d}", visit(i).isoformat(), "h" * 64),
            )
            conn.execute("COMMIT")

    return took, timed(raw)


def bulk_import(folder: Path, rows: int) -> tuple[float, float, Path]:
    lab = folder / "lab.csv"
    write_lab_file(lab, rows)
    database = folder / "bulk.db"
    clinic = clinic_with_participants(database)

    def ours() -> None:
        with lab.open(newline="") as file:
            report = clinic.import_outcomes(read_rows(file, str(lab)), actor="admin-1")
        assert report.applied == rows

    took = timed(ours)
    clinic.close()
    conn = raw_connection(folder / "bulk-raw.db")
    outcome_rows = [
        (f"P{i % PARTICIPANTS:04d}", visit(i).isoformat(), f"L{i}", "h" * 64) for i in range(rows)
    ]
    transfer_rows = [
        (f"P{i % PARTICIPANTS:04d}", 10, visit(i).isoformat(), "h" * 64) for i in range(rows)
    ]

    def raw() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO outcomes (participant, target, outcome, at, key, hash)"
            " VALUES (?, 'stimulant-negative', 'met', ?, ?, ?)",
            outcome_rows,
        )
        conn.executemany(
            "INSERT INTO transfers (participant, amount, at, hash) VALUES (?, ?, ?, ?)",
            transfer_rows,
        )
        conn.execute("COMMIT")

    return took, timed(raw), database


def verify_throughput(database: Path) -> tuple[float, float]:
    """``verify`` against reading the same outcome and transfer rows with a plain SELECT."""
    with cmrewards.open(database) as clinic:
        ours = best_of(2, lambda: clinic.verify())
    conn = sqlite3.connect(database)
    raw = best_of(
        2,
        lambda: (
            conn.execute("SELECT * FROM outcomes").fetchall(),
            conn.execute("SELECT * FROM transfers").fetchall(),
        ),
    )
    conn.close()
    return ours, raw


def file_with_transfers(path: Path, transfers: int) -> None:
    """A clinic whose ledger holds ``transfers`` rows (the reading paths do not look at
    their hashes, so this writes rows directly instead of taking an hour to record them)."""
    clinic_with_participants(path, 1000).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    at = visit(0).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    conn.executemany(
        "INSERT INTO transfers (id, program_id, kind, from_account, to_account, amount,"
        " participant, actor, reason, cause, reverses, occurred_at, recorded_at, prev_hash, hash)"
        " VALUES (?, 'higgins-vbrt', 'award', 'funding', ?, 10, ?, 'admin-1', 'bench', NULL,"
        " NULL, ?, ?, ?, ?)",
        (
            (i, f"available:P{i % 1000:04d}", f"P{i % 1000:04d}", at, at, "0" * 64, f"{i:064x}")
            for i in range(1, transfers + 1)
        ),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as a long-running clinic file would be
    conn.close()


def reads_at_size(folder: Path, transfers: int, small: int = 1000) -> tuple[float, float]:
    """Time of 2,000 balance + preview reads in a file of ``transfers`` vs one of ``small``."""
    times = []
    for size in (transfers, small):
        path = folder / f"reads-{size}.db"
        file_with_transfers(path, size)
        with cmrewards.open(path) as clinic:

            def reads(c: cmrewards.Clinic = clinic) -> None:
                for n in range(2000):
                    c.balance(f"P{n % 1000:04d}")
                    c.preview(f"P{n % 1000:04d}")

            times.append(best_of(3, reads))
    return times[0], times[1]


def cli_balance(folder: Path) -> tuple[float, float]:
    path = folder / "cli.db"
    with clinic_with_participants(path, 1) as clinic:
        clinic.record("P0000", "stimulant-negative", "met", at=visit(0), actor="admin-1")
    command = [sys.executable, "-m", "cmrewards", "--db", str(path), "balance", "P0000"]
    plain = [sys.executable, "-c", "import sqlite3"]

    def median_run(argv: list[str]) -> float:
        return statistics.median(
            timed(lambda: subprocess.run(argv, check=True, capture_output=True)) for _ in range(5)
        )

    return median_run(command), median_run(plain)


MEMORY_CHILD = """
import resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from run import clinic_with_participants
from cmrewards.importer import read_rows
lab, database = Path(sys.argv[1]), Path(sys.argv[2])
clinic = clinic_with_participants(database)
with lab.open(newline="") as file:
    clinic.import_outcomes(read_rows(file, str(lab)), actor="admin-1")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def import_memory(folder: Path, sizes: list[int]) -> list[tuple[int, int]]:
    """Peak resident memory (KiB) of a process that imports a file of each size."""
    here = str(Path(__file__).resolve().parent)
    peaks = []
    for rows in sizes:
        lab = folder / f"memory-{rows}.csv"
        write_lab_file(lab, rows)
        done = subprocess.run(
            [sys.executable, "-c", MEMORY_CHILD, str(lab), str(folder / f"m{rows}.db"), here],
            check=True,
            capture_output=True,
            text=True,
        )
        peaks.append((rows, int(done.stdout.strip())))
    return peaks


def main() -> None:
    rows = int(os.environ.get("BENCH_ROWS", "50000"))
    transfers = int(os.environ.get("BENCH_TRANSFERS", "1000000"))
    memory_rows = [int(n) for n in os.environ.get("BENCH_MEMORY_ROWS", "20000,100000").split(",")]
    figures: list[tuple[str, str, float, float]] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        # First, while this process is small: a child's peak memory counts the parent it
        # was forked from.
        memory = import_memory(folder, memory_rows)
        figures.append(("one record, durable commit", "1.5x", *single_record(folder)))
        ours, raw, database = bulk_import(folder, rows)
        figures.append((f"bulk import of {rows:,} outcomes", "3x", ours, raw))
        figures.append((f"verify {rows:,} outcomes vs SELECT", "5x", *verify_throughput(database)))
        figures.append(
            (
                f"balance+preview, {transfers:,} vs 1,000 transfers",
                "1.2x",
                *reads_at_size(folder, transfers),
            )
        )
        figures.append(
            ("CLI balance vs python -c 'import sqlite3'", "report", *cli_balance(folder))
        )
    print(f"{'figure':<48} {'measured':>10} {'baseline':>10} {'ratio':>7} {'target':>7}")
    for label, target, measured, baseline in figures:
        ratio = measured / baseline
        print(f"{label:<48} {measured:>9.3f}s {baseline:>9.3f}s {ratio:>6.1f}x {target:>7}")
    for imported, kib in memory:
        print(
            f"peak memory of a process importing {imported:>9,} outcomes: {kib / 1024:>6.1f} MiB"
            "  (target: the same for every size)"
        )


if __name__ == "__main__":
    main()
