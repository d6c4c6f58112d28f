"""Performance figures as ratios against plain sqlite3 doing the same writes in the same run.

Machines here are noisy, so absolute times mean little; a ratio measured in one run
on one machine is stable enough to compare. Run with ``make bench``; set
BENCH_ROWS to change the size of the bulk import (default 5,000).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cmrewards
from cmrewards.importer import read_rows

PARTICIPANTS = 200
START = dt.date(2026, 1, 5)


def timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def raw_connection(path: Path) -> sqlite3.Connection:
    """Plain sqlite3 with the same pragmas cmrewards uses."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"):
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


def clinic_with_participants(path: Path) -> cmrewards.Clinic:
    clinic = cmrewards.open(path)
    clinic.init("admin-1")
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
    for n in range(PARTICIPANTS):
        clinic.enroll(f"P{n:04d}", "higgins-vbrt", start=START, actor="admin-1")
    return clinic


def visit(i: int) -> dt.datetime:
    return dt.datetime.combine(START, dt.time(9), dt.UTC) + dt.timedelta(hours=8 * i)


def single_record(folder: Path, count: int = 200) -> tuple[float, float]:
    clinic = clinic_with_participants(folder / "single.db")
    ours = timed(
        lambda: [
            clinic.record(f"P{i % PARTICIPANTS:04d}", "stimulant-negative", "met",
                          at=visit(i // PARTICIPANTS), actor="admin-1")
            for i in range(count)
        ]
    )  # fmt: skip
    clinic.close()
    conn = raw_connection(folder / "single-raw.db")

    def raw() -> None:
        for i in range(count):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO outcomes (participant, target, outcome, at, key, hash)"
                         " VALUES (?, 'stimulant-negative', 'met', ?, NULL, ?)",
                         (f"P{i:04d}", visit(i).isoformat(), "h" * 64))  # fmt: skip
            conn.execute("INSERT INTO transfers (participant, amount, at, hash)"
                         " VALUES (?, 10, ?, ?)",
                         (f"P{i:04d}", visit(i).isoformat(), "h" * 64))  # fmt: skip
            conn.execute("COMMIT")

    return ours, timed(raw)


def bulk_import(folder: Path, rows: int) -> tuple[float, float]:
    lab = folder / "lab.csv"
    with lab.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["participant", "target", "outcome", "at", "key", "note"])
        for i in range(rows):
            writer.writerow([f"P{i % PARTICIPANTS:04d}", "stimulant-negative", "met",
                             visit(i // PARTICIPANTS).isoformat(), f"LAB-{i}", ""])  # fmt: skip
    clinic = clinic_with_participants(folder / "bulk.db")

    def ours() -> None:
        with lab.open(newline="") as file:
            report = clinic.import_outcomes(read_rows(file, str(lab)), actor="admin-1")
        assert report.applied == rows

    took = timed(ours)
    clinic.close()
    conn = raw_connection(folder / "bulk-raw.db")
    outcome_rows = [(f"P{i % PARTICIPANTS:04d}", visit(i).isoformat(), f"LAB-{i}", "h" * 64)
                    for i in range(rows)]  # fmt: skip
    transfer_rows = [(f"P{i % PARTICIPANTS:04d}", 10, visit(i).isoformat(), "h" * 64)
                     for i in range(rows)]  # fmt: skip

    def raw() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO outcomes (participant, target, outcome, at, key, hash)"
            " VALUES (?, 'stimulant-negative', 'met', ?, ?, ?)",
            outcome_rows,
        )
        conn.executemany("INSERT INTO transfers (participant, amount, at, hash)"
                         " VALUES (?, ?, ?, ?)", transfer_rows)  # fmt: skip
        conn.execute("COMMIT")

    return took, timed(raw)


def main() -> None:
    rows = int(os.environ.get("BENCH_ROWS", "5000"))
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        figures = [
            ("one record, durable commit", "1.5x", *single_record(folder)),
            (f"bulk import of {rows:,} outcomes", "3x", *bulk_import(folder, rows)),
        ]
    print(f"{'figure':<36} {'cmrewards':>10} {'sqlite3':>10} {'ratio':>8} {'target':>8}")
    for name, target, ours, raw in figures:
        print(f"{name:<36} {ours:>9.3f}s {raw:>9.3f}s {ours / raw:>7.1f}x {target:>8}")


if __name__ == "__main__":
    main()
