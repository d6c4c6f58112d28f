"""The in-memory store: the reference adapter, and the default for ``cmrewards.open()``.

A unit of work edits a copy of the state and swaps it in on success, so a
refused request leaves nothing behind, exactly as a rolled-back transaction.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import attrs

from ..domain.journal import JournalEntry
from ..domain.ledger import AccountKey, Transfer, balance_changes
from ..domain.programs import Program
from ..domain.records import (
    IdempotencyRecord,
    OutcomeRecord,
    Participant,
    Prize,
    PrizeStatus,
    Status,
)
from ..domain.redemption import CatalogItem, PrizeFulfilment, PrizeTrade, Redemption, StockMovement
from ..domain.schedules import ScheduleState
from ..domain.staff import Staff
from ..errors import IntegrityError
from .port import StateKey, Tx

K = TypeVar("K")
V = TypeVar("V")


@attrs.define
class _State:
    staff: dict[str, Staff] = attrs.Factory(dict)
    programs: dict[str, Program] = attrs.Factory(dict)
    origins: dict[str, tuple[dt.datetime, str]] = attrs.Factory(dict)
    participants: dict[str, Participant] = attrs.Factory(dict)
    outcomes: list[OutcomeRecord] = attrs.Factory(list)
    states: dict[StateKey, ScheduleState] = attrs.Factory(dict)
    transfers: list[Transfer] = attrs.Factory(list)
    reversals: dict[int, Transfer] = attrs.Factory(dict)
    balances: dict[AccountKey, int] = attrs.Factory(dict)
    keys: dict[tuple[str, str], IdempotencyRecord] = attrs.Factory(dict)
    prizes: list[Prize] = attrs.Factory(list)
    cap_usage: dict[tuple[str, str], int] = attrs.Factory(dict)
    fulfilments: dict[int, PrizeFulfilment] = attrs.Factory(dict)
    trades: dict[int, PrizeTrade] = attrs.Factory(dict)
    catalog: dict[str, CatalogItem] = attrs.Factory(dict)
    movements: list[StockMovement] = attrs.Factory(list)
    redemptions: dict[int, Redemption] = attrs.Factory(dict)
    journal: list[JournalEntry] = attrs.Factory(list)
    unique: dict[str, set[object]] = attrs.Factory(dict)
    """The keys a database would hold UNIQUE: outcome and transfer ids, prize draws."""

    def copy(self) -> _State:
        # Records are frozen, so copying the containers is enough.
        return _State(
            staff=dict(self.staff),
            programs=dict(self.programs),
            origins=dict(self.origins),
            participants=dict(self.participants),
            outcomes=list(self.outcomes),
            states=dict(self.states),
            transfers=list(self.transfers),
            reversals=dict(self.reversals),
            balances=dict(self.balances),
            keys=dict(self.keys),
            prizes=list(self.prizes),
            cap_usage=dict(self.cap_usage),
            fulfilments=dict(self.fulfilments),
            trades=dict(self.trades),
            catalog=dict(self.catalog),
            movements=list(self.movements),
            redemptions=dict(self.redemptions),
            journal=list(self.journal),
            unique={name: set(keys) for name, keys in self.unique.items()},
        )

    def claim(self, what: str, key: object) -> None:
        keys = self.unique.setdefault(what, set())
        if key in keys:
            raise IntegrityError(
                f":memory: refused by the database's own checks (duplicate {what})"
            )
        keys.add(key)


class MemoryTx(Tx):
    def __init__(self, state: _State) -> None:
        self._s = state

    def staff(self, staff_id: str) -> Staff | None:
        return self._s.staff.get(staff_id)

    def all_staff(self) -> list[Staff]:
        return sorted(self._s.staff.values(), key=lambda s: s.id)

    def add_staff(self, staff: Staff) -> None:
        _insert(self._s.staff, staff.id, staff, "staff")

    def set_staff_active(self, staff_id: str, active: bool) -> None:
        self._s.staff[staff_id] = attrs.evolve(self._s.staff[staff_id], active=active)

    def program(self, program_id: str) -> Program | None:
        return self._s.programs.get(program_id)

    def programs(self) -> list[Program]:
        return sorted(self._s.programs.values(), key=lambda p: p.id)

    def add_program(self, program: Program, added_at: dt.datetime, added_by: str) -> None:
        _insert(self._s.programs, program.id, program, "program")
        self._s.origins[program.id] = (added_at, added_by)

    def program_origins(self) -> dict[str, tuple[dt.datetime, str]]:
        return dict(self._s.origins)

    def participant(self, participant_id: str) -> Participant | None:
        return self._s.participants.get(participant_id)

    def participants(self) -> list[Participant]:
        return sorted(self._s.participants.values(), key=lambda p: p.id)

    def add_participant(self, participant: Participant) -> None:
        _insert(self._s.participants, participant.id, participant, "participant")

    def set_participant_status(self, participant_id: str, status: Status) -> None:
        current = self._s.participants[participant_id]
        self._s.participants[participant_id] = attrs.evolve(current, status=status)

    def last_outcome(self) -> OutcomeRecord | None:
        return self._s.outcomes[-1] if self._s.outcomes else None

    def last_outcome_for(self, participant: str, target: str) -> OutcomeRecord | None:
        for record in reversed(self._s.outcomes):
            if record.participant == participant and record.target == target:
                return record
        return None

    def outcomes(self, participant: str | None = None) -> list[OutcomeRecord]:
        return [o for o in self._s.outcomes if participant in (None, o.participant)]

    def outcomes_at(self, participant: str, occurred_at: dt.datetime) -> list[OutcomeRecord]:
        return [
            o
            for o in self._s.outcomes
            if o.participant == participant and o.occurred_at == occurred_at
        ]

    def append_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        for record in records:
            self._s.claim("outcome id", record.id)
            self._s.outcomes.append(record)

    def schedule_state(self, participant: str, target: str) -> ScheduleState | None:
        return self._s.states.get((participant, target))

    def schedule_states(self) -> dict[StateKey, ScheduleState]:
        return dict(self._s.states)

    def put_schedule_states(self, states: Sequence[tuple[StateKey, ScheduleState]]) -> None:
        self._s.states.update(states)

    def last_transfer(self) -> Transfer | None:
        return self._s.transfers[-1] if self._s.transfers else None

    def transfer(self, transfer_id: int) -> Transfer | None:
        index = transfer_id - 1
        if 0 <= index < len(self._s.transfers) and self._s.transfers[index].id == transfer_id:
            return self._s.transfers[index]
        return next((t for t in self._s.transfers if t.id == transfer_id), None)

    def transfers(self, participant: str | None = None) -> list[Transfer]:
        return [t for t in self._s.transfers if participant in (None, t.participant)]

    def reversal_of(self, transfer_id: int) -> Transfer | None:
        return self._s.reversals.get(transfer_id)

    def append_transfers(self, transfers: Sequence[Transfer]) -> None:
        for transfer in transfers:
            self._s.claim("transfer id", transfer.id)
            if transfer.reverses is not None:
                _insert(self._s.reversals, transfer.reverses, transfer, "reversal of transfer")
            self._s.transfers.append(transfer)
            for account, change in balance_changes(transfer):
                self._s.balances[account] = self._s.balances.get(account, 0) + change

    def balance(self, program_id: str, account: str) -> int:
        return self._s.balances.get((program_id, account), 0)

    def balances(self) -> dict[AccountKey, int]:
        return dict(self._s.balances)

    def last_prize(self) -> Prize | None:
        return self._s.prizes[-1] if self._s.prizes else None

    def prizes(self, participant: str | None = None) -> list[Prize]:
        return [p for p in self._s.prizes if participant in (None, p.participant)]

    def add_prizes(self, prizes: Sequence[Prize]) -> None:
        for prize in prizes:
            self._s.claim("prize id", prize.id)
            if prize.outcome_id is not None:
                self._s.claim("prize draw", (prize.outcome_id, prize.draw))
            self._s.prizes.append(prize)

    def prize(self, prize_id: int) -> Prize | None:
        return next((p for p in self._s.prizes if p.id == prize_id), None)

    def fulfil_prize(self, fulfilment: PrizeFulfilment) -> None:
        _insert(self._s.fulfilments, fulfilment.prize_id, fulfilment, "prize fulfilment")
        self._move_on(fulfilment.prize_id, PrizeStatus.FULFILLED)

    def _move_on(self, prize_id: int, status: PrizeStatus) -> None:
        index = next(i for i, p in enumerate(self._s.prizes) if p.id == prize_id)
        prize = self._s.prizes[index]
        if prize.status is not PrizeStatus.OWED:
            raise IntegrityError(":memory: refused by the database's own checks (prize not owed)")
        self._s.prizes[index] = attrs.evolve(prize, status=status)

    def add_prize_trades(self, trades: Sequence[PrizeTrade]) -> None:
        for trade in trades:
            _insert(self._s.trades, trade.traded_prize, trade, "prize trade")
            self._move_on(trade.traded_prize, PrizeStatus.TRADED)

    def prize_trades(self) -> list[PrizeTrade]:
        return sorted(self._s.trades.values(), key=lambda t: t.traded_prize)

    def prize_fulfilments(self) -> list[PrizeFulfilment]:
        return sorted(self._s.fulfilments.values(), key=lambda f: f.prize_id)

    def item(self, sku: str) -> CatalogItem | None:
        return self._s.catalog.get(sku)

    def items(self) -> list[CatalogItem]:
        return sorted(self._s.catalog.values(), key=lambda i: i.sku)

    def add_item(self, item: CatalogItem) -> None:
        _insert(self._s.catalog, item.sku, item, "catalog item")

    def last_stock_movement(self) -> StockMovement | None:
        return self._s.movements[-1] if self._s.movements else None

    def stock_movements(self) -> list[StockMovement]:
        return list(self._s.movements)

    def add_stock_movements(self, movements: Sequence[StockMovement]) -> None:
        for movement in movements:
            self._s.claim("stock movement id", movement.id)
            item = self._s.catalog[movement.sku]
            stock = (item.stock or 0) + movement.change
            if stock < 0:
                raise IntegrityError(":memory: refused by the database's own checks (stock < 0)")
            self._s.catalog[movement.sku] = attrs.evolve(item, stock=stock)
            self._s.movements.append(movement)

    def redemption(self, redemption_id: int) -> Redemption | None:
        return self._s.redemptions.get(redemption_id)

    def redemptions(self, participant: str | None = None) -> list[Redemption]:
        return [
            r
            for _, r in sorted(self._s.redemptions.items())
            if participant in (None, r.participant)
        ]

    def open_redemptions(self, requested_before: dt.datetime) -> list[Redemption]:
        return [
            r for r in self.redemptions() if r.status.is_open and r.requested_at < requested_before
        ]

    def last_redemption(self) -> Redemption | None:
        return self._s.redemptions[max(self._s.redemptions)] if self._s.redemptions else None

    def add_redemption(self, redemption: Redemption) -> None:
        _insert(self._s.redemptions, redemption.id, redemption, "redemption")

    def update_redemption(self, redemption: Redemption) -> None:
        self._s.redemptions[redemption.id] = redemption

    def cap_usage(self, participant: str, period: str) -> int:
        return self._s.cap_usage.get((participant, period), 0)

    def cap_usages(self) -> dict[tuple[str, str], int]:
        return dict(self._s.cap_usage)

    def add_cap_usage(self, participant: str, period: str, cents: int) -> None:
        key = participant, period
        self._s.cap_usage[key] = self._s.cap_usage.get(key, 0) + cents

    def idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        return self._s.keys.get((scope, key))

    def idempotency_many(self, keys: Sequence[tuple[str, str]]) -> list[IdempotencyRecord]:
        return [self._s.keys[pair] for pair in dict.fromkeys(keys) if pair in self._s.keys]

    def last_journal_entry(self) -> JournalEntry | None:
        return self._s.journal[-1] if self._s.journal else None

    def journal(self) -> list[JournalEntry]:
        return list(self._s.journal)

    def append_journal(self, entries: Sequence[JournalEntry]) -> None:
        for entry in entries:
            self._s.claim("journal entry id", entry.id)
            self._s.journal.append(entry)

    def idempotency_records(self) -> list[IdempotencyRecord]:
        return [self._s.keys[k] for k in sorted(self._s.keys)]

    def remember(self, record: IdempotencyRecord) -> None:
        _insert(self._s.keys, (record.scope, record.key), record, "idempotency key")

    def remember_all(self, records: Sequence[IdempotencyRecord]) -> None:
        for record in records:
            self.remember(record)


def _insert(table: dict[K, V], key: K, value: V, what: str) -> None:
    # The uniqueness a database enforces with UNIQUE; the domain checks first,
    # so reaching this is a bug, refused as SQLite refuses it.
    if key in table:
        raise IntegrityError(f":memory: refused by the database's own checks (duplicate {what})")
    table[key] = value


class MemoryStore:
    """The reference store. Thread-safe; one writer at a time."""

    location = ":memory:"

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.RLock()

    @contextmanager
    def write(self) -> Iterator[MemoryTx]:
        with self._lock:
            draft = self._state.copy()
            yield MemoryTx(draft)
            self._state = draft

    @contextmanager
    def read(self) -> Iterator[MemoryTx]:
        with self._lock:
            yield MemoryTx(self._state.copy())

    def integrity_problems(self) -> list[str]:
        return []

    def close(self) -> None:
        pass
