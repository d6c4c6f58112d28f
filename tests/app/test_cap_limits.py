"""The cap is a hard limit (issue 12, "Hard limits"), on every store.

An adjustment counts toward the cap and is refused past it unless an admin grants it
over the cap; a downward adjustment gives back only the room adjustments used; the
reversal of an award, an adjustment or a settlement keeps cap usage between 0 and the
cap (plus what admins granted over it), and ``verify`` recomputes all of it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

import cmrewards
from cmrewards import (
    CapExceeded,
    Clinic,
    InvalidTransition,
    PermissionDenied,
    Role,
)
from cmrewards.app.postings import transfer
from cmrewards.domain.ledger import Movement
from cmrewards.domain.programs import program_from_toml
from cmrewards.domain.records import Correction, CorrectionKind, WriteOff
from cmrewards.domain.schedules import ScheduleState
from cmrewards.domain.staff import Action, Staff
from cmrewards.store.migrations import MIGRATIONS
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
TARGET = "stimulant-negative"
CAP = 5000
"""$50 a calendar year: the issue's example."""

CAPPED_TOML = """
id = "capped"
name = "Ten dollars a negative, $50 a year"
point_value_cents = 100
timezone = "UTC"
cap_cents = 5000
cap_period = "calendar-year"

[[targets]]
id = "stimulant-negative"
per_week = 7                   # a sample any day: the cap, not the calendar, limits these tests
schedule = { kind = "fixed", award = "points", amount = 10 }
"""

UNCAPPED_TOML = CAPPED_TOML.replace('id = "capped"', 'id = "uncapped"').replace(
    "cap_cents = 5000\n", ""
)


@pytest.fixture
def capped(any_clinic: Clinic) -> Clinic:
    any_clinic.add_program(program_from_toml(CAPPED_TOML, "capped"), actor=ADMIN)
    any_clinic.enroll("P-1001", "capped", start=START, actor=ADMIN)
    return any_clinic


def used(clinic: Clinic, participant: str = "P-1001") -> int:
    remaining = clinic.balance(participant).cap_remaining_cents
    assert remaining is not None
    return CAP - remaining


def met(clinic: Clinic, day: int, participant: str = "P-1001") -> int:
    return clinic.record(participant, TARGET, "met", actor=ADMIN, at=visit(day)).outcome_id


def clean(clinic: Clinic) -> None:
    report = clinic.verify()
    assert (report.ok, report.problems) == (True, ())


# --- adjustments count --------------------------------------------------------------


def test_an_adjustment_counts_toward_the_cap(capped: Clinic) -> None:
    met(capped, 0)
    result = capped.adjust("P-1001", 5, reason="bus fare", actor=ADMIN)
    assert (result.transfer.cap_change_cents, result.transfer.over_cap_cents) == (500, None)
    assert result.balance.cap_remaining_cents == CAP - 1000 - 500
    # The next awards fit in what is left: 10 + 10 + 10 + 5 (cut), then nothing.
    for day in (2, 4, 6, 8, 10):
        met(capped, day)
    assert used(capped) == CAP
    assert capped.balance("P-1001").points == 50
    clean(capped)


def test_the_issue_s_example_is_refused_saying_what_room_is_left(capped: Clinic) -> None:
    for day in (0, 2, 4, 6):
        met(capped, day)
    before = capped.history("P-1001")
    with pytest.raises(CapExceeded) as refused:
        capped.adjust("P-1001", 40, reason="make-up for a lab outage", actor=ADMIN)
    assert str(refused.value) == (
        "P-1001 has $10.00 left under the $50.00 cap for 2027; +40 points is $40.00"
    )
    assert refused.value.exit_code == 1
    # Nothing written.
    assert capped.history("P-1001") == before
    assert used(capped) == 4000
    clean(capped)


def test_an_admin_grants_an_adjustment_over_the_cap_and_it_is_reported(capped: Clinic) -> None:
    for day in (0, 2, 4, 6):
        met(capped, day)
    granted = capped.adjust(
        "P-1001", 40, reason="make-up for a lab outage, approved by J.", actor=ADMIN, over_cap=True
    )
    assert (granted.transfer.cap_change_cents, granted.transfer.over_cap_cents) == (4000, 3000)
    assert granted.balance.cap_remaining_cents == 0
    # The cap is spent: the next negative pays nothing.
    met(capped, 8)
    assert capped.balance("P-1001").points == 80
    clean(capped)
    (report,) = capped.report("capped")
    (grant,) = report.over_cap_grants
    assert (grant.participant, grant.points, grant.cents, grant.over_cents) == (
        "P-1001",
        40,
        4000,
        3000,
    )
    assert (grant.actor, grant.reason, grant.reversed) == (
        ADMIN,
        "make-up for a lab outage, approved by J.",
        False,
    )
    assert grant.transfer_id == granted.transfer.id
    assert (report.over_cap_points, report.over_cap_cents) == (40, 3000)
    statement = capped.statement("P-1001")
    assert statement.over_cap_grants == (grant,)
    page = cmrewards.statement_html(statement)
    assert "40 points granted ($40.00), $30.00 past the cap" in page


def test_an_adjustment_that_fits_is_no_grant_even_when_over_cap_is_asked(capped: Clinic) -> None:
    result = capped.adjust("P-1001", 5, reason="bus fare", actor=ADMIN, over_cap=True)
    assert (result.transfer.cap_change_cents, result.transfer.over_cap_cents) == (500, None)
    assert capped.report("capped")[0].over_cap_grants == ()


def test_only_an_admin_grants_over_the_cap(capped: Clinic) -> None:
    capped.add_staff("clin-1", Role.CLINICIAN, actor=ADMIN)
    with pytest.raises(PermissionDenied, match="clinician may not adjust balances"):
        capped.adjust("P-1001", 5, reason="bus fare", actor="clin-1", over_cap=True)
    added = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    may = {role: Staff("x", role, True, added, None).may(Action.GRANT_OVER_CAP) for role in Role}
    assert {role for role, yes in may.items() if yes} == {Role.ADMIN}


def test_a_replayed_grant_needs_the_same_request(capped: Clinic) -> None:
    for day in (0, 2, 4, 6):
        met(capped, day)
    first = capped.adjust("P-1001", 40, reason="r", actor=ADMIN, key="K1", over_cap=True)
    again = capped.adjust("P-1001", 40, reason="r", actor=ADMIN, key="K1", over_cap=True)
    assert again.replayed
    assert again.transfer == first.transfer
    with pytest.raises(cmrewards.IdempotencyConflict):
        capped.adjust("P-1001", 40, reason="r", actor=ADMIN, key="K1")


# --- downward adjustments and reversals ----------------------------------------------


def test_a_downward_adjustment_gives_back_only_the_room_adjustments_used(capped: Clinic) -> None:
    for day in (0, 2, 4):
        met(capped, day)
    capped.adjust("P-1001", 5, reason="bus fare", actor=ADMIN)
    assert used(capped) == 3500
    down = capped.adjust("P-1001", -20, reason="entered twice", actor=ADMIN)
    # Only the $5 the adjustment used comes back; the awards' room is theirs.
    assert down.transfer.cap_change_cents == -500
    assert used(capped) == 3000
    again = capped.adjust("P-1001", -5, reason="gift card", actor=ADMIN)
    assert again.transfer.cap_change_cents == 0
    assert used(capped) == 3000
    clean(capped)


def test_reversals_of_adjustments_keep_the_cap(capped: Clinic) -> None:
    up = capped.adjust("P-1001", 10, reason="bus fare", actor=ADMIN)
    undone = capped.reverse(up.transfer.id, reason="entered twice", actor=ADMIN)
    assert undone.transfer.cap_change_cents == -1000
    assert used(capped) == 0
    for day in (0, 2, 4, 6, 8):
        met(capped, day)
    assert used(capped) == CAP
    down = capped.adjust("P-1001", -10, reason="gift card", actor=ADMIN)
    assert down.transfer.cap_change_cents == 0  # no adjustment holds room
    capped.adjust("P-1001", 10, reason="late bus fare", actor=ADMIN, over_cap=True)
    down = capped.adjust("P-1001", -10, reason="entered in error", actor=ADMIN)
    assert down.transfer.cap_change_cents == -1000
    assert used(capped) == CAP
    # Undoing that downward adjustment would need $10 of room again.
    with pytest.raises(CapExceeded) as refused:
        capped.reverse(down.transfer.id, reason="it was right", actor=ADMIN)
    assert str(refused.value) == (
        f"P-1001 has $0.00 left under the $50.00 cap for 2027; reversing transfer"
        f" {down.transfer.id} is $10.00"
    )
    clean(capped)


def test_an_uncapped_program_counts_no_adjustment(any_clinic: Clinic) -> None:
    any_clinic.add_program(program_from_toml(UNCAPPED_TOML, "uncapped"), actor=ADMIN)
    any_clinic.enroll("P-2", "uncapped", start=START, actor=ADMIN)
    result = any_clinic.adjust("P-2", 10_000, reason="bus fare", actor=ADMIN, over_cap=True)
    assert (result.transfer.cap_change_cents, result.transfer.over_cap_cents) == (None, None)
    assert result.balance.cap_remaining_cents is None
    clean(any_clinic)


# --- a reversal and a settlement never undo the same points twice ---------------------


@pytest.mark.parametrize("toml", [CAPPED_TOML, UNCAPPED_TOML], ids=["capped", "uncapped"])
def test_a_voided_outcome_whose_award_was_reversed_takes_nothing_back(
    any_clinic: Clinic, toml: str
) -> None:
    program = program_from_toml(toml, "program")
    any_clinic.add_program(program, actor=ADMIN)
    any_clinic.enroll("P-1001", program.id, start=START, actor=ADMIN)
    outcome_id = met(any_clinic, 0)
    award = any_clinic.history("P-1001")[-1]
    any_clinic.reverse(int(award.ref.split(":")[1]), reason="lab error", actor=ADMIN)
    lowered = any_clinic.correct(outcome_id, "not_met", reason="lab retest", actor=ADMIN)
    assert lowered.settlement.taken_back_points == lowered.settlement.written_off_points == 0
    # Met after all: the reversal stands, so nothing is paid again.
    again = any_clinic.correct(outcome_id, "met", reason="lab confirmed", actor=ADMIN)
    assert again.settlement.paid_points == 0
    statement = any_clinic.statement("P-1001")
    assert [(line.points, line.reversed_points) for line in statement.lines] == [(0, 10)]
    voided = any_clinic.void(outcome_id, reason="entered in error", actor=ADMIN)
    assert voided.settlement.taken_back_points == voided.settlement.written_off_points == 0
    assert any_clinic.balance("P-1001").points == 0
    if program.cap_cents is not None:
        assert used(any_clinic) == 0
    clean(any_clinic)


def test_a_reversal_never_gives_back_what_a_settlement_took(any_clinic: Clinic) -> None:
    any_clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
    any_clinic.enroll("P001", "higgins-vbrt", start=START, actor=ADMIN)
    first = any_clinic.record("P001", TARGET, "met", actor=ADMIN, at=visit(0)).outcome_id
    any_clinic.record("P001", TARGET, "met", actor=ADMIN, at=visit(2))
    # Outcome 2 paid 15 (escalated); voiding outcome 1 makes it pay 10: 5 taken back.
    corrected = any_clinic.void(first, reason="entered in error", actor=ADMIN)
    assert corrected.settlement.taken_back_points == 10 + 5
    (take_back,) = [
        e
        for e in any_clinic.history("P001")
        if e.kind == "taken-back" and "taken back for outcome 2," in e.detail
    ]
    award_of_2 = [e for e in any_clinic.history("P001") if e.kind == "award"][1]
    with pytest.raises(InvalidTransition, match="which now gives 10; correct or void"):
        any_clinic.reverse(int(award_of_2.ref.split(":")[1]), reason="x", actor=ADMIN)
    with pytest.raises(InvalidTransition, match="took back points of outcome 2"):
        any_clinic.reverse(int(take_back.ref.split(":")[1]), reason="x", actor=ADMIN)
    clean(any_clinic)


# --- files written before ----------------------------------------------------------


def test_adjustments_written_before_the_migration_stay_uncounted(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A capped clinic written by the code before migration 0007 (adjustments without
    their cap columns) migrates and verifies clean; its old adjustments never count,
    and new ones do."""
    source = tmp_path / "now.db"
    with cmrewards.open(source, clock=clock) as now:
        now.init(ADMIN)
        now.add_program(program_from_toml(CAPPED_TOML, "capped"), actor=ADMIN)
        now.enroll("P-1001", "capped", start=START, actor=ADMIN)
        for day in (0, 2):
            met(now, day)
        # As the code before it wrote an adjustment: a transfer without cap columns.
        with now._store.write() as tx:
            transfer(
                tx, clock(), "capped", Movement.ADJUSTMENT_UP, "P-1001", 25, ADMIN, "old", None
            )
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        "CREATE TABLE _sqlite_migrations (migration_set TEXT, name TEXT, applied_at TEXT,"
        " PRIMARY KEY (migration_set, name))"
    )
    released = [m for m in MIGRATIONS if m.name <= "0006"]
    for migration in released:
        for statement in migration.sqlite:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO _sqlite_migrations VALUES ('cmrewards', ?, '2027-01-01')",
            [migration.name],
        )
    conn.execute("ATTACH ? AS now", [str(source)])
    for table in ("staff", "programs", "participants", "outcomes", "schedule_states"):
        copy_columns(conn, table)
    for table in ("transfers", "cap_usage", "idempotency", "journal"):
        copy_columns(conn, table)
    conn.commit()
    conn.close()
    with cmrewards.open(old, clock=clock) as migrated:
        clean(migrated)
        assert used(migrated) == 2000  # the awards; the old $25 adjustment never counted
        # A downward adjustment finds no counted adjustment's room to give back.
        down = migrated.adjust("P-1001", -25, reason="gift card", actor=ADMIN)
        assert down.transfer.cap_change_cents == 0
        up = migrated.adjust("P-1001", 30, reason="bus fares", actor=ADMIN)
        assert up.transfer.cap_change_cents == 3000
        assert used(migrated) == CAP
        clean(migrated)


def copy_columns(conn: sqlite3.Connection, table: str) -> None:
    """Copy ``table`` from the attached new file, in the old file's columns."""
    columns = [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")]
    listed = ", ".join(columns)
    conn.execute(f"INSERT INTO main.{table} ({listed}) SELECT {listed} FROM now.{table}")


def test_a_write_off_of_reversed_points_written_before_still_verifies(clock: FakeClock) -> None:
    """Before settlements were bounded by reversals, voiding an outcome whose award an
    admin had reversed took the points back again and wrote them off: such a record is
    what the rule then was, and verifies clean."""
    clinic = cmrewards.open(None, clock=clock)
    clinic.init(ADMIN)
    clinic.add_program(program_from_toml(UNCAPPED_TOML, "uncapped"), actor=ADMIN)
    clinic.enroll("P-1001", "uncapped", start=START, actor=ADMIN)
    outcome_id = met(clinic, 0)
    clinic.reverse(1, reason="lab error", actor=ADMIN)
    now = clock()
    with clinic._work.journaled() as tx:  # the old void: a correction and a write-off of 10
        tx.put_schedule_states([(("P-1001", TARGET), ScheduleState())])
        tx.add_corrections(
            [Correction(1, "uncapped", "P-1001", outcome_id, CorrectionKind.VOID, None, None,
                        "entered in error", ADMIN, now)]
        )  # fmt: skip
        tx.add_write_offs(
            [WriteOff(1, "uncapped", "P-1001", outcome_id, 10, None, 1000, "correction:1",
                      ADMIN, now)]
        )  # fmt: skip
    clean(clinic)


def test_verify_finds_a_cap_change_the_rules_do_not_give(clock: FakeClock) -> None:
    clinic = cmrewards.open(None, clock=clock)
    clinic.init(ADMIN)
    clinic.add_program(program_from_toml(CAPPED_TOML, "capped"), actor=ADMIN)
    clinic.enroll("P-1001", "capped", start=START, actor=ADMIN)
    with clinic._store.write() as tx:
        posted = transfer(
            tx, clock(), "capped", Movement.ADJUSTMENT_UP, "P-1001", 60, ADMIN, "forged", None,
            cap_change_cents=100, over_cap_cents=7000,
        )  # fmt: skip
        tx.add_cap_usage("P-1001", "2027", 100)
    messages = [p.message for p in clinic.verify().problems]
    assert (
        f"transfer {posted.id} says it changed the cap usage of P-1001 in 2027 by 100 cents;"
        " the rules give 6000"
    ) in messages
    assert (
        f"transfer {posted.id} (adjustment-up) carries a cap change that no adjustment of a"
        " capped program can have"
    ) in messages
    assert "cap usage of P-1001 in 2027 is 100 cents but its awards add up to 6000" in messages


# --- preview and progress say what the cap leaves -----------------------------------


def test_a_corrected_result_the_cap_now_cuts_is_noted_on_the_statement(
    capped: Clinic, clock: FakeClock
) -> None:
    """Newcomer finding (session 6): a result corrected away and back once a later result
    took the room it had paid nothing, and its statement line had no note, unlike a line the
    cap cut. Its settlement cut it to the cap as ``record`` would, so it says so."""
    clock.now = visit(12)
    ids = [met(capped, day) for day in (0, 2, 4, 6, 8)]  # $50: the cap is full
    capped.correct(ids[-1], "not_met", reason="lab retest", actor=ADMIN)
    met(capped, 10)  # the $10 the correction gave back
    again = capped.correct(ids[-1], "met", reason="lab confirmed", actor=ADMIN)
    assert (again.settlement.paid_points, used(capped)) == (0, CAP)
    lines = capped.statement("P-1001").lines
    assert [(line.points, line.note) for line in lines] == [
        *[(10, "")] * 4,
        (0, "cut to the cap"),
        (10, ""),
    ]
    clean(capped)


def test_preview_and_progress_cut_the_next_award_to_the_cap(
    capped: Clinic, clock: FakeClock
) -> None:
    clock.now = visit(5)
    for day in (0, 2, 4):
        met(capped, day)
    capped.adjust("P-1001", 15, reason="bus fare", actor=ADMIN)
    # $5.00 left: the next $10.00 award is cut to 5 points, as record then pays it.
    (cut,) = capped.preview("P-1001")
    assert (cut.next_amount, cut.next_value_cents, cut.capped) == (5, 500, True)
    assert "it pays 5 points ($5.00), cut from 10 points ($10.00)" in cut.sentence
    assert "the cap for 2027 has $5.00 left until 2028-01-01" in cut.sentence
    assert capped.statement("P-1001").progress == (cut,)
    met(capped, 5)
    assert capped.balance("P-1001").points == 50
    notes = [line.note for line in capped.statement("P-1001").lines]
    assert notes == ["", "", "", "cut to the cap"]
    # Nothing left: nothing more is paid this period, and the preview says so.
    (spent,) = capped.preview("P-1001")
    assert (spent.next_amount, spent.next_value_cents, spent.capped) == (0, 0, True)
    assert spent.unpaid == "the cap for 2027 is reached until 2028-01-01"
    assert "nothing more is paid until 2028-01-01" in spent.sentence
    assert capped.statement("P-1001").progress == (spent,)


def test_an_award_that_fits_is_previewed_whole(capped: Clinic, clock: FakeClock) -> None:
    clock.now = visit(1)
    met(capped, 0)
    (whole,) = capped.preview("P-1001")
    assert (whole.next_amount, whole.next_value_cents, whole.capped) == (10, 1000, False)
    assert "Met next time, it pays 10 points ($10.00)." in whole.sentence


def test_next_enrolment_year_starts_on_the_anniversary() -> None:
    from cmrewards.domain.caps import next_cap_period_start

    program = program_from_toml(CAPPED_TOML.replace("calendar-year", "enrollment-year"), "c")
    at = dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC)
    assert next_cap_period_start(program, dt.date(2026, 6, 15), at) == dt.date(2027, 6, 15)
    assert next_cap_period_start(program, dt.date(2024, 2, 29), at) == dt.date(2028, 2, 29)
    at = dt.datetime(2027, 2, 28, 12, tzinfo=dt.UTC)
    assert next_cap_period_start(program, dt.date(2024, 2, 29), at) == dt.date(2027, 3, 1)


def test_the_refusal_writes_points_with_thousands_separators(any_clinic: Clinic) -> None:
    program = program_from_toml(
        CAPPED_TOML.replace("point_value_cents = 100", "point_value_cents = 1"), "c"
    )
    any_clinic.add_program(program, actor=ADMIN)
    any_clinic.enroll("P-1001", "capped", start=START, actor=ADMIN)
    with pytest.raises(CapExceeded) as refused:
        any_clinic.adjust("P-1001", 5001, reason="carried over", actor=ADMIN)
    assert str(refused.value) == (
        "P-1001 has $50.00 left under the $50.00 cap for 2027; +5,001 points is $50.01"
    )
