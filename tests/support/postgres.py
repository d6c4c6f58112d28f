"""PostgreSQL for the storage tests: a new clinic database per test on a throwaway cluster.

``make test`` runs pytest under ``scripts/with-postgres``, which starts the cluster and
sets ``CMREWARDS_TEST_POSTGRES`` (the URL of its maintenance database) and
``CMREWARDS_REQUIRE_POSTGRES=1``. Without a server the PostgreSQL cases skip, unless
they are required: then they fail, so CI can never pass by skipping them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest

SERVER = os.environ.get("CMREWARDS_TEST_POSTGRES")
REQUIRED = os.environ.get("CMREWARDS_REQUIRE_POSTGRES") == "1"
DATABASE = "cmrewards_tests"

_names = itertools.count(1)
_database_ready = False


def server() -> str:
    """The test cluster's URL, or skip (fail, when required) without one."""
    if SERVER is None:
        message = "no PostgreSQL test server: run pytest under scripts/with-postgres"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return SERVER


def _admin(sql: str, url: str | None = None) -> None:
    import psycopg

    with psycopg.connect(url or server(), autocommit=True) as conn:
        conn.execute(sql)


def url_of(schema: str) -> str:
    """The URL of one schema of the tests' database (its tables are a clinic's)."""
    parts = urlsplit(server())
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(
        parts._replace(path=f"/{DATABASE}", query=f"{query}options=-csearch_path%3D{schema}")
    )


def new_database() -> str:
    """A new, empty clinic database: a schema of its own (creating a PostgreSQL database
    takes ~0.2 s, a schema ~1 ms; a clinic lives in whatever schema its URL names)."""
    global _database_ready
    if not _database_ready:
        _create_shared_database()
        _database_ready = True
    schema = f"clinic_{os.getpid()}_{next(_names)}"
    _admin(f"CREATE SCHEMA {schema}", url_of("public"))
    return url_of(schema)


def _create_shared_database() -> None:
    """The database every test's schema lives in; other test runs may be using it."""
    import psycopg

    with psycopg.connect(server(), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
        if exists.fetchone() is None:
            # Another test run may create it at the same moment.
            with suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f"CREATE DATABASE {DATABASE}")


def drop_database(url: str) -> None:
    """Remove a test's clinic."""
    schema = parse_qs(urlsplit(url).query)["options"][0].split("=")[1]
    _admin(f"DROP SCHEMA IF EXISTS {schema} CASCADE", url_of("public"))


@contextmanager
def database() -> Iterator[str]:
    """A new clinic database for the block, dropped after it."""
    url = new_database()
    try:
        yield url
    finally:
        drop_database(url)


def table_dump(url: str) -> list[str]:
    """Every table of a PostgreSQL clinic, rows in a fixed order, read past the library."""
    import psycopg

    lines: list[str] = []
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
        ).fetchall()
        for (table,) in tables:
            rows = conn.execute(f"SELECT * FROM {table} AS t ORDER BY t::text").fetchall()
            lines += [f"{table}: {row!r}" for row in rows]
    return lines
