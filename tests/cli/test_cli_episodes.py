"""Episodes on the command line: enrolling a returning person, listing and showing their
episodes, and the history, statement and report that show them; each refusal one line
with its exit code and nothing written. Times are in the past (enrolment eight weeks ago).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from support.cli import assert_error, invoke, ok, snapshot

ADMIN = "admin-1"
STIM = "stimulant-negative"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(weeks=8)
AGAIN = TODAY
"""The second episode's start: the day the first ended (the fixture's withdrawal), as
episodes may not overlap."""
AGAIN_AT = f"{AGAIN}T00:00:00+00:00"
"""A time in the second episode that is never in the future."""


def at_day(day: int) -> str:
    return f"{START + dt.timedelta(days=day)}T09:30:00+00:00"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """P001 on higgins-vbrt from START, two negatives, withdrawn."""
    path = tmp_path / "clinic.db"
    ok(path, f"init --admin {ADMIN} --no-sign-in")
    ok(path, f"program add --preset higgins-vbrt --timezone UTC --actor {ADMIN}")
    ok(path, f"enroll P001 --program higgins-vbrt --start {START} --actor {ADMIN}")
    for day in (0, 2):
        ok(path, f"record P001 --target {STIM} --outcome met --at {at_day(day)} --actor {ADMIN}")
    ok(path, f"withdraw P001 --actor {ADMIN} --yes")
    return path


def test_enrolling_a_returning_person_says_which_episode(db: Path) -> None:
    text = ok(db, f"enroll P001 --program higgins-vbrt --start {AGAIN} --actor {ADMIN}",
              json_output=False)  # fmt: skip
    assert text == f"enrolled P001 in higgins-vbrt from {AGAIN} (episode 2)\n"
    shown = ok(db, "participant show P001")
    assert [(e["number"], e["status"], e["start"]) for e in shown] == [
        (1, "withdrawn", str(START)),
        (2, "active", str(AGAIN)),
    ]
    assert shown[0]["ended_by"] == ADMIN
    listed = ok(db, "participant list")
    assert [(p["id"], p["episode"], p["first_start"]) for p in listed] == [("P001", 2, str(START))]
    text = ok(db, "participant show P001", json_output=False)
    assert text.splitlines()[0] == "P001: 2 episodes"
    assert f"episode 1  higgins-vbrt  from {START}  withdrawn (enrolled by admin-1, ended" in text
    assert f"episode 2  higgins-vbrt  from {AGAIN}  active (enrolled by admin-1)" in text
    table = ok(db, "participant list --program higgins-vbrt", json_output=False)
    assert table.splitlines()[1].split() == ["P001", "2", "higgins-vbrt", str(AGAIN), "active"]
    ok(db, f"program add --preset va-prize-cm --timezone UTC --actor {ADMIN}")
    empty = ok(db, "participant list --program va-prize-cm", json_output=False)
    assert empty == "no participants\n"
    unknown = assert_error(invoke(db, "participant list --program other"), 1)
    assert "no program 'other'" in unknown["message"]


def test_participant_list_is_an_aligned_table_and_a_csv(db: Path) -> None:
    ok(db, f"program add --preset ca-recovery-incentives --actor {ADMIN}")
    ok(db, f"enroll P-20 --program ca-recovery-incentives --start {START} --actor {ADMIN}")
    lines = ok(db, "participant list", json_output=False).splitlines()
    assert lines[0].split() == ["participant", "episode", "program", "since", "status"]
    # Every column starts where its header does, whatever the width of its values.
    for header in ("program", "since", "status"):
        column = lines[0].index(header)
        assert all(line[column - 1] == " " and line[column] != " " for line in lines[1:])
    assert ok(db, "participant list --csv", json_output=False).splitlines() == [
        "participant,episode,program,since,status",
        f"P-20,1,ca-recovery-incentives,{START},active",
        f"P001,1,higgins-vbrt,{START},withdrawn",
    ]


def test_history_statement_and_report_show_the_episodes(db: Path) -> None:
    ok(db, f"enroll P001 --program higgins-vbrt --start {AGAIN} --actor {ADMIN}")
    ok(db, f"record P001 --target {STIM} --outcome met --at {AGAIN_AT} --actor {ADMIN}")
    history = ok(db, "history P001", json_output=False)
    assert f"episode 2 in higgins-vbrt from {AGAIN}" in history
    outcomes = [line.split() for line in history.splitlines() if " outcome " in line]
    # The episode column: two results in episode 1, one in episode 2.
    assert [line[line.index("outcome") + 1] for line in outcomes] == ["1", "1", "2"]
    statement = ok(db, "statement P001", json_output=False)
    assert statement.splitlines()[0] == f"P001 in higgins-vbrt since {AGAIN} (active, episode 2)"
    assert (
        f"-- episode 1: higgins-vbrt from {START}, withdrawn; 2 results, earned $6.25,"
        " longest streak 2"
    ) in statement
    assert f"-- episode 2: higgins-vbrt from {AGAIN}, active; 1 result," in statement
    document = ok(db, "statement P001")
    assert [line["episode"] for line in document["lines"]] == [1, 1, 2]
    assert [e["earned_cents"] for e in document["episodes"]] == [625, 250]
    report = ok(db, "report --program higgins-vbrt", json_output=False)
    assert "episodes      2 enrolments; 1 participant on a later episode" in report


def test_refusals_write_nothing(db: Path) -> None:
    before = snapshot(db)
    second_visit = START + dt.timedelta(days=2)
    too_early = invoke(
        db, f"enroll P001 --program higgins-vbrt --start {second_visit} --actor {ADMIN}"
    )
    message = assert_error(too_early, 1)["message"]
    assert "must be after P001's last result" in message
    assert snapshot(db) == before
    # After the last result but before the day the first episode ended: they would overlap.
    overlap = invoke(db, f"enroll P001 --program higgins-vbrt --start {at_day(30)[:10]}"
                         f" --actor {ADMIN}")  # fmt: skip
    message = assert_error(overlap, 1)["message"]
    assert f"is before P001's episode 1 ended, on {TODAY} (withdrawn)" in message
    assert "\n" not in message
    assert snapshot(db) == before
    ok(db, f"enroll P001 --program higgins-vbrt --start {AGAIN} --actor {ADMIN}")
    before = snapshot(db)
    twice = invoke(db, f"enroll P001 --program higgins-vbrt --start {TODAY} --actor {ADMIN}")
    assert (
        "already enrolled in higgins-vbrt (active, episode 2)" in assert_error(twice, 1)["message"]
    )
    # A start a year ahead too: the active episode is the reason, not the 31-day limit.
    typo = TODAY + dt.timedelta(days=365)
    far = invoke(db, f"enroll P001 --program higgins-vbrt --start {typo} --actor {ADMIN}")
    assert assert_error(far, 1)["message"] == (
        "participant 'P001' is already enrolled in higgins-vbrt (active, episode 2);"
        " withdraw or complete it before enrolling again"
    )
    late = invoke(db, f"record P001 --target {STIM} --outcome met --at {at_day(5)}"
                      f" --actor {ADMIN}")  # fmt: skip
    assert "an ended episode takes no new results" in assert_error(late, 2)["message"]
    assert_error(invoke(db, "participant show P404"), 1)
    assert snapshot(db) == before


def test_withdraw_on_a_past_date_ends_the_episode_that_day(tmp_path: Path) -> None:
    """Newcomer finding 10: ``withdraw`` took no date, so an episode ended today although
    the person left weeks ago and their next episode had started."""
    path = tmp_path / "clinic.db"
    ok(path, f"init --admin {ADMIN} --no-sign-in")
    ok(path, f"program add --preset higgins-vbrt --timezone America/Chicago --actor {ADMIN}")
    ok(path, f"enroll P001 --program higgins-vbrt --start {START} --actor {ADMIN}")
    ok(path, f"record P001 --target {STIM} --outcome met --at {at_day(2)} --actor {ADMIN}")
    left = START + dt.timedelta(days=10)
    # A date that contradicts the record is a refused transition (exit 1); one out of
    # range is input (exit 2), as for enrol (docs/decisions.md).
    refusals = {
        START + dt.timedelta(days=1): ("is before P001's last result, on", 1),
        START - dt.timedelta(days=1): ("is before the start of P001's episode 1", 1),
        TODAY + dt.timedelta(days=2): ("is after today", 2),
    }
    for day, (said, code) in refusals.items():
        before = snapshot(path)
        command = f"withdraw P001 --on {day} --actor {ADMIN} --yes"
        error = assert_error(invoke(path, command), code)
        assert f"the end date {day} " in error["message"]
        assert said in error["message"]
        assert snapshot(path) == before
    bad = assert_error(invoke(path, f"withdraw P001 --on 10/01 --actor {ADMIN} --yes"), 2)
    assert bad["message"].startswith("--on '10/01' is not a date")
    text = ok(path, f"withdraw P001 --on {left} --actor {ADMIN} --yes", json_output=False)
    assert text == f"P001 withdrawn on {left}\n"
    shown = ok(path, "participant show P001")
    assert shown[0]["ended_at"].startswith(f"{left}T1")  # noon in Chicago: 17:00 or 18:00 UTC
    assert f"ended {left} by {ADMIN}" in ok(path, "participant show P001", json_output=False)


def test_a_mistyped_start_year_is_refused_and_the_right_date_enrols(tmp_path: Path) -> None:
    """A start a year ahead (a mistyped year) is refused in one line, exit 2, nothing
    written, so the right date enrols at once; a start within a month is a booking, and
    that episode cannot be withdrawn (nor completed) before its first day: it would end
    before it starts."""
    path = tmp_path / "clinic.db"
    ok(path, f"init --admin {ADMIN} --no-sign-in")
    ok(path, f"program add --preset higgins-vbrt --timezone UTC --actor {ADMIN}")
    typo = TODAY + dt.timedelta(days=365)
    before = snapshot(path)
    error = assert_error(
        invoke(path, f"enroll Z-2 --program higgins-vbrt --start {typo} --actor {ADMIN}"), 2
    )
    assert error["message"] == (
        f"start {typo} is more than 31 days after today ({TODAY}) in UTC:"
        " enrol closer to the first visit"
    )
    assert snapshot(path) == before
    ok(path, f"enroll Z-2 --program higgins-vbrt --start {TODAY} --actor {ADMIN}")
    assert ok(path, "participant show Z-2")[-1]["start"] == str(TODAY)

    booked = TODAY + dt.timedelta(days=31)
    ok(path, f"enroll Z-3 --program higgins-vbrt --start {booked} --actor {ADMIN}")
    before = snapshot(path)
    for command in ("withdraw", "complete"):
        error = assert_error(invoke(path, f"{command} Z-3 --actor {ADMIN} --yes"), 1)
        assert error["message"] == (
            f"Z-3's episode 1 has not started (it starts on {booked}, today is {TODAY} in"
            f" UTC); it can be ended from {booked}"
        )
    assert snapshot(path) == before


def test_withdraw_and_complete_without_on_say_the_day(tmp_path: Path) -> None:
    """As ``--on DATE`` says its day, ending an episode now says today's, in the program's
    zone (UTC here)."""
    path = tmp_path / "clinic.db"
    ok(path, f"init --admin {ADMIN} --no-sign-in")
    ok(path, f"program add --preset higgins-vbrt --timezone UTC --actor {ADMIN}")
    for who in ("Z-1", "Z-2"):
        ok(path, f"enroll {who} --program higgins-vbrt --start {START} --actor {ADMIN}")
    today = dt.datetime.now(dt.UTC).date()  # not TODAY: the test may run across midnight
    said = ok(path, f"withdraw Z-1 --actor {ADMIN} --yes", json_output=False)
    assert said in (f"Z-1 withdrawn on {today}\n", f"Z-1 withdrawn on {TODAY}\n")
    said = ok(path, f"complete Z-2 --actor {ADMIN} --yes", json_output=False)
    assert said in (f"Z-2 completed on {today}\n", f"Z-2 completed on {TODAY}\n")
