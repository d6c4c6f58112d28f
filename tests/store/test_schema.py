"""The schema registry: released migrations never change, and both schemas know every value.

Existing databases have applied each released migration; editing one would leave them
with a schema the code no longer describes, so a digest of every released migration's
SQL, in both forms, is pinned here. A new migration adds its digests; an edit fails.

The domain's enums are stored as text under CHECK lists. A value added to an enum but
not to the CHECK list of both schemas would be refused by the database at the first
write that uses it, so each enum is compared with the CHECK lists of a fresh database of
each engine, read back from the engine itself.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import hashlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from cmrewards.domain.analytes import LabResult
from cmrewards.domain.lab_reports import ResultStatus
from cmrewards.domain.ledger import Movement
from cmrewards.domain.records import CorrectionKind, PrizeStatus, Status
from cmrewards.domain.redemption import TRANSITIONS, RedemptionStatus, StockReason
from cmrewards.domain.schedules import Outcome
from cmrewards.domain.sign_in import SignInEventKind
from cmrewards.domain.staff import Role
from cmrewards.store.migrations import KNOWN, MIGRATIONS
from cmrewards.store.sqlite import SQLiteStore
from support import postgres as postgres_support
from support.clinics import FakeClock

RELEASED = {
    "0001_initial": (
        "0eb15b4a07e195be92b6e9b97db7c2702c73dc6084ab871ff60be50d3444c521",
        "14f02118e8ad5da71f81fdbb1011c04a4605cdeb188ded1ff6f7f8e7f79128cc",
    ),
    "0002_prizes_and_caps": (
        "d39263d870131b32efdecd26d5767e98639f1d75d931ed30f0ec678b9846be9a",
        "c5d228ad138d69f6ec020cf8cb14168aa11bfa94b9fc2fd7378e84856a71e413",
    ),
    "0003_redemption": (
        "30bf5ef482a5025da1722d60ecd920f2d11f0ad68a5ae3268a2bc8318189eac4",
        "057d12b171fcaf8aed5e3355c04484be3a50eec39c16002b159b0688a9f4ae2c",
    ),
    "0004_journal": (
        "6388982889424e149ecb9ae5c72c9a8999bc6f9dce837d25ee971b68c1e6e2dd",
        "bca03caf0530e063594bb36ad3fb65a2426bf6c06d88266d7793fc7094221ac8",
    ),
    "0005_visits_and_corrections": (
        "d4d713e2075191d14f864cfed66500f266f70ffda0d2503999955e8211ae15f7",
        "c6aa5d873517950eadf22666d8d2819cdb97249ec074a96697b72e0da23b9c22",
    ),
    "0006_analyte_results": (
        "28d8e4fcb8f54b63e401b5d96be08d42444d3f90881756f3ec8fe92149400a26",
        "b3b728b51aa0f599175b0789037264c3a0803ae6c9cfea6e6da0d0afa3273525",
    ),
    "0007_episodes": (
        "3a1cf8933061032728418f6dd5899c1e777306ba3fdaa05198a137811d3c999a",
        "3cc4903ac964455fd0d3038cf5801c01e38fdd234d818bfdf15829967139d7b2",
    ),
    "0008_adjustment_caps": (
        "cb86b9e67c8d3e981cfaa9d7372bcea3e347003cc63d235f2adee90214030fb0",
        "af2156616e2455ba8e805b15ddf3dd3c309821a38eb1373962775f01a7c04018",
    ),
    "0009_analyte_revisions": (
        "a24db435458f99682da9e26b9e15920dc63b873bc5bfb871ff9a3dcb9f2d0252",
        "e5e5fb4c183a1156d0abb6a9c47ba8b488921adafa594b9169c52b9f3950c8e6",
    ),
    "0010_staff_secrets": (
        "ca1e21866e9b325cdb95fffa53720f719548a7c47b9b9720453f8414532489f9",
        "cc0fc606f679922596c494b4586d1c4fc2f2429951e81635aa16dac366c03e6c",
    ),
    "0011_lab_feed_role": (
        "03f32ba20204aec8c163393114f3163133a30ded44bf114aa2c0c7b58d0fb148",
        "ff78d8e45825ca0372ffc10ea59cbb73cb70be207dc220523d48a72c0da4b4c3",
    ),
    "0012_sign_in_confirmed": (
        "a434badac8f1f4972459df8c3d638795b22e369ec6b4e04f7220decd49b96e02",
        "52f33f9f298e45126587a96d420b3c7b46d814a1123d137d6e765037aadab1c2",
    ),
}
"""Each released migration's (SQLite, PostgreSQL) digest: sha256 of its statements
joined by NUL, exactly as the runner executes them."""

ENUM_COLUMNS: dict[tuple[str, str], type[enum.StrEnum]] = {
    ("staff", "role"): Role,
    ("participants", "status"): Status,
    ("past_episodes", "status"): Status,
    ("outcomes", "outcome"): Outcome,
    ("transfers", "kind"): Movement,
    ("prizes", "status"): PrizeStatus,
    ("stock_movements", "reason"): StockReason,
    ("redemptions", "status"): RedemptionStatus,
    ("analyte_results", "result"): LabResult,
    ("analyte_revisions", "status"): ResultStatus,
    ("analyte_revisions", "result"): LabResult,
    ("corrections", "kind"): CorrectionKind,
    ("corrections", "outcome"): Outcome,
    ("sign_ins", "event"): SignInEventKind,
}
"""Every column holding an enum's values, by (table, column)."""

NOT_STORED: dict[tuple[str, str], set[str]] = {
    # A withdrawal is its own record (prize_withdrawals): the prize row's CHECK list, released
    # in 0002, cannot change on SQLite without rebuilding a table other tables refer to.
    ("prizes", "status"): {str(PrizeStatus.WITHDRAWN)},
    # An earlier episode has ended; the current one, active or not, is the participants row.
    ("past_episodes", "status"): {str(Status.ACTIVE)},
}
"""Enum values read from another table, never stored in the column itself."""


def stored_values(table: str, column: str) -> set[str]:
    return {str(v) for v in ENUM_COLUMNS[table, column]} - NOT_STORED.get((table, column), set())


def digest(statements: tuple[str, ...]) -> str:
    return hashlib.sha256("\0".join(statements).encode()).hexdigest()


def quoted(text: str) -> set[str]:
    """The string literals in a piece of SQL."""
    return set(re.findall(r"'([^']*)'", text))


# --- released migrations -----------------------------------------------------------------


def test_the_registry_lists_every_released_migration_first_in_release_order() -> None:
    assert list(RELEASED) == KNOWN[: len(RELEASED)]


@pytest.mark.parametrize("name", list(RELEASED))
def test_a_released_migration_is_never_edited(name: str) -> None:
    (migration,) = [m for m in MIGRATIONS if m.name == name]
    assert RELEASED[name] == (digest(migration.sqlite), digest(migration.postgres))


# --- enum values and the CHECK lists of each engine ------------------------------------------


@pytest.fixture(scope="module")
def sqlite_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each table's and trigger's SQL, as a fresh SQLite file stores it."""
    path = tmp_path_factory.mktemp("schema") / "clinic.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        conn.close()


@pytest.fixture(scope="module")
def postgres_checks() -> Iterator[dict[str, str]]:
    """Each CHECK constraint and guard function, as a fresh PostgreSQL database stores it."""
    import psycopg

    from cmrewards.store.postgres import PostgresStore

    with postgres_support.database() as url:
        PostgresStore(url).close()
        with psycopg.connect(url) as conn:
            checks = conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE contype = 'c' AND connamespace = current_schema()::regnamespace"
            ).fetchall()
            functions = conn.execute(
                "SELECT proname, prosrc FROM pg_proc"
                " WHERE pronamespace = current_schema()::regnamespace"
            ).fetchall()
        yield dict(checks) | dict(functions)


def sqlite_check_list(tables: dict[str, str], table: str, column: str) -> set[str]:
    match = re.search(rf"CHECK \({column} IN \(([^)]*)\)\)", tables[table])
    assert match is not None, f"no CHECK list on {table}.{column}"
    return quoted(match[1])


def test_every_text_check_list_of_the_sqlite_schema_is_an_enum_s(
    sqlite_tables: dict[str, str],
) -> None:
    """So a new enum column cannot be left out of the test below."""
    listed = {
        (table, column)
        for table, sql in sqlite_tables.items()
        for column, values in re.findall(r"CHECK \((\w+) IN \(([^)]*)\)\)", sql)
        if "'" in values
    }
    assert set(ENUM_COLUMNS) == listed


@pytest.mark.parametrize(("table", "column"), list(ENUM_COLUMNS))
def test_every_enum_value_is_in_the_sqlite_check_list(
    sqlite_tables: dict[str, str], table: str, column: str
) -> None:
    assert stored_values(table, column) == sqlite_check_list(sqlite_tables, table, column)


@pytest.mark.parametrize(("table", "column"), list(ENUM_COLUMNS))
def test_every_enum_value_is_in_the_postgres_check_list(
    postgres_checks: dict[str, str], table: str, column: str
) -> None:
    # PostgreSQL names a column's own CHECK <table>_<column>_check.
    assert stored_values(table, column) == quoted(postgres_checks[f"{table}_{column}_check"])


def domain_steps() -> set[tuple[str, str]]:
    """Every (from, to) status change the redemption lifecycle makes."""
    return {(str(before), str(after)) for (before, _), after in TRANSITIONS.items()}


def test_every_redemption_step_passes_the_sqlite_guard(sqlite_tables: dict[str, str]) -> None:
    guard = sqlite_tables["redemptions_one_way"]
    allowed = set(re.findall(r"\('(\w+)', '(\w+)'\)", guard))
    assert domain_steps() == allowed


def test_every_redemption_step_passes_the_postgres_guard(
    postgres_checks: dict[str, str],
) -> None:
    guard = postgres_checks["redemptions_one_way"]
    allowed = set(re.findall(r"'(\w+)>(\w+)'", guard))
    assert domain_steps() == allowed


def test_the_file_and_the_registry_agree(sqlite_tables: dict[str, str]) -> None:
    """What the file stores is what the registry's SQLite form says (SQLite keeps each
    CREATE statement's text as written); sqlite-utils adds its record of migrations."""
    created = {
        statement
        for migration in MIGRATIONS
        for statement in migration.sqlite
        if statement.startswith("CREATE")
    }
    # ALTER TABLE ... ADD COLUMN appends the column to the stored CREATE statement.
    for migration in MIGRATIONS:
        for statement in migration.sqlite:
            added = re.fullmatch(r"ALTER TABLE (\w+) ADD COLUMN (.+)", statement, re.DOTALL)
            if added is None:
                continue
            table, column = added[1], added[2]
            (original,) = [c for c in created if c.startswith(f"CREATE TABLE {table} (")]
            head, _, tail = original.rpartition(")")
            created = (created - {original}) | {f"{head}, {column}){tail}"}
    stored = {sql for sql in sqlite_tables.values() if '"_sqlite_migrations"' not in sql}
    assert stored <= created


# --- 0011: the lab-feed role on a database written before it ---------------------------------


def opened_before_lab_feed(monkeypatch: pytest.MonkeyPatch, engine: str, where: str) -> None:
    """A clinic with staff, a program, an enrolment and an outcome, written by the
    registry as it was before ``0011_lab_feed_role`` (which refuses a lab-feed member)."""
    import cmrewards
    from cmrewards.store import postgres, sqlite

    earlier = MIGRATIONS[: KNOWN.index("0011_lab_feed_role")]
    module = sqlite if engine == "sqlite" else postgres
    with monkeypatch.context() as patched:
        patched.setattr(module, "MIGRATIONS", earlier)
        patched.setattr(module, "KNOWN", [m.name for m in earlier])
        with cmrewards.open(where, clock=FakeClock()) as clinic:
            clinic.init("admin-1")
            clinic.add_staff("rec-1", "recorder", actor="admin-1")
            clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor="admin-1")
            program = clinic.programs()[0]
            clinic.enroll("P1", program.id, start=dt.date(2026, 1, 5), actor="admin-1")
            target = program.targets[0].id
            at = dt.datetime(2026, 1, 5, 15, tzinfo=dt.UTC)
            clinic.record("P1", target, "met", actor="rec-1", at=at)
            with pytest.raises(cmrewards.IntegrityError):
                clinic.add_staff("feed-1", "lab-feed", actor="admin-1")


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_the_lab_feed_role_joins_a_database_written_before_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: str
) -> None:
    import cmrewards

    with contextlib.ExitStack() as stack:
        where = (
            str(tmp_path / "clinic.db")
            if engine == "sqlite"
            else stack.enter_context(postgres_support.database())
        )
        opened_before_lab_feed(monkeypatch, engine, where)
        with cmrewards.open(where, clock=FakeClock()) as clinic:
            before = clinic.staff()
            clinic.add_staff("feed-1", "lab-feed", actor="admin-1")
            assert {(s.id, s.role, s.added_at) for s in clinic.staff()} == {
                *((s.id, s.role, s.added_at) for s in before),
                ("feed-1", Role.LAB_FEED, FakeClock()()),
            }
            assert [s.id for s in before] == ["admin-1", "rec-1"]
            assert [e.kind for e in clinic.history("P1")][:1] == ["outcome"]
            assert clinic.verify().ok


# --- 0012: the confirmed sign-in event on a database written before it ----------------------


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_the_confirmed_event_joins_a_database_written_before_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: str
) -> None:
    """The sign-in log keeps its rows, ids and append-only guard through the rebuild, and
    then takes ``confirmed`` (which ends a run of failures)."""
    import cmrewards
    from cmrewards.store import postgres, sqlite

    earlier = MIGRATIONS[: KNOWN.index("0012_sign_in_confirmed")]
    module = sqlite if engine == "sqlite" else postgres
    right = "correct horse battery"
    with contextlib.ExitStack() as stack:
        where = (
            str(tmp_path / "clinic.db")
            if engine == "sqlite"
            else stack.enter_context(postgres_support.database())
        )
        with monkeypatch.context() as patched:
            patched.setattr(module, "MIGRATIONS", earlier)
            patched.setattr(module, "KNOWN", [m.name for m in earlier])
            with cmrewards.open(where, clock=FakeClock()) as clinic:
                clinic.init("admin-1", passphrase=right)
                with pytest.raises(cmrewards.PermissionDenied, match="4 more"):
                    clinic.confirm("admin-1", "a wrong guess", os_user="desk")
                before = clinic.sign_ins()
        with cmrewards.open(where, clock=FakeClock()) as clinic:
            assert clinic.sign_ins() == before
            clinic.confirm("admin-1", right, os_user="desk")
            after = clinic.sign_ins()
            assert after[:-1] == before
            assert after[-1].event is SignInEventKind.CONFIRMED
            assert after[-1].id == before[-1].id + 1
            assert clinic.verify().ok
    if engine == "sqlite":  # PostgreSQL's guard is not rebuilt: only its CHECK changes
        with contextlib.closing(sqlite3.connect(where)) as raw:
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                raw.execute("DELETE FROM sign_ins")
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                raw.execute("UPDATE sign_ins SET detail = 'x'")
