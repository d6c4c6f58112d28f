"""``verify`` reports problems as data: which check found it, which record, what is wrong.

One small SQLite clinic is edited with raw ``sqlite3`` (the table's guard triggers
dropped, as a stray script would); each edit must come back as the ``Problem`` a
caller can act on without reading its text, and the CLI must print the same
messages (text) or the same records (``--json``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import cmrewards
from cmrewards import Clinic
from cmrewards.cli import cli
from cmrewards.domain.problems import Check, Problem
from cmrewards.domain.refs import Ref, RefKind, account_ref
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
HIGGINS = "higgins-vbrt"
STIM = "stimulant-negative"
CARD = "GC10"


@pytest.fixture
def clinic_file(tmp_path: Path) -> Iterator[tuple[Clinic, Path]]:
    """P001 on higgins-vbrt: four outcomes (awards 1-4), 100 points of goodwill (transfer 5),
    a gift card requested (redemption 1, hold 6) and the second award reversed (7)."""
    path = tmp_path / "clinic.db"
    clinic = cmrewards.open(path, clock=FakeClock(), seeds=iter(range(1, 10**6)).__next__)
    clinic.init(ADMIN)
    clinic.add_program(cmrewards.load_preset(HIGGINS), actor=ADMIN)
    clinic.enroll("P001", HIGGINS, start=START, actor=ADMIN)
    for day in range(4):
        clinic.record("P001", STIM, "met", at=visit(3 * day), actor=ADMIN)
    clinic.adjust("P001", 100, reason="goodwill", actor=ADMIN)
    clinic.add_item(CARD, name="Card", cost=40, stock=3, actor=ADMIN)
    clinic.request_redemption("P001", CARD, actor=ADMIN)
    clinic.reverse(2, reason="entered twice", actor=ADMIN)
    report = clinic.verify()
    assert (report.ok, report.problems) == (True, ())
    yield clinic, path
    clinic.close()


def raw_edit(path: Path, table: str, statement: str) -> None:
    """Run one statement with sqlite3 past the table's guard triggers, then put them back
    (a guard left dropped is a problem of its own)."""
    conn = sqlite3.connect(path)
    try:
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", [table]
        ).fetchall()
        for trigger, _ in triggers:
            conn.execute(f"DROP TRIGGER {trigger}")
        assert conn.execute(statement).rowcount == 1
        for _, sql in triggers:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


CASES = {
    "transfer edited": (
        "transfers",
        "UPDATE transfers SET reason = 'typo' WHERE id = 5",
        Problem(
            Check.TRANSFER_CHAIN,
            Ref(RefKind.TRANSFER, 5),
            "transfer 5: hash does not match its contents (edited outside cmrewards)",
        ),
    ),
    "outcome deleted": (
        "outcomes",
        "DELETE FROM outcomes WHERE id = 3",
        Problem(
            Check.OUTCOME_CHAIN,
            Ref(RefKind.OUTCOME, 4),
            "outcome 4: previous hash does not match (a row was removed or reordered)",
        ),
    ),
    "cached balance": (
        "balances",
        "UPDATE balances SET points = points + 1 WHERE account = 'available:P001'",
        Problem(
            Check.BALANCE,
            account_ref(HIGGINS, "available:P001"),
            "balance of available:P001 in higgins-vbrt is 156 but its transfers sum to 155",
        ),
    ),
    "schedule state": (
        "schedule_states",
        "UPDATE schedule_states SET run = run + 1 WHERE participant = 'P001'",
        Problem(
            Check.SCHEDULE_REPLAY,
            Ref(RefKind.PARTICIPANT, "P001"),
            "schedule state of P001 stimulant-negative is ScheduleState(pos=4, run=5,"
            " saved=None, last_week=2) but replaying its outcomes gives"
            " ScheduleState(pos=4, run=4, saved=None, last_week=2)",
        ),
    ),
    "redemption cancelled by hand": (
        "redemptions",
        "UPDATE redemptions SET status = 'cancelled' WHERE id = 1",
        Problem(
            Check.REDEMPTION,
            Ref(RefKind.REDEMPTION, 1),
            "redemption 1 is cancelled but its transfers are hold",
        ),
    ),
    "points held for nothing": (
        "redemptions",
        "UPDATE redemptions SET status = 'cancelled' WHERE id = 1",
        Problem(
            Check.REDEMPTION,
            account_ref(HIGGINS, "held:P001"),
            "P001 has 40 points held but open redemptions cost 0",
        ),
    ),
    "stock counted by hand": (
        "catalog",
        f"UPDATE catalog SET stock = 7 WHERE sku = '{CARD}'",
        Problem(
            Check.STOCK,
            Ref(RefKind.CATALOG_ITEM, CARD),
            f"{CARD} has stock 7 but its movements add up to 2",
        ),
    ),
    "participant edited": (
        "participants",
        "UPDATE participants SET start_date = '2027-01-05' WHERE id = 'P001'",
        Problem(
            Check.JOURNAL,
            Ref(RefKind.PARTICIPANT, "P001"),
            "participant P001 was changed outside cmrewards (differs from its journal entry)",
        ),
    ),
    "journal entry edited": (
        "journal",
        "UPDATE journal SET at = '2027-06-01T12:00:01.000000Z' WHERE id = 1",
        Problem(
            Check.JOURNAL_CHAIN,
            Ref(RefKind.JOURNAL_ENTRY, 1),
            "journal entry 1: hash does not match its contents (edited outside cmrewards)",
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_edit_is_a_problem_naming_its_check_and_record(
    clinic_file: tuple[Clinic, Path], name: str
) -> None:
    clinic, path = clinic_file
    table, statement, expected = CASES[name]
    raw_edit(path, table, statement)
    report = clinic.verify()
    assert not report.ok
    assert expected in report.problems, report.problems
    assert str(expected) == expected.message


def test_the_engine_s_own_findings_are_problems_about_no_single_record(
    clinic_file: tuple[Clinic, Path],
) -> None:
    clinic, path = clinic_file
    raw_edit(path, "cmrewards_meta", "INSERT INTO cmrewards_meta VALUES ('owner', 'someone')")
    report = clinic.verify()
    expected = Problem(Check.ENGINE, None, "cmrewards_meta was changed outside cmrewards")
    assert report.problems[0] == expected


def test_a_check_the_records_stop_from_running_is_one_problem_about_no_record(
    clinic_file: tuple[Clinic, Path],
) -> None:
    clinic, path = clinic_file
    raw_edit(path, "outcomes", "UPDATE outcomes SET target = 'gone' WHERE id = 4")
    report = clinic.verify()
    assert report.problems == (
        Problem(
            Check.OUTCOME_CHAIN,
            Ref(RefKind.OUTCOME, 4),
            "outcome 4: hash does not match its contents (edited outside cmrewards)",
        ),
        Problem(
            Check.SCHEDULE_REPLAY,
            None,
            "the schedules could not be checked: the records contradict each other"
            " (program higgins-vbrt has no target 'gone' (targets: stimulant-negative))",
        ),
    )


ONE_DRAW_TOML = """
id = "one-draw"
name = "A draw a negative; every slip wins"
timezone = "UTC"
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 2
schedule = { kind = "fixed", award = "draws", amount = 1 }

[[bowl]]
category = "small"
slips = 10
value_cents = 100
"""


def test_a_count_of_one_is_singular_in_verify_s_messages(tmp_path: Path) -> None:
    """Newcomer finding (session 6): "still gives 0 points and 1 prizes". A voided outcome's
    withdrawn prize put back by hand is owed again: one prize."""
    path = tmp_path / "clinic.db"
    clinic = cmrewards.open(path, clock=FakeClock())
    clinic.init(ADMIN)
    program = tmp_path / "one-draw.toml"
    program.write_text(ONE_DRAW_TOML, encoding="utf-8")
    clinic.add_program(cmrewards.load_program_file(program), actor=ADMIN)
    clinic.enroll("P001", "one-draw", start=START, actor=ADMIN)
    recorded = clinic.record("P001", STIM, "met", at=visit(0), actor=ADMIN)
    (prize,) = recorded.prizes
    clinic.void(recorded.outcome_id, reason="entered in error", actor=ADMIN)
    raw_edit(
        path, "prize_withdrawals", f"DELETE FROM prize_withdrawals WHERE prize_id = {prize.id}"
    )
    messages = [p.message for p in clinic.verify().problems]
    clinic.close()
    voided = f"outcome {recorded.outcome_id} was voided but still gives 0 points and 1 prize"
    assert voided in messages


def test_the_cli_prints_each_message_and_gives_the_records_in_json(
    clinic_file: tuple[Clinic, Path],
) -> None:
    clinic, path = clinic_file
    raw_edit(path, "catalog", f"UPDATE catalog SET stock = 7 WHERE sku = '{CARD}'")
    report = clinic.verify()
    messages = [p.message for p in report.problems]

    text = CliRunner().invoke(cli, ["--db", str(path), "verify"])
    assert text.exit_code == 3, text.output
    assert text.stdout.splitlines()[:-1] == messages

    as_json = CliRunner().invoke(cli, ["--db", str(path), "--json", "verify"])
    assert as_json.exit_code == 3, as_json.output
    document = json.loads(as_json.stdout)
    assert document["problems"] == [
        {
            "check": "stock",
            "ref": {"kind": "catalog-item", "id": CARD},
            "message": f"{CARD} has stock 7 but its movements add up to 2",
        }
    ]


def test_keys_stored_in_the_earlier_spelling_verify_and_their_edits_are_problems(
    clinic_file: tuple[Clinic, Path],
) -> None:
    """A key's result was stored as ``json.dumps(sort_keys=True)`` before verify's fourth
    pass (issue 16) and canonically since; ``verify`` hashes the canonical text as it is and
    parses any other, so a file written before still passes, and an edit to such a row
    still shows."""
    clinic, path = clinic_file
    clinic.record("P001", STIM, "met", at=visit(12), actor=ADMIN, key="lab-7")
    conn = sqlite3.connect(path)
    (stored,) = conn.execute("SELECT result FROM idempotency WHERE key = 'lab-7'").fetchone()
    conn.close()
    earlier = json.dumps(json.loads(stored), sort_keys=True)
    assert earlier != stored
    raw_edit(path, "idempotency", f"UPDATE idempotency SET result = '{earlier}'")
    assert clinic.verify().ok
    edited = earlier.replace('"met"', '"not-met"')
    raw_edit(path, "idempotency", f"UPDATE idempotency SET result = '{edited}'")

    assert clinic.verify().problems == (
        Problem(
            Check.JOURNAL,
            Ref(RefKind.IDEMPOTENCY_KEY, f"{HIGGINS}/lab-7"),
            f"idempotency-key {HIGGINS}/lab-7 was changed outside cmrewards"
            " (differs from its journal entry)",
        ),
    )
