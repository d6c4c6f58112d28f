"""Closing the calendar in any order of events pays what the on-time record pays (issue 12:
"closing twice = once; a late result after closing = the same money as if it had come on
time"; docs/design.md section 3.9).

For random histories on three protocols (the Higgins preset's escalation, bonus and
recovery three times a week; weekly escalation with recovery; two phases, the second
restarting):

- results recorded partly before closing and the rest late, in any order, pay every
  outcome and the balance exactly what the same results recorded on time and then closed
  pay, placeholders and all;
- closing again writes nothing, and ``verify`` is clean;
- every closed week holds the placeholders it owes and no more: an excused (or any real)
  result is never closed as missed.

A state machine interleaves results, excused absences and closes through growing dates on
every store, and checks after each step against a fresh clinic that had everything on time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import tempfile
from collections import Counter
from pathlib import Path
from typing import ClassVar

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import cmrewards
from cmrewards import AlreadyExists, Clinic, InvalidTransition, Outcome, Program
from cmrewards.domain.calendar import owed
from cmrewards.domain.clock import program_week
from cmrewards.domain.programs import program_from_toml
from support.clinics import START, FakeClock, database_location, on_every_store, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"

WEEKLY_RECOVERY = program_from_toml(
    """
id = "weekly"
name = "Weekly escalation with recovery, twice a week"
weeks = 8
timezone = "America/Chicago"

[[targets]]
id = "stimulant-negative"
per_week = 2
schedule = { kind = "escalating", start = 10, step = 5, step_by = "week", recovery_after = 2 }
""",
    "weekly.toml",
)

PHASED = program_from_toml(
    """
id = "phased"
name = "Twice weekly with a bonus, then weekly from the start again"
weeks = 8

[[targets]]
id = "stimulant-negative"

[[targets.phases]]
weeks = [1, 4]
per_week = 2
schedule = { kind = "escalating", start = 10, step = 5, bonus = 20, bonus_every = 3 }

[[targets.phases]]
weeks = [5, 8]
per_week = 1
escalation = "restart"
schedule = { kind = "escalating", start = 5, step = 5, recovery_after = 2 }
""",
    "phased.toml",
)

PROGRAMS = {
    "higgins": cmrewards.load_preset("higgins-vbrt"),
    "weekly": WEEKLY_RECOVERY,
    "phased": PHASED,
}
LAST_DAY = 7 * 12 + 6
OUTCOMES = st.sampled_from(["met", "met", "met", "not_met", "missed", "excused", "invalid"])


def fresh_clinic(program: Program) -> Clinic:
    clinic = cmrewards.open(None, clock=FakeClock())
    clinic.init(ADMIN)
    clinic.add_program(program, actor=ADMIN)
    clinic.enroll("P001", program.id, start=START, actor=ADMIN)
    return clinic


Line = tuple[dt.datetime, str, Outcome, int, bool, bool, int]


def lines(clinic: Clinic) -> list[Line]:
    """Every effective outcome with what it pays, ids aside."""
    return [
        (x.occurred_at, x.target, x.outcome, x.points, x.paid, x.reset, x.streak)
        for x in clinic.statement("P001").lines
    ]


def on_time(program: Program, results: dict[dt.datetime, str], through: dt.date | None) -> Clinic:
    """Every result recorded in clinical order, then the calendar closed through ``through``."""
    clinic = fresh_clinic(program)
    for at, outcome in sorted(results.items()):
        clinic.record("P001", STIM, outcome, actor=ADMIN, at=at)
    if through is not None:
        clinic.close_calendar(through, actor=ADMIN)
    return clinic


def check_closed_weeks_hold_what_they_owe(
    clinic: Clinic, program: Program, through: dt.date
) -> None:
    """Each week closed holds max(owed - real results, 0) standing placeholders."""
    statement = clinic.statement("P001").lines
    with clinic._store.read() as tx:
        keys = {o.id: o.key or "" for o in tx.outcomes("P001")}
    real: Counter[int] = Counter()
    held: Counter[int] = Counter()
    for line in statement:
        week = program_week(START, line.occurred_at, program.timezone)
        (held if keys[line.outcome_id].startswith("close:") else real)[week] += 1
    target = program.target(STIM)
    last_closed = ((through - START).days + 1) // 7  # the weeks whose last day is through
    for week in range(1, last_closed + 1):
        assert held[week] == max(owed(program, target, week) - real[week], 0), week
    assert not [w for w in held if w > last_closed]


def counts(clinic: Clinic) -> tuple[int, ...]:
    with clinic._store.read() as tx:
        return (len(tx.outcomes()), len(tx.transfers()), len(tx.corrections()), len(tx.journal()))


@st.composite
def histories(draw: st.DrawFn) -> tuple[dict[dt.datetime, str], set[dt.datetime], int]:
    """Results by clinical time (one a day), which of them arrive after closing, and the
    day closed through."""
    days = draw(st.lists(st.integers(0, LAST_DAY), unique=True, max_size=30))
    results = {visit(d, 15): draw(OUTCOMES) for d in days}
    late = {at for at in results if draw(st.booleans())}
    return results, late, draw(st.integers(0, LAST_DAY + 7))


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_late_equals_on_time(
    program: Program, results: dict[dt.datetime, str], late: set[dt.datetime], last: int
) -> None:
    through = START + dt.timedelta(days=last)
    clinic = fresh_clinic(program)
    early = [at for at in results if at not in late]  # in the order drawn, not clinical
    for at in early:
        clinic.record("P001", STIM, results[at], actor=ADMIN, at=at)
    clinic.close_calendar(through, actor=ADMIN)
    for at in late:
        recorded = clinic.record("P001", STIM, results[at], actor=ADMIN, at=at)
        if recorded.replaced:
            event("a late result replaced a placeholder")
        elif not recorded.award.paid:
            event("a late result was an extra sample")
    before = counts(clinic)
    assert clinic.close_calendar(through, actor=ADMIN).samples == 0
    assert counts(clinic) == before

    expected = on_time(program, results, through)
    assert lines(clinic) == lines(expected)
    assert clinic.balance("P001").points == expected.balance("P001").points
    check_closed_weeks_hold_what_they_owe(clinic, program, through)
    report = clinic.verify()
    assert (report.ok, report.problems) == (True, ())


@SETTINGS
@given(history=histories())
def test_higgins_late_after_closing_pays_as_on_time(
    history: tuple[dict[dt.datetime, str], set[dt.datetime], int],
) -> None:
    check_late_equals_on_time(PROGRAMS["higgins"], *history)


@SETTINGS
@given(history=histories())
def test_weekly_escalation_late_after_closing_pays_as_on_time(
    history: tuple[dict[dt.datetime, str], set[dt.datetime], int],
) -> None:
    check_late_equals_on_time(PROGRAMS["weekly"], *history)


@SETTINGS
@given(history=histories())
def test_phases_late_after_closing_pay_as_on_time(
    history: tuple[dict[dt.datetime, str], set[dt.datetime], int],
) -> None:
    check_late_equals_on_time(PROGRAMS["phased"], *history)


@SETTINGS
@given(
    days=st.lists(st.integers(0, 7 * 8 + 6), unique=True, max_size=20),
    excused=st.sets(st.integers(0, 7 * 8 + 6), max_size=10),
)
def test_an_empty_week_pays_the_same_closed_or_not_under_weekly_escalation(
    days: list[int], excused: set[int]
) -> None:
    """Issue 12 item 5: under weekly escalation an empty week breaks the run whether it is
    closed or not, so closing a history whose weeks are each empty or full (of ``met`` and
    ``excused``) writes placeholders into the empty weeks only and changes no award."""
    program = PROGRAMS["weekly"]
    weeks: dict[int, list[int]] = {}
    for d in sorted(set(days) | excused):
        weeks.setdefault(d // 7, []).append(d)
    results = {
        visit(d, 15): "excused" if d in excused else "met"
        for in_week in weeks.values()
        if len(in_week) >= 2
        for d in in_week[:2]
    }
    unclosed = on_time(program, results, None)
    closed = on_time(program, results, START + dt.timedelta(days=7 * 8 + 6))
    # What each result pays; where the run shows as reset differs (the placeholder itself,
    # or the result after the empty week), and so does the streak shown after the phases.
    paid = [line[:5] for line in lines(closed) if line[2] is not Outcome.MISSED]
    assert paid == [line[:5] for line in lines(unclosed)]
    assert closed.balance("P001").points == unclosed.balance("P001").points
    report = closed.verify()
    assert (report.ok, report.problems) == (True, ())


# --- the state machine ------------------------------------------------------------


class ClosingMachine(RuleBasedStateMachine):
    """Results, excused absences and closes in any order; after each step the money is
    what the on-time record of the same results, closed through the latest date, pays."""

    STORE: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.exits = contextlib.ExitStack()
        self.results: dict[dt.datetime, str] = {}
        """Every result the clinic accepted, by clinical time: the on-time record."""
        self.through: dt.date | None = None

    @initialize(name=st.sampled_from(sorted(PROGRAMS)))
    def open_clinic(self, name: str) -> None:
        self.program = PROGRAMS[name]
        try:
            folder = Path(self.exits.enter_context(tempfile.TemporaryDirectory()))
            location = self.exits.enter_context(database_location(self.STORE, folder))
            self.clinic = cmrewards.open(location, clock=FakeClock())
            self.exits.callback(self.clinic.close)
            self.clinic.init(ADMIN)
            self.clinic.add_program(self.program, actor=ADMIN)
            self.clinic.enroll("P001", self.program.id, start=START, actor=ADMIN)
        except BaseException:
            self.exits.close()
            raise

    def teardown(self) -> None:
        self.exits.close()

    def _recorded(self, at: dt.datetime, outcome: str) -> None:
        """The results the visit now has: the model's on-time record."""
        self.results.setdefault(at, outcome)

    @rule(day=st.integers(0, LAST_DAY), outcome=OUTCOMES)
    def record(self, day: int, outcome: str) -> None:
        at = visit(day, 15)
        try:
            result = self.clinic.record("P001", STIM, outcome, actor=ADMIN, at=at)
        except AlreadyExists:
            return
        if result.replayed:
            return  # the visit has this result already (an excuse of the day): nothing written
        if result.replaced:
            event("a result replaced a placeholder")
        self._recorded(at, outcome)

    @rule(day=st.integers(0, LAST_DAY))
    def excuse(self, day: int) -> None:
        try:
            excused = self.clinic.excuse(
                "P001", START + dt.timedelta(days=day), reason="approved", actor=ADMIN
            )
        except (InvalidTransition, AlreadyExists):
            return
        for result in excused.results:
            if not result.replayed:
                self._recorded(result.occurred_at, "excused")

    @rule(day=st.integers(0, LAST_DAY + 7))
    def close(self, day: int) -> None:
        through = START + dt.timedelta(days=day)
        report = self.clinic.close_calendar(through, actor=ADMIN)
        if report.samples:
            event("closing recorded missed samples")
        self.through = max(through, self.through or through)

    @invariant()
    def pays_as_on_time(self) -> None:
        expected = on_time(self.program, self.results, self.through)
        assert lines(self.clinic) == lines(expected)
        assert self.clinic.balance("P001") == expected.balance("P001")

    @invariant()
    def closing_again_writes_nothing(self) -> None:
        if self.through is None:
            return
        before = counts(self.clinic)
        assert self.clinic.close_calendar(self.through, actor=ADMIN).samples == 0
        assert counts(self.clinic) == before
        check_closed_weeks_hold_what_they_owe(self.clinic, self.program, self.through)

    @invariant()
    def verifies(self) -> None:
        report = self.clinic.verify()
        assert (report.ok, report.problems) == (True, ())


TestClosingMemory, TestClosingSqlite, TestClosingPostgres = on_every_store(
    ClosingMachine, steps=20, examples=25, postgres_examples=4
)
