"""The managers' and auditors' commands through click's ``CliRunner``: ``report``,
``statement``, ``export``, ``simulate`` and ``demo`` (docs/design.md section 7).

Successes are checked against hand-computed numbers; every refusal against its exit
code (1 refused by a rule, 2 invalid input or usage) with exactly one ``cmrewards: ...``
line on stderr and no traceback. Outcomes are recorded at past times (enrolment four
weeks before today) because the CLI runs on the real clock.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from cmrewards.cli import cli
from support.cli import assert_error

ADMIN = "admin-1"
PROGRAM = "higgins-vbrt"
TARGET = "stimulant-negative"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(weeks=4)
"""Enrolment date: four weeks ago, so every visit below is in the past."""
LA = ZoneInfo("America/Los_Angeles")
LATE_DAY = START + dt.timedelta(days=10)
"""L1's evening visit at 23:30 in Los Angeles falls on this date there, the next in UTC."""
GENESIS = "0" * 64

LA_PROGRAM = """\
id = "la-clinic"
name = "Los Angeles attendance"
timezone = "America/Los_Angeles"
point_value_cents = 100
budget_cents = 10000

[[targets]]
id = "stimulant-negative"
per_week = 7                     # a visit a day
schedule = { kind = "fixed", award = "points", amount = 5 }
"""

Command = str | Sequence[str]


# --- helpers (the style of tests/test_cli.py) -------------------------------------------


def at_day(day: int, hour: int = 9) -> str:
    """ISO time (UTC) ``day`` days after START: in the past, never before enrolment."""
    return f"{START + dt.timedelta(days=day)}T{hour:02d}:30:00+00:00"


def la_time(day: dt.date, hour: int, minute: int = 0) -> str:
    """A clinical time in Los Angeles, with whatever offset (PST or PDT) applies then."""
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=LA).isoformat()


def invoke(
    db: Path | None,
    command: Command,
    *,
    json_output: bool = True,
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """Run ``cmrewards [--db DB] [--json] COMMAND`` in a fresh context, as a new process."""
    args = shlex.split(command) if isinstance(command, str) else list(command)
    top = [*(["--db", str(db)] if db is not None else []), *(["--json"] if json_output else [])]
    runner = CliRunner()
    return contextvars.Context().run(
        runner.invoke, cli, [*top, *args], env=env, prog_name="cmrewards"
    )


def ok(db: Path | None, command: Command) -> Any:
    """A ``--json`` command that must succeed; its parsed JSON document."""
    result = invoke(db, command)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return json.loads(result.stdout)


def text(db: Path | None, command: Command) -> str:
    """A command without ``--json`` that must succeed; its stdout."""
    result = invoke(db, command, json_output=False)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def error(db: Path | None, command: Command, code: int, *, json_output: bool = True) -> str:
    result = invoke(db, command, json_output=json_output)
    message: str = assert_error(result, code, json_output=json_output)["message"]
    return message


def record(db: Path, participant: str, outcome: str, at: str) -> Any:
    return ok(
        db,
        f"record {participant} --target {TARGET} --outcome {outcome}"
        f" --at {shlex.quote(at)} --actor {ADMIN}",
    )


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """higgins-vbrt with P001 (met, met, met, not_met, met) and P002 (no results yet).

    P001 earns 10, 15, 20+40 (third in a row), 0 (reset), 10: 95 points = $23.75.
    """
    path = tmp_path / "clinic.db"
    ok(path, f"init --admin {ADMIN} --no-sign-in")
    ok(path, f"program add --preset {PROGRAM} --timezone UTC --actor {ADMIN}")
    for participant in ("P001", "P002"):
        ok(path, f"enroll {participant} --program {PROGRAM} --start {START} --actor {ADMIN}")
    for day, outcome in zip((0, 2, 4, 7, 9), ("met", "met", "met", "not_met", "met"), strict=True):
        record(path, "P001", outcome, at_day(day))
    return path


@pytest.fixture
def la_db(db: Path, tmp_path: Path) -> Path:
    """``db`` plus a Los Angeles program: L1 met at 10:00 the day before LATE_DAY, at 23:30 on
    LATE_DAY and at 10:00 the next day (one visit a day), 5 points ($5) each."""
    program = tmp_path / "la.toml"
    program.write_text(LA_PROGRAM, encoding="utf-8")
    ok(db, f"program add --file {shlex.quote(str(program))} --actor {ADMIN}")
    ok(db, f"enroll L1 --program la-clinic --start {START} --actor {ADMIN}")
    next_day = LATE_DAY + dt.timedelta(days=1)
    day_before = LATE_DAY - dt.timedelta(days=1)
    for at in (la_time(day_before, 10), la_time(LATE_DAY, 23, 30), la_time(next_day, 10)):
        record(db, "L1", "met", at)
    return db


HIGGINS_REPORT = {
    "program_id": PROGRAM,
    "name": "Higgins voucher-based reinforcement therapy",
    "since": None,
    "until": None,
    "enrolled": 2,
    "active": 2,
    "completed": 0,
    "withdrawn": 0,
    # 5 results, 4 met: 800 per mille.
    "targets": [{"target": TARGET, "opportunities": 5, "met": 4, "met_per_mille": 800}],
    # P001: met, met, met, then not_met: 3. P002: 0. Mean and median 1.5.
    "longest_abstinence": {"P001": 3, "P002": 0},
    "lda_mean_tenths": 15,
    "lda_median_tenths": 15,
    "points_awarded": 95,
    "points_held": 0,
    "points_redeemed": 0,
    "points_outstanding": 95,
    "awarded_cents": 2375,  # 95 * 25
    "outstanding_cents": 2375,
    "prizes_won": {},
    "prizes_handed_over": {},
    "cost_per_participant_cents": 1188,  # 2375 / 2 = 1187.5, half to even
    "budget_cents": None,
    "budget_committed_cents": 2375,
    "budget_remaining_cents": None,
    "cap_hits": 0,
    "low_stock": [],
    "written_off_points": 0,
    "written_off_cents": 0,
    "episodes": 2,
    "returning": 0,
    "over_cap_grants": [],
    "over_cap_points": 0,
    "over_cap_cents": 0,
    "adjusted_points": 0,
    "adjusted_cents": 0,
    "as_of_now": [
        "enrolled",
        "active",
        "completed",
        "withdrawn",
        "episodes",
        "returning",
        "points_held",
        "points_redeemed",
        "points_outstanding",
        "outstanding_cents",
        "cap_hits",
        "low_stock",
    ],
}


# --- report ------------------------------------------------------------------------------


def test_report_json(db: Path) -> None:
    assert ok(db, "report") == [HIGGINS_REPORT]
    assert ok(db, f"report --program {PROGRAM}") == [HIGGINS_REPORT]


def test_report_text(db: Path) -> None:
    lines = text(db, "report").splitlines()
    assert lines[0] == f"{PROGRAM}: Higgins voucher-based reinforcement therapy (start to today)"
    for expected in [
        "  participants  2 enrolled: 2 active, 0 completed, 0 withdrawn",
        f"  {TARGET:<22} 5 recorded, 4 met (80.0 %)",
        "  abstinence    longest run mean 1.5, median 1.5 samples",
        "  points        95 awarded, +0 adjusted, 0 held, 0 redeemed, 95 outstanding",
        "  cost          $23.75 awarded, $0.00 adjusted, $23.75 outstanding;"
        " $11.88 awarded per participant",
        "  caps          no participant reached the cap",
    ]:
        assert expected in lines
    assert not any(line.startswith("  budget") for line in lines)


def test_a_report_over_a_range_says_which_figures_are_now_and_counts_adjustments(
    db: Path,
) -> None:
    """Newcomer finding 6: a range's report mixed today's balances and statuses under the
    range's heading, and left a hand adjustment out of the cost lines."""
    ok(db, f"adjust P002 --points 2400 --reason 'carried over' --actor {ADMIN}")
    ok(db, f"withdraw P001 --actor {ADMIN} --yes")
    first = START + dt.timedelta(days=3)
    lines = text(db, f"report --since {first} --until {TODAY}").splitlines()
    assert lines[0].endswith(f"({first} to {TODAY})")
    assert "  participants  2 enrolled: 1 active, 0 completed, 1 withdrawn (as of now)" in lines
    # In the range: 20+40 and 10 (the reset pays 0) = 70 awarded; the 2,400 adjusted.
    assert (
        "  points        70 awarded, +2,400 adjusted; as of now 0 held, 0 redeemed,"
        " 2,495 outstanding"
    ) in lines
    assert (
        "  cost          $17.50 awarded, $600.00 adjusted; as of now $623.75 outstanding;"
        " $8.75 awarded per participant"
    ) in lines
    assert "  caps          no participant reached the cap (as of now)" in lines
    (report,) = ok(db, f"report --since {first}")
    assert (report["adjusted_points"], report["adjusted_cents"]) == (2400, 60000)
    assert {"points_outstanding", "withdrawn"} <= set(report["as_of_now"])
    assert "points_awarded" not in report["as_of_now"]
    whole = text(db, "report").splitlines()
    assert "  points        95 awarded, +2,400 adjusted, 0 held, 0 redeemed, 2,495 outstanding" in (
        whole
    )


def test_report_of_every_program(la_db: Path) -> None:
    reports = ok(la_db, "report")
    assert [r["program_id"] for r in reports] == ["higgins-vbrt", "la-clinic"]
    assert reports[0] == HIGGINS_REPORT
    # L1: three results, all met, 3 * 5 = 15 points = $15.00 of the $100.00 budget.
    assert reports[1]["points_awarded"] == 15
    assert reports[1]["awarded_cents"] == 1500
    assert (reports[1]["budget_cents"], reports[1]["budget_remaining_cents"]) == (10000, 8500)
    assert reports[1]["longest_abstinence"] == {"L1": 3}
    lines = text(la_db, "report --program la-clinic").splitlines()
    assert "  budget        $100.00: $15.00 committed to date, $85.00 remaining" in lines


def test_the_late_visit_is_on_the_clinic_date(la_db: Path) -> None:
    late = dt.datetime.fromisoformat(la_time(LATE_DAY, 23, 30))
    assert late.astimezone(dt.UTC).date() == LATE_DAY + dt.timedelta(days=1)
    next_day = LATE_DAY + dt.timedelta(days=1)
    # Until LATE_DAY: the day before's and the 23:30 visits (10 points); since the next day:
    # only its 10:00 visit (5 points), though the 23:30 visit is on that day in UTC.
    for period, opportunities in (
        (f"--until {LATE_DAY}", 2),
        (f"--since {next_day}", 1),
        (f"--since {LATE_DAY} --until {LATE_DAY}", 1),
        (f"--since {next_day} --until {next_day}", 1),
    ):
        (report,) = ok(la_db, f"report --program la-clinic {period}")
        assert report["targets"] == [
            {
                "target": TARGET,
                "opportunities": opportunities,
                "met": opportunities,
                "met_per_mille": 1000,
            }
        ], period
        assert report["points_awarded"] == 5 * opportunities, period
        assert report["awarded_cents"] == 500 * opportunities, period
        assert report["longest_abstinence"] == {"L1": opportunities}, period


def test_report_period_is_echoed(db: Path) -> None:
    since, until = START + dt.timedelta(days=1), START + dt.timedelta(days=5)
    (report,) = ok(db, f"report --since {since} --until {until}")
    assert (report["since"], report["until"]) == (since.isoformat(), until.isoformat())
    # Days 2 and 4 only: P001's second and third negatives, 15 and 20 + 40 = 75 points.
    assert report["targets"][0]["opportunities"] == 2
    assert report["points_awarded"] == 15 + 20 + 40
    assert report["longest_abstinence"] == {"P001": 2, "P002": 0}
    first = text(db, f"report --since {since} --until {until}").splitlines()[0]
    assert first.endswith(f"({since} to {until})")


@pytest.mark.parametrize(
    "option",
    ["--since 2027-13-01", "--until yesterday", "--since 0000-01-01", "--until 3000-01-01"],
)
def test_report_bad_date(db: Path, option: str) -> None:
    message = error(db, f"report {option}", 2)
    assert message.startswith(option.split()[0])
    error(db, f"report {option}", 2, json_output=False)


def test_report_empty_date_is_refused(db: Path) -> None:
    """``--until ''`` is not a date: refused like any other, not read as "no limit"."""
    message = error(db, "report --until ''", 2)
    assert message == "--until '' is not a date (YYYY-MM-DD)"


def test_report_since_after_until(db: Path) -> None:
    message = error(db, f"report --since {TODAY} --until {START}", 2)
    assert message == f"since {TODAY} is after until {START}"


def test_report_unknown_program(db: Path) -> None:
    assert error(db, "report --program nope", 1) == "no program 'nope'"
    error(db, "report --program nope", 1, json_output=False)


def test_report_empty_program_is_not_found(db: Path) -> None:
    """``--program ''`` names no program: refused, not read as "every program"."""
    error(db, "report --program ''", 1)


def test_report_without_a_database(tmp_path: Path) -> None:
    message = error(tmp_path / "none.db", "report", 1)
    assert message.startswith("no database at")
    assert not (tmp_path / "none.db").exists()


# --- statement ---------------------------------------------------------------------------


def test_statement_json(db: Path) -> None:
    made = ok(db, "statement P001")
    assert (made["participant"], made["program_id"], made["start"], made["status"]) == (
        "P001",
        PROGRAM,
        START.isoformat(),
        "active",
    )
    lines = made["lines"]
    assert [line["outcome"] for line in lines] == ["met", "met", "met", "not_met", "met"]
    assert [line["points"] for line in lines] == [10, 15, 60, 0, 10]
    assert [line["value_cents"] for line in lines] == [250, 375, 1500, 0, 250]
    assert [line["cumulative_cents"] for line in lines] == [250, 625, 2125, 2125, 2375]
    assert [line["streak"] for line in lines] == [1, 2, 3, 0, 1]
    assert [line["reset"] for line in lines] == [False, False, False, True, False]
    assert (made["longest_streak"], made["resets"], made["recoveries"]) == (3, 1, 0)
    assert made["earned_cents"] == 2375
    assert made["balance"]["points"] == 95
    assert (made["redemptions"], made["prizes"]) == ([], [])


def test_statement_text(db: Path) -> None:
    lines = text(db, "statement P001").splitlines()
    assert lines[0] == f"P001 in {PROGRAM} since {START} (active)"
    assert len(lines) == 2 + 5 + 1
    day_four = (START + dt.timedelta(days=4)).isoformat()
    assert lines[1].split() == ["date", "target", "result", "paid", "streak", "total"]
    assert lines[4].split() == [day_four, TARGET, "met", "60", "points", "3", "$21.25"]
    reset_day = (START + dt.timedelta(days=7)).isoformat()
    assert lines[5].split() == [reset_day, TARGET, "not_met", "0", "$21.25", "reset"]
    # The totals are right-aligned: the lines without a mark end in the same column.
    assert len({len(lines[i]) for i in (2, 3, 4, 6)}) == 1
    assert lines[-1] == (
        "longest streak 3, 1 reset, 0 recoveries; earned $23.75; balance 95 points"
    )


def test_statement_html(db: Path, tmp_path: Path) -> None:
    page = tmp_path / "P001.html"
    output = text(db, f"statement P001 --html {shlex.quote(str(page))}")
    assert output.splitlines()[-1] == f"wrote {page}"
    written = page.read_text(encoding="utf-8")
    assert "<svg" in written
    assert "P001" in written


def test_statement_html_with_json(db: Path, tmp_path: Path) -> None:
    page = tmp_path / "P001.html"
    made = ok(db, f"statement P001 --html {shlex.quote(str(page))}")
    assert made["earned_cents"] == 2375
    assert "<svg" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("where", ["missing/page.html", "."])
def test_statement_html_unwritable(db: Path, tmp_path: Path, where: str) -> None:
    target = tmp_path / where
    message = error(db, f"statement P001 --html {shlex.quote(str(target))}", 2)
    assert message.startswith("cannot write ")
    assert str(target) in message
    error(db, f"statement P001 --html {shlex.quote(str(target))}", 2, json_output=False)
    assert not (tmp_path / "missing").exists()


def test_statement_empty_html_path(db: Path) -> None:
    message = error(db, "statement P001 --html ''", 2)
    assert message.startswith("cannot write ")


def test_statement_unknown_participant(db: Path) -> None:
    assert error(db, "statement P404", 1) == "no participant 'P404'"


# --- export ------------------------------------------------------------------------------


def test_export_json_manifest(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    manifest = ok(db, f"export --out {shlex.quote(str(out))}")
    verified = ok(db, "verify")
    assert "directory" not in manifest  # no path of the machine
    assert manifest["checkpoint"]["chains"][0] == {
        "chain": "outcomes",
        "length": 5,
        "head": verified["outcome_chain_head"],
    }
    assert ok(db, f"verify --against {shlex.quote(str(out / 'manifest.json'))}")["ok"]
    # 2 participants, 5 outcomes; transfers: 4 awards + 1 bonus (the third met).
    assert manifest["tables"]["participants"] == 2
    assert manifest["tables"]["outcomes"] == 5 == verified["outcomes"]
    assert manifest["tables"]["transfers"] == 5 == verified["transfers"]
    assert manifest["tables"]["staff"] == 1
    assert manifest["transfer_chain_head"] == verified["transfer_chain_head"]
    assert manifest["outcome_chain_head"] == verified["outcome_chain_head"]
    assert GENESIS not in (manifest["transfer_chain_head"], manifest["outcome_chain_head"])
    assert json.loads((out / "manifest.json").read_text("utf-8")) == manifest
    for name, count in manifest["tables"].items():
        rows = json.loads((out / f"{name}.json").read_text("utf-8"))
        assert len(rows) == count, name
        assert (out / f"{name}.csv").is_file(), name


def test_export_text(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "audit"
    lines = text(db, f"export --out {shlex.quote(str(out))}").splitlines()
    assert lines[-1] == f"written to {out}"
    assert lines[-3].startswith("transfer chain head ")
    assert lines[-2].startswith("checkpoint cmrewards-checkpoint/1 ")
    assert lines[0].split() == ["table", "rows"]
    assert ["outcomes", "5"] in [line.split() for line in lines]
    assert ["past_episodes", "0"] in [line.split() for line in lines]


def test_export_refuses_a_non_empty_directory(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    message = error(db, f"export --out {shlex.quote(str(out))}", 2)
    assert message == f"{out} must be a new or empty directory"
    error(db, f"export --out {shlex.quote(str(out))}", 2, json_output=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_export_under_a_file_is_refused(db: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x", encoding="utf-8")
    message = error(db, f"export --out {shlex.quote(str(blocker / 'audit'))}", 2)
    assert message.startswith(f"cannot write the export to {blocker / 'audit'}")
    assert blocker.read_text(encoding="utf-8") == "x"


def test_export_requires_out(db: Path) -> None:
    error(db, "export", 2)


# --- simulate ----------------------------------------------------------------------------


def test_simulate_preset_without_a_database(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = ok(missing, "simulate --preset higgins-vbrt --participants 5 --p-met 1")
    assert not missing.exists()
    # Every sample negative: 36 negatives earn $997.50 (the published Higgins check).
    assert result == {
        "program_id": "higgins-vbrt",
        "participants": 5,
        "p_met": 1.0,
        "persistence": 0.0,
        "seed": 1,
        "weeks": 12,
        "mean_cents": 99750,
        "median_cents": 99750,
        "p95_cents": 99750,
        "maximum_cents": 99750,
        "cap_hit_share": 0.0,
        "total_cents": 5 * 99750,
        "mean_draws": 0.0,
    }


def test_simulate_preset_with_no_db_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke(
        None,
        "simulate --preset va-prize-cm --participants 3 --p-met 0",
        env={"CMREWARDS_DB": None},
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    document = json.loads(result.stdout)
    # Never a negative sample: nothing earned, nothing drawn.
    assert (document["mean_cents"], document["total_cents"], document["mean_draws"]) == (
        0,
        0,
        0.0,
    )
    assert list(tmp_path.iterdir()) == []


def test_simulate_text(tmp_path: Path) -> None:
    output = text(tmp_path / "none.db", "simulate --preset higgins-vbrt --participants 2 --p-met 1")
    lines = output.splitlines()
    assert lines[0] == "higgins-vbrt: 2 participants, p(met) 1.0, persistence 0.0, seed 1"
    assert "mean $997.50, median $997.50, 95th percentile $997.50" in lines[1]
    assert lines[2].endswith("total budget $1,995.00")


def test_simulate_program_from_the_database(db: Path, tmp_path: Path) -> None:
    command = "--participants 50 --p-met 0.6 --persistence 0.3 --seed 7"
    from_db = ok(db, f"simulate --program {PROGRAM} {command}")
    from_preset = ok(tmp_path / "none.db", f"simulate --preset {PROGRAM} {command}")
    assert from_db == from_preset
    assert (from_db["participants"], from_db["seed"], from_db["persistence"]) == (50, 7, 0.3)
    assert 0 < from_db["mean_cents"] < 99750


def test_simulate_program_needs_a_database(tmp_path: Path) -> None:
    message = error(
        tmp_path / "none.db", f"simulate --program {PROGRAM} --participants 5 --p-met 1", 1
    )
    assert message.startswith("no database at")
    assert not (tmp_path / "none.db").exists()


def test_simulate_unknown_program_or_preset(db: Path) -> None:
    assert error(db, "simulate --program nope --participants 5 --p-met 1", 1) == (
        "no program 'nope'"
    )
    message = error(db, "simulate --preset nope --participants 5 --p-met 1", 1)
    assert message.startswith("no preset 'nope'")


@pytest.mark.parametrize(
    "options",
    [
        f"--program {PROGRAM} --preset {PROGRAM} --participants 5 --p-met 0.5",
        "--participants 5 --p-met 0.5",
        f"--preset {PROGRAM} --participants 5 --p-met 1.5",
        f"--preset {PROGRAM} --participants 5 --p-met -0.1",
        f"--preset {PROGRAM} --participants 5 --p-met lots",
        f"--preset {PROGRAM} --participants 0 --p-met 0.5",
        f"--preset {PROGRAM} --p-met 0.5",
        f"--preset {PROGRAM} --participants 5 --p-met 0.5 --persistence 1",
    ],
)
def test_simulate_usage_errors(db: Path, options: str) -> None:
    error(db, f"simulate {options}", 2)
    error(db, f"simulate {options}", 2, json_output=False)


# --- demo --------------------------------------------------------------------------------


def test_demo_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    result = invoke(None, ["demo", "--db", str(path)], json_output=False)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    output = result.stdout
    page = tmp_path / "statement-P-1002.html"
    assert f"$ cmrewards statement P-1002 --html {page}" in output
    assert f"wrote {page}" in output
    assert "$ cmrewards report" in output
    assert "higgins-vbrt: Higgins voucher-based reinforcement therapy" in output
    assert "$ cmrewards simulate --preset va-prize-cm" in output
    assert "va-prize-cm: 1,000 participants" in output
    assert "OK:" in output
    assert "<svg" in page.read_text(encoding="utf-8")
    verified = ok(path, "verify")
    assert verified["ok"] is True
    # P-1001, P-1002, P-1003, P-2001 and four real CTN-0027 histories
    assert verified["participants"] == 8
    assert text(path, "verify").startswith("OK:")
    # The demo's report: three Higgins participants, nine results each. Longest runs:
    # P-1001 all nine; P-1002 four, a positive, four; P-1003 met, missed, met, excused,
    # met, met, met (4: the excused sample neither breaks nor counts), not_met, met.
    ctn, higgins, va = ok(path, "report")  # by program id
    assert (higgins["program_id"], va["program_id"]) == ("higgins-vbrt", "va-prize-cm")
    assert higgins["enrolled"] == 3
    assert higgins["targets"][0]["opportunities"] == 27
    assert higgins["longest_abstinence"] == {"P-1001": 9, "P-1002": 4, "P-1003": 4}
    # The real histories: 12 weeks owed by four, 41 specimens, 7 weeks closed as missed.
    assert (ctn["program_id"], ctn["enrolled"]) == ("ctn-stimulant", 4)
    assert (ctn["targets"][0]["opportunities"], ctn["targets"][0]["met"]) == (48, 40)
    assert ctn["longest_abstinence"] == {
        "CTN-00016": 6,
        "CTN-00030": 12,
        "CTN-00211": 6,
        "CTN-00249": 6,
    }


def test_demo_refuses_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "taken.db"
    path.write_text("not mine", encoding="utf-8")
    message = assert_error(
        invoke(None, ["demo", "--db", str(path)], json_output=False), 1, json_output=False
    )["message"]
    assert "needs a fresh file" in message
    assert path.read_text(encoding="utf-8") == "not mine"
