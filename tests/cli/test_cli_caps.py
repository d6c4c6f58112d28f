"""The cap as a hard limit on the command line: ``adjust --over-cap``, the maximum with the
cap applied in ``program show``, ``presets`` and ``simulate``, and grants over the cap in
``report`` and ``statement``. Each refusal is one line with its exit code, nothing written.

The cap is counted per enrolment year, so the real clock's year turning between the
enrolment (four weeks ago) and today changes nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from support.cli import assert_error, invoke, ok, snapshot, text

ADMIN = "admin-1"
CLINICIAN = "clin-01"
TARGET = "stimulant-negative"
TODAY = dt.datetime.now(dt.UTC).date()
START = TODAY - dt.timedelta(weeks=4)

CAPPED_TOML = """
id = "capped"
name = "Ten dollars a negative, $50 a year"
point_value_cents = 100
timezone = "UTC"
cap_cents = 5000
cap_period = "enrollment-year"
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 2
schedule = { kind = "fixed", award = "points", amount = 10 }
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """admin-1 and clin-01; P-1001 on the capped program with $40 of its $50 used."""
    path = tmp_path / "clinic.db"
    program = tmp_path / "capped.toml"
    program.write_text(CAPPED_TOML, encoding="utf-8")
    ok(path, f"init --admin {ADMIN} --no-sign-in")
    ok(path, f"staff add {CLINICIAN} --role clinician --actor {ADMIN}")
    ok(path, f"program add --file {program} --timezone UTC --actor {ADMIN}")
    ok(path, f"enroll P-1001 --program capped --start {START} --actor {ADMIN}")
    for day in (0, 3, 7, 10):  # two samples in each of the first two program weeks
        at = f"{START + dt.timedelta(days=day)}T09:30:00+00:00"
        ok(path, f"record P-1001 --target {TARGET} --outcome met --at {at} --actor {ADMIN}")
    return path


def test_a_result_the_cap_pays_nothing_for_says_so(db: Path) -> None:
    """The fifth $10 fills the $50 cap; the sixth is met and pays nothing, and says that
    rather than "cut to the annual cap", which reads as a smaller payment."""
    said = []
    for day in (14, 17):
        at = f"{START + dt.timedelta(days=day)}T09:30:00+00:00"
        line = f"record P-1001 --target {TARGET} --outcome met --at {at} --actor {ADMIN}"
        said.append(text(db, line).splitlines()[0])
    assert said == [
        f"P-1001 {TARGET}: met — +10 points",
        f"P-1001 {TARGET}: met — nothing paid: the annual cap is used up",
    ]


ADJUST = 'adjust P-1001 --points 40 --reason "make-up for the lab outage, approved by J."'


def test_adjust_past_the_cap_is_refused_saying_what_room_is_left(db: Path) -> None:
    before = snapshot(db)
    error = assert_error(invoke(db, f"{ADJUST} --actor {ADMIN}"), 1)
    assert error["message"] == (
        "P-1001 has $10.00 left under the $50.00 cap for enrolment year 1; +40 points is $40.00"
    )
    assert error["type"] == "CapExceeded"
    assert snapshot(db) == before
    plain = assert_error(invoke(db, f"{ADJUST} --actor {ADMIN}", json_output=False), 1,
                         json_output=False)  # fmt: skip
    assert plain["message"] == error["message"]


def test_a_non_admin_cannot_grant_over_the_cap(db: Path) -> None:
    before = snapshot(db)
    error = assert_error(invoke(db, f"{ADJUST} --over-cap --actor {CLINICIAN}"), 1)
    assert error["message"] == "'clin-01' is a clinician; a clinician may not adjust balances"
    assert snapshot(db) == before


def test_an_admin_grants_over_the_cap_and_report_and_statement_show_it(db: Path) -> None:
    granted = ok(db, f"{ADJUST} --over-cap --actor {ADMIN}")
    assert granted["transfer"]["cap_change_cents"] == 4000
    assert granted["transfer"]["over_cap_cents"] == 3000
    assert granted["balance"]["cap_remaining_cents"] == 0
    out = text(db, f'adjust P-1001 --points 1 --reason "bus fare" --over-cap --actor {ADMIN}')
    assert "granted over the cap by $1.00 (admin-1: bus fare)" in out
    assert "$0.00 left under the cap" in out
    (report,) = ok(db, "report --program capped")
    grants = [(g["participant"], g["points"], g["cents"], g["over_cents"]) for g in
              report["over_cap_grants"]]  # fmt: skip
    assert grants == [("P-1001", 40, 4000, 3000), ("P-1001", 1, 100, 100)]
    assert (report["over_cap_points"], report["over_cap_cents"]) == (41, 3100)
    shown = text(db, "report --program capped")
    assert "over the cap  41 points granted by admins, $31.00 past the cap:" in shown
    assert (
        "    P-1001 +40 points ($40.00, $30.00 past the cap), transfer 5, by admin-1 at"
    ) in shown
    assert shown.count("UTC: make-up for the lab outage, approved by J.") == 1
    statement = text(db, "statement P-1001")
    assert "granted over the cap: P-1001 +40 points ($40.00, $30.00 past the cap)" in statement
    # Reversed, a grant is still listed, marked, and no longer counted.
    ok(db, f'reverse 5 --reason "entered on the wrong participant" --yes --actor {ADMIN}')
    (report,) = ok(db, "report --program capped")
    assert [g["reversed"] for g in report["over_cap_grants"]] == [True, False]
    assert (report["over_cap_points"], report["over_cap_cents"]) == (1, 100)
    assert "(reversed)" in text(db, "statement P-1001")
    assert ok(db, "verify")["ok"] is True


def test_program_show_gives_the_maximum_with_the_cap_applied(db: Path) -> None:
    # 24 negatives at $10 would pay $240; the cap is $50 an enrolment year.
    shown = text(db, "program show capped")
    assert shown.splitlines()[-1] == (
        "at most $50.00 per participant (the schedule alone would pay $240.00;"
        " capped at $50.00 per enrolment year)"
    )
    data = ok(db, "program show capped")
    assert data["maximum"]["value_cents"] == 24000
    assert data["maximum_with_cap"] == {
        "cents": 5000,
        "schedule_cents": 24000,
        "cap_cents": 5000,
        "cap_period": "enrollment-year",
        "capped": True,
        "periods": 1,
    }
    simulated = text(db, "simulate --program capped --participants 10 --p-met 1")
    assert (
        "expected at full attendance $50.00 (the schedule alone would pay $240.00;"
        " capped at $50.00 per enrolment year)"
    ) in simulated


def test_a_calendar_year_cap_says_an_enrolment_can_span_two(tmp_path: Path) -> None:
    path = tmp_path / "clinic.db"
    program = tmp_path / "calendar.toml"
    program.write_text(CAPPED_TOML.replace("enrollment-year", "calendar-year"), encoding="utf-8")
    ok(path, f"init --admin {ADMIN} --no-sign-in")
    ok(path, f"program add --file {program} --timezone UTC --actor {ADMIN}")
    assert text(path, "program show capped").splitlines()[-1] == (
        "at most $50.00 per participant per calendar year (the schedule alone would pay"
        " $240.00; capped at $50.00 per calendar year; an enrolment can span 2 calendar"
        " years, each with its own cap)"
    )


def test_presets_give_the_maximum_with_the_cap_in_json(tmp_path: Path) -> None:
    rows = ok(tmp_path / "none.db", "presets")
    for row in rows:
        with_cap, schedule = row["maximum_with_cap"], row["maximum"]["value_cents"]
        cap = with_cap["cap_cents"]
        assert with_cap["schedule_cents"] == schedule
        assert with_cap["cents"] == row["maximum"]["capped_cents"]
        assert with_cap["cents"] == (schedule if cap is None else min(schedule, cap))
        assert with_cap["capped"] is (cap is not None and cap < schedule)


def test_the_text_statement_says_why_a_result_was_cut_or_not_paid(db: Path) -> None:
    ok(db, f'adjust P-1001 --points 5 --reason "bus fare" --actor {ADMIN}')
    # Week 3: the first sample is cut to the $5.00 left, the third is an extra sample.
    for day in (14, 17, 18):
        at = f"{START + dt.timedelta(days=day)}T09:30:00+00:00"
        ok(db, f"record P-1001 --target {TARGET} --outcome met --at {at} --actor {ADMIN}")
    lines = text(db, "statement P-1001").splitlines()
    header = next(line for line in lines if line.startswith("date"))
    assert header.split()[-1] == "note"
    rows = [line for line in lines if line.startswith(str(START.year)[:2]) and TARGET in line]
    assert rows[4].endswith("cut to the cap")
    assert rows[6].endswith("extra sample: week 3 owes 2 samples")
    assert [r for r in rows[:4] if r.rstrip().endswith("cap")] == []


def test_a_count_of_one_point_is_singular_in_a_refusal(db: Path) -> None:
    """Newcomer finding (session 6), as for verify's "1 prizes": a refusal counting one point
    says "1 point"."""
    ok(db, f'adjust P-1001 --points -40 --reason "entered twice" --actor {ADMIN}')
    before = snapshot(db)
    error = assert_error(
        invoke(
            db, f'adjust P-1001 --points -1 --reason "again" --actor {ADMIN}', json_output=False
        ),
        1,
        json_output=False,
    )
    assert error["message"] == "cannot remove 1 point: P-1001 has 0 available"
    assert snapshot(db) == before
