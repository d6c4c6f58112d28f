"""``cmrewards backup --to FILE`` and ``cmrewards restore --from FILE --to NEW``.

The backup prints its checkpoint and writes it beside the copy; the restore drill
proves the restored file against it. Every refusal is one line with its exit code:
an existing file (1), a PostgreSQL clinic pointed to pg_dump (2), a damaged backup (3).
"""

from __future__ import annotations

import contextvars
import stat
from pathlib import Path

from click.testing import CliRunner

from cmrewards.cli import cli
from support.cli import assert_error, invoke, ok, text

SETUP = [
    "init --admin admin-1 --no-sign-in",
    "program add --preset higgins-vbrt --timezone UTC --actor admin-1",
    "enroll P001 --program higgins-vbrt --start 2026-01-05 --actor admin-1",
    "record P001 --target stimulant-negative --outcome met --at 2026-01-05T09:00Z"
    " --actor admin-1 --note 'clean sample'",
]


def clinic(tmp_path: Path) -> Path:
    db = tmp_path / "clinic.db"
    for line in SETUP:
        ok(db, line)
    return db


def test_the_restore_drill_proves_the_backup_against_its_checkpoint(tmp_path: Path) -> None:
    db = clinic(tmp_path)
    shown = text(db, f"backup --to {tmp_path / 'nightly.db'}").splitlines()
    assert shown[0] == (
        f"backed up {db} to {tmp_path / 'nightly.db'} (owner-only): verify OK,"
        " 1 outcome, 1 transfer, 1 participant"
    )
    assert shown[1] == (
        f"its checkpoint, also in {tmp_path / 'nightly.db.checkpoint'}"
        " (keep a copy where the clinic cannot edit it):"
    )
    statement = (tmp_path / "nightly.db.checkpoint").read_text(encoding="utf-8")
    assert shown[2:] == [statement.strip()]
    for made in ("nightly.db", "nightly.db.checkpoint"):
        assert stat.S_IMODE((tmp_path / made).stat().st_mode) == 0o600

    drill = tmp_path / "drill.db"
    restored = text(
        db,
        f"restore --from {tmp_path / 'nightly.db'} --to {drill}"
        f" --against {tmp_path / 'nightly.db.checkpoint'}",
    ).splitlines()
    assert restored[0] == f"restored {tmp_path / 'nightly.db'} into {drill}"
    assert restored[1].startswith("OK: 1 outcome, 1 transfer, 1 participant checked;")
    assert restored[2].endswith("outcomes 1 -> 1, transfers 1 -> 1, journal 3 -> 3")
    assert ok(drill, "history P001") == ok(db, "history P001")


def test_backup_and_restore_answer_in_json(tmp_path: Path) -> None:
    db = clinic(tmp_path)
    made = ok(db, f"backup --to {tmp_path / 'nightly.db'}")
    assert made["target"] == str(tmp_path / "nightly.db")
    assert made["verify"]["ok"] is True
    assert made["checkpoint"]["statement"].startswith("cmrewards-checkpoint/1 ")
    restored = ok(
        db,
        f"restore --from {tmp_path / 'nightly.db'} --to {tmp_path / 'drill.db'}"
        f" --against '{made['checkpoint']['statement']}'",
    )
    assert restored["verify"]["ok"] is True
    assert restored["verify"]["against"]["digest"] == made["checkpoint"]["digest"]


def test_neither_overwrites_a_file(tmp_path: Path) -> None:
    db = clinic(tmp_path)
    ok(db, f"backup --to {tmp_path / 'nightly.db'}")
    error = assert_error(invoke(db, f"backup --to {tmp_path / 'nightly.db'}"), 1)
    assert error["message"] == (
        f"{tmp_path / 'nightly.db'} exists and is never overwritten; name a new file"
    )
    error = assert_error(invoke(db, f"restore --from {tmp_path / 'nightly.db'} --to {db}"), 1)
    assert error["message"] == f"{db} exists and is never overwritten; name a new file"


def test_a_corrupted_backup_fails_the_restore_in_one_line(tmp_path: Path) -> None:
    db = clinic(tmp_path)
    ok(db, f"backup --to {tmp_path / 'nightly.db'}")
    data = (tmp_path / "nightly.db").read_bytes()
    (tmp_path / "nightly.db").write_bytes(data.replace(b"clean sample", b"dirty sample"))
    result = invoke(
        db,
        f"restore --from {tmp_path / 'nightly.db'} --to {tmp_path / 'drill.db'}",
        json_output=False,
    )
    error = assert_error(result, 3, json_output=False)
    assert error["message"] == (
        f"{tmp_path / 'nightly.db'} does not restore: verify found outcome 1: hash does not"
        f" match its contents (edited outside cmrewards); nothing was left at"
        f" {tmp_path / 'drill.db'}"
    )
    assert not (tmp_path / "drill.db").exists()


def test_a_postgresql_clinic_is_pointed_to_pg_dump(tmp_path: Path) -> None:
    server = "postgresql://clinic@db.invalid/cm"
    arguments = ["--db", server, "--json", "backup", "--to", str(tmp_path / "b.db")]
    result = contextvars.Context().run(CliRunner().invoke, cli, arguments)
    error = assert_error(result, 2)
    assert "pg_dump" in error["message"]
    assert "'cmrewards --db URL verify'" in error["message"]
    assert list(tmp_path.iterdir()) == []


def test_restoring_a_missing_backup_is_not_found(tmp_path: Path) -> None:
    error = assert_error(
        invoke(tmp_path / "x.db", f"restore --from {tmp_path / 'no.db'} --to {tmp_path / 'd.db'}"),
        1,
    )
    assert error["message"] == f"no backup at {tmp_path / 'no.db'}"
    assert list(tmp_path.iterdir()) == []


def test_postgres_grants_prints_the_sql_and_refuses_a_name_it_cannot_quote(tmp_path: Path) -> None:
    printed = text(tmp_path / "unused.db", "postgres-grants cm_desk1 --schema clinic_north")
    lines = printed.splitlines()
    assert (lines[0], lines[-1]) == ("BEGIN;", "COMMIT;")
    assert "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA clinic_north TO cm_desk1;" in lines
    assert not any(word in printed for word in ("DELETE", "TRUNCATE", "GRANT ALL"))
    error = assert_error(invoke(tmp_path / "unused.db", "postgres-grants 'desk; DROP'"), 2)
    assert "not a lowercase PostgreSQL name" in error["message"]
    assert list(tmp_path.iterdir()) == []
