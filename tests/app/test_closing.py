"""Closing the calendar and excused absences through the clinic, on every store
(docs/design.md section 3.9).

Closing writes a ``missed`` placeholder for each owed sample without a result in each week
that ended, settles what that changes and, run again, writes nothing; a result or an
excused absence that arrives for a closed week replaces a placeholder and pays what it
would have paid on time; an excuse before closing fills an owed sample; a week full of
real results keeps its extra sample; every refusal writes nothing; a failing participant
leaves those before it closed. ``verify`` is clean after each.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, cast

import pytest

import cmrewards
from cmrewards import (
    AlreadyExists,
    Busy,
    Clinic,
    CloseReport,
    InvalidInput,
    InvalidTransition,
    PermissionDenied,
)
from cmrewards.domain.programs import program_from_toml
from cmrewards.domain.records import OutcomeRecord
from cmrewards.store.port import Store, Tx
from support.clinics import START, FakeClock, database_location, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"
ATTEND = "attendance"

TWICE_WEEKLY = """
id = "twice"
name = "Twice a week for 12 weeks"
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 2
schedule = { kind = "escalating", start = 10, step = 5 }
"""

WEEKLY_RUN = """
id = "weekly"
name = "Weekly escalation, twice a week"
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 2
schedule = { kind = "escalating", start = 10, step = 5, step_by = "week" }
"""

TWO_TARGETS = """
id = "two"
name = "A weekly sample and twice-weekly attendance"
weeks = 12
timezone = "America/Chicago"

[[targets]]
id = "stimulant-negative"
per_week = 1
schedule = { kind = "fixed", amount = 20 }

[[targets]]
id = "attendance"
per_week = 2
schedule = { kind = "fixed", amount = 5 }
"""


def enrolled(clinic: Clinic, toml: str, who: str = "P001", start: dt.date = START) -> Clinic:
    program = program_from_toml(toml, "test.toml")
    if program.id not in {p.id for p in clinic.programs()}:
        clinic.add_program(program, actor=ADMIN)
    clinic.enroll(who, program.id, start=start, actor=ADMIN)
    return clinic


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def record(
    clinic: Clinic, n: int, outcome: str = "met", who: str = "P001"
) -> cmrewards.RecordResult:
    return clinic.record(who, STIM, outcome, actor=ADMIN, at=visit(n))


def stored(clinic: Clinic, who: str = "P001") -> list[OutcomeRecord]:
    with clinic._store.read() as tx:
        return tx.outcomes(who)


def placeholders(clinic: Clinic, who: str = "P001") -> list[OutcomeRecord]:
    return [o for o in stored(clinic, who) if o.key is not None and o.key.startswith("close:")]


def counts(clinic: Clinic) -> tuple[int, ...]:
    """How many rows of each kind a write could add."""
    with clinic._store.read() as tx:
        return (
            len(tx.outcomes()),
            len(tx.transfers()),
            len(tx.corrections()),
            len(tx.journal()),
            len(tx.write_offs()),
        )


def points(clinic: Clinic, who: str = "P001") -> list[int]:
    """What each effective outcome pays, in clinical order."""
    return [line.points for line in clinic.statement(who).lines]


def check_verifies(clinic: Clinic) -> None:
    report = clinic.verify()
    assert (report.ok, report.problems) == (True, ())


def fresh(toml: str) -> Clinic:
    clinic = cmrewards.open(None, clock=FakeClock(), seeds=iter(range(1, 10**6)).__next__)
    clinic.init(ADMIN)
    return enrolled(clinic, toml)


# --- closing ---------------------------------------------------------------------


def test_closing_records_missed_for_every_owed_sample_without_a_result(
    any_clinic: Clinic,
) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    for n in (0, 2, 7, 21):  # week 1 full, week 2 one of two, week 3 none, week 4
        record(clinic, n)
    assert clinic.balance("P001").points == 10 + 15 + 20 + 25

    report = clinic.close_calendar(day(20), actor=ADMIN)  # through the end of week 3

    assert (report.participants, report.missed, report.weeks, report.samples) == (
        1,
        {STIM: 3},
        2,
        3,
    )
    (closed,) = report.closed
    assert (closed.participant, closed.program_id, closed.weeks) == ("P001", "twice", (2, 3))
    written = placeholders(clinic)
    assert [o.id for o in written] == list(closed.outcomes)
    assert [(o.key, o.visit) for o in written] == [
        ("close:P001:stimulant-negative:2:2", "close:week-2:2"),
        ("close:P001:stimulant-negative:3:1", "close:week-3:1"),
        ("close:P001:stimulant-negative:3:2", "close:week-3:2"),
    ]
    assert {o.outcome for o in written} == {cmrewards.Outcome.MISSED}
    last_of_week_2 = dt.datetime(2027, 1, 17, 23, 59, 59, 999_999, tzinfo=dt.UTC)
    assert written[0].occurred_at == last_of_week_2
    assert written[0].note == (
        "no result for owed sample 2 of week 2; calendar closed through 2027-01-24"
    )
    # The missed samples reset the run: day 21 now pays 10, not 25; 15 is taken back.
    assert closed.settlement is not None
    assert closed.settlement.taken_back_points == 15
    assert points(clinic) == [10, 15, 20, 0, 0, 0, 10]
    assert clinic.balance("P001").points == 55
    check_verifies(clinic)


def test_closing_again_writes_nothing(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    record(clinic, 1)
    first = clinic.close_calendar(day(27), actor=ADMIN)
    assert first.samples == 7
    before = counts(clinic)
    again = clinic.close_calendar(day(27), actor=ADMIN)
    assert (again.participants, again.samples, again.weeks, again.closed) == (1, 0, 0, ())
    assert counts(clinic) == before
    check_verifies(clinic)


def test_only_weeks_that_have_ended_are_closed(any_clinic: Clinic, clock: FakeClock) -> None:
    clinic = enrolled(any_clinic, TWO_TARGETS)  # Chicago: week 2 ends 06:00 UTC on day 14
    clock.now = dt.datetime.combine(day(14), dt.time(5, 59), dt.UTC)
    report = clinic.close_calendar(day(13), actor=ADMIN)
    assert report.closed[0].weeks == (1,)
    clock.advance(minutes=1)
    assert clinic.close_calendar(day(13), actor=ADMIN).closed[0].weeks == (2,)
    check_verifies(clinic)


@pytest.mark.parametrize("through", [dt.date(2027, 6, 3), dt.datetime(2027, 5, 1, tzinfo=dt.UTC)])
def test_a_date_after_today_or_a_time_is_refused_and_nothing_written(
    any_clinic: Clinic, through: dt.date
) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    before = counts(clinic)
    with pytest.raises(InvalidInput, match=r"after today|must be a date"):
        clinic.close_calendar(through, actor=ADMIN)
    assert counts(clinic) == before


def test_weeks_before_the_enrolment_and_after_the_last_phase_owe_nothing(
    any_clinic: Clinic,
) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    enrolled(clinic, TWICE_WEEKLY, who="P002", start=day(100))
    report = clinic.close_calendar(day(99), actor=ADMIN)
    assert [c.participant for c in report.closed] == ["P001"]
    assert report.closed[0].weeks == tuple(range(1, 13))
    assert report.missed == {STIM: 24}
    assert report.participants == 2  # P002 is closed through the date: it owed nothing yet


def test_programs_stored_before_the_calendar_are_skipped_and_named(any_clinic: Clinic) -> None:
    legacy = TWICE_WEEKLY.replace('id = "twice"', 'id = "old"', 1)
    enrolled(any_clinic, "calendar = false\n" + legacy, who="L001")
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    report = clinic.close_calendar(day(6), actor=ADMIN)
    assert (report.skipped_programs, report.participants) == (("old",), 1)
    assert placeholders(clinic, "L001") == []
    assert len(placeholders(clinic)) == 2


def test_ended_enrolments_are_not_closed(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    clinic.withdraw("P001", actor=ADMIN)
    report = clinic.close_calendar(day(30), actor=ADMIN)
    assert (report.participants, report.samples) == (0, 0)


def test_closing_needs_a_staff_member(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    before = counts(clinic)
    with pytest.raises(PermissionDenied):
        clinic.close_calendar(day(30), actor="nobody")
    assert counts(clinic) == before


def test_closing_a_capped_program_gives_the_cap_its_room_back(any_clinic: Clinic) -> None:
    capped = TWICE_WEEKLY.replace("weeks = 12", "weeks = 12\ncap_cents = 1000", 1)
    clinic = enrolled(any_clinic, capped)
    for n in (0, 2, 7, 21, 23):
        record(clinic, n)
    remaining = clinic.balance("P001").cap_remaining_cents
    clinic.close_calendar(day(20), actor=ADMIN)
    balance = clinic.balance("P001")
    assert balance.points == 10 + 15 + 20 + 10 + 15
    assert remaining is not None
    assert balance.cap_remaining_cents == remaining + 15 + 15
    check_verifies(clinic)


# --- a result after closing ------------------------------------------------------


def on_time(toml: str, results: list[tuple[int, str]], through: int) -> Clinic:
    """A fresh clinic where ``results`` came on time, then the calendar was closed."""
    clinic = fresh(toml)
    for n, outcome in sorted(results):
        record(clinic, n, outcome)
    clinic.close_calendar(day(through), actor=ADMIN)
    return clinic


def test_a_late_result_replaces_the_placeholder_and_pays_as_if_on_time(
    any_clinic: Clinic,
) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    for n in (0, 2, 7, 21, 23):
        record(clinic, n)
    clinic.close_calendar(day(20), actor=ADMIN)
    newest_of_week_2 = placeholders(clinic)[0]

    late = record(clinic, 9)

    assert late.replaced == (newest_of_week_2.id,)
    assert (late.award.points, late.award.paid) == (25, True)
    assert late.settlement is not None
    assert newest_of_week_2.id in late.settlement.outcomes
    with clinic._store.read() as tx:
        (void,) = tx.corrections("P001")
    assert (void.outcome_id, void.outcome, void.reason) == (
        newest_of_week_2.id,
        None,
        "replaced by a late result",
    )
    expected = on_time(TWICE_WEEKLY, [(n, "met") for n in (0, 2, 7, 9, 21, 23)], through=20)
    assert points(clinic) == points(expected)
    assert clinic.balance("P001") == expected.balance("P001")
    # Closing again writes nothing: the week is full with the result in it.
    before = counts(clinic)
    assert clinic.close_calendar(day(20), actor=ADMIN).samples == 0
    assert counts(clinic) == before
    check_verifies(clinic)


def test_a_late_visit_replaces_a_placeholder_per_target(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWO_TARGETS)
    clinic.close_calendar(day(6), actor=ADMIN)
    assert len(placeholders(clinic)) == 3
    visited = clinic.record_visit(
        "P001", {STIM: "met", ATTEND: "met"}, actor=ADMIN, at=visit(2, 15)
    )
    assert [len(r.replaced) for r in visited.results] == [1, 1]
    assert visited.balance.points == 25
    assert len(placeholders(clinic)) == 3  # the rows stay; two are voided
    check_verifies(clinic)


def test_a_result_for_a_week_full_of_real_results_stays_an_extra_sample(
    any_clinic: Clinic,
) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    record(clinic, 0)
    record(clinic, 2)
    clinic.close_calendar(day(13), actor=ADMIN)
    extra = record(clinic, 4)
    assert (extra.replaced, extra.award.paid) == ((), False)
    assert extra.award.note == "extra sample: week 1 owes 2 samples"
    check_verifies(clinic)


def test_a_caller_may_not_use_a_placeholder_key_or_visit(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    before = counts(clinic)
    with pytest.raises(InvalidInput, match="reserved for closing the calendar"):
        clinic.record("P001", STIM, "met", actor=ADMIN, at=visit(1), key="close:P001:x:1:1")
    with pytest.raises(InvalidInput, match="reserved for closing the calendar"):
        clinic.record("P001", STIM, "met", actor=ADMIN, at=visit(1), visit="close:week-1:1")
    assert counts(clinic) == before


# --- excused absences ------------------------------------------------------------


def test_an_excuse_before_closing_fills_an_owed_sample(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWO_TARGETS)
    excused = clinic.excuse("P001", day(8), reason="hospital stay", actor=ADMIN)
    assert [(r.target, r.outcome, r.award.points) for r in excused.results] == [
        (STIM, cmrewards.Outcome.EXCUSED, 0),
        (ATTEND, cmrewards.Outcome.EXCUSED, 0),
    ]
    noon_in_chicago = dt.datetime(2027, 1, 12, 18, tzinfo=dt.UTC)
    assert {r.occurred_at for r in excused.results} == {noon_in_chicago}
    assert excused.visit == "2027-01-12"
    report = clinic.close_calendar(day(13), actor=ADMIN)
    # Week 2: the stimulant sample is excused; attendance owes one more.
    assert [(o.target, o.key) for o in placeholders(clinic) if o.key and ":2:" in o.key] == [
        (ATTEND, "close:P001:attendance:2:2")
    ]
    assert report.missed == {STIM: 1, ATTEND: 3}
    notes = {o.note for o in stored(clinic) if o.outcome is cmrewards.Outcome.EXCUSED}
    assert notes == {"hospital stay"}
    check_verifies(clinic)


def test_an_excused_week_keeps_a_weekly_run_and_is_not_closed_as_missed(
    any_clinic: Clinic,
) -> None:
    clinic = enrolled(any_clinic, WEEKLY_RUN)
    for n in (0, 2):
        record(clinic, n)
    for n in (7, 9):
        clinic.excuse("P001", day(n), reason="travel approved by the team", actor=ADMIN)
    clinic.close_calendar(day(13), actor=ADMIN)
    assert placeholders(clinic) == []
    assert record(clinic, 14).award.points == 15  # the run of weeks 1 and 3 is unbroken
    check_verifies(clinic)


def test_an_excuse_after_closing_replaces_the_placeholder(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    for n in (0, 2, 7, 14, 16):
        record(clinic, n)
    clinic.close_calendar(day(13), actor=ADMIN)
    (missed,) = placeholders(clinic)
    assert clinic.balance("P001").points == 10 + 15 + 20 + 10 + 15

    excused = clinic.excuse("P001", day(10), reason="court date", actor=ADMIN)

    assert excused.results[0].replaced == (missed.id,)
    expected = on_time(TWICE_WEEKLY, [(0, "met"), (2, "met"), (7, "met"), (10, "excused"),
                                      (14, "met"), (16, "met")], through=13)  # fmt: skip
    assert (
        clinic.balance("P001").points == expected.balance("P001").points == 10 + 15 + 20 + 25 + 30
    )
    check_verifies(clinic)


def test_an_absence_joins_the_visit_of_its_day(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWO_TARGETS)
    attended = clinic.record("P001", ATTEND, "met", actor=ADMIN, at=visit(3, 15))
    excused = clinic.excuse("P001", day(3), reason="could not give a sample", actor=ADMIN,
                            target=STIM)  # fmt: skip
    (result,) = excused.results
    assert (result.target, result.occurred_at) == (STIM, attended.occurred_at)
    again = clinic.excuse("P001", day(3), reason="could not give a sample", actor=ADMIN)
    assert [(r.target, r.replayed) for r in again.results] == [(STIM, True)]


def test_excusing_today_in_the_morning_is_recorded_now(
    any_clinic: Clinic, clock: FakeClock
) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    clock.now = visit(3, 8)
    (result,) = clinic.excuse("P001", day(3), reason="sick", actor=ADMIN).results
    assert result.occurred_at == clock.now


def test_an_excuse_that_cannot_be_recorded_is_refused_and_writes_nothing(
    any_clinic: Clinic,
) -> None:
    clinic = enrolled(any_clinic, TWO_TARGETS)
    clinic.record("P001", STIM, "met", actor=ADMIN, at=visit(1, 15))
    clinic.record("P001", ATTEND, "met", actor=ADMIN, at=visit(1, 15))
    clinic.record("P001", ATTEND, "met", actor=ADMIN, at=visit(3, 15))
    before = counts(clinic)
    refusals: list[tuple[type[Exception], str, dict[str, Any]]] = [
        (InvalidTransition, "week 1 already has its 1 owed sample of stimulant-negative",
         {"day": day(4), "target": STIM}),
        (InvalidTransition, "week 1 already has its 2 owed samples of attendance",
         {"day": day(4)}),
        (AlreadyExists, "already recorded as met", {"day": day(1), "target": STIM}),
        (InvalidTransition, "attendance is recorded met that day", {"day": day(3)}),
        (InvalidTransition, "week 13 owes no stimulant-negative samples",
         {"day": day(84), "target": STIM}),
        (InvalidInput, "is in the future", {"day": dt.date(2027, 6, 3)}),
        (InvalidInput, "before P001's enrolment", {"day": day(-1)}),
        (InvalidInput, "reason must not be empty", {"day": day(9), "reason": " "}),
        (InvalidInput, "day must be a date", {"day": visit(9)}),
    ]  # fmt: skip
    for error, message, options in refusals:
        arguments = {"reason": "sick", "actor": ADMIN} | options
        with pytest.raises(error, match=message):
            clinic.excuse("P001", **arguments)
    assert counts(clinic) == before
    # With every target, the one that can be excused is; the full one is left out.
    clinic.record("P001", STIM, "met", actor=ADMIN, at=visit(8, 15))
    (only,) = clinic.excuse("P001", day(10), reason="sick", actor=ADMIN).results
    assert (only.target, only.outcome) == (ATTEND, cmrewards.Outcome.EXCUSED)


def test_an_excuse_for_an_ended_enrolment_is_refused(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWICE_WEEKLY)
    clinic.complete("P001", actor=ADMIN)
    with pytest.raises(InvalidTransition, match="completed"):
        clinic.excuse("P001", day(2), reason="sick", actor=ADMIN)


# --- weekly escalation: an empty week, closed or not (issue 12 item 5) -------------


def test_an_empty_week_pays_the_same_closed_or_not(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, WEEKLY_RUN)
    for n in (0, 2, 7, 9, 21, 23, 42, 44):  # weeks 3, 5 and 6 empty, the others full
        record(clinic, n)
    paid = points(clinic)
    assert paid == [10, 10, 15, 15, 10, 10, 10, 10]  # each empty week broke the run
    report = clinic.close_calendar(day(48), actor=ADMIN)
    (closed,) = report.closed
    assert (closed.weeks, closed.missed, closed.settlement) == ((3, 5, 6), {STIM: 6}, None)
    lines = clinic.statement("P001").lines
    assert [line.points for line in lines if line.outcome is not cmrewards.Outcome.MISSED] == paid
    assert clinic.balance("P001").points == sum(paid)
    check_verifies(clinic)


# --- a failure part-way ------------------------------------------------------------


class _FailsFor:
    """A store whose writes refuse to append an outcome of one participant (``Busy``)."""

    def __init__(self, adapter: Store, participant: str) -> None:
        self.adapter = adapter
        self.location = adapter.location
        self.participant = participant
        self.failing = True

    def read(self) -> AbstractContextManager[Tx]:
        return self.adapter.read()

    def integrity_problems(self) -> list[str]:
        return self.adapter.integrity_problems()

    def close(self) -> None:
        self.adapter.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[Tx]:
        with self.adapter.write() as tx:
            yield cast(Tx, _Refusing(tx, self))


class _Refusing:
    def __init__(self, tx: Tx, store: _FailsFor) -> None:
        self._tx = tx
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    def append_outcomes(self, records: list[OutcomeRecord]) -> None:
        if self._store.failing and any(r.participant == self._store.participant for r in records):
            raise Busy("the database is busy; try again")
        self._tx.append_outcomes(records)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_failing_participant_leaves_those_before_it_closed(
    kind: str, tmp_path: Path, clock: FakeClock
) -> None:
    with database_location(kind, tmp_path) as location:
        plain = cmrewards.open(location, clock=clock)
        plain.init(ADMIN)
        for who in ("P000", "P001", "P002", "P003"):
            enrolled(plain, TWICE_WEEKLY, who=who)
        for n in (0, 2):  # P000's week 1 is full: nothing to close
            record(plain, n, who="P000")
        store = _FailsFor(plain._store, "P002")
        clinic = Clinic(cast(Store, store), clock=clock)

        report = clinic.close_calendar(day(6), actor=ADMIN)

        assert isinstance(report, CloseReport)
        assert (report.complete, report.stopped_at, report.error_type, report.exit_code) == (
            False,
            "P002",
            "Busy",
            1,
        )
        assert report.error == "participant P002: the database is busy; try again"
        # P000 and P001 are closed through the date; P002 and P003 are not.
        assert ([c.participant for c in report.closed], report.participants) == (["P001"], 2)
        assert [len(placeholders(plain, w)) for w in ("P001", "P002", "P003")] == [2, 0, 0]
        store.failing = False
        resumed = clinic.close_calendar(day(6), actor=ADMIN)
        assert [c.participant for c in resumed.closed] == ["P002", "P003"]
        check_verifies(plain)
        plain.close()


# --- importing, then closing through the file's last day ---------------------------


def test_an_import_reports_its_last_day_in_the_program_zone(any_clinic: Clinic) -> None:
    clinic = enrolled(any_clinic, TWO_TARGETS)
    rows = (
        "participant,target,outcome,at,key,note\n"
        f"P001,{STIM},met,{day(1)}T15:00:00Z,,\n"
        f"P001,{ATTEND},met,{day(8)}T03:00:00Z,,\n"  # the evening of day 7 in Chicago
    )
    report = clinic.import_outcomes(cmrewards.read_rows(io.StringIO(rows), "f.csv"), actor=ADMIN)
    assert report.last_day == day(7)
    closed = clinic.close_calendar(report.last_day, actor=ADMIN)
    assert closed.closed[0].weeks == (1,)
    again = clinic.import_outcomes(cmrewards.read_rows(io.StringIO(rows), "f.csv"), actor=ADMIN)
    assert (again.replayed, again.last_day) == (2, day(7))
    check_verifies(clinic)
