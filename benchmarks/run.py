"""Performance figures as ratios against plain sqlite3 doing the same work in the same run.

Machines here are noisy, so absolute times mean little; a ratio measured in one run
on one machine is stable enough to compare. Run with ``make bench``; it prints each figure
of issue 16's goal beside its target. ``BENCH_SCALE`` shrinks (or grows) every size at once
for a quick look (``BENCH_SCALE=0.1 make bench`` takes about a tenth of the time); each size
can also be set on its own: BENCH_ROWS (bulk import, default 50,000), BENCH_TRANSFERS (the
large file for balance/preview, default 1,000,000), BENCH_MEMORY_ROWS (the import sizes
whose peak memory is compared, default "20000,100000").

The peers: the awards ``import`` wrote are written out as a double-entry journal and checked
by ``hledger check`` (when ``hledger`` is on the PATH; ``make bench`` installs Debian's when
it can) and ``bean-check`` (beancount, installed into the bench virtualenv by ``make
bench``); each is skipped with the reason printed when it is missing.

With a PostgreSQL server (``make bench`` starts a throwaway one, with fsync on, through
scripts/with-postgres; or set CMREWARDS_TEST_POSTGRES to a server URL whose user may
create databases) every cmrewards figure is also measured on PostgreSQL, in its own
column, as a ratio against the same plain-sqlite3 baseline.
"""

from __future__ import annotations

import compileall
import csv
import datetime as dt
import os
import re
import shutil
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.wire import round_trips  # counts PostgreSQL round trips on the wire

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
    conn.execute(
        "CREATE TABLE analyte_results (id INTEGER PRIMARY KEY, participant TEXT, specimen TEXT,"
        " analyte TEXT, result TEXT, collected_at TEXT, hash TEXT) STRICT"
    )
    return conn


def clinic_with_participants(
    path: Path | str, count: int = PARTICIPANTS, program: cmrewards.Program | None = None
) -> cmrewards.Clinic:
    """A new clinic with ``count`` participants P0000... enrolled in ``program`` (the
    higgins-vbrt preset when None) from START."""
    clinic = cmrewards.open(path)
    clinic.init("admin-1")
    added = clinic.add_program(program or cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
    for n in range(count):
        clinic.enroll(f"P{n:04d}", added.id, start=START, actor="admin-1")
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


LAB_MAP = {
    "time_format": "%m/%d/%Y %H:%M",
    "columns": {
        "participant": "Patient ID",
        "specimen": "Specimen ID",
        "collected": "Collected",
        "analyte": "Analyte",
        "result": "Result",
    },
    "results": {"NEG": "negative", "POS": "positive"},
}
"""A mapping like examples/ctn0094-map.toml: a lab's per-analyte export in its own words."""


def lab_program() -> cmrewards.Program:
    """higgins-vbrt with its target decided by the cocaine result of each specimen."""
    data = cmrewards.load_preset("higgins-vbrt").to_dict()
    data["id"] = "higgins-lab"
    data["targets"][0]["analytes"] = ["cocaine"]
    return cmrewards.program_from_dict(data, "bench")


def write_export(path: Path, rows: int) -> None:
    """The same results as ``write_lab_file``, as a lab's export: one cocaine row a specimen."""
    people = people_for(rows)
    start = dt.datetime.combine(START, dt.time(9))
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Specimen ID", "Patient ID", "Collected", "Analyte", "Result"])
        for i in range(rows):
            when = (start + dt.timedelta(days=i // people)).strftime("%m/%d/%Y %H:%M")
            writer.writerow([f"S{i}", f"P{i % people:04d}", when, "Cocaine", "NEG"])


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
    # One record first, untimed: the modules only a write needs are imported at the first
    # write (CLI start-up), a one-off cost of the process, not of each record.
    clinic.record("P0000", "stimulant-negative", "met", at=visit(0), actor="admin-1")

    def ours() -> None:
        for i in range(count):
            clinic.record(
                f"P{i % PARTICIPANTS:04d}", "stimulant-negative", "met",
                at=visit(3 * (1 + i // PARTICIPANTS)), actor="admin-1",  # a day after
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


def raw_bulk_import(folder: Path, rows: int, *, analytes: bool = False) -> float:
    """``executemany`` of the rows an import of ``rows`` outcomes writes, in one transaction:
    the outcomes and their transfers, and with ``analytes`` the analyte result each came from."""
    conn = raw_connection(folder / f"bulk-raw-{analytes}.db")
    outcome_rows = [
        (f"P{i % PARTICIPANTS:04d}", visit(i).isoformat(), f"L{i}", "h" * 64) for i in range(rows)
    ]
    transfer_rows = [
        (f"P{i % PARTICIPANTS:04d}", 10, visit(i).isoformat(), "h" * 64) for i in range(rows)
    ]
    analyte_rows = [
        (f"P{i % PARTICIPANTS:04d}", f"S{i}", visit(i).isoformat(), "h" * 64)
        for i in range(rows if analytes else 0)
    ]

    def raw() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO analyte_results (participant, specimen, analyte, result,"
            " collected_at, hash) VALUES (?, ?, 'cocaine', 'negative', ?, ?)",
            analyte_rows,
        )
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

    took = timed(raw)
    conn.close()
    return took


def ours_lab_import(place: Place, export: Path, rows: int) -> float:
    """The same results as a per-analyte export through a mapping (the public API:
    ``read_lab_file`` and ``import_lab_results``)."""
    clinic = clinic_with_participants(place.new("lab"), people_for(rows), lab_program())
    lab_map = cmrewards.lab_map_from_dict(LAB_MAP, "bench-map")

    def ours() -> None:
        with export.open(newline="") as file:
            rows_in = cmrewards.read_lab_file(file, lab_map, str(export))
            report = clinic.import_lab_results(rows_in, actor="admin-1")
        assert report.outcomes == rows, report

    took = timed(ours)
    clinic.close()
    return took


def ours_verify(database: str) -> float:
    with cmrewards.open(database) as clinic:
        return best_of(2, lambda: clinic.verify())


VERIFIED_TABLES = (
    "outcomes",
    "transfers",
    "journal",
    "idempotency",
    "participants",
    "past_episodes",
    "programs",
    "staff",
    "staff_secrets",
    "sign_ins",
    "prizes",
    "prize_fulfilments",
    "prize_trades",
    "prize_withdrawals",
    "catalog",
    "stock_movements",
    "redemptions",
    "analyte_results",
    "analyte_revisions",
    "corrections",
    "write_offs",
    "balances",
    "schedule_states",
    "cap_usage",
)
"""Every table ``verify`` reads: the chains, the journal and every record it covers, and
the derived tables it recomputes (issue 16: "a raw scan of the rows it reads")."""


def raw_select(database: str) -> float:
    """Reading every row ``verify`` reads, with a plain ``SELECT *`` of each table."""
    conn = sqlite3.connect(database)
    raw = best_of(
        2, lambda: [conn.execute(f"SELECT * FROM {t}").fetchall() for t in VERIFIED_TABLES]
    )
    conn.close()
    return raw


# --- the peers: the same awards as a double-entry journal -------------------------


def ledger_account(account: str) -> str:
    """A cmrewards account (``available:P0001``, ``funding``) as a ledger account name that
    hledger and beancount both take: ``Assets:Available:P0001``, ``Income:Funding``."""
    root = "Income" if account == "funding" else "Assets"
    parts = [re.sub(r"[^A-Za-z0-9-]", "-", part) for part in account.split(":")]
    return ":".join([root, *(part[:1].upper() + part[1:] for part in parts)])


def write_journals(database: str, folder: Path) -> tuple[Path, Path]:
    """Every transfer of a clinic's SQLite file as an hledger and a beancount journal."""
    conn = sqlite3.connect(database)
    rows = conn.execute(
        "SELECT substr(occurred_at, 1, 10), from_account, to_account, amount, reason"
        " FROM transfers ORDER BY id"
    ).fetchall()
    conn.close()
    accounts = sorted({ledger_account(a) for _, f, t, _, _ in rows for a in (f, t)})
    hledger, beancount = folder / "awards.journal", folder / "awards.beancount"
    with hledger.open("w") as h, beancount.open("w") as b:
        b.write('option "operating_currency" "PTS"\n')
        b.writelines(f"2000-01-01 open {account} PTS\n" for account in accounts)
        for day, source, to, amount, reason in rows:
            debit, credit = ledger_account(to), ledger_account(source)
            h.write(f"{day} {reason}\n    {debit}  {amount} PTS\n    {credit}  -{amount} PTS\n\n")
            b.write(f'{day} * "{reason}"\n  {debit}  {amount} PTS\n  {credit}  -{amount} PTS\n')
    return hledger, beancount


def peer_check(argv: list[str], missing: str) -> tuple[float | None, str]:
    """Seconds ``argv`` takes to check a journal (best of two), or None and why not."""
    if shutil.which(argv[0]) is None:
        return None, missing
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"{argv[0]} refused the journal: {(done.stderr or done.stdout)[:200]}"
    return best_of(2, lambda: subprocess.run(argv, check=True, capture_output=True)), ""


def postgres_round_trips(place: Place, count: int = 20) -> float:
    """Round trips per ``record`` on PostgreSQL, counted on the wire (support/wire.py)."""
    clinic = clinic_with_participants(place.new("trips"))
    with round_trips(clinic) as turns:
        for i in range(count):
            clinic.record(
                f"P{i % PARTICIPANTS:04d}", "stimulant-negative", "met",
                at=visit(i // PARTICIPANTS), actor="admin-1",
            )  # fmt: skip
    clinic.close()
    return turns.count / count


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
        timed(lambda: subprocess.run(argv, check=True, capture_output=True)) for _ in range(10)
    )


def cli_balance(place: Place) -> float:
    database = place.new("cli")
    with clinic_with_participants(database, 1) as clinic:
        clinic.record("P0000", "stimulant-negative", "met", at=visit(0), actor="admin-1")
    # Byte-compiled first, as pip leaves an installed package: a checkout run with
    # PYTHONDONTWRITEBYTECODE (or edited since its last run) would compile every module it
    # imports on every run, and that is not what the front desk waits for.
    compileall.compile_dir(Path(cmrewards.__file__).parent, quiet=1)
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
baseline (None when there is no server): plain sqlite3, except where the label names
another baseline (the reads: each store with 1,000 transfers; the peers: their check)."""


def scaled(name: str, default: int) -> int:
    return int(os.environ.get(name, str(max(1, round(default * SCALE)))))


SCALE = float(os.environ.get("BENCH_SCALE", "1"))


def main() -> None:
    rows = scaled("BENCH_ROWS", 50000)
    transfers = scaled("BENCH_TRANSFERS", 1_000_000)
    sizes = f"{max(1, round(20000 * SCALE))},{max(1, round(100000 * SCALE))}"
    memory_rows = [int(n) for n in os.environ.get("BENCH_MEMORY_ROWS", sizes).split(",")]
    figures: list[Figure] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        places = [Place(folder)] + ([Place(folder, SERVER)] if SERVER else [])
        # First, while this process is small: a child's peak memory counts the parent it
        # was forked from.
        memory = import_memory(folder, memory_rows)
        lab = folder / "lab.csv"
        write_lab_file(lab, rows)
        export = folder / "export.csv"
        write_export(export, rows)

        def on_each(measure: Callable[[Place], float]) -> tuple[float, float | None]:
            times = [measure(place) for place in places]
            return times[0], (times[1] if len(times) > 1 else None)

        single, single_pg = on_each(ours_single_record)
        raw = raw_single_record(folder)
        figures.append(("one record, durable commit", "1.5x", single, raw, single_pg, raw))
        imported = [ours_bulk_import(place, lab, rows) for place in places]
        bulk_pg = imported[1][0] if len(imported) > 1 else None
        raw = raw_bulk_import(folder, rows)
        label = f"import of {rows:,} outcomes vs executemany"
        figures.append((label, "5x", imported[0][0], raw, bulk_pg, raw))
        by_map, by_map_pg = on_each(lambda place: ours_lab_import(place, export, rows))
        raw = raw_bulk_import(folder, rows, analytes=True)
        label = "the same as a per-analyte lab file, mapped"
        figures.append((label, "5x", by_map, raw, by_map_pg, raw))
        checked = [ours_verify(database) for _, database in imported]
        verify_pg = checked[1] if len(checked) > 1 else None
        raw = raw_select(imported[0][1])
        label = f"verify {rows:,} outcomes vs SELECT"
        figures.append((label, "5x", checked[0], raw, verify_pg, raw))
        hledger_file, beancount_file = write_journals(imported[0][1], folder)
        for peer, argv, missing in (
            (
                "hledger check",
                ["hledger", "-f", str(hledger_file), "check"],
                "hledger is not installed (make bench installs it with apt-get when it may)",
            ),
            (
                "bean-check",
                [
                    str(Path(sys.executable).parent / "bean-check"),
                    "--no-cache",
                    str(beancount_file),
                ],
                "beancount is not installed in this virtualenv (make bench installs .[bench])",
            ),
        ):
            took, reason = peer_check(argv, missing)
            target = "<1.0x" if peer == "hledger check" else "report"
            if took is None:
                notes.append(f"verify vs {peer}: skipped, {reason}")
            else:
                label = f"verify vs {peer} of the same awards"
                figures.append((label, target, checked[0], took, verify_pg, took))
        # Here each store is its own baseline: the same reads with 1,000 transfers.
        reads = [reads_at_size(place, transfers) for place in places]
        reads_pg = reads[1] if len(reads) > 1 else (None, None)
        label = f"balance+preview, {transfers:,} vs 1,000 transfers"
        figures.append((label, "1.2x", *reads[0], *reads_pg))
        cli, cli_pg = on_each(cli_balance)
        plain = median_run([sys.executable, "-c", "import sqlite3"])
        label = "CLI balance vs python -c 'import sqlite3'"
        figures.append((label, "+0.15s", cli, plain, cli_pg, plain))
        trips = postgres_round_trips(places[1]) if SERVER else None
    print(
        f"{'figure':<48} {'sqlite':>9} {'baseline':>9} {'ratio':>6}"
        f" {'postgres':>9} {'ratio':>6} {'target':>6}"
    )
    for label, target, measured, baseline, on_server, server_baseline in figures:
        server = f"{'-':>16}"
        if on_server is not None and server_baseline is not None:
            server = f"{on_server:>8.3f}s {on_server / server_baseline:>5.1f}x"
        if target.startswith("+"):  # a difference, not a ratio
            ratio = f"{measured - baseline:>+5.2f}s"
            if on_server is not None and server_baseline is not None:
                server = f"{on_server:>8.3f}s {on_server - server_baseline:>+5.2f}s"
        else:
            ratio = f"{measured / baseline:>5.1f}x"
        print(f"{label:<48} {measured:>8.3f}s {baseline:>8.3f}s {ratio} {server} {target:>6}")
    if trips is None:
        print("(no PostgreSQL column: run under scripts/with-postgres, as make bench does)")
    else:
        print(
            f"{'PostgreSQL round trips per record (counted)':<48} {trips:>9.1f} {'':>26} {'5':>6}"
        )
    for note in notes:
        print(note)
    for count, kib in memory:
        print(
            f"peak memory of a process importing {count:>9,} outcomes: {kib / 1024:>6.1f} MiB"
            "  (target: the same for every size)"
        )


if __name__ == "__main__":
    main()
