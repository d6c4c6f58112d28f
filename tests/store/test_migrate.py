"""``cmrewards migrate``: a clinic's SQLite file copied into PostgreSQL, nothing lost.

Every row arrives with its id, the hash chains and their heads are the same, ``verify``
passes on both, and the clinic carries on on the server as if it had never moved (the
next negative pays the next step; a retried key replays). Every refusal leaves the
server's database empty and the file as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import cmrewards
from cmrewards.app.migrate import COPIED_TABLES, NOT_COPIED
from cmrewards.cli import cli
from cmrewards.store import migrations
from cmrewards.store.port import Tx
from support import postgres as postgres_support
from support.cli import assert_error
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
HIGGINS = "higgins-vbrt"
PETRY = "petry-fishbowl"
STIM = "stimulant-negative"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def clinic_file(tmp_path: Path, clock: FakeClock) -> Path:
    """A SQLite clinic using every table: awards, a reset, prizes (fulfilled and traded),
    redemptions (fulfilled, cancelled, reversed), an adjustment and its reversal, keys."""
    path = tmp_path / "clinic.db"
    seeds = iter(range(1, 10**6)).__next__
    with cmrewards.open(path, clock=clock, seeds=seeds) as clinic:
        clinic.init(ADMIN)
        clinic.add_staff("rec-01", "recorder", actor=ADMIN)
        clinic.add_program(cmrewards.load_preset(HIGGINS), actor=ADMIN)
        clinic.add_program(cmrewards.load_preset(PETRY), actor=ADMIN)
        clinic.enroll("P001", HIGGINS, start=START, actor=ADMIN)
        clinic.enroll("P002", PETRY, start=START, actor=ADMIN)
        for day, outcome in enumerate(["met", "met", "met", "not_met", "met", "met"]):
            clinic.record("P001", STIM, outcome, at=visit(day * 2), actor="rec-01", key=f"L{day}")
        for day in range(12):
            clinic.record("P002", STIM, "met", at=visit(day * 2), actor="rec-01")
        clinic.add_item("BUS", name="bus pass", cost=20, stock=5, actor=ADMIN)
        clinic.add_item("CARD", name="grocery card", cost=30, stock=2, actor=ADMIN)
        for category in ("small", "large", "jumbo"):
            clinic.add_item(category.upper(), name=f"{category} prize", cost=0, stock=20,
                            category=category, actor=ADMIN)  # fmt: skip
        fulfilled = clinic.request_redemption("P001", "BUS", actor="rec-01", key="R1")
        clinic.approve_redemption(fulfilled.redemption.id, actor=ADMIN)
        clinic.fulfil_redemption(fulfilled.redemption.id, actor=ADMIN, note="r1", cost_cents=500)
        cancelled = clinic.request_redemption("P001", "BUS", actor="rec-01")
        clinic.cancel_redemption(cancelled.redemption.id, reason="changed mind", actor=ADMIN)
        returned = clinic.request_redemption("P001", "CARD", actor="rec-01")
        clinic.approve_redemption(returned.redemption.id, actor=ADMIN)
        clinic.fulfil_redemption(returned.redemption.id, actor=ADMIN)
        spend = [e for e in clinic.history("P001") if e.kind == "spend"][-1]
        spend_id = int(spend.ref.split(":")[1])
        clinic.reverse(spend_id, reason="card returned", actor=ADMIN, returned=True)
        adjusted = clinic.adjust("P001", 7, reason="make-up visit", actor=ADMIN)
        clinic.reverse(adjusted.transfer.id, reason="entered twice", actor=ADMIN)
        owed = [p for p in clinic.prizes("P002") if p.value_cents]
        clinic.fulfil_prize(owed[0].id, sku=owed[0].category.upper(), actor=ADMIN)
        smalls = [p for p in clinic.prizes("P002") if p.category == "small" and p.status == "owed"]
        if len(smalls) >= 5:
            clinic.trade_prizes("P002", give="small", get="large", actor=ADMIN)
        clinic.restock("BUS", 3, actor=ADMIN)
    return path


@pytest.fixture
def server_db() -> Iterator[str]:
    with postgres_support.database() as url:
        yield url


def everything(tx: Tx) -> dict[str, Any]:
    """Every record a clinic holds, read through the storage port."""
    return {
        "staff": tx.all_staff(),
        "programs": tx.programs(),
        "origins": tx.program_origins(),
        "participants": tx.participants(),
        "outcomes": tx.outcomes(),
        "states": tx.schedule_states(),
        "transfers": tx.transfers(),
        "balances": tx.balances(),
        "prizes": tx.prizes(),
        "fulfilments": tx.prize_fulfilments(),
        "trades": tx.prize_trades(),
        "items": tx.items(),
        "movements": tx.stock_movements(),
        "redemptions": tx.redemptions(),
        "caps": tx.cap_usages(),
        "journal": tx.journal(),
        "keys": tx.idempotency_records(),
    }


def contents(location: str | Path) -> dict[str, Any]:
    with cmrewards.open(location, create=False) as clinic, clinic._store.read() as tx:
        return everything(tx)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def file_bytes(path: Path) -> bytes:
    """The file with its log folded in (what its rows are, not when SQLite checkpoints)."""
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump()).encode()
    finally:
        conn.close()


# --- the copy ------------------------------------------------------------------------


def test_migrate_copies_every_record_with_its_id_and_both_verify(
    clinic_file: Path, server_db: str
) -> None:
    before = contents(clinic_file)
    # Every kind of record is there to copy (no shipped preset has a cap).
    assert all(before[name] for name in before if name != "caps"), [
        name for name in before if not before[name]
    ]

    result = invoke("--json", "migrate", "--from", str(clinic_file), "--to", server_db)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    assert contents(server_db) == before
    assert contents(clinic_file) == before
    assert report["rows"]["outcomes"] == len(before["outcomes"])
    assert report["rows"]["transfers"] == len(before["transfers"])
    heads = [
        (r["outcome_chain_head"], r["transfer_chain_head"])
        for r in (report["source_verify"], report["target_verify"])
    ]
    assert heads[0] == heads[1]
    assert report["target_verify"]["ok"]
    assert report["source_verify"]["ok"]
    for location in (str(clinic_file), server_db):
        verified = invoke("--db", location, "verify")
        assert verified.exit_code == 0, verified.output
        assert f"chain head {heads[0][1][:16]}" in verified.stdout


def test_the_clinic_carries_on_on_the_server_as_on_the_file(
    clinic_file: Path, server_db: str, tmp_path: Path, clock: FakeClock
) -> None:
    """The same next write on the file and on the server gives the same result."""
    assert invoke("migrate", "--from", str(clinic_file), "--to", server_db).exit_code == 0
    twin = tmp_path / "twin.db"
    twin.write_bytes(clinic_file.read_bytes())
    results = []
    for location in (twin, server_db):
        seeds = iter(range(500, 10**6)).__next__
        with cmrewards.open(location, clock=clock, seeds=seeds) as clinic:
            replay = clinic.record("P001", STIM, "met", at=visit(10), actor="rec-01", key="L5")
            assert replay.replayed
            paid = clinic.record("P001", STIM, "met", at=visit(14), actor="rec-01", key="L7")
            results.append((replay, paid, clinic.balance("P001"), clinic.verify().ok))
    assert results[0] == results[1]
    assert results[0][3]


def test_an_empty_clinic_migrates(tmp_path: Path, server_db: str) -> None:
    path = tmp_path / "new.db"
    assert invoke("--db", str(path), "init", "--admin", ADMIN, "--no-sign-in").exit_code == 0
    result = invoke("migrate", "--from", str(path), "--to", server_db)
    assert result.exit_code == 0, result.output
    assert contents(server_db)["staff"] == contents(path)["staff"]


# --- refusals: nothing written on either side -----------------------------------------


def assert_no_clinic_on(url: str) -> None:
    """Nothing of the clinic arrived: at most the empty schema opening it creates."""
    rows = postgres_support.table_dump(url)
    assert all(line.startswith("cmrewards_") for line in rows), rows


def test_a_server_that_already_holds_a_clinic_is_refused(clinic_file: Path, server_db: str) -> None:
    assert (
        invoke("--db", server_db, "init", "--admin", "other-admin", "--no-sign-in").exit_code == 0
    )
    before = postgres_support.table_dump(server_db)
    error = assert_error(
        invoke("--json", "migrate", "--from", str(clinic_file), "--to", server_db), 1
    )
    assert "already holds a clinic" in error["message"]
    assert postgres_support.table_dump(server_db) == before


def test_a_file_that_fails_verify_is_not_copied(clinic_file: Path, server_db: str) -> None:
    conn = sqlite3.connect(clinic_file)
    conn.execute("DROP TRIGGER transfers_no_update")
    conn.execute("UPDATE transfers SET amount = amount + 1 WHERE id = 1")
    conn.commit()
    conn.close()
    error = assert_error(
        invoke("--json", "migrate", "--from", str(clinic_file), "--to", server_db), 3
    )
    assert "fails verify" in error["message"]
    assert_no_clinic_on(server_db)


def test_a_failure_midway_rolls_the_whole_copy_back(
    clinic_file: Path, server_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy is one transaction: a failure after some tables leaves none of them."""
    from cmrewards.store.postgres import PostgresStore

    real = PostgresStore.copy_rows

    def failing(self: PostgresStore, table: str, *args: Any) -> None:
        if table == "redemptions":
            raise cmrewards.IntegrityError("the server went away")
        real(self, table, *args)

    monkeypatch.setattr(PostgresStore, "copy_rows", failing)
    assert_error(invoke("--json", "migrate", "--from", str(clinic_file), "--to", server_db), 3)
    assert_no_clinic_on(server_db)


@pytest.mark.parametrize(
    ("source", "target", "code", "message"),
    [
        ("{missing}", "{url}", 1, "no database at"),
        ("{url}", "{url}", 2, "the source must be the clinic's SQLite file"),
        ("{file}", "{file}", 2, "is not a postgresql:// URL"),
        ("{file}", "postgresql://nobody@/none?host=/nonexistent", 3, "cannot connect"),
    ],
)
def test_bad_locations_are_one_line_errors(
    clinic_file: Path, server_db: str, source: str, target: str, code: int, message: str
) -> None:
    names = {"missing": str(clinic_file.with_name("missing.db")), "url": server_db}
    names["file"] = str(clinic_file)
    before = file_bytes(clinic_file)
    result = invoke(
        "--json", "migrate", "--from", source.format(**names), "--to", target.format(**names)
    )
    assert message in assert_error(result, code)["message"]
    assert file_bytes(clinic_file) == before
    assert not clinic_file.with_name("missing.db").exists()


# --- the two schemas stay in step ---------------------------------------------------


def test_every_table_of_the_file_is_copied_or_says_why_not(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    cmrewards.open(path).close()
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables - {"sqlite_sequence"} == set(COPIED_TABLES) | set(NOT_COPIED)


def test_both_schemas_have_the_same_migrations() -> None:
    # One registry lists them, each in a form for each engine.
    assert [m.name for m in migrations.MIGRATIONS] == migrations.KNOWN
    assert len(set(migrations.KNOWN)) == len(migrations.KNOWN)
    assert all(m.sqlite and m.postgres for m in migrations.MIGRATIONS)
