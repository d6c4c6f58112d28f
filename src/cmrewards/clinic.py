"""The facade other clinic software imports: one unit of work per call.

Each public method authorises the actor, validates its input, honours the
caller's idempotency key, and either writes everything it means to or nothing.
Methods take plain values and return frozen records (``results.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs

from . import ledger
from .bowl import draw
from .caps import cap_period, pay_within_cap
from .chain import canonical, position_after, sealed
from .clock import (
    Clock,
    local_date,
    parse_when,
    program_week,
    require_aware,
    system_clock,
    to_utc_text,
)
from .earning import earn, value_cents
from .errors import (
    AlreadyExists,
    CMRewardsError,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    InvalidTransition,
    NotFound,
    OutOfOrder,
)
from .importer import BadRow, ImportReport, ImportRow
from .ledger import Movement, Transfer
from .preview import TargetPreview, preview_target
from .programs import BowlCategory, Program
from .records import IdempotencyRecord, OutcomeRecord, Participant, Prize, Status
from .results import (
    Award,
    Balance,
    HistoryEntry,
    PrizeWon,
    RecordResult,
    TransferResult,
    VerifyReport,
)
from .schedules import Outcome, ScheduleState
from .serde import from_json, to_json
from .staff import Action, Role, Staff, authorise
from .store.port import Store, Tx
from .verify import verify_store

R = TypeVar("R")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MAX_TEXT = 500
_FUTURE_TOLERANCE = dt.timedelta(hours=1)
"""Terminals' clocks drift; a clinical time further ahead than this is a typo."""


def check_id(value: str, what: str) -> str:
    """Pseudonymous ids only: letters, digits, '.', '-', '_' (so no names with spaces)."""
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidInput(
            f"{what} {value!r} must be 1-64 letters, digits, '.', '-' or '_' (a pseudonymous id)"
        )
    return value


def check_text(value: str | None, what: str, *, required: bool = False) -> str | None:
    if value is None or not value.strip():
        if required:
            raise InvalidInput(f"{what} must not be empty")
        return None
    if len(value) > _MAX_TEXT or any(ord(c) < 32 and c not in "\t" for c in value):
        raise InvalidInput(f"{what} must be one line of at most {_MAX_TEXT} characters")
    return value


class Clinic:
    """One clinic's CM records. Not thread-safe: give each thread its own ``open()``."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = system_clock,
        seeds: Callable[[], int] = lambda: secrets.randbits(63),
    ) -> None:
        self._store = store
        self._clock = clock
        self._seeds = seeds

    @property
    def location(self) -> str:
        return self._store.location

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Clinic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- staff ---------------------------------------------------------------

    def init(self, admin: str) -> Staff:
        """Create the first admin of an empty database."""
        check_id(admin, "staff id")
        with self._store.write() as tx:
            if tx.all_staff():
                raise AlreadyExists(f"{self.location} already has staff; use 'staff add'")
            staff = Staff(admin, Role.ADMIN, active=True, added_at=self._clock(), added_by=None)
            tx.add_staff(staff)
            return staff

    def add_staff(self, staff_id: str, role: Role | str, *, actor: str) -> Staff:
        check_id(staff_id, "staff id")
        staff_role: Role = _enum(Role, role, "role")
        with self._store.write() as tx:
            self._authorise(tx, actor, Action.MANAGE_STAFF)
            if tx.staff(staff_id) is not None:
                raise AlreadyExists(f"staff member {staff_id!r} already exists")
            staff = Staff(staff_id, staff_role, active=True, added_at=self._clock(), added_by=actor)
            tx.add_staff(staff)
            return staff

    def deactivate_staff(self, staff_id: str, *, actor: str) -> Staff:
        """A staff member who leaves keeps their history but may no longer act."""
        with self._store.write() as tx:
            self._authorise(tx, actor, Action.MANAGE_STAFF)
            staff = tx.staff(staff_id)
            if staff is None:
                raise NotFound(f"no staff member {staff_id!r}")
            if staff_id == actor:
                raise InvalidTransition("staff members cannot deactivate themselves")
            tx.set_staff_active(staff_id, False)
            return attrs.evolve(staff, active=False)

    def staff(self) -> list[Staff]:
        with self._store.read() as tx:
            return tx.all_staff()

    # --- programs ------------------------------------------------------------

    def add_program(self, program: Program, *, actor: str) -> Program:
        """Store a program. Programs never change: a new version is a new id."""
        with self._store.write() as tx:
            self._authorise(tx, actor, Action.MANAGE_PROGRAMS)
            existing = tx.program(program.id)
            if existing is not None:
                raise AlreadyExists(
                    f"program {program.id!r} already exists and programs never change;"
                    f" add the new version under a new id (e.g. {program.id}-v2)"
                )
            tx.add_program(program, self._clock(), actor)
            return program

    def programs(self) -> list[Program]:
        with self._store.read() as tx:
            return tx.programs()

    def program(self, program_id: str) -> Program:
        with self._store.read() as tx:
            return _program(tx, program_id)

    # --- enrolment -----------------------------------------------------------

    def enroll(
        self, participant: str, program_id: str, *, start: dt.date | None = None, actor: str
    ) -> Participant:
        check_id(participant, "participant id")
        now = self._clock()
        with self._store.write() as tx:
            self._authorise(tx, actor, Action.ENROL)
            program = _program(tx, program_id)
            existing = tx.participant(participant)
            if existing is not None:
                raise AlreadyExists(
                    f"participant {participant!r} is already enrolled in {existing.program_id}"
                    f" ({existing.status}); a participant is enrolled once"
                )
            record = Participant(
                id=participant,
                program_id=program.id,
                start=start or local_date(now, program.timezone),
                status=Status.ACTIVE,
                enrolled_at=now,
                enrolled_by=actor,
            )
            tx.add_participant(record)
            return record

    def withdraw(self, participant: str, *, actor: str) -> Participant:
        return self._end_enrolment(participant, Status.WITHDRAWN, actor)

    def complete(self, participant: str, *, actor: str) -> Participant:
        return self._end_enrolment(participant, Status.COMPLETED, actor)

    def _end_enrolment(self, participant: str, status: Status, actor: str) -> Participant:
        with self._store.write() as tx:
            self._authorise(tx, actor, Action.ENROL)
            record = _participant(tx, participant)
            if record.status is not Status.ACTIVE:
                raise InvalidTransition(f"participant {participant!r} is already {record.status}")
            tx.set_participant_status(participant, status)
            return attrs.evolve(record, status=status)

    def participant(self, participant: str) -> Participant:
        with self._store.read() as tx:
            return _participant(tx, participant)

    def participants(self) -> list[Participant]:
        with self._store.read() as tx:
            return tx.participants()

    # --- outcomes ------------------------------------------------------------

    def record(
        self,
        participant: str,
        target: str,
        outcome: Outcome | str,
        *,
        actor: str,
        at: dt.datetime | None = None,
        key: str | None = None,
        note: str | None = None,
    ) -> RecordResult:
        """Record one verified outcome and pay what the schedule says."""
        result: Outcome = _enum(Outcome, outcome, "outcome")
        if at is not None:
            require_aware(at, "at")
        note = check_text(note, "note")
        request = _record_request(participant, target, result, at, note)
        with self._store.write() as tx:
            self._authorise(tx, actor, Action.RECORD)
            person = _participant(tx, participant)
            return self._idempotent(
                tx,
                person.program_id,
                key,
                request,
                lambda data: attrs.evolve(from_json(RecordResult, data), replayed=True),
                lambda: self._record(tx, person, target, result, at, actor, key, note),
            )

    def _record(
        self,
        tx: Tx,
        person: Participant,
        target_id: str,
        outcome: Outcome,
        at: dt.datetime | None,
        actor: str,
        key: str | None,
        note: str | None,
    ) -> RecordResult:
        now = self._clock()
        at = now if at is None else at
        program = _program(tx, person.program_id)
        target = program.target(target_id)
        self._check_recordable(tx, person, program, target_id, at, now)
        state = tx.schedule_state(person.id, target_id) or ScheduleState()
        week = program_week(person.start, at, program.timezone)
        visit = tx.outcomes_at(person.id, at) if target.requires else []
        earning = earn(target, state, outcome, week=week, visit=visit)

        seed = self._seeds() if earning.draws else None
        period = cap_period(program, person.start, at)
        remaining = None
        if program.cap_cents is not None:
            remaining = program.cap_cents - tx.cap_usage(person.id, period)
        slips = draw(program.bowl, seed, earning.draws) if seed is not None else []
        payout = pay_within_cap(program, remaining, earning.points, earning.bonus_points, slips)

        outcome_id, prev_hash = position_after(tx.last_outcome())
        record = sealed(
            OutcomeRecord(
                id=outcome_id,
                program_id=program.id,
                participant=person.id,
                target=target_id,
                outcome=outcome,
                occurred_at=at,
                recorded_at=now,
                actor=actor,
                key=key,
                note=note,
                seed=seed,
                prev_hash=prev_hash,
                hash="",
            )
        )
        tx.append_outcomes([record])
        tx.put_schedule_states([((person.id, target_id), earning.step.state)])
        cause = f"outcome:{outcome_id}"
        for movement, amount, reason in (
            (Movement.AWARD, payout.points, f"{target_id} met"),
            (Movement.BONUS, payout.bonus_points, f"{target_id} bonus"),
        ):
            if amount:
                self._transfer(
                    tx, program.id, movement, person.id, amount, actor, reason, cause, at
                )
        prizes = self._add_prizes(tx, program, person, outcome_id, payout.slips, at)
        if payout.value_cents:
            tx.add_cap_usage(person.id, period, payout.value_cents)
        award = Award(
            points=payout.points,
            bonus_points=payout.bonus_points,
            draws=earning.draws,
            value_cents=payout.value_cents,
            capped=payout.capped,
            reset=earning.step.reset,
            recovered=earning.step.recovered,
            paid=earning.paid,
            slips=tuple(slip.category for slip in payout.slips),
        )
        return RecordResult(
            outcome_id=outcome_id,
            participant=person.id,
            target=target_id,
            outcome=outcome,
            occurred_at=at,
            award=award,
            prizes=tuple(PrizeWon(p.id, p.category, p.value_cents) for p in prizes),
            balance=_balance(tx, person, program, now),
        )

    def _add_prizes(
        self,
        tx: Tx,
        program: Program,
        person: Participant,
        outcome_id: int,
        slips: tuple[BowlCategory, ...],
        at: dt.datetime,
    ) -> list[Prize]:
        """A prize owed for every winning slip ("good job" slips are worth nothing)."""
        last = tx.last_prize()
        next_id = 1 if last is None else last.id + 1
        prizes: list[Prize] = []
        for index, slip in enumerate(slips):
            if slip.value_cents:
                prizes.append(
                    Prize(
                        id=next_id + len(prizes),
                        program_id=program.id,
                        participant=person.id,
                        outcome_id=outcome_id,
                        draw=index,
                        category=slip.category,
                        value_cents=slip.value_cents,
                        won_at=at,
                    )
                )
        tx.add_prizes(prizes)
        return prizes

    def _check_recordable(
        self,
        tx: Tx,
        person: Participant,
        program: Program,
        target_id: str,
        at: dt.datetime,
        now: dt.datetime,
    ) -> None:
        if person.status is not Status.ACTIVE:
            raise InvalidTransition(
                f"participant {person.id!r} is {person.status}; outcomes are recorded only while"
                " active"
            )
        if at > now + _FUTURE_TOLERANCE:
            raise InvalidInput(f"at {to_utc_text(at)} is in the future")
        if local_date(at, program.timezone) < person.start:
            raise InvalidInput(
                f"at {to_utc_text(at)} is before {person.id}'s enrolment on {person.start}"
            )
        last = tx.last_outcome_for(person.id, target_id)
        if last is not None and at < last.occurred_at:
            raise OutOfOrder(
                f"{target_id} for {person.id} was last recorded at {to_utc_text(last.occurred_at)};"
                f" {to_utc_text(at)} is earlier (outcomes are recorded in time order)"
            )

    def preview(self, participant: str) -> list[TargetPreview]:
        """For each target: the streak, what a ``met`` pays next, what a reset returns to."""
        with self._store.read() as tx:
            person = _participant(tx, participant)
            program = _program(tx, person.program_id)
            week = max(program_week(person.start, self._clock(), program.timezone), 1)
            return [
                preview_target(
                    program, t, tx.schedule_state(person.id, t.id) or ScheduleState(), week
                )
                for t in program.targets
            ]

    def import_outcomes(
        self,
        rows: Iterable[ImportRow | BadRow],
        *,
        actor: str,
        chunk_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Record many outcomes in order, one transaction per chunk of rows.

        A row whose key was applied before is skipped as a replay. The first bad row
        stops the import: the rows before it are committed, and the report names its
        line. ``progress`` is told how many rows each committed chunk held.
        """
        if chunk_size < 1:
            raise InvalidInput("chunk size must be at least 1")
        pending = iter(rows)
        applied = replayed = 0
        while chunk := list(itertools.islice(pending, chunk_size)):
            failure: tuple[int, CMRewardsError] | None = None
            with self._store.write() as tx:
                self._authorise(tx, actor, Action.RECORD)
                for row in chunk:
                    try:
                        if self._import_row(tx, row, actor):
                            applied += 1
                        else:
                            replayed += 1
                    except CMRewardsError as error:
                        failure = (row.line, error)
                        break
            if progress is not None:
                progress(len(chunk))
            if failure is not None:
                line, refusal = failure
                return ImportReport(
                    rows=applied + replayed,
                    applied=applied,
                    replayed=replayed,
                    failed_line=line,
                    error=f"line {line}: {refusal}",
                    error_type=type(refusal).__name__,
                    exit_code=refusal.exit_code,
                )
        return ImportReport(rows=applied + replayed, applied=applied, replayed=replayed)

    def _import_row(self, tx: Tx, row: ImportRow | BadRow, actor: str) -> bool:
        """Apply one row; False when its key shows it was applied before."""
        if isinstance(row, BadRow):
            raise InvalidInput(row.problem)
        person = _participant(tx, row.participant)
        program = _program(tx, person.program_id)
        at = parse_when(row.at, program.timezone, "at")
        outcome: Outcome = _enum(Outcome, row.outcome, "outcome")
        note = check_text(row.note, "note")
        request = _record_request(row.participant, row.target, outcome, at, note)
        result = self._idempotent(
            tx,
            person.program_id,
            row.key,
            request,
            lambda _: None,
            lambda: self._record(tx, person, row.target, outcome, at, actor, row.key, note),
        )
        return result is not None

    # --- balances and corrections ---------------------------------------------

    def balance(self, participant: str) -> Balance:
        with self._store.read() as tx:
            person = _participant(tx, participant)
            return _balance(tx, person, _program(tx, person.program_id), self._clock())

    def history(self, participant: str) -> list[HistoryEntry]:
        """Outcomes and transfers in the order they were recorded, with running balances."""
        with self._store.read() as tx:
            person = _participant(tx, participant)
            outcomes = tx.outcomes(person.id)
            transfers = tx.transfers(person.id)
        events = _ledger_order(outcomes, transfers)
        available = held = 0
        entries = []
        for event in events:
            if isinstance(event, OutcomeRecord):
                entries.append(
                    HistoryEntry(
                        occurred_at=event.occurred_at,
                        recorded_at=event.recorded_at,
                        kind="outcome",
                        detail=f"{event.target}: {event.outcome}",
                        points=0,
                        available_points=available,
                        held_points=held,
                        ref=f"outcome:{event.id}",
                        actor=event.actor,
                    )
                )
                continue
            before = available + held
            available += _change(event, ledger.available(person.id))
            held += _change(event, ledger.held(person.id))
            entries.append(
                HistoryEntry(
                    occurred_at=event.occurred_at,
                    recorded_at=event.recorded_at,
                    kind=str(event.kind),
                    detail=event.reason,
                    points=available + held - before,
                    available_points=available,
                    held_points=held,
                    ref=f"transfer:{event.id}",
                    actor=event.actor,
                )
            )
        return entries

    def adjust(
        self, participant: str, points: int, *, reason: str, actor: str, key: str | None = None
    ) -> TransferResult:
        """Add (positive) or remove (negative) points by hand, with a reason."""
        if isinstance(points, bool) or not isinstance(points, int) or points == 0:
            raise InvalidInput("points must be a whole number other than 0, e.g. +20 or -15")
        reason_text = check_text(reason, "reason", required=True)
        assert reason_text is not None
        request = {"op": "adjust", "participant": participant, "points": points, "reason": reason}
        with self._store.write() as tx:
            self._authorise(tx, actor, Action.ADJUST)
            person = _participant(tx, participant)
            program = _program(tx, person.program_id)

            def adjust() -> TransferResult:
                movement = Movement.ADJUSTMENT_UP if points > 0 else Movement.ADJUSTMENT_DOWN
                if points < 0:
                    _require_available(tx, person, -points, "remove")
                transfer = self._transfer(
                    tx, program.id, movement, person.id, abs(points), actor, reason_text, None
                )
                return TransferResult(
                    transfer=transfer, balance=_balance(tx, person, program, self._clock())
                )

            return self._idempotent(tx, program.id, key, request, _replayed_transfer, adjust)

    def reverse(
        self, transfer_id: int, *, reason: str, actor: str, key: str | None = None
    ) -> TransferResult:
        """Undo one transfer with a mirror transfer; the original row is never touched."""
        reason_text = check_text(reason, "reason", required=True)
        assert reason_text is not None
        request = {"op": "reverse", "transfer": transfer_id, "reason": reason}
        with self._store.write() as tx:
            self._authorise(tx, actor, Action.REVERSE)
            original = tx.transfer(transfer_id)
            if original is None:
                raise NotFound(f"no transfer {transfer_id}")

            def reverse() -> TransferResult:
                self._check_reversible(tx, original)
                transfer = self._transfer(
                    tx,
                    original.program_id,
                    Movement.REVERSAL,
                    original.participant,
                    original.amount,
                    actor,
                    reason_text,
                    f"transfer:{original.id}",
                    accounts=(original.to_account, original.from_account),
                    reverses=original.id,
                )
                assert original.participant is not None
                person = _participant(tx, original.participant)
                program = _program(tx, person.program_id)
                if original.kind in (Movement.AWARD, Movement.BONUS):
                    # What was taken back no longer counts against the annual cap.
                    period = cap_period(program, person.start, original.occurred_at)
                    returned = value_cents(program, original.amount)
                    tx.add_cap_usage(person.id, period, -returned)
                return TransferResult(
                    transfer=transfer, balance=_balance(tx, person, program, self._clock())
                )

            return self._idempotent(
                tx, original.program_id, key, request, _replayed_transfer, reverse
            )

    def _check_reversible(self, tx: Tx, original: Transfer) -> None:
        earlier = tx.reversal_of(original.id)
        if earlier is not None:
            raise InvalidTransition(
                f"transfer {original.id} was already reversed by transfer {earlier.id}"
            )
        if original.kind is Movement.REVERSAL:
            raise InvalidTransition(
                f"transfer {original.id} is itself a reversal; use 'adjust' to correct it"
            )
        if original.kind in (Movement.HOLD, Movement.RELEASE):
            raise InvalidTransition(
                f"transfer {original.id} is a {original.kind}; cancel the redemption instead"
            )
        source = original.to_account
        if ledger.is_participant_account(source):
            have = tx.balance(original.program_id, source)
            if have < original.amount:
                raise InsufficientPoints(
                    f"reversing transfer {original.id} needs {original.amount} points in"
                    f" {source} but it holds {have}"
                )

    def verify(self) -> VerifyReport:
        """Recompute the hash chains, every balance and every schedule state."""
        with self._store.read() as tx:
            return verify_store(tx, self._store.integrity_problems())

    # --- the unit-of-work helpers ------------------------------------------------

    def _authorise(self, tx: Tx, actor: str, action: Action) -> Staff:
        return authorise(tx.staff(actor), actor, action)

    def _idempotent(
        self,
        tx: Tx,
        scope: str,
        key: str | None,
        request: dict[str, Any],
        replay: Callable[[Any], R],
        perform: Callable[[], R],
    ) -> R:
        """Run ``perform`` once per key: a repeat returns the stored result, writing nothing."""
        if key is None:
            return perform()
        check_text(key, "key", required=True)
        fingerprint = hashlib.sha256(canonical(request).encode()).hexdigest()
        earlier = tx.idempotency(scope, key)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise IdempotencyConflict(
                    f"key {key!r} was already used on {to_utc_text(earlier.created_at)}"
                    " for a different request; nothing was written"
                )
            return replay(earlier.result)
        result = perform()
        tx.remember(IdempotencyRecord(scope, key, fingerprint, to_json(result), self._clock()))
        return result

    def _transfer(
        self,
        tx: Tx,
        program_id: str,
        movement: Movement,
        participant: str | None,
        amount: int,
        actor: str,
        reason: str,
        cause: str | None,
        occurred_at: dt.datetime | None = None,
        *,
        accounts: tuple[str, str] | None = None,
        reverses: int | None = None,
    ) -> Transfer:
        if accounts is None:
            assert participant is not None
            accounts = ledger.route(movement, participant)
        now = self._clock()
        transfer_id, prev_hash = position_after(tx.last_transfer())
        transfer = sealed(
            Transfer(
                id=transfer_id,
                program_id=program_id,
                kind=movement,
                from_account=accounts[0],
                to_account=accounts[1],
                amount=amount,
                participant=participant,
                actor=actor,
                reason=reason,
                cause=cause,
                reverses=reverses,
                occurred_at=occurred_at or now,
                recorded_at=now,
                prev_hash=prev_hash,
                hash="",
            )
        )
        tx.append_transfers([transfer])
        return transfer


# --- small readers shared by the methods above ---------------------------------


def _record_request(
    participant: str, target: str, outcome: Outcome, at: dt.datetime | None, note: str | None
) -> dict[str, Any]:
    """A recording as its idempotency fingerprint sees it: as the caller gave it."""
    return {
        "op": "record",
        "participant": participant,
        "target": target,
        "outcome": str(outcome),
        "at": None if at is None else to_utc_text(at),
        "note": note,
    }


def _enum(kind: type[Any], value: Any, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(member) for member in kind)
        raise InvalidInput(f"{what} {value!r} is not one of {allowed}") from None


def _program(tx: Tx, program_id: str) -> Program:
    program = tx.program(program_id)
    if program is None:
        raise NotFound(f"no program {program_id!r}")
    return program


def _participant(tx: Tx, participant: str) -> Participant:
    record = tx.participant(participant)
    if record is None:
        raise NotFound(f"no participant {participant!r}")
    return record


def _balance(tx: Tx, person: Participant, program: Program, now: dt.datetime) -> Balance:
    available = tx.balance(program.id, ledger.available(person.id))
    held = tx.balance(program.id, ledger.held(person.id))
    cap_remaining = None
    if program.cap_cents is not None:
        used = tx.cap_usage(person.id, cap_period(program, person.start, now))
        cap_remaining = max(program.cap_cents - used, 0)
    return Balance(
        participant=person.id,
        program_id=program.id,
        points=available + held,
        held_points=held,
        available_points=available,
        value_cents=value_cents(program, available + held),
        cap_remaining_cents=cap_remaining,
    )


def _require_available(tx: Tx, person: Participant, points: int, doing: str) -> None:
    have = tx.balance(person.program_id, ledger.available(person.id))
    if have < points:
        raise InsufficientPoints(
            f"cannot {doing} {points} points: {person.id} has {have} available"
        )


def _change(transfer: Transfer, account: str) -> int:
    if transfer.to_account == account:
        return transfer.amount
    if transfer.from_account == account:
        return -transfer.amount
    return 0


def _ledger_order(
    outcomes: list[OutcomeRecord], transfers: list[Transfer]
) -> list[OutcomeRecord | Transfer]:
    """Outcomes and transfers merged in the order they were recorded.

    Transfers keep their ledger (id) order, so the running balance replays the
    ledger and never dips below zero; each outcome stands just before the
    transfers it caused.
    """
    merged: list[OutcomeRecord | Transfer] = []
    i = j = 0
    while i < len(outcomes) or j < len(transfers):
        if j == len(transfers):
            merged.append(outcomes[i])
            i += 1
            continue
        transfer = transfers[j]
        if i < len(outcomes):
            outcome = outcomes[i]
            caused_by = _outcome_id(transfer.cause)
            belongs_earlier = caused_by is not None and caused_by < outcome.id
            if not belongs_earlier and outcome.recorded_at <= transfer.recorded_at:
                merged.append(outcome)
                i += 1
                continue
        merged.append(transfer)
        j += 1
    return merged


def _outcome_id(cause: str | None) -> int | None:
    if cause is None or not cause.startswith("outcome:"):
        return None
    return int(cause.removeprefix("outcome:"))


def _replayed_transfer(data: Any) -> TransferResult:
    return attrs.evolve(from_json(TransferResult, data), replayed=True)


__all__ = ["Clinic"]
