"""The PostgreSQL store, through psycopg 3: one database for many sites and terminals.

Every write is one transaction that first takes a transaction-scoped advisory lock,
so writers queue exactly as they do on SQLite's ``BEGIN IMMEDIATE``: the outcome,
transfer and journal chains each have one head, which makes every write a successor
of the last. Waiting longer than the busy timeout is ``Busy`` (exit 1), as on SQLite.
Reads are one ``REPEATABLE READ`` snapshot and never wait for writers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from typing import Any

import psycopg
from psycopg import errors
from psycopg.rows import dict_row

from ..errors import Busy, IntegrityError, InvalidInput, NotFound, PermissionDenied
from . import postgres_schema, schema
from .migrations import KNOWN, MIGRATIONS
from .owner import Owner
from .sql_tx import SQLTx

DEFAULT_BUSY_TIMEOUT_MS = 10_000
WRITERS = 0x636D_7277  # "cmrw": with the schema's name, the advisory lock writers queue on


def redacted(url: str) -> str:
    """The URL for messages and reports: never its password."""
    url = re.sub(r"^(postgres(?:ql)?://[^:/@?]*):[^@/?]*@", r"\1:***@", url)
    return re.sub(r"(?i)([?&]password=)[^&]*", r"\1***", url)


class PostgresStore:
    """A clinic's database on a PostgreSQL server: the tables of one schema, by default
    ``public``; ``?options=-csearch_path%3Dname`` in the URL picks another, so one
    database can hold several clinics."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        create: bool = True,
    ) -> None:
        self.location = redacted(url)
        self._owner = Owner(self.location)
        self._conn = _connect(url, self.location)
        try:
            with _translated_errors(self.location):
                self._conn.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
            self._migrate(create=create)
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self, *, create: bool) -> None:
        # Not pipelined: a refused statement must be met where it is run, to name the
        # migration the owner has to apply.
        with self.write(pipeline=False):
            # Inside the writers' lock: another terminal may be creating the schema now.
            if self._scalar("SELECT current_schema()") is None:
                raise NotFound(f"{self.location}: the schema its search_path names does not exist")
            tables = self._tables()
            if not tables and not create:
                raise NotFound(f"no cmrewards database at {self.location}")
            applied = self._applied(tables)
            newer = [name for name in applied if name not in KNOWN]
            if newer:
                raise IntegrityError(
                    f"{self.location} was written by a newer cmrewards (schema {newer[-1]});"
                    " upgrade cmrewards to open it"
                )
            if "cmrewards_migrations" not in tables:
                self._conn.execute(
                    "CREATE TABLE cmrewards_migrations"
                    " (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
            for migration in MIGRATIONS:
                if migration.name not in applied:
                    try:
                        for statement in migration.postgres:
                            self._conn.execute(statement)
                    except errors.InsufficientPrivilege:
                        raise PermissionDenied(
                            f"{self.location} needs an upgrade (schema {migration.name}) that"
                            " only the owner of its tables may run: open it once as the owner"
                        ) from None
                    self._conn.execute(
                        "INSERT INTO cmrewards_migrations (name) VALUES (%s)", [migration.name]
                    )

    def _scalar(self, sql: str) -> Any:
        row = self._conn.execute(sql).fetchone()
        return None if row is None else next(iter(row.values()))

    def _tables(self) -> set[str]:
        rows = self._conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        return {row["tablename"] for row in rows}

    def _applied(self, tables: set[str]) -> list[str]:
        """Migrations already applied; refuses a database some other program uses."""
        if not tables:
            return []
        meta = None
        if {"cmrewards_meta", "cmrewards_migrations"} <= tables:
            meta = self._conn.execute(
                "SELECT value FROM cmrewards_meta WHERE key = 'application'"
            ).fetchone()
        if meta is None or meta["value"] != schema.APPLICATION:
            raise IntegrityError(f"{self.location} is not a cmrewards database")
        rows = self._conn.execute("SELECT name FROM cmrewards_migrations ORDER BY name")
        return [row["name"] for row in rows.fetchall()]

    @contextmanager
    def _transaction(self, begin: str, *, pipeline: bool = True) -> Iterator[None]:
        """One transaction, in psycopg's pipeline mode unless ``pipeline`` is False (COPY
        cannot run in it): a statement whose result nobody reads (BEGIN, the writers' lock,
        every insert and update, COMMIT) is sent with the next one that is read, instead of
        costing a round trip of its own (issue 16). The server's errors surface at that
        read or at the end, inside the same translation."""
        self._owner.check()
        with _translated_errors(self.location):
            try:
                with self._conn.pipeline() if pipeline else nullcontext():
                    self._conn.execute(begin)
                    yield
                    self._conn.execute("COMMIT")
            except BaseException:
                # After the pipeline: an error inside it skipped what followed, the
                # COMMIT too, and left the transaction open, aborted.
                self._rollback()
                raise

    def _rollback(self) -> None:
        # If the connection is gone, the server rolled back with it.
        with suppress(psycopg.Error):
            self._conn.execute("ROLLBACK")

    @contextmanager
    def write(self, *, pipeline: bool = True) -> Iterator[SQLTx]:
        """One write transaction; ``pipeline=False`` for one that uses ``copy_rows``."""
        with self._transaction("BEGIN ISOLATION LEVEL READ COMMITTED", pipeline=pipeline):
            # Read committed after the lock: every read sees the previous writer's commit.
            self._conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", [WRITERS]
            )
            yield SQLTx(_Placeholders(self._conn))

    @contextmanager
    def read(self) -> Iterator[SQLTx]:
        with self._transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"):
            yield SQLTx(_Placeholders(self._conn))

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Bulk-append rows inside the current write, begun with ``write(pipeline=False)``
        (COPY; the tables' triggers still run)."""
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self._conn.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """One statement inside the current unit of work (``migrate``'s fix-ups)."""
        cursor = self._conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def integrity_problems(self) -> list[str]:
        # No transaction of its own: verify calls this inside its read.
        with _translated_errors(self.location):
            meta = self._conn.execute("SELECT key, value FROM cmrewards_meta").fetchall()
            triggers = self._conn.execute(
                "SELECT t.tgname, c.relname, t.tgtype, t.tgenabled, p.proname, t.tgargs,"
                " t.tgqual IS NOT NULL AS conditional,"
                " p.pronamespace = c.relnamespace AS own_function"
                " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " JOIN pg_proc p ON p.oid = t.tgfoid"
                " WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
            ).fetchall()
            functions = self._conn.execute(
                "SELECT proname, prosrc FROM pg_proc"
                " WHERE pronamespace = current_schema()::regnamespace"
            ).fetchall()
        problems = []
        if [(row["key"], row["value"]) for row in meta] != [("application", schema.APPLICATION)]:
            problems.append("cmrewards_meta was changed outside cmrewards")
        problems += _guard_problems(triggers)
        bodies = {row["proname"]: row["prosrc"] for row in functions}
        for name, body in sorted(postgres_schema.GUARD_FUNCTIONS.items()):
            if bodies.get(name) != body:
                problems.append(f"the guard function {name} was dropped or changed")
        return problems

    def close(self) -> None:
        if self._owner.close():
            self._conn.close()


def _guard_problems(triggers: list[dict[str, Any]]) -> list[str]:
    """Each guard must be there as declared, firing for every session ('O' origin or
    'A' always: 'D' is disabled, 'R' fires only under replication), with no trigger the
    schema does not declare on its tables."""
    problems = []
    found = {row["tgname"]: row for row in triggers}
    for name, guard in sorted(postgres_schema.GUARDS.items()):
        row = found.pop(name, None)
        if row is None or row["tgenabled"] not in ("O", "A"):
            problems.append(f"the guard trigger {name} was dropped or disabled")
            continue
        argument = bytes(row["tgargs"]).split(b"\0")[0].decode() if row["tgargs"] else None
        declared = (guard.table, guard.tgtype, guard.function, guard.argument, False, True)
        actual = (row["relname"], row["tgtype"], row["proname"], argument)
        if (*actual, row["conditional"], row["own_function"]) != declared:
            problems.append(f"the guard trigger {name} was changed")
    for name, row in sorted(found.items()):
        problems.append(f"an unknown trigger {name} is on {row['relname']}")
    return problems


class _Placeholders:
    """Runs ``SQLTx``'s ``?`` statements on psycopg, whose placeholder is ``%s``, and reads
    ahead (``SQLTx.read_ahead``): inside ``ahead()`` a read is sent and its cursor kept;
    the same statement with the same parameters run next takes that cursor, so the
    reads sent together cost one round trip in the transaction's pipeline. Any other
    statement (a write) drops what was read ahead: it might be stale after it."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._ahead: dict[tuple[str, tuple[Any, ...]], psycopg.Cursor[Any]] = {}
        self._sending = False

    @contextmanager
    def ahead(self) -> Iterator[None]:
        self._sending = True
        try:
            yield
        finally:
            self._sending = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any] | _NotYet:
        key = sql, tuple(params)
        if self._sending:
            if key not in self._ahead:
                cursor = self._conn.cursor()
                cursor.execute(_pyformat(sql), params)
                self._ahead[key] = cursor
            return NOT_YET
        sent = self._ahead.pop(key, None)
        if sent is not None:
            return sent
        if not sql.startswith("SELECT"):
            self._ahead.clear()
        return self._conn.execute(_pyformat(sql), params)

    def executemany(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        self._ahead.clear()
        with self._conn.cursor() as cursor:
            cursor.executemany(_pyformat(sql), params)


class _NotYet:
    """What a read sent ahead answers meanwhile: nothing (``read_ahead`` drops it)."""

    description = None

    def fetchone(self) -> None:
        return None

    def fetchall(self) -> list[Any]:
        return []


NOT_YET = _NotYet()


@functools.cache
def _pyformat(sql: str) -> str:
    return sql.replace("?", "%s")


def _connect(url: str, location: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=10)
    except psycopg.ProgrammingError as error:
        raise InvalidInput(
            f"{location}: not a usable PostgreSQL URL ({_first_line(error)})"
        ) from None
    except psycopg.Error as error:
        raise IntegrityError(f"{location}: cannot connect ({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


@contextmanager
def _translated_errors(location: str) -> Iterator[None]:
    """Turn the server's errors into the library's: a lock wait is busy, the rest integrity."""
    try:
        yield
    except errors.InsufficientPrivilege as error:
        # A terminal's own role (docs/design.md section 6, "Database roles") met its limits.
        raise PermissionDenied(
            f"{location}: the server refused this database role ({_first_line(error)})"
        ) from None
    except (errors.LockNotAvailable, errors.QueryCanceled, errors.SerializationFailure):
        raise Busy(
            f"{location} is busy: another terminal held it past the timeout; try again"
        ) from None
    except psycopg.IntegrityError as error:
        raise IntegrityError(
            f"{location}: refused by the database's own checks ({_first_line(error)})"
        ) from None
    except psycopg.DataError as error:
        # A value the server cannot hold, such as a NUL character, which SQLite would store.
        raise InvalidInput(f"a value PostgreSQL cannot store: {_first_line(error)}") from None
    except psycopg.Error as error:
        raise IntegrityError(f"{location}: {_first_line(error)}") from None
