"""Output never lies about a write, in any locale, on SQLite and PostgreSQL.

The real command runs in a child process under ``PYTHONIOENCODING=latin-1``, the C
locale (Python's UTF-8 mode on, and off: an ASCII locale) and ``C.UTF-8``. Every command
prints what the terminal can show and replaces the rest; a note in any Unicode is stored
and hashed the same in every locale; a failure after the commit says that the write was
recorded and how to see it, and exits 0, so nobody at the desk records it twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import cmrewards
from cmrewards.cli import cli
from support.clinics import database_location

NOTE = "café ☕ — naïve 日本"
ENVIRONMENTS = {
    "latin-1": {"PYTHONIOENCODING": "latin-1"},
    "C": {"LC_ALL": "C"},
    "C-ascii": {"LC_ALL": "C", "PYTHONUTF8": "0"},
    "C.UTF-8": {"LC_ALL": "C.UTF-8"},
}
ADMIN = "admin-1"
STIM = "stimulant-negative"


def cmrewards_in(
    environment: str, db: str, *args: str, stdout: int | None = None
) -> tuple[int, str, str]:
    """Run the command line as a terminal in ``environment`` would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIO"))}
    env.pop("PYTHONUTF8", None)
    env |= ENVIRONMENTS[environment] | {"CMREWARDS_DB": db}
    done = subprocess.run(
        [sys.executable, "-c", "from cmrewards.cli import main; main()", *args],
        env=env,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        check=False,
    )
    out = done.stdout.decode("utf-8", "replace") if done.stdout is not None else ""
    return done.returncode, out, done.stderr.decode("utf-8", "replace")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_location(request.param, tmp_path) as where:
        assert where is not None
        with cmrewards.open(where) as clinic:
            clinic.init(ADMIN)
            clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
            clinic.enroll("P-1", "higgins-vbrt", start=cmrewards.parse_date("2026-01-05"),
                          actor=ADMIN)  # fmt: skip
        yield where


def notes(db: str, tmp_path: Path) -> list[str | None]:
    with cmrewards.open(db) as clinic:
        clinic.export(tmp_path / "notes")
    rows = json.loads((tmp_path / "notes" / "outcomes.json").read_text(encoding="utf-8"))
    return [row["note"] for row in rows]


def test_a_note_in_any_unicode_is_stored_and_hashed_the_same_in_every_locale(
    db: str, tmp_path: Path
) -> None:
    for day, environment in enumerate(ENVIRONMENTS, start=5):
        at = f"2026-01-{day:02d}T09:00"
        code, out, err = cmrewards_in(
            environment, db, "record", "P-1", "--target", STIM, "--outcome", "met",
            "--at", at, "--actor", ADMIN, "--note", NOTE,
        )  # fmt: skip
        assert (code, err) == (0, ""), environment
        assert out.startswith(f"P-1 {STIM}: met "), environment
        code, out, err = cmrewards_in(
            environment, db, "adjust", "P-1", "--points", "1", "--reason", NOTE, "--actor", ADMIN
        )
        assert (code, err) == (0, ""), environment
    assert notes(db, tmp_path) == [NOTE] * len(ENVIRONMENTS)
    with cmrewards.open(db) as clinic:
        # Hashed in four locales, rehashed here: the same bytes every time.
        report = clinic.verify()
        assert (report.ok, report.problems) == (True, ())
        assert {e.detail for e in clinic.history("P-1") if e.kind == "adjustment-up"} == {NOTE}


def test_the_terminal_is_shown_what_it_can_show(db: str) -> None:
    code, out, err = cmrewards_in(
        "latin-1", db, "record", "P-1", "--target", STIM, "--outcome", "met",
        "--at", "2026-01-05T09:00", "--actor", ADMIN, "--note", NOTE,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == f"P-1 {STIM}: met ? +10 points"  # the dash is not latin-1
    for environment in ENVIRONMENTS:
        for command in (
            ["history", "P-1"], ["balance", "P-1"], ["statement", "P-1"], ["preview", "P-1"],
            ["checkpoint"], ["verify"], ["--json", "history", "P-1"], ["report"],
        ):  # fmt: skip
            code, out, err = cmrewards_in(environment, db, *command)
            assert (code, err) == (0, ""), (environment, command)
            assert out, (environment, command)
            assert "Traceback" not in out, (environment, command)


def test_bytes_no_encoding_can_read_are_refused_before_anything_is_written(db: str) -> None:
    code, _, err = cmrewards_in(
        "C-ascii", db, "record", "P-1", "--target", STIM, "--outcome", "met",
        "--at", "2026-01-05T09:00", "--actor", ADMIN, "--note",
        os.fsdecode(b"caf\xe9"),  # latin-1 bytes typed under an ASCII locale
    )  # fmt: skip
    assert code == 2
    assert err.startswith("cmrewards: Invalid value for '--note': is not text")
    with cmrewards.open(db) as clinic:
        assert clinic.history("P-1") == []


@pytest.mark.parametrize("environment", ["latin-1", "C"])
def test_a_closed_pipe_after_the_commit_says_the_write_was_recorded(
    db: str, environment: str
) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # nobody reads: the first write fails
    try:
        code, _, err = cmrewards_in(
            environment, db, "record", "P-1", "--target", STIM, "--outcome", "met",
            "--at", "2026-01-05T09:00", "--actor", ADMIN, "--note", NOTE, stdout=writer,
        )  # fmt: skip
    finally:
        os.close(writer)
    assert code == 0
    assert err == (
        "cmrewards: outcome 1 was recorded, but its result could not be shown"
        " (BrokenPipeError); see it with 'cmrewards history P-1'\n"
    )
    with cmrewards.open(db) as clinic:
        assert [e.kind for e in clinic.history("P-1")] == ["outcome", "award"]


def test_any_failure_after_the_commit_says_the_write_was_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "clinic.db")
    runner = CliRunner()
    for line in (
        ["init", "--admin", ADMIN, "--no-sign-in"],
        ["program", "add", "--preset", "higgins-vbrt", "--timezone", "UTC", "--actor", ADMIN],
        ["enroll", "P-1", "--program", "higgins-vbrt", "--start", "2026-01-05", "--actor", ADMIN],
    ):
        assert runner.invoke(cli, ["--db", db, *line]).exit_code == 0

    def broken(*_: object) -> str:
        raise RuntimeError("the printer caught fire")

    monkeypatch.setattr("cmrewards.cli.outcomes._describe_transfer", broken)
    result = runner.invoke(
        cli, ["--db", db, "adjust", "P-1", "--points", "5", "--reason", "r", "--actor", ADMIN]
    )
    assert result.exit_code == 0
    assert result.stderr == (
        "cmrewards: transfer 1 was recorded, but its result could not be shown"
        " (RuntimeError); see it with 'cmrewards history P-1'\n"
    )
    with cmrewards.open(db) as clinic:
        assert clinic.balance("P-1").points == 5


def test_a_lone_surrogate_is_refused_by_the_library_too(tmp_path: Path) -> None:
    with cmrewards.open(tmp_path / "clinic.db") as clinic:
        clinic.init(ADMIN)
        clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
        clinic.enroll("P-1", "higgins-vbrt", start=cmrewards.parse_date("2026-01-05"), actor=ADMIN)
        with pytest.raises(cmrewards.InvalidInput, match="note is not valid Unicode text"):
            clinic.record(
                "P-1", STIM, "met", at=cmrewards.parse_when("2026-01-05T09:00", "UTC"),
                actor=ADMIN, note="caf\udce9",
            )  # fmt: skip
        assert clinic.history("P-1") == []
