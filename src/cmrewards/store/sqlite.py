"""The SQLite store: one file, safe for several terminals; sqlite-utils 4.x applies and
records its migrations.

Every write is one ``BEGIN IMMEDIATE`` transaction, so writers on the same file
queue on the busy timeout instead of failing half-way; reads see one snapshot.
The file is created mode 0600, in WAL mode with ``synchronous=FULL``.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import AlreadyExists, Busy, IntegrityError, InvalidInput, UsageError
from . import schema
from .migrations import KNOWN, MIGRATIONS
from .owner import Owner
from .sql_tx import SQLTx

if TYPE_CHECKING:
    from pathlib import Path

    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

SQLITE_MAGIC = b"SQLite format 3\x00"
DEFAULT_BUSY_TIMEOUT_MS = 10_000


class SQLiteStore:
    """A clinic's database file."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.location = str(path)
        self._owner = Owner(self.location)
        _create_private(self.location)
        _refuse_foreign_file(self.location)
        try:
            conn = sqlite3.connect(
                self.location, timeout=busy_timeout_ms / 1000, isolation_level=None
            )
        except sqlite3.Error as error:
            raise IntegrityError(f"{path}: cannot open database ({error})") from None
        conn.row_factory = sqlite3.Row
        self._conn = conn
        try:
            if not set(KNOWN) <= set(self._configure(busy_timeout_ms)):
                self._migrate()
        except BaseException:
            conn.close()
            raise

    def _configure(self, busy_timeout_ms: int) -> list[str]:
        """Set the connection's pragmas and return the migrations applied. A file that has
        them all is opened without the writers' lock (every command of the CLI opens one,
        a read included: issue 16); a missing one is applied under it (``_migrate``)."""
        with _translated_errors(self.location):
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            # As sqlite-utils' Database sets it, under which every guard was written and tested.
            self._conn.execute("PRAGMA recursive_triggers = ON")
            self._conn.execute("PRAGMA synchronous = FULL")
            # Refuse a foreign or newer file before anything (WAL included) changes it.
            applied = self._check_schema()
            self._conn.execute("PRAGMA journal_mode = WAL")
            return applied

    def _migrate(self) -> None:
        with self._transaction(immediate=True):
            # Again inside the lock: another process may have created the schema meanwhile.
            if not set(KNOWN) <= set(self._check_schema()):
                _apply_migrations(self._conn)

    def _check_schema(self) -> list[str]:
        """The migrations applied, in order; refuses a foreign file or one from a newer
        cmrewards."""
        tables = set(self.table_names())
        if not tables:
            return []
        self._check_application(tables)
        applied = _applied_migrations(self._conn) if _RECORD in tables else []
        newer = [name for name in applied if name not in KNOWN]
        if newer:
            raise IntegrityError(
                f"{self.location} was written by a newer cmrewards (schema {newer[-1]});"
                " upgrade cmrewards to open it"
            )
        return applied

    def _check_application(self, tables: set[str]) -> None:
        row = None
        if "cmrewards_meta" in tables:
            row = self._conn.execute(
                "SELECT value FROM cmrewards_meta WHERE key = 'application'"
            ).fetchone()
        if row is None or row[0] != schema.APPLICATION:
            raise IntegrityError(f"{self.location} is not a cmrewards database")

    @contextmanager
    def _transaction(self, *, immediate: bool) -> Iterator[None]:
        self._owner.check()
        with _translated_errors(self.location):
            self._conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextmanager
    def write(self) -> Iterator[SQLTx]:
        with self._transaction(immediate=True):
            yield SQLTx(self._conn)

    @contextmanager
    def read(self) -> Iterator[SQLTx]:
        with self._transaction(immediate=False):
            yield SQLTx(self._conn)

    def integrity_problems(self) -> list[str]:
        """SQLite's own page check, broken references, the identity row and the guards.

        ``quick_check``, not ``integrity_check``: it reads every page of every table and
        index and checks their structure, NOT NULL and CHECK constraints in linear time;
        what it leaves out (that each index holds exactly its table's rows, and UNIQUE) was
        two thirds of ``verify`` at 50,000 outcomes and is what ordinary SQL cannot break
        (docs/decisions.md, "verify's page check")."""
        with _translated_errors(self.location):
            rows = self._conn.execute("PRAGMA quick_check").fetchall()
            problems = [r[0] for r in rows if r[0] != "ok"]
            violations = self._conn.execute("PRAGMA foreign_key_check").fetchall()
        problems += [f"row {v[1]} of {v[0]} refers to a missing {v[2]}" for v in violations]
        meta = self._conn.execute("SELECT key, value FROM cmrewards_meta").fetchall()
        if [tuple(row) for row in meta] != [("application", schema.APPLICATION)]:
            problems.append("cmrewards_meta was changed outside cmrewards")
        triggers = self._conn.execute(
            "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall()
        return problems + _guard_problems({row[0]: (row[1], row[2]) for row in triggers})

    def table_names(self) -> list[str]:
        rows = self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return [row[0] for row in rows.fetchall() if not row[0].startswith("sqlite_")]

    def table_rows(self, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A whole table as it is stored, for ``migrate`` (inside its unit of work)."""
        with _translated_errors(self.location):
            cursor = self._conn.execute(f"SELECT * FROM {table} ORDER BY 1")
            names = [d[0] for d in cursor.description]
            return names, [tuple(row) for row in cursor.fetchall()]

    def backup_to(self, target: Path) -> None:
        """Copy the whole database into the new file ``target`` (``copy_database``): one
        snapshot, taken while other terminals go on writing."""
        self._owner.check()
        copy_database(self._conn, target, self.location)

    def close(self) -> None:
        if self._owner.close():
            self._conn.close()


_RECORD = "_sqlite_migrations"
"""sqlite-utils' table of the migrations applied, by set and name, in the order applied."""


def _applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """The names of our migrations applied to the file, in order, read as sqlite-utils'
    ``Migrations.applied`` reads them, without importing sqlite-utils: opening a current
    file (every command of the CLI) never needs it."""
    # The rows themselves, not only the index's copy of the names: a damaged record of the
    # schema is found on opening, as when sqlite-utils read it.
    rows = conn.execute(
        f"SELECT name, applied_at FROM {_RECORD} WHERE migration_set = ? ORDER BY rowid",
        (schema.MIGRATION_SET,),
    )
    return [row[0] for row in rows.fetchall()]


def _apply_migrations(conn: sqlite3.Connection) -> None:
    """Apply the migrations the file lacks, through sqlite-utils (imported only here), inside
    the caller's transaction."""
    from sqlite_utils import Database

    _sqlite_migrations().apply(Database(conn, recursive_triggers=False, execute_plugins=False))


def _sqlite_migrations() -> Migrations:
    """The registry's SQLite forms as sqlite-utils migrations, which record each one applied
    by name (in ``_sqlite_migrations``, under ``schema.MIGRATION_SET``)."""
    from sqlite_utils.migrations import Migrations

    runner = Migrations(schema.MIGRATION_SET)
    for migration in MIGRATIONS:
        runner(name=migration.name)(_statements_runner(migration.sqlite))
    return runner


def _statements_runner(statements: tuple[str, ...]) -> Callable[[Database], None]:
    def run(db: Database) -> None:
        for statement in statements:
            db.execute(statement)

    return run


@functools.cache
def _guards() -> dict[str, str]:
    """Every trigger the migrations create, as SQLite keeps its statement (parsed when
    ``integrity_problems`` first asks, not at every open)."""
    return schema.guards(statement for m in MIGRATIONS for statement in m.sqlite)


def _guard_problems(found: dict[str, tuple[str, str]]) -> list[str]:
    """Each guard as declared, word for word, and no trigger the schema does not declare.

    SQLite cannot disable a trigger; taking a guard away means dropping it or redefining it
    (a WHEN that never holds, a body that does nothing), which changes its statement.
    """
    problems = []
    for name, statement in sorted(_guards().items()):
        table_and_sql = found.pop(name, None)
        if table_and_sql is None:
            problems.append(f"the guard trigger {name} was dropped")
        elif table_and_sql[1] != statement:
            problems.append(f"the guard trigger {name} was changed")
    for name, (table, _) in sorted(found.items()):
        problems.append(f"an unknown trigger {name} is on {table}")
    return problems


def copy_database(source: sqlite3.Connection, target: Path, location: str) -> None:
    """Copy the database behind ``source`` into ``target``, which must not exist.

    SQLite's online backup API copies every page in one step, so the copy is the snapshot
    of one read transaction: in WAL mode writers go on meanwhile and none of their later
    commits is half in it (copying the file alone would miss what is still in its
    ``-wal``). ``target`` is created owner-only before a byte is written. Raises
    ``AlreadyExists`` when ``target`` (or a log of a database by that name) exists,
    ``InvalidInput`` when it cannot be created, ``IntegrityError`` when the copy fails;
    a failed copy leaves nothing behind.
    """
    _claim(target)
    try:
        with _translated_errors(str(target)):
            copy = sqlite3.connect(target, isolation_level=None)
            try:
                source.backup(copy)
            finally:
                copy.close()
    except BaseException:
        discard(target)
        raise


def copy_file(source: Path, target: Path) -> None:
    """Copy the SQLite file ``source`` into the new file ``target`` (``copy_database``),
    reading ``source`` without changing it. Raises ``IntegrityError`` for a source that is
    not an SQLite file or is truncated, as opening it would."""
    _refuse_foreign_file(source)
    try:
        reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise IntegrityError(f"{source}: cannot open database ({error})") from None
    try:
        copy_database(reader, target, str(source))
    finally:
        reader.close()


def seal(path: Path) -> None:
    """Leave the closed database at ``path`` in rollback-journal mode: one self-contained
    file, readable without a ``-shm`` beside it (from read-only media too)."""
    with _translated_errors(str(path)):
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = DELETE")
        finally:
            conn.close()


_LOGS = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database while it is open or after a crash."""


def _claim(target: Path) -> None:
    """Create ``target`` empty and owner-only, refusing any file already there.

    A log left beside the name by another database would be replayed into the copy.
    """
    for suffix in ("", *_LOGS):
        taken = target.with_name(target.name + suffix)
        if exists(taken):
            raise AlreadyExists(f"{taken} exists and is never overwritten; name a new file")
    try:
        os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise AlreadyExists(f"{target} exists and is never overwritten; name a new file") from None
    except OSError as error:
        raise InvalidInput(f"cannot create {target}: {error.strerror}") from None


def exists(path: Path) -> bool:
    """Whether anything is at ``path``; a path the system refuses (too long, under a file)
    is bad input."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as error:
        raise InvalidInput(f"cannot use {str(path)[:80]}: {error.strerror}") from None
    return True


def discard(target: Path) -> None:
    """Remove a copy this module made and the logs SQLite kept beside it."""
    for suffix in ("", *_LOGS):
        target.with_name(target.name + suffix).unlink(missing_ok=True)


def _create_private(path: str) -> None:
    """Create the file owner-only before SQLite opens it; SQLite copies its mode to -wal/-shm."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError as error:
        raise IntegrityError(f"{path}: cannot create database ({error.strerror})") from None


def _refuse_foreign_file(path: str | Path) -> None:
    try:
        with open(path, "rb") as file:
            header = file.read(100)
        size = os.stat(path).st_size
    except OSError as error:
        raise IntegrityError(f"{path}: cannot read database ({error.strerror})") from None
    if header and header[: len(SQLITE_MAGIC)] != SQLITE_MAGIC:
        raise IntegrityError(f"{path} is not a cmrewards database (not an SQLite file)")
    if len(header) == 100 and size < _expected_size(header) and not _has_log(path):
        # SQLite itself only notices a cut file when a query reaches a missing page. With a
        # write-ahead log beside it, a short file is a checkpoint stopped midway (page 1 is
        # copied first), which SQLite finishes from the log: that is not damage.
        raise IntegrityError(f"{path} is damaged: it is shorter than its header says (truncated)")


def _has_log(path: str | Path) -> bool:
    try:
        return os.stat(f"{path}-wal").st_size > 0
    except OSError:
        return False


def _expected_size(header: bytes) -> int:
    """The file size the SQLite header records, when the header's count is current."""
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    counter_matches = header[24:28] == header[92:96]  # else the count is stale (legacy writers)
    return page_size * pages if counter_matches else 0


@contextmanager
def _translated_errors(location: str) -> Iterator[None]:
    """Turn the engine's errors into the library's: busy is a refusal, damage is integrity."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise Busy(
                f"{location} is busy: another terminal held it past the timeout; try again"
            ) from None
        raise IntegrityError(f"{location}: {error}") from None
    except sqlite3.ProgrammingError as error:
        # The calling code's mistake (the owner check catches the common ones first).
        raise UsageError(f"{location}: {error}") from None
    except sqlite3.IntegrityError as error:
        raise IntegrityError(
            f"{location}: refused by the database's own checks ({error})"
        ) from None
    except sqlite3.DatabaseError as error:
        raise IntegrityError(f"{location} is damaged or not a database ({error})") from None
