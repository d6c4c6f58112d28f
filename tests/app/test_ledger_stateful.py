"""A stateful property test of the ledger: a real ``Clinic`` beside a tiny model.

Hypothesis drives records (late ones too, and results for a visit already recorded),
corrections, voids, adjustments, reversals, idempotent replays, key conflicts and bad
requests in random order; after every step the clinic must agree with the model on
every balance and every transfer (settlements included), the ledger must sum to zero,
no transfer may change or disappear, and ``verify`` must pass. The model settles by
its own replay: each outcome's award under the corrected history in clinical order,
less what it was paid; what ``available`` cannot cover is written off. A settlement takes
back no more than an outcome still gives, and a reversal gives back no more (what an admin
reversed is already given back; a settlement's take-back is not reversed).
Every refused request must leave the database exactly as it was (compared as
a raw dump of every table, read past the library).

The machine runs on each store: memory, a SQLite file and a PostgreSQL database
(``LedgerMachineMemory``, ``LedgerMachineSQLite``, ``LedgerMachinePostgres``), under the
protocol calendar (docs/design.md section 3.8: a sample beyond the three a week owes and a
result after week 12 pay nothing and leave the schedule alone), and on memory under the
legacy rules of a program stored before the calendar (``TestLegacyLedgerMemory``).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import cmrewards
from cmrewards import (
    AlreadyExists,
    CorrectionResult,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    InvalidTransition,
    NotFound,
    Outcome,
    PermissionDenied,
    RecordResult,
    TransferResult,
)
from cmrewards.domain.ledger import Movement
from cmrewards.domain.schedules import ScheduleState, advance
from support.clinics import available_now, database_location, on_every_store
from support.stored_tables import open_tables

PROGRAM = "higgins-vbrt"
TARGET = "stimulant-negative"
ADMIN = "admin-1"
PARTICIPANTS = ("P1", "P2", "P3")
START = dt.date(2027, 1, 4)
FIRST_VISIT = dt.datetime(2027, 1, 4, 8, tzinfo=dt.UTC)
NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
"""The clinic's clock; every clinical time the machine uses is earlier."""
LAST_VISIT = NOW - dt.timedelta(hours=1)
FUNDING = "funding"

Result = RecordResult | TransferResult | CorrectionResult


def available(participant: str) -> str:
    return f"available:{participant}"


@attrs.frozen
class ModelTransfer:
    """What the model expects the ledger to hold, row by row."""

    id: int
    kind: str
    from_account: str
    to_account: str
    amount: int
    participant: str
    reverses: int | None
    outcome: int | None = attrs.field(default=None, eq=False)
    """The outcome an award, bonus or settlement take-back is for: the model's own note."""


@attrs.define
class ModelOutcome:
    """One recorded outcome as the model holds it."""

    id: int
    participant: str
    at: dt.datetime
    outcome: Outcome | None
    """The effective outcome; None once voided."""
    award: int = 0
    """Award points credited for it."""
    bonus: int = 0
    taken: int = 0
    """Taken back or written off."""
    reversed: int = 0
    """Of its award and bonus, what an admin reversed (already given back)."""

    @property
    def paid(self) -> int:
        return self.award + self.bonus - self.taken

    @property
    def standing(self) -> int:
        """What it still gives: a settlement takes back no more, a reversal gives back no
        more (docs/decisions.md, "Reversals stay outside")."""
        return max(self.paid - self.reversed, 0)


@attrs.frozen
class Keyed:
    """A request made with a key, to repeat later, and what it returned."""

    key: str
    again: Callable[[], Result]
    result: Result


class LedgerMachine(RuleBasedStateMachine):
    """The machine on the kind of store ``STORE`` names; a subclass per kind runs it."""

    STORE: ClassVar[str]
    CALENDAR: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self.exits = ExitStack()
        try:
            folder = Path(self.exits.enter_context(tempfile.TemporaryDirectory()))
            location = self.exits.enter_context(database_location(self.STORE, folder))
            self.clinic = cmrewards.open(location, clock=lambda: NOW)
            self.exits.callback(self.clinic.close)
            self.tables = open_tables(self.clinic, location)
            self.exits.callback(self.tables.close)
            self.clinic.init(ADMIN)
            program = cmrewards.load_preset(PROGRAM)
            if not self.CALENDAR:
                legacy = program.to_dict() | {"calendar": False}
                program = cmrewards.program_from_dict(legacy, "legacy")
            self.clinic.add_program(program, actor=ADMIN)
            for participant in PARTICIPANTS:
                self.clinic.enroll(participant, PROGRAM, start=START, actor=ADMIN)
        except BaseException:
            self.exits.close()
            raise
        self.target = program.target(TARGET)
        self.weeks = program.weeks
        # The model.
        self.history: list[ModelOutcome] = []
        self.written_off = 0
        self.accounts: dict[str, int] = defaultdict(int)
        self.transfers: list[ModelTransfer] = []
        self.reversed: set[int] = set()
        self.time = FIRST_VISIT
        self.keyed: list[Keyed] = []
        self.keys_made = 0
        # What the clinic has shown so far.
        self.seen: list[dict[str, Any]] = []
        self.checks = 0

    def teardown(self) -> None:
        self.exits.close()

    # --- model helpers --------------------------------------------------------

    def new_key(self, keyed: bool) -> str | None:
        if not keyed:
            return None
        self.keys_made += 1
        return f"KEY-{self.keys_made}"

    def apply(
        self,
        kind: Movement,
        source: str,
        sink: str,
        amount: int,
        person: str,
        reverses: int | None = None,
        outcome: int | None = None,
    ) -> int:
        """Append the transfer the model expects; its id."""
        transfer = ModelTransfer(
            id=len(self.transfers) + 1,
            kind=str(kind),
            from_account=source,
            to_account=sink,
            amount=amount,
            participant=person,
            reverses=reverses,
            outcome=outcome,
        )
        self.transfers.append(transfer)
        self.accounts[source] -= amount
        self.accounts[sink] += amount
        return transfer.id

    def replayed(self, participant: str) -> dict[int, tuple[int, int, bool, bool]]:
        """(points, bonus, reset, recovered) of each of ``participant``'s living outcomes,
        replayed in clinical order from the start of the schedule. Under the calendar a
        result after the program's weeks or beyond ``per_week`` in its week earns nothing
        and leaves the schedule where it was."""
        state = ScheduleState()
        earned = {}
        in_week: Counter[int] = Counter()
        living = [o for o in self.history if o.participant == participant and o.outcome]
        for o in sorted(living, key=lambda o: (o.at, o.id)):
            assert o.outcome is not None
            week = (o.at.date() - START).days // 7 + 1
            in_week[week] += 1
            if self.CALENDAR and (week > self.weeks or in_week[week] > self.target.per_week):
                earned[o.id] = (0, 0, False, False)
                continue
            step = advance(
                self.target.schedule, state, o.outcome, reset_on=self.target.reset_on, week=week
            )
            earned[o.id] = (step.amount, step.bonus, step.reset, step.recovered)
            state = step.state
        return earned

    def settle(
        self, participant: str, before: dict[int, tuple[int, int, bool, bool]], own: int | None
    ) -> int:
        """Pay or take back what the write changed, in clinical order; the points written off."""
        after = self.replayed(participant)
        changed = [
            o
            for o in sorted(self.history, key=lambda o: (o.at, o.id))
            if (
                o.participant == participant
                and before.get(o.id, (0, 0))[:2] != after.get(o.id, (0, 0))[:2]
            )
            or o.id == own
        ]
        written_off = 0
        for o in changed:
            points, bonus = after.get(o.id, (0, 0, False, False))[:2]
            delta = points + bonus - o.paid
            if delta > 0:
                extra_bonus = min(delta, max(bonus - o.bonus, 0))
                for kind, amount in (
                    (Movement.AWARD, delta - extra_bonus),
                    (Movement.BONUS, extra_bonus),
                ):
                    if amount:
                        self.apply(
                            kind, FUNDING, available(participant), amount, participant,
                            outcome=o.id,
                        )  # fmt: skip
                o.award += delta - extra_bonus
                o.bonus += extra_bonus
            elif delta < 0:
                # What a reversal already gave back is not taken back again.
                take = min(-delta, o.standing)
                taken = min(self.accounts[available(participant)], take)
                if taken:
                    self.apply(
                        Movement.ADJUSTMENT_DOWN,
                        available(participant),
                        FUNDING,
                        taken,
                        participant,
                        outcome=o.id,
                    )
                if take < -delta:
                    event("settle: a reversal had already given it back")
                written_off += take - taken
                o.taken += take
        self.written_off += written_off
        return written_off

    def outcome(self, transfer: ModelTransfer) -> ModelOutcome:
        return next(o for o in self.history if o.id == transfer.outcome)

    def same_visit(self, participant: str, at: dt.datetime) -> ModelOutcome | None:
        """The living outcome of ``participant`` at the visit (clinical day, UTC) of ``at``."""
        for o in self.history:
            if o.participant == participant and o.outcome and o.at.date() == at.date():
                return o
        return None

    def refused(self, error: type[Exception], request: Callable[[], object]) -> None:
        """``request`` raises ``error`` and writes nothing at all."""
        before = self.tables.dump()
        with pytest.raises(error):
            request()
        assert self.tables.dump() == before

    def expected_reversal_error(self, transfer_id: int) -> type[Exception] | None:
        if not 1 <= transfer_id <= len(self.transfers):
            return NotFound
        original = self.transfers[transfer_id - 1]
        if transfer_id in self.reversed or original.kind == Movement.REVERSAL:
            return InvalidTransition
        if original.kind == Movement.ADJUSTMENT_DOWN and original.outcome is not None:
            return InvalidTransition  # a settlement's take-back: correct the outcome instead
        if original.outcome is not None and original.amount > self.outcome(original).standing:
            return InvalidTransition  # a settlement already took (some of) it back
        pays = original.to_account
        if pays != FUNDING and self.accounts[pays] < original.amount:
            return InsufficientPoints
        return None

    # --- rules ------------------------------------------------------------------

    @rule(
        participant=st.sampled_from(PARTICIPANTS),
        # Mostly negatives, so runs grow long enough for bonuses, resets and recovery.
        outcome=st.sampled_from([Outcome.MET] * 4 + list(Outcome)),
        gap_hours=st.integers(min_value=0, max_value=30),
        keyed=st.booleans(),
    )
    def record(self, participant: str, outcome: Outcome, gap_hours: int, keyed: bool) -> None:
        at = min(self.time + dt.timedelta(hours=gap_hours), LAST_VISIT)
        self.time = at
        self.record_at(participant, outcome, at, keyed)

    @rule(
        participant=st.sampled_from(PARTICIPANTS),
        outcome=st.sampled_from([Outcome.MET] * 4 + list(Outcome)),
        days=st.integers(min_value=1, max_value=40),
        keyed=st.booleans(),
    )
    def weeks_later(self, participant: str, outcome: Outcome, days: int, keyed: bool) -> None:
        """A result days or weeks later: past the program's last paid week, now and then."""
        at = min(self.time + dt.timedelta(days=days), LAST_VISIT)
        self.time = at
        self.record_at(participant, outcome, at, keyed)

    @rule(
        participant=st.sampled_from(PARTICIPANTS),
        outcome=st.sampled_from([Outcome.MET] * 3 + list(Outcome)),
        back_hours=st.integers(min_value=0, max_value=24 * 20),
        keyed=st.booleans(),
    )
    def late_result(self, participant: str, outcome: Outcome, back_hours: int, keyed: bool) -> None:
        """A result whose clinical time is earlier than the last one: settled in order."""
        at = max(self.time - dt.timedelta(hours=back_hours), FIRST_VISIT)
        self.record_at(participant, outcome, at, keyed)

    def record_at(self, participant: str, outcome: Outcome, at: dt.datetime, keyed: bool) -> None:
        key = self.new_key(keyed)

        def again() -> RecordResult:
            return self.clinic.record(participant, TARGET, outcome, actor=ADMIN, at=at, key=key)

        existing = self.same_visit(participant, at)
        if existing is not None and existing.outcome is not outcome:
            event("record: AlreadyExists")
            self.refused(AlreadyExists, again)
            return
        if existing is not None:
            event("record: same result for the visit")
            before = self.tables.dump()
            result = again()
            assert (result.replayed, result.outcome_id) == (True, existing.id)
            assert self.tables.dump() == before
            return
        before_replay = self.replayed(participant)
        result = again()
        new = ModelOutcome(len(self.history) + 1, participant, at, outcome)
        self.history.append(new)
        late = any(o.at > at for o in self.history if o.participant == participant)
        event(f"record: {'late' if late else 'in order'}")
        self.settle(participant, before_replay, own=new.id)
        points, bonus, reset, recovered = self.replayed(participant)[new.id]
        if self.CALENDAR and not result.award.paid:
            event("record: not paid under the calendar")
        expected = (new.id, points, bonus, reset, recovered, False)
        actual = (
            result.outcome_id,
            result.award.points,
            result.award.bonus_points,
            result.award.reset,
            result.award.recovered,
            result.replayed,
        )
        assert actual == expected
        assert result.balance.available_points == self.accounts[available(participant)]
        if key is not None:
            self.keyed.append(Keyed(key, again, result))

    @precondition(lambda self: bool(self.history))
    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        outcome=st.sampled_from([None, *Outcome]),
        keyed=st.booleans(),
    )
    def correct(self, pick: int, outcome: Outcome | None, keyed: bool) -> None:
        """Correct (or, with None, void) a recorded outcome; the model settles the difference."""
        target = self.history[pick % len(self.history)]
        key = self.new_key(keyed)

        def again() -> CorrectionResult:
            if outcome is None:
                return self.clinic.void(target.id, reason="entered in error", actor=ADMIN, key=key)
            return self.clinic.correct(
                target.id, outcome, reason="lab corrected it", actor=ADMIN, key=key
            )

        if target.outcome is None or target.outcome is outcome:
            event("correct: InvalidTransition")
            self.refused(InvalidTransition, again)
            return
        before_replay = self.replayed(target.participant)
        result = again()
        target.outcome = outcome
        written_off = self.settle(target.participant, before_replay, own=None)
        event(f"correct: {'written off' if written_off else 'settled'}")
        assert result.settlement.written_off_points == written_off
        assert result.balance.available_points == self.accounts[available(target.participant)]
        if key is not None:
            self.keyed.append(Keyed(key, again, result))

    @precondition(lambda self: bool(self.history))
    @rule(pick=st.integers(min_value=0, max_value=10**6))
    def recorder_may_not_void(self, pick: int) -> None:
        target = self.history[pick % len(self.history)]
        self.refused(
            PermissionDenied,
            lambda: self.clinic.void(target.id, reason="no", actor="nobody"),
        )

    @rule(
        participant=st.sampled_from(PARTICIPANTS),
        points=st.integers(min_value=-120, max_value=-1) | st.integers(min_value=1, max_value=120),
        drain=st.booleans(),
        keyed=st.booleans(),
    )
    def adjust(self, participant: str, points: int, drain: bool, keyed: bool) -> None:
        """Add or remove points; ``drain`` removes exactly what is available."""
        have = self.accounts[available(participant)]
        if drain and have > 0:
            points = -have
        key = self.new_key(keyed)

        def again() -> TransferResult:
            return self.clinic.adjust(
                participant, points, reason="model adjustment", actor=ADMIN, key=key
            )

        if points < 0 and -points > have:
            event("adjust: InsufficientPoints")
            self.refused(InsufficientPoints, again)
            return
        result = again()
        if points > 0:
            tid = self.apply(
                Movement.ADJUSTMENT_UP, FUNDING, available(participant), points, participant
            )
        else:
            tid = self.apply(
                Movement.ADJUSTMENT_DOWN, available(participant), FUNDING, -points, participant
            )
        self.check_transfer(result, tid)
        assert result.balance.available_points == self.accounts[available(participant)]
        if key is not None:
            self.keyed.append(Keyed(key, again, result))

    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        bogus=st.sampled_from([None, None, None, None, 0, -1, 1, 7]),
        keyed=st.booleans(),
    )
    def reverse(self, pick: int, bogus: int | None, keyed: bool) -> None:
        if bogus is None and self.transfers:
            transfer_id = self.transfers[pick % len(self.transfers)].id
        elif bogus is not None and bogus <= 0:
            transfer_id = bogus  # not an id at all
        else:
            transfer_id = len(self.transfers) + (bogus or 1)  # past the end
        key = self.new_key(keyed)

        def again() -> TransferResult:
            return self.clinic.reverse(transfer_id, reason="model reversal", actor=ADMIN, key=key)

        error = self.expected_reversal_error(transfer_id)
        event(f"reverse: {'done' if error is None else error.__name__}")
        if error is not None:
            self.refused(error, again)
            return
        original = self.transfers[transfer_id - 1]
        result = again()
        tid = self.apply(
            Movement.REVERSAL,
            original.to_account,
            original.from_account,
            original.amount,
            original.participant,
            reverses=transfer_id,
        )
        self.reversed.add(transfer_id)
        if original.outcome is not None:
            self.outcome(original).reversed += original.amount
        self.check_transfer(result, tid)
        if key is not None:
            self.keyed.append(Keyed(key, again, result))

    @precondition(lambda self: bool(self.keyed))
    @rule(pick=st.integers(min_value=0, max_value=10**6))
    def replay(self, pick: int) -> None:
        earlier = self.keyed[pick % len(self.keyed)]
        before = self.tables.dump()
        result = earlier.again()
        assert result.replayed is True
        assert attrs.evolve(result, replayed=False) == earlier.result
        assert self.tables.dump() == before

    @precondition(lambda self: bool(self.keyed))
    @rule(
        pick=st.integers(min_value=0, max_value=10**6),
        kind=st.sampled_from(["record", "adjust", "reverse"]),
        participant=st.sampled_from(PARTICIPANTS),
    )
    def conflicting_replay(self, pick: int, kind: str, participant: str) -> None:
        key = self.keyed[pick % len(self.keyed)].key
        # No earlier request carried this note or these reasons, so each differs.
        requests: dict[str, Callable[[], object]] = {
            "record": lambda: self.clinic.record(
                participant, TARGET, "met", actor=ADMIN, at=self.time, key=key, note="other"
            ),
            "adjust": lambda: self.clinic.adjust(
                participant, 5, reason="other request", actor=ADMIN, key=key
            ),
            "reverse": lambda: self.clinic.reverse(
                self.transfers[pick % len(self.transfers)].id,
                reason="other request",
                actor=ADMIN,
                key=key,
            ),
        }
        if kind == "reverse" and not self.transfers:
            kind = "adjust"
        self.refused(IdempotencyConflict, requests[kind])

    @rule(
        bad=st.sampled_from(
            [
                "unknown participant",
                "bad outcome",
                "unknown target",
                "zero points",
                "adjust unknown participant",
                "naive time",
            ]
        ),
        participant=st.sampled_from(PARTICIPANTS),
        keyed=st.booleans(),
    )
    def bad_request(self, bad: str, participant: str, keyed: bool) -> None:
        key = self.new_key(keyed)
        at = self.time
        requests: dict[str, tuple[type[Exception], Callable[[], object]]] = {
            "unknown participant": (
                NotFound,
                lambda: self.clinic.record("P404", TARGET, "met", actor=ADMIN, at=at, key=key),
            ),
            "bad outcome": (
                InvalidInput,
                lambda: self.clinic.record(
                    participant, TARGET, "negative", actor=ADMIN, at=at, key=key
                ),
            ),
            "unknown target": (
                NotFound,
                lambda: self.clinic.record(
                    participant, "alcohol-negative", "met", actor=ADMIN, at=at, key=key
                ),
            ),
            "zero points": (
                InvalidInput,
                lambda: self.clinic.adjust(participant, 0, reason="zero", actor=ADMIN, key=key),
            ),
            "adjust unknown participant": (
                NotFound,
                lambda: self.clinic.adjust("P404", 5, reason="nobody", actor=ADMIN, key=key),
            ),
            "naive time": (
                InvalidInput,
                lambda: self.clinic.record(
                    participant, TARGET, "met", actor=ADMIN, at=at.replace(tzinfo=None), key=key
                ),
            ),
        }
        error, request = requests[bad]
        self.refused(error, request)

    def check_transfer(self, result: TransferResult, expected_id: int) -> None:
        expected = self.transfers[expected_id - 1]
        transfer = result.transfer
        actual = ModelTransfer(
            id=transfer.id,
            kind=str(transfer.kind),
            from_account=transfer.from_account,
            to_account=transfer.to_account,
            amount=transfer.amount,
            participant=transfer.participant or "",
            reverses=transfer.reverses,
        )
        assert actual == expected
        assert result.replayed is False

    # --- invariants ---------------------------------------------------------------

    @invariant()
    def balances_match_the_model(self) -> None:
        for participant in PARTICIPANTS:
            balance = self.clinic.balance(participant)
            expected = (self.accounts[available(participant)], 0)
            assert (balance.available_points, balance.held_points) == expected
            assert balance.points == balance.available_points
            assert balance.available_points >= 0

    @invariant()
    def ledger_sums_to_zero(self) -> None:
        derived: dict[str, int] = defaultdict(int)
        for t in self.tables.rows("transfers"):
            assert t["amount"] > 0
            derived[t["from_account"]] -= t["amount"]
            derived[t["to_account"]] += t["amount"]
        assert sum(derived.values()) == 0
        cached = {row["account"]: row["points"] for row in self.tables.rows("balances")}
        assert cached == dict(derived)
        participants = sum(self.clinic.balance(p).points for p in PARTICIPANTS)
        assert participants == -derived.get(FUNDING, 0) == -self.accounts[FUNDING]

    @invariant()
    def transfers_are_append_only_and_as_modelled(self) -> None:
        rows = self.tables.rows("transfers")
        assert rows[: len(self.seen)] == self.seen
        self.seen = rows
        stored = [
            ModelTransfer(
                id=t["id"],
                kind=t["kind"],
                from_account=t["from_account"],
                to_account=t["to_account"],
                amount=t["amount"],
                participant=t["participant"] or "",
                reverses=t["reverses"],
            )
            for t in rows
        ]
        assert stored == self.transfers

    @invariant()
    def verify_and_history_agree(self) -> None:
        self.checks += 1
        if self.checks % 4:
            return
        report = self.clinic.verify()
        assert report.problems == ()
        assert report.ok
        assert (report.outcomes, report.transfers) == (len(self.history), len(self.transfers))
        for participant in PARTICIPANTS:
            entries = self.clinic.history(participant)
            # Listed in clinical order; the balances add up to the balance now (available_now).
            assert [e.occurred_at for e in entries] == sorted(e.occurred_at for e in entries)
            assert available_now(entries) == self.accounts[available(participant)]


TestLedgerMemory, TestLedgerSQLite, TestLedgerPostgres = on_every_store(
    LedgerMachine, steps=30, examples=25, postgres_examples=20
)


class LegacyLedgerMachine(LedgerMachine):
    """The machine under a program stored before the calendar: every sample pays."""

    CALENDAR = False


TestLegacyLedgerMemory = on_every_store(
    LegacyLedgerMachine, steps=30, examples=25, postgres_examples=20
)[0]
