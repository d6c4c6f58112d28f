"""The cap property (issue 12): no sequence of writes pays past the cap unrecorded.

A state machine drives a real ``Clinic`` with everything that moves value in a capped
program — results in order and late, corrections and voids, prize draws, adjustments up
and down (some granted over the cap by an admin), reversals of any transfer — across a
new year (a new cap period), and after every step reads the stored rows past the library:

- no participant's paid value in a cap period is past the cap by more than what admins
  granted over it (and did not reverse); the value is computed here from the raw
  transfers and prizes, not from the engine's cap usage: everything credited to the
  participant at its clinical period, less everything taken from them, reversals
  undoing what they reverse, plus the prizes their draws still give;
- the engine's own cap usage is never negative, and never past the cap plus the grants;
- ``verify`` finds nothing.

Refused requests (a second result for a visit, a correction to the same outcome, a
reversal of a reversal, an adjustment past the cap without a grant, ...) write nothing.
Two programs share the database: escalating points with a bonus and a $30 cap counted in
Los Angeles, and a prize bowl with a $25 cap. The machine runs on each store.
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

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import cmrewards
from cmrewards import (
    CapExceeded,
    InsufficientPoints,
    InvalidTransition,
    Outcome,
)
from cmrewards.domain.programs import Program, program_from_toml
from support.clinics import FakeClock, database_location, on_every_store
from support.stored_tables import open_tables

ADMIN = "admin-1"
STIMULANT = "stimulant-negative"

POINTS_TOML = """
id = "points-capped"
name = "Escalating vouchers, $30 a calendar year"
point_value_cents = 25
timezone = "America/Los_Angeles"
cap_cents = 3000
cap_period = "calendar-year"

[[targets]]
id = "stimulant-negative"
schedule = { kind = "escalating", award = "points", start = 10, step = 5, max = 40, bonus = 20, bonus_every = 3 }
"""  # noqa: E501

PRIZE_TOML = """
id = "prizes-capped"
name = "Prize draws, $25 a calendar year"
timezone = "UTC"
cap_cents = 2500
cap_period = "calendar-year"

[[targets]]
id = "stimulant-negative"
schedule = { kind = "escalating", award = "draws", start = 1, step = 1, max = 6 }

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
"""

PROGRAMS = {
    "V1": program_from_toml(POINTS_TOML, "points"),
    "V2": program_from_toml(POINTS_TOML, "points"),
    "D1": program_from_toml(PRIZE_TOML, "prizes"),
}
START = dt.date(2027, 12, 1)
FIRST_VISIT = dt.datetime(2027, 12, 2, 18, tzinfo=dt.UTC)
OUTCOMES = [Outcome.MET] * 4 + [Outcome.NOT_MET, Outcome.MISSED, Outcome.EXCUSED]


def period_of(program: Program, at: dt.datetime) -> int:
    """The calendar year of ``at`` in the program's zone (the test's own arithmetic)."""
    return at.astimezone(ZoneInfo(program.timezone)).year


def utc(stored: str | dt.datetime) -> dt.datetime:
    if isinstance(stored, dt.datetime):
        return stored
    return dt.datetime.fromisoformat(stored.replace("Z", "+00:00"))


class CapLimitsMachine(RuleBasedStateMachine):
    STORE: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(FIRST_VISIT)
        self.exits = ExitStack()
        try:
            folder = Path(self.exits.enter_context(tempfile.TemporaryDirectory()))
            location = self.exits.enter_context(database_location(self.STORE, folder))
            seeds = iter(range(7, 10**6, 7919))
            self.clinic = cmrewards.open(location, clock=self.clock, seeds=seeds.__next__)
            self.exits.callback(self.clinic.close)
            self.tables = open_tables(self.clinic, location)
            self.exits.callback(self.tables.close)
            self.clinic.init(ADMIN)
            for program in {p.id: p for p in PROGRAMS.values()}.values():
                self.clinic.add_program(program, actor=ADMIN)
            for participant, program in PROGRAMS.items():
                self.clinic.enroll(participant, program.id, start=START, actor=ADMIN)
        except BaseException:
            self.exits.close()
            raise
        self.visits: dict[str, list[dt.datetime]] = defaultdict(list)
        self.outcomes: list[int] = []
        self.latest = FIRST_VISIT
        self.steps = 0

    def teardown(self) -> None:
        event(f"steps: {self.steps // 10 * 10}+")
        self.exits.close()

    def attempt(self, request: Callable[[], object], *refusals: type[Exception]) -> bool:
        """Run ``request``; a refusal of the kinds given writes nothing."""
        before = self.tables.dump()
        try:
            request()
        except refusals as refused:
            event(f"refused: {type(refused).__name__}")
            assert self.tables.dump() == before
            return False
        return True

    # --- rules ------------------------------------------------------------------------

    @rule(
        participant=st.sampled_from(sorted(PROGRAMS)),
        visits=st.lists(
            st.tuples(st.integers(min_value=1, max_value=80), st.sampled_from(OUTCOMES)),
            min_size=1,
            max_size=6,
        ),
    )
    def record_in_order(self, participant: str, visits: list[tuple[int, Outcome]]) -> None:
        """A few visits, each after every result so far."""
        for hours, outcome in visits:
            at = self.latest + dt.timedelta(hours=hours)
            self.latest = at
            self.clock.now = max(self.clock.now, at)
            self.record(participant, at, outcome)

    @precondition(lambda self: any(self.visits.values()))
    @rule(
        participant=st.sampled_from(sorted(PROGRAMS)),
        pick=st.integers(min_value=0, max_value=10**6),
        outcome=st.sampled_from(OUTCOMES),
    )
    def record_late(self, participant: str, pick: int, outcome: Outcome) -> None:
        """A result for a day between two earlier visits: settled by replay."""
        times = sorted(self.visits[participant])
        if not times:
            return
        at = times[pick % len(times)] - dt.timedelta(hours=7)
        if at.date() < START + dt.timedelta(days=1):
            return
        event("a late result")
        self.record(participant, at, outcome)

    def record(self, participant: str, at: dt.datetime, outcome: Outcome) -> None:
        results: list[int] = []

        def request() -> None:
            results.append(
                self.clinic.record(participant, STIMULANT, outcome, actor=ADMIN, at=at).outcome_id
            )

        if self.attempt(request, InvalidTransition):
            self.visits[participant].append(at)
            self.outcomes.extend(results)

    @precondition(lambda self: bool(self.outcomes))
    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        outcome=st.sampled_from([*OUTCOMES, None]),
    )
    def correct(self, pick: int, outcome: Outcome | None) -> None:
        self.correct_one(self.outcomes[pick % len(self.outcomes)], outcome)

    def correct_one(self, outcome_id: int, outcome: Outcome | None) -> None:
        def request() -> None:
            if outcome is None:
                self.clinic.void(outcome_id, reason="entered in error", actor=ADMIN)
            else:
                self.clinic.correct(outcome_id, outcome, reason="lab retest", actor=ADMIN)

        if self.attempt(request, InvalidTransition):
            event("a void" if outcome is None else "a correction")

    @rule(
        participant=st.sampled_from(sorted(PROGRAMS)),
        points=st.integers(min_value=-60, max_value=-1) | st.integers(min_value=1, max_value=80),
        over_cap=st.booleans(),
    )
    def adjust(self, participant: str, points: int, over_cap: bool) -> None:
        def request() -> None:
            result = self.clinic.adjust(
                participant, points, reason="by hand", actor=ADMIN, over_cap=over_cap
            )
            if result.transfer.over_cap_cents:
                event("an adjustment granted over the cap")

        self.attempt(request, InsufficientPoints, CapExceeded)

    @rule(pick=st.integers(min_value=0, max_value=10**6))
    def reverse(self, pick: int) -> None:
        transfers = self.tables.rows("transfers")
        if not transfers:
            return
        self.reverse_one(transfers[pick % len(transfers)])

    def reverse_one(self, original: dict[str, Any]) -> None:
        def request() -> None:
            self.clinic.reverse(original["id"], reason="admin's correction", actor=ADMIN)

        if self.attempt(request, InvalidTransition, InsufficientPoints, CapExceeded):
            event(f"reversed: {original['kind']}")

    @precondition(lambda self: bool(self.outcomes))
    @rule(pick=st.integers(min_value=0, max_value=10**6), void=st.booleans())
    def reverse_its_awards_then_correct(self, pick: int, void: bool) -> None:
        """An admin reverses an outcome's awards, then it is voided or found not met: the
        settlement must not take back again what the reversals gave back."""
        outcome_id = self.outcomes[pick % len(self.outcomes)]
        cause = f"outcome:{outcome_id}"
        for t in self.tables.rows("transfers"):
            if t["kind"] in ("award", "bonus") and (
                t["cause"] == cause or t["settles"] == outcome_id
            ):
                self.reverse_one(t)
        self.correct_one(outcome_id, None if void else Outcome.NOT_MET)

    @rule(hours=st.integers(min_value=1, max_value=24 * 20))
    def clock_moves_on(self, hours: int) -> None:
        """Time passes with no visit: adjustments may fall in the next year's period."""
        self.clock.advance(hours=hours)
        self.latest = max(self.latest, self.clock.now - dt.timedelta(hours=2))

    # --- the property -------------------------------------------------------------------

    @invariant()
    def nothing_is_paid_past_the_cap_unrecorded(self) -> None:
        transfers = {t["id"]: t for t in self.tables.rows("transfers")}
        undone = {t["reverses"] for t in transfers.values() if t["reverses"] is not None}
        paid: dict[tuple[str, int], int] = defaultdict(int)
        granted: dict[tuple[str, int], int] = defaultdict(int)
        for t in transfers.values():
            participant = t["participant"]
            program = PROGRAMS[participant]
            original = transfers[t["reverses"]] if t["reverses"] is not None else t
            period = period_of(program, utc(original["occurred_at"]))
            value = t["amount"] * program.point_value_cents
            to_them = t["to_account"] == f"available:{participant}"
            paid[participant, period] += value if to_them else -value
            if t["over_cap_cents"] is not None and t["id"] not in undone:
                granted[participant, period] += t["over_cap_cents"]
        # A write-off is what a settlement could not take back (the points were gone): the
        # outcome no longer gives it, so it leaves the outcome's period (docs/decisions.md,
        # "Cap usage follows what each outcome gives net of take-backs and write-offs").
        clinical = {o["id"]: o["occurred_at"] for o in self.tables.rows("outcomes")}
        for w in self.tables.rows("write_offs"):
            program = PROGRAMS[w["participant"]]
            period = period_of(program, utc(clinical[w["outcome_id"]]))
            paid[w["participant"], period] -= w["value_cents"]
        withdrawn: dict[int, bool] = {}
        for w in sorted(self.tables.rows("prize_withdrawals"), key=lambda w: w["id"]):
            withdrawn[w["prize_id"]] = not w["reinstated"]
        for prize in self.tables.rows("prizes"):
            if prize["outcome_id"] is not None and not withdrawn.get(prize["id"], False):
                program = PROGRAMS[prize["participant"]]
                period = period_of(program, utc(prize["won_at"]))
                paid[prize["participant"], period] += prize["value_cents"]
        for (participant, period), cents in paid.items():
            cap = PROGRAMS[participant].cap_cents
            assert cap is not None
            assert cents <= cap + granted[participant, period], (participant, period, cents)
            if cents > cap:
                event("paid past the cap, by a grant")
        for row in self.tables.rows("cap_usage"):
            key = (row["participant"], int(row["period"]))
            cap = PROGRAMS[row["participant"]].cap_cents
            assert cap is not None
            assert 0 <= row["cents"] <= cap + granted[key], row
            if row["cents"] == cap:
                event("a cap period was used up")

    @invariant()
    def verify_finds_nothing(self) -> None:
        self.steps += 1
        if self.STORE != "memory" and self.steps % 4:
            return
        report = self.clinic.verify()
        assert report.problems == ()


TestCapLimitsMemory, TestCapLimitsSQLite, TestCapLimitsPostgres = on_every_store(
    CapLimitsMachine, steps=40, examples=60, postgres_examples=10
)
