"""A stateful property test of prize draws and annual caps on a real ``Clinic``.

Two capped programs share one database: the petry-fishbowl rules (weekly
escalation, a secondary target that ``requires`` the stimulant target at the same
visit, the classic 500-slip bowl) with a $25 calendar-year cap, and escalating
points with a bonus and a $30 cap counted in Los Angeles. Participants enrol in
early December, so runs cross into January and a new cap period.

Each generated visit is its own visit (an explicit visit id), however close in time; a
secondary ``met`` recorded before its visit's stimulant ``met`` is paid when that arrives
(the settlement draws its slips from the seed it got when recorded).

Seeds are injected, so a tiny model beside the clinic redraws every outcome's slips
with ``bowl.draw`` and knows exactly which slips were drawn before the cap cut
them (docs/design.md section 3.3; docs/decisions.md "Cap cuts": points first, then the
bonus, then each prize in draw order, downgraded to the largest category that fits).
The model tracks each schedule state with the pure ``schedules.advance``, the
value awarded per participant and cap period (less reversed awards), balances,
transfers and prizes owed; the invariants hold the clinic to it after every step.

The programs follow the protocol calendar (docs/design.md section 3.8), which the model
applies from the page: a sample beyond the ``per_week`` its program week owes, or after
week 12, earns nothing and leaves the schedule alone; under weekly escalation a week
between the run's last ``met`` week and a result with neither a ``met`` nor an
``excused`` resets the run as a ``missed`` would.

A participant may withdraw and come back for another episode: the model starts their
schedules afresh with program weeks from the new start, and keeps counting the same cap
period (a person's cap counts every episode).

Adjustments count toward the cap (docs/decisions.md, "Hard limits"): an upward one
that does not fit is refused unless an admin grants it over the cap; a downward one,
and the reversal of an upward one, give back only the room adjustments hold; the
reversal of a downward one needs that room again.

The machine runs on each store: memory, a SQLite file and a PostgreSQL database
(``DrawsAndCapsMachineMemory``, ``...SQLite``, ``...Postgres``), and on memory with the
programs under the legacy rules of a program stored before the calendar
(``TestLegacyDrawsAndCapsMemory``).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import cmrewards
from cmrewards import (
    CapExceeded,
    InsufficientPoints,
    InvalidTransition,
    Outcome,
    RecordResult,
    TransferResult,
)
from cmrewards.domain.bowl import draw
from cmrewards.domain.ledger import Movement
from cmrewards.domain.programs import BowlCategory, Program, program_from_toml
from cmrewards.domain.schedules import (
    AwardKind,
    EscalatingSchedule,
    ScheduleState,
    Step,
    StepBy,
    advance,
)
from support.clinics import FakeClock, available_now, database_location, on_every_store
from support.stored_tables import open_tables

ADMIN = "admin-1"
STIMULANT = "stimulant-negative"
SECONDARY = "secondary-negative"
FUNDING = "funding"
LA = ZoneInfo("America/Los_Angeles")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14: a caller far from the clinic's zone
ZONES = (dt.UTC, LA, KIRITIMATI)

PRIZE_CAP = 2500
POINTS_CAP = 3000

PRIZE_TOML = """
id = "petry-capped"
name = "Petry fishbowl with a $25 calendar-year cap"
timezone = "UTC"
cap_cents = 2500
cap_period = "calendar-year"
require_approval = true
weeks = 12

[[targets]]
id = "stimulant-negative"
per_week = 2
schedule = { kind = "escalating", award = "draws", start = 1, step = 1, step_by = "week", max = 12 }

[[targets]]
id = "secondary-negative"
per_week = 2
requires = ["stimulant-negative"]
schedule = { kind = "fixed", award = "draws", amount = 2 }

[[bowl]]
category = "good-job"
slips = 250
value_cents = 0

[[bowl]]
category = "small"
slips = 209
value_cents = 100

[[bowl]]
category = "large"
slips = 40
value_cents = 2000

[[bowl]]
category = "jumbo"
slips = 1
value_cents = 10000
"""

POINTS_TOML = """
id = "points-capped"
name = "Escalating vouchers with a $30 calendar-year cap"
point_value_cents = 25
timezone = "America/Los_Angeles"
cap_cents = 3000
cap_period = "calendar-year"
require_approval = false

[[targets]]
id = "stimulant-negative"
schedule = { kind = "escalating", award = "points", start = 10, step = 5, max = 40, bonus = 20, bonus_every = 3, recovery_after = 3 }
"""  # noqa: E501

PRIZE_PROGRAM = program_from_toml(PRIZE_TOML, "draws-caps prize program")
POINTS_PROGRAM = program_from_toml(POINTS_TOML, "draws-caps points program")

PRIZE_PEOPLE = ("D1", "D2", "D3")
POINTS_PEOPLE = ("V1", "V2")
STARTS = {
    # Early December, on different weekdays, so program weeks differ between people.
    "D1": dt.date(2027, 12, 1),
    "D2": dt.date(2027, 12, 2),
    "D3": dt.date(2027, 12, 4),
    "V1": dt.date(2027, 12, 1),
    "V2": dt.date(2027, 12, 3),
}
FIRST_VISIT = dt.datetime(2027, 12, 5, 9, tzinfo=dt.UTC)
"""Not before any enrolment date, in either program's zone."""
NEW_YEAR = dt.datetime(2028, 1, 1, tzinfo=dt.UTC)
CLOCK_START = dt.datetime(2027, 12, 1, 8, tzinfo=dt.UTC)

OUTCOMES = [Outcome.MET] * 5 + list(Outcome)
"""Mostly negatives, so draws escalate and awards reach the cap."""
LAGS = (
    dt.timedelta(hours=-1),  # the visit time is exactly the 1 hour tolerance ahead of the clock
    dt.timedelta(minutes=-50),  # a terminal clock a little behind: within the 1 hour tolerance
    dt.timedelta(0),
    dt.timedelta(minutes=10),
    dt.timedelta(hours=3),
    dt.timedelta(hours=30),  # entered a day later: the clock may already be in the new year
)

Result = RecordResult | TransferResult


@attrs.frozen
class Visit:
    """One visit's samples, as Hypothesis draws them."""

    gap_hours: int
    """Hours since the previous visit (0: the same visit time again)."""
    outcome: Outcome
    """The stimulant sample (the points program's only target)."""
    secondary: str
    """Where the secondary sample is recorded: after, before, none, or alone."""
    secondary_outcome: Outcome
    secondary_zone: dt.tzinfo
    """The same visit time may be written in another zone for the second sample."""
    lag: dt.timedelta
    """The clinic's clock is moved to at least the visit time plus this."""
    zone: dt.tzinfo
    """The zone the caller writes the visit time in."""
    keyed: bool


VISITS = st.builds(
    Visit,
    gap_hours=st.integers(min_value=0, max_value=3) | st.integers(min_value=0, max_value=60),
    outcome=st.sampled_from(OUTCOMES),
    secondary=st.sampled_from(["after", "after", "after", "before", "none", "alone"]),
    secondary_outcome=st.sampled_from(OUTCOMES),
    secondary_zone=st.sampled_from(ZONES),
    lag=st.sampled_from(LAGS),
    zone=st.sampled_from(ZONES),
    keyed=st.booleans(),
)


def program_of(participant: str) -> Program:
    return PRIZE_PROGRAM if participant in PRIZE_PEOPLE else POINTS_PROGRAM


def period_of(program: Program, at: dt.datetime) -> int:
    """The calendar year of ``at`` in the program's zone (the model's own arithmetic)."""
    return at.astimezone(ZoneInfo(program.timezone)).year


def week_of(participant: str, start: dt.date, at: dt.datetime) -> int:
    local = at.astimezone(ZoneInfo(program_of(participant).timezone)).date()
    return (local - start).days // 7 + 1


def parse_utc(stored: str | dt.datetime) -> dt.datetime:
    """A stored time: UTC text in a database, a datetime in the memory store."""
    if isinstance(stored, dt.datetime):
        assert stored.tzinfo is not None
        return stored
    return dt.datetime.fromisoformat(stored.replace("Z", "+00:00"))


@attrs.frozen
class Expected:
    """What the model says one recorded outcome earns."""

    outcome_id: int
    participant: str
    paid: bool
    step: Step
    counted: bool
    """False for a sample the calendar does not pay (an extra, or after the last week)."""
    draws: int
    seed: int | None
    drawn: tuple[BowlCategory, ...]
    """The slips the seed draws, before any cap."""
    room: int
    """What was left of the cap in the outcome's period before it."""
    uncut_cents: int
    points: int
    bonus_points: int
    slips: tuple[BowlCategory, ...]
    """The slips after the cap: points first, then the bonus, then each slip in order."""
    value_cents: int
    capped: bool
    cap_remaining_after: int
    """``cap_remaining_cents`` in the result: the period of the clock at recording."""


@attrs.frozen
class ModelTransfer:
    id: int
    kind: str
    from_account: str
    to_account: str
    amount: int
    participant: str
    occurred_at: dt.datetime | None
    """Clinical time of awards (for the cap period); None for corrections."""
    reverses: int | None = None


@attrs.frozen
class ModelPrize:
    id: int
    participant: str
    outcome_id: int
    draw: int
    category: str
    value_cents: int


@attrs.frozen
class Keyed:
    again: Callable[[dt.tzinfo], Result]
    """The same request again; a recording writes its time in the given zone."""
    result: Result


def cut_to_cap(
    program: Program, room: int, points: int, bonus: int, drawn: tuple[BowlCategory, ...]
) -> tuple[int, int, tuple[BowlCategory, ...]]:
    """docs/decisions.md "Cap cuts", written from the page rather than from caps.py."""
    value = program.point_value_cents
    paid_points = min(points, room // value)
    room -= paid_points * value
    paid_bonus = min(bonus, room // value)
    room -= paid_bonus * value
    kept: list[BowlCategory] = []
    for slip in drawn:
        if slip.value_cents > room:
            fitting = [c for c in program.bowl if c.value_cents <= room]
            if not fitting:
                continue
            slip = max(fitting, key=lambda c: c.value_cents)
        kept.append(slip)
        room -= slip.value_cents
    return paid_points, paid_bonus, tuple(kept)


class DrawsAndCapsMachine(RuleBasedStateMachine):
    """The machine on the kind of store ``STORE`` names; a subclass per kind runs it."""

    STORE: ClassVar[str]
    CALENDAR: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(CLOCK_START)
        self.seed_base = 1
        self.seeds_issued = 0
        self.exits = ExitStack()
        try:
            folder = Path(self.exits.enter_context(tempfile.TemporaryDirectory()))
            location = self.exits.enter_context(database_location(self.STORE, folder))
            self.clinic = cmrewards.open(location, clock=self.clock, seeds=self.next_seed)
            self.exits.callback(self.clinic.close)
            # Read the database past the library.
            self.tables = open_tables(self.clinic, location)
            self.exits.callback(self.tables.close)
            self.clinic.init(ADMIN)
            for program in (PRIZE_PROGRAM, POINTS_PROGRAM):
                self.clinic.add_program(attrs.evolve(program, calendar=self.CALENDAR), actor=ADMIN)
            for participant, start in STARTS.items():
                self.clinic.enroll(
                    participant, program_of(participant).id, start=start, actor=ADMIN
                )
        except BaseException:
            self.exits.close()
            raise
        # The model.
        self.starts = dict(STARTS)
        """Each participant's current episode's start: program weeks count from it."""
        self.time = FIRST_VISIT
        self.states: dict[tuple[str, str], ScheduleState] = defaultdict(ScheduleState)
        self.met_at: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.in_week: dict[tuple[str, str, int], int] = defaultdict(int)
        """Results of a (participant, target) recorded so far in a program week."""
        self.kept: dict[tuple[str, str], set[int]] = defaultdict(set)
        """The program weeks of a (participant, target) with a ``met`` or ``excused``."""
        self.unpaid: dict[tuple[str, str], Expected] = {}
        """The secondary ``met`` of a visit waiting for its stimulant ``met``."""
        self.visits = 0
        self.used: dict[tuple[str, int], int] = defaultdict(int)
        """Cap usage: awards, prizes and counted adjustments."""
        self.adjusted: dict[tuple[str, int], int] = defaultdict(int)
        """The part of ``used`` adjustments hold."""
        self.granted: dict[tuple[str, int], int] = defaultdict(int)
        """Cents admins granted over the cap (not reversed)."""
        self.cap_changes: dict[int, tuple[int, int, int]] = {}
        """Each counted adjustment's (period, cap change, cents over the cap), by transfer id."""
        self.accounts: dict[str, int] = defaultdict(int)
        self.transfers: list[ModelTransfer] = []
        self.reversed: set[int] = set()
        self.prizes: list[ModelPrize] = []
        self.outcomes = 0
        self.recorded: list[tuple[RecordResult, Expected]] = []
        self.checked = 0
        self.keyed: list[Keyed] = []
        self.keys_made = 0
        self.steps = 0

    def teardown(self) -> None:
        self.exits.close()

    def next_seed(self) -> int:
        """The clinic's seed source: a counter from a base Hypothesis chose."""
        self.seeds_issued += 1
        return self.seed_base + self.seeds_issued

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.tables.rows(table)

    def dump(self) -> object:
        """Every table: equal before and after means nothing was written."""
        return self.tables.dump()

    # --- model helpers ------------------------------------------------------------

    def new_key(self, keyed: bool) -> str | None:
        if not keyed:
            return None
        self.keys_made += 1
        return f"LAB-{self.keys_made}"

    def cap_remaining(self, participant: str, now: dt.datetime) -> int:
        program = program_of(participant)
        assert program.cap_cents is not None
        used = self.used[participant, period_of(program, now)]
        return max(program.cap_cents - used, 0)

    def add_transfer(
        self,
        kind: Movement,
        source: str,
        sink: str,
        amount: int,
        participant: str,
        occurred_at: dt.datetime | None = None,
        reverses: int | None = None,
    ) -> ModelTransfer:
        transfer = ModelTransfer(
            id=len(self.transfers) + 1,
            kind=str(kind),
            from_account=source,
            to_account=sink,
            amount=amount,
            participant=participant,
            occurred_at=occurred_at,
            reverses=reverses,
        )
        self.transfers.append(transfer)
        self.accounts[source] -= amount
        self.accounts[sink] += amount
        return transfer

    def expect(
        self,
        participant: str,
        target_id: str,
        outcome: Outcome,
        at: dt.datetime,
        visit: str,
        *,
        seed: int | None = None,
        outcome_id: int | None = None,
    ) -> Expected:
        """What recording ``outcome`` at ``at`` earns, before the clinic is asked."""
        program = program_of(participant)
        assert program.cap_cents is not None
        target = program.target(target_id)
        state = self.states[participant, target_id]
        week = week_of(participant, self.starts[participant], at)
        # A settlement earns an outcome again: it is already counted in its week.
        earlier = self.in_week[participant, target_id, week] - (outcome_id is not None)
        counts = True
        if self.CALENDAR:
            counts = 1 <= week <= program.weeks and earlier < target.per_week
            schedule = target.schedule
            weekly = isinstance(schedule, EscalatingSchedule) and schedule.step_by is StepBy.WEEK
            if counts and weekly and state.last_week is not None:
                kept = self.kept[participant, target_id]
                if any(w not in kept for w in range(state.last_week + 1, week)):
                    event("an empty week broke a weekly run")
                    missed = advance(schedule, state, Outcome.MISSED, reset_on=target.reset_on)
                    state = missed.state
            if not counts:
                event("a sample the calendar does not pay")
        met_here = self.met_at[participant, visit]
        requires_met = all(r in met_here for r in target.requires)
        paid = counts and (outcome is not Outcome.MET or requires_met)
        step = (
            advance(
                target.schedule,
                state,
                outcome,
                reset_on=target.reset_on,
                week=week_of(participant, self.starts[participant], at),
            )
            if paid
            else Step(state=state)
        )
        points = bonus = draws = 0
        if target.schedule.award is AwardKind.POINTS:
            points, bonus = step.amount, step.bonus
        else:
            draws = step.total
        if outcome_id is None:  # recording it: a met of a draws target gets a fresh seed
            fresh = outcome is Outcome.MET and target.schedule.award is AwardKind.DRAWS
            seed = self.seed_base + self.seeds_issued + 1 if fresh else None
        drawn = tuple(draw(program.bowl, seed, draws)) if seed is not None and draws else ()
        period = period_of(program, at)
        room = max(program.cap_cents - self.used[participant, period], 0)
        uncut = (points + bonus) * program.point_value_cents + sum(s.value_cents for s in drawn)
        paid_points, paid_bonus, slips = cut_to_cap(program, room, points, bonus, drawn)
        value = (paid_points + paid_bonus) * program.point_value_cents + sum(
            s.value_cents for s in slips
        )
        used_after = dict(self.used)
        used_after[participant, period] = self.used[participant, period] + value
        clock_period = period_of(program, self.clock.now)
        remaining_after = max(program.cap_cents - used_after.get((participant, clock_period), 0), 0)
        return Expected(
            outcome_id=self.outcomes + 1 if outcome_id is None else outcome_id,
            participant=participant,
            paid=paid,
            step=step,
            counted=counts,
            draws=draws,
            seed=seed,
            drawn=drawn,
            room=room,
            uncut_cents=uncut,
            points=paid_points,
            bonus_points=paid_bonus,
            slips=slips,
            value_cents=value,
            capped=uncut > room,
            cap_remaining_after=remaining_after,
        )

    def apply(
        self,
        target_id: str,
        outcome: Outcome,
        at: dt.datetime,
        exp: Expected,
        visit: str,
        *,
        settled: bool = False,
    ) -> None:
        """Move the model on by one recorded outcome (or the settlement of one)."""
        participant = exp.participant
        program = program_of(participant)
        if not settled:
            self.outcomes += 1
            week = week_of(participant, self.starts[participant], at)
            self.in_week[participant, target_id, week] += 1
            if outcome in (Outcome.MET, Outcome.EXCUSED):
                self.kept[participant, target_id].add(week)
        self.states[participant, target_id] = exp.step.state
        if outcome is Outcome.MET:
            self.met_at[participant, visit].add(target_id)
        self.used[participant, period_of(program, at)] += exp.value_cents
        for kind, amount in ((Movement.AWARD, exp.points), (Movement.BONUS, exp.bonus_points)):
            if amount:
                self.add_transfer(
                    kind, FUNDING, f"available:{participant}", amount, participant, at
                )
        for index, slip in enumerate(exp.slips):
            if slip.value_cents:
                self.prizes.append(
                    ModelPrize(
                        id=len(self.prizes) + 1,
                        participant=participant,
                        outcome_id=exp.outcome_id,
                        draw=index,
                        category=slip.category,
                        value_cents=slip.value_cents,
                    )
                )

    def record(
        self,
        participant: str,
        target_id: str,
        outcome: Outcome,
        at: dt.datetime,
        zone: dt.tzinfo,
        key: str | None,
        visit: str,
    ) -> None:
        waiting = self.unpaid.get((participant, visit))
        settled = None
        if target_id == STIMULANT and outcome is Outcome.MET and waiting is not None:
            # The secondary met recorded first at this visit is paid now, before the
            # stimulant's own award (same clinical time, lower id: clinical order).
            del self.unpaid[participant, visit]
            self.met_at[participant, visit].add(STIMULANT)
            settled = self.expect(
                participant,
                SECONDARY,
                Outcome.MET,
                at,
                visit,
                seed=waiting.seed,
                outcome_id=waiting.outcome_id,
            )
            self.met_at[participant, visit].discard(STIMULANT)
            self.apply(SECONDARY, Outcome.MET, at, settled, visit, settled=True)
            event("a secondary met recorded first was paid by settlement")
        exp = self.expect(participant, target_id, outcome, at, visit)
        seeds_before = self.seeds_issued

        def again(zone: dt.tzinfo = zone) -> RecordResult:
            return self.clinic.record(
                participant,
                target_id,
                outcome,
                actor=ADMIN,
                at=at.astimezone(zone),
                key=key,
                visit=visit,
            )

        result = again()
        # One fresh seed exactly for a met of a draws target, and it is the injected one.
        assert self.seeds_issued == seeds_before + (1 if exp.seed is not None else 0)
        if settled is not None:
            assert result.settlement is not None
            assert result.settlement.outcomes == (settled.outcome_id,)
            won = [(s.category, s.value_cents) for s in settled.slips if s.value_cents]
            assert [(p.category, p.value_cents) for p in result.settlement.prizes] == won
        else:
            assert result.settlement is None
        self.apply(target_id, outcome, at, exp, visit)
        if target_id == SECONDARY and outcome is Outcome.MET and not exp.paid and exp.counted:
            self.unpaid[participant, visit] = exp
        self.recorded.append((result, exp))
        if exp.capped:
            event(f"a cap cut an award ({program_of(participant).id})")
        if at.year != self.clock.now.year:
            event("the clock is in another year than the visit")
        if at.year > FIRST_VISIT.year:
            event("a visit in the new year")
        if exp.drawn != exp.slips:
            event("a slip was downgraded")
        if not exp.paid:
            event("secondary met did not pay")
        if key is not None:
            self.keyed.append(Keyed(again, result))

    def advance_to(self, gap_hours: int, lag: dt.timedelta) -> dt.datetime:
        """The next clinical time, with the clock moved to at least ``at + lag``."""
        at = self.time + dt.timedelta(hours=gap_hours)
        self.time = at
        self.clock.now = max(self.clock.now, at + lag)
        return at

    def refused(self, error: type[Exception], request: Callable[[], object]) -> None:
        before = self.dump()
        seeds = self.seeds_issued
        with pytest.raises(error):
            request()
        assert self.dump() == before
        assert self.seeds_issued == seeds

    # --- rules --------------------------------------------------------------------

    @initialize(
        seed_base=st.integers(min_value=1, max_value=2**62),
        first_day=st.integers(min_value=0, max_value=26),
    )
    def start(self, seed_base: int, first_day: int) -> None:
        """Seeds differ between runs; the first visit is somewhere in December."""
        self.seed_base = seed_base
        self.time = FIRST_VISIT + dt.timedelta(days=first_day)
        self.clock.now = max(self.clock.now, self.time)

    @rule(
        participant=st.sampled_from(PRIZE_PEOPLE), visits=st.lists(VISITS, min_size=1, max_size=4)
    )
    def prize_visits(self, participant: str, visits: list[Visit]) -> None:
        """A few visits: at each the stimulant sample, and the secondary one at the same
        time (recorded after it, so it may pay, or before it, so it may not), or alone."""
        for visit in visits:
            at = self.advance_to(visit.gap_hours, visit.lag)
            self.visits += 1
            visit_id = f"visit-{self.visits}"

            def secondary(
                visit: Visit = visit, at: dt.datetime = at, visit_id: str = visit_id
            ) -> None:
                key = self.new_key(visit.keyed)
                outcome, zone = visit.secondary_outcome, visit.secondary_zone
                self.record(participant, SECONDARY, outcome, at, zone, key, visit_id)

            if visit.secondary in ("alone", "before"):
                secondary()
            if visit.secondary != "alone":
                key = self.new_key(visit.keyed)
                self.record(participant, STIMULANT, visit.outcome, at, visit.zone, key, visit_id)
            if visit.secondary == "after":
                secondary()

    @rule(
        participant=st.sampled_from(POINTS_PEOPLE), visits=st.lists(VISITS, min_size=1, max_size=4)
    )
    def points_visits(self, participant: str, visits: list[Visit]) -> None:
        for visit in visits:
            at = self.advance_to(visit.gap_hours, visit.lag)
            self.visits += 1
            key = self.new_key(visit.keyed)
            self.record(
                participant, STIMULANT, visit.outcome, at, visit.zone, key, f"visit-{self.visits}"
            )

    @rule(
        participant=st.sampled_from(PRIZE_PEOPLE + POINTS_PEOPLE),
        days=st.integers(min_value=1, max_value=20),
    )
    def comes_back(self, participant: str, days: int) -> None:
        """The participant withdraws and is enrolled again ``days`` after the latest visit
        (issue 12 item 5): the next episode starts a fresh schedule with program weeks from
        its own start, in the same cap period. A secondary sample of the last episode still
        waiting for its stimulant one never will."""
        program = program_of(participant)
        zone = ZoneInfo(program.timezone)
        start = (self.time.astimezone(zone) + dt.timedelta(days=days)).date()
        with self.clock.at(self.time):  # withdrawn at the latest visit: before ``start``
            self.clinic.withdraw(participant, actor=ADMIN)
        # Enrolled no earlier than that visit: a start more than 31 days after the clock is
        # refused as a likely typo, and the visits may have run ahead of the clock.
        with self.clock.at(max(self.clock.now, self.time)):
            again = self.clinic.enroll(participant, program.id, start=start, actor=ADMIN)
        assert again.episode >= 2
        assert again.first_start == STARTS[participant]
        self.starts[participant] = start
        for key in [k for k in self.states if k[0] == participant]:
            self.states[key] = ScheduleState()
        for key in [k for k in self.unpaid if k[0] == participant]:
            del self.unpaid[key]
        # The calendar starts again: program weeks count from the new start.
        for week_key in [k for k in self.in_week if k[0] == participant]:
            del self.in_week[week_key]
        for kept_key in [k for k in self.kept if k[0] == participant]:
            del self.kept[kept_key]
        self.time = max(self.time, dt.datetime.combine(start, dt.time(9), zone))
        event("a participant came back for another episode")

    @precondition(lambda self: self.time < NEW_YEAR)
    @rule(minutes=st.integers(min_value=-120, max_value=600))
    def new_years_eve(self, minutes: int) -> None:
        """Jump to around midnight UTC on 1 January, when it is still 31 December in
        Los Angeles until 08:00 UTC: the points program's year turns later."""
        self.time = max(self.time, NEW_YEAR + dt.timedelta(minutes=minutes))

    @rule(hours=st.integers(min_value=1, max_value=72))
    def clock_moves_on(self, hours: int) -> None:
        """No visits for a while: the clock (and perhaps its year) moves on alone."""
        self.clock.advance(hours=hours)

    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        awards_only=st.booleans(),
        keyed=st.booleans(),
    )
    def reverse(self, pick: int, awards_only: bool, keyed: bool) -> None:
        """Reverse a transfer: mostly an award, whose value goes back to its period's cap."""
        awards = [
            t
            for t in self.transfers
            if t.kind in (Movement.AWARD, Movement.BONUS) and t.id not in self.reversed
        ]
        pool = awards if awards_only else self.transfers
        if not pool:
            return
        original = pool[pick % len(pool)]
        key = self.new_key(keyed)

        def again(_zone: dt.tzinfo = dt.UTC) -> TransferResult:
            return self.clinic.reverse(original.id, reason="lab error", actor=ADMIN, key=key)

        if original.id in self.reversed or original.kind == Movement.REVERSAL:
            event("reverse: InvalidTransition")
            self.refused(InvalidTransition, again)
            return
        pays = original.to_account
        if pays != FUNDING and self.accounts[pays] < original.amount:
            event("reverse: InsufficientPoints")
            self.refused(InsufficientPoints, again)
            return
        counted = self.cap_changes.get(original.id)
        change = 0
        if counted is not None:
            period, undone, over = counted
            key_period = (original.participant, period)
            change = -undone if undone <= 0 else -min(undone, self.adjusted[key_period])
            program = program_of(original.participant)
            assert program.cap_cents is not None
            if change > max(program.cap_cents - self.used[key_period], 0):
                event("reverse: CapExceeded")
                self.refused(CapExceeded, again)
                return
        result = again()
        if counted is not None:
            event(f"reverse: an adjustment ({'over the cap' if over else 'counted'})")
            self.used[key_period] += change
            self.adjusted[key_period] += change
            self.granted[key_period] -= over
        mirror = self.add_transfer(
            Movement.REVERSAL,
            original.to_account,
            original.from_account,
            original.amount,
            original.participant,
            reverses=original.id,
        )
        self.reversed.add(original.id)
        if original.kind in (Movement.AWARD, Movement.BONUS):
            event("reverse: an award")
            assert original.occurred_at is not None
            program = program_of(original.participant)
            period = period_of(program, original.occurred_at)
            self.used[original.participant, period] -= original.amount * program.point_value_cents
        assert result.transfer.id == mirror.id
        assert result.transfer.reverses == original.id
        assert result.replayed is False
        assert result.balance.cap_remaining_cents == self.cap_remaining(
            original.participant, self.clock.now
        )
        if key is not None:
            self.keyed.append(Keyed(again, result))

    @rule(
        participant=st.sampled_from(PRIZE_PEOPLE + POINTS_PEOPLE),
        points=st.integers(min_value=-80, max_value=-1) | st.integers(min_value=1, max_value=80),
        keyed=st.booleans(),
        over_cap=st.booleans(),
    )
    def adjust(self, participant: str, points: int, keyed: bool, over_cap: bool) -> None:
        """Adjustments count toward the cap of the clock's period."""
        key = self.new_key(keyed)
        account = f"available:{participant}"

        def again(_zone: dt.tzinfo = dt.UTC) -> TransferResult:
            return self.clinic.adjust(
                participant, points, reason="correction", actor=ADMIN, key=key, over_cap=over_cap
            )

        if points < 0 and -points > self.accounts[account]:
            self.refused(InsufficientPoints, again)
            return
        program = program_of(participant)
        assert program.cap_cents is not None
        period = period_of(program, self.clock.now)
        value = abs(points) * program.point_value_cents
        room = max(program.cap_cents - self.used[participant, period], 0)
        over = max(value - room, 0) if points > 0 else 0
        if over and not over_cap:
            event("adjust: CapExceeded")
            self.refused(CapExceeded, again)
            return
        result = again()
        change = value if points > 0 else -min(value, self.adjusted[participant, period])
        self.used[participant, period] += change
        self.adjusted[participant, period] += change
        self.granted[participant, period] += over
        if points > 0:
            self.add_transfer(Movement.ADJUSTMENT_UP, FUNDING, account, points, participant)
        else:
            self.add_transfer(Movement.ADJUSTMENT_DOWN, account, FUNDING, -points, participant)
        self.cap_changes[len(self.transfers)] = (period, change, over)
        event(
            "adjust: over the cap"
            if over
            else f"adjust: cap change {'+' if change > 0 else '-' if change else '0'}"
        )
        assert result.transfer.id == len(self.transfers)
        assert (result.transfer.cap_change_cents, result.transfer.over_cap_cents) == (
            change,
            over or None,
        )
        assert result.balance.available_points == self.accounts[account]
        assert result.balance.cap_remaining_cents == self.cap_remaining(participant, self.clock.now)
        if key is not None:
            self.keyed.append(Keyed(again, result))

    @precondition(lambda self: bool(self.keyed))
    @rule(pick=st.integers(min_value=0, max_value=10**6), zone=st.sampled_from(ZONES))
    def replay(self, pick: int, zone: dt.tzinfo) -> None:
        """The same key and request (the same instant, perhaps written in another zone):
        the stored result, no seed drawn, nothing written."""
        earlier = self.keyed[pick % len(self.keyed)]
        before = self.dump()
        seeds = self.seeds_issued
        result = earlier.again(zone)
        assert result.replayed is True
        assert attrs.evolve(result, replayed=False) == earlier.result
        assert self.dump() == before
        assert self.seeds_issued == seeds

    # --- invariants -----------------------------------------------------------------

    @invariant()
    def awards_follow_the_bowl_and_the_cap(self) -> None:
        for result, exp in self.recorded[self.checked :]:
            award = result.award
            assert result.outcome_id == exp.outcome_id
            assert result.replayed is False
            drawn = tuple(s.category for s in exp.drawn)
            worth = {c.category: c.value_cents for c in PRIZE_PROGRAM.bowl}
            assert award.draws == exp.draws == len(drawn)
            if not exp.capped:
                assert award.slips == drawn, (exp.seed, award.slips, drawn)
            else:
                assert len(award.slips) == len(drawn)
                assert all(
                    worth[got] <= worth[want] for got, want in zip(award.slips, drawn, strict=True)
                )
            # The cut is exactly the documented one, and never more than the room.
            assert award.slips == tuple(s.category for s in exp.slips)
            assert award.capped is exp.capped, (exp.uncut_cents, exp.room, award)
            assert award.value_cents == exp.value_cents <= exp.room
            assert (award.points, award.bonus_points) == (exp.points, exp.bonus_points)
            assert (award.reset, award.recovered, award.paid) == (
                exp.step.reset,
                exp.step.recovered,
                exp.paid,
            )
            winners = [
                (exp.slips[i].category, exp.slips[i].value_cents)
                for i in range(len(exp.slips))
                if exp.slips[i].value_cents
            ]
            assert [(p.category, p.value_cents) for p in result.prizes] == winners
            assert result.balance.cap_remaining_cents == exp.cap_remaining_after
        self.checked = len(self.recorded)

    @invariant()
    def the_cap_is_never_exceeded(self) -> None:
        """Per participant and calendar year (in the program's zone), read past the library."""
        transfers = self.rows("transfers")
        reversed_ids = {t["reverses"] for t in transfers if t["reverses"] is not None}
        awarded: dict[tuple[str, int], int] = defaultdict(int)
        for t in transfers:
            if t["kind"] in ("award", "bonus") and t["id"] not in reversed_ids:
                program = program_of(t["participant"])
                period = period_of(program, parse_utc(t["occurred_at"]))
                awarded[t["participant"], period] += t["amount"] * program.point_value_cents
        for prize in self.rows("prizes"):
            if prize["outcome_id"] is not None:
                program = program_of(prize["participant"])
                period = period_of(program, parse_utc(prize["won_at"]))
                awarded[prize["participant"], period] += prize["value_cents"]
        for (participant, _year), cents in awarded.items():
            cap = program_of(participant).cap_cents
            assert cap is not None
            assert 0 <= cents <= cap
        # Counted adjustments, read past the library too: their recorded cap changes.
        by_id = {t["id"]: t for t in transfers}
        for t in transfers:
            counted = t if t["reverses"] is None else by_id[t["reverses"]]
            if t["cap_change_cents"] is not None:
                program = program_of(t["participant"])
                period = period_of(program, parse_utc(counted["occurred_at"]))
                awarded[t["participant"], period] += t["cap_change_cents"]
        for (participant, year), cents in awarded.items():
            cap = program_of(participant).cap_cents
            assert cap is not None
            assert 0 <= cents <= cap + self.granted[participant, year]
        modelled = {k: v for k, v in self.used.items() if v}
        assert {k: v for k, v in awarded.items() if v} == modelled
        assert all(v >= 0 for v in self.adjusted.values())
        # The clinic's own usage, under its own period labels ("2027", "2028").
        usage = {
            (row["participant"], int(row["period"])): row["cents"]
            for row in self.rows("cap_usage")
            if row["cents"] != 0
        }
        assert usage == modelled

    @invariant()
    def cap_remaining_is_the_models(self) -> None:
        """``cap_remaining_cents`` is for the period the clinic's clock is in."""
        for participant in PRIZE_PEOPLE + POINTS_PEOPLE:
            balance = self.clinic.balance(participant)
            assert balance.cap_remaining_cents == self.cap_remaining(participant, self.clock.now)

    @invariant()
    def prizes_owed_are_the_winning_slips(self) -> None:
        for participant in PRIZE_PEOPLE + POINTS_PEOPLE:
            owed = [
                ModelPrize(
                    id=p.id,
                    participant=p.participant,
                    outcome_id=p.outcome_id or 0,
                    draw=-1 if p.draw is None else p.draw,
                    category=p.category,
                    value_cents=p.value_cents,
                )
                for p in self.clinic.prizes(participant)
            ]
            assert owed == [p for p in self.prizes if p.participant == participant]

    @invariant()
    def balances_transfers_and_states_are_the_models(self) -> None:
        for participant in PRIZE_PEOPLE + POINTS_PEOPLE:
            balance = self.clinic.balance(participant)
            available = self.accounts[f"available:{participant}"]
            assert (balance.available_points, balance.held_points) == (available, 0)
            program = program_of(participant)
            assert balance.value_cents == available * program.point_value_cents
        columns = ("id", "kind", "from_account", "to_account", "amount", "participant", "reverses")
        stored = [tuple(row[column] for column in columns) for row in self.rows("transfers")]
        modelled = [
            (t.id, t.kind, t.from_account, t.to_account, t.amount, t.participant, t.reverses)
            for t in self.transfers
        ]
        assert stored == modelled
        states = {
            (row["participant"], row["target"]): ScheduleState(
                pos=row["pos"], run=row["run"], saved=row["saved"], last_week=row["last_week"]
            )
            for row in self.rows("schedule_states")
        }
        assert states == dict(self.states)

    @invariant()
    def verify_passes(self) -> None:
        self.steps += 1
        if self.steps % 5:
            return
        report = self.clinic.verify()
        assert report.problems == ()
        assert report.ok
        assert (report.outcomes, report.transfers) == (self.outcomes, len(self.transfers))
        for participant in PRIZE_PEOPLE + POINTS_PEOPLE:
            entries = self.clinic.history(participant)
            assert [e.occurred_at for e in entries] == sorted(e.occurred_at for e in entries)
            assert available_now(entries) == self.accounts[f"available:{participant}"]

    @invariant()
    def seeds_are_stored_with_their_outcomes(self) -> None:
        seeds = {row["id"]: row["seed"] for row in self.rows("outcomes")}
        assert seeds == {result.outcome_id: exp.seed for result, exp in self.recorded}


def test_the_prize_program_has_the_petry_fishbowl_rules() -> None:
    """The capped twin differs from the preset only in its id, name and cap."""
    preset = cmrewards.load_preset("petry-fishbowl")
    assert PRIZE_PROGRAM.targets == preset.targets
    assert PRIZE_PROGRAM.bowl == preset.bowl
    assert PRIZE_PROGRAM.timezone == preset.timezone
    assert (PRIZE_PROGRAM.cap_cents, str(PRIZE_PROGRAM.cap_period)) == (PRIZE_CAP, "calendar-year")
    assert (POINTS_PROGRAM.cap_cents, str(POINTS_PROGRAM.cap_period)) == (
        POINTS_CAP,
        "calendar-year",
    )


TestDrawsAndCapsMemory, TestDrawsAndCapsSQLite, TestDrawsAndCapsPostgres = on_every_store(
    DrawsAndCapsMachine, steps=40, examples=25, postgres_examples=15
)


class LegacyDrawsAndCapsMachine(DrawsAndCapsMachine):
    """The machine with both programs under the rules of a program stored before the
    calendar: every sample pays, whatever its week."""

    CALENDAR = False


TestLegacyDrawsAndCapsMemory = on_every_store(
    LegacyDrawsAndCapsMachine, steps=40, examples=25, postgres_examples=15
)[0]
