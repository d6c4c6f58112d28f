"""What the CLI test files share: running a command on a database, the shape of an expected
error, and a database snapshot."""

from __future__ import annotations

import contextvars
import json
import shlex
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from cmrewards.cli import cli

Snapshot = dict[str, list[tuple[Any, ...]]]


def invoke(db: Path, command: str, *, json_output: bool = True) -> Result:
    """``cmrewards --db DB [--json] COMMAND`` in a fresh context (the CLI keeps its settings
    in a context variable), the command split as a shell would."""
    top = ["--db", str(db), *(["--json"] if json_output else [])]
    return contextvars.Context().run(
        CliRunner().invoke, cli, [*top, *shlex.split(command)], prog_name="cmrewards"
    )


def ok(db: Path, command: str, *, json_output: bool = True) -> Any:
    """A command that must succeed: its JSON document, or its text without ``json_output``."""
    result = invoke(db, command, json_output=json_output)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout) if json_output else result.stdout


def text(db: Path, command: str) -> str:
    """A command that must succeed, as a person reads it."""
    result: str = ok(db, command, json_output=False)
    return result


def assert_error(result: Result, code: int, *, json_output: bool = True) -> dict[str, Any]:
    """An expected error: the exit code, one stderr line, no traceback, the JSON error.

    Returns the JSON error object (in text mode, just its ``message``).
    """
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cmrewards: ")
    message = lines[0].removeprefix("cmrewards: ")
    if not json_output:
        assert result.stdout == ""
        return {"message": message}
    document = json.loads(result.stdout)
    assert list(document) == ["error"]
    error: dict[str, Any] = document["error"]
    assert error["exit_code"] == code
    assert error["message"] == message
    return error


def snapshot(db: Path, *, migrations: bool = True) -> Snapshot:
    """Every row of every table, read with plain sqlite3, to show what a command wrote.

    ``migrations=False`` leaves out sqlite-utils' record of when migrations ran, for
    comparing two databases created at different times.
    """
    excluded = "" if migrations else " AND name NOT LIKE '\\_sqlite\\_%' ESCAPE '\\'"
    conn = sqlite3.connect(db)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                f" AND name NOT LIKE 'sqlite_%'{excluded} ORDER BY name"
            )
        ]
        return {
            table: sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
            for table in tables
        }
    finally:
        conn.close()


CTN_PROGRAM = Path(__file__).resolve().parents[2] / "examples" / "ctn0094-program.toml"


def ctn_clinic(path: Path, *participants: str) -> Path:
    """A SQLite clinic (sign-in off) running the CTN-0094 stimulant program, with recorder
    ``rec-01``, lab feed ``feed-01`` (who may apply a lab's corrections) and ``participants``
    enrolled on 2026-03-02: where the lab samples land."""
    for command in (
        "init --admin admin-1 --no-sign-in",
        "staff add rec-01 --role recorder --actor admin-1",
        "staff add feed-01 --role lab-feed --actor admin-1",
        f"program add --file {CTN_PROGRAM} --actor admin-1",
        *(
            f"enroll {p} --program ctn-stimulant --start 2026-03-02 --actor admin-1"
            for p in participants
        ),
    ):
        ok(path, command)
    return path
