"""The front desk's visits and corrections on the command line: every new form and refusal.

``record --visit/--specimen``, several targets of one visit (``record P --met T ...``), a
replayed or conflicting result, a late result, ``correct`` and ``void``, each error one line
with its exit code and nothing written. Times are in the past (enrolment four weeks ago).
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from support.cli import assert_error, invoke, ok, snapshot

ADMIN = "admin-1"
CLINICIAN = "clin-01"
RECORDER = "rec-01"
STIM = "stimulant-negative"
SECONDARY = "secondary-negative"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(weeks=4)


def at_day(day: int, hour: int = 9) -> str:
    return f"{START + dt.timedelta(days=day)}T{hour:02d}:30:00+00:00"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """admin-1, rec-01, clin-01; P001 on higgins-vbrt, F001 on petry-fishbowl."""
    path = tmp_path / "clinic.db"
    ok(path, f"init --admin {ADMIN} --no-sign-in")
    ok(path, f"staff add {RECORDER} --role recorder --actor {ADMIN}")
    ok(path, f"staff add {CLINICIAN} --role clinician --actor {ADMIN}")
    for preset, who in (("higgins-vbrt", "P001"), ("petry-fishbowl", "F001")):
        ok(path, f"program add --preset {preset} --timezone UTC --actor {ADMIN}")
        ok(path, f"enroll {who} --program {preset} --start {START} --actor {ADMIN}")
    return path


def record(db: Path, day: int, outcome: str = "met", extra: str = "") -> Any:
    return ok(
        db,
        f"record P001 --target {STIM} --outcome {outcome} --at {at_day(day)}"
        f" --actor {RECORDER} {extra}",
    )


def test_the_same_result_again_writes_nothing_and_says_so(db: Path) -> None:
    first = record(db, 2)
    before = snapshot(db)
    again = record(db, 2, extra="--note resent")
    assert (again["replayed"], again["outcome_id"]) == (True, first["outcome_id"])
    assert snapshot(db) == before
    text = invoke(db, f"record P001 --target {STIM} --outcome met --at {at_day(2, 11)}"
                  f" --actor {RECORDER}", json_output=False)  # fmt: skip
    assert text.exit_code == 0
    assert "(already recorded; nothing written)" in text.stdout


def test_another_result_for_the_visit_is_refused_with_the_outcome_to_correct(db: Path) -> None:
    record(db, 2)
    before = snapshot(db)
    result = invoke(
        db, f"record P001 --target {STIM} --outcome not_met --at {at_day(2, 15)} --actor {ADMIN}"
    )
    message = assert_error(result, 1)["message"]
    assert message == (
        f"P001 stimulant-negative for the visit of {START + dt.timedelta(days=2)} is already"
        " recorded as met (outcome 1); correct outcome 1 to change it"
    )
    assert snapshot(db) == before


def test_a_late_result_is_recorded_and_settles_the_ones_after(db: Path) -> None:
    record(db, 0)
    record(db, 4)
    late = record(db, 2)
    assert late["award"]["points"] == 15
    assert late["settlement"]["outcomes"] == [2]
    assert late["settlement"]["paid_points"] == 45
    assert late["balance"]["points"] == 85
    text = invoke(db, f"record P001 --target {STIM} --outcome met --at {at_day(1)}"
                  f" --actor {RECORDER}", json_output=False)  # fmt: skip
    assert "settled outcomes" in text.stdout


def test_visit_and_specimen_are_kept(db: Path) -> None:
    result = record(db, 3, extra="--visit V-3a --specimen ACC-1234")
    assert result["visit"] == "V-3a"
    again = record(db, 3, extra="--visit V-3b")  # another visit the same day
    assert again["replayed"] is False
    exported = ok(db, f"export --out {shlex.quote(str(db.parent / 'out'))}")
    assert exported["tables"]["outcomes"] == 2
    rows = json.loads((db.parent / "out" / "outcomes.json").read_text(encoding="utf-8"))
    assert [(r["visit"], r["specimen"]) for r in rows] == [("V-3a", "ACC-1234"), ("V-3b", None)]


def test_several_targets_of_one_visit_in_one_call(db: Path) -> None:
    visited = ok(
        db,
        f"record F001 --met {SECONDARY} --met {STIM} --at {at_day(3)} --actor {RECORDER}",
    )
    assert visited["visit"] == str(START + dt.timedelta(days=3))
    assert [r["target"] for r in visited["results"]] == [SECONDARY, STIM]
    statement = ok(db, "statement F001")
    assert sorted(line["draws"] for line in statement["lines"]) == [1, 2]
    text = invoke(db, f"record F001 --not-met {STIM} --missed {SECONDARY} --at {at_day(5)}"
                  f" --actor {RECORDER}", json_output=False)  # fmt: skip
    assert text.exit_code == 0
    assert text.stdout.startswith(f"F001 visit {START + dt.timedelta(days=5)}:")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (f"record P001 --target {STIM} --met {STIM}", "give either --target with --outcome"),
        (f"record P001 --target {STIM}", "--target and --outcome go together"),
        ("record P001", "say what to record"),
        (f"record P001 --met {STIM} --not-met {STIM}", "it is given twice"),
        (f"record P001 --met {STIM} --specimen ACC-1", "--specimen goes with --target"),
    ],
    ids=["both-forms", "target-alone", "nothing", "twice", "specimen-with-visit-form"],
)
def test_a_malformed_record_line_is_exit_2(db: Path, command: str, message: str) -> None:
    before = snapshot(db)
    assert message in assert_error(invoke(db, f"{command} --actor {RECORDER}"), 2)["message"]
    assert snapshot(db) == before


def test_correct_and_void_settle_and_show_who_and_why(db: Path) -> None:
    for day, outcome in zip((0, 2, 4, 7), ["met", "not_met", "met", "met"], strict=True):
        record(db, day, outcome)  # three samples a week, as the protocol owes them
    corrected = ok(
        db, f"correct 2 --outcome met --reason 'lab retest negative' --actor {CLINICIAN} --yes"
    )
    assert corrected["correction"]["kind"] == "correct"
    assert corrected["settlement"]["paid_points"] == 75
    assert corrected["balance"]["points"] == 110
    voided = ok(db, f"void 4 --reason 'wrong chart' --actor {ADMIN} --yes")
    assert voided["settlement"]["taken_back_points"] == 25
    history = ok(db, "history P001")
    lines = [
        (e["kind"], e["detail"], e["actor"]) for e in history if e["kind"] in ("correct", "void")
    ]
    assert lines == [
        ("correct", "outcome 2 corrected to met: lab retest negative", CLINICIAN),
        ("void", "outcome 4 voided: wrong chart", ADMIN),
    ]
    text = invoke(db, "statement P001", json_output=False).stdout
    assert "correction #1: outcome 2 corrected to met by clin-01: lab retest negative" in text
    assert ok(db, "verify")["ok"] is True


def test_a_take_back_is_shown_as_one_not_as_the_recorder_s_hand_adjustment(db: Path) -> None:
    """Newcomer finding 7: points a settlement took back were listed as
    ``adjustment-down ... by rec-01`` although recorders cannot adjust."""
    record(db, 0)
    record(db, 4)  # the second negative in a row: 15 points
    late = record(db, 2, "not_met")  # late, and positive: outcome 2 was a first negative
    assert late["settlement"]["taken_back_points"] == 5
    (taken,) = [e for e in ok(db, "history P001") if e["kind"] == "taken-back"]
    assert (taken["points"], taken["actor"]) == (-5, RECORDER)
    assert taken["detail"] == f"{STIM} taken back for outcome 2, settling outcome 3"
    assert taken["occurred_at"] < taken["recorded_at"]  # the result's time, then the write's
    text = invoke(db, "statement P001", json_output=False).stdout
    assert "adjustment-down" not in text
    (line,) = [line for line in text.splitlines() if line.startswith("taken back")]
    assert line.startswith(f"taken back -5 points for {START + dt.timedelta(days=4)} 09:30 UTC,")
    assert line.endswith(
        f"(rec-01 ran the write): {STIM} taken back for outcome 2, settling outcome 3"
    )
    assert f"written {TODAY}" in line


def test_a_dependent_target_s_draws_paid_later_are_said_at_the_desk(db: Path) -> None:
    """Newcomer finding 4: the secondary target's draws, paid once the stimulant result
    came, were printed as "nothing to pay or take back"; each settlement line says what
    it paid, each draw and what it won, as ``record`` does for its own outcome."""
    at = at_day(3)
    line = f"record F001 --outcome met --at {at} --actor {RECORDER}"
    first = ok(db, f"{line} --target {SECONDARY}", json_output=False)
    assert "not paid: required target not met at this visit" in first
    said = ok(db, f"{line} --target {STIM} --key LAB-9", json_output=False).splitlines()
    (settled,) = [s for s in said if s.startswith("settled outcome 1: ")]
    assert "nothing to pay" not in settled
    data = ok(db, f"{line} --target {STIM} --key LAB-9")  # the replay: what the write returned
    settlement = data["settlement"]
    assert settlement["outcomes"] == [1]
    assert settlement["draws"] >= 1
    assert len(settlement["slips"]) == settlement["draws"]
    assert settled.startswith(f"settled outcome 1: {settlement['draws']} draw")
    for prize in settlement["prizes"]:
        assert f"prize #{prize['id']} {prize['category']}" in settled
    empty = [slip for slip in settlement["slips"] if slip == "good-job"]
    if empty:
        assert f"{len(empty)} good-job" in settled


def test_a_write_off_shows_on_the_statement_and_in_the_report(db: Path) -> None:
    for day in (0, 2, 4):
        record(db, day)
    ok(db, f"adjust P001 --points -80 --reason 'gift card' --actor {ADMIN}")
    corrected = ok(db, f"correct 2 --outcome not_met --reason confirmation --actor {ADMIN} --yes")
    assert corrected["settlement"]["written_off_points"] == 60
    statement = invoke(db, "statement P001", json_output=False).stdout
    assert "written off 60 points ($15.00)" in statement
    report = invoke(db, "report --program higgins-vbrt", json_output=False).stdout
    assert "written off   60 points, $15.00" in report


@pytest.mark.parametrize(
    ("command", "code", "message"),
    [
        (f"correct 1 --outcome met --reason same --actor {ADMIN} --yes", 1, "is already met"),
        (f"correct 9 --outcome met --reason typo --actor {ADMIN} --yes", 1, "no outcome 9"),
        (
            f"correct 1 --outcome not_met --reason typo --actor {RECORDER} --yes",
            1,
            "may not correct",
        ),
        (f"void 1 --reason typo --actor {CLINICIAN} --yes", 1, "may not void"),
        (
            f"correct 1 --outcome clean --reason typo --actor {ADMIN} --yes",
            2,
            "'clean' is not one of",
        ),
        (f"correct 1 --outcome met --actor {ADMIN} --yes", 2, "Missing option '--reason'"),
        (f"void x --reason typo --actor {ADMIN} --yes", 2, "'x' is not a valid integer"),
    ],
    ids=["same", "missing", "recorder", "clinician-voids", "bad-outcome", "no-reason", "bad-id"],
)
def test_correction_refusals_are_one_line_and_write_nothing(
    db: Path, command: str, code: int, message: str
) -> None:
    record(db, 0)
    before = snapshot(db)
    assert message in assert_error(invoke(db, command), code)["message"]
    assert snapshot(db) == before


def test_a_voided_outcome_is_not_corrected_again(db: Path) -> None:
    record(db, 0)
    ok(db, f"void 1 --reason 'wrong chart' --actor {ADMIN} --yes")
    message = assert_error(
        invoke(db, f"correct 1 --outcome not_met --reason x --actor {ADMIN} --yes"), 1
    )["message"]
    assert "was voided by correction 1; record the right result instead" in message


def add_every_slip_wins(db: Path, tmp_path: Path, who: str, step: str = "", cap: str = "") -> None:
    """Program ``sure`` (escalating draws from 1, ``step`` its step_by setting, ``cap`` a
    ``cap_cents = ...`` line) from a bowl of $1.00 slips only, with ``who`` enrolled at START."""
    program = tmp_path / "sure.toml"
    program.write_text(
        f'id = "sure"\nname = "Every slip wins"\nweeks = 12\ntimezone = "UTC"\n{cap}\n'
        f'[[targets]]\nid = "{STIM}"\nper_week = 2\nschedule = {{ kind = "escalating",'
        f' award = "draws", start = 1, step = 1, {step}max = 12 }}\n\n'
        '[[bowl]]\ncategory = "small"\nslips = 10\nvalue_cents = 100\n'
    )
    ok(db, f"program add --file {program} --timezone UTC --actor {ADMIN}")
    ok(db, f"enroll {who} --program sure --start {START} --actor {ADMIN}")


def a_miss_corrected_under_a_cap(
    db: Path, tmp_path: Path, cap_cents: int
) -> tuple[list[int], Result]:
    """F003 on the every-slip-wins program capped at ``cap_cents`` a year: met, not met,
    met, met, then the miss corrected to met (six more draws); the four outcome ids and
    the correction's result."""
    add_every_slip_wins(db, tmp_path, "F003", cap=f"cap_cents = {cap_cents}\n")
    ids = [
        ok(
            db,
            f"record F003 --target {STIM} --outcome {outcome} --at {at_day(day)}"
            f" --actor {RECORDER}",
        )["outcome_id"]
        for day, outcome in ((0, "met"), (3, "not_met"), (7, "met"), (10, "met"))
    ]
    met = invoke(db, f"correct {ids[1]} --outcome met --reason x --actor {ADMIN} --yes",
                 json_output=False)  # fmt: skip
    assert met.exit_code == 0, met.output
    return ids, met


def test_a_capped_settlement_line_counts_the_draws_earned(db: Path, tmp_path: Path) -> None:
    """Reviewer: where the cap had dropped a slip (no $0 slip to cut it to), a correction
    that added six draws said "-1 draw no longer earned": the count compared the cap's
    kept slips with earned draws. It says the draws earned and that the cap cut them."""
    ids, met = a_miss_corrected_under_a_cap(db, tmp_path, cap_cents=300)
    settled = ", ".join(str(i) for i in ids[1:])
    # Newcomer finding (session 6): the cap kept none of the six, so nothing was paid.
    assert met.stdout.splitlines()[1] == (
        f"settled outcomes {settled}: nothing paid: the annual cap is used up"
    )
    back = invoke(db, f"correct {ids[1]} --outcome not_met --reason x --actor {ADMIN} --yes",
                  json_output=False)  # fmt: skip
    assert back.stdout.splitlines()[1] == f"settled outcomes {settled}: -6 draws no longer earned"


def test_draws_the_cap_cuts_say_how_many_were_kept_or_that_nothing_was_paid(
    db: Path, tmp_path: Path
) -> None:
    """Newcomer finding (session 6): with no $0 slip to cut a prize to, ``record`` said
    "met — 6 draws, cut to the annual cap" though nothing was paid. A $4 cap, $1 prizes:
    1 + 2 draws fit, the third result keeps 1 of its 3, the fourth none of its 4."""
    add_every_slip_wins(db, tmp_path, "F003", cap="cap_cents = 400\n")
    said = [
        invoke(db, f"record F003 --target {STIM} --outcome met --at {at_day(day)}"
               f" --actor {RECORDER}", json_output=False).stdout.splitlines()[0]
        for day in (0, 3, 7, 10)
    ]  # fmt: skip
    assert said == [
        f"F003 {STIM}: met — 1 draw: won prize #1 small ($1.00)",
        f"F003 {STIM}: met — 2 draws: won prize #2 small ($1.00), prize #3 small ($1.00)",
        f"F003 {STIM}: met — 3 draws earned, 1 kept under the annual cap:"
        " won prize #4 small ($1.00)",
        f"F003 {STIM}: met — nothing paid: the annual cap is used up",
    ]


def test_a_settlement_the_cap_cuts_says_how_many_draws_it_kept(db: Path, tmp_path: Path) -> None:
    """As ``record`` says its own: a correction that earns six more draws under a cap with
    room for one says it kept one of them."""
    ids, met = a_miss_corrected_under_a_cap(db, tmp_path, cap_cents=500)
    settled = ", ".join(str(i) for i in ids[1:])
    assert met.stdout.splitlines()[1] == (
        f"settled outcomes {settled}: 6 draws earned, 1 kept under the annual cap:"
        " won prize #5 small ($1.00)"
    )


def test_a_void_names_the_prizes_it_withdrew_and_says_the_prizes_still_owed(
    db: Path, tmp_path: Path
) -> None:
    """As the reverse correction names the prizes it wins: each owed prize withdrawn is
    named with its id, and the balance line says the prizes still owed, as ``balance``.
    Every slip of this bowl wins, so what is withdrawn does not depend on the draws."""
    add_every_slip_wins(db, tmp_path, "F002", 'step_by = "week", ')
    ids = []
    for day in (0, 3, 7, 10, 14, 17, 21):
        met = f"record F002 --target {STIM} --outcome met --at {at_day(day)} --actor {RECORDER}"
        ids.append(ok(db, met)["outcome_id"])
    ok(db, f"void {ids[0]} --reason 'entered in error' --actor {ADMIN} --yes")
    before = {p["id"]: p for p in ok(db, "prize list F002")}
    result = invoke(
        db, f"void {ids[1]} --reason 'entered in error' --actor {ADMIN} --yes", json_output=False
    )
    assert result.exit_code == 0, result.output
    _, settled, balance_line = result.stdout.splitlines()
    after = ok(db, "prize list F002")
    gone = [p for p in after if p["status"] == "withdrawn" and before[p["id"]]["status"] == "owed"]
    owed = [p for p in after if p["status"] == "owed"]
    assert gone, "the reset withdraws the prizes of the draws it takes back"
    assert owed, "not those of the draws still earned"
    named = ", ".join(f"prize #{p['id']} small ($1.00)" for p in gone)
    assert settled.endswith(f"draws no longer earned, withdrew {named}")
    desk = invoke(db, "balance F002", json_output=False).stdout
    assert balance_line == "F002: balance " + desk.removeprefix("F002: ").split("; no cap")[0]
    assert f"{len(owed)} prize{'s' if len(owed) > 1 else ''} owed (" in balance_line


def test_history_shows_a_balance_only_where_the_ledger_held_it(db: Path) -> None:
    """Last session's note: a late entry's balance (the later figure, as entered) made the
    column jump, and the bottom line need not be the balance now. Each balance shown is
    the sum of the points listed down to it; where a late entry is among them none is."""
    record(db, 0)
    record(db, 4)  # the second negative in a row: 15 points
    record(db, 2, "not_met")  # late: it resets day 4's escalation, 5 taken back
    entries = ok(db, "history P001")
    assert [(e["kind"], e["points"], e["available_points"]) for e in entries] == [
        ("outcome", 0, 0),
        ("award", 10, 10),
        ("outcome", 0, None),  # day 2's result, entered after day 4's award below it
        ("outcome", 0, None),
        ("award", 15, 25),  # the lines so far are the first five entered
        ("taken-back", -5, 20),  # entered last: the balance now
    ]
    assert entries[2]["held_points"] is None
    text = invoke(db, "history P001", json_output=False).stdout.splitlines()
    column = slice(text[0].index("points") + len("points"), text[0].index("detail"))
    assert [line[column].split() for line in text[1:]] == [
        ["0"], ["10"], [], [], ["25"], ["20"],
    ]  # fmt: skip
    rows = invoke(db, "history P001 --csv", json_output=False).stdout.splitlines()
    header = rows[0].split(",")
    assert [row.split(",")[header.index("balance")] for row in rows[1:]] == [
        "0", "10", "", "", "25", "20",
    ]  # fmt: skip
