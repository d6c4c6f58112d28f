"""What a checkpoint proves that the chains alone cannot, on SQLite and PostgreSQL.

A forger who gets past the guards (SQLite's triggers dropped and put back word for word;
PostgreSQL's ``session_replication_role = replica``) and cuts the newest row off a chain,
fixing what that row touched, leaves every chain linked: ``verify`` alone passes, as the
README says ("How the record stays honest": keep checkpoints). Against a checkpoint that
saw the row, ``verify`` fails, naming the chain and where it now ends. A database rebuilt
with another history fails against it too; the same database, and the same one grown,
pass.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import cmrewards
from cmrewards import Checkpoint, Clinic
from support.clinics import START, FakeClock, database_location, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"
KINDS = ("sqlite", "postgres")


def build(clinic: Clinic, *, note: str = "first visit") -> None:
    """A small clinic whose newest outcome, transfer and journal entry each stand alone:
    an excused visit (no award, no reset), an adjustment, a staff member added."""
    clinic.init(ADMIN)
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
    clinic.enroll("P-1", "higgins-vbrt", start=START, actor=ADMIN)
    for day in range(3):
        clinic.record("P-1", STIM, "met", at=visit(day), actor=ADMIN, note=note)
    clinic.record("P-1", STIM, "excused", at=visit(4), actor=ADMIN)
    clinic.adjust("P-1", 7, reason="lab delay", actor=ADMIN)
    clinic.add_staff("rec-9", "recorder", actor=ADMIN)


@pytest.fixture(params=KINDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with database_location(request.param, tmp_path) as where:
        assert where is not None
        yield request.param, where


@pytest.fixture
def clinic(location: tuple[str, str]) -> Iterator[Clinic]:
    with cmrewards.open(location[1], clock=FakeClock()) as opened:
        build(opened)
        yield opened


def forge(location: tuple[str, str], *statements: str) -> None:
    """Run ``statements`` in one transaction past every guard, then leave the schema as it was."""
    kind, where = location
    if kind == "sqlite":
        conn = sqlite3.connect(where, isolation_level=None)
        try:
            triggers = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall()
            conn.execute("BEGIN")
            for name, _ in triggers:
                conn.execute(f"DROP TRIGGER {name}")
            for statement in statements:
                assert conn.execute(statement).rowcount == 1, statement
            for _, sql in triggers:
                conn.execute(sql)
            conn.execute("COMMIT")
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(where) as server:
            server.execute("SET LOCAL session_replication_role = replica")
            for statement in statements:
                assert server.execute(statement).rowcount == 1, statement


NEWEST = "(SELECT max(id) FROM {table})"
CUTS = {
    "outcomes": (f"DELETE FROM outcomes WHERE id = {NEWEST.format(table='outcomes')}",),
    "transfers": (
        f"DELETE FROM transfers WHERE id = {NEWEST.format(table='transfers')}",
        "UPDATE balances SET points = points - 7 WHERE account = 'available:P-1'",
        "UPDATE balances SET points = points + 7 WHERE account = 'funding'",
    ),
    "journal": (
        f"DELETE FROM journal WHERE id = {NEWEST.format(table='journal')}",
        "DELETE FROM staff WHERE id = 'rec-9'",
    ),
}
"""Cutting the newest row off each chain, and fixing everything that row touched."""


def messages(report: cmrewards.VerifyReport) -> list[str]:
    return [p.message for p in report.problems]


def test_the_same_database_and_the_same_grown_extend_its_checkpoint(clinic: Clinic) -> None:
    kept = clinic.checkpoint()
    assert (clinic.verify(against=kept).ok, clinic.verify(against=kept).problems) == (True, ())
    clinic.record("P-1", STIM, "met", at=visit(7), actor=ADMIN)
    clinic.add_staff("rec-10", "recorder", actor=ADMIN)
    report = clinic.verify(against=kept.statement)
    assert (report.ok, report.problems) == (True, ())
    grown = {c.chain: c.length for c in report.chains}
    assert grown == {"outcomes": 5, "transfers": 6, "journal": kept.chains[2].length + 1}
    assert report.against is not None
    assert report.against.digest == kept.digest


@pytest.mark.parametrize("chain", [*CUTS, "all"])
def test_the_newest_row_cut_off_a_chain_fails_against_an_earlier_checkpoint(
    location: tuple[str, str], clinic: Clinic, chain: str
) -> None:
    kept = clinic.checkpoint()
    before = {c.chain: c for c in kept.chains}
    cut = list(CUTS) if chain == "all" else [chain]
    forge(location, *(statement for name in cut for statement in CUTS[name]))
    # The chains alone cannot see it: every link still holds (README, "keep checkpoints").
    alone = clinic.verify()
    assert (alone.ok, messages(alone)) == (True, [])
    report = clinic.verify(against=kept.statement)
    expected = [
        f"{name} chain cut: the checkpoint saw {before[name].length} {name} ending in"
        f" {before[name].head[:16]}; it now ends at row {before[name].length - 1}"
        for name in cut
    ]
    assert (False, expected) == (report.ok, messages(report))
    assert {p.check for p in report.problems} == {cmrewards.Check.CHECKPOINT}


def test_a_cut_after_the_checkpoint_still_extends_it(
    location: tuple[str, str], clinic: Clinic
) -> None:
    kept = clinic.checkpoint()
    clinic.adjust("P-1", 7, reason="lab delay", actor=ADMIN)
    forge(location, *CUTS["transfers"])
    assert clinic.verify(against=kept).ok  # nothing it saw is gone: the next one will tell


def test_a_rebuilt_database_with_another_history_fails_against_the_checkpoint(
    clinic: Clinic, location: tuple[str, str], tmp_path: Path
) -> None:
    kept = clinic.checkpoint()
    (tmp_path / "rebuilt").mkdir()
    with (
        database_location(location[0], tmp_path / "rebuilt") as where,
        cmrewards.open(where, clock=FakeClock()) as rebuilt,
    ):
        # The same calls at the same times, one note retyped, and more written after: the
        # transfers and the journal come out the same, the outcomes do not.
        build(rebuilt, note="first visit, retyped")
        for i in range(3):
            rebuilt.add_staff(f"rec-{20 + i}", "recorder", actor=ADMIN)
        assert rebuilt.verify().ok
        report = rebuilt.verify(against=kept.statement)
    (problem,) = report.problems
    assert problem.check is cmrewards.Check.CHECKPOINT
    assert problem.message.startswith("outcomes chain rewritten: the checkpoint saw 4 outcomes")


def test_a_checkpoint_altered_by_hand_is_refused_by_its_digest(clinic: Clinic) -> None:
    kept = clinic.checkpoint()
    assert " 2027-06-01T12:00:00Z " in kept.statement  # the fake clock's time
    later = kept.statement.replace(" 2027-06-01T12:00:00Z ", " 2027-06-02T12:00:00Z ")
    (message,) = messages(clinic.verify(against=later))
    assert message.startswith("the checkpoint's digest does not match")


def test_the_export_manifest_holds_the_same_checkpoint_and_verifies_against_it(
    clinic: Clinic, tmp_path: Path
) -> None:
    manifest = clinic.export(tmp_path / "export")
    assert manifest.checkpoint == clinic.checkpoint()
    text = (tmp_path / "export" / "manifest.json").read_text(encoding="utf-8")
    assert json.loads(text)["checkpoint"]["digest"] == manifest.checkpoint.digest
    assert clinic.verify(against=text).ok


def test_a_checkpoint_is_a_public_record(clinic: Clinic) -> None:
    kept = clinic.checkpoint()
    assert isinstance(kept, Checkpoint)
    assert [c.chain for c in kept.chains] == ["outcomes", "transfers", "journal"]
    assert cmrewards.from_json(Checkpoint, cmrewards.to_json(kept)) == kept
