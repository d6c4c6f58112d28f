"""Redemption as a state machine against a tiny model (docs/design.md sections 4 and 5).

Hypothesis drives requests (with and without idempotency keys), approvals, fulfilments,
cancellations, hold expiry (by moving a fake clock, then writing or calling ``expire``),
reversals of spends, prize hand-overs, restocks and top-ups on each store: memory, a
SQLite file and a PostgreSQL database (``RedemptionMachineMemory``, ``...SQLite``,
``...Postgres``). The model predicts every result and every refusal; a write that is
refused must change nothing, not even the expiry of overdue holds that runs at the start
of every write.

Clock steps are multiples of 7 minutes, so a hold is never exactly ``hold_days`` (2 or 3
days) old: the boundary itself is tested in ``test_redemption.py``.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import tempfile
from collections import defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import ClassVar

import attrs
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

import cmrewards
from cmrewards import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidTransition,
    OutOfStock,
    PermissionDenied,
)
from cmrewards.domain.programs import program_from_toml
from support.clinics import START, FakeClock, database_location, on_every_store, visit

ADMIN = "admin-1"
RECORDER = "rec-1"
CLIN_A = "clin-a"
CLIN_B = "clin-b"
STAFF = [ADMIN, RECORDER, CLIN_A, CLIN_B]
CLINICIANS = {ADMIN, CLIN_A, CLIN_B}
ACTORS = st.sampled_from([CLIN_A, CLIN_B, ADMIN, RECORDER])
WANTS = st.sampled_from([True, True, True, False])
"""Mostly a record the step applies to; sometimes any, to see the refusals."""

STRICT = """\
id = "strict"
name = "Points, approval and separate duties"
require_approval = true
separate_duties = true
hold_days = 2

[[targets]]
id = "sample"
schedule = { kind = "fixed", award = "points", amount = 10 }
"""

LOOSE = """\
id = "loose"
name = "Prizes, no approval"
require_approval = false
hold_days = 3

[[targets]]
id = "attend"
per_week = 7                     # a visit a day
schedule = { kind = "fixed", award = "draws", amount = 2 }

[[bowl]]
category = "good-job"
slips = 2
value_cents = 0

[[bowl]]
category = "small"
slips = 2
value_cents = 100

[[bowl]]
category = "large"
slips = 1
value_cents = 500
"""

PARTICIPANTS = {"A": "strict", "B": "strict", "C": "loose"}
PROGRAMS = {
    "strict": {"require_approval": True, "separate_duties": True, "hold_days": 2},
    "loose": {"require_approval": False, "separate_duties": False, "hold_days": 3},
}
ITEMS: dict[str, tuple[int, int | None, str | None]] = {
    # sku: (cost, stock, prize category)
    "CARD": (30, 2, None),
    "PASS": (20, None, None),
    "TOY": (0, 1, "small"),
    "BIG": (0, 0, "large"),
}
OPENING = {"A": 100, "B": 40, "C": 60}
EXPECTED_TRANSFERS = {
    "requested": ["hold"],
    "approved": ["hold"],
    "fulfilled": ["hold", "spend"],
    "cancelled": ["hold", "release"],
    "reversed": ["hold", "spend", "release"],
}

Errors = set[type[Exception]]


@attrs.define
class ModelRedemption:
    participant: str
    sku: str
    cost: int
    status: str
    requested_at: dt.datetime
    requested_by: str
    approved_by: str | None = None

    @property
    def program(self) -> str:
        return PARTICIPANTS[self.participant]

    @property
    def is_open(self) -> bool:
        return self.status in ("requested", "approved")


@attrs.define
class Model:
    available: dict[str, int]
    stock: dict[str, int | None]
    redemptions: dict[int, ModelRedemption] = attrs.Factory(dict)
    prizes: dict[int, tuple[str, str]] = attrs.Factory(dict)
    """prize id: (category, status)."""
    keys: dict[tuple[str, str], tuple[str, str, int]] = attrs.Factory(dict)
    """(program, key): (participant, sku, redemption id)."""

    def held(self, participant: str) -> int:
        return sum(
            r.cost for r in self.redemptions.values() if r.participant == participant and r.is_open
        )

    def expire(self, now: dt.datetime) -> list[int]:
        """Release every hold older than its program's hold_days; the ids, in order."""
        expired = []
        for rid, r in sorted(self.redemptions.items()):
            days = int(PROGRAMS[r.program]["hold_days"])
            if r.is_open and now - r.requested_at > dt.timedelta(days=days):
                self.close(rid, "cancelled", returned=True)
                expired.append(rid)
        return expired

    def close(self, rid: int, status: str, *, returned: bool) -> None:
        r = self.redemptions[rid]
        r.status = status
        self.available[r.participant] += r.cost
        if returned and self.stock[r.sku] is not None:
            self.stock[r.sku] = (self.stock[r.sku] or 0) + 1


class RedemptionMachine(RuleBasedStateMachine):
    """The machine on the kind of store ``STORE`` names; a subclass per kind runs it."""

    STORE: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.exits = ExitStack()
        try:
            folder = self.exits.enter_context(tempfile.TemporaryDirectory(prefix="cm-redemption-"))
            location = self.exits.enter_context(database_location(self.STORE, Path(folder)))
            self.clinic = cmrewards.open(
                location, clock=self.clock, seeds=itertools.count(1).__next__
            )
            self.exits.callback(self.clinic.close)
            clinic = self.clinic
            clinic.init(ADMIN)
            clinic.add_staff(RECORDER, "recorder", actor=ADMIN)
            clinic.add_staff(CLIN_A, "clinician", actor=ADMIN)
            clinic.add_staff(CLIN_B, "clinician", actor=ADMIN)
            clinic.add_program(program_from_toml(STRICT, "strict.toml"), actor=ADMIN)
            clinic.add_program(program_from_toml(LOOSE, "loose.toml"), actor=ADMIN)
            for participant, program_id in PARTICIPANTS.items():
                clinic.enroll(participant, program_id, start=START, actor=ADMIN)
                clinic.adjust(participant, OPENING[participant], reason="opening", actor=ADMIN)
            for sku, (cost, stock, category) in ITEMS.items():
                clinic.add_item(sku, name=sku.title(), cost=cost, stock=stock,
                                category=category, actor=ADMIN)  # fmt: skip
        except BaseException:
            self.exits.close()
            raise
        self.model = Model(
            available=dict(OPENING), stock={sku: item[1] for sku, item in ITEMS.items()}
        )
        self.visits = 0
        self.checks = 0

    def teardown(self) -> None:
        try:
            report = self.clinic.verify()
            assert report.problems == ()
        finally:
            self.exits.close()

    # --- the one way every write is checked ------------------------------------------------

    def trial(self) -> Model:
        """The model as the next write sees it: overdue holds released first."""
        trial = copy.deepcopy(self.model)
        trial.expire(self.clock.now)
        return trial

    def refused(self, errors: Errors, call: Callable[[], object]) -> None:
        """The write raises one of ``errors``; the model (expiry included) stays as it was."""
        with pytest.raises(tuple(errors)):
            call()

    def pick(self, index: int, wanted: str) -> int:
        """A redemption in one of the ``wanted`` states if there is one, else any."""
        pool = [rid for rid, r in self.model.redemptions.items() if r.status in wanted.split()]
        pool = sorted(pool or self.model.redemptions)
        return pool[index % len(pool)]

    def has_redemptions(self) -> bool:
        return bool(self.model.redemptions)

    # --- rules -------------------------------------------------------------------------------

    @rule(
        participant=st.sampled_from(sorted(PARTICIPANTS)),
        sku=st.sampled_from(["CARD", "CARD", "PASS", "PASS", "TOY"]),
        actor=st.sampled_from([RECORDER, CLIN_A, CLIN_B, ADMIN]),
        key=st.sampled_from([None, None, None, "k1", "k2"]),
    )
    def request(self, participant: str, sku: str, actor: str, key: str | None) -> None:
        trial = self.trial()
        program = PARTICIPANTS[participant]
        cost = ITEMS[sku][0]
        earlier = trial.keys.get((program, key)) if key is not None else None
        if earlier is not None:
            if earlier[:2] != (participant, sku):
                self.refused({IdempotencyConflict}, lambda: self.clinic.request_redemption(
                    participant, sku, actor=actor, key=key))  # fmt: skip
                return
            replay = self.clinic.request_redemption(participant, sku, actor=actor, key=key)
            assert (replay.replayed, replay.redemption.id) == (True, earlier[2])
            self.model = trial  # the replay wrote nothing itself, but its unit of work expired
            return
        errors: Errors = set()
        if cost == 0:
            errors.add(InvalidTransition)
        elif trial.available[participant] < cost:
            errors.add(InsufficientPoints)
        if trial.stock[sku] == 0:
            errors.add(OutOfStock)
        if errors:
            self.refused(errors, lambda: self.clinic.request_redemption(
                participant, sku, actor=actor, key=key))  # fmt: skip
            return
        result = self.clinic.request_redemption(participant, sku, actor=actor, key=key)
        rid = len(trial.redemptions) + 1
        got = result.redemption
        assert (got.id, got.participant, got.sku, got.cost, str(got.status)) == (
            rid, participant, sku, cost, "requested",
        )  # fmt: skip
        assert result.replayed is False
        trial.redemptions[rid] = ModelRedemption(
            participant, sku, cost, "requested", self.clock.now, actor
        )
        trial.available[participant] -= cost
        if trial.stock[sku] is not None:
            trial.stock[sku] = (trial.stock[sku] or 0) - 1
        if key is not None:
            trial.keys[program, key] = (participant, sku, rid)
        assert result.balance.held_points == trial.held(participant)
        assert result.balance.available_points == trial.available[participant]
        self.model = trial

    @precondition(has_redemptions)
    @rule(index=st.integers(0, 100), actor=ACTORS, want=WANTS)
    def approve(self, index: int, actor: str, want: bool) -> None:
        rid = self.pick(index, "requested" if want else "")
        trial = self.trial()
        r = trial.redemptions[rid]
        errors: Errors = set()
        if actor not in CLINICIANS:
            errors.add(PermissionDenied)
        if r.status != "requested":
            errors.add(InvalidTransition)
        if errors:
            self.refused(errors, lambda: self.clinic.approve_redemption(rid, actor=actor))
            return
        result = self.clinic.approve_redemption(rid, actor=actor)
        assert (str(result.redemption.status), result.redemption.approved_by) == (
            "approved",
            actor,
        )
        r.status, r.approved_by = "approved", actor
        self.model = trial

    @precondition(has_redemptions)
    @rule(index=st.integers(0, 100), actor=ACTORS, want=WANTS)
    def fulfil(self, index: int, actor: str, want: bool) -> None:
        rid = self.pick(index, "requested approved" if want else "")
        trial = self.trial()
        r = trial.redemptions[rid]
        rules = PROGRAMS[r.program]
        errors: Errors = set()
        if actor not in CLINICIANS:
            errors.add(PermissionDenied)
        ready = r.status == "approved" or (
            r.status == "requested" and not rules["require_approval"]
        )
        if not ready:
            errors.add(InvalidTransition)
        if rules["separate_duties"] and actor in (r.requested_by, r.approved_by):
            errors.add(PermissionDenied)
        if errors:
            self.refused(errors, lambda: self.clinic.fulfil_redemption(rid, actor=actor))
            return
        result = self.clinic.fulfil_redemption(rid, actor=actor, note=f"r{rid}", cost_cents=rid)
        done = result.redemption
        assert (str(done.status), done.fulfilled_by, done.note, done.actual_cost_cents) == (
            "fulfilled", actor, f"r{rid}", rid,
        )  # fmt: skip
        r.status = "fulfilled"
        self.model = trial

    @precondition(has_redemptions)
    @rule(index=st.integers(0, 100), actor=ACTORS, want=WANTS)
    def cancel(self, index: int, actor: str, want: bool) -> None:
        rid = self.pick(index, "requested approved" if want else "")
        trial = self.trial()
        r = trial.redemptions[rid]
        errors: Errors = set()
        if actor not in CLINICIANS:
            errors.add(PermissionDenied)
        if not r.is_open:
            errors.add(InvalidTransition)
        if errors:
            self.refused(errors, lambda: self.clinic.cancel_redemption(
                rid, reason="declined", actor=actor))  # fmt: skip
            return
        result = self.clinic.cancel_redemption(rid, reason="declined", actor=actor)
        assert str(result.redemption.status) == "cancelled"
        trial.close(rid, "cancelled", returned=True)
        self.model = trial

    @rule(steps=st.integers(1, 150))
    def advance_clock(self, steps: int) -> None:
        self.clock.advance(minutes=7 * steps)

    @rule(actor=st.sampled_from(STAFF))
    def expire(self, actor: str) -> None:
        trial = copy.deepcopy(self.model)
        expected = trial.expire(self.clock.now)
        expired = self.clinic.expire(actor=actor)
        assert [(r.id, str(r.status), r.closed_by) for r in expired] == [
            (rid, "cancelled", actor) for rid in expected
        ]
        self.model = trial

    def has_spends(self) -> bool:
        return any(r.status in ("fulfilled", "reversed") for r in self.model.redemptions.values())

    @precondition(has_spends)
    @rule(
        index=st.integers(0, 100),
        returned=st.booleans(),
        actor=st.sampled_from([ADMIN, ADMIN, CLIN_A]),
        want=WANTS,
    )
    def reverse_spend(self, index: int, returned: bool, actor: str, want: bool) -> None:
        spent = [rid for rid, r in self.model.redemptions.items() if r.status == "fulfilled"]
        if not (want and spent):
            spent += [rid for rid, r in self.model.redemptions.items() if r.status == "reversed"]
        rid = sorted(spent)[index % len(spent)]
        with self.clinic._store.read() as tx:
            (spend,) = [
                t.id
                for t in tx.transfers()
                if t.cause == f"redemption:{rid}" and str(t.kind) == "spend"
            ]
        trial = self.trial()
        errors: Errors = set()
        if actor != ADMIN:
            errors.add(PermissionDenied)
        if trial.redemptions[rid].status == "reversed":
            errors.add(InvalidTransition)
        if errors:
            self.refused(errors, lambda: self.clinic.reverse(
                spend, reason="undo", actor=actor, returned=returned))  # fmt: skip
            return
        result = self.clinic.reverse(spend, reason="undo", actor=actor, returned=returned)
        assert (str(result.transfer.kind), result.transfer.reverses) == ("reversal", spend)
        trial.close(rid, "reversed", returned=returned)
        self.model = trial

    @rule()
    def win_prizes(self) -> None:
        self.visits += 1
        at = visit(self.visits - 1)
        assert at <= self.clock.now
        trial = self.trial()
        # A day apart: each its own visit, and each owed (a visit a day, 12 weeks).
        result = self.clinic.record(
            "C", "attend", "met", at=at, actor=RECORDER, visit=f"visit-{self.visits}"
        )
        assert result.award.draws == 2
        for prize in result.prizes:
            assert prize.id not in trial.prizes
            trial.prizes[prize.id] = (prize.category, "owed")
        self.model = trial

    def has_prizes(self) -> bool:
        return bool(self.model.prizes)

    @precondition(has_prizes)
    @rule(
        index=st.integers(0, 100),
        sku=st.sampled_from(["match", "match", "match", "TOY", "BIG", "CARD"]),
        actor=st.sampled_from([CLIN_A, CLIN_B, CLIN_A, RECORDER]),
        want=WANTS,
    )
    def fulfil_prize(self, index: int, sku: str, actor: str, want: bool) -> None:
        owed = sorted(i for i, (_, status) in self.model.prizes.items() if status == "owed")
        pool = owed if want and owed else sorted(self.model.prizes)
        prize_id = pool[index % len(pool)]
        trial = self.trial()
        category, status = trial.prizes[prize_id]
        if sku == "match":
            sku = {"small": "TOY", "large": "BIG"}[category]
        errors: Errors = set()
        if actor not in CLINICIANS:
            errors.add(PermissionDenied)
        if status != "owed" or ITEMS[sku][2] != category:
            errors.add(InvalidTransition)
        if trial.stock[sku] == 0:
            errors.add(OutOfStock)
        if errors:
            self.refused(errors, lambda: self.clinic.fulfil_prize(prize_id, sku=sku, actor=actor))
            return
        handed = self.clinic.fulfil_prize(prize_id, sku=sku, actor=actor)
        assert (handed.id, handed.category, str(handed.status)) == (prize_id, category, "fulfilled")
        trial.prizes[prize_id] = (category, "fulfilled")
        if trial.stock[sku] is not None:
            trial.stock[sku] = (trial.stock[sku] or 0) - 1
        self.model = trial

    @rule(
        sku=st.sampled_from(["CARD", "TOY", "BIG"]),
        quantity=st.integers(1, 3),
        actor=st.sampled_from([ADMIN, ADMIN, CLIN_A]),
    )
    def restock(self, sku: str, quantity: int, actor: str) -> None:
        trial = self.trial()
        if actor != ADMIN:
            self.refused(
                {PermissionDenied}, lambda: self.clinic.restock(sku, quantity, actor=actor)
            )
            return
        item = self.clinic.restock(sku, quantity, actor=actor)
        trial.stock[sku] = (trial.stock[sku] or 0) + quantity
        assert item.stock == trial.stock[sku]
        self.model = trial

    @rule(participant=st.sampled_from(sorted(PARTICIPANTS)), points=st.integers(1, 60))
    def top_up(self, participant: str, points: int) -> None:
        trial = self.trial()
        result = self.clinic.adjust(participant, points, reason="top-up", actor=ADMIN)
        trial.available[participant] += points
        assert result.balance.available_points == trial.available[participant]
        self.model = trial

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def balances_match_open_redemptions(self) -> None:
        stored = self.clinic.redemptions()
        open_cost: dict[str, int] = defaultdict(int)
        for r in stored:
            if r.status.is_open:
                open_cost[r.participant] += r.cost
        for participant in PARTICIPANTS:
            balance = self.clinic.balance(participant)
            assert balance.held_points == open_cost[participant] == self.model.held(participant)
            assert balance.available_points == self.model.available[participant]
            assert balance.available_points >= 0

    @invariant()
    def statuses_match_the_model(self) -> None:
        stored = {r.id: str(r.status) for r in self.clinic.redemptions()}
        assert stored == {rid: r.status for rid, r in self.model.redemptions.items()}
        prizes = {p.id: (p.category, str(p.status)) for p in self.clinic.prizes("C")}
        assert prizes == self.model.prizes

    @invariant()
    def stock_matches_the_model(self) -> None:
        stock = {item.sku: item.stock for item in self.clinic.items()}
        assert stock == self.model.stock
        assert all(units is None or units >= 0 for units in stock.values())

    @invariant()
    def each_redemption_resolved_at_most_once(self) -> None:
        with self.clinic._store.read() as tx:
            transfers = tx.transfers()
        caused: dict[int, list[str]] = defaultdict(list)
        for t in transfers:
            if t.cause and t.cause.startswith("redemption:"):
                caused[int(t.cause.removeprefix("redemption:"))].append(str(t.kind))
        for rid, r in self.model.redemptions.items():
            assert (rid, caused[rid]) == (rid, EXPECTED_TRANSFERS[r.status])

    @invariant()
    def verifies_every_few_steps(self) -> None:
        self.checks += 1
        if self.checks % 6 == 0:
            report = self.clinic.verify()
            assert report.problems == ()
            assert report.ok


TestRedemptionMachineMemory, TestRedemptionMachineSQLite, TestRedemptionMachinePostgres = (
    on_every_store(RedemptionMachine, steps=50, examples=30, postgres_examples=25)
)
