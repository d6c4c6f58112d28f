"""Every SQLite guard trigger is checked against its declaration, as on PostgreSQL.

The migrations are the declaration (``schema.guards``): ``verify`` names a guard that was
dropped, one redefined (a ``WHEN`` that never holds, a body that refuses nothing), and a
trigger the schema does not declare; a guard put back word for word is as good as new.
"""

from __future__ import annotations

import shutil
import sqlite3
from functools import cache
from pathlib import Path

import pytest

import cmrewards
from cmrewards.store.migrations import MIGRATIONS
from cmrewards.store.schema import guards
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
DECLARED = guards(statement for m in MIGRATIONS for statement in m.sqlite)


@cache
def pristine(directory: Path) -> Path:
    path = directory / "pristine.db"
    with cmrewards.open(path, clock=FakeClock()) as clinic:
        clinic.init(ADMIN)
        clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
        clinic.enroll("P-1", "higgins-vbrt", start=START, actor=ADMIN)
        clinic.record("P-1", "stimulant-negative", "met", at=visit(0), actor=ADMIN)
        clinic.adjust("P-1", 7, reason="lab delay", actor=ADMIN)
    return path


@pytest.fixture
def path(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    copy = tmp_path / "clinic.db"
    shutil.copyfile(pristine(tmp_path_factory.getbasetemp()), copy)
    return copy


def run(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def problems(path: Path) -> list[str]:
    with cmrewards.open(path) as clinic:
        report = clinic.verify()
    assert report.ok == (not report.problems)
    return [p.message for p in report.problems]


def stored_triggers(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        return dict(rows.fetchall())
    finally:
        conn.close()


def test_the_declaration_is_every_trigger_a_new_file_holds_word_for_word(path: Path) -> None:
    assert stored_triggers(path) == DECLARED
    assert {"outcomes_no_delete", "transfers_no_update", "journal_no_delete"} <= set(DECLARED)
    assert problems(path) == []


@pytest.fixture(params=sorted(DECLARED))
def guard(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_guard_dropped_is_reported(path: Path, guard: str) -> None:
    run(path, f"DROP TRIGGER {guard}")
    assert problems(path) == [f"the guard trigger {guard} was dropped"]


def test_a_guard_redefined_is_reported(path: Path, guard: str) -> None:
    head, _, _ = DECLARED[guard].partition(" BEGIN")
    neutralised = f"{head} BEGIN SELECT 1; END"  # same name, table and event; refuses nothing
    run(path, f"DROP TRIGGER {guard}", neutralised)
    assert problems(path) == [f"the guard trigger {guard} was changed"]


def test_a_guard_put_back_word_for_word_is_not_a_problem(path: Path, guard: str) -> None:
    run(path, f"DROP TRIGGER {guard}", DECLARED[guard])
    assert problems(path) == []


def test_an_undeclared_trigger_is_reported(path: Path) -> None:
    run(
        path,
        "CREATE TRIGGER staff_quietly AFTER INSERT ON staff BEGIN SELECT 1; END",
    )
    assert problems(path) == ["an unknown trigger staff_quietly is on staff"]


def test_the_newest_transfer_cut_with_its_guard_dropped_is_caught(path: Path) -> None:
    """The case the issue tried: guard dropped, newest transfer deleted, balances fixed."""
    with cmrewards.open(path) as clinic:
        kept = clinic.checkpoint()
    run(
        path,
        "DROP TRIGGER transfers_no_delete",
        "DELETE FROM transfers WHERE id = (SELECT max(id) FROM transfers)",
        "UPDATE balances SET points = points - 7 WHERE account = 'available:P-1'",
        "UPDATE balances SET points = points + 7 WHERE account = 'funding'",
    )
    assert problems(path) == ["the guard trigger transfers_no_delete was dropped"]
    with cmrewards.open(path) as clinic:
        against = [p.message for p in clinic.verify(against=kept).problems]
    assert against[0] == "the guard trigger transfers_no_delete was dropped"
    assert against[1].startswith("transfers chain cut: the checkpoint saw 2 transfers")


def test_every_guard_dropped_is_each_reported_once(path: Path) -> None:
    run(path, *(f"DROP TRIGGER {name}" for name in DECLARED))
    assert problems(path) == [f"the guard trigger {name} was dropped" for name in sorted(DECLARED)]
