"""The staff CLI with ``--db postgresql://...``: everything works as on a file.

The same session of commands runs on a SQLite file and on PostgreSQL and answers the
same; opening problems particular to a server (no schema yet, a database another
program uses, a newer cmrewards, no server, a bad URL) are one line with the right
exit code, and a password in the URL is never printed.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cmrewards.cli import cli
from support import postgres as postgres_support
from support.cli import assert_error

SESSION = [
    "init --admin admin-1 --no-sign-in",
    "staff add rec-01 --role recorder --actor admin-1",
    "staff add clin-01 --role clinician --actor admin-1",
    "program add --preset higgins-vbrt --timezone UTC --actor admin-1",
    "enroll P001 --program higgins-vbrt --start 2026-01-05 --actor admin-1",
    "record P001 --target stimulant-negative --outcome met --at 2026-01-05T09:00Z"
    " --actor rec-01 --key LAB-1",
    "record P001 --target stimulant-negative --outcome met --at 2026-01-07T09:00Z --actor rec-01",
    "record P001 --target stimulant-negative --outcome met --at 2026-01-09T09:00Z --actor rec-01",
    "record P001 --target stimulant-negative --outcome met --at 2026-01-05T09:00Z"
    " --actor rec-01 --key LAB-1",
    "catalog add BUS --name 'bus pass' --cost 20 --stock 3 --actor admin-1",
    "redeem request P001 BUS --actor rec-01",
    "redeem approve 1 --actor clin-01",
    "redeem fulfil 1 --actor clin-01 --note 'receipt 7' --cost-cents 500",
    "adjust P001 --points 5 --reason 'make-up visit' --actor admin-1",
    "balance P001",
    "preview P001",
    "catalog list",
    "redeem list",
    "staff list",
    "program list",
    "verify",
]
TIMELESS = {"balance P001", "preview P001", "program list"}
"""Commands whose answers carry no wall-clock time, so both stores must answer identically."""


@pytest.fixture
def server_db() -> Iterator[str]:
    with postgres_support.database() as url:
        yield url


def run(db: str, line: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db, "--json", *shlex.split(line)])


def answers(db: str) -> list[Any]:
    documents = []
    for line in SESSION:
        result = run(db, line)
        assert result.exit_code == 0, (line, result.output)
        documents.append(json.loads(result.stdout))
    return documents


def test_a_session_answers_the_same_on_postgres_as_on_a_file(
    tmp_path: Path, server_db: str
) -> None:
    on_file = answers(str(tmp_path / "clinic.db"))
    on_server = answers(server_db)
    for line, file_answer, server_answer in zip(SESSION, on_file, on_server, strict=True):
        if line in TIMELESS:
            assert server_answer == file_answer, line
    record, replay = on_server[5], on_server[8]
    assert replay["replayed"]
    assert replay["outcome_id"] == record["outcome_id"]
    assert on_server[-1]["ok"]


def test_reports_exports_and_statements_work_on_postgres(tmp_path: Path, server_db: str) -> None:
    answers(server_db)
    report = run(server_db, "report")
    assert report.exit_code == 0, report.output
    export = run(server_db, f"export --out {tmp_path / 'export'}")
    assert export.exit_code == 0, export.output
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["tables"]["outcomes"] == 3
    page = tmp_path / "statement.html"
    statement = run(server_db, f"statement P001 --html {page}")
    assert statement.exit_code == 0, statement.output
    assert "P001" in page.read_text()


def test_commands_before_init_say_there_is_no_database(server_db: str) -> None:
    error = assert_error(run(server_db, "balance P001"), 1)
    assert "no cmrewards database" in error["message"]
    assert postgres_support.table_dump(server_db) == []


def test_init_reports_the_url_without_its_password(server_db: str) -> None:
    with_password = server_db.replace("postgres@", "postgres:s3cret@")
    result = CliRunner().invoke(
        cli, ["--db", with_password, "init", "--admin", "admin-1", "--no-sign-in"]
    )
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert "postgres:***@" in result.output


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    url = "postgresql://cm:s3cret@/cmrewards?host=/nonexistent-socket-dir"
    error = assert_error(run(url, "balance P001"), 3)
    assert "cannot connect" in error["message"]
    assert "s3cret" not in error["message"]


def test_a_malformed_url_is_invalid_input() -> None:
    error = assert_error(run("postgresql://host/db?nonsense=1", "balance P001"), 2)
    assert "not a usable PostgreSQL URL" in error["message"]


def test_a_database_another_program_uses_is_refused_untouched(server_db: str) -> None:
    import psycopg

    with psycopg.connect(server_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id BIGINT PRIMARY KEY)")
    before = postgres_support.table_dump(server_db)
    error = assert_error(run(server_db, "init --admin admin-1 --no-sign-in"), 3)
    assert "not a cmrewards database" in error["message"]
    assert postgres_support.table_dump(server_db) == before


def test_a_database_from_a_newer_cmrewards_is_refused(server_db: str) -> None:
    import psycopg

    assert run(server_db, "init --admin admin-1 --no-sign-in").exit_code == 0
    with psycopg.connect(server_db, autocommit=True) as conn:
        conn.execute("INSERT INTO cmrewards_migrations (name) VALUES ('9999_future')")
    error = assert_error(run(server_db, "staff list"), 3)
    assert "newer cmrewards" in error["message"]


def test_the_demo_wants_a_file(server_db: str) -> None:
    error = assert_error(run(server_db, "demo"), 2)
    assert "fresh SQLite file" in error["message"]


def test_without_the_postgres_extra_a_url_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    # As if psycopg were not installed: importing the adapter fails.
    monkeypatch.setitem(sys.modules, "cmrewards.store.postgres", None)
    url = "postgresql://cm@db.example.org/cmrewards"
    error = assert_error(run(url, "balance P001"), 2)
    assert "pip install 'cmrewards[postgres]'" in error["message"]
    source = tmp_path / "clinic.db"
    assert run(str(source), "init --admin admin-1 --no-sign-in").exit_code == 0
    error = assert_error(run(str(source), f"migrate --from {source} --to {url}"), 2)
    assert "pip install 'cmrewards[postgres]'" in error["message"]
