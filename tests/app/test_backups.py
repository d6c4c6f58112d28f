"""Backups a clinic can restore (docs/design.md section 6, "Backups").

``Clinic.backup`` copies a SQLite clinic while other terminals write: the copy verifies,
holds every write reported before it began, is owner-only from its first byte and never
overwrites a file. ``cmrewards.restore`` turns it into a new clinic, verified (and
against the checkpoint written beside the backup); a damaged backup is one line and
leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sqlite3
import stat
import threading
from contextlib import closing
from pathlib import Path

import pytest

import cmrewards
from support.clinics import START, FakeClock, visit

PROGRAM = "higgins-vbrt"
TARGET = "stimulant-negative"
ADMIN = "admin-1"


def new_clinic(path: Path) -> cmrewards.Clinic:
    clinic = cmrewards.open(path, clock=FakeClock())
    clinic.init(ADMIN)
    clinic.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
    for participant in ("P-1", "P-2"):
        clinic.enroll(participant, PROGRAM, start=START, actor=ADMIN)
    return clinic


def record(clinic: cmrewards.Clinic, participant: str, day: int, note: str | None = None) -> int:
    result = clinic.record(participant, TARGET, "met", at=visit(day), actor=ADMIN, note=note)
    return result.outcome_id


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(directory: Path, name: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(name))


def test_a_backup_restores_to_the_same_clinic_and_proves_it_with_its_checkpoint(
    tmp_path: Path,
) -> None:
    with new_clinic(tmp_path / "live.db") as clinic:
        for day in range(3):
            record(clinic, "P-1", 2 * day)
        made = clinic.backup(tmp_path / "nightly.db")
        live_history = clinic.history("P-1")
        record(clinic, "P-1", 8)  # after the backup: not in it
    assert made.verify.ok
    assert (made.target, made.checkpoint_file) == (
        str(tmp_path / "nightly.db"),
        str(tmp_path / "nightly.db.checkpoint"),
    )
    assert made.checkpoint.chains == made.verify.chains
    written = (tmp_path / "nightly.db.checkpoint").read_text(encoding="utf-8")
    assert written == made.checkpoint.statement + "\n"
    # One self-contained file: no -wal or -shm beside it, rollback-journal mode.
    assert leftovers(tmp_path, "nightly.db") == ["nightly.db", "nightly.db.checkpoint"]
    assert (tmp_path / "nightly.db").read_bytes()[18:20] == b"\x01\x01"

    restored = cmrewards.restore(tmp_path / "nightly.db", tmp_path / "drill.db", against=written)
    assert restored.verify.ok
    assert restored.verify.against is not None
    assert restored.verify.against.digest == made.checkpoint.digest
    with cmrewards.open(tmp_path / "drill.db", create=False) as drill:
        assert drill.history("P-1") == live_history
    assert mode(tmp_path / "drill.db") == 0o600


def test_backup_and_checkpoint_files_are_created_owner_only_whatever_the_umask(
    tmp_path: Path,
) -> None:
    with new_clinic(tmp_path / "live.db") as clinic:
        record(clinic, "P-1", 0)
        previous = os.umask(0)
        try:
            clinic.backup(tmp_path / "nightly.db")
        finally:
            os.umask(previous)
    assert (mode(tmp_path / "nightly.db"), mode(tmp_path / "nightly.db.checkpoint")) == (
        0o600,
        0o600,
    )


def test_a_backup_during_a_write_load_holds_every_write_reported_before_it_began(
    tmp_path: Path,
) -> None:
    live = tmp_path / "live.db"
    new_clinic(live).close()
    reported: list[int] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def terminal() -> None:
        # Another terminal: its own connection, writing until told to stop.
        try:
            with cmrewards.open(live, clock=FakeClock()) as desk:
                for minute in itertools.count():
                    if stop.is_set():
                        break
                    at = visit(0) + dt.timedelta(minutes=minute)
                    done = desk.record("P-2", TARGET, "met", at=at, actor=ADMIN)
                    reported.append(done.outcome_id)
        except BaseException as error:  # reported to the test below
            failures.append(error)

    writer = threading.Thread(target=terminal)
    writer.start()
    try:
        while len(reported) < 30 and writer.is_alive():
            threading.Event().wait(0.005)
        before = list(reported)
        with cmrewards.open(live) as clinic:
            made = clinic.backup(tmp_path / "nightly.db")
        while len(reported) < len(before) + 30 and writer.is_alive():
            threading.Event().wait(0.005)  # the terminal went on writing after the backup
    finally:
        stop.set()
        writer.join()
    assert failures == []
    assert made.verify.ok
    restored = cmrewards.restore(
        tmp_path / "nightly.db", tmp_path / "drill.db", against=made.checkpoint
    )
    assert restored.verify.ok
    with cmrewards.open(tmp_path / "drill.db", create=False) as drill:
        refs = {e.ref for e in drill.history("P-2")}
    kept = {int(ref.removeprefix("outcome:")) for ref in refs if ref.startswith("outcome:")}
    assert set(before) <= kept
    assert len(kept) < len(reported)  # a snapshot: the later writes are not in it
    assert restored.verify.outcomes == made.verify.outcomes


def test_backup_never_overwrites_the_file_or_its_checkpoint(tmp_path: Path) -> None:
    with new_clinic(tmp_path / "live.db") as clinic:
        (tmp_path / "taken.db").write_bytes(b"keep me")
        with pytest.raises(cmrewards.AlreadyExists, match=r"taken\.db exists and is never overwr"):
            clinic.backup(tmp_path / "taken.db")
        assert (tmp_path / "taken.db").read_bytes() == b"keep me"

        (tmp_path / "other.db.checkpoint").write_text("keep me too")
        with pytest.raises(cmrewards.AlreadyExists, match=r"other\.db.checkpoint exists"):
            clinic.backup(tmp_path / "other.db")
        assert leftovers(tmp_path, "other.db") == ["other.db.checkpoint"]
        assert (tmp_path / "other.db.checkpoint").read_text() == "keep me too"

        # A log left beside the name by some other database would be replayed into the copy.
        (tmp_path / "fresh.db-wal").write_bytes(b"stale")
        with pytest.raises(cmrewards.AlreadyExists, match=r"fresh\.db-wal exists"):
            clinic.backup(tmp_path / "fresh.db")
        assert leftovers(tmp_path, "fresh.db") == ["fresh.db-wal"]


def test_restore_never_overwrites(tmp_path: Path) -> None:
    with new_clinic(tmp_path / "live.db") as clinic:
        clinic.backup(tmp_path / "nightly.db")
    (tmp_path / "taken.db").write_bytes(b"keep me")
    with pytest.raises(cmrewards.AlreadyExists, match=r"taken\.db exists and is never overwr"):
        cmrewards.restore(tmp_path / "nightly.db", tmp_path / "taken.db")
    assert (tmp_path / "taken.db").read_bytes() == b"keep me"
    # The live clinic itself is a file that exists: restoring over it is refused too.
    with pytest.raises(cmrewards.AlreadyExists):
        cmrewards.restore(tmp_path / "nightly.db", tmp_path / "live.db")


def test_a_tampered_backup_fails_the_restore_verify_in_one_line_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    with new_clinic(tmp_path / "live.db") as clinic:
        record(clinic, "P-1", 0, note="clean sample")
        clinic.backup(tmp_path / "nightly.db")
    data = (tmp_path / "nightly.db").read_bytes()
    assert data.count(b"clean sample") == 1
    (tmp_path / "nightly.db").write_bytes(data.replace(b"clean sample", b"dirty sample"))
    with pytest.raises(cmrewards.IntegrityError) as refused:
        cmrewards.restore(tmp_path / "nightly.db", tmp_path / "drill.db")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'nightly.db'} does not restore: verify found ")
    assert "outcome 1" in message
    assert message.endswith(f"nothing was left at {tmp_path / 'drill.db'}")
    assert leftovers(tmp_path, "drill.db") == []


def test_a_damaged_backup_file_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    with new_clinic(tmp_path / "live.db") as clinic:
        for day in range(20):
            record(clinic, "P-1", day, note="x" * 200)
        clinic.backup(tmp_path / "nightly.db")
    data = bytearray((tmp_path / "nightly.db").read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[3 * page : 4 * page] = b"\xa5" * page  # one page of garbage
    (tmp_path / "nightly.db").write_bytes(bytes(data))
    with pytest.raises(cmrewards.IntegrityError) as refused:
        cmrewards.restore(tmp_path / "nightly.db", tmp_path / "drill.db")
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(
        f"{tmp_path / 'nightly.db'} does not restore: its copy is damaged"
    )
    assert leftovers(tmp_path, "drill.db") == []


def test_a_file_that_is_no_backup_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database" * 20)
    with pytest.raises(cmrewards.IntegrityError, match="not a cmrewards database"):
        cmrewards.restore(tmp_path / "notes.txt", tmp_path / "drill.db")
    with pytest.raises(cmrewards.NotFound, match="no backup at"):
        cmrewards.restore(tmp_path / "missing.db", tmp_path / "drill.db")
    assert leftovers(tmp_path, "drill.db") == []


def test_restore_against_a_later_checkpoint_is_refused(tmp_path: Path) -> None:
    with new_clinic(tmp_path / "live.db") as clinic:
        record(clinic, "P-1", 0)
        clinic.backup(tmp_path / "nightly.db")
        record(clinic, "P-1", 2)
        later = clinic.checkpoint()
    with pytest.raises(cmrewards.IntegrityError, match="outcomes chain cut") as refused:
        cmrewards.restore(tmp_path / "nightly.db", tmp_path / "drill.db", against=later.statement)
    assert "(and " in str(refused.value)  # the transfers and journal chains were cut too
    assert leftovers(tmp_path, "drill.db") == []
    with pytest.raises(cmrewards.InvalidInput, match="not a checkpoint"):
        cmrewards.restore(tmp_path / "nightly.db", tmp_path / "drill.db", against="yesterday")
    assert leftovers(tmp_path, "drill.db") == []


def test_a_clinic_without_a_file_is_pointed_elsewhere(tmp_path: Path) -> None:
    memory = cmrewards.open()
    with pytest.raises(cmrewards.InvalidInput, match="in-memory clinic has no file"):
        memory.backup(tmp_path / "nightly.db")
    with pytest.raises(cmrewards.InvalidInput, match="not a postgresql:// URL"):
        cmrewards.restore(tmp_path / "nightly.db", "postgresql://localhost/clinic")
    assert list(tmp_path.iterdir()) == []


def test_an_open_clinic_file_restores_with_what_its_log_holds(tmp_path: Path) -> None:
    # Any cmrewards file restores as a backup does; read through SQLite, the writes still
    # in the live file's -wal are in the copy (copying the file's bytes would lose them).
    with new_clinic(tmp_path / "live.db") as clinic:
        record(clinic, "P-1", 0)
        assert (tmp_path / "live.db-wal").stat().st_size > 0
        restored = cmrewards.restore(tmp_path / "live.db", tmp_path / "drill.db")
        assert (restored.verify.ok, restored.verify.outcomes) == (True, 1)
        assert clinic.verify().ok


def test_a_clinic_that_fails_verify_gives_no_backup(tmp_path: Path) -> None:
    with new_clinic(tmp_path / "live.db") as clinic:
        record(clinic, "P-1", 0)
    with closing(sqlite3.connect(tmp_path / "live.db", isolation_level=None)) as raw:
        (guard,) = raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name LIMIT 1"
        ).fetchone()
        raw.execute(f"DROP TRIGGER {guard}")
    with (
        cmrewards.open(tmp_path / "live.db") as clinic,
        pytest.raises(cmrewards.IntegrityError) as refused,
    ):
        clinic.backup(tmp_path / "nightly.db")
    assert str(refused.value).startswith(
        f"the backup of {tmp_path / 'live.db'} fails verify (the guard trigger {guard} was dropped)"
    )
    assert leftovers(tmp_path, "nightly.db") == []
