"""Performance figures as ratios against plain sqlite3 doing the same work in the same run.

Machines here are noisy, so absolute times mean little; a ratio measured in one run
on one machine is stable enough to compare. Run with ``make bench``. Sizes can be
lowered for a quick look: BENCH_ROWS (bulk import, default 50,000), BENCH_TRANSFERS
(the large file for balance/preview, default 1,000,000), BENCH_MEMORY_ROWS (the two
import sizes whose peak memory is compared, default "20000,100000").

With a PostgreSQL server (``make bench`` starts a throwaway one, with fsync on, through
scripts/with-postgres; or set CMREWARDS_TEST_POSTGRES to a server URL whose user may
create databases) every cmrewards figure is also measured on PostgreSQL, in its own
column, as a ratio against the same plain-sqlite3 baseline.
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
from urllib.parse import urlsplit, urlunsplit

import cmrewards

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


def clinic_with_participants(path: Path | str, count: int = PARTICIPANTS) -> cmrewards.Clinic:
    clinic = cmrewards.open(path)
    clinic.init("admin-1")
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
    for n in range(count):
        clinic.enroll(f"P{n:04d}", "higgins-vbrt", start=START, actor="admin-1")
    return clinic


def visit(i: int) -> dt.datetime:
    return dt.datetime.combine(START, dt.time(9), dt.UTC) + dt.timedelta(hours=8 * i)


DAYS = 250
"""A lab file's rows of one participant are a day apart (one result per visit) over at most
this many days, so every clinical time is in the past: a bigger file has more people."""


def people_for(rows: int) -> int:
    """How many participants a lab file of ``rows`` rows spreads over."""
    return max(PARTICIPANTS, -(-rows // DAYS))


def write_lab_file(path: Path, rows: int) -> None:
    people = people_for(rows)
    start = dt.datetime.combine(START, dt.time(9), dt.UTC)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["participant", "target", "outcome", "at", "key", "note"])
        for i in range(rows):
            when = (start + dt.timedelta(days=i // people)).isoformat()
            writer.writerow([f"P{i % people:04d}", "stimulant-negative", "met", when, f"L{i}", ""])


# --- the figures --------------------------------------------------------------------


SERVER = os.environ.get("CMREWARDS_TEST_POSTGRES")


class Place:
    """Where one run's databases live: files in a folder, or databases on a server."""

    def __init__(self, folder: Path, server: str | None = None) -> None:
        self.folder = folder
        self.server = server

    def new(self, name: str) -> str:
        if self.server is None:
            return str(self.folder / f"{name}.db")
        import psycopg

        database = f"bench_{name}".replace("-", "_")
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {database}")
        return urlunsplit(urlsplit(self.server)._replace(path=f"/{database}"))


def ours_single_record(place: Place, count: int = 200) -> float:
    clinic = clinic_with_participants(place.new("single"))

    def ours() -> None:
        for i in range(count):
            clinic.record(
                f"P{i % PARTICIPANTS:04d}", "stimulant-negative", "met",
                at=visit(i // PARTICIPANTS), actor="admin-1",
            )  # fmt: skip

    took = timed(ours)
    clinic.close()
    return took


def raw_single_record(folder: Path, count: int = 200) -> float:
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

    return timed(raw)


def ours_bulk_import(place: Place, lab: Path, rows: int) -> tuple[float, str]:
    database = place.new("bulk")
    clinic = clinic_with_participants(database, people_for(rows))

    def ours() -> None:
        with lab.open(newline="") as file:
            report = clinic.import_outcomes(cmrewards.read_rows(file, str(lab)), actor="admin-1")
        assert report.applied == rows

    took = timed(ours)
    clinic.close()
    return took, database


def raw_bulk_import(folder: Path, rows: int) -> float:
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

    return timed(raw)


def ours_verify(database: str) -> float:
    with cmrewards.open(database) as clinic:
        return best_of(2, lambda: clinic.verify())


def raw_select(database: str) -> float:
    """Reading the same outcome and transfer rows ``verify`` reads, with a plain SELECT."""
    conn = sqlite3.connect(database)
    raw = best_of(
        2,
        lambda: (
            conn.execute("SELECT * FROM outcomes").fetchall(),
            conn.execute("SELECT * FROM transfers").fetchall(),
        ),
    )
    conn.close()
    return raw


def database_with_transfers(place: Place, transfers: int) -> str:
    """A clinic whose ledger holds ``transfers`` rows (the reading paths do not look at
    their hashes, so this writes rows directly instead of taking an hour to record them)."""
    database = place.new(f"reads-{transfers}")
    clinic_with_participants(database, 1000).close()
    at = visit(0).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = (
        (i, f"available:P{i % 1000:04d}", f"P{i % 1000:04d}", at, at, "0" * 64, f"{i:064x}")
        for i in range(1, transfers + 1)
    )
    columns = "id, to_account, participant, occurred_at, recorded_at, prev_hash, hash"
    if place.server is not None:
        import psycopg

        with psycopg.connect(database) as conn, conn.cursor() as cursor:
            # Rows written past the schema's guards and balance trigger, as a bench fixture.
            cursor.execute("SET session_replication_role = replica")
            statement = (
                f"COPY transfers ({columns}, program_id, kind, from_account, amount, actor,"
                " reason) FROM STDIN"
            )
            with cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row((*row, "higgins-vbrt", "award", "funding", 10, "admin-1", "b"))
            cursor.execute("ANALYZE transfers")
        return database
    raw = sqlite3.connect(database, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    raw.executemany(
        f"INSERT INTO transfers ({columns}, program_id, kind, from_account, amount, actor,"
        " reason) VALUES (?, ?, ?, ?, ?, ?, ?, 'higgins-vbrt', 'award', 'funding', 10,"
        " 'admin-1', 'b')",
        rows,
    )
    raw.execute("COMMIT")
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as a long-running clinic file would be
    raw.close()
    return database


def reads_at_size(place: Place, transfers: int, small: int = 1000) -> tuple[float, float]:
    """Time of 2,000 balance + preview reads with ``transfers`` in the ledger vs ``small``."""
    times = []
    for size in (transfers, small):
        with cmrewards.open(database_with_transfers(place, size)) as clinic:

            def reads(c: cmrewards.Clinic = clinic) -> None:
                for n in range(2000):
                    c.balance(f"P{n % 1000:04d}")
                    c.preview(f"P{n % 1000:04d}")

            times.append(best_of(3, reads))
    return times[0], times[1]


def median_run(argv: list[str]) -> float:
    return statistics.median(
        timed(lambda: subprocess.run(argv, check=True, capture_output=True)) for _ in range(5)
    )


def cli_balance(place: Place) -> float:
    database = place.new("cli")
    with clinic_with_participants(database, 1) as clinic:
        clinic.record("P0000", "stimulant-negative", "met", at=visit(0), actor="admin-1")
    return median_run([sys.executable, "-m", "cmrewards", "--db", database, "balance", "P0000"])


MEMORY_CHILD = """
import resource, sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
sys.path.insert(0, sys.argv[3])
from run import clinic_with_participants, people_for
from cmrewards import read_rows
lab, database = Path(sys.argv[1]), Path(sys.argv[2])
clinic = clinic_with_participants(database, people_for(int(sys.argv[4])))
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
            [
                sys.executable,
                "-c",
                MEMORY_CHILD,
                str(lab),
                str(folder / f"m{rows}.db"),
                here,
                str(rows),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        peaks.append((rows, int(done.stdout.strip())))
    return peaks


Figure = tuple[str, str, float, float, float | None, float | None]
"""Label, target, cmrewards on SQLite and its baseline, cmrewards on PostgreSQL and its
baseline (None when there is no server): plain sqlite3, except for the reads, where each
store is compared with itself holding 1,000 transfers."""


def main() -> None:
    rows = int(os.environ.get("BENCH_ROWS", "50000"))
    transfers = int(os.environ.get("BENCH_TRANSFERS", "1000000"))
    memory_rows = [int(n) for n in os.environ.get("BENCH_MEMORY_ROWS", "20000,100000").split(",")]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        places = [Place(folder)] + ([Place(folder, SERVER)] if SERVER else [])
        # First, while this process is small: a child's peak memory counts the parent it
        # was forked from.
        memory = import_memory(folder, memory_rows)
        lab = folder / "lab.csv"
        write_lab_file(lab, rows)

        def on_each(measure: Callable[[Place], float]) -> tuple[float, float | None]:
            times = [measure(place) for place in places]
            return times[0], (times[1] if len(times) > 1 else None)

        single, single_pg = on_each(ours_single_record)
        raw = raw_single_record(folder)
        figures.append(("one record, durable commit", "1.5x", single, raw, single_pg, raw))
        imported = [ours_bulk_import(place, lab, rows) for place in places]
        bulk_pg = imported[1][0] if len(imported) > 1 else None
        raw = raw_bulk_import(folder, rows)
        label = f"bulk import of {rows:,} outcomes"
        figures.append((label, "3x", imported[0][0], raw, bulk_pg, raw))
        checked = [ours_verify(database) for _, database in imported]
        verify_pg = checked[1] if len(checked) > 1 else None
        raw = raw_select(imported[0][1])
        label = f"verify {rows:,} outcomes vs SELECT"
        figures.append((label, "5x", checked[0], raw, verify_pg, raw))
        # Here each store is its own baseline: the same reads with 1,000 transfers.
        reads = [reads_at_size(place, transfers) for place in places]
        reads_pg = reads[1] if len(reads) > 1 else (None, None)
        label = f"balance+preview, {transfers:,} vs 1,000 transfers"
        figures.append((label, "1.2x", *reads[0], *reads_pg))
        cli, cli_pg = on_each(cli_balance)
        plain = median_run([sys.executable, "-c", "import sqlite3"])
        label = "CLI balance vs python -c 'import sqlite3'"
        figures.append((label, "report", cli, plain, cli_pg, plain))
    print(
        f"{'figure':<48} {'sqlite':>9} {'baseline':>9} {'ratio':>6}"
        f" {'postgres':>9} {'ratio':>6} {'target':>6}"
    )
    for label, target, measured, baseline, on_server, server_baseline in figures:
        server = f"{'-':>16}"
        if on_server is not None and server_baseline is not None:
            server = f"{on_server:>8.3f}s {on_server / server_baseline:>5.1f}x"
        print(
            f"{label:<48} {measured:>8.3f}s {baseline:>8.3f}s {measured / baseline:>5.1f}x"
            f" {server} {target:>6}"
        )
    if not SERVER:
        print("(no PostgreSQL column: run under scripts/with-postgres, as make bench does)")
    for count, kib in memory:
        print(
            f"peak memory of a process importing {count:>9,} outcomes: {kib / 1024:>6.1f} MiB"
            "  (target: the same for every size)"
        )


if __name__ == "__main__":
    main()
