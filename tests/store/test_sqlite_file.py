"""What the SQLite file itself guarantees (docs/design.md section 6), checked from outside.

Where the domain could be bypassed (a bug, a stray script with the sqlite3 shell),
these tests use a raw ``sqlite3`` connection to show the database refuses on its own.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cmrewards
from cmrewards import Clinic
from cmrewards.domain.chain import position_after, sealed
from cmrewards.domain.ledger import Movement, Transfer
from cmrewards.store import migrations, schema
from cmrewards.store.sqlite import SQLiteStore

NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
START = dt.date(2027, 1, 4)
ADMIN = "admin-1"
HIGGINS = "higgins-vbrt"
STIM = "stimulant-negative"
TABLES = {
    "cmrewards_meta",
    "staff",
    "programs",
    "participants",
    "outcomes",
    "transfers",
    "balances",
    "schedule_states",
    "idempotency",
}


def visit(day: int) -> dt.datetime:
    return dt.datetime(2027, 1, 4, 9, tzinfo=dt.UTC) + dt.timedelta(days=day)


def fixed_clock() -> dt.datetime:
    return NOW


def open_clinic(path: Path) -> Clinic:
    return cmrewards.open(path, clock=fixed_clock, seeds=lambda: 7)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "clinic.db"


@pytest.fixture
def clinic_file(db_path: Path) -> Path:
    """A closed database file: admin, the Higgins program, P001 with two awards and +10."""
    with open_clinic(db_path) as clinic:
        clinic.init(ADMIN)
        clinic.add_program(cmrewards.load_preset(HIGGINS), actor=ADMIN)
        clinic.enroll("P001", HIGGINS, start=START, actor=ADMIN)
        clinic.record("P001", STIM, "met", at=visit(0), actor=ADMIN)  # 10
        clinic.record("P001", STIM, "met", at=visit(2), actor=ADMIN)  # 15
        clinic.adjust("P001", 10, reason="make-up visit", actor=ADMIN)
    return db_path


@pytest.fixture
def raw(clinic_file: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection, as a stray script would open it (autocommit)."""
    conn = sqlite3.connect(clinic_file, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    yield conn
    conn.close()


def count(conn: sqlite3.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0])


def store_pragma(store: SQLiteStore, name: str) -> Any:
    # The per-connection settings can only be seen on the store's own connection.
    return store._conn.execute(f"PRAGMA {name}").fetchone()[0]


def insert_transfer(
    conn: sqlite3.Connection,
    *,
    kind: str,
    source: str,
    sink: str,
    amount: int,
    reverses: int | None = None,
) -> None:
    conn.execute(
        "INSERT INTO transfers (program_id, kind, from_account, to_account, amount,"
        " participant, actor, reason, cause, reverses, occurred_at, recorded_at,"
        " prev_hash, hash) VALUES (?, ?, ?, ?, ?, 'P001', ?, 'by hand', NULL, ?,"
        " '2027-06-01T12:00:00.000000Z', '2027-06-01T12:00:00.000000Z', ?, ?)",
        [HIGGINS, kind, source, sink, amount, ADMIN, reverses, "0" * 64, secrets.token_hex(32)],
    )


def assert_one_line(error: BaseException, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message
    assert message.strip() == message
    for fragment in fragments:
        assert fragment in message


# --- the file and its settings ---------------------------------------------------------


def test_a_new_file_is_readable_by_its_owner_only(db_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        store = SQLiteStore(db_path)
    finally:
        os.umask(old_umask)
    try:
        assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
        with store.write():
            pass
        # SQLite gives its -wal and -shm files the database file's mode.
        for companion in ("-wal", "-shm"):
            side = db_path.with_name(db_path.name + companion)
            assert side.exists()
            assert stat.S_IMODE(side.stat().st_mode) == 0o600
    finally:
        store.close()


def test_a_file_created_through_open_is_private(db_path: Path) -> None:
    with open_clinic(db_path) as clinic:
        clinic.init(ADMIN)
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_connection_settings(db_path: Path) -> None:
    store = SQLiteStore(db_path, busy_timeout_ms=1234)
    try:
        assert store_pragma(store, "journal_mode") == "wal"
        assert store_pragma(store, "synchronous") == 2  # FULL
        assert store_pragma(store, "foreign_keys") == 1
        assert store_pragma(store, "busy_timeout") == 1234
        assert store_pragma(store, "recursive_triggers") == 1
    finally:
        store.close()
    # WAL is a property of the file: a plain connection sees it too.
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_the_default_busy_timeout_is_set(db_path: Path) -> None:
    store = SQLiteStore(db_path)
    try:
        assert store_pragma(store, "busy_timeout") > 0
    finally:
        store.close()


def test_every_table_is_strict(clinic_file: Path, raw: sqlite3.Connection) -> None:
    rows = raw.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    # Every table of ours; sqlite-utils' own migrations table is not ours to define.
    sql = {name: text for name, text in rows if name != "_sqlite_migrations"}
    assert set(sql) >= TABLES
    not_strict = sorted(
        name for name, text in sql.items() if not re.search(r"\)\s*STRICT\s*$", text)
    )
    assert not_strict == []
    strict_flags = {row[1]: row[5] for row in raw.execute("PRAGMA table_list") if row[1] in TABLES}
    assert strict_flags == dict.fromkeys(TABLES, 1)


def test_the_file_says_it_belongs_to_cmrewards(raw: sqlite3.Connection) -> None:
    row = raw.execute("SELECT value FROM cmrewards_meta WHERE key = 'application'").fetchone()
    assert row == ("cmrewards",)


# --- the database's own refusals ---------------------------------------------------------


@pytest.mark.parametrize("table", ["outcomes", "transfers"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {table} SET actor = actor WHERE id = 1",
        "UPDATE {table} SET occurred_at = '2027-01-01T00:00:00.000000Z'",
        "DELETE FROM {table} WHERE id = 1",
        "DELETE FROM {table}",
    ],
)
def test_outcomes_and_transfers_are_append_only(
    raw: sqlite3.Connection, table: str, statement: str
) -> None:
    before = raw.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
    assert len(before) >= 2
    with pytest.raises(sqlite3.IntegrityError, match=f"{table} are append-only"):
        raw.execute(statement.format(table=table))
    assert raw.execute(f"SELECT * FROM {table} ORDER BY id").fetchall() == before


def test_the_database_refuses_to_overdraw_available_points(raw: sqlite3.Connection) -> None:
    # P001 has 10 + 15 + 10 = 35 available.
    assert raw.execute(
        "SELECT points FROM balances WHERE account = 'available:P001'"
    ).fetchone() == (35,)
    transfers = count(raw, "transfers")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        insert_transfer(
            raw, kind="adjustment-down", source="available:P001", sink="funding", amount=36
        )
    assert count(raw, "transfers") == transfers
    assert raw.execute(
        "SELECT points FROM balances WHERE account = 'available:P001'"
    ).fetchone() == (35,)
    # Exactly the balance is allowed: the CHECK is >= 0, not > 0.
    insert_transfer(raw, kind="adjustment-down", source="available:P001", sink="funding", amount=35)
    assert raw.execute(
        "SELECT points FROM balances WHERE account = 'available:P001'"
    ).fetchone() == (0,)


def test_the_database_refuses_to_release_more_than_is_held(raw: sqlite3.Connection) -> None:
    insert_transfer(raw, kind="hold", source="available:P001", sink="held:P001", amount=20)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        insert_transfer(raw, kind="release", source="held:P001", sink="available:P001", amount=21)
    balances = dict(
        raw.execute("SELECT account, points FROM balances WHERE program_id = ?", [HIGGINS])
    )
    assert balances == {"funding": -35, "available:P001": 15, "held:P001": 20}


def overdraw_through_port(store: SQLiteStore, amount: int) -> None:
    """What a bug that skipped the domain's InsufficientPoints check would write."""
    with store.write() as tx:
        transfer_id, prev_hash = position_after(tx.last_transfer())
        transfer = Transfer(
            id=transfer_id,
            program_id=HIGGINS,
            kind=Movement.ADJUSTMENT_DOWN,
            from_account="available:P001",
            to_account="funding",
            amount=amount,
            participant="P001",
            actor=ADMIN,
            reason="a bug that skipped the domain's check",
            cause=None,
            reverses=None,
            occurred_at=NOW,
            recorded_at=NOW,
            prev_hash=prev_hash,
            hash="",
        )
        tx.append_transfers([sealed(transfer)])


def test_an_overdraft_through_the_port_is_refused_and_rolled_back(clinic_file: Path) -> None:
    store = SQLiteStore(clinic_file)
    try:
        with store.read() as tx:
            before = tx.transfers()
        with pytest.raises(cmrewards.IntegrityError, match="CHECK constraint failed") as info:
            overdraw_through_port(store, 1000)
        assert info.value.exit_code == 3
        with store.read() as tx:
            assert tx.transfers() == before
            assert tx.balance(HIGGINS, "available:P001") == 35
    finally:
        store.close()


def test_the_database_refuses_a_second_reversal(raw: sqlite3.Connection) -> None:
    # Transfer 3 is the +10 adjustment; reversing it takes 10 of P001's 35.
    insert_transfer(
        raw, kind="reversal", source="available:P001", sink="funding", amount=10, reverses=3
    )
    with pytest.raises(
        sqlite3.IntegrityError, match=r"UNIQUE constraint failed: transfers\.reverses"
    ):
        insert_transfer(
            raw, kind="reversal", source="available:P001", sink="funding", amount=10, reverses=3
        )
    assert raw.execute("SELECT count(*) FROM transfers WHERE reverses = 3").fetchone() == (1,)
    assert raw.execute(
        "SELECT points FROM balances WHERE account = 'available:P001'"
    ).fetchone() == (25,)


def test_the_clinic_refuses_a_second_reversal_too(clinic_file: Path) -> None:
    with open_clinic(clinic_file) as clinic:
        first = clinic.reverse(3, reason="entered twice", actor=ADMIN)
        with pytest.raises(cmrewards.InvalidTransition, match="already reversed"):
            clinic.reverse(3, reason="entered twice", actor=ADMIN)
        assert first.balance.points == 25
        assert clinic.balance("P001").points == 25
        assert clinic.verify().ok


# --- files that are not (this version's) cmrewards databases -------------------------------


def other_application_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('shopping list')")
    conn.commit()
    conn.close()


def newer_schema_file(path: Path) -> None:
    with open_clinic(path) as clinic:
        clinic.init(ADMIN)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES (?, '9999_from_the_future', '2030-01-01 00:00:00+00:00')",
        [schema.MIGRATION_SET],
    )
    conn.commit()
    conn.close()


def random_bytes_file(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04" + secrets.token_bytes(8188))


def damaged_file(path: Path) -> None:
    """An SQLite header followed by garbage: a damaged database."""
    path.write_bytes(b"SQLite format 3\x00" + secrets.token_bytes(4080))


def text_file(path: Path) -> None:
    path.write_text("participant,target,outcome,at\nP001,stimulant-negative,met,2027-01-04\n")


FOREIGN = {
    "random-bytes": (random_bytes_file, "not a cmrewards database"),
    "text": (text_file, "not a cmrewards database"),
    "damaged": (damaged_file, "damaged or not a database"),
    "other-application": (other_application_file, "not a cmrewards database"),
    "newer-schema": (newer_schema_file, "newer"),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_foreign_or_newer_file_is_refused_clearly(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "clinic.db"
    make, expected = FOREIGN[kind]
    make(path)
    with pytest.raises(cmrewards.IntegrityError) as info:
        SQLiteStore(path)
    assert info.value.exit_code == 3
    assert_one_line(info.value, str(path), expected)
    # Through the public entry point too.
    with pytest.raises(cmrewards.IntegrityError, match=re.escape(expected)):
        cmrewards.open(path)


@pytest.mark.parametrize(
    "kind",
    [
        "random-bytes",
        "text",
        "damaged",
        "other-application",
        "newer-schema",
    ],
)
def test_a_refused_file_is_not_modified(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "clinic.db"
    make, _ = FOREIGN[kind]
    make(path)
    before = path.read_bytes()
    mode = stat.S_IMODE(path.stat().st_mode)
    with pytest.raises(cmrewards.IntegrityError):
        SQLiteStore(path)
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clinic.db"]


def read_notes(path: Path) -> tuple[list[str], list[tuple[str]], str]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = conn.execute("SELECT body FROM notes").fetchall()
        journal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        conn.close()
    return tables, rows, journal_mode


def test_a_refused_other_application_keeps_its_tables_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    other_application_file(path)
    with pytest.raises(cmrewards.IntegrityError):
        SQLiteStore(path)
    tables, rows, _ = read_notes(path)
    assert tables == ["notes"]
    assert rows == [("shopping list",)]


def test_a_refused_other_application_keeps_its_journal_mode(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    other_application_file(path)
    assert read_notes(path)[2] == "delete"
    with pytest.raises(cmrewards.IntegrityError):
        SQLiteStore(path)
    assert read_notes(path)[2] == "delete"


def test_an_empty_file_is_initialised(db_path: Path) -> None:
    db_path.touch()
    assert db_path.stat().st_size == 0
    with open_clinic(db_path) as clinic:
        clinic.init(ADMIN)
        clinic.add_program(cmrewards.load_preset(HIGGINS), actor=ADMIN)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute(
            "SELECT value FROM cmrewards_meta WHERE key = 'application'"
        ).fetchone() == ("cmrewards",)
        names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    finally:
        conn.close()
    assert names == migrations.KNOWN
    with open_clinic(db_path) as clinic:
        assert [s.id for s in clinic.staff()] == [ADMIN]
        assert [p.id for p in clinic.programs()] == [HIGGINS]


def test_reopening_applies_no_migration_twice(clinic_file: Path) -> None:
    def applied() -> list[tuple[str, str, str]]:
        conn = sqlite3.connect(clinic_file)
        try:
            return conn.execute(
                "SELECT migration_set, name, applied_at FROM _sqlite_migrations ORDER BY id"
            ).fetchall()
        finally:
            conn.close()

    first = applied()
    assert [name for _, name, _ in first] == migrations.KNOWN
    assert {migration_set for migration_set, _, _ in first} == {schema.MIGRATION_SET}
    for _ in range(3):
        SQLiteStore(clinic_file).close()
    assert applied() == first
    with open_clinic(clinic_file) as clinic:
        assert clinic.balance("P001").points == 35
        assert clinic.verify().ok


# --- several terminals ----------------------------------------------------------------------


def write_nothing(store: SQLiteStore) -> None:
    with store.write():
        pass


@pytest.fixture
def locker(clinic_file: Path) -> Iterator[sqlite3.Connection]:
    """Another terminal in the middle of a long write."""
    conn = sqlite3.connect(clinic_file, isolation_level=None, check_same_thread=False)
    yield conn
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.close()


def test_busy_when_another_terminal_holds_the_write_lock(
    clinic_file: Path, locker: sqlite3.Connection
) -> None:
    store = SQLiteStore(clinic_file, busy_timeout_ms=200)
    try:
        locker.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(cmrewards.Busy) as info:
            write_nothing(store)
        waited = time.monotonic() - started
        assert info.value.exit_code == 1
        assert isinstance(info.value, cmrewards.CMRewardsError)
        assert_one_line(info.value, str(clinic_file), "busy")
        assert 0.15 <= waited < 5
        # Readers are not blocked by a writer (WAL).
        with store.read() as tx:
            assert tx.balance(HIGGINS, "available:P001") == 35
        locker.execute("ROLLBACK")
        write_nothing(store)
    finally:
        store.close()


def test_a_busy_record_writes_nothing(clinic_file: Path, locker: sqlite3.Connection) -> None:
    clinic = Clinic(SQLiteStore(clinic_file, busy_timeout_ms=100), clock=fixed_clock)
    try:
        locker.execute("BEGIN IMMEDIATE")
        with pytest.raises(cmrewards.Busy):
            clinic.record("P001", STIM, "met", at=visit(4), actor=ADMIN)
        locker.execute("ROLLBACK")
        assert len(clinic.history("P001")) == 2 + 3  # two outcomes, three transfers
        result = clinic.record("P001", STIM, "met", at=visit(4), actor=ADMIN)
        assert result.award.points + result.award.bonus_points == 20 + 40
        assert clinic.verify().ok
    finally:
        clinic.close()


def test_a_writer_waits_for_a_short_lock_instead_of_failing(
    clinic_file: Path, locker: sqlite3.Connection
) -> None:
    store = SQLiteStore(clinic_file, busy_timeout_ms=5000)
    try:
        locker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.3, locker.execute, ["ROLLBACK"])
        started = time.monotonic()
        release.start()
        try:
            write_nothing(store)
        finally:
            release.join()
        assert 0.2 <= time.monotonic() - started < 5
    finally:
        store.close()


def test_opening_while_another_terminal_writes_reads_and_a_write_is_busy_not_damage(
    clinic_file: Path, locker: sqlite3.Connection
) -> None:
    """A file with every migration opens without the writers' lock (issue 16): the desk
    reads the committed state while another terminal writes; its own write waits, then
    is ``Busy``."""
    locker.execute("BEGIN IMMEDIATE")
    store = SQLiteStore(clinic_file, busy_timeout_ms=100)
    try:
        with store.read() as tx:
            assert tx.balance(HIGGINS, "available:P001") == 35
        with pytest.raises(cmrewards.Busy) as info, store.write():
            pass
        assert info.value.exit_code == 1
    finally:
        store.close()
        locker.execute("ROLLBACK")


def test_a_truncated_file_is_refused_before_any_query_reaches_the_gap(
    clinic_file: Path,
) -> None:
    """SQLite notices a cut file only when a query needs a missing page; the header's page
    count tells at once, so a short file is damaged (exit 3) and left as it is."""
    size = clinic_file.stat().st_size
    with clinic_file.open("r+b") as file:
        file.truncate(size - 4096)
    before = clinic_file.read_bytes()
    with pytest.raises(cmrewards.IntegrityError, match="truncated"):
        cmrewards.open(clinic_file)
    assert clinic_file.read_bytes() == before


def test_a_checkpoint_stopped_midway_is_finished_from_the_log_not_called_damage(
    clinic_file: Path, tmp_path: Path
) -> None:
    """A checkpoint copies page 1 (with the new page count) before the pages that grow the
    file; killed in between, the file is short but the log beside it holds every page."""
    crashed = tmp_path / "crashed.db"
    with open_clinic(clinic_file) as clinic:
        for n in range(200):
            clinic.enroll(f"P{n + 100:03d}", HIGGINS, start=START, actor=ADMIN)
        crashed.write_bytes(clinic_file.read_bytes())
        log = clinic_file.with_name(clinic_file.name + "-wal").read_bytes()
        crashed.with_name(crashed.name + "-wal").write_bytes(log)
    checkpointed = clinic_file.read_bytes()
    page_size = int.from_bytes(checkpointed[16:18], "big")
    with crashed.open("r+b") as file:
        file.write(checkpointed[:page_size])
    assert crashed.stat().st_size < len(checkpointed)
    with cmrewards.open(crashed) as clinic:
        assert len(clinic.participants()) == 201
        assert clinic.verify().ok
