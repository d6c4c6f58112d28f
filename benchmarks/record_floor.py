"""What one ``record`` costs in SQLite alone: its statements replayed without the library.

``.venv/bin/python benchmarks/record_floor.py [ROUNDS]`` (default 5) sets up the bench's
clinic (200 participants, one untimed record), records 200 results as ``make bench`` does
while noting every statement with its parameters, then replays exactly those statements on
a copy of the file as it was before them, through a plain ``sqlite3`` connection with the
store's pragmas; and once more without its SELECTs (its writes alone: BEGIN, the inserts
with their triggers, COMMIT). Each round also runs the bench's raw baseline (200 raw
insert + commit). It prints the best wall and CPU (``time.process_time``) time of each
over the rounds, each as a ratio of the raw baseline's (on a loaded machine only the CPU
ratios mean much: the wall times wait on other processes' disk writes).

The replay is the floor a ``record`` cannot go under without running fewer or cheaper
statements (a narrower row, fewer indexes or triggers, fewer reads); what ``record`` takes
beyond it is the Python around them. benchmarks/PROFILE.md ("One `record`", second pass)
keeps one run's figures.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from run import PARTICIPANTS, clinic_with_participants, raw_single_record, visit

import cmrewards

Noted = list[tuple[str, Any]]


class _Noting(sqlite3.Connection):
    """A connection that notes each statement it runs, with its parameters."""

    noted: Noted

    def execute(self, sql: str, params: Any = (), /) -> sqlite3.Cursor:
        self.noted.append((sql, tuple(params)))
        return super().execute(sql, params)

    def executemany(self, sql: str, params: Iterable[Any], /) -> sqlite3.Cursor:
        rows = [tuple(row) for row in params]
        self.noted.append((sql, rows))
        return super().executemany(sql, rows)


def _records(folder: Path, noted: Noted) -> tuple[float, float, Path]:
    """200 records as the bench times them; the statements go to ``noted``."""
    original = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = original(*args, **kwargs, factory=_Noting)
        return conn

    _Noting.noted = []
    sqlite3.connect = connect  # type: ignore[assignment]
    try:
        clinic: cmrewards.Clinic = clinic_with_participants(folder / "clinic.db")
    finally:
        sqlite3.connect = original
    clinic.record("P0000", "stimulant-negative", "met", at=visit(0), actor="admin-1")
    before = folder / "before.db"
    clinic.backup(str(before))
    del _Noting.noted[:]

    def records() -> None:
        for i in range(200):
            at = visit(3 * (1 + i // PARTICIPANTS))
            clinic.record(
                f"P{i % PARTICIPANTS:04d}", "stimulant-negative", "met", at=at, actor="admin-1"
            )

    cpu, wall = _timed(records)
    noted += _Noting.noted
    clinic.close()
    return cpu, wall, before


def _replay(before: Path, noted: Noted, *, reads: bool = True) -> tuple[float, float]:
    conn = sqlite3.connect(before, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in ("foreign_keys = ON", "recursive_triggers = ON", "synchronous = FULL"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("PRAGMA journal_mode = WAL")

    def replay() -> None:
        for sql, params in noted:
            if not reads and sql.startswith("SELECT"):
                continue
            if isinstance(params, list):
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params).fetchall()

    try:
        return _timed(replay)
    finally:
        conn.close()


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    best: dict[str, tuple[float, float]] = {}

    def keep(name: str, cpu: float, wall: float) -> None:
        old = best.get(name, (cpu, wall))
        best[name] = (min(old[0], cpu), min(old[1], wall))

    statements = 0
    for n in range(rounds):
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            noted: Noted = []
            cpu, wall, before = _records(folder, noted)
            keep("record", cpu, wall)
            statements = sum(len(p) if isinstance(p, list) else 1 for _, p in noted)
            copy = folder / f"replay-{n}.db"
            shutil.copy(before, copy)
            keep("its statements replayed", *_replay(copy, noted))
            copy = folder / f"writes-{n}.db"
            shutil.copy(before, copy)
            keep("its writes alone", *_replay(copy, noted, reads=False))
            raw = folder / "raw"
            raw.mkdir()
            cpu = time.process_time()
            wall = raw_single_record(raw)
            keep("raw insert + commit", time.process_time() - cpu, wall)
    print(f"200 records, best of {rounds}; {statements / 200:.1f} statements a record")
    raw_cpu, raw_wall = best["raw insert + commit"]
    for name, (cpu, wall) in best.items():
        print(
            f"  {name:<26} wall {wall:.4f} s ({wall / raw_wall:.2f}x)"
            f"  cpu {cpu:.4f} s ({cpu / raw_cpu:.2f}x)"
        )


if __name__ == "__main__":
    main()
