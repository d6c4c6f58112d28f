"""Visits, one result per visit, late results, corrections and settlement, on every store.

The worked numbers of docs/design.md section 4.1 and the failures of the issue that
introduced them, each with its right value: the same sample entered twice, a preliminary
positive corrected, a result typed for the wrong participant or with the wrong outcome, the
secondary bonus recorded a second apart or in the other order, and a late confirmation.
Each runs on memory, a SQLite file and PostgreSQL (``any_clinic``).
"""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
from pathlib import Path

import pytest

import cmrewards
from cmrewards import AlreadyExists, Clinic, InvalidTransition, NotFound, PermissionDenied
from cmrewards.domain.chain import link
from cmrewards.store.migrations import MIGRATIONS
from support.clinics import START, FakeClock, check_history_balances, sample_day, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"
SECONDARY = "secondary-negative"


@pytest.fixture
def clinic(higgins: Clinic) -> Clinic:
    higgins.add_staff("rec-1", "recorder", actor=ADMIN)
    higgins.add_staff("clin-1", "clinician", actor=ADMIN)
    return higgins


def met(clinic: Clinic, day: int, outcome: str = "met", who: str = "P001") -> int:
    """Record ``outcome`` on ``day``; the points it paid (award and bonus)."""
    award = clinic.record(who, STIM, outcome, actor="rec-1", at=visit(day)).award
    return award.points + award.bonus_points


def paid_by_line(clinic: Clinic, who: str = "P001") -> list[int]:
    return [line.points for line in clinic.statement(who).lines]


# --- the worked numbers -------------------------------------------------------------------


def test_correcting_a_positive_to_negative_settles_every_later_award(clinic: Clinic) -> None:
    days = (0, 2, 4, 7)  # Monday, Wednesday, Friday, Monday: the protocol's days
    assert [
        met(clinic, d, o) for d, o in zip(days, ["met", "not_met", "met", "met"], strict=True)
    ] == [
        10,
        0,
        10,
        15,
    ]
    assert clinic.balance("P001").points == 35
    corrected = clinic.correct(2, "met", reason="lab retest negative", actor="clin-1")
    assert corrected.settlement.cause == f"correction:{corrected.correction.id}"
    assert (corrected.settlement.paid_points, corrected.settlement.taken_back_points) == (75, 0)
    assert corrected.settlement.outcomes == (2, 3, 4)
    assert corrected.balance.points == 110
    assert paid_by_line(clinic) == [10, 15, 60, 25]
    assert [line.outcome for line in clinic.statement("P001").lines] == ["met"] * 4
    assert clinic.verify().ok


def test_a_late_result_is_placed_in_clinical_order_and_settled(clinic: Clinic) -> None:
    assert [met(clinic, 0), met(clinic, 4)] == [10, 15]
    late = clinic.record("P001", STIM, "met", actor="rec-1", at=visit(2))
    assert late.award.points == 15  # second of the run, once in its place
    assert late.settlement is not None
    assert (late.settlement.outcomes, late.settlement.points) == ((2,), 45)  # day 4: 20 + 40
    assert clinic.balance("P001").points == 85
    assert paid_by_line(clinic) == [10, 15, 60]
    assert clinic.verify().ok


def test_what_cannot_be_taken_back_is_written_off(clinic: Clinic) -> None:
    assert [met(clinic, d) for d in (0, 2, 4)] == [10, 15, 60]
    clinic.add_item("CARD-20", name="$20 card", cost=80, actor=ADMIN)
    redemption = clinic.request_redemption("P001", "CARD-20", actor="rec-1").redemption
    clinic.approve_redemption(redemption.id, actor="clin-1")
    clinic.fulfil_redemption(redemption.id, actor="clin-1")
    assert clinic.balance("P001").available_points == 5
    corrected = clinic.correct(2, "not_met", reason="confirmation positive", actor="clin-1")
    settled = corrected.settlement
    assert (settled.taken_back_points, settled.written_off_points) == (5, 60)
    assert corrected.balance.available_points == 0
    assert paid_by_line(clinic) == [10, 0, 10]
    assert clinic.verify().ok
    (report,) = clinic.report("higgins-vbrt")
    assert (report.written_off_points, report.written_off_cents) == (60, 1500)
    # Awarded net of what settlements took back: 85 - 5; 60 of it was not earned.
    assert report.points_awarded == 80


# --- the failures the issue found, each with its right value -------------------------------


def test_the_same_sample_twice_is_paid_once_whatever_its_form(clinic: Clinic) -> None:
    first = clinic.record("P001", STIM, "met", actor="rec-1", at=visit(2, hour=9))
    again = clinic.record("P001", STIM, "met", actor="rec-1", at=visit(2, hour=9))
    other_zone = visit(2, hour=9).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    noted = clinic.record("P001", STIM, "met", actor="rec-1", at=other_zone, note="resent")
    keyed = clinic.record("P001", STIM, "met", actor="rec-1", at=visit(2, hour=11), key="LAB-9")
    assert [r.replayed for r in (first, again, noted, keyed)] == [False, True, True, True]
    assert {r.outcome_id for r in (first, again, noted, keyed)} == {first.outcome_id}
    assert clinic.balance("P001").points == 10
    assert clinic.verify().outcomes == 1


def test_an_import_resending_a_sample_in_another_form_pays_nothing(clinic: Clinic) -> None:
    header = "participant,target,outcome,at,key,note\n"
    lab = header + f"P001,{STIM},met,2027-01-06T09:30,,\n"
    resent = header + f"P001,{STIM},met,2027-01-06 09:30:00,,\n"
    resent += f"P001,{STIM},met,2027-01-06T09:30:00Z,,confirmed\n"
    report = clinic.import_outcomes(cmrewards.read_rows(io.StringIO(lab), "lab.csv"), actor=ADMIN)
    assert (report.applied, report.replayed) == (1, 0)
    rows = cmrewards.read_rows(io.StringIO(resent), "resent.csv")
    report = clinic.import_outcomes(rows, actor=ADMIN)
    assert (report.complete, report.applied, report.replayed) == (True, 0, 2)
    assert clinic.balance("P001").points == 10


def test_another_result_for_a_recorded_visit_names_the_outcome_to_correct(clinic: Clinic) -> None:
    met(clinic, 2)
    with pytest.raises(AlreadyExists) as refused:
        clinic.record("P001", STIM, "not_met", actor="rec-1", at=visit(2, hour=15))
    assert str(refused.value) == (
        "P001 stimulant-negative for the visit of 2027-01-06 is already recorded as met"
        " (outcome 1); correct outcome 1 to change it"
    )
    clinic.record("P001", STIM, "not_met", actor="rec-1", at=visit(3), visit="V-2")
    with pytest.raises(AlreadyExists, match="for visit V-2 is already recorded as not_met"):
        clinic.record("P001", STIM, "met", actor="rec-1", at=visit(3), visit="V-2")


def test_a_preliminary_positive_corrected_restores_the_schedule(clinic: Clinic) -> None:
    assert [met(clinic, d) for d in (0, 2)] == [10, 15]
    assert met(clinic, 4, "not_met") == 0  # the cup said positive
    assert met(clinic, 7) == 10  # the schedule reset
    clinic.correct(3, "met", reason="GC/MS confirmation negative", actor="clin-1")
    assert paid_by_line(clinic) == [10, 15, 60, 25]
    assert met(clinic, 9) == 30  # and escalation continues from the restored level
    preview = {p.target: p for p in clinic.preview("P001")}[STIM]
    assert preview.streak == 5


def test_a_result_for_the_wrong_participant_is_voided_and_recorded_again(clinic: Clinic) -> None:
    clinic.enroll("P002", "higgins-vbrt", start=START, actor=ADMIN)
    assert [met(clinic, d) for d in (0, 2)] == [10, 15]
    wrong = clinic.record("P001", STIM, "met", actor="rec-1", at=visit(4))  # P002's sample
    voided = clinic.void(wrong.outcome_id, reason="P002's sample", actor=ADMIN)
    assert voided.settlement.taken_back_points == 60
    assert voided.balance.points == 25
    right = clinic.record("P002", STIM, "met", actor="rec-1", at=visit(4))
    assert right.award.points == 10
    # The voided outcome no longer holds its visit.
    assert clinic.record("P001", STIM, "not_met", actor="rec-1", at=visit(4)).award.reset
    history = clinic.history("P001")
    void_line = next(e for e in history if e.kind == "void")
    assert (void_line.actor, void_line.detail) == (ADMIN, "outcome 3 voided: P002's sample")
    assert clinic.verify().ok


def test_history_lists_a_late_void_beside_the_result_it_voids(
    clinic: Clinic, clock: FakeClock
) -> None:
    assert [met(clinic, d) for d in (0, 2, 4)] == [10, 15, 60]
    clock.advance(days=3)
    first = clinic.history("P001")[0]
    clinic.void(int(first.ref.split(":")[1]), reason="wrong chart", actor=ADMIN)
    history = clinic.history("P001")
    # By clinical time, ties in entry order: the void and the take-back it settles stand
    # with day 0's result, not after day 4's; the later days' settlements with theirs.
    assert [(e.kind, e.occurred_at) for e in history] == [
        ("outcome", visit(0)),
        ("award", visit(0)),
        ("void", visit(0)),
        ("taken-back", visit(0)),
        ("outcome", visit(2)),
        ("award", visit(2)),
        ("taken-back", visit(2)),
        ("outcome", visit(4)),
        ("award", visit(4)),
        ("bonus", visit(4)),
        ("taken-back", visit(4)),
    ]
    void = history[2]
    assert (void.recorded_at, void.detail) == (clock.now, "outcome 1 voided: wrong chart")
    # The void and its take-backs, entered last, sit among earlier lines: down to a line
    # above which an earlier-entered one or a later one is listed, no balance the ledger
    # held is the sum, and it has none (as entered, the void's said 85 between 10 and 0).
    # Day 4's bonus closes the lines entered up to the second take-back: 70, as the ledger
    # held then; the last line's is the balance now.
    shown = [e.available_points for e in history]
    assert shown == [0, 10, None, None, None, None, None, None, None, 70, 25]
    check_history_balances(history)
    assert clinic.balance("P001").points == 25
    assert clinic.verify().ok


def test_correction_refusals_say_why(clinic: Clinic) -> None:
    met(clinic, 0)
    with pytest.raises(InvalidTransition, match="is already met"):
        clinic.correct(1, "met", reason="same", actor=ADMIN)
    with pytest.raises(NotFound, match="no outcome 9"):
        clinic.correct(9, "met", reason="typo", actor=ADMIN)
    with pytest.raises(PermissionDenied):
        clinic.correct(1, "not_met", reason="typo", actor="rec-1")
    with pytest.raises(PermissionDenied):
        clinic.void(1, reason="typo", actor="clin-1")
    clinic.void(1, reason="wrong chart", actor=ADMIN)
    with pytest.raises(InvalidTransition, match="was voided by correction 1"):
        clinic.correct(1, "not_met", reason="typo", actor=ADMIN)
    with pytest.raises(InvalidTransition, match="was voided by correction 1"):
        clinic.void(1, reason="again", actor=ADMIN)


def test_a_correction_with_a_key_is_done_once(clinic: Clinic) -> None:
    met(clinic, 0)
    first = clinic.correct(1, "not_met", reason="retest", actor=ADMIN, key="FIX-1")
    again = clinic.correct(1, "not_met", reason="retest", actor=ADMIN, key="FIX-1")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.correction == first.correction
    assert clinic.balance("P001").points == 0


def test_history_keeps_two_corrections_of_a_result_in_order_when_their_times_tie(
    clinic: Clinic,
) -> None:
    """Found by the lab-status property test: a correction that moved no points (to
    ``invalid``) was listed after the next one (to ``met``) when both were written at the
    same clock reading (the clock does not move here, as in one lab file's chunk), so the
    history read as if the result stood invalid."""
    outcome_id = clinic.record("P001", STIM, "not_met", actor="rec-1", at=visit(0)).outcome_id
    for outcome in ("invalid", "met"):
        clinic.correct(outcome_id, outcome, reason=f"lab says {outcome}", actor=ADMIN)
    history = clinic.history("P001")
    assert [e.kind for e in history] == ["outcome", "correct", "correct", "award"]
    assert [e.detail.split(":")[0] for e in history[1:3]] == [
        f"outcome {outcome_id} corrected to invalid",
        f"outcome {outcome_id} corrected to met",
    ]


@pytest.fixture
def fishbowl(any_clinic: Clinic) -> Clinic:
    any_clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    any_clinic.enroll("P001", "petry-fishbowl", start=START, actor=ADMIN)
    return any_clinic


@pytest.mark.parametrize("order", [(STIM, SECONDARY), (SECONDARY, STIM)])
def test_the_secondary_bonus_survives_a_second_apart_in_either_order(
    fishbowl: Clinic, clock: FakeClock, order: tuple[str, str]
) -> None:
    clock.now = visit(3, hour=10)
    first = fishbowl.record("P001", order[0], "met", actor=ADMIN)  # "now"
    clock.advance(seconds=1)
    second = fishbowl.record("P001", order[1], "met", actor=ADMIN)
    secondary = first if order[0] == SECONDARY else second
    draws = {p.target: p for p in fishbowl.statement("P001").lines}
    assert draws[SECONDARY].draws == 2
    assert draws[STIM].draws == 1
    if order[0] == SECONDARY:
        assert not first.award.paid
        assert second.settlement is not None
        assert second.settlement.outcomes == (secondary.outcome_id,)
    else:
        assert second.award.draws == 2
    assert fishbowl.verify().ok


def test_record_visit_records_every_target_of_a_visit_at_once(fishbowl: Clinic) -> None:
    visited = fishbowl.record_visit(
        "P001", {SECONDARY: "met", STIM: "met"}, actor=ADMIN, at=visit(3, hour=10)
    )
    assert visited.visit == "2027-01-07"
    assert [r.target for r in visited.results] == [SECONDARY, STIM]
    assert [p.draws for p in fishbowl.statement("P001").lines] == [2, 1]
    assert visited.balance.participant == "P001"
    assert fishbowl.verify().ok


def test_a_void_withdraws_owed_prizes_and_writes_off_handed_over_ones(fishbowl: Clinic) -> None:
    for day in range(0, 40, 3):
        fishbowl.record_visit("P001", {STIM: "met", SECONDARY: "met"}, actor=ADMIN, at=visit(day))
    won = fishbowl.prizes("P001")
    by_outcome: dict[int, list[cmrewards.Prize]] = {}
    for prize in won:
        assert prize.outcome_id is not None
        by_outcome.setdefault(prize.outcome_id, []).append(prize)
    outcome_id, prizes = max(by_outcome.items(), key=lambda item: len(item[1]))
    assert prizes, "the injected seeds win no prize"
    fishbowl.add_item(
        "CAB", name="cabinet", cost=0, stock=5, category=prizes[0].category, actor=ADMIN
    )
    fishbowl.fulfil_prize(prizes[0].id, sku="CAB", actor=ADMIN)
    voided = fishbowl.void(outcome_id, reason="entered in error", actor=ADMIN)
    assert prizes[0].id in voided.settlement.prizes_written_off
    # Its owed prizes are withdrawn (and perhaps later ones: the weeks escalate less).
    assert {p.id for p in prizes[1:]} <= set(voided.settlement.prizes_withdrawn)
    statuses = {p.id: str(p.status) for p in fishbowl.prizes("P001")}
    assert all(statuses[p.id] == "withdrawn" for p in prizes[1:])
    assert prizes[1:], "the injected seeds win one prize only"
    with pytest.raises(InvalidTransition, match="was already withdrawn"):
        fishbowl.fulfil_prize(prizes[1].id, sku="CAB", actor=ADMIN)
    assert fishbowl.verify().ok


# --- hash compatibility: rows written before visits verify after the migration ------------


OLD_OUTCOME_FIELDS = [
    *("id", "program_id", "participant", "target", "outcome", "occurred_at", "recorded_at"),
    *("actor", "key", "note", "seed"),
]
OLD_TRANSFER_FIELDS = [
    *("id", "program_id", "kind", "from_account", "to_account", "amount", "participant"),
    *("actor", "reason", "cause", "reverses", "occurred_at", "recorded_at"),
]


def test_an_outcome_or_transfer_without_the_new_fields_hashes_as_before(clinic: Clinic) -> None:
    met(clinic, 0)
    with clinic._store.read() as tx:
        (outcome,) = tx.outcomes()
        (transfer,) = tx.transfers()
    assert sorted(outcome.hash_fields()) == sorted(OLD_OUTCOME_FIELDS)
    assert sorted(transfer.hash_fields()) == sorted(OLD_TRANSFER_FIELDS)
    assert outcome.hash == link(outcome.prev_hash, outcome.hash_fields())


def test_a_database_of_the_previous_schema_verifies_clean_after_migrating(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Rows as the code before migration 0005 wrote them (the same columns and hashes: an
    outcome recorded in order is paid the same) are copied into a file holding only the
    migrations before it; opening it migrates it, and it verifies clean."""
    source = tmp_path / "now.db"
    with cmrewards.open(source, clock=clock) as now:
        now.init(ADMIN)
        now.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
        now.enroll("P001", "higgins-vbrt", start=START, actor=ADMIN)
        for day, outcome in enumerate(["met", "met", "not_met", "met"]):
            at = visit(sample_day(day))
            now.record("P001", STIM, outcome, actor=ADMIN, at=at, key=f"L{day}")
        now.adjust("P001", 5, reason="bus fare", actor=ADMIN)
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        "CREATE TABLE _sqlite_migrations (migration_set TEXT, name TEXT, applied_at TEXT,"
        " PRIMARY KEY (migration_set, name))"
    )
    for migration in MIGRATIONS[:4]:
        for statement in migration.sqlite:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO _sqlite_migrations VALUES ('cmrewards', ?, '2027-01-01')",
            [migration.name],
        )
    conn.execute("ATTACH ? AS now", [str(source)])
    for table in ("staff", "programs", "participants", "outcomes", "schedule_states"):
        copy_columns(conn, table)
    copy_columns(conn, "transfers")
    for table in ("idempotency", "journal"):
        copy_columns(conn, table)
    conn.commit()
    conn.close()
    with cmrewards.open(old, clock=clock) as migrated:
        report = migrated.verify()
        assert (report.ok, report.problems) == (True, ())
        assert report.outcomes == 4
        assert migrated.balance("P001").points == 10 + 15 + 10 + 5
        # And it goes on: a correction settles, and verify stays clean.
        migrated.correct(3, "met", reason="retest", actor=ADMIN)
        assert migrated.verify().ok


def copy_columns(conn: sqlite3.Connection, table: str) -> None:
    """Copy ``table`` from the attached new file, in the old file's columns."""
    columns = [row[1] for row in conn.execute(f"PRAGMA main.table_info({table})")]
    listed = ", ".join(columns)
    conn.execute(f"INSERT INTO main.{table} ({listed}) SELECT {listed} FROM now.{table}")


def test_an_import_s_late_result_settles_within_its_chunk(clinic: Clinic) -> None:
    """A late row in a lab file settles like a late ``record``, write-offs included, in the
    import's chunked unit of work (the write-behind flushes before writing them)."""
    header = "participant,target,outcome,at,key,note\n"
    first = header + "".join(f"P001,{STIM},met,{visit(d).isoformat()},,\n" for d in (0, 4, 7))
    report = clinic.import_outcomes(cmrewards.read_rows(io.StringIO(first), "a.csv"), actor=ADMIN)
    assert (report.applied, clinic.balance("P001").points) == (3, 85)
    clinic.adjust("P001", -80, reason="gift card", actor=ADMIN)
    late = header + f"P001,{STIM},not_met,{visit(2).isoformat()},,confirmation\n"
    late += f"P001,{STIM},met,{visit(9).isoformat()},,\n"
    rows = cmrewards.read_rows(io.StringIO(late), "b.csv")
    report = clinic.import_outcomes(rows, actor=ADMIN, chunk_size=500)
    assert (report.complete, report.applied) == (True, 2)
    # Day 2 resets the run: days 4, 7, 9 pay 10, 15, 60 (was 15, 60, then 25 for day 9).
    assert paid_by_line(clinic) == [10, 0, 10, 15, 60]
    with clinic._store.read() as tx:
        assert sum(w.points for w in tx.write_offs("P001")) == 50 - 5
    assert clinic.verify().ok
