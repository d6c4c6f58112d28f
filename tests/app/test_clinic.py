"""Behaviour of the ``Clinic`` facade on both stores (docs/design.md sections 2-4 and 7).

Every refused request is checked to leave the database exactly as it was: the
public reads (staff, participants, history, balances, ``verify``) and, on SQLite,
a raw dump of every table.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import cmrewards
from cmrewards import (
    AlreadyExists,
    Clinic,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    InvalidTransition,
    NotFound,
    Outcome,
    PermissionDenied,
    Role,
    Status,
    TransferResult,
)
from cmrewards.domain.ledger import Movement, Transfer
from support import postgres as postgres_support
from support.clinics import START, FakeClock, check_history_balances, sample_day, visit

PROGRAM = "higgins-vbrt"
TARGET = "stimulant-negative"
ADMIN = "admin-1"

HIGGINS_FIRST_TEN = [(10, 0), (15, 0), (20, 40), (25, 0), (30, 0), (35, 40), (40, 0), (45, 0)]
HIGGINS_FIRST_TEN += [(50, 40), (55, 0)]
"""(points, bonus) of ten consecutive negatives under Higgins (docs/design.md section 3.1)."""

APPEND_ONLY_TRIGGERS = (
    "transfers_no_update",
    "transfers_no_delete",
    "outcomes_no_update",
    "outcomes_no_delete",
)


# --- helpers -------------------------------------------------------------------


def raw_dump(path: str) -> list[str]:
    """Every table of a SQLite or PostgreSQL clinic, read past the library."""
    if path.startswith("postgresql://"):
        return postgres_support.table_dump(path)
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def snapshot(clinic: Clinic) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    people = clinic.participants()
    state: dict[str, Any] = {
        "staff": clinic.staff(),
        "programs": clinic.programs(),
        "participants": people,
        "history": {p.id: clinic.history(p.id) for p in people},
        "balance": {p.id: clinic.balance(p.id) for p in people},
        "verify": clinic.verify(),
    }
    if clinic.location != ":memory:":
        state["tables"] = raw_dump(clinic.location)
    return state


def all_transfers(clinic: Clinic) -> list[Transfer]:
    """Every stored transfer, in id order (read through the store port)."""
    with clinic._store.read() as tx:
        return tx.transfers()


def transfer_ids(clinic: Clinic, participant: str, kind: str) -> list[int]:
    """Ids of a participant's transfers of one kind, from their history."""
    return [
        int(entry.ref.split(":")[1])
        for entry in clinic.history(participant)
        if entry.kind == kind and entry.ref.startswith("transfer:")
    ]


def met(clinic: Clinic, participant: str, day: int, *, key: str | None = None) -> int:
    """Record a negative sample on ``day``; the points (with bonus) it paid."""
    result = clinic.record(participant, TARGET, "met", actor=ADMIN, at=visit(day), key=key)
    return result.award.points + result.award.bonus_points


@attrs.frozen
class Busy:
    """Ids in the busy clinic that the refusal tests need."""

    reversed_award: int
    """P001's first award, already reversed."""
    reversal: int
    drained_award: int
    """P002's award, whose points an adjustment removed again."""
    outcomes: int
    transfers: int


def build_busy(clinic: Clinic) -> Busy:
    """``higgins`` plus staff, three participants, resets, adjustments and a reversal."""
    clinic.add_staff("rec-1", "recorder", actor=ADMIN)
    clinic.add_staff("clin-1", "clinician", actor=ADMIN)
    clinic.enroll("P002", PROGRAM, start=START, actor=ADMIN)
    clinic.enroll("P003", PROGRAM, start=START, actor=ADMIN)
    for day in (0, 2, 4, 7):  # transfers 1, 2, 3 (+ bonus 4), 5
        clinic.record("P001", TARGET, "met", actor="rec-1", at=visit(day))
    clinic.record("P001", TARGET, "not_met", actor="rec-1", at=visit(9))
    clinic.record("P001", TARGET, "met", actor="clin-1", at=visit(11))  # 6
    clinic.record("P001", TARGET, "excused", actor="rec-1", at=visit(14))
    clinic.record("P001", TARGET, "met", actor="rec-1", at=visit(16), key="LAB-16")  # 7
    clinic.record("P002", TARGET, "met", actor="rec-1", at=visit(0))  # 8
    clinic.adjust("P002", -10, reason="entered twice", actor=ADMIN, key="ADJ-1")  # 9
    clinic.adjust("P001", 30, reason="attendance bonus", actor=ADMIN)  # 10
    clinic.adjust("P001", -5, reason="correction", actor=ADMIN)  # 11
    reversal = clinic.reverse(1, reason="sample was dilute", actor=ADMIN, key="REV-1")  # 12
    clinic.record("P003", TARGET, "met", actor="rec-1", at=visit(1))  # 13
    clinic.withdraw("P003", actor=ADMIN)
    return Busy(
        reversed_award=1,
        reversal=reversal.transfer.id,
        drained_award=8,
        outcomes=10,
        transfers=13,
    )


@pytest.fixture
def busy(higgins: Clinic) -> tuple[Clinic, Busy]:
    return higgins, build_busy(higgins)


@pytest.fixture
def sqlite_busy(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Clinic, Busy]]:
    """The busy clinic on a SQLite file only (for raw edits that bypass the library)."""
    clinic = cmrewards.open(
        tmp_path / "clinic.db", clock=clock, seeds=iter(range(1, 10**6)).__next__
    )
    clinic.init(ADMIN)
    clinic.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
    clinic.enroll("P001", PROGRAM, start=START, actor=ADMIN)
    ids = build_busy(clinic)
    yield clinic, ids
    clinic.close()


# --- init -----------------------------------------------------------------------


def test_init_creates_the_first_admin(clock: FakeClock) -> None:
    clinic = cmrewards.open(clock=clock)
    staff = clinic.init("admin-1")
    assert (staff.id, staff.role, staff.active, staff.added_by) == (
        "admin-1",
        Role.ADMIN,
        True,
        None,
    )
    assert clinic.staff() == [staff]


def test_sqlite_s_memory_name_opens_a_memory_clinic_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ":memory:" is SQLite's name for memory and the memory store's own location: it made
    # an empty file of that name in the working directory.
    monkeypatch.chdir(tmp_path)
    with cmrewards.open(":memory:") as clinic:
        clinic.init("admin-1")
        assert clinic.location == ":memory:"
        assert clinic.verify().ok
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(cmrewards.NotFound):  # nothing is kept to open again
        cmrewards.open(":memory:", create=False)


def test_init_only_once(any_clinic: Clinic) -> None:
    before = snapshot(any_clinic)
    with pytest.raises(AlreadyExists):
        any_clinic.init("admin-2")
    assert snapshot(any_clinic) == before
    assert [s.id for s in any_clinic.staff()] == [ADMIN]


def test_init_only_once_across_reopening(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "clinic.db"
    with cmrewards.open(path, clock=clock) as first:
        first.init(ADMIN)
    with cmrewards.open(path, clock=clock) as second:
        with pytest.raises(AlreadyExists):
            second.init("admin-2")
        assert [s.id for s in second.staff()] == [ADMIN]


# --- roles (docs/design.md section 2) ---------------------------------------------------


def _do_record(clinic: Clinic, actor: str) -> object:
    return clinic.record("P001", TARGET, "met", actor=actor, at=visit(0))


def _do_adjust(clinic: Clinic, actor: str) -> object:
    return clinic.adjust("P001", 5, reason="goodwill", actor=actor)


def _do_reverse(clinic: Clinic, actor: str) -> object:
    return clinic.reverse(1, reason="mistake", actor=actor)


def _do_enroll(clinic: Clinic, actor: str) -> object:
    return clinic.enroll("P900", PROGRAM, start=START, actor=actor)


def _do_withdraw(clinic: Clinic, actor: str) -> object:
    return clinic.withdraw("P001", actor=actor)


def _do_complete(clinic: Clinic, actor: str) -> object:
    return clinic.complete("P001", actor=actor)


def _do_add_staff(clinic: Clinic, actor: str) -> object:
    return clinic.add_staff("new-1", "recorder", actor=actor)


def _do_deactivate_staff(clinic: Clinic, actor: str) -> object:
    return clinic.deactivate_staff("bystander", actor=actor)


def _do_add_program(clinic: Clinic, actor: str) -> object:
    return clinic.add_program(cmrewards.load_preset("va-prize-cm"), actor=actor)


ACTIONS: dict[str, Callable[[Clinic, str], object]] = {
    "record": _do_record,
    "adjust": _do_adjust,
    "reverse": _do_reverse,
    "enroll": _do_enroll,
    "withdraw": _do_withdraw,
    "complete": _do_complete,
    "add_staff": _do_add_staff,
    "deactivate_staff": _do_deactivate_staff,
    "add_program": _do_add_program,
}
ALLOWED: dict[str, set[str]] = {
    "recorder": {"record"},
    "clinician": {"record"},
    "admin": set(ACTIONS),
}


def _staffed(clinic: Clinic) -> None:
    """Transfer 1 exists (to reverse) and a bystander exists (to deactivate)."""
    clinic.adjust("P001", 20, reason="opening balance", actor=ADMIN)
    clinic.add_staff("bystander", "recorder", actor=ADMIN)


@pytest.mark.parametrize("role", ["recorder", "clinician", "admin"])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_role_permissions(higgins: Clinic, role: str, action: str) -> None:
    _staffed(higgins)
    higgins.add_staff("actor-1", role, actor=ADMIN)
    if action in ALLOWED[role]:
        ACTIONS[action](higgins, "actor-1")
        assert higgins.verify().ok
    else:
        before = snapshot(higgins)
        with pytest.raises(PermissionDenied):
            ACTIONS[action](higgins, "actor-1")
        assert snapshot(higgins) == before


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_unknown_actor_is_refused(higgins: Clinic, action: str) -> None:
    _staffed(higgins)
    before = snapshot(higgins)
    with pytest.raises(PermissionDenied):
        ACTIONS[action](higgins, "nobody")
    assert snapshot(higgins) == before


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_deactivated_actor_is_refused(higgins: Clinic, action: str) -> None:
    _staffed(higgins)
    higgins.add_staff("admin-2", "admin", actor=ADMIN)
    left = higgins.deactivate_staff("admin-2", actor=ADMIN)
    assert left.active is False
    assert {s.id: s.active for s in higgins.staff()}["admin-2"] is False
    before = snapshot(higgins)
    with pytest.raises(PermissionDenied):
        ACTIONS[action](higgins, "admin-2")
    assert snapshot(higgins) == before


def test_staff_cannot_deactivate_themselves(any_clinic: Clinic) -> None:
    before = snapshot(any_clinic)
    with pytest.raises(InvalidTransition):
        any_clinic.deactivate_staff(ADMIN, actor=ADMIN)
    assert snapshot(any_clinic) == before


def test_add_staff_twice_and_bad_role_are_refused(any_clinic: Clinic) -> None:
    added = any_clinic.add_staff("rec-1", Role.RECORDER, actor=ADMIN)
    assert (added.role, added.added_by, added.active) == (Role.RECORDER, ADMIN, True)
    before = snapshot(any_clinic)
    with pytest.raises(AlreadyExists):
        any_clinic.add_staff("rec-1", "admin", actor=ADMIN)
    with pytest.raises(InvalidInput):
        any_clinic.add_staff("rec-2", "boss", actor=ADMIN)
    assert snapshot(any_clinic) == before


# --- ids ------------------------------------------------------------------------

BAD_IDS = ["", " ", "P 001", "Jane Doe", " P001", "P001 ", "a/b", "x" * 65, "-P001", "P\n1"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_participant_id_is_invalid(higgins: Clinic, bad: str) -> None:
    before = snapshot(higgins)
    with pytest.raises(InvalidInput):
        higgins.enroll(bad, PROGRAM, start=START, actor=ADMIN)
    assert snapshot(higgins) == before


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_staff_id_is_invalid(any_clinic: Clinic, bad: str) -> None:
    before = snapshot(any_clinic)
    with pytest.raises(InvalidInput):
        any_clinic.add_staff(bad, "recorder", actor=ADMIN)
    assert snapshot(any_clinic) == before


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_first_admin_id_is_invalid(clock: FakeClock, bad: str) -> None:
    clinic = cmrewards.open(clock=clock)
    with pytest.raises(InvalidInput):
        clinic.init(bad)
    assert clinic.staff() == []


def test_longest_id_is_accepted(higgins: Clinic) -> None:
    longest = "P" * 64
    assert higgins.enroll(longest, PROGRAM, start=START, actor=ADMIN).id == longest


# --- enrolment lifecycle -------------------------------------------------------------------


def test_enroll_records_who_when_and_where(any_clinic: Clinic, clock: FakeClock) -> None:
    any_clinic.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
    person = any_clinic.enroll("P001", PROGRAM, start=START, actor=ADMIN)
    expected = ("P001", PROGRAM, START, Status.ACTIVE, clock.now, ADMIN)
    actual = (
        person.id,
        person.program_id,
        person.start,
        person.status,
        person.enrolled_at,
        person.enrolled_by,
    )
    assert actual == expected
    assert any_clinic.participant("P001") == person
    assert any_clinic.participants() == [person]
    default = any_clinic.enroll("P002", PROGRAM, actor=ADMIN)
    assert default.start == clock.now.date()  # the preset's zone is UTC


def test_enroll_refuses_unknown_program_and_second_enrolment(higgins: Clinic) -> None:
    before = snapshot(higgins)
    with pytest.raises(NotFound):
        higgins.enroll("P002", "no-such-program", start=START, actor=ADMIN)
    with pytest.raises(AlreadyExists):
        higgins.enroll("P001", PROGRAM, start=START, actor=ADMIN)
    assert snapshot(higgins) == before


def test_withdraw_then_recording_is_refused(higgins: Clinic) -> None:
    assert met(higgins, "P001", 0) == 10
    withdrawn = higgins.withdraw("P001", actor=ADMIN)
    assert withdrawn.status is Status.WITHDRAWN
    assert higgins.participant("P001").status is Status.WITHDRAWN
    before = snapshot(higgins)
    with pytest.raises(InvalidTransition):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(2))
    with pytest.raises(InvalidTransition):
        higgins.record("P001", TARGET, "not_met", actor=ADMIN, at=visit(2), key="LAB-9")
    with pytest.raises(InvalidTransition):
        higgins.withdraw("P001", actor=ADMIN)
    with pytest.raises(InvalidTransition):
        higgins.complete("P001", actor=ADMIN)
    with pytest.raises(InvalidTransition):  # ended already: not "before the last result"
        higgins.withdraw("P001", on=START - dt.timedelta(days=1), actor=ADMIN)
    assert snapshot(higgins) == before
    assert higgins.balance("P001").points == 10  # earned points stay with the participant


def test_complete_then_recording_is_refused(higgins: Clinic) -> None:
    completed = higgins.complete("P001", actor=ADMIN)
    assert completed.status is Status.COMPLETED
    before = snapshot(higgins)
    with pytest.raises(InvalidTransition):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0))
    with pytest.raises(InvalidTransition):
        higgins.withdraw("P001", actor=ADMIN)
    assert snapshot(higgins) == before


def test_withdraw_unknown_participant(higgins: Clinic) -> None:
    with pytest.raises(NotFound):
        higgins.withdraw("P999", actor=ADMIN)


# --- recording and the Higgins schedule ------------------------------------------------


def test_ten_negatives_pay_the_higgins_schedule(higgins: Clinic) -> None:
    paid = []
    balances = []
    for n in range(10):
        result = higgins.record("P001", TARGET, Outcome.MET, actor=ADMIN, at=visit(sample_day(n)))
        paid.append((result.award.points, result.award.bonus_points))
        balances.append(result.balance.points)
        assert result.replayed is False
        assert result.award.value_cents == 25 * (result.award.points + result.award.bonus_points)
    assert paid == HIGGINS_FIRST_TEN
    running = 0
    expected_balances = []
    for points, bonus in HIGGINS_FIRST_TEN:
        running += points + bonus
        expected_balances.append(running)
    assert balances == expected_balances
    balance = higgins.balance("P001")
    assert (balance.points, balance.available_points, balance.held_points) == (445, 445, 0)
    assert balance.value_cents == 445 * 25


def test_reset_and_recovery_as_in_the_worked_example(higgins: Clinic) -> None:
    for n in range(10):
        met(higgins, "P001", sample_day(n))
    reset = higgins.record("P001", TARGET, "not_met", actor=ADMIN, at=visit(sample_day(10)))
    assert (reset.award.points, reset.award.bonus_points, reset.award.reset) == (0, 0, True)
    after = []
    recovered = []
    for n in range(7):
        result = higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(sample_day(11 + n)))
        after.append((result.award.points, result.award.bonus_points))
        recovered.append(result.award.recovered)
    assert after == [(10, 0), (15, 0), (20, 40), (25, 0), (55, 0), (60, 40), (65, 0)]
    assert recovered == [False, False, False, False, True, False, False]
    assert higgins.balance("P001").points == 445 + 10 + 15 + 60 + 25 + 55 + 100 + 65


@pytest.mark.parametrize("outcome", ["missed", "invalid", "not_met"])
def test_missed_and_invalid_reset_like_a_positive(higgins: Clinic, outcome: str) -> None:
    assert [met(higgins, "P001", d) for d in (0, 1)] == [10, 15]
    result = higgins.record("P001", TARGET, outcome, actor=ADMIN, at=visit(2))
    assert result.award.reset is True
    assert result.award.points + result.award.bonus_points == 0
    assert met(higgins, "P001", 7) == 10


def test_excused_keeps_the_streak(higgins: Clinic) -> None:
    assert [met(higgins, "P001", d) for d in (0, 1)] == [10, 15]
    excused = higgins.record("P001", TARGET, "excused", actor=ADMIN, at=visit(2))
    assert (excused.award.points, excused.award.reset) == (0, False)
    assert met(higgins, "P001", 7) == 60  # third consecutive: 20 + 40 bonus


def test_thirty_six_negatives_earn_the_published_total(higgins: Clinic) -> None:
    for n in range(36):
        met(higgins, "P001", sample_day(n))
    balance = higgins.balance("P001")
    assert (balance.points, balance.value_cents) == (3990, 99750)  # $997.50
    assert higgins.verify().ok


def test_record_result_describes_the_outcome(higgins: Clinic) -> None:
    at = visit(3, 14)
    result = higgins.record("P001", TARGET, "met", actor=ADMIN, at=at, note="observed")
    assert (result.participant, result.target, result.outcome) == ("P001", TARGET, Outcome.MET)
    assert result.occurred_at == at
    assert result.outcome_id == 1
    assert result.prizes == ()
    assert result.award.paid is True


def test_record_without_at_uses_the_clock(higgins: Clinic, clock: FakeClock) -> None:
    result = higgins.record("P001", TARGET, "met", actor=ADMIN)
    assert result.occurred_at == clock.now


def test_participants_have_separate_schedules(higgins: Clinic) -> None:
    higgins.enroll("P002", PROGRAM, start=START, actor=ADMIN)
    assert [met(higgins, "P001", d) for d in (0, 1)] == [10, 15]
    assert met(higgins, "P002", 1) == 10
    assert (higgins.balance("P001").points, higgins.balance("P002").points) == (25, 10)


# --- time ------------------------------------------------------------------------------


def test_an_earlier_time_is_a_late_result_and_the_same_visit_a_replay(higgins: Clinic) -> None:
    met(higgins, "P001", 5)
    late = higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(4))
    # Day 4 now comes first: it pays 10, and day 5, second in a row, is settled to 15.
    assert (late.award.points, late.replayed) == (10, False)
    assert late.settlement is not None
    assert (late.settlement.outcomes, late.settlement.paid_points) == ((1,), 5)
    before = snapshot(higgins)
    again = higgins.record(
        "P001", TARGET, "met", actor=ADMIN, at=visit(5) - dt.timedelta(microseconds=1)
    )
    assert (again.replayed, again.outcome_id, again.award.points) == (True, 1, 15)
    assert snapshot(higgins) == before
    assert higgins.balance("P001").points == 25
    assert higgins.verify().ok


def test_late_results_are_per_participant(higgins: Clinic) -> None:
    higgins.enroll("P002", PROGRAM, start=START, actor=ADMIN)
    met(higgins, "P001", 5)
    assert met(higgins, "P002", 1) == 10
    assert higgins.balance("P001").points == 10


def test_one_visit_compares_clinical_days_in_the_program_s_zone(higgins: Clinic) -> None:
    met(higgins, "P001", 5)  # 09:00 UTC
    plus_nine = dt.timezone(dt.timedelta(hours=9))
    local = visit(5).astimezone(plus_nine) - dt.timedelta(minutes=1)  # 17:59+09:00, same day
    assert higgins.record("P001", TARGET, "met", actor=ADMIN, at=local).replayed
    with pytest.raises(AlreadyExists, match="is already recorded as met"):
        higgins.record("P001", TARGET, "not_met", actor=ADMIN, at=local)


def test_naive_datetime_is_invalid(higgins: Clinic) -> None:
    before = snapshot(higgins)
    with pytest.raises(InvalidInput):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=dt.datetime(2027, 1, 5, 9))
    assert snapshot(higgins) == before


def test_before_enrolment_is_invalid(higgins: Clinic) -> None:
    before = snapshot(higgins)
    with pytest.raises(InvalidInput):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(-1))
    just_before = dt.datetime(2027, 1, 3, 23, 59, 59, tzinfo=dt.UTC)
    with pytest.raises(InvalidInput):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=just_before)
    # 00:30 on the start date at UTC+2 is still the day before in the program's zone (UTC).
    east = dt.datetime(2027, 1, 4, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with pytest.raises(InvalidInput):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=east)
    assert snapshot(higgins) == before
    midnight = dt.datetime(2027, 1, 4, 0, 0, tzinfo=dt.UTC)
    assert higgins.record("P001", TARGET, "met", actor=ADMIN, at=midnight).award.points == 10


def test_more_than_an_hour_ahead_is_invalid(higgins: Clinic, clock: FakeClock) -> None:
    before = snapshot(higgins)
    too_far = clock.now + dt.timedelta(hours=1, seconds=1)
    with pytest.raises(InvalidInput):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=too_far)
    assert snapshot(higgins) == before
    limit = clock.now + dt.timedelta(hours=1)
    assert higgins.record("P001", TARGET, "met", actor=ADMIN, at=limit).occurred_at == limit


# --- unknown things --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("participant", "target", "outcome", "error"),
    [
        ("P001", TARGET, "positive", InvalidInput),
        ("P001", TARGET, "MET", InvalidInput),
        ("P001", TARGET, "", InvalidInput),
        ("P001", "alcohol-negative", "met", NotFound),
        ("P999", TARGET, "met", NotFound),
    ],
)
def test_unknown_outcome_target_participant(
    higgins: Clinic, participant: str, target: str, outcome: str, error: type[Exception]
) -> None:
    before = snapshot(higgins)
    with pytest.raises(error):
        higgins.record(participant, target, outcome, actor=ADMIN, at=visit(0))
    assert snapshot(higgins) == before


def test_bad_note_is_invalid(higgins: Clinic) -> None:
    before = snapshot(higgins)
    with pytest.raises(InvalidInput):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), note="two\nlines")
    with pytest.raises(InvalidInput):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), note="x" * 501)
    assert snapshot(higgins) == before


# --- idempotency -------------------------------------------------------------------------


def test_record_replay_returns_the_original_and_writes_nothing(higgins: Clinic) -> None:
    first = higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")
    assert first.replayed is False
    before = snapshot(higgins)
    again = higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")
    assert again.replayed is True
    assert attrs.evolve(again, replayed=False) == first
    assert snapshot(higgins) == before
    assert higgins.verify().outcomes == 1
    assert higgins.verify().transfers == 1


def test_record_replay_returns_the_original_balance(higgins: Clinic) -> None:
    first = higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")
    met(higgins, "P001", 2)
    higgins.adjust("P001", 100, reason="goodwill", actor=ADMIN)
    again = higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")
    assert (again.replayed, again.balance, again.award) == (True, first.balance, first.award)
    assert higgins.balance("P001").points == 125


def test_replay_of_out_of_order_request_is_still_a_replay(higgins: Clinic) -> None:
    first = higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")
    met(higgins, "P001", 3)
    again = higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")
    assert attrs.evolve(again, replayed=False) == first


def test_record_without_at_replayed_later_is_still_a_replay(
    higgins: Clinic, clock: FakeClock
) -> None:
    first = higgins.record("P001", TARGET, "met", actor=ADMIN, key="LAB-1")
    clock.advance(hours=3)
    before = snapshot(higgins)
    again = higgins.record("P001", TARGET, "met", actor=ADMIN, key="LAB-1")
    assert again.replayed is True
    assert attrs.evolve(again, replayed=False) == first
    assert again.occurred_at == clock.now - dt.timedelta(hours=3)
    assert snapshot(higgins) == before


def _conflicting_requests() -> dict[str, Callable[[Clinic], object]]:
    def other_outcome(c: Clinic) -> object:
        return c.record("P001", TARGET, "not_met", actor=ADMIN, at=visit(0), key="LAB-1")

    def other_time(c: Clinic) -> object:
        return c.record("P001", TARGET, "met", actor=ADMIN, at=visit(1), key="LAB-1")

    def no_time(c: Clinic) -> object:
        return c.record("P001", TARGET, "met", actor=ADMIN, key="LAB-1")

    def other_note(c: Clinic) -> object:
        return c.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1", note="n")

    def other_participant(c: Clinic) -> object:
        return c.record("P002", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")

    def adjustment(c: Clinic) -> object:
        return c.adjust("P001", 5, reason="goodwill", actor=ADMIN, key="LAB-1")

    def reversal(c: Clinic) -> object:
        return c.reverse(1, reason="mistake", actor=ADMIN, key="LAB-1")

    return {
        "other outcome": other_outcome,
        "other time": other_time,
        "no time": no_time,
        "other note": other_note,
        "other participant": other_participant,
        "adjustment": adjustment,
        "reversal": reversal,
    }


@pytest.mark.parametrize("name", sorted(_conflicting_requests()))
def test_same_key_different_request_conflicts(higgins: Clinic, name: str) -> None:
    higgins.enroll("P002", PROGRAM, start=START, actor=ADMIN)
    higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")
    before = snapshot(higgins)
    with pytest.raises(IdempotencyConflict):
        _conflicting_requests()[name](higgins)
    assert snapshot(higgins) == before


def test_keys_are_scoped_per_program(higgins: Clinic) -> None:
    second = attrs.evolve(cmrewards.load_preset(PROGRAM), id="higgins-v2")
    higgins.add_program(second, actor=ADMIN)
    higgins.enroll("P002", "higgins-v2", start=START, actor=ADMIN)
    higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")
    other = higgins.record("P002", TARGET, "met", actor=ADMIN, at=visit(0), key="LAB-1")
    assert (other.replayed, other.award.points) == (False, 10)
    assert higgins.balance("P002").points == 10


def test_adjust_replay_and_conflict(higgins: Clinic) -> None:
    first = higgins.adjust("P001", 40, reason="goodwill", actor=ADMIN, key="ADJ-1")
    before = snapshot(higgins)
    again = higgins.adjust("P001", 40, reason="goodwill", actor=ADMIN, key="ADJ-1")
    assert again.replayed is True
    assert attrs.evolve(again, replayed=False) == first
    assert snapshot(higgins) == before
    with pytest.raises(IdempotencyConflict):
        higgins.adjust("P001", 41, reason="goodwill", actor=ADMIN, key="ADJ-1")
    with pytest.raises(IdempotencyConflict):
        higgins.adjust("P001", 40, reason="other reason", actor=ADMIN, key="ADJ-1")
    assert snapshot(higgins) == before
    assert higgins.balance("P001").points == 40


def test_reverse_replay_is_not_a_second_reversal(higgins: Clinic) -> None:
    met(higgins, "P001", 0)
    first = higgins.reverse(1, reason="dilute", actor=ADMIN, key="REV-1")
    before = snapshot(higgins)
    again = higgins.reverse(1, reason="dilute", actor=ADMIN, key="REV-1")
    assert again.replayed is True
    assert attrs.evolve(again, replayed=False) == first
    assert snapshot(higgins) == before
    with pytest.raises(IdempotencyConflict):
        higgins.reverse(1, reason="different", actor=ADMIN, key="REV-1")
    assert snapshot(higgins) == before


@pytest.mark.parametrize("key", ["", "   ", "k" * 501, "two\nlines"])
def test_bad_key_is_invalid(higgins: Clinic, key: str) -> None:
    before = snapshot(higgins)
    with pytest.raises(InvalidInput):
        higgins.record("P001", TARGET, "met", actor=ADMIN, at=visit(0), key=key)
    with pytest.raises(InvalidInput):
        higgins.adjust("P001", 5, reason="goodwill", actor=ADMIN, key=key)
    assert snapshot(higgins) == before


# --- adjustments ------------------------------------------------------------------------


def test_adjust_up_and_down(higgins: Clinic, clock: FakeClock) -> None:
    up = higgins.adjust("P001", 25, reason="attendance bonus", actor=ADMIN)
    transfer = up.transfer
    assert (transfer.kind, transfer.from_account, transfer.to_account, transfer.amount) == (
        Movement.ADJUSTMENT_UP,
        "funding",
        "available:P001",
        25,
    )
    assert (transfer.actor, transfer.reason, transfer.participant) == (
        ADMIN,
        "attendance bonus",
        "P001",
    )
    assert (transfer.occurred_at, transfer.recorded_at) == (clock.now, clock.now)
    assert up.balance.points == 25
    down = higgins.adjust("P001", -10, reason="entered twice", actor=ADMIN)
    assert (down.transfer.kind, down.transfer.from_account, down.transfer.to_account) == (
        Movement.ADJUSTMENT_DOWN,
        "available:P001",
        "funding",
    )
    assert down.transfer.amount == 10
    assert (down.balance.points, higgins.balance("P001").available_points) == (15, 15)
    emptied = higgins.adjust("P001", -15, reason="close out", actor=ADMIN)
    assert emptied.balance.points == 0


def test_adjust_down_beyond_available_is_refused(higgins: Clinic) -> None:
    met(higgins, "P001", 0)
    before = snapshot(higgins)
    with pytest.raises(InsufficientPoints):
        higgins.adjust("P001", -11, reason="too much", actor=ADMIN)
    with pytest.raises(InsufficientPoints):
        higgins.adjust("P001", -11, reason="too much", actor=ADMIN, key="ADJ-X")
    assert snapshot(higgins) == before
    # The refused keyed request left no key behind: the key is free for a valid request.
    ok = higgins.adjust("P001", -10, reason="fits", actor=ADMIN, key="ADJ-X")
    assert (ok.replayed, ok.balance.points) == (False, 0)


@pytest.mark.parametrize("points", [0, True, False])
def test_adjust_needs_a_nonzero_whole_number(higgins: Clinic, points: int) -> None:
    before = snapshot(higgins)
    with pytest.raises(InvalidInput):
        higgins.adjust("P001", points, reason="nothing", actor=ADMIN)
    assert snapshot(higgins) == before


@pytest.mark.parametrize("reason", ["", "   ", "a\nb"])
def test_adjust_needs_a_reason(higgins: Clinic, reason: str) -> None:
    before = snapshot(higgins)
    with pytest.raises(InvalidInput):
        higgins.adjust("P001", 5, reason=reason, actor=ADMIN)
    assert snapshot(higgins) == before


def test_adjust_unknown_participant(higgins: Clinic) -> None:
    with pytest.raises(NotFound):
        higgins.adjust("P999", 5, reason="goodwill", actor=ADMIN)


# --- reversals -------------------------------------------------------------------------------


def test_reverse_an_award_mirrors_it(higgins: Clinic, clock: FakeClock) -> None:
    met(higgins, "P001", 0)
    met(higgins, "P001", 1)
    (award_id,) = transfer_ids(higgins, "P001", "award")[:1]
    original = all_transfers(higgins)[award_id - 1]
    result = higgins.reverse(award_id, reason="sample was dilute", actor=ADMIN)
    mirror = result.transfer
    assert (mirror.kind, mirror.reverses, mirror.amount) == (Movement.REVERSAL, award_id, 10)
    assert (mirror.from_account, mirror.to_account) == (original.to_account, original.from_account)
    assert (mirror.participant, mirror.actor, mirror.reason) == ("P001", ADMIN, "sample was dilute")
    assert mirror.cause == f"transfer:{award_id}"
    assert mirror.occurred_at == clock.now
    assert result.balance.points == 15
    assert higgins.balance("P001").points == 15
    assert all_transfers(higgins)[award_id - 1] == original  # the original row is untouched
    assert higgins.verify().ok


def test_reverse_at_most_once(higgins: Clinic) -> None:
    met(higgins, "P001", 0)
    higgins.adjust("P001", 50, reason="goodwill", actor=ADMIN)
    first = higgins.reverse(1, reason="dilute", actor=ADMIN)
    before = snapshot(higgins)
    with pytest.raises(InvalidTransition):
        higgins.reverse(1, reason="dilute", actor=ADMIN)
    with pytest.raises(InvalidTransition):
        higgins.reverse(1, reason="again, with a key", actor=ADMIN, key="REV-2")
    with pytest.raises(InvalidTransition):
        higgins.reverse(first.transfer.id, reason="undo the undo", actor=ADMIN)
    assert snapshot(higgins) == before


def test_reverse_needs_the_points_still_there(higgins: Clinic) -> None:
    met(higgins, "P001", 0)  # transfer 1: 10 points
    higgins.adjust("P001", -10, reason="spent at the front desk", actor=ADMIN)
    original = all_transfers(higgins)[0]
    before = snapshot(higgins)
    with pytest.raises(InsufficientPoints):
        higgins.reverse(1, reason="dilute", actor=ADMIN)
    assert snapshot(higgins) == before
    assert all_transfers(higgins)[0] == original


def test_reverse_an_adjustment_down_returns_the_points(higgins: Clinic) -> None:
    met(higgins, "P001", 0)
    down = higgins.adjust("P001", -10, reason="mistake", actor=ADMIN)
    back = higgins.reverse(down.transfer.id, reason="it was right", actor=ADMIN)
    assert (back.transfer.from_account, back.transfer.to_account) == ("funding", "available:P001")
    assert back.balance.points == 10


@pytest.mark.parametrize("transfer_id", [0, -1, 2, 10**6])
def test_reverse_unknown_transfer(higgins: Clinic, transfer_id: int) -> None:
    met(higgins, "P001", 0)
    before = snapshot(higgins)
    with pytest.raises(NotFound):
        higgins.reverse(transfer_id, reason="mistake", actor=ADMIN)
    assert snapshot(higgins) == before


def test_reverse_needs_a_reason(higgins: Clinic) -> None:
    met(higgins, "P001", 0)
    with pytest.raises(InvalidInput):
        higgins.reverse(1, reason=" ", actor=ADMIN)


# --- history and verify ------------------------------------------------------------------------


def _assert_history_consistent(clinic: Clinic, participant: str) -> None:
    """Listed in clinical order; each balance shown is the sum of the points listed so far,
    never below zero, and the last line's is the balance now."""
    entries = clinic.history(participant)
    clinical = [e.occurred_at for e in entries]
    assert clinical == sorted(clinical)
    check_history_balances(entries)
    balance = clinic.balance(participant)
    if entries:
        last = entries[-1]
        assert (last.available_points, last.held_points) == (
            balance.available_points,
            balance.held_points,
        )
    assert sum(e.points for e in entries) == balance.points


def test_history_of_a_busy_participant(busy: tuple[Clinic, Busy]) -> None:
    clinic, _ = busy
    entries = clinic.history("P001")
    kinds = [e.kind for e in entries]
    assert kinds.count("outcome") == 8
    assert kinds.count("award") == 6
    assert kinds.count("bonus") == 1
    assert kinds.count("reversal") == 1
    assert (kinds.count("adjustment-up"), kinds.count("adjustment-down")) == (1, 1)
    # Each award follows the outcome that caused it.
    for index, entry in enumerate(entries):
        if entry.kind in ("award", "bonus"):
            assert entries[index - 1].kind in ("outcome", "award")
            assert entries[index - 1].occurred_at == entry.occurred_at
    outcomes = [e.detail for e in entries if e.kind == "outcome"]
    assert outcomes == [
        f"{TARGET}: {o}" for o in ["met"] * 4 + ["not_met", "met", "excused", "met"]
    ]
    # 10 + 15 + 60 + 25, reset, 10, excused, 15; + 30 - 5; first award (10) reversed.
    assert clinic.balance("P001").points == 10 + 15 + 60 + 25 + 10 + 15 + 30 - 5 - 10
    for participant in ("P001", "P002", "P003"):
        _assert_history_consistent(clinic, participant)


def test_history_runs_through_every_movement_in_order(higgins: Clinic, clock: FakeClock) -> None:
    met(higgins, "P001", 0)
    clock.advance(hours=1)
    higgins.adjust("P001", 20, reason="attendance bonus", actor=ADMIN)
    clock.advance(hours=1)
    met(higgins, "P001", 1)
    clock.advance(hours=1)
    higgins.adjust("P001", -30, reason="gift card", actor=ADMIN)
    clock.advance(hours=1)
    higgins.reverse(1, reason="sample was dilute", actor=ADMIN)
    entries = higgins.history("P001")
    # Listed by clinical time: the two results (days 0 and 1) before what was done by hand
    # after them. Each balance is the sum of the points listed so far where that is one the
    # ledger held (the lines so far are the first entered): none for day 1's result and
    # award, entered after the adjustment listed below them, which again has one.
    assert [(e.kind, e.points, e.available_points, e.ref) for e in entries] == [
        ("outcome", 0, 0, "outcome:1"),
        ("award", 10, 10, "transfer:1"),
        ("outcome", 0, None, "outcome:2"),
        ("award", 15, None, "transfer:3"),
        ("adjustment-up", 20, 45, "transfer:2"),
        ("adjustment-down", -30, 15, "transfer:4"),
        ("reversal", -10, 5, "transfer:5"),
    ]
    assert [e.detail for e in entries][:3] == [f"{TARGET}: met", f"{TARGET} met", f"{TARGET}: met"]
    assert {e.actor for e in entries} == {ADMIN}
    _assert_history_consistent(higgins, "P001")


def test_history_unknown_participant(higgins: Clinic) -> None:
    with pytest.raises(NotFound):
        higgins.history("P999")
    with pytest.raises(NotFound):
        higgins.balance("P999")


def test_history_never_dips_below_zero_when_at_is_slightly_ahead(
    higgins: Clinic, clock: FakeClock
) -> None:
    """An outcome recorded up to an hour ahead of the clock is allowed (terminal drift).

    Taking its points away again "now" must not show a negative running balance.
    """
    clock.now = visit(30, 12)  # within the program's paid weeks
    ahead = clock.now + dt.timedelta(minutes=30)
    higgins.record("P001", TARGET, "met", actor=ADMIN, at=ahead)
    higgins.adjust("P001", -10, reason="entered on the wrong chart", actor=ADMIN)
    _assert_history_consistent(higgins, "P001")


def test_history_never_dips_below_zero_after_reversing_an_award_ahead(
    higgins: Clinic, clock: FakeClock
) -> None:
    clock.now = visit(30, 12)  # within the program's paid weeks
    ahead = clock.now + dt.timedelta(minutes=30)
    higgins.record("P001", TARGET, "met", actor=ADMIN, at=ahead)
    higgins.reverse(1, reason="sample was dilute", actor=ADMIN)
    _assert_history_consistent(higgins, "P001")


def test_verify_is_ok_on_a_busy_history(busy: tuple[Clinic, Busy]) -> None:
    clinic, ids = busy
    report = clinic.verify()
    assert (report.ok, report.problems) == (True, ())
    assert (report.outcomes, report.transfers, report.participants) == (
        ids.outcomes,
        ids.transfers,
        3,
    )
    assert report.transfer_chain_head == all_transfers(clinic)[-1].hash


def test_verify_of_an_empty_clinic(any_clinic: Clinic) -> None:
    report = any_clinic.verify()
    assert (report.ok, report.outcomes, report.transfers, report.participants) == (True, 0, 0, 0)
    assert report.transfer_chain_head == report.outcome_chain_head == "0" * 64


def test_ledger_sums_to_zero(busy: tuple[Clinic, Busy]) -> None:
    clinic, _ = busy
    transfers = all_transfers(clinic)
    totals: dict[str, int] = {}
    for t in transfers:
        assert t.amount > 0
        totals[t.from_account] = totals.get(t.from_account, 0) - t.amount
        totals[t.to_account] = totals.get(t.to_account, 0) + t.amount
    assert sum(totals.values()) == 0
    people = ("P001", "P002", "P003")
    assert sum(clinic.balance(p).points for p in people) == -totals["funding"]
    for p in people:
        assert totals.get(f"available:{p}", 0) == clinic.balance(p).available_points


# --- every refused request leaves the database as it was ----------------------------------


def _refusals() -> dict[str, tuple[Callable[[Clinic, Busy], object], type[Exception]]]:
    def record(participant: str, day: int, **extra: Any) -> Callable[[Clinic, Busy], object]:
        def run(c: Clinic, b: Busy) -> object:
            options: dict[str, Any] = {"actor": "rec-1", "at": visit(day), **extra}
            outcome = options.pop("outcome", "met")
            target = options.pop("target", TARGET)
            return c.record(participant, target, outcome, **options)

        return run

    return {
        "init again": (lambda c, b: c.init("admin-9"), AlreadyExists),
        "record by unknown actor": (record("P001", 20, actor="ghost"), PermissionDenied),
        "record another result for a visit": (
            record("P001", 16, outcome="not_met"),
            AlreadyExists,
        ),
        "correct to the same outcome": (
            lambda c, b: c.correct(1, "met", reason="same", actor=ADMIN),
            InvalidTransition,
        ),
        "correct a missing outcome": (
            lambda c, b: c.correct(999, "met", reason="typo", actor=ADMIN),
            NotFound,
        ),
        "correct by recorder": (
            lambda c, b: c.correct(1, "not_met", reason="typo", actor="rec-1"),
            PermissionDenied,
        ),
        "void by clinician": (
            lambda c, b: c.void(1, reason="wrong chart", actor="clin-1"),
            PermissionDenied,
        ),
        "record naive time": (
            record("P001", 20, at=dt.datetime(2027, 1, 30, 9)),
            InvalidInput,
        ),
        "record before enrolment": (record("P002", -3), InvalidInput),
        "record far ahead": (
            record("P001", 20, at=dt.datetime(2027, 6, 2, tzinfo=dt.UTC)),
            InvalidInput,
        ),
        "record unknown outcome": (record("P001", 20, outcome="clean"), InvalidInput),
        "record unknown target": (record("P001", 20, target="alcohol"), NotFound),
        "record unknown participant": (record("P404", 20), NotFound),
        "record withdrawn participant": (record("P003", 20), InvalidTransition),
        "record key conflict": (record("P001", 20, key="LAB-16"), IdempotencyConflict),
        "record bad note": (record("P001", 20, note="a\x00b"), InvalidInput),
        "adjust beyond available": (
            lambda c, b: c.adjust("P002", -1, reason="none left", actor=ADMIN),
            InsufficientPoints,
        ),
        "adjust zero": (lambda c, b: c.adjust("P001", 0, reason="zero", actor=ADMIN), InvalidInput),
        "adjust by recorder": (
            lambda c, b: c.adjust("P001", 5, reason="kind", actor="rec-1"),
            PermissionDenied,
        ),
        "adjust by clinician": (
            lambda c, b: c.adjust("P001", 5, reason="kind", actor="clin-1"),
            PermissionDenied,
        ),
        "adjust key conflict": (
            lambda c, b: c.adjust("P002", -10, reason="other", actor=ADMIN, key="ADJ-1"),
            IdempotencyConflict,
        ),
        "reverse twice": (
            lambda c, b: c.reverse(b.reversed_award, reason="again", actor=ADMIN),
            InvalidTransition,
        ),
        "reverse a reversal": (
            lambda c, b: c.reverse(b.reversal, reason="undo", actor=ADMIN),
            InvalidTransition,
        ),
        "reverse drained award": (
            lambda c, b: c.reverse(b.drained_award, reason="dilute", actor=ADMIN),
            InsufficientPoints,
        ),
        "reverse missing transfer": (
            lambda c, b: c.reverse(999, reason="typo", actor=ADMIN),
            NotFound,
        ),
        "reverse key conflict": (
            lambda c, b: c.reverse(2, reason="dilute", actor=ADMIN, key="REV-1"),
            IdempotencyConflict,
        ),
        "reverse by clinician": (
            lambda c, b: c.reverse(2, reason="dilute", actor="clin-1"),
            PermissionDenied,
        ),
        "enroll existing": (
            lambda c, b: c.enroll("P001", PROGRAM, start=START, actor=ADMIN),
            AlreadyExists,
        ),
        "enroll bad id": (
            lambda c, b: c.enroll("John Smith", PROGRAM, start=START, actor=ADMIN),
            InvalidInput,
        ),
        "enroll unknown program": (
            lambda c, b: c.enroll("P010", "nope", start=START, actor=ADMIN),
            NotFound,
        ),
        "enroll by clinician": (
            lambda c, b: c.enroll("P010", PROGRAM, start=START, actor="clin-1"),
            PermissionDenied,
        ),
        "withdraw withdrawn": (lambda c, b: c.withdraw("P003", actor=ADMIN), InvalidTransition),
        "complete withdrawn": (lambda c, b: c.complete("P003", actor=ADMIN), InvalidTransition),
        "withdraw by recorder": (lambda c, b: c.withdraw("P001", actor="rec-1"), PermissionDenied),
        "add staff existing": (
            lambda c, b: c.add_staff("rec-1", "admin", actor=ADMIN),
            AlreadyExists,
        ),
        "add staff bad role": (
            lambda c, b: c.add_staff("rec-2", "owner", actor=ADMIN),
            InvalidInput,
        ),
        "add staff by clinician": (
            lambda c, b: c.add_staff("rec-2", "recorder", actor="clin-1"),
            PermissionDenied,
        ),
        "deactivate self": (
            lambda c, b: c.deactivate_staff(ADMIN, actor=ADMIN),
            InvalidTransition,
        ),
        "deactivate unknown": (
            lambda c, b: c.deactivate_staff("ghost", actor=ADMIN),
            NotFound,
        ),
        "add program again": (
            lambda c, b: c.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN),
            AlreadyExists,
        ),
    }


@pytest.mark.parametrize("name", sorted(_refusals()))
def test_refused_request_leaves_the_database_as_it_was(
    busy: tuple[Clinic, Busy], name: str
) -> None:
    clinic, ids = busy
    request, error = _refusals()[name]
    before = snapshot(clinic)
    assert before["verify"].ok
    with pytest.raises(error):
        request(clinic, ids)
    assert snapshot(clinic) == before


def test_refusals_are_cmrewards_errors() -> None:
    for _, error in _refusals().values():
        assert issubclass(error, cmrewards.CMRewardsError)


# --- tamper detection (SQLite only) --------------------------------------------------------


def tamper(clinic: Clinic, *statements: str) -> None:
    """Edit the file past the library, as a stray script would."""
    conn = sqlite3.connect(clinic.location, isolation_level=None)
    try:
        for trigger in APPEND_ONLY_TRIGGERS:
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def test_append_only_triggers_refuse_raw_edits(sqlite_busy: tuple[Clinic, Busy]) -> None:
    clinic, _ = sqlite_busy
    before = snapshot(clinic)
    conn = sqlite3.connect(clinic.location, isolation_level=None)
    try:
        for statement in (
            "UPDATE transfers SET amount = 999 WHERE id = 2",
            "DELETE FROM transfers WHERE id = 2",
            "UPDATE outcomes SET outcome = 'not_met' WHERE id = 1",
            "DELETE FROM outcomes WHERE id = 1",
        ):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(statement)
    finally:
        conn.close()
    assert snapshot(clinic) == before


def test_dropping_the_triggers_alone_is_reported_guard_by_guard(
    sqlite_busy: tuple[Clinic, Busy],
) -> None:
    clinic, _ = sqlite_busy
    tamper(clinic)
    report = clinic.verify()
    expected = [f"the guard trigger {name} was dropped" for name in sorted(APPEND_ONLY_TRIGGERS)]
    assert (False, expected) == (report.ok, [p.message for p in report.problems])


TAMPERING = {
    "transfer amount": (
        "UPDATE transfers SET amount = amount + 5 WHERE id = 2",
        ["transfer 2: hash does not match", "balance of available:P001"],
    ),
    "transfer actor": (
        "UPDATE transfers SET actor = 'clin-1' WHERE id = 2",
        ["transfer 2: hash does not match"],
    ),
    "transfer occurred_at": (
        "UPDATE transfers SET occurred_at = '2027-01-05T09:00:00.000000Z' WHERE id = 2",
        ["transfer 2: hash does not match"],
    ),
    "transfer reason": (
        "UPDATE transfers SET reason = 'typo' WHERE id = 10",
        ["transfer 10: hash does not match"],
    ),
    "deleted transfer": (
        "DELETE FROM transfers WHERE id = 2",
        ["transfer 3: previous hash does not match"],
    ),
    "deleted last transfer": (
        "DELETE FROM transfers WHERE id = 13",
        ["balance of available:P003"],
    ),
    "balances row": (
        "UPDATE balances SET points = points + 100 WHERE account = 'available:P001'",
        ["balance of available:P001"],
    ),
    "funding balance": (
        "UPDATE balances SET points = points - 100 WHERE account = 'funding'",
        ["balance of funding"],
    ),
    "outcome met to not_met": (
        "UPDATE outcomes SET outcome = 'not_met' WHERE id = 2",
        ["outcome 2: hash does not match"],
    ),
    "outcome occurred_at": (
        "UPDATE outcomes SET occurred_at = '2027-01-04T10:00:00.000000Z' WHERE id = 1",
        ["outcome 1: hash does not match"],
    ),
    "deleted outcome": (
        "DELETE FROM outcomes WHERE id = 5",
        ["outcome 6: previous hash does not match"],
    ),
    "schedule_states pos": (
        "UPDATE schedule_states SET pos = pos + 1 WHERE participant = 'P001'",
        ["schedule state of P001"],
    ),
    "schedule_states saved": (
        "UPDATE schedule_states SET saved = NULL WHERE participant = 'P001'",
        ["schedule state of P001"],
    ),
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_verify_detects_edits_outside_the_library(
    sqlite_busy: tuple[Clinic, Busy], name: str
) -> None:
    clinic, _ = sqlite_busy
    assert clinic.verify().ok
    statement, expected = TAMPERING[name]
    tamper(clinic, statement)
    report = clinic.verify()
    assert report.ok is False
    assert report.problems
    for fragment in expected:
        assert any(p.message.startswith(fragment) for p in report.problems), report.problems


def test_replayed_results_round_trip_their_transfer(higgins: Clinic) -> None:
    first = higgins.adjust("P001", 7, reason="goodwill", actor=ADMIN, key="ADJ-7")
    again = higgins.adjust("P001", 7, reason="goodwill", actor=ADMIN, key="ADJ-7")
    assert isinstance(again, TransferResult)
    assert again.transfer == first.transfer
    assert again.transfer == all_transfers(higgins)[-1]
