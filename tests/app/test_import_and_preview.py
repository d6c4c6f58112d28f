"""``preview`` and bulk ``import`` (docs/design.md sections 3 and 7), through the API and the CLI.

Import: header ``participant,target,outcome,at,key,note``; rows applied in file order, in
chunks of one transaction each; a row already applied (same key, or the same contents
when the key is empty) is skipped as a replay; the first bad row stops the import with its
line number, everything before it committed and reported. Exit codes: 2 for invalid
input, 1 for a refusal by a rule.

CLI tests run with the real clock, so their participants are enrolled four weeks ago and
every clinical time is in the past; API tests use the conftest ``FakeClock``.
"""

from __future__ import annotations

import contextvars
import csv
import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import pytest
from click.testing import CliRunner, Result

import cmrewards
from cmrewards import Clinic
from cmrewards.app.lab_file import BadRow, ImportReport, ImportRow, read_rows
from cmrewards.cli import cli
from support.cli import snapshot
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"
SECONDARY = "secondary-negative"
HEADER = "participant,target,outcome,at,key,note"
TODAY = dt.datetime.now(dt.UTC).date()
CLI_START = TODAY - dt.timedelta(weeks=4)
"""Enrolment date for CLI tests: four weeks ago, so every row below is in the past."""

Row = tuple[str, str, str, str, str, str]


# --- helpers ---------------------------------------------------------------------------


class At(Protocol):
    """ISO time of a clinic visit ``day`` days after enrolment."""

    def __call__(self, day: int, hour: int = 9) -> str: ...


def cli_at(day: int, hour: int = 9) -> str:
    return f"{CLI_START + dt.timedelta(days=day)}T{hour:02d}:30:00+00:00"


def api_at(day: int, hour: int = 9) -> str:
    return visit(day, hour).isoformat()


def lab_rows(at: At, *, keys: bool = True) -> list[Row]:
    """A lab export: P001 on higgins-vbrt, P002 on petry-fishbowl."""
    rows = [
        ("P001", STIM, "met", at(0), "LAB-001", ""),
        ("P002", STIM, "met", at(0), "LAB-002", ""),
        ("P002", SECONDARY, "met", at(0), "LAB-003", ""),
        ("P001", STIM, "met", at(2), "LAB-004", "observed collection"),
        ("P002", STIM, "met", at(3), "LAB-005", ""),
        ("P002", SECONDARY, "not_met", at(3), "LAB-006", ""),
        ("P001", STIM, "met", at(4), "LAB-007", ""),
        ("P002", STIM, "not_met", at(7), "LAB-008", ""),
        ("P001", STIM, "not_met", at(7), "LAB-009", ""),
        ("P001", STIM, "met", at(9), "LAB-010", ""),
        ("P002", STIM, "met", at(10), "LAB-011", ""),
        ("P002", SECONDARY, "met", at(10), "LAB-012", ""),
        ("P001", STIM, "excused", at(11), "LAB-013", ""),
        ("P001", STIM, "met", at(14), "LAB-014", ""),
    ]
    return rows if keys else [(p, t, o, a, "", n) for p, t, o, a, _, n in rows]


P001_POINTS = 10 + 15 + (20 + 40) + 10 + 15
"""higgins-vbrt: three negatives, a positive (reset), a negative, excused, a negative."""


def write_csv(path: Path, rows: Iterable[Row], header: str = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        file.write(header + "\n")
        writer = csv.writer(file, lineterminator="\n")
        writer.writerows(rows)
    return path


def setup_clinic(clinic: Clinic, start: dt.date) -> None:
    clinic.init(ADMIN)
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
    clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    clinic.enroll("P001", "higgins-vbrt", start=start, actor=ADMIN)
    clinic.enroll("P002", "petry-fishbowl", start=start, actor=ADMIN)


def cli_db(path: Path) -> Path:
    """A database for CLI tests (real clock, random seeds)."""
    with cmrewards.open(path) as clinic:
        setup_clinic(clinic, CLI_START)
    return path


def counter() -> Callable[[], int]:
    return iter(range(1, 10**6)).__next__


def api_clinic(path: Path, clock: FakeClock) -> Clinic:
    clinic = cmrewards.open(path, clock=clock, seeds=counter())
    setup_clinic(clinic, START)
    return clinic


def invoke(db: Path, *args: str, json_output: bool = True) -> Result:
    top = ["--db", str(db), *(["--json"] if json_output else [])]
    runner = CliRunner()
    return contextvars.Context().run(runner.invoke, cli, [*top, *args], prog_name="cmrewards")


def import_cli(db: Path, csv_path: Path, *extra: str, json_output: bool = True) -> Result:
    return invoke(db, "import", str(csv_path), "--actor", ADMIN, *extra, json_output=json_output)


def report_of(result: Result, code: int = 0) -> dict[str, Any]:
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stdout + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)  # exactly one JSON document
    return document


def outcome_rows(db: Path) -> list[tuple[Any, ...]]:
    """What was recorded, without wall-clock times or seeds (whether a seed was drawn)."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(
            "SELECT participant, target, outcome, occurred_at, key, note, seed IS NOT NULL"
            " FROM outcomes ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def summary(db: Path) -> dict[str, Any]:
    """Balances, outcome counts, history kinds and schedule standing of every participant."""
    with cmrewards.open(db) as clinic:
        report = clinic.verify()
        assert report.ok, report.problems
        people = ("P001", "P002")
        return {
            "outcomes": report.outcomes,
            "transfers": report.transfers,
            "balances": {p: clinic.balance(p) for p in people},
            "history": {
                p: [(e.kind, e.detail, e.points) for e in clinic.history(p)] for p in people
            },
            "preview": {
                p: [(v.target, v.streak, v.next_amount) for v in clinic.preview(p)] for p in people
            },
            "recorded": outcome_rows(db),
        }


def api_import(
    clinic: Clinic,
    csv_path: Path,
    *,
    chunk_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    with csv_path.open(encoding="utf-8", newline="") as file:
        return clinic.import_outcomes(
            read_rows(file, str(csv_path)), actor=ADMIN, chunk_size=chunk_size, progress=progress
        )


# --- preview -------------------------------------------------------------------------------


def higgins_day(index: int) -> int:
    """Three samples a week: Monday, Wednesday, Friday."""
    return (index // 3) * 7 + (index % 3) * 2


PREVIEW_DAY = 40
"""The preview speaks of the program week it is in: week 6 of the 12 paid ones."""


def test_preview_after_four_negatives(higgins: Clinic, clock: FakeClock) -> None:
    clock.now = visit(PREVIEW_DAY, hour=12)
    for index in range(4):
        higgins.record("P001", STIM, "met", at=visit(higgins_day(index)), actor=ADMIN)
    (shown,) = higgins.preview("P001")
    assert shown.target == STIM
    assert shown.unit == "points"
    assert shown.streak == 4
    assert shown.next_amount == 30
    assert shown.next_bonus == 0
    assert shown.next_value_cents == 750
    assert shown.after_reset == 10
    assert shown.recovery_in is None
    assert "4 in a row" in shown.sentence
    assert "30 points ($7.50)" in shown.sentence
    assert "resets it to 10 points" in shown.sentence
    assert "positive" in shown.sentence
    # What preview promised is what the next negative pays.
    paid = higgins.record("P001", STIM, "met", at=visit(higgins_day(4)), actor=ADMIN)
    assert paid.award.points + paid.award.bonus_points == 30


def test_preview_of_a_fresh_participant_and_of_a_bonus(higgins: Clinic, clock: FakeClock) -> None:
    clock.now = visit(PREVIEW_DAY, hour=12)
    (fresh,) = higgins.preview("P001")
    assert (fresh.streak, fresh.next_amount, fresh.after_reset) == (0, 10, 10)
    assert "no current streak" in fresh.sentence
    for index in range(2):
        higgins.record("P001", STIM, "met", at=visit(higgins_day(index)), actor=ADMIN)
    (third,) = higgins.preview("P001")
    assert (third.next_amount, third.next_bonus, third.next_value_cents) == (60, 40, 1500)
    assert "60 points ($15.00), including a 40-point bonus" in third.sentence


def test_recovery_in_counts_down_after_a_reset(higgins: Clinic, clock: FakeClock) -> None:
    clock.now = visit(PREVIEW_DAY, hour=12)
    index = 0

    def record(outcome: str) -> cmrewards.RecordResult:
        nonlocal index
        result = higgins.record("P001", STIM, outcome, at=visit(higgins_day(index)), actor=ADMIN)
        index += 1
        return result

    for _ in range(10):
        record("met")
    assert record("not_met").award.reset
    # docs/design.md 3.1's worked example: the next four earn 10, 15, 20+40, 25; the fifth 55.
    expected_next = [10, 15, 60, 25, 55]
    for countdown, amount in zip([5, 4, 3, 2, 1], expected_next, strict=True):
        (shown,) = higgins.preview("P001")
        assert shown.recovery_in == countdown
        assert shown.next_amount == amount
        assert f"{countdown} more in a row restore the earlier level" in shown.sentence
        paid = record("met")
        assert paid.award.points + paid.award.bonus_points == amount
    assert paid.award.recovered
    (after,) = higgins.preview("P001")
    assert after.recovery_in is None
    assert "restore" not in after.sentence


def test_preview_of_a_prize_program_speaks_in_draws(any_clinic: Clinic, clock: FakeClock) -> None:
    any_clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    any_clinic.enroll("P001", "petry-fishbowl", start=START, actor=ADMIN)
    clock.now = visit(1, hour=12)  # week 1
    stim, secondary = any_clinic.preview("P001")
    assert (stim.target, stim.unit, stim.next_amount, stim.after_reset) == (STIM, "draws", 1, 1)
    assert stim.next_value_cents == 222  # one draw of the classic bowl: $2.218
    assert "1 draw (about $2.22)" in stim.sentence
    assert "resets it to 1 draw" in stim.sentence
    assert (secondary.next_amount, secondary.requires) == (2, (STIM,))
    assert "2 draws (about $4.44)" in secondary.sentence
    assert f"when {STIM} is met at the same visit" in secondary.sentence

    clock.now = visit(4, hour=12)  # still week 1
    for day in (0, 3):
        any_clinic.record("P001", STIM, "met", at=visit(day), actor=ADMIN)
    stim, _ = any_clinic.preview("P001")
    # Week 1's two owed samples are in: the next one is week 2's, one more draw
    # (a third sample in week 1 would be an extra and pay nothing).
    assert (stim.streak, stim.next_amount) == (2, 2)
    clock.now = visit(8, hour=12)  # week 2: one more draw for a second week of negatives
    stim, _ = any_clinic.preview("P001")
    assert (stim.streak, stim.next_amount) == (2, 2)
    assert "2 draws (about $4.44)" in stim.sentence
    assert "2 in a row" in stim.sentence


def test_preview_through_the_cli(tmp_path: Path) -> None:
    db = cli_db(tmp_path / "clinic.db")
    with cmrewards.open(db) as clinic:
        for day in (0, 2, 4, 7):
            clinic.record(
                "P001", STIM, "met", at=dt.datetime.fromisoformat(cli_at(day)), actor=ADMIN
            )
    document = report_of(invoke(db, "preview", "P001"))
    assert isinstance(document, list)
    (shown,) = document
    assert shown["target"] == STIM
    assert shown["unit"] == "points"
    assert (shown["streak"], shown["next_amount"], shown["after_reset"]) == (4, 30, 10)
    assert shown["recovery_in"] is None
    assert "30 points" in shown["sentence"]

    text = invoke(db, "preview", "P001", json_output=False)
    assert text.exit_code == 0, text.stderr
    assert text.stdout.strip() == shown["sentence"]

    petry = invoke(db, "preview", "P002", json_output=False)
    assert petry.exit_code == 0, petry.stderr
    assert "about $" in petry.stdout
    assert "draw" in petry.stdout


# --- import: success and replays -------------------------------------------------------------


def test_import_a_lab_file(tmp_path: Path) -> None:
    db = cli_db(tmp_path / "clinic.db")
    lab = write_csv(tmp_path / "lab.csv", lab_rows(cli_at))
    report = report_of(import_cli(db, lab))
    assert report == {
        "rows": 14,
        "applied": 14,
        "replayed": 0,
        "failed_line": None,
        "error": None,
        "error_type": None,
        "exit_code": 0,
        "last_day": str(CLI_START + dt.timedelta(days=14)),  # the file's latest clinical date
    }
    with cmrewards.open(db) as clinic:
        assert clinic.balance("P001").points == P001_POINTS
        assert clinic.balance("P002").points == 0
        verified = clinic.verify()
    assert verified.ok, verified.problems
    assert verified.outcomes == 14
    assert [row[:5] for row in outcome_rows(db)] == [
        (p, t, o, dt.datetime.fromisoformat(a).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), k)
        for p, t, o, a, k, _ in lab_rows(cli_at)
    ]


def test_import_text_output(tmp_path: Path) -> None:
    db = cli_db(tmp_path / "clinic.db")
    lab = write_csv(tmp_path / "lab.csv", lab_rows(cli_at))
    result = import_cli(db, lab, json_output=False)
    assert result.exit_code == 0, result.stderr
    assert "imported 14 rows, skipped 0 already applied" in result.stdout
    again = import_cli(db, lab, json_output=False)
    assert "imported 0 rows, skipped 14 already applied" in again.stdout


@pytest.mark.parametrize("keys", [True, False], ids=["keyed", "keyless"])
def test_importing_the_same_file_twice_changes_nothing(tmp_path: Path, keys: bool) -> None:
    db = cli_db(tmp_path / "clinic.db")
    lab = write_csv(tmp_path / "lab.csv", lab_rows(cli_at, keys=keys))
    first = report_of(import_cli(db, lab))
    assert (first["applied"], first["replayed"]) == (14, 0)
    with cmrewards.open(db) as clinic:
        heads = clinic.verify()
        balances = [clinic.balance(p) for p in ("P001", "P002")]
    before = snapshot(db)

    second = report_of(import_cli(db, lab))
    assert (second["rows"], second["applied"], second["replayed"]) == (14, 0, 14)
    assert second["failed_line"] is None
    assert snapshot(db) == before
    with cmrewards.open(db) as clinic:
        again = clinic.verify()
        assert [clinic.balance(p) for p in ("P001", "P002")] == balances
    assert again.ok
    assert (again.outcome_chain_head, again.transfer_chain_head) == (
        heads.outcome_chain_head,
        heads.transfer_chain_head,
    )
    assert again.outcomes == 14


def test_importing_twice_through_the_api(tmp_path: Path, clock: FakeClock) -> None:
    clinic = api_clinic(tmp_path / "clinic.db", clock)
    lab = write_csv(tmp_path / "lab.csv", lab_rows(api_at, keys=False))
    last_day = START + dt.timedelta(days=14)
    assert api_import(clinic, lab) == ImportReport(14, 14, 0, last_day=last_day)
    heads = clinic.verify()
    assert api_import(clinic, lab) == ImportReport(14, 0, 14, last_day=last_day)
    again = clinic.verify()
    assert again.outcomes == 14
    assert again.outcome_chain_head == heads.outcome_chain_head
    assert clinic.balance("P001").points == P001_POINTS
    clinic.close()


def test_a_row_recorded_by_hand_with_the_same_key_is_a_replay(
    tmp_path: Path, clock: FakeClock
) -> None:
    clinic = api_clinic(tmp_path / "clinic.db", clock)
    at = api_at(0)
    clinic.record("P001", STIM, "met", at=dt.datetime.fromisoformat(at), actor=ADMIN, key="LAB-1")
    lab = write_csv(tmp_path / "lab.csv", [("P001", STIM, "met", at, "LAB-1", "")])
    assert api_import(clinic, lab) == ImportReport(1, 0, 1, last_day=START)
    assert clinic.balance("P001").points == 10
    clinic.close()


@pytest.mark.parametrize("chunk_size", [2, 500])
def test_import_replays_on_every_store(higgins: Clinic, tmp_path: Path, chunk_size: int) -> None:
    """A key seen earlier in the same chunk, in an earlier chunk or in an earlier import is a
    replay, on memory, SQLite and PostgreSQL alike (each chunk looks its keys up at once)."""
    at = [visit(day).isoformat() for day in (0, 2, 4)]
    rows: list[Row] = [
        ("P001", STIM, "met", at[0], "LAB-1", ""),
        ("P001", STIM, "met", at[1], "LAB-2", ""),
        ("P001", STIM, "met", at[0], "LAB-1", ""),  # the first row again
        ("P001", STIM, "met", at[2], "", ""),  # no key: one derived from the row
    ]
    lab = write_csv(tmp_path / "lab.csv", rows)
    first = higgins.import_outcomes(read_rows(lab.open(), str(lab)), actor=ADMIN,
                                    chunk_size=chunk_size)  # fmt: skip
    last_day = START + dt.timedelta(days=4)
    assert first == ImportReport(rows=4, applied=3, replayed=1, last_day=last_day)
    again = higgins.import_outcomes(read_rows(lab.open(), str(lab)), actor=ADMIN,
                                    chunk_size=chunk_size)  # fmt: skip
    assert again == ImportReport(rows=4, applied=0, replayed=4, last_day=last_day)
    assert higgins.balance("P001").points == 10 + 15 + 20 + 40  # the third in a row: bonus
    assert higgins.verify().ok


def test_a_malformed_participant_id_stops_the_import_at_its_line_on_every_store(
    higgins: Clinic, tmp_path: Path
) -> None:
    """A NUL is "no participant" (exit 1) everywhere, never a value the server refuses."""
    lab = tmp_path / "lab.csv"
    lab.write_text(
        f"{HEADER}\nP001,{STIM},met,{visit(0).isoformat()},LAB-1,\n"
        f"P\x00,{STIM},met,{visit(2).isoformat()},LAB-2,\n",
        encoding="utf-8",
    )
    report = higgins.import_outcomes(read_rows(lab.open(), str(lab)), actor=ADMIN)
    assert (report.applied, report.failed_line, report.error_type) == (1, 3, "NotFound")
    assert higgins.verify().outcomes == 1


# --- import: bad rows ---------------------------------------------------------------------------

GOOD_PREFIX = 3
"""The first three lab rows are good; the bad row follows them on line 5."""

BAD_ROWS: dict[str, tuple[str, int, str]] = {
    # name: (CSV text of the bad row, exit code, error type)
    "unknown-outcome": (f"P001,{STIM},positive,{{at}},LAB-X,", 2, "InvalidInput"),
    "unknown-participant": (f"P999,{STIM},met,{{at}},LAB-X,", 1, "NotFound"),
    "unknown-target": ("P001,opioid-negative,met,{at},LAB-X,", 1, "NotFound"),
    # P001's result on line 2 was met at 09:30 on day 0; this one, 06:30 that day, is the
    # same visit with another result: a conflict the message says how to correct.
    "conflicting-result": (f"P001,{STIM},not_met,{{early}},LAB-X,", 1, "AlreadyExists"),
    "too-few-fields": (f"P001,{STIM},met,{{at}}", 2, "InvalidInput"),
    "too-many-fields": (f"P001,{STIM},met,{{at}},LAB-X,,extra", 2, "InvalidInput"),
    "missing-at": (f"P001,{STIM},met,,LAB-X,", 2, "InvalidInput"),
    "bad-time": (f"P001,{STIM},met,yesterday,LAB-X,", 2, "InvalidInput"),
    "future-time": (f"P001,{STIM},met,{{future}},LAB-X,", 2, "InvalidInput"),
    "key-conflict": (f"P001,{STIM},not_met,{{first}},LAB-001,", 1, "IdempotencyConflict"),
}


def bad_file(path: Path, name: str, at: At, future: str) -> Path:
    """Header, three good rows, the bad row on line 5, then the rest of the lab file."""
    text, _, _ = BAD_ROWS[name]
    rows = lab_rows(at)
    bad = text.format(at=at(5), early=at(0, 6), future=future, first=at(0))
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        file.write(HEADER + "\n")
        writer.writerows(rows[:GOOD_PREFIX])
        file.write(bad + "\n")
        writer.writerows(rows[GOOD_PREFIX:])
    return path


@pytest.mark.parametrize("name", sorted(BAD_ROWS))
def test_a_bad_row_stops_the_cli_import(tmp_path: Path, name: str) -> None:
    _, code, error_type = BAD_ROWS[name]
    db = cli_db(tmp_path / "clinic.db")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    lab = bad_file(tmp_path / "lab.csv", name, cli_at, future)

    result = import_cli(db, lab)
    report = report_of(result, code)
    assert report["failed_line"] == 5
    assert report["rows"] == report["applied"] == GOOD_PREFIX
    assert report["replayed"] == 0
    assert report["exit_code"] == code
    assert report["error_type"] == error_type
    assert report["error"].startswith("line 5: ")
    assert "line 5" in result.stderr
    assert result.stderr.startswith("cmrewards: ")
    assert len(result.stderr.splitlines()) == 1

    # Everything before the bad row is committed, nothing after it.
    assert [r[4] for r in outcome_rows(db)] == ["LAB-001", "LAB-002", "LAB-003"]
    with cmrewards.open(db) as clinic:
        assert clinic.balance("P001").points == 10
        assert clinic.verify().ok


def test_a_bad_row_stops_the_import_without_json(tmp_path: Path) -> None:
    db = cli_db(tmp_path / "clinic.db")
    lab = bad_file(tmp_path / "lab.csv", "unknown-participant", cli_at, "")
    result = import_cli(db, lab, json_output=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "imported 3 rows" in result.stdout
    assert "stopped at line 5" in result.stdout
    assert "line 5" in result.stderr
    assert "P999" in result.stderr


@pytest.mark.parametrize("chunk_size", [1, 2, 500])
def test_a_bad_row_stops_the_api_import(tmp_path: Path, clock: FakeClock, chunk_size: int) -> None:
    clinic = api_clinic(tmp_path / "clinic.db", clock)
    lab = bad_file(tmp_path / "lab.csv", "conflicting-result", api_at, "")
    report = api_import(clinic, lab, chunk_size=chunk_size)
    assert report.failed_line == 5
    assert not report.complete
    assert (report.rows, report.applied, report.replayed) == (3, 3, 0)
    assert (report.error_type, report.exit_code) == ("AlreadyExists", 1)
    assert report.error is not None
    assert "is already recorded as met (outcome 1); correct outcome 1" in report.error
    assert clinic.verify().outcomes == 3
    clinic.close()


def test_the_line_number_counts_physical_lines(tmp_path: Path, clock: FakeClock) -> None:
    """A blank line and a quoted note spanning two lines still give the file's line."""
    clinic = api_clinic(tmp_path / "clinic.db", clock)
    lab = tmp_path / "lab.csv"
    lab.write_text(
        f"{HEADER}\n"
        f"P001,{STIM},met,{api_at(0)},LAB-1,\n"
        "\n"
        f'P001,{STIM},met,{api_at(2)},LAB-2,"two\nlines"\n'
        f"P001,{STIM},met,{api_at(4)},LAB-3,\n",
        encoding="utf-8",
    )
    report = api_import(clinic, lab)
    assert report.failed_line == 4
    assert report.applied == 1
    assert report.error_type == "InvalidInput"
    clinic.close()


def test_read_rows_reports_lines(tmp_path: Path) -> None:
    lab = tmp_path / "lab.csv"
    lab.write_text(
        f"{HEADER}\nP001,{STIM},met,{api_at(0)},,\n\nP001,{STIM},met\n", encoding="utf-8"
    )
    with lab.open(encoding="utf-8", newline="") as file:
        rows = list(read_rows(file, "lab.csv"))
    first, second = rows
    assert isinstance(first, ImportRow)
    assert first.line == 2
    assert first.key.startswith("row:")
    assert isinstance(second, BadRow)
    assert second.line == 4


@pytest.mark.parametrize(
    "header",
    [
        "participant,target,result,at,key,note",
        "participant,target,outcome,at",
        "target,participant,outcome,at,key,note",
        "",
    ],
)
def test_a_wrong_header_is_refused_with_nothing_written(tmp_path: Path, header: str) -> None:
    db = cli_db(tmp_path / "clinic.db")
    lab = write_csv(tmp_path / "lab.csv", lab_rows(cli_at), header=header)
    before = snapshot(db)
    result = import_cli(db, lab)
    document = report_of(result, 2)
    assert list(document) == ["error"]
    assert document["error"]["type"] == "InvalidInput"
    assert document["error"]["exit_code"] == 2
    assert "header" in document["error"]["message"]
    assert "line 1" in result.stderr
    assert snapshot(db) == before


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    db = cli_db(tmp_path / "clinic.db")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    before = snapshot(db)
    document = report_of(import_cli(db, empty), 2)
    assert document["error"]["type"] == "InvalidInput"
    assert snapshot(db) == before


def test_a_missing_file_is_invalid_input(tmp_path: Path) -> None:
    db = cli_db(tmp_path / "clinic.db")
    document = report_of(import_cli(db, tmp_path / "nope.csv"), 2)
    assert document["error"]["type"] == "InvalidInput"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    db = cli_db(tmp_path / "clinic.db")
    lab = tmp_path / "lab.csv"
    lab.write_text(
        "\ufeff" + HEADER + f"\nP001,{STIM},met,{cli_at(0)},LAB-001,\n", encoding="utf-8"
    )
    assert report_of(import_cli(db, lab))["applied"] == 1


# --- import: interrupted and resumed ------------------------------------------------------------


@pytest.mark.parametrize("keys", [True, False], ids=["keyed", "keyless"])
@pytest.mark.parametrize("prefix", [1, 6, 13])
def test_a_resumed_cli_import_ends_equal_to_a_clean_one(
    tmp_path: Path, keys: bool, prefix: int
) -> None:
    rows = lab_rows(cli_at, keys=keys)
    whole = write_csv(tmp_path / "lab.csv", rows)
    part = write_csv(tmp_path / "part.csv", rows[:prefix])

    resumed = cli_db(tmp_path / "resumed.db")
    assert report_of(import_cli(resumed, part))["applied"] == prefix
    again = report_of(import_cli(resumed, whole))
    assert (again["rows"], again["applied"], again["replayed"]) == (14, 14 - prefix, prefix)

    clean = cli_db(tmp_path / "clean.db")
    assert report_of(import_cli(clean, whole))["applied"] == 14

    # Prize categories differ (the CLI draws fresh seeds), but not whether a row drew.
    assert summary(resumed) == summary(clean)


class Interrupt:
    """A progress callback that presses Ctrl-C after the first committed chunk."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, rows: int) -> None:
        self.calls.append(rows)
        raise KeyboardInterrupt


@pytest.mark.parametrize("chunk_size", [1, 4, 13])
def test_an_interrupted_api_import_resumes_to_a_clean_import(
    tmp_path: Path, clock: FakeClock, chunk_size: int
) -> None:
    lab = write_csv(tmp_path / "lab.csv", lab_rows(api_at, keys=False))

    resumed = api_clinic(tmp_path / "resumed.db", clock)
    interrupt = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        api_import(resumed, lab, chunk_size=chunk_size, progress=interrupt)
    assert interrupt.calls == [chunk_size]
    assert resumed.verify().outcomes == chunk_size  # the first chunk was committed
    report = api_import(resumed, lab, chunk_size=chunk_size)
    last_day = START + dt.timedelta(days=14)
    assert report == ImportReport(14, 14 - chunk_size, chunk_size, last_day=last_day)
    resumed.close()

    clean = api_clinic(tmp_path / "clean.db", clock)
    assert api_import(clean, lab) == ImportReport(14, 14, 0, last_day=last_day)
    clean.close()

    # Same clock, same seeds in the same order (a replayed row draws none): the two
    # databases are identical row for row, hash chains and prize categories included.
    # The journal records the same writes, in an order that follows the chunking.
    resumed_rows = snapshot(tmp_path / "resumed.db", migrations=False)
    clean_rows = snapshot(tmp_path / "clean.db", migrations=False)
    journal_of = {name: sorted(r[1:4] for r in rows.pop("journal")) for name, rows in
                  (("resumed", resumed_rows), ("clean", clean_rows))}  # fmt: skip
    assert journal_of["resumed"] == journal_of["clean"]
    assert resumed_rows == clean_rows
    assert summary(tmp_path / "resumed.db") == summary(tmp_path / "clean.db")


# --- chunks and progress ---------------------------------------------------------------------


def test_progress_is_called_once_per_chunk(tmp_path: Path, clock: FakeClock) -> None:
    clinic = api_clinic(tmp_path / "clinic.db", clock)
    lab = write_csv(tmp_path / "lab.csv", lab_rows(api_at))
    calls: list[int] = []
    report = api_import(clinic, lab, chunk_size=4, progress=calls.append)
    assert calls == [4, 4, 4, 2]
    assert report.applied == 14
    clinic.close()


@pytest.mark.parametrize("chunk_size", [0, cmrewards.MAX_CHUNK_SIZE + 1, 10**30])
def test_a_chunk_size_out_of_range_is_refused(
    tmp_path: Path, clock: FakeClock, chunk_size: int
) -> None:
    clinic = api_clinic(tmp_path / "clinic.db", clock)
    lab = write_csv(tmp_path / "lab.csv", lab_rows(api_at))
    with pytest.raises(cmrewards.InvalidInput, match=r"^chunk size must be 1 to 100,000, not"):
        api_import(clinic, lab, chunk_size=chunk_size)
    assert clinic.verify().outcomes == 0
    clinic.close()


@pytest.fixture
def import_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record the chunk size the CLI passes and every progress call it receives."""
    calls: list[tuple[str, int]] = []
    original = Clinic.import_outcomes

    def spy(
        self: Clinic,
        rows: Iterable[ImportRow | BadRow],
        *,
        actor: str,
        chunk_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        calls.append(("chunk_size", chunk_size))

        def tick(count: int) -> None:
            calls.append(("progress", count))
            if progress is not None:
                progress(count)

        return original(self, rows, actor=actor, chunk_size=chunk_size, progress=tick)

    monkeypatch.setattr(Clinic, "import_outcomes", spy)
    return calls


def test_the_cli_honours_chunk_size(tmp_path: Path, import_spy: list[tuple[str, int]]) -> None:
    db = cli_db(tmp_path / "clinic.db")
    lab = write_csv(tmp_path / "lab.csv", lab_rows(cli_at))
    report = report_of(import_cli(db, lab, "--chunk-size", "5"))
    assert report["applied"] == 14
    assert import_spy == [
        ("chunk_size", 5),
        ("progress", 5),
        ("progress", 5),
        ("progress", 4),
    ]


def test_the_cli_default_chunk_size(tmp_path: Path, import_spy: list[tuple[str, int]]) -> None:
    db = cli_db(tmp_path / "clinic.db")
    lab = write_csv(tmp_path / "lab.csv", lab_rows(cli_at))
    report_of(import_cli(db, lab))
    assert import_spy == [("chunk_size", 500), ("progress", 14)]


@pytest.mark.parametrize("size", ["0", "-3", "many"])
def test_a_bad_chunk_size_is_a_usage_error(tmp_path: Path, size: str) -> None:
    db = cli_db(tmp_path / "clinic.db")
    lab = write_csv(tmp_path / "lab.csv", lab_rows(cli_at))
    before = snapshot(db)
    result = import_cli(db, lab, "--chunk-size", size)
    document = report_of(result, 2)
    assert document["error"]["exit_code"] == 2
    assert snapshot(db) == before
