"""``cmrewards close``, ``cmrewards excuse`` and ``cmrewards import --close`` on the command
line: text and ``--json``, a rerun that writes nothing, and each refusal one line with its
exit code and nothing written. Times are in the past (enrolment four weeks ago).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from support.cli import assert_error, invoke, ok, snapshot, text

ADMIN = "admin-1"
RECORDER = "rec-01"
STIM = "stimulant-negative"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(weeks=4)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def date(day: int) -> dt.date:
    return START + dt.timedelta(days=day)


def at_day(day: int) -> str:
    return f"{date(day)}T09:30:00+00:00"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """admin-1, rec-01; P001 on a twice-weekly calendar program since four weeks ago."""
    path = tmp_path / "clinic.db"
    program = tmp_path / "twice.toml"
    program.write_text(
        'id = "twice"\nname = "Twice a week"\nweeks = 12\n\n[[targets]]\n'
        f'id = "{STIM}"\nper_week = 2\n'
        'schedule = { kind = "escalating", start = 10, step = 5 }\n',
        encoding="utf-8",
    )
    ok(path, f"init --admin {ADMIN} --no-sign-in")
    ok(path, f"staff add {RECORDER} --role recorder --actor {ADMIN}")
    ok(path, f"program add --file {program} --timezone UTC --actor {ADMIN}")
    ok(path, f"enroll P001 --program twice --start {START} --actor {ADMIN}")
    return path


def record(db: Path, day: int, outcome: str = "met") -> Any:
    return ok(
        db, f"record P001 --target {STIM} --outcome {outcome} --at {at_day(day)} --actor {RECORDER}"
    )


def test_close_records_missed_says_what_it_did_and_a_rerun_writes_nothing(db: Path) -> None:
    for day in (0, 2, 7, 21):
        record(db, day)
    report = ok(db, f"close --through {date(20)} --actor {RECORDER}")
    assert (report["participants"], report["missed"], report["weeks"]) == (1, {STIM: 3}, 2)
    (closed,) = report["closed"]
    assert (closed["participant"], closed["weeks"]) == ("P001", [2, 3])
    assert closed["settlement"]["taken_back_points"] == 15
    assert (report["stopped_at"], report["skipped_programs"]) == (None, [])
    before = snapshot(db)
    assert text(db, f"close --through {date(20)} --actor {RECORDER}") == (
        f"closed 1 participant through {date(20)}: 0 samples recorded missed"
        " in 0 participant-weeks\n"
    )
    assert snapshot(db) == before
    history = text(db, "history P001")
    assert history.count("stimulant-negative: missed") == 3


def test_close_in_words(db: Path) -> None:
    record(db, 0)
    record(db, 7)
    assert text(db, f"close --through {date(13)} --actor {RECORDER}") == (
        f"closed 1 participant through {date(13)}: 2 samples recorded missed"
        f" ({STIM} 2) in 2 participant-weeks\n"
        "awards after the missed samples settled: -5 points taken back\n"
    )


def test_close_in_words_says_what_it_paid_too() -> None:
    """A missed sample that both pays (a dependent target now met) and takes back says
    both, in the words every settlement line uses, summed over the participants."""
    from cmrewards import ClosedParticipant, CloseReport, PrizeWon, Settlement
    from cmrewards.cli.calendar import describe_close

    def closed(who: str, settlement: Settlement) -> ClosedParticipant:
        return ClosedParticipant(who, "twice", {STIM: 1}, (2,), (9,), settlement)

    report = CloseReport(
        through=date(20),
        participants=2,
        missed={STIM: 2},
        weeks=2,
        closed=(
            closed("P-A", Settlement("close", (4,), paid_points=35, taken_back_points=50)),
            closed(
                "P-B",
                Settlement(
                    "close", (7,), draws=1, slips=("small",), prizes=(PrizeWon(6, "small", 100),)
                ),
            ),
        ),
        skipped_programs=(),
    )
    assert describe_close(report).splitlines()[1] == (
        "awards after the missed samples settled: +35 points, -50 points taken back,"
        " 1 draw: won prize #6 small ($1.00)"
    )


@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        ("close --through yesterday --actor rec-01", 2, "--through 'yesterday' is not a date"),
        (f"close --through {TODAY + dt.timedelta(days=2)} --actor rec-01", 2, "is after today"),
        (f"close --through {TODAY} --actor nobody", 1, "'nobody' is not a staff member"),
        ("close --actor rec-01", 2, "Missing option '--through'"),
        ("excuse P001 --date 2026-02-30 --reason sick --actor rec-01", 2, "is not a date"),
        (f"excuse P001 --date {TODAY + dt.timedelta(days=2)} --reason sick --actor rec-01", 2,
         "is in the future"),
        (f"excuse P001 --date {START} --reason ' ' --actor rec-01", 2, "reason must not be empty"),
        (f"excuse P404 --date {START} --reason sick --actor rec-01", 1, "no participant 'P404'"),
        (f"excuse P001 --date {START} --reason sick --target nope --actor rec-01", 1,
         "has no target 'nope'"),
    ],
)  # fmt: skip
def test_a_refusal_is_one_line_with_its_exit_code_and_writes_nothing(
    db: Path, command: str, code: int, message: str
) -> None:
    before = snapshot(db)
    error = assert_error(invoke(db, command), code)
    assert message in error["message"]
    assert_error(invoke(db, command, json_output=False), code, json_output=False)
    assert snapshot(db) == before


def test_excuse_fills_an_owed_sample_and_a_full_week_is_refused(db: Path) -> None:
    record(db, 0)
    excused = ok(db, f"excuse P001 --date {date(2)} --reason 'hospital stay' --actor {RECORDER}")
    (result,) = excused["results"]
    assert (result["target"], result["outcome"], result["replayed"]) == (STIM, "excused", False)
    assert excused["visit"] == str(date(2))
    before = snapshot(db)
    error = assert_error(
        invoke(db, f"excuse P001 --date {date(4)} --reason sick --actor {RECORDER}"), 1
    )
    assert error["message"] == (
        f"nothing to excuse for P001 on {date(4)}: week 1 already has its 2 owed samples of {STIM}"
    )
    assert error["type"] == "InvalidTransition"
    assert snapshot(db) == before
    again = text(db, f"excuse P001 --date {date(2)} --reason 'hospital stay' --actor {RECORDER}")
    assert again.splitlines()[1] == f"  {STIM}: excused (already recorded; nothing written)"
    assert snapshot(db) == before


def test_after_closing_an_excuse_and_a_late_result_say_what_they_replace(db: Path) -> None:
    for day in (0, 2, 14):
        record(db, day)
    ok(db, f"close --through {date(13)} --actor {RECORDER}")
    placeholders = [
        e for e in ok(db, "history P001") if e["kind"] == "outcome" and "missed" in e["detail"]
    ]
    first, second = (int(e["ref"].split(":")[1]) for e in placeholders)
    excused = text(db, f"excuse P001 --date {date(8)} --reason 'court date' --actor {RECORDER}")
    # Week 2 still has a missed sample after the excuse: day 14 still pays from the start.
    assert excused.splitlines() == [
        f"P001 excused on {date(8)}:",
        f"  {STIM}: excused, replaces missed outcome {second}",
        "balance 35 points ($0.35), 35 available",
    ]
    late = invoke(
        db,
        f"record P001 --target {STIM} --outcome met --at {at_day(10)} --actor {RECORDER}",
        json_output=False,
    )
    assert late.exit_code == 0, late.stderr
    assert late.stdout.splitlines()[:2] == [
        f"P001 {STIM}: met (replaces missed outcome {first}) — +20 points",
        f"settled outcomes {first}, 3: +15 points",  # outcome 3 is day 14's
    ]
    assert ok(db, "verify")["ok"] is True


def test_import_close_closes_through_the_file_s_last_day(db: Path, tmp_path: Path) -> None:
    rows = tmp_path / "results.csv"
    rows.write_text(
        "participant,target,outcome,at,key,note\n"
        f"P001,{STIM},met,{at_day(0)},,\n"
        f"P001,{STIM},met,{at_day(9)},,\n",
        encoding="utf-8",
    )
    both = ok(db, f"import {rows} --actor {RECORDER} --close")
    assert list(both) == ["import", "close"]
    assert (both["import"]["applied"], both["import"]["last_day"]) == (2, str(date(9)))
    assert (both["close"]["through"], both["close"]["missed"]) == (str(date(9)), {STIM: 1})
    before = snapshot(db)
    again = text(db, f"import {rows} --actor {RECORDER} --close")
    assert again == (
        "imported 0 rows, skipped 2 already applied\n"
        f"closed 1 participant through {date(9)}: 0 samples recorded missed"
        " in 0 participant-weeks\n"
    )
    assert snapshot(db) == before


def test_import_close_does_not_close_after_a_stop(db: Path, tmp_path: Path) -> None:
    rows = tmp_path / "results.csv"
    rows.write_text(
        "participant,target,outcome,at,key,note\n"
        f"P001,{STIM},met,{at_day(0)},,\n"
        f"P001,{STIM},maybe,{at_day(9)},,\n",
        encoding="utf-8",
    )
    result = invoke(db, f"import {rows} --actor {RECORDER} --close")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert (report["applied"], report["failed_line"]) == (1, 3)
    assert "missed" not in text(db, "history P001")


def test_import_with_a_map_then_close(tmp_path: Path) -> None:
    db = tmp_path / "lab.db"
    ok(db, f"init --admin {ADMIN} --no-sign-in")
    ok(db, f"program add --file {EXAMPLES / 'ctn0094-program.toml'} --actor {ADMIN}")
    ok(db, f"enroll CTN-00010 --program ctn-stimulant --start 2026-01-05 --actor {ADMIN}")
    sample, lab_map = EXAMPLES / "ctn0094-sample.csv", EXAMPLES / "ctn0094-map.toml"
    both = ok(db, f"import {sample} --map {lab_map} --actor {ADMIN} --close")
    # Specimens on Jan 24 (week 3) and Jan 31 (week 4, which ends Feb 1): weeks 1 and 2
    # had no specimen and are closed as missed.
    assert both["import"]["last_day"] == "2026-01-31"
    assert both["close"]["closed"][0]["weeks"] == [1, 2]
    assert ok(db, "balance CTN-00010")["points"] == 10
    before = snapshot(db)
    again = ok(db, f"import {sample} --map {lab_map} --actor {ADMIN} --close")
    assert (again["import"]["stored"], again["close"]["closed"]) == (0, [])
    assert snapshot(db) == before
