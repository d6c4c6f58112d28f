"""The catalog, redemption, expiry, prize and ``reverse --returned`` commands (docs/design.md
sections 5 and 7), through click's ``CliRunner``.

Every command gets a success case with the fields of its ``--json`` document; every refusal
exits 1 and every bad value exits 2, each with one ``cmrewards: ...`` line on stderr, no
traceback, and not a row of the database changed (compared with sqlite3 before and after).
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import re
import shlex
import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import cmrewards
from cmrewards.cli import cli
from support.cli import assert_error, snapshot
from support.clinics import FakeClock

ADMIN = "admin-1"
RECORDER = "rec-01"
CLIN = "clin-01"
CLIN2 = "clin-02"
PROGRAM = "higgins-vbrt"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(weeks=4)
"""Enrolment date: four weeks ago, so every visit below is in the past."""

Command = str | Sequence[str]


# --- helpers (as in test_cli.py) ----------------------------------------------------------


def invoke(db: Path, command: Command, *, json_output: bool = True) -> Result:
    """Run ``cmrewards --db DB [--json] COMMAND`` as a fresh process would."""
    args = shlex.split(command) if isinstance(command, str) else list(command)
    top = ["--db", str(db), *(["--json"] if json_output else [])]
    runner = CliRunner()
    return contextvars.Context().run(runner.invoke, cli, [*top, *args], prog_name="cmrewards")


def ok(db: Path, command: Command) -> Any:
    """Run a command with ``--json`` that must succeed; its parsed JSON document."""
    result = invoke(db, command)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return json.loads(result.stdout)


def text(db: Path, command: Command) -> str:
    """Run a command without ``--json`` that must succeed; what it printed."""
    result = invoke(db, command, json_output=False)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert result.stderr == ""
    return result.stdout


def at_day(day: int, hour: int = 9) -> dt.datetime:
    """A clinical time ``day`` days after START: in the past, never before enrolment."""
    return dt.datetime(START.year, START.month, START.day, hour, tzinfo=dt.UTC) + dt.timedelta(
        days=day
    )


def balance(db: Path, participant: str = "P001") -> tuple[int, int, int]:
    """(points, available, held)."""
    b = ok(db, f"balance {participant}")
    return (b["points"], b["available_points"], b["held_points"])


def stocks(db: Path) -> dict[str, int | None]:
    return {item["sku"]: item["stock"] for item in ok(db, "catalog list")}


def statuses(db: Path) -> dict[int, str]:
    return {r["id"]: r["status"] for r in ok(db, "redeem list")}


def is_utc_text(value: Any) -> bool:
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    parsed = dt.datetime.fromisoformat(value.removesuffix("Z") + "+00:00")
    return abs(parsed - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=10)


# --- fixture ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clinic with a cabinet and two redemptions of P001 (200 points).

    Catalog: GC10 (40 points, 3 units), BUS (25, on demand), EMPTY (10, none left),
    TOY (prize cabinet, small, 2 units). Redemption 1: GC10, requested by rec-01 with key
    REQ-1 (hold = transfer 2). Redemption 2: GC10, approved by clin-01 and fulfilled by
    clin-02 (hold = transfer 3, spend = transfer 4). P002 has no points.
    """
    db = tmp_path_factory.mktemp("shop") / "clinic.db"
    ok(db, f"init --admin {ADMIN} --no-sign-in")
    ok(db, f"staff add {RECORDER} --role recorder --actor {ADMIN}")
    ok(db, f"staff add {CLIN} --role clinician --actor {ADMIN}")
    ok(db, f"staff add {CLIN2} --role clinician --actor {ADMIN}")
    ok(db, f"program add --preset {PROGRAM} --timezone UTC --actor {ADMIN}")
    for participant in ("P001", "P002"):
        ok(db, f"enroll {participant} --program {PROGRAM} --start {START} --actor {ADMIN}")
    assert (
        ok(db, f"adjust P001 --points 200 --reason opening --actor {ADMIN}")["transfer"]["id"] == 1
    )
    ok(db, f"catalog add GC10 --name '$10 grocery card' --cost 40 --stock 3 --actor {ADMIN}")
    ok(db, f"catalog add BUS --name 'Bus pass' --cost 25 --actor {ADMIN}")
    ok(db, f"catalog add EMPTY --name 'Sold out' --cost 10 --stock 0 --actor {ADMIN}")
    ok(db, f"catalog add TOY --name Toy --cost 0 --stock 2 --category small --actor {ADMIN}")
    first = ok(db, f"redeem request P001 GC10 --key REQ-1 --actor {RECORDER}")
    second = ok(db, f"redeem request P001 GC10 --actor {CLIN}")
    assert (first["redemption"]["id"], second["redemption"]["id"]) == (1, 2)
    ok(db, f"redeem approve 2 --actor {CLIN}")
    ok(db, f"redeem fulfil 2 --note 'card ending 4417' --cost-cents 1000 --actor {CLIN2}")
    assert balance(db) == (160, 120, 40)
    assert stocks(db) == {"BUS": None, "EMPTY": 0, "GC10": 1, "TOY": 2}
    with cmrewards.open(db) as clinic, clinic._store.read() as tx:
        kinds = [(t.id, str(t.kind)) for t in tx.transfers()]
    assert kinds == [(1, "adjustment-up"), (2, "hold"), (3, "hold"), (4, "spend")]
    return db


@pytest.fixture
def shop_db(shop_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of ``shop_template`` for each test."""
    db = tmp_path / "clinic.db"
    for suffix in ("", "-wal", "-shm"):
        source = shop_template.with_name(shop_template.name + suffix)
        if source.exists():
            shutil.copy2(source, db.with_name(db.name + suffix))
    return db


# --- catalog ------------------------------------------------------------------------------


def test_catalog_add_prints_the_item(shop_db: Path) -> None:
    item = ok(
        shop_db,
        f"catalog add MUG --name 'Clinic mug' --cost 15 --stock 4 --category small"
        f" --low-stock 1 --actor {ADMIN}",
    )
    added_at = item.pop("added_at")
    assert is_utc_text(added_at)
    assert item == {
        "sku": "MUG",
        "name": "Clinic mug",
        "cost": 15,
        "stock": 4,
        "category": "small",
        "low_stock": 1,
        "added_by": ADMIN,
    }
    assert stocks(shop_db)["MUG"] == 4


def test_catalog_add_on_demand_as_text(shop_db: Path) -> None:
    out = text(shop_db, f"catalog add TAXI --name 'Taxi voucher' --cost 30 --actor {ADMIN}")
    assert out == "TAXI Taxi voucher: 30 points, on demand\n"
    assert stocks(shop_db)["TAXI"] is None


def test_catalog_list(shop_db: Path) -> None:
    items = ok(shop_db, "catalog list")
    assert [(i["sku"], i["cost"], i["stock"], i["category"]) for i in items] == [
        ("BUS", 25, None, None),
        ("EMPTY", 10, 0, None),
        ("GC10", 40, 1, None),
        ("TOY", 0, 2, "small"),
    ]
    # A header row, the columns aligned; no units left is at or below the default threshold 0.
    assert text(shop_db, "catalog list").splitlines() == [
        "sku    name              points      stock  low  prize category",
        "BUS    Bus pass              25  on demand",
        "EMPTY  Sold out              10          0  LOW",
        "GC10   $10 grocery card      40          1",
        "TOY    Toy                    0          2       small",
    ]


def test_catalog_restock(shop_db: Path) -> None:
    item = ok(shop_db, f"catalog restock GC10 --quantity 5 --actor {ADMIN}")
    assert (item["sku"], item["stock"]) == ("GC10", 6)
    assert stocks(shop_db)["GC10"] == 6
    assert "7 in stock" in text(shop_db, f"catalog restock GC10 --quantity 1 --actor {ADMIN}")


# --- redemption ---------------------------------------------------------------------------


def test_redeem_request(shop_db: Path) -> None:
    result = ok(shop_db, f"redeem request P001 BUS --actor {RECORDER}")
    redemption = result["redemption"]
    assert is_utc_text(redemption.pop("requested_at"))
    assert redemption == {
        "id": 3,
        "program_id": PROGRAM,
        "participant": "P001",
        "sku": "BUS",
        "cost": 25,
        "status": "requested",
        "requested_by": RECORDER,
        "approved_at": None,
        "approved_by": None,
        "fulfilled_at": None,
        "fulfilled_by": None,
        "note": None,
        "actual_cost_cents": None,
        "closed_at": None,
        "closed_by": None,
        "close_reason": None,
    }
    assert result["replayed"] is False
    assert result["balance"] == {
        "participant": "P001",
        "program_id": PROGRAM,
        "points": 160,
        "held_points": 65,
        "available_points": 95,
        "value_cents": 160 * 25,
        "cap_remaining_cents": None,
        "prizes_owed": None,  # a write's result does not read them; ``balance`` does
        "awaiting_final": None,
    }
    assert balance(shop_db) == (160, 95, 65)


def test_redeem_request_as_text(shop_db: Path) -> None:
    out = text(shop_db, f"redeem request P001 BUS --actor {RECORDER}").splitlines()
    assert out == [
        "redemption #3: Bus pass (BUS) for P001, 25 points, requested",
        "P001: 95 available, 65 held",
    ]


def test_redeem_request_replayed_by_key_writes_nothing(shop_db: Path) -> None:
    before = snapshot(shop_db)
    again = ok(shop_db, f"redeem request P001 GC10 --key REQ-1 --actor {CLIN}")
    assert (again["replayed"], again["redemption"]["id"]) == (True, 1)
    assert again["redemption"]["requested_by"] == RECORDER
    assert snapshot(shop_db) == before
    out = text(shop_db, f"redeem request P001 GC10 --key REQ-1 --actor {CLIN}")
    assert "already requested with this key; nothing written" in out
    assert snapshot(shop_db) == before


def test_redeem_approve(shop_db: Path) -> None:
    result = ok(shop_db, f"redeem approve 1 --actor {CLIN}")
    assert (result["redemption"]["status"], result["redemption"]["approved_by"]) == (
        "approved",
        CLIN,
    )
    assert is_utc_text(result["redemption"]["approved_at"])
    assert result["balance"]["held_points"] == 40
    assert statuses(shop_db) == {1: "approved", 2: "fulfilled"}


def test_redeem_fulfil(shop_db: Path) -> None:
    ok(shop_db, f"redeem approve 1 --actor {CLIN}")
    result = ok(shop_db, f"redeem fulfil 1 --note 'receipt 88' --cost-cents 999 --actor {CLIN2}")
    done = result["redemption"]
    assert (done["status"], done["fulfilled_by"], done["note"], done["actual_cost_cents"]) == (
        "fulfilled",
        CLIN2,
        "receipt 88",
        999,
    )
    assert is_utc_text(done["fulfilled_at"])
    assert (result["balance"]["points"], result["balance"]["held_points"]) == (120, 0)
    assert balance(shop_db) == (120, 120, 0)
    assert stocks(shop_db)["GC10"] == 1


def test_redeem_fulfil_without_note_or_cost(shop_db: Path) -> None:
    ok(shop_db, f"redeem approve 1 --actor {CLIN}")
    done = ok(shop_db, f"redeem fulfil 1 --actor {CLIN}")["redemption"]
    assert (done["status"], done["note"], done["actual_cost_cents"]) == ("fulfilled", None, None)


def test_redeem_cancel(shop_db: Path) -> None:
    result = ok(shop_db, f"redeem cancel 1 --reason 'chose another item' --actor {CLIN} --yes")
    closed = result["redemption"]
    assert (closed["status"], closed["closed_by"], closed["close_reason"]) == (
        "cancelled",
        CLIN,
        "chose another item",
    )
    assert is_utc_text(closed["closed_at"])
    assert balance(shop_db) == (160, 160, 0)
    assert stocks(shop_db)["GC10"] == 2


def test_redeem_list(shop_db: Path) -> None:
    listed = ok(shop_db, "redeem list")
    assert [(r["id"], r["participant"], r["sku"], r["status"]) for r in listed] == [
        (1, "P001", "GC10", "requested"),
        (2, "P001", "GC10", "fulfilled"),
    ]
    assert listed[1]["note"] == "card ending 4417"
    assert ok(shop_db, "redeem list --participant P001") == listed
    assert ok(shop_db, "redeem list --participant P002") == []
    lines = text(shop_db, "redeem list").splitlines()
    today = f"{dt.datetime.now(dt.UTC):%Y-%m-%d}"
    assert [cells(line) for line in lines] == [
        ["id", "requested", "participant", "item", "sku", "points", "state", "since"],
        ["1", today, "P001", "$10 grocery card", "GC10", "40", "requested", today],
        ["2", today, "P001", "$10 grocery card", "GC10", "40", "fulfilled", today],
    ]
    assert text(shop_db, "redeem list --participant P002").strip() == "no redemptions"


def cells(line: str) -> list[str]:
    """A table row's cells (columns are two or more spaces apart), a time as its date."""
    return [re.sub(r" \d\d:\d\d UTC$", "", cell) for cell in re.split(r"\s{2,}", line.strip())]


def test_redeem_list_by_state_is_the_approval_queue(shop_db: Path) -> None:
    queue = ok(shop_db, "redeem list --state requested")
    assert [(r["id"], r["status"]) for r in queue] == [(1, "requested")]
    assert ok(shop_db, "redeem list --state approved") == []
    assert text(shop_db, "redeem list --state approved").strip() == "no approved redemptions"
    assert [r["id"] for r in ok(shop_db, "redeem list --state fulfilled --participant P001")] == [2]
    assert_error(invoke(shop_db, "redeem list --state pending"), 2)


# --- expiry ---------------------------------------------------------------------------------


def overdue_request(db: Path, sku: str = "BUS") -> int:
    """A request made 40 days ago (through the library with a clock set back): overdue now."""
    clock = FakeClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=40))
    with cmrewards.open(db, clock=clock) as clinic:
        return clinic.request_redemption("P001", sku, actor=RECORDER).redemption.id


def test_expire_releases_overdue_holds(shop_db: Path) -> None:
    rid = overdue_request(shop_db)
    assert balance(shop_db) == (160, 95, 65)
    expired = ok(shop_db, f"expire --actor {CLIN}")
    assert [(r["id"], r["status"], r["closed_by"]) for r in expired] == [(rid, "cancelled", CLIN)]
    assert "expired" in expired[0]["close_reason"]
    assert balance(shop_db) == (160, 120, 40)
    assert statuses(shop_db) == {1: "requested", 2: "fulfilled", rid: "cancelled"}
    assert ok(shop_db, f"expire --actor {CLIN}") == []


def test_expire_as_text(shop_db: Path) -> None:
    rid = overdue_request(shop_db, "GC10")
    lines = text(shop_db, f"expire --actor {ADMIN}").splitlines()
    assert [cells(line)[2:7] for line in lines] == [
        ["participant", "item", "sku", "points", "state"],
        ["P001", "$10 grocery card", "GC10", "40", "cancelled"],
    ]
    assert cells(lines[1])[0] == str(rid)
    assert stocks(shop_db)["GC10"] == 1
    assert text(shop_db, f"expire --actor {ADMIN}").strip() == "no holds were overdue"


def test_any_write_expires_an_overdue_hold(shop_db: Path) -> None:
    rid = overdue_request(shop_db)
    ok(shop_db, f"catalog restock GC10 --quantity 1 --actor {ADMIN}")
    assert statuses(shop_db)[rid] == "cancelled"
    assert balance(shop_db) == (160, 120, 40)


# --- prizes ---------------------------------------------------------------------------------


@pytest.fixture
def prize_db(shop_db: Path) -> tuple[Path, dict[str, Any]]:
    """``shop_db`` with F001 on petry-fishbowl, who has won prizes (seeds injected)."""
    ok(shop_db, f"program add --preset petry-fishbowl --timezone UTC --actor {ADMIN}")
    ok(shop_db, f"enroll F001 --program petry-fishbowl --start {START} --actor {ADMIN}")
    ok(shop_db, f"catalog add BIG --name 'Big prize' --cost 0 --stock 1 --category large"
                f" --actor {ADMIN}")  # fmt: skip
    with cmrewards.open(shop_db, seeds=iter(range(1, 1000)).__next__) as clinic:
        for day in (0, 3, 7, 10, 14, 17):
            clinic.record("F001", "stimulant-negative", "met", at=at_day(day), actor=RECORDER)
    prizes = ok(shop_db, "prize list F001")
    assert prizes, "the injected seeds should win prizes"
    first = prizes[0]
    return shop_db, first


def test_prize_list(prize_db: tuple[Path, dict[str, Any]]) -> None:
    db, first = prize_db
    prizes = ok(db, "prize list F001")
    for prize in prizes:
        assert prize["participant"] == "F001"
        assert prize["status"] == "owed"
        assert prize["category"] in {"small", "large", "jumbo"}
        assert (
            prize["value_cents"] == {"small": 100, "large": 2000, "jumbo": 10000}[prize["category"]]
        )
    assert [p["id"] for p in prizes] == list(range(1, len(prizes) + 1))
    lines = text(db, "prize list F001").splitlines()
    assert len(lines) == 1 + len(prizes)
    assert cells(lines[0]) == ["id", "participant", "won", "category", "value", "status"]
    assert cells(lines[1])[:2] + cells(lines[1])[3:] == [
        str(first["id"]),
        "F001",
        first["category"],
        cmrewards.format_cents(first["value_cents"]),
        "owed",
    ]
    assert ok(db, "prize list P001") == []
    assert text(db, "prize list P001").strip() == "P001 has won no prizes"


def test_prize_fulfil(prize_db: tuple[Path, dict[str, Any]]) -> None:
    db, first = prize_db
    sku = {"small": "TOY", "large": "BIG"}[first["category"]]
    before = stocks(db)[sku]
    assert before is not None
    handed = ok(db, f"prize fulfil {first['id']} --sku {sku} --note 'from the cabinet'"
                    f" --actor {CLIN}")  # fmt: skip
    assert handed == first | {"status": "fulfilled"}
    assert stocks(db)[sku] == before - 1
    assert ok(db, "prize list F001")[0]["status"] == "fulfilled"
    snap = snapshot(db)
    error = assert_error(invoke(db, f"prize fulfil {first['id']} --sku {sku} --actor {CLIN}"), 1)
    assert error["type"] == "InvalidTransition"
    assert snapshot(db) == snap


def test_prize_fulfil_as_text(prize_db: tuple[Path, dict[str, Any]]) -> None:
    db, first = prize_db
    sku = {"small": "TOY", "large": "BIG"}[first["category"]]
    out = text(db, f"prize fulfil {first['id']} --sku {sku} --actor {CLIN}")
    name = {"small": "Toy", "large": "Big prize"}[first["category"]]
    assert out == f"prize #{first['id']} ({first['category']}) handed over as {name} ({sku})\n"


@pytest.mark.parametrize("case", ["wrong-category", "not-a-prize-item", "out-of-stock"])
def test_prize_fulfil_refusals(prize_db: tuple[Path, dict[str, Any]], case: str) -> None:
    db, first = prize_db
    if case == "out-of-stock":
        ok(db, f"catalog add GONE --name Gone --cost 0 --stock 0 --category {first['category']}"
               f" --actor {ADMIN}")  # fmt: skip
    sku, kind = {
        "wrong-category": (
            {"small": "BIG", "large": "TOY"}[first["category"]], "InvalidTransition"
        ),
        "not-a-prize-item": ("GC10", "InvalidTransition"),
        "out-of-stock": ("GONE", "OutOfStock"),
    }[case]  # fmt: skip
    before = snapshot(db)
    error = assert_error(invoke(db, f"prize fulfil {first['id']} --sku {sku} --actor {CLIN}"), 1)
    assert error["type"] == kind
    assert snapshot(db) == before


# --- reverse --returned -------------------------------------------------------------------


def test_reverse_a_spend_gives_the_points_back(shop_db: Path) -> None:
    result = ok(shop_db, f"reverse 4 --reason 'card never activated' --actor {ADMIN} --yes")
    transfer = result["transfer"]
    assert (transfer["kind"], transfer["reverses"], transfer["amount"]) == ("reversal", 4, 40)
    assert (transfer["from_account"], transfer["to_account"]) == ("redeemed", "held:P001")
    assert (result["balance"]["points"], result["balance"]["held_points"]) == (200, 40)
    assert balance(shop_db) == (200, 160, 40)
    assert statuses(shop_db) == {1: "requested", 2: "reversed"}
    assert stocks(shop_db)["GC10"] == 1  # not returned: the card is gone


def test_reverse_returned_puts_the_item_back(shop_db: Path) -> None:
    result = ok(shop_db, f"reverse 4 --reason 'returned unopened' --returned --actor {ADMIN} --yes")
    assert (result["transfer"]["kind"], result["transfer"]["reverses"]) == ("reversal", 4)
    assert balance(shop_db) == (200, 160, 40)
    assert statuses(shop_db) == {1: "requested", 2: "reversed"}
    assert stocks(shop_db)["GC10"] == 2
    before = snapshot(shop_db)
    error = assert_error(
        invoke(shop_db, f"reverse 4 --reason again --returned --actor {ADMIN} --yes"), 1
    )
    assert error["type"] == "InvalidTransition"
    assert snapshot(shop_db) == before


def test_verify_finds_a_stock_edited_past_the_library(shop_db: Path) -> None:
    conn = sqlite3.connect(shop_db)
    try:
        conn.execute("UPDATE catalog SET stock = 9 WHERE sku = 'GC10'")
        conn.commit()
    finally:
        conn.close()
    result = invoke(shop_db, "verify")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert "GC10 has stock 9 but its movements add up to 1" in [
        problem["message"] for problem in report["problems"]
    ]
    assert result.stderr.splitlines() == ["cmrewards: verify found 1 problem"]


# --- refusals: exit 1, one line, nothing written --------------------------------------------

HUGE = "99999999999999999999"

REFUSED = [
    # points, stock and what is for sale
    pytest.param(f"redeem request P002 GC10 --actor {RECORDER}", "InsufficientPoints", id="poor"),
    pytest.param(f"redeem request P001 EMPTY --actor {RECORDER}", "OutOfStock", id="sold-out"),
    pytest.param(f"redeem request P001 TOY --actor {RECORDER}", "InvalidTransition", id="prize"),
    # not found
    pytest.param(f"redeem request P999 GC10 --actor {RECORDER}", "NotFound", id="no-person"),
    pytest.param(f"redeem request P001 NOPE --actor {RECORDER}", "NotFound", id="no-sku"),
    pytest.param(f"redeem approve 99 --actor {CLIN}", "NotFound", id="approve-unknown"),
    pytest.param(f"redeem approve 0 --actor {CLIN}", "NotFound", id="approve-0"),
    pytest.param(f"redeem approve --actor {CLIN} -- -1", "NotFound", id="approve-negative"),
    pytest.param(f"redeem approve {HUGE} --actor {CLIN}", "NotFound", id="approve-huge"),
    pytest.param(f"redeem fulfil 99 --actor {CLIN}", "NotFound", id="fulfil-unknown"),
    pytest.param(f"redeem fulfil {HUGE} --actor {CLIN}", "NotFound", id="fulfil-huge"),
    pytest.param(
        f"redeem cancel 99 --reason x --actor {CLIN} --yes", "NotFound", id="cancel-unknown"
    ),
    pytest.param(
        f"redeem cancel {HUGE} --reason x --actor {CLIN} --yes", "NotFound", id="cancel-huge"
    ),
    pytest.param("redeem list --participant P999", "NotFound", id="list-unknown"),
    pytest.param(f"catalog restock NOPE --quantity 1 --actor {ADMIN}", "NotFound", id="restock-?"),
    pytest.param("prize list P999", "NotFound", id="prizes-unknown"),
    pytest.param(f"prize fulfil 99 --sku TOY --actor {CLIN}", "NotFound", id="prize-unknown"),
    pytest.param(f"prize fulfil {HUGE} --sku TOY --actor {CLIN}", "NotFound", id="prize-huge"),
    # permission
    pytest.param("redeem request P001 GC10 --actor ghost", "PermissionDenied", id="ghost"),
    pytest.param(f"redeem approve 1 --actor {RECORDER}", "PermissionDenied", id="rec-approves"),
    pytest.param(f"redeem fulfil 1 --actor {RECORDER}", "PermissionDenied", id="rec-fulfils"),
    pytest.param(
        f"redeem cancel 1 --reason x --actor {RECORDER} --yes", "PermissionDenied", id="rec-cancels"
    ),
    pytest.param(
        f"catalog add NEW --name New --cost 5 --actor {CLIN}", "PermissionDenied", id="clin-adds"
    ),
    pytest.param(
        f"catalog restock GC10 --quantity 1 --actor {CLIN}", "PermissionDenied", id="clin-stocks"
    ),
    pytest.param(
        f"prize fulfil 1 --sku TOY --actor {RECORDER}", "PermissionDenied", id="rec-prize"
    ),
    pytest.param(
        f"reverse 4 --reason x --actor {CLIN} --yes", "PermissionDenied", id="clin-reverses"
    ),
    pytest.param("expire --actor ghost", "PermissionDenied", id="ghost-expires"),
    # state
    pytest.param(f"redeem fulfil 1 --actor {CLIN}", "InvalidTransition", id="not-approved"),
    pytest.param(f"redeem approve 2 --actor {CLIN}", "InvalidTransition", id="approve-done"),
    pytest.param(f"redeem fulfil 2 --actor {CLIN}", "InvalidTransition", id="fulfil-twice"),
    pytest.param(
        f"redeem cancel 2 --reason x --actor {CLIN} --yes", "InvalidTransition", id="cancel-done"
    ),
    pytest.param(
        f"catalog restock BUS --quantity 1 --actor {ADMIN}", "InvalidTransition", id="on-demand"
    ),
    pytest.param(
        f"catalog add GC10 --name Again --cost 5 --actor {ADMIN}", "AlreadyExists", id="sku-twice"
    ),
    pytest.param(
        f"reverse 2 --reason x --actor {ADMIN} --yes", "InvalidTransition", id="reverse-hold"
    ),
    # idempotency
    pytest.param(
        f"redeem request P001 BUS --key REQ-1 --actor {RECORDER}",
        "IdempotencyConflict",
        id="key-reused",
    ),
]


@pytest.mark.parametrize(("command", "kind"), REFUSED)
@pytest.mark.parametrize("json_output", [True, False], ids=["json", "text"])
def test_refused_by_a_rule_exits_1_and_writes_nothing(
    shop_db: Path, command: str, kind: str, json_output: bool
) -> None:
    before = snapshot(shop_db)
    error = assert_error(
        invoke(shop_db, command, json_output=json_output), 1, json_output=json_output
    )
    if json_output:
        assert error["type"] == kind
    assert snapshot(shop_db) == before


# --- bad values: exit 2, one line, nothing written -------------------------------------------

ADD = f"catalog add NEW --name New --actor {ADMIN}"
RESTOCK = f"catalog restock GC10 --actor {ADMIN}"
FULFIL = f"redeem fulfil 1 --actor {CLIN}"

INVALID = [
    # catalog add
    pytest.param(f"{ADD} --cost -1", id="cost-negative"),
    pytest.param(f"{ADD} --cost 1000000001", id="cost-too-big"),
    pytest.param(f"{ADD} --cost {HUGE}", id="cost-huge"),
    pytest.param(f"{ADD} --cost ten", id="cost-word"),
    pytest.param(f"{ADD} --cost 2.5", id="cost-fraction"),
    pytest.param(f"{ADD} --cost 5 --stock abc", id="stock-word"),
    pytest.param(f"{ADD} --cost 5 --stock 1.5", id="stock-fraction"),
    pytest.param(f"{ADD} --cost 5 --stock -1", id="stock-negative"),
    pytest.param(f"{ADD} --cost 5 --stock 100001", id="stock-too-big"),
    pytest.param(f"{ADD} --cost 5 --stock {HUGE}", id="stock-huge"),
    pytest.param(f"{ADD} --cost 5 --low-stock -1", id="low-stock-negative"),
    pytest.param(f"{ADD} --cost 5 --category 'two words'", id="category-words"),
    pytest.param(f"catalog add 'gift card' --name x --cost 5 --actor {ADMIN}", id="sku-words"),
    pytest.param(f"catalog add NEW --name ' ' --cost 5 --actor {ADMIN}", id="blank-name"),
    pytest.param(f"catalog add NEW --cost 5 --actor {ADMIN}", id="missing-name"),
    pytest.param(f"{ADD}", id="missing-cost"),
    pytest.param("catalog add NEW --name x --cost 5", id="missing-actor"),
    # catalog restock
    pytest.param(f"{RESTOCK} --quantity 0", id="quantity-0"),
    pytest.param(f"{RESTOCK} --quantity -3", id="quantity-negative"),
    pytest.param(f"{RESTOCK} --quantity x", id="quantity-word"),
    pytest.param(f"{RESTOCK} --quantity 100001", id="quantity-too-big"),
    pytest.param(f"{RESTOCK} --quantity {HUGE}", id="quantity-huge"),
    pytest.param(f"{RESTOCK}", id="missing-quantity"),
    # redeem
    pytest.param(f"redeem request P001 --actor {RECORDER}", id="request-missing-sku"),
    pytest.param(f"redeem request P001 GC10 --key ' ' --actor {RECORDER}", id="blank-key"),
    pytest.param(f"redeem approve one --actor {CLIN}", id="approve-word"),
    pytest.param("redeem approve 1", id="approve-missing-actor"),
    pytest.param(f"{FULFIL} --cost-cents -1", id="cost-cents-negative"),
    pytest.param(f"{FULFIL} --cost-cents 1000000001", id="cost-cents-too-big"),
    pytest.param(f"{FULFIL} --cost-cents {HUGE}", id="cost-cents-huge"),
    pytest.param(f"{FULFIL} --cost-cents 9.99", id="cost-cents-fraction"),
    pytest.param(f"{FULFIL} --note 'two\nlines'", id="note-two-lines"),
    pytest.param(f"redeem cancel 1 --reason ' ' --actor {CLIN} --yes", id="blank-reason"),
    pytest.param(f"redeem cancel 1 --actor {CLIN} --yes", id="missing-reason"),
    pytest.param(f"redeem fulfil 1.5 --actor {CLIN}", id="id-fraction"),
    # prizes, expiry, reverse
    pytest.param(f"prize fulfil first --sku TOY --actor {CLIN}", id="prize-word"),
    pytest.param(f"prize fulfil 1 --actor {CLIN}", id="prize-missing-sku"),
    pytest.param("expire", id="expire-missing-actor"),
    pytest.param(f"reverse 4 --reason x --returned yes --actor {ADMIN} --yes", id="returned-value"),
    # groups without a command
    pytest.param("catalog", id="catalog-alone"),
    pytest.param("redeem", id="redeem-alone"),
    pytest.param("prize", id="prize-alone"),
]


@pytest.mark.parametrize("command", INVALID)
@pytest.mark.parametrize("json_output", [True, False], ids=["json", "text"])
def test_invalid_input_exits_2_and_writes_nothing(
    shop_db: Path, command: str, json_output: bool
) -> None:
    before = snapshot(shop_db)
    assert_error(invoke(shop_db, command, json_output=json_output), 2, json_output=json_output)
    assert snapshot(shop_db) == before
