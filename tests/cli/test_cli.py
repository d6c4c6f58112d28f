"""The staff command line (docs/design.md section 7), driven through click's ``CliRunner``.

Every command gets a success case (exit 0 and, with ``--json``, the fields of its one
JSON document) and its refusals get their exact exit code: 1 refused by a rule, 2 invalid
input or usage, 3 integrity problem. Every error is one ``cmrewards: ...`` line on stderr,
never a traceback, with ``{"error": {...}}`` as the JSON document, and writes nothing:
the tests compare every row of the database before and after.

Commands are written as shell lines (``"adjust P001 --points 5 ..."``) and split with
``shlex``, so each test reads like what a member of staff would type.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import os
import shlex
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner, Result

from cmrewards.cli import cli
from support.cli import assert_error, snapshot

ADMIN = "admin-1"
RECORDER = "rec-01"
PROGRAM = "higgins-vbrt"
PARTICIPANT = "P001"
TARGET = "stimulant-negative"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(weeks=4)
"""Enrolment date of P001: four weeks ago, so every visit below is in the past."""
RECORD_KEY = "LAB-0001"
"""The lab accession of P001's first result in ``funded_db``."""

AWARD_FIELDS = ("points", "bonus_points", "draws", "value_cents", "capped", "reset", "recovered")
BALANCE_FIELDS = (
    "points",
    "held_points",
    "available_points",
    "value_cents",
    "cap_remaining_cents",
)
UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Command = str | Sequence[str]


# --- helpers -----------------------------------------------------------------------


def at_day(day: int, hour: int = 9) -> str:
    """ISO time (UTC) ``day`` days after START: in the past, never before enrolment."""
    return f"{START + dt.timedelta(days=day)}T{hour:02d}:30:00+00:00"


def utc_text(day: int, hour: int = 9) -> str:
    """How the JSON output spells ``at_day(day, hour)``."""
    return dt.datetime.fromisoformat(at_day(day, hour)).astimezone(dt.UTC).strftime(UTC_FORMAT)


def q(path: Path) -> str:
    return shlex.quote(str(path))


def invoke(
    db: Path | None,
    command: Command,
    *,
    json_output: bool = True,
    env: Mapping[str, str | None] | None = None,
    context: contextvars.Context | None = None,
) -> Result:
    """Run ``cmrewards [--db DB] [--json] COMMAND`` as a fresh process would.

    Each run gets an empty ``contextvars.Context`` (as a new process has) unless the
    test passes one on purpose.
    """
    args = shlex.split(command) if isinstance(command, str) else list(command)
    top = [*(["--db", str(db)] if db is not None else []), *(["--json"] if json_output else [])]
    run_in = context if context is not None else contextvars.Context()
    runner = CliRunner()
    return run_in.run(runner.invoke, cli, [*top, *args], env=env, prog_name="cmrewards")


def ok(db: Path | None, command: Command, *, env: Mapping[str, str | None] | None = None) -> Any:
    """Run a command with ``--json`` that must succeed; return its parsed JSON document."""
    result = invoke(db, command, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return json.loads(result.stdout)


def record_cmd(
    extra: str = "",
    *,
    at: str | None = None,
    outcome: str = "met",
    actor: str = RECORDER,
    participant: str = PARTICIPANT,
) -> str:
    """``record`` for P001's stimulant target, on day 3 unless ``at`` says otherwise."""
    when = at_day(3) if at is None else at
    return (
        f"record {participant} --target {TARGET} --outcome {outcome}"
        f" --at {shlex.quote(when)} --actor {actor} {extra}"
    )


def record(db: Path, day: int, outcome: str = "met", extra: str = "") -> Any:
    """Record one result for P001 at ``at_day(day)``; return the JSON document."""
    return ok(db, record_cmd(extra, at=at_day(day), outcome=outcome))


def award_of(result: Any) -> dict[str, Any]:
    return {name: result["award"][name] for name in AWARD_FIELDS}


def balance_of(result: Any) -> dict[str, Any]:
    return {name: result[name] for name in BALANCE_FIELDS}


def award(
    points: int = 0,
    bonus_points: int = 0,
    *,
    reset: bool = False,
    recovered: bool = False,
    value_cents: int | None = None,
) -> dict[str, Any]:
    """The expected ``award`` of a points result (25 cents a point, as in Higgins)."""
    cents = (points + bonus_points) * 25 if value_cents is None else value_cents
    return {
        "points": points,
        "bonus_points": bonus_points,
        "draws": 0,
        "value_cents": cents,
        "capped": False,
        "reset": reset,
        "recovered": recovered,
    }


def higgins_balance(points: int) -> dict[str, Any]:
    return {
        "points": points,
        "held_points": 0,
        "available_points": points,
        "value_cents": points * 25,
        "cap_remaining_cents": None,
    }


def write_program(tmp_path: Path, text: str, name: str = "program.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


CHICAGO_PROGRAM = """\
id = "chi-attend"
name = "Attendance points at the Chicago clinic"
timezone = "America/Chicago"
point_value_cents = 10

[[targets]]
id = "attendance"
per_week = 2
schedule = { kind = "fixed", award = "points", amount = 5 }
"""

CAPPED_PROGRAM = """\
id = "capped"
name = "A tiny cap"
point_value_cents = 10
cap_cents = 120
cap_period = "enrollment-year"

[[targets]]
id = "attendance"
schedule = { kind = "fixed", award = "points", amount = 5 }
"""


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def clinic_db(tmp_path: Path) -> Path:
    """An initialised database: admin-1, recorder rec-01, higgins-vbrt, P001 enrolled."""
    db = tmp_path / "clinic.db"
    ok(db, f"init --admin {ADMIN} --no-sign-in")
    ok(db, f"staff add {RECORDER} --role recorder --actor {ADMIN}")
    ok(db, f"program add --preset {PROGRAM} --timezone UTC --actor {ADMIN}")
    ok(db, f"enroll {PARTICIPANT} --program {PROGRAM} --start {START} --actor {ADMIN}")
    return db


@pytest.fixture
def funded_db(clinic_db: Path) -> Path:
    """``clinic_db`` with history: a negative on day 2 (transfer 1, 10 points, key LAB-0001),
    an adjustment of +5 (transfer 2) and its reversal (transfer 3): P001 has 10 points."""
    record(clinic_db, 2, "met", f"--key {RECORD_KEY}")
    ok(clinic_db, f"adjust {PARTICIPANT} --points 5 --reason 'lab delay' --actor {ADMIN}")
    ok(clinic_db, f"reverse 2 --reason 'meant for someone else' --actor {ADMIN} --yes")
    assert balance_of(ok(clinic_db, f"balance {PARTICIPANT}")) == higgins_balance(10)
    return clinic_db


# --- setup: init, staff ---------------------------------------------------------------


def test_init_creates_a_private_database_with_its_admin(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    created = ok(db, f"init --admin {ADMIN} --no-sign-in")
    assert (created["id"], created["role"], created["active"], created["added_by"]) == (
        ADMIN,
        "admin",
        True,
        None,
    )
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert [(m["id"], m["role"]) for m in ok(db, "staff list")] == [(ADMIN, "admin")]


def test_init_text_output_names_the_file(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    result = invoke(db, f"init --admin {ADMIN} --no-sign-in", json_output=False)
    expected = f"created {db} with admin {ADMIN}; sign-in is off\n"
    assert (result.exit_code, result.stdout) == (0, expected)


def test_init_with_a_bad_admin_id_creates_no_file(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    assert_error(invoke(db, "init --admin 'Jane Doe'"), 2)
    assert not db.exists()


def test_staff_add_list_and_deactivate(clinic_db: Path) -> None:
    added = ok(clinic_db, f"staff add clin-01 --role clinician --actor {ADMIN}")
    assert (added["id"], added["role"], added["active"], added["added_by"]) == (
        "clin-01",
        "clinician",
        True,
        ADMIN,
    )
    roles = [(m["id"], m["role"], m["active"]) for m in ok(clinic_db, "staff list")]
    assert roles == [
        (ADMIN, "admin", True),
        ("clin-01", "clinician", True),
        (RECORDER, "recorder", True),
    ]
    gone = ok(clinic_db, f"staff deactivate clin-01 --actor {ADMIN} --yes")
    assert (gone["id"], gone["active"]) == ("clin-01", False)
    active = [(m["id"], m["active"]) for m in ok(clinic_db, "staff list")]
    assert active == [(ADMIN, True), ("clin-01", False), (RECORDER, True)]
    text = invoke(clinic_db, "staff list", json_output=False)
    assert text.exit_code == 0
    assert text.stdout.splitlines() == [
        "staff    role       status    added by",
        f"{ADMIN}  admin      active    (init)",
        f"clin-01  clinician  inactive  {ADMIN}",
        f"{RECORDER}   recorder   active    {ADMIN}",
    ]


def test_staff_add_offers_every_role_of_the_domain_lab_feed_included(clinic_db: Path) -> None:
    from cmrewards import Role

    staff_add = cli.commands["staff"].commands["add"]  # type: ignore[attr-defined]
    (role,) = [p for p in staff_add.params if p.name == "role"]
    assert list(role.type.choices) == [str(r) for r in Role]
    added = ok(clinic_db, f"staff add feed-01 --role lab-feed --actor {ADMIN}")
    assert (added["id"], added["role"]) == ("feed-01", "lab-feed")
    # The service account changes nothing by hand.
    assert_error(invoke(clinic_db, "staff add x-01 --role recorder --actor feed-01"), 1)


def test_deactivated_staff_may_no_longer_record(clinic_db: Path) -> None:
    ok(clinic_db, f"staff deactivate {RECORDER} --actor {ADMIN} --yes")
    before = snapshot(clinic_db)
    error = assert_error(invoke(clinic_db, record_cmd(at=at_day(1))), 1)
    assert error["type"] == "PermissionDenied"
    assert snapshot(clinic_db) == before


# --- programs ---------------------------------------------------------------------------


def test_presets_lists_the_shipped_programs_with_their_maximum(clinic_db: Path) -> None:
    shipped = ok(clinic_db, "presets")
    assert [p["preset"] for p in shipped] == [
        "ca-recovery-incentives",
        "higgins-vbrt",
        "petry-fishbowl",
        "va-prize-cm",
    ]
    higgins = shipped[1]["maximum"]
    # docs/design.md section 3.1: 36 consecutive negatives earn $997.50.
    assert (higgins["points"], higgins["draws"], higgins["value_cents"]) == (3990, 0, 99750)
    assert all(p["name"] and p["description"] for p in shipped)
    assert [p["maximum"]["draws"] > 0 for p in shipped] == [False, False, True, True]
    text = invoke(clinic_db, "presets", json_output=False)
    assert text.exit_code == 0
    assert "higgins-vbrt" in text.stdout
    assert "$997.50" in text.stdout


@pytest.mark.parametrize("source", ["--preset va-prize-cm", "--file {file}"])
def test_a_program_in_utc_only_by_default_is_refused_until_timezone_says(
    clinic_db: Path, tmp_path: Path, source: str
) -> None:
    """Newcomer finding 10: ``--preset higgins-vbrt`` without ``--timezone`` silently kept
    its clinical days in UTC, and a program never changes."""
    file = tmp_path / "no-zone.toml"
    file.write_text(CAPPED_PROGRAM, encoding="utf-8")  # it names no zone
    line = f"program add {source.format(file=q(file))} --actor {ADMIN}"
    before = snapshot(clinic_db)
    error = assert_error(invoke(clinic_db, line), 2)
    assert (
        "would keep its clinical days in UTC: give --timezone with the clinic's zone"
        in (error["message"])
    )
    assert snapshot(clinic_db) == before
    said = invoke(clinic_db, f"{line} --timezone America/Denver", json_output=False)
    assert said.exit_code == 0, said.stderr
    assert said.stdout.startswith("added program ")
    assert said.stdout.rstrip().endswith(", in America/Denver")


@pytest.mark.parametrize(
    ("typed", "meant"), [("utc", "UTC"), ("america/chicago", "America/Chicago")]
)
def test_a_time_zone_typed_in_the_wrong_case_says_its_spelling(
    clinic_db: Path, typed: str, meant: str
) -> None:
    """Zone names are case-sensitive: the refusal names the one that differs only in case."""
    before = snapshot(clinic_db)
    line = f"program add --preset va-prize-cm --timezone {typed} --actor {ADMIN}"
    error = assert_error(invoke(clinic_db, line), 2)
    assert error["message"].endswith(f"unknown time zone {typed!r}; did you mean {meant}?")
    assert snapshot(clinic_db) == before


def test_a_program_file_naming_its_zone_needs_no_timezone(clinic_db: Path) -> None:
    added = ok(clinic_db, f"program add --preset ca-recovery-incentives --actor {ADMIN}")
    assert added["timezone"] == "America/Los_Angeles"


def test_program_add_list_and_show(clinic_db: Path) -> None:
    added = ok(clinic_db, f"program add --preset va-prize-cm --timezone UTC --actor {ADMIN}")
    assert (added["id"], added["timezone"]) == ("va-prize-cm", "UTC")
    assert [t["id"] for t in added["targets"]] == [TARGET]
    assert [p["id"] for p in ok(clinic_db, "program list")] == [PROGRAM, "va-prize-cm"]
    shown = ok(clinic_db, f"program show {PROGRAM}")
    assert (shown["id"], shown["point_value_cents"], shown["weeks"]) == (PROGRAM, 25, 12)
    assert shown["targets"][0]["schedule"]["start"] == 10
    assert shown["maximum"]["value_cents"] == 99750
    text = invoke(clinic_db, f"program show {PROGRAM}", json_output=False)
    assert text.exit_code == 0
    assert text.stdout.startswith(f"{PROGRAM}: Higgins voucher-based reinforcement therapy\n")
    assert "at most $997.50 per participant" in text.stdout


def test_program_add_with_id_and_timezone_overrides(clinic_db: Path) -> None:
    added = ok(
        clinic_db,
        f"program add --preset {PROGRAM} --id higgins-chi --timezone America/Chicago"
        f" --actor {ADMIN}",
    )
    assert (added["id"], added["timezone"], added["point_value_cents"]) == (
        "higgins-chi",
        "America/Chicago",
        25,
    )
    assert ok(clinic_db, "program show higgins-chi")["timezone"] == "America/Chicago"
    assert ok(clinic_db, "program show higgins-chi")["calendar"] is True


def test_an_override_keeps_a_file_s_legacy_rules(clinic_db: Path, tmp_path: Path) -> None:
    path = write_program(tmp_path, "calendar = false\n" + CHICAGO_PROGRAM)
    ok(clinic_db, f"program add --file {q(path)} --id chi-legacy --actor {ADMIN}")
    assert "calendar" not in ok(clinic_db, "program show chi-legacy")


def test_program_show_prints_every_phase_and_legacy_rules(clinic_db: Path, tmp_path: Path) -> None:
    ok(clinic_db, f"program add --preset ca-recovery-incentives --actor {ADMIN}")
    shown = invoke(clinic_db, "program show ca-recovery-incentives", json_output=False).stdout
    lines = shown.splitlines()
    assert "cap $599.00 per enrolment year" in lines[2]
    assert "  stimulant-negative: 2 phases" in lines
    assert any(line.startswith("    weeks 1-12: escalating (") for line in lines)
    assert any(
        line.startswith("    weeks 13-24: fixed (") and line.endswith("escalation starts again")
        for line in lines
    )
    assert "enrollment" not in shown
    path = write_program(tmp_path, "calendar = false\n" + CHICAGO_PROGRAM)
    ok(clinic_db, f"program add --file {q(path)} --id chi-legacy --actor {ADMIN}")
    legacy = invoke(clinic_db, "program show chi-legacy", json_output=False).stdout
    assert "calendar = false: legacy rules, every sample pays" in legacy
    path = write_program(tmp_path, CHICAGO_PROGRAM.replace(
        "[[targets]]", '[[targets]]\nextra_samples = "count"', 1))  # fmt: skip
    ok(clinic_db, f"program add --file {q(path)} --id chi-extra --actor {ADMIN}")
    extra = invoke(clinic_db, "program show chi-extra", json_output=False).stdout
    assert "    extra samples: count (each pays and moves the schedule)" in extra.splitlines()


def test_program_add_from_a_file(clinic_db: Path, tmp_path: Path) -> None:
    path = write_program(tmp_path, CHICAGO_PROGRAM)
    added = ok(clinic_db, f"program add --file {q(path)} --actor {ADMIN}")
    assert (added["id"], added["timezone"], added["point_value_cents"]) == (
        "chi-attend",
        "America/Chicago",
        10,
    )
    assert added["targets"][0]["schedule"] == {"kind": "fixed", "award": "points", "amount": 5}
    assert [p["id"] for p in ok(clinic_db, "program list")] == ["chi-attend", PROGRAM]


def test_program_list_when_empty(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    ok(db, f"init --admin {ADMIN} --no-sign-in")
    assert ok(db, "program list") == []
    result = invoke(db, "program list", json_output=False)
    assert (result.exit_code, result.stdout) == (0, "no programs yet\n")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param("colour = 'red'\n" + CHICAGO_PROGRAM, "colour", id="unknown-top-level-key"),
        pytest.param(
            CHICAGO_PROGRAM + "colour = 'red'\n", "targets[0].colour", id="unknown-target-key"
        ),
        pytest.param(
            CHICAGO_PROGRAM.replace("amount = 5", "amount = 5, colour = 1"),
            "targets[0].schedule.colour",
            id="unknown-schedule-key",
        ),
        pytest.param(
            CHICAGO_PROGRAM.replace("amount = 5", 'amount = "five"'),
            "targets[0].schedule.amount",
            id="bad-value",
        ),
        pytest.param(
            CHICAGO_PROGRAM.replace("America/Chicago", "Mars/Olympus"),
            "timezone",
            id="unknown-time-zone",
        ),
    ],
)
def test_bad_program_file_names_the_file_and_the_key(
    clinic_db: Path, tmp_path: Path, text: str, key: str
) -> None:
    path = write_program(tmp_path, text, "bad.toml")
    before = snapshot(clinic_db)
    error = assert_error(invoke(clinic_db, f"program add --file {q(path)} --actor {ADMIN}"), 2)
    assert error["type"] == "InvalidInput"
    assert error["message"].startswith(f"{path}: {key}: ")
    assert snapshot(clinic_db) == before


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(None, "cannot read", id="missing-file"),
        pytest.param(b"id = [unclosed\n", "not valid TOML", id="not-toml"),
        pytest.param(b"\xff\xfe\x00garbage", "cannot read", id="not-utf8"),
    ],
)
def test_unreadable_program_file_is_invalid_input(
    clinic_db: Path, tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "broken.toml"
    if content is not None:
        path.write_bytes(content)
    before = snapshot(clinic_db)
    error = assert_error(invoke(clinic_db, f"program add --file {q(path)} --actor {ADMIN}"), 2)
    assert error["message"].startswith(f"{path}: ")
    assert problem in error["message"]
    assert snapshot(clinic_db) == before


# --- enrolment ----------------------------------------------------------------------------


def test_enroll_with_a_start_date(clinic_db: Path) -> None:
    enrolled = ok(clinic_db, f"enroll P002 --program {PROGRAM} --start {START} --actor {ADMIN}")
    assert {k: enrolled[k] for k in ("id", "program_id", "start", "status", "enrolled_by")} == {
        "id": "P002",
        "program_id": PROGRAM,
        "start": START.isoformat(),
        "status": "active",
        "enrolled_by": ADMIN,
    }
    command = f"enroll P003 --program {PROGRAM} --start {START} --actor {ADMIN}"
    text = invoke(clinic_db, command, json_output=False)
    assert (text.exit_code, text.stdout) == (0, f"enrolled P003 in {PROGRAM} from {START}\n")


def test_enroll_defaults_to_today_in_the_clinic_zone(clinic_db: Path) -> None:
    before = dt.datetime.now(dt.UTC).date()
    enrolled = ok(clinic_db, f"enroll P002 --program {PROGRAM} --actor {ADMIN}")
    after = dt.datetime.now(dt.UTC).date()
    assert enrolled["start"] in {before.isoformat(), after.isoformat()}


def test_withdraw_stops_recording(clinic_db: Path) -> None:
    withdrawn = ok(clinic_db, f"withdraw {PARTICIPANT} --actor {ADMIN} --yes")
    assert (withdrawn["id"], withdrawn["status"]) == (PARTICIPANT, "withdrawn")
    before = snapshot(clinic_db)
    assert assert_error(invoke(clinic_db, record_cmd()), 1)["type"] == "InvalidTransition"
    assert_error(invoke(clinic_db, f"withdraw {PARTICIPANT} --actor {ADMIN} --yes"), 1)
    assert_error(invoke(clinic_db, f"complete {PARTICIPANT} --actor {ADMIN} --yes"), 1)
    assert snapshot(clinic_db) == before


def test_complete_ends_the_incentive_phase(clinic_db: Path) -> None:
    completed = ok(clinic_db, f"complete {PARTICIPANT} --actor {ADMIN} --yes")
    assert (completed["id"], completed["status"]) == (PARTICIPANT, "completed")
    before = snapshot(clinic_db)
    assert_error(invoke(clinic_db, f"complete {PARTICIPANT} --actor {ADMIN} --yes"), 1)
    assert snapshot(clinic_db) == before


# --- record, balance, history -----------------------------------------------------------


def test_record_pays_the_higgins_schedule(clinic_db: Path) -> None:
    first = record(clinic_db, 1)
    assert (first["participant"], first["target"], first["outcome"]) == (
        PARTICIPANT,
        TARGET,
        "met",
    )
    assert first["occurred_at"] == utc_text(1)
    assert award_of(first) == award(10)
    assert first["prizes"] == []
    assert balance_of(first["balance"]) == higgins_balance(10)
    assert first["replayed"] is False
    assert award_of(record(clinic_db, 2)) == award(15)
    third = record(clinic_db, 3)
    assert award_of(third) == award(20, 40)
    assert balance_of(third["balance"]) == higgins_balance(85)


def test_record_reset_and_recovery(clinic_db: Path) -> None:
    # Six negatives (positions 1-6), a positive, then five negatives: the fifth is paid at
    # the pre-reset position 6, 35 points (docs/design.md section 3.1). Three samples a
    # week, every other day from day 1, as the protocol owes them.
    days = [7 * (n // 3) + 2 * (n % 3) + 1 for n in range(12)]
    for day in days[:6]:
        record(clinic_db, day)
    positive = record(clinic_db, days[6], "not_met")
    assert award_of(positive) == award(reset=True)
    assert balance_of(positive["balance"]) == higgins_balance(10 + 15 + 60 + 25 + 30 + 75)
    paid = [award_of(record(clinic_db, day)) for day in days[7:]]
    assert paid == [award(10), award(15), award(20, 40), award(25), award(35, recovered=True)]


def test_excused_changes_nothing(clinic_db: Path) -> None:
    record(clinic_db, 1)
    assert award_of(record(clinic_db, 2, "excused")) == award()
    assert award_of(record(clinic_db, 3)) == award(15)


def test_record_text_output(clinic_db: Path) -> None:
    result = invoke(clinic_db, record_cmd(at=at_day(1)), json_output=False)
    assert result.exit_code == 0
    assert result.stdout == (
        f"{PARTICIPANT} {TARGET}: met — +10 points\nbalance 10 points ($2.50), 10 available\n"
    )


def test_record_replay_with_the_same_key_writes_nothing(funded_db: Path) -> None:
    before = snapshot(funded_db)
    replay = record(funded_db, 2, "met", f"--key {RECORD_KEY}")
    assert replay["replayed"] is True
    assert award_of(replay) == award(10)
    assert (replay["outcome_id"], replay["occurred_at"]) == (1, utc_text(2))
    assert snapshot(funded_db) == before
    text = invoke(funded_db, record_cmd(f"--key {RECORD_KEY}", at=at_day(2)), json_output=False)
    assert text.exit_code == 0
    assert "(already recorded; nothing written)" in text.stdout
    assert snapshot(funded_db) == before


def test_record_at_without_offset_is_read_in_the_program_zone(
    clinic_db: Path, tmp_path: Path
) -> None:
    path = write_program(tmp_path, CHICAGO_PROGRAM)
    ok(clinic_db, f"program add --file {q(path)} --actor {ADMIN}")
    ok(clinic_db, f"enroll P100 --program chi-attend --start {START} --actor {ADMIN}")
    chicago = ZoneInfo("America/Chicago")

    def stored(day: dt.date, hour: int = 0, minute: int = 0) -> str:
        local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=chicago)
        return local.astimezone(dt.UTC).strftime(UTC_FORMAT)

    def record_at(at: str) -> Any:
        command = f"record P100 --target attendance --outcome met --at {at} --actor {RECORDER}"
        return ok(clinic_db, command)

    # Two samples a week are owed: the third is in the next week.
    day1, day2, day3 = (START + dt.timedelta(days=n) for n in (1, 2, 8))
    bare_date = record_at(day1.isoformat())
    assert bare_date["occurred_at"] == stored(day1)
    assert bare_date["occurred_at"][11:] in {"05:00:00.000000Z", "06:00:00.000000Z"}
    assert record_at(f"{day2}T09:30")["occurred_at"] == stored(day2, 9, 30)
    with_offset = record_at(f"{day3}T09:30:00Z")
    assert with_offset["occurred_at"] == f"{day3}T09:30:00.000000Z"
    assert award_of(with_offset) == award(5, value_cents=50)
    assert ok(clinic_db, "balance P100")["points"] == 15


@pytest.mark.parametrize(("at", "reads"), [(None, 0), (at_day(3)[:16], 1)], ids=["now", "local"])
def test_record_reads_once_to_learn_the_zone_then_writes_once(
    clinic_db: Path, monkeypatch: pytest.MonkeyPatch, at: str | None, reads: int
) -> None:
    """Learning whether the database signs staff in is one read transaction (its policy);
    learning the participant's zone for a time without an offset is one more, through the
    public ``Clinic.timezone``; recording is one write."""
    from cmrewards.store.sqlite import SQLiteStore

    opened: list[str] = []
    for kind in ("read", "write"):
        original = getattr(SQLiteStore, kind)

        def counted(self: SQLiteStore, kind: str = kind, original: Any = original) -> Any:
            opened.append(kind)
            return original(self)

        monkeypatch.setattr(SQLiteStore, kind, counted)
    command = f"record {PARTICIPANT} --target {TARGET} --outcome met --actor {RECORDER}"
    ok(clinic_db, command if at is None else f"{command} --at {at}")
    assert ["read"] * (1 + reads) + ["write"] == opened


def test_record_is_cut_to_the_cap(clinic_db: Path, tmp_path: Path) -> None:
    path = write_program(tmp_path, CAPPED_PROGRAM)
    ok(clinic_db, f"program add --file {q(path)} --timezone UTC --actor {ADMIN}")
    ok(clinic_db, f"enroll P200 --program capped --start {START} --actor {ADMIN}")

    def record_on(day: int) -> Any:
        at = at_day(day)
        command = f"record P200 --target attendance --outcome met --at {at} --actor {RECORDER}"
        return ok(clinic_db, command)

    assert ok(clinic_db, "balance P200")["cap_remaining_cents"] == 120
    assert record_on(1)["balance"]["cap_remaining_cents"] == 70
    assert record_on(2)["balance"]["cap_remaining_cents"] == 20
    third = record_on(8)  # in week 2: week 1 owes two samples
    assert (third["award"]["points"], third["award"]["value_cents"]) == (2, 20)
    assert third["award"]["capped"] is True
    assert balance_of(ok(clinic_db, "balance P200")) == {
        "points": 12,
        "held_points": 0,
        "available_points": 12,
        "value_cents": 120,
        "cap_remaining_cents": 0,
    }


def test_balance(funded_db: Path) -> None:
    shown = ok(funded_db, f"balance {PARTICIPANT}")
    assert (shown["participant"], shown["program_id"]) == (PARTICIPANT, PROGRAM)
    assert balance_of(shown) == higgins_balance(10)
    text = invoke(funded_db, f"balance {PARTICIPANT}", json_output=False)
    assert (text.exit_code, text.stdout) == (
        0,
        f"{PARTICIPANT}: 10 points ($2.50), 10 available; no cap\n",
    )


def test_history_has_running_balances(funded_db: Path) -> None:
    entries = ok(funded_db, f"history {PARTICIPANT}")
    assert [(e["kind"], e["points"], e["available_points"], e["ref"]) for e in entries] == [
        ("outcome", 0, 0, "outcome:1"),
        ("award", 10, 10, "transfer:1"),
        ("adjustment-up", 5, 15, "transfer:2"),
        ("reversal", -5, 10, "transfer:3"),
    ]
    assert (entries[0]["detail"], entries[0]["occurred_at"]) == (f"{TARGET}: met", utc_text(2))
    assert [e["actor"] for e in entries] == [RECORDER, RECORDER, ADMIN, ADMIN]
    text = invoke(funded_db, f"history {PARTICIPANT}", json_output=False)
    assert text.exit_code == 0
    assert len(text.stdout.splitlines()) == 1 + len(entries)


# --- corrections ---------------------------------------------------------------------------


def test_adjust_up_and_down(funded_db: Path) -> None:
    up = ok(funded_db, f"adjust {PARTICIPANT} --points +20 --reason 'lab delay' --actor {ADMIN}")
    transfer = up["transfer"]
    assert (transfer["id"], transfer["kind"], transfer["amount"]) == (4, "adjustment-up", 20)
    assert (transfer["from_account"], transfer["to_account"]) == (
        "funding",
        f"available:{PARTICIPANT}",
    )
    assert (transfer["reason"], transfer["actor"]) == ("lab delay", ADMIN)
    assert balance_of(up["balance"]) == higgins_balance(30)
    assert up["replayed"] is False
    down = ok(funded_db, f"adjust {PARTICIPANT} --points -30 --reason twice --actor {ADMIN}")
    assert (down["transfer"]["kind"], down["transfer"]["amount"]) == ("adjustment-down", 30)
    assert balance_of(down["balance"]) == higgins_balance(0)


def test_adjust_replay_with_the_same_key(funded_db: Path) -> None:
    command = f"adjust {PARTICIPANT} --points 7 --reason goodwill --actor {ADMIN} --key ADJ-1"
    first = ok(funded_db, command)
    before = snapshot(funded_db)
    again = ok(funded_db, command)
    assert again["replayed"] is True
    assert again["transfer"] == first["transfer"]
    assert snapshot(funded_db) == before


def test_reverse_mirrors_the_transfer(funded_db: Path) -> None:
    undone = ok(funded_db, f"reverse 1 --reason 'wrong participant' --actor {ADMIN} --yes")
    transfer = undone["transfer"]
    assert (transfer["id"], transfer["kind"], transfer["reverses"], transfer["amount"]) == (
        4,
        "reversal",
        1,
        10,
    )
    assert (transfer["from_account"], transfer["to_account"]) == (
        f"available:{PARTICIPANT}",
        "funding",
    )
    assert balance_of(undone["balance"]) == higgins_balance(0)
    assert ok(funded_db, "verify")["ok"] is True


# --- verify --------------------------------------------------------------------------------


def test_verify_a_sound_database(funded_db: Path) -> None:
    report = ok(funded_db, "verify")
    assert (report["ok"], report["problems"]) == (True, [])
    assert (report["outcomes"], report["transfers"], report["participants"]) == (1, 3, 1)
    assert len(report["transfer_chain_head"]) == 64
    text = invoke(funded_db, "verify", json_output=False)
    assert text.exit_code == 0
    assert text.stdout.startswith("OK: 1 outcome, 3 transfers, 1 participant checked")


def tamper(db: Path) -> None:
    """What a stray script could do: drop the guard trigger and edit an amount."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("DROP TRIGGER transfers_no_update")
        conn.execute("UPDATE transfers SET amount = amount + 5 WHERE id = 1")
        conn.commit()
    finally:
        conn.close()


def test_verify_finds_a_tampered_transfer(funded_db: Path) -> None:
    tamper(funded_db)
    result = invoke(funded_db, "verify")
    assert result.exit_code == 3
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("cmrewards: verify found ")
    report = json.loads(result.stdout)  # the report is the one JSON document
    assert report["ok"] is False
    assert any(problem["message"].startswith("transfer 1:") for problem in report["problems"])
    text = invoke(funded_db, "verify", json_output=False)
    assert text.exit_code == 3
    assert "PROBLEMS FOUND" in text.stdout
    assert len(text.stderr.splitlines()) == 1


# --- demo -------------------------------------------------------------------------------------


def test_demo_on_a_fresh_file(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = invoke(None, f"demo --db {q(db)}", json_output=False)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    assert "$ cmrewards verify\nOK: " in result.stdout
    report = ok(db, "verify")
    # three Higgins, one VA, four real CTN-0027 histories
    assert (report["ok"], report["participants"]) == (True, 8)
    # CTN-00211's no-show in week 7, closed as missed, takes back what the run paid after it.
    assert "CTN-00211: 505 points ($126.25)" in result.stdout
    assert "2026-02-25  stimulant-negative  missed                  0  $53.75  reset" in (
        result.stdout
    )
    assert ok(db, "balance CTN-00211")["points"] == 360


def test_demo_refuses_an_existing_file(funded_db: Path) -> None:
    before = funded_db.read_bytes()
    error = assert_error(invoke(None, f"demo --db {q(funded_db)}"), 1)
    assert error["type"] == "AlreadyExists"
    assert funded_db.read_bytes() == before


def test_demo_with_json_prints_one_json_document(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = invoke(None, f"demo --db {q(db)}")
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    document = json.loads(result.stdout)
    assert document["database"] == str(db)
    steps = document["steps"]
    assert (steps[-1]["command"], steps[-1]["exit_code"]) == ("cmrewards verify", 0)
    assert steps[-1]["result"]["ok"] is True
    refused = [step for step in steps if step["exit_code"] != 0]
    assert [step["result"]["error"]["type"] for step in refused] == ["PermissionDenied"]
    replays = [s for s in steps if isinstance(s["result"], dict) and s["result"].get("replayed")]
    assert [s["command"] for s in replays] == [steps[4]["command"]]


# --- the database file: --db, CMREWARDS_DB, missing, foreign, damaged --------------------


def test_db_falls_back_to_the_environment(funded_db: Path) -> None:
    shown = ok(None, f"balance {PARTICIPANT}", env={"CMREWARDS_DB": str(funded_db)})
    assert shown["points"] == 10


def test_db_option_wins_over_the_environment(funded_db: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    shown = ok(funded_db, f"balance {PARTICIPANT}", env={"CMREWARDS_DB": str(elsewhere)})
    assert shown["points"] == 10
    assert not elsewhere.exists()


def test_init_through_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "from-env.db"
    ok(None, f"init --admin {ADMIN} --no-sign-in", env={"CMREWARDS_DB": str(db)})
    assert [m["id"] for m in ok(db, "staff list")] == [ADMIN]


@pytest.mark.parametrize(
    "command",
    [
        f"balance {PARTICIPANT}",
        "verify",
        "staff list",
        f"staff add {RECORDER} --role recorder --actor {ADMIN}",
        f"program add --preset {PROGRAM} --timezone UTC --actor {ADMIN}",
        record_cmd(),
    ],
)
@pytest.mark.parametrize("json_output", [True, False], ids=["json", "text"])
def test_missing_database_is_refused_and_not_created(
    tmp_path: Path, command: str, json_output: bool
) -> None:
    db = tmp_path / "missing.db"
    error = assert_error(invoke(db, command, json_output=json_output), 1, json_output=json_output)
    if json_output:
        assert error["type"] == "NotFound"
        assert str(db) in error["message"]
    assert list(tmp_path.iterdir()) == []


def test_missing_database_through_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "missing.db"
    result = invoke(None, f"balance {PARTICIPANT}", env={"CMREWARDS_DB": str(db)})
    assert str(db) in assert_error(result, 1)["message"]
    assert not db.exists()


def make_foreign_text(path: Path) -> None:
    path.write_text("participant,points\nP001,10\n", encoding="utf-8")


def make_foreign_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('not cmrewards')")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("make", [make_foreign_text, make_foreign_sqlite], ids=["text", "sqlite"])
@pytest.mark.parametrize(
    "command", ["verify", f"balance {PARTICIPANT}", f"init --admin {ADMIN} --no-sign-in"]
)
def test_foreign_file_is_an_integrity_error(
    tmp_path: Path, make: Callable[[Path], None], command: str
) -> None:
    path = tmp_path / "foreign.db"
    make(path)
    before = path.read_bytes()
    error = assert_error(invoke(path, command), 3)
    assert error["type"] == "IntegrityError"
    assert "not a cmrewards database" in error["message"]
    assert path.read_bytes() == before


def damage(db: Path, keep: slice | None = None) -> bytes:
    """Overwrite the second page with garbage (or keep only ``keep``); drop the WAL."""
    data = bytearray(db.read_bytes())
    assert len(data) > 8192
    if keep is None:
        data[4096:8192] = b"\xa5" * 4096
    else:
        data = data[keep]
    db.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return bytes(data)


@pytest.mark.parametrize(
    "keep", [None, slice(0, 100), slice(0, 5000)], ids=["garbage", "100b", "5k"]
)
@pytest.mark.parametrize("command", ["verify", f"balance {PARTICIPANT}", f"history {PARTICIPANT}"])
def test_damaged_file_is_an_integrity_error(
    funded_db: Path, keep: slice | None, command: str
) -> None:
    damaged = damage(funded_db, keep)
    error = assert_error(invoke(funded_db, command), 3)
    assert error["type"] == "IntegrityError"
    assert funded_db.read_bytes() == damaged


def test_file_from_a_newer_version_is_an_integrity_error(funded_db: Path) -> None:
    conn = sqlite3.connect(funded_db)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('cmrewards', '9999_from_the_future', '2099-01-01 00:00:00+00:00')"
    )
    conn.commit()
    conn.close()
    before = snapshot(funded_db)
    error = assert_error(invoke(funded_db, f"balance {PARTICIPANT}"), 3)
    assert "newer" in error["message"]
    assert snapshot(funded_db) == before


# --- refusals and invalid input: exact exit code, one line, nothing written ---------------

ADJUST = f"adjust {PARTICIPANT} --actor {ADMIN}"

REFUSED = [
    # not found
    pytest.param("balance P999", "NotFound", id="balance-unknown-participant"),
    pytest.param("history P999", "NotFound", id="history-unknown-participant"),
    pytest.param(
        f"record P999 --target {TARGET} --outcome met --actor {RECORDER}",
        "NotFound",
        id="record-unknown-participant",
    ),
    pytest.param(record_cmd(participant="P999"), "NotFound", id="record-at-unknown-participant"),
    pytest.param(
        record_cmd().replace(TARGET, "alcohol-negative"), "NotFound", id="record-unknown-target"
    ),
    pytest.param(
        f"enroll P002 --program no-such --actor {ADMIN}", "NotFound", id="enroll-unknown-program"
    ),
    pytest.param("program show no-such", "NotFound", id="show-unknown-program"),
    pytest.param(f"program add --preset no-such --actor {ADMIN}", "NotFound", id="no-preset"),
    pytest.param(f"withdraw P999 --actor {ADMIN} --yes", "NotFound", id="withdraw-unknown"),
    pytest.param(f"complete P999 --actor {ADMIN} --yes", "NotFound", id="complete-unknown"),
    pytest.param(
        f"adjust P999 --points 5 --reason x --actor {ADMIN}", "NotFound", id="adjust-unknown"
    ),
    pytest.param(f"reverse 99 --reason x --actor {ADMIN} --yes", "NotFound", id="unknown-transfer"),
    pytest.param(
        f"staff deactivate nobody --actor {ADMIN} --yes", "NotFound", id="deactivate-unknown"
    ),
    # permission
    pytest.param(
        f"adjust {PARTICIPANT} --points 5 --reason goodwill --actor {RECORDER}",
        "PermissionDenied",
        id="recorder-adjusts",
    ),
    pytest.param(
        f"reverse 1 --reason x --actor {RECORDER} --yes", "PermissionDenied", id="recorder-reverses"
    ),
    pytest.param(
        f"staff add rec-02 --role recorder --actor {RECORDER}",
        "PermissionDenied",
        id="recorder-adds-staff",
    ),
    pytest.param(
        f"staff deactivate {ADMIN} --actor {RECORDER} --yes",
        "PermissionDenied",
        id="recorder-deactivates",
    ),
    pytest.param(
        f"program add --preset va-prize-cm --timezone UTC --actor {RECORDER}",
        "PermissionDenied",
        id="recorder-adds-program",
    ),
    pytest.param(
        f"enroll P002 --program {PROGRAM} --actor {RECORDER}",
        "PermissionDenied",
        id="recorder-enrols",
    ),
    pytest.param(
        f"withdraw {PARTICIPANT} --actor {RECORDER} --yes",
        "PermissionDenied",
        id="recorder-withdraws",
    ),
    pytest.param(
        f"complete {PARTICIPANT} --actor {RECORDER} --yes",
        "PermissionDenied",
        id="recorder-completes",
    ),
    pytest.param(record_cmd(actor="ghost"), "PermissionDenied", id="unknown-actor"),
    # insufficient points
    pytest.param(
        f"{ADJUST} --points -11 --reason 'too much'", "InsufficientPoints", id="adjust-below-0"
    ),
    # one result per visit
    pytest.param(
        record_cmd(at=at_day(2, hour=8), outcome="not_met"),
        "AlreadyExists",
        id="another-result-same-visit",
    ),
    pytest.param(
        f"correct 1 --outcome met --reason same --actor {ADMIN} --yes",
        "InvalidTransition",
        id="correct-to-the-same-outcome",
    ),
    pytest.param(
        f"void 1 --reason 'wrong chart' --actor {RECORDER} --yes",
        "PermissionDenied",
        id="recorder-voids",
    ),
    pytest.param(
        f"correct 99 --outcome met --reason typo --actor {ADMIN} --yes",
        "NotFound",
        id="correct-missing",
    ),
    # idempotency conflicts
    pytest.param(
        record_cmd(f"--key {RECORD_KEY}", at=at_day(2), outcome="not_met"),
        "IdempotencyConflict",
        id="key-reused-other-outcome",
    ),
    pytest.param(
        record_cmd(f"--key {RECORD_KEY}", at=at_day(3)),
        "IdempotencyConflict",
        id="key-reused-other-time",
    ),
    pytest.param(
        record_cmd(f"--key {RECORD_KEY} --note again", at=at_day(2)),
        "IdempotencyConflict",
        id="key-reused-other-note",
    ),
    pytest.param(
        f"{ADJUST} --points -10 --reason x --key {RECORD_KEY}",
        "IdempotencyConflict",
        id="key-reused-by-adjust",
    ),
    # state
    pytest.param(
        f"reverse 2 --reason again --actor {ADMIN} --yes", "InvalidTransition", id="reverse-2x"
    ),
    pytest.param(
        f"reverse 3 --reason 'undo the undo' --actor {ADMIN} --yes",
        "InvalidTransition",
        id="reverse-a-reversal",
    ),
    pytest.param(
        f"staff deactivate {ADMIN} --actor {ADMIN} --yes", "InvalidTransition", id="deactivate-self"
    ),
    pytest.param("init --admin admin-2 --no-sign-in", "AlreadyExists", id="init-again"),
    pytest.param(
        f"staff add {RECORDER} --role admin --actor {ADMIN}", "AlreadyExists", id="staff-exists"
    ),
    pytest.param(
        f"program add --preset {PROGRAM} --timezone UTC --actor {ADMIN}",
        "AlreadyExists",
        id="program-exists",
    ),
    pytest.param(
        f"enroll {PARTICIPANT} --program {PROGRAM} --actor {ADMIN}",
        "AlreadyExists",
        id="enrolled-twice",
    ),
]

INVALID = [
    # choices
    pytest.param(record_cmd(outcome="negative"), id="bad-outcome"),
    pytest.param(f"staff add x-1 --role boss --actor {ADMIN}", id="bad-role"),
    # times and dates
    pytest.param(record_cmd(at="yesterday"), id="bad-at-word"),
    pytest.param(record_cmd(at=f"{TODAY}T25:00"), id="bad-at-hour"),
    pytest.param(record_cmd(at=f"{TODAY.year}-02-30"), id="bad-at-date"),
    pytest.param(record_cmd(at=""), id="empty-at"),
    pytest.param(record_cmd(at=str(TODAY + dt.timedelta(days=3))), id="at-in-the-future"),
    pytest.param(record_cmd(at=str(START - dt.timedelta(days=1))), id="at-before-enrolment"),
    pytest.param(
        f"enroll P002 --program {PROGRAM} --start 2027-13-01 --actor {ADMIN}", id="bad-start"
    ),
    pytest.param(
        f"enroll P002 --program {PROGRAM} --start 'next week' --actor {ADMIN}", id="start-words"
    ),
    # numbers
    pytest.param(f"{ADJUST} --points ten --reason x", id="points-not-integer"),
    pytest.param(f"{ADJUST} --points 1.5 --reason x", id="points-fraction"),
    pytest.param(f"{ADJUST} --points 0 --reason x", id="points-zero"),
    pytest.param(f"reverse first --reason x --actor {ADMIN} --yes", id="transfer-not-integer"),
    # missing required options and arguments
    pytest.param(
        f"record {PARTICIPANT} --target {TARGET} --actor {RECORDER}", id="missing-outcome"
    ),
    pytest.param(f"record {PARTICIPANT} --target {TARGET} --outcome met", id="missing-actor"),
    pytest.param(f"{ADJUST} --points 5", id="missing-reason"),
    pytest.param(f"{ADJUST} --reason x", id="missing-points"),
    pytest.param(f"staff add x-1 --actor {ADMIN}", id="missing-role"),
    pytest.param(f"enroll P002 --actor {ADMIN}", id="missing-program"),
    pytest.param("init", id="missing-admin"),
    pytest.param("balance", id="missing-participant"),
    pytest.param("program show", id="missing-program-id"),
    # --preset / --file
    pytest.param(
        f"program add --preset {PROGRAM} --file p.toml --actor {ADMIN}", id="preset-and-file"
    ),
    pytest.param(f"program add --actor {ADMIN}", id="neither-preset-nor-file"),
    pytest.param(
        f"program add --preset va-prize-cm --timezone Mars/Olympus --actor {ADMIN}",
        id="bad-timezone-override",
    ),
    pytest.param(
        f"program add --preset va-prize-cm --id 'Not A Slug' --actor {ADMIN}",
        id="bad-program-id-override",
    ),
    # ids and text
    pytest.param(f"staff add 'Jane Doe' --role recorder --actor {ADMIN}", id="staff-name"),
    pytest.param(f"enroll 'Jane Doe' --program {PROGRAM} --actor {ADMIN}", id="person-name"),
    pytest.param(record_cmd("--note 'two\nlines'"), id="multi-line-note"),
    pytest.param(record_cmd("--key ' '"), id="blank-key"),
    pytest.param(f"{ADJUST} --points 5 --reason ' '", id="blank-reason"),
    # usage
    pytest.param(f"balance {PARTICIPANT} --colour", id="unknown-option"),
    pytest.param(f"balance {PARTICIPANT} P002", id="extra-argument"),
    pytest.param("staff", id="group-without-subcommand"),
]


@pytest.mark.parametrize(("command", "kind"), REFUSED)
@pytest.mark.parametrize("json_output", [True, False], ids=["json", "text"])
def test_refused_by_a_rule_exits_1_and_writes_nothing(
    funded_db: Path, command: str, kind: str, json_output: bool
) -> None:
    before = snapshot(funded_db)
    result = invoke(funded_db, command, json_output=json_output)
    error = assert_error(result, 1, json_output=json_output)
    if json_output:
        assert error["type"] == kind
    assert snapshot(funded_db) == before


@pytest.mark.parametrize("command", INVALID)
@pytest.mark.parametrize("json_output", [True, False], ids=["json", "text"])
def test_invalid_input_exits_2_and_writes_nothing(
    funded_db: Path, command: str, json_output: bool
) -> None:
    before = snapshot(funded_db)
    assert_error(invoke(funded_db, command, json_output=json_output), 2, json_output=json_output)
    assert snapshot(funded_db) == before


def test_usage_errors_name_the_option_and_point_to_help(funded_db: Path) -> None:
    error = assert_error(invoke(funded_db, record_cmd(outcome="negative")), 2)
    assert error["type"] == "UsageError"
    assert "'--outcome'" in error["message"]
    assert error["message"].endswith("(see 'cmrewards record --help')")


def test_invalid_time_names_the_option(funded_db: Path) -> None:
    error = assert_error(invoke(funded_db, record_cmd(at="yesterday")), 2)
    assert (error["type"], error["message"].split(" ")[0]) == ("InvalidInput", "--at")


def test_a_refused_result_leaves_the_schedule_where_it_was(funded_db: Path) -> None:
    assert_error(invoke(funded_db, record_cmd(at=at_day(2, hour=8), outcome="not_met")), 1)
    assert_error(invoke(funded_db, record_cmd(f"--key {RECORD_KEY}", outcome="not_met")), 1)
    assert award_of(record(funded_db, 3)) == award(15)


# --- found while writing these tests: behaviour that contradicts docs/design.md ----------


@pytest.mark.parametrize(
    "at", ["9999-12-31T23:59-05:00", "0001-01-01T00:00+05:00"], ids=["after-9999", "before-1"]
)
def test_record_at_outside_the_datetime_range_is_invalid_input(funded_db: Path, at: str) -> None:
    """BUG: an --at that leaves the datetime range once converted to UTC escapes as an
    uncaught OverflowError (a traceback, exit 1) instead of exit 2."""
    before = snapshot(funded_db)
    assert_error(invoke(funded_db, record_cmd(at=at)), 2)
    assert snapshot(funded_db) == before


@pytest.mark.parametrize("points", ["99999999999999999999", "9223372036854775807"])
def test_adjust_with_absurd_points_is_invalid_input(funded_db: Path, points: str) -> None:
    """BUG: 20-digit --points escape as an uncaught OverflowError (a traceback); 2**63-1
    is reported as exit 3, a damaged database, although the file is fine. (A huge negative
    number is rightly refused as InsufficientPoints.)"""
    before = snapshot(funded_db)
    assert_error(invoke(funded_db, f"{ADJUST} --points {points} --reason typo"), 2)
    assert snapshot(funded_db) == before


def test_reverse_an_absurd_transfer_id_is_not_found(funded_db: Path) -> None:
    """BUG: a transfer id beyond SQLite's integer range escapes as an uncaught
    OverflowError (a traceback) instead of 'no transfer N' (exit 1)."""
    before = snapshot(funded_db)
    assert_error(
        invoke(funded_db, f"reverse 99999999999999999999 --reason x --actor {ADMIN} --yes"), 1
    )
    assert snapshot(funded_db) == before


@pytest.mark.parametrize(
    "command",
    ["no-such-command", f"--colour balance {PARTICIPANT}", ""],
    ids=["unknown-command", "unknown-top-level-option", "missing-command"],
)
def test_json_usage_errors_at_the_top_level_are_json_too(funded_db: Path, command: str) -> None:
    """BUG: errors click raises while parsing the top level, before the group callback sets
    the JSON flag, leave stdout empty under --json instead of an {"error": ...} document."""
    before = snapshot(funded_db)
    assert_error(invoke(funded_db, command), 2)
    assert snapshot(funded_db) == before


def test_json_flag_does_not_leak_into_the_next_invocation(funded_db: Path) -> None:
    """BUG: --json is a module-level ContextVar set by the group callback and never reset,
    so in a process that runs the CLI twice (as ``demo`` does) a later invocation without
    --json prints a JSON error document on stdout."""
    context = contextvars.Context()
    assert_error(invoke(funded_db, "balance P999", context=context), 1)
    later = invoke(funded_db, "--colour", json_output=False, context=context)
    assert_error(later, 2, json_output=False)


# --- entry points ----------------------------------------------------------------------------


def test_python_dash_m_help() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CMREWARDS_DB"}
    done = subprocess.run(
        [sys.executable, "-m", "cmrewards", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("Usage: ")
    for command in ("init", "record", "balance", "verify", "demo"):
        assert f"\n  {command} " in done.stdout


def test_the_command_line_starts_with_the_public_door_only() -> None:
    """Importing the CLI loads ``cmrewards``, ``cmrewards.errors`` and the commands: the door
    imports each public name on first use, so ``--help`` never pays for the layers below."""
    code = "import sys, cmrewards.cli; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(done.stdout.split())
    ours = {name for name in loaded if name.split(".")[0] == "cmrewards"}
    assert {"cmrewards", "cmrewards.errors", "cmrewards.cli"} <= ours
    assert not {name for name in ours if not name.startswith("cmrewards.cli")} - {
        "cmrewards",
        "cmrewards.errors",
    }
    assert not loaded & {"sqlite3", "sqlite_utils", "psycopg"}


HEAVY = ("psycopg", "argon2", "sqlite_utils", "tomllib", "cmrewards.app.sign_in")
"""What a command that needs none of it must not import: the PostgreSQL driver, the
passphrase hash, the migration runner, TOML, sign-in, and any lab-message reader."""


def heavy(loaded: set[str]) -> set[str]:
    return {
        name
        for name in loaded
        if name.split(".")[0] in HEAVY
        or name in HEAVY
        or any(reader in name for reader in ("hl7", "fhir", "mllp"))
    }


def test_import_cmrewards_loads_no_driver_hash_or_reader() -> None:
    """``import cmrewards`` imports each public name on first use (issue 16): psycopg,
    argon2 and the HL7 / FHIR readers wait until something needs them."""
    code = "import sys, cmrewards; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert heavy(set(done.stdout.split())) == set()


def test_balance_imports_only_what_it_runs(tmp_path: Path) -> None:
    """``cmrewards balance`` on an existing file starts with its own command module and the
    reads it makes: no other command's module, no use case it does not call (issue 16)."""
    db = tmp_path / "c.db"
    setup = [["init", "--admin", "admin-1", "--no-sign-in"]]
    setup += [
        ["program", "add", "--preset", "higgins-vbrt", "--timezone", "UTC", "--actor", "admin-1"]
    ]
    setup += [["enroll", "P-1", "--program", "higgins-vbrt", "--actor", "admin-1"]]
    for args in setup:
        result = CliRunner().invoke(cli, ["--db", str(db), *args])
        assert result.exit_code == 0, result.output
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['cmrewards', '--db', {str(db)!r}, 'balance', 'P-1']\n"
        "try:\n    runpy.run_module('cmrewards', run_name='__main__')\n"
        "except SystemExit as done:\n    assert not done.code, done.code\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.startswith("P-1: 0 points")
    loaded = set(done.stderr.split())
    assert heavy(loaded) == set()
    commands = {name for name in loaded if name.startswith("cmrewards.cli.")}
    # balance's own module and the shell; the session's module is a write's
    own = ("_shell", "_ids", "_output", "_confirm", "outcomes")
    assert commands <= {f"cmrewards.cli.{m}" for m in own}
    unused = {"closing", "corrections", "backups", "rewards", "specimens", "migrate"}
    unused |= {"lab_reports", "lab_import"}
    assert not loaded & {f"cmrewards.app.{m}" for m in unused}
    # A read builds no record of the rooms it does not read, and nothing only a write needs
    # (the journal, the holds, the draws' seeds: issue 16).
    rooms = ("journal", "staff", "sign_in", "redemption", "lab_reports", "revisions", "specimens")
    assert not loaded & {f"cmrewards.domain.{m}" for m in rooms}
    assert not loaded & {"cmrewards.store.journaling", "cmrewards.app.holds", "secrets"}
    # Nor the records only writes, history and verify return, nor what verify checks with:
    # the chains (and hashlib, loading OpenSSL), problems and refs, the episodes (issue 16).
    verify_only = ("results", "verify_report", "checkpoint", "chain", "problems", "refs")
    assert not loaded & {f"cmrewards.domain.{m}" for m in (*verify_only, "episodes", "earning")}
    # pathlib (with urllib.parse and ipaddress) and fractions (with decimal): the file is
    # opened through ``os``, and no balance divides cents.
    assert not loaded & {"hashlib", "pathlib", "urllib.parse", "fractions", "decimal"}


def tree(command: click.Command) -> dict[str, object] | None:
    """A command's subcommands, to every depth (None for a command that has none)."""
    if not isinstance(command, click.Group):
        return None
    return {name: tree(sub) for name, sub in sorted(command.commands.items())}


TREE_OF_HOME = """
import json, sys
import click
from cmrewards.cli import cli
from cmrewards.cli._shell import COMMAND_HOMES
def tree(command):
    if not isinstance(command, click.Group):
        return None
    return {name: tree(sub) for name, sub in sorted(command.commands.items())}
home = sys.argv[1]
__import__(f"cmrewards.cli.{home}")
names = [name for name, module in COMMAND_HOMES.items() if module == home]
print(json.dumps({name: tree(cli.commands[name]) for name in names}))
"""


def test_every_command_has_its_home() -> None:
    """The command line imports a command's module on first use: the table of homes names
    every command, and importing a command's home alone defines it whole (every subcommand
    another module adds to its group included)."""
    from cmrewards.cli._shell import COMMAND_HOMES

    cli.load_every_command()
    assert sorted(cli.commands) == sorted(COMMAND_HOMES)
    whole = tree(cli)
    assert whole is not None
    for home in sorted(set(COMMAND_HOMES.values())):
        done = subprocess.run(
            [sys.executable, "-c", TREE_OF_HOME, home],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        alone = json.loads(done.stdout)
        assert alone == {name: whole[name] for name in alone}, home


def test_version_option() -> None:
    result = invoke(None, "--version", json_output=False)
    assert result.exit_code == 0
    assert "0.1.0" in result.stdout
