"""The in-memory store: the reference adapter, and the default for ``cmrewards.open()``.

A unit of work writes the state in place and logs what each write replaced; a unit
that raises puts it all back, newest first, so a refused request leaves nothing
behind, exactly as a rolled-back transaction. A write therefore costs the same
however much the store holds. Every table is a dict (records by id, in the order
they were added), so each write and each undo is one dict operation.

One lock serialises units of work, so a read sees only committed state; the one
exception is a read opened inside an open write on the same thread, which is given
the state the write started from (a copy, as a second SQLite handle would see).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import attrs

from ..domain.chain import ChainLink, canonical, links_of
from ..domain.clock import to_utc_text
from ..domain.journal import JournalEntry
from ..domain.ledger import AccountKey, Transfer, balance_changes
from ..domain.programs import Program
from ..domain.records import (
    Correction,
    Episode,
    IdempotencyRecord,
    OutcomeRecord,
    Participant,
    Prize,
    PrizeStatus,
    PrizeWithdrawal,
    Status,
    StoredKey,
    WriteOff,
)
from ..domain.redemption import CatalogItem, PrizeFulfilment, PrizeTrade, Redemption, StockMovement
from ..domain.revisions import AnalyteRevision, awaiting_final, standing_readings
from ..domain.schedules import ScheduleState
from ..domain.sign_in import SignInEvent, SignInEventKind, StaffSecret
from ..domain.specimens import AnalyteResult
from ..domain.staff import Staff
from ..errors import IntegrityError
from .owner import Owner
from .port import StateKey, Tx

VisitKey = tuple[str, dt.datetime]
"""(participant, clinical time): aware times of the same instant are equal keys."""


@attrs.define
class _State:
    """Every table, keyed as the SQL schema keys it; records are frozen."""

    staff: dict[str, Staff] = attrs.Factory(dict)
    programs: dict[str, Program] = attrs.Factory(dict)
    origins: dict[str, tuple[dt.datetime, str]] = attrs.Factory(dict)
    participants: dict[str, Participant] = attrs.Factory(dict)
    past_episodes: dict[str, tuple[Episode, ...]] = attrs.Factory(dict)
    """Each person's episodes before the current one, by number."""
    outcomes: dict[int, OutcomeRecord] = attrs.Factory(dict)
    latest: dict[StateKey, OutcomeRecord] = attrs.Factory(dict)
    """Index: each target's latest outcome in clinical order."""
    visits: dict[VisitKey, tuple[OutcomeRecord, ...]] = attrs.Factory(dict)
    """Index: the outcomes of each visit, in recording order."""
    outcomes_of: dict[str, tuple[int, ...]] = attrs.Factory(dict)
    """Index: each participant's outcome ids, in order (a settlement replays them)."""
    states: dict[StateKey, ScheduleState] = attrs.Factory(dict)
    analyte_results: dict[int, AnalyteResult] = attrs.Factory(dict)
    specimens: dict[tuple[str, str], tuple[AnalyteResult, ...]] = attrs.Factory(dict)
    """Index: each (participant, specimen)'s results, in id order (one per analyte:
    UNIQUE in SQL)."""
    analyte_revisions: dict[int, AnalyteRevision] = attrs.Factory(dict)
    revised_specimens: dict[tuple[str, str], tuple[AnalyteRevision, ...]] = attrs.Factory(dict)
    """Index: each (participant, specimen)'s revisions, in id order."""
    transfers: dict[int, Transfer] = attrs.Factory(dict)
    reversals: dict[int, Transfer] = attrs.Factory(dict)
    """Index: each reversal by the transfer it reverses (UNIQUE in SQL)."""
    transfers_of: dict[str, tuple[int, ...]] = attrs.Factory(dict)
    """Index: each participant's transfer ids, in order."""
    balances: dict[AccountKey, int] = attrs.Factory(dict)
    cap_usage: dict[tuple[str, str], int] = attrs.Factory(dict)
    prizes: dict[int, Prize] = attrs.Factory(dict)
    draws: dict[tuple[int, int], int] = attrs.Factory(dict)
    """Index: each (outcome, draw) a prize was won on, to its prize id (UNIQUE in SQL)."""
    prizes_of: dict[str, tuple[int, ...]] = attrs.Factory(dict)
    """Index: each participant's prize ids, in order."""
    corrections: dict[int, Correction] = attrs.Factory(dict)
    write_offs: dict[int, WriteOff] = attrs.Factory(dict)
    withdrawals: dict[int, PrizeWithdrawal] = attrs.Factory(dict)
    fulfilments: dict[int, PrizeFulfilment] = attrs.Factory(dict)
    trades: dict[int, PrizeTrade] = attrs.Factory(dict)
    catalog: dict[str, CatalogItem] = attrs.Factory(dict)
    movements: dict[int, StockMovement] = attrs.Factory(dict)
    redemptions: dict[int, Redemption] = attrs.Factory(dict)
    open_redemptions: dict[int, Redemption] = attrs.Factory(dict)
    """Index: the redemptions still holding points (expiry reads them on every write)."""
    journal: dict[int, JournalEntry] = attrs.Factory(dict)
    keys: dict[tuple[str, str], IdempotencyRecord] = attrs.Factory(dict)
    secrets: dict[str, StaffSecret] = attrs.Factory(dict)
    sign_ins: dict[int, SignInEvent] = attrs.Factory(dict)

    def copy(self) -> _State:
        return _State(**{f.name: dict(getattr(self, f.name)) for f in attrs.fields(_State)})


Table = Literal[
    "staff",
    "programs",
    "origins",
    "participants",
    "past_episodes",
    "outcomes",
    "latest",
    "visits",
    "outcomes_of",
    "states",
    "analyte_results",
    "specimens",
    "analyte_revisions",
    "revised_specimens",
    "transfers",
    "reversals",
    "transfers_of",
    "balances",
    "cap_usage",
    "prizes",
    "draws",
    "prizes_of",
    "corrections",
    "write_offs",
    "withdrawals",
    "fulfilments",
    "trades",
    "catalog",
    "movements",
    "redemptions",
    "open_redemptions",
    "journal",
    "keys",
    "secrets",
    "sign_ins",
]
"""The name of a ``_State`` table."""

_ABSENT: Any = object()
"""What a key held before the write that added it."""


@attrs.frozen
class _Change:
    """One write, remembered as what it replaced."""

    table: Table
    key: Any
    before: Any
    """The value the write replaced, or ``_ABSENT``."""

    def undo(self, state: _State) -> None:
        rows: dict[Any, Any] = getattr(state, self.table)
        if self.before is _ABSENT:
            del rows[self.key]
        else:
            rows[self.key] = self.before


def _refused(what: str) -> IntegrityError:
    # The checks a database makes (UNIQUE, CHECK, triggers); the domain checks first,
    # so reaching one is a bug, refused as SQLite refuses it.
    return IntegrityError(f":memory: refused by the database's own checks ({what})")


class MemoryTx(Tx):
    """One unit of work on the state; ``log`` collects its undo, None for a read."""

    def __init__(self, state: _State, log: list[_Change] | None) -> None:
        self._s = state
        self._log = log

    def read_ahead(self, reads: Callable[[Tx], object]) -> None:
        """Nothing to gain: every read is a dictionary lookup already."""

    # --- the only ways a unit of work changes the state ----------------------------

    def _put(self, table: Table, key: Any, value: Any) -> None:
        if self._log is None:
            raise IntegrityError(":memory: a read cannot write")
        rows: dict[Any, Any] = getattr(self._s, table)
        self._log.append(_Change(table, key, rows.get(key, _ABSENT)))
        rows[key] = value

    def _drop(self, table: Table, key: Any) -> None:
        rows: dict[Any, Any] = getattr(self._s, table)
        if key in rows:
            if self._log is None:
                raise IntegrityError(":memory: a read cannot write")
            self._log.append(_Change(table, key, rows.pop(key)))

    def _insert(self, table: Table, key: Any, value: Any, what: str) -> None:
        """``_put`` a new key; an existing one is refused, as UNIQUE refuses it."""
        if key in getattr(self._s, table):
            raise _refused(f"duplicate {what}")
        self._put(table, key, value)

    def _add(self, table: Literal["balances", "cap_usage"], key: Any, amount: int) -> None:
        self._put(table, key, getattr(self._s, table).get(key, 0) + amount)

    def _index(
        self, table: Literal["outcomes_of", "transfers_of", "prizes_of"], key: str, row_id: int
    ) -> None:
        self._put(table, key, (*getattr(self._s, table).get(key, ()), row_id))

    # --- staff, programs, participants ----------------------------------------------

    def staff(self, staff_id: str) -> Staff | None:
        return self._s.staff.get(staff_id)

    def all_staff(self) -> list[Staff]:
        return sorted(self._s.staff.values(), key=lambda s: s.id)

    def add_staff(self, staff: Staff) -> None:
        self._insert("staff", staff.id, staff, "staff")

    def set_staff_active(self, staff_id: str, active: bool) -> None:
        self._put("staff", staff_id, attrs.evolve(self._s.staff[staff_id], active=active))

    def staff_secret(self, staff_id: str) -> StaffSecret | None:
        return self._s.secrets.get(staff_id)

    def staff_secrets(self) -> list[StaffSecret]:
        return sorted(self._s.secrets.values(), key=lambda s: s.staff_id)

    def put_staff_secret(self, secret: StaffSecret) -> None:
        if secret.staff_id not in self._s.staff or secret.set_by not in self._s.staff:
            raise _refused("a passphrase of a staff member who does not exist")
        self._put("secrets", secret.staff_id, secret)

    def last_sign_in(self) -> SignInEvent | None:
        return next(reversed(self._s.sign_ins.values()), None)

    def sign_ins(self, staff_id: str | None = None) -> list[SignInEvent]:
        return [e for e in self._s.sign_ins.values() if staff_id in (None, e.staff_id)]

    def session_events(self, session: str) -> list[SignInEvent]:
        return [e for e in self._s.sign_ins.values() if e.session == session]

    def sign_in_policy(self) -> SignInEvent | None:
        policies = (
            e for e in reversed(self._s.sign_ins.values()) if e.event is SignInEventKind.POLICY
        )
        return next(policies, None)

    def add_sign_ins(self, events: Sequence[SignInEvent]) -> None:
        for event in events:
            if event.staff_id not in self._s.staff:
                raise _refused("a sign-in event of a staff member who does not exist")
            self._insert("sign_ins", event.id, event, "sign-in id")

    def program(self, program_id: str) -> Program | None:
        return self._s.programs.get(program_id)

    def programs(self) -> list[Program]:
        return sorted(self._s.programs.values(), key=lambda p: p.id)

    def add_program(self, program: Program, added_at: dt.datetime, added_by: str) -> None:
        self._insert("programs", program.id, program, "program")
        self._put("origins", program.id, (added_at, added_by))

    def program_origins(self) -> dict[str, tuple[dt.datetime, str]]:
        return dict(self._s.origins)

    def participant(self, participant_id: str) -> Participant | None:
        return self._s.participants.get(participant_id)

    def participants(self) -> list[Participant]:
        return sorted(self._s.participants.values(), key=lambda p: p.id)

    def add_participant(self, participant: Participant) -> None:
        self._insert("participants", participant.id, participant, "participant")

    def update_participant(self, participant: Participant) -> None:
        if participant.id in self._s.participants:
            self._put("participants", participant.id, participant)

    def past_episodes(self, participant: str | None = None) -> list[Episode]:
        if participant is not None:
            return list(self._s.past_episodes.get(participant, ()))
        return [e for _, mine in sorted(self._s.past_episodes.items()) for e in mine]

    def add_past_episode(self, episode: Episode) -> None:
        mine = self._s.past_episodes.get(episode.participant, ())
        if episode.status is Status.ACTIVE:
            raise _refused("an active past episode")
        if any(e.number == episode.number for e in mine):
            raise _refused("duplicate episode")
        self._put("past_episodes", episode.participant, (*mine, episode))

    # --- outcomes and schedule states -------------------------------------------------

    def last_outcome(self) -> OutcomeRecord | None:
        return next(reversed(self._s.outcomes.values()), None)

    def last_outcome_for(self, participant: str, target: str) -> OutcomeRecord | None:
        return self._s.latest.get((participant, target))

    def outcome(self, outcome_id: int) -> OutcomeRecord | None:
        return self._s.outcomes.get(outcome_id)

    def outcomes(self, participant: str | None = None) -> list[OutcomeRecord]:
        if participant is None:
            return list(self._s.outcomes.values())
        return [self._s.outcomes[i] for i in self._s.outcomes_of.get(participant, ())]

    def outcomes_at(self, participant: str, occurred_at: dt.datetime) -> list[OutcomeRecord]:
        return list(self._s.visits.get((participant, occurred_at), ()))

    def outcome_links(self) -> list[ChainLink]:
        return links_of(self._s.outcomes.values())

    def outcomes_since(
        self, participant: str, target: str, since: dt.datetime
    ) -> list[OutcomeRecord]:
        found = (
            record
            for i in self._s.outcomes_of.get(participant, ())
            if (record := self._s.outcomes[i]).target == target and record.occurred_at >= since
        )
        return sorted(found, key=lambda r: (r.occurred_at, r.id))

    def outcomes_since_of(
        self, participants: Sequence[str], since: dt.datetime
    ) -> list[OutcomeRecord]:
        return [
            record
            for participant in dict.fromkeys(participants)
            for i in self._s.outcomes_of.get(participant, ())
            if (record := self._s.outcomes[i]).occurred_at >= since
        ]

    def append_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        for record in records:
            self._insert("outcomes", record.id, record, "outcome id")
            self._index("outcomes_of", record.participant, record.id)
            pair = record.participant, record.target
            latest = self._s.latest.get(pair)
            if latest is None or (latest.occurred_at, latest.id) < (record.occurred_at, record.id):
                self._put("latest", pair, record)
            visit = record.participant, record.occurred_at
            self._put("visits", visit, (*self._s.visits.get(visit, ()), record))

    def schedule_state(self, participant: str, target: str) -> ScheduleState | None:
        return self._s.states.get((participant, target))

    def schedule_states(self) -> dict[StateKey, ScheduleState]:
        return dict(self._s.states)

    def put_schedule_states(self, states: Sequence[tuple[StateKey, ScheduleState]]) -> None:
        for key, state in states:
            self._put("states", key, state)

    # --- analyte results ----------------------------------------------------------------

    def last_analyte_result(self) -> AnalyteResult | None:
        return next(reversed(self._s.analyte_results.values()), None)

    def specimen_results(self, participant: str, specimen: str) -> list[AnalyteResult]:
        return list(self._s.specimens.get((participant, specimen), ()))

    def analyte_results(self, participant: str | None = None) -> list[AnalyteResult]:
        return [r for r in self._s.analyte_results.values() if participant in (None, r.participant)]

    def add_analyte_results(self, results: Sequence[AnalyteResult]) -> None:
        for result in results:
            specimen = result.participant, result.specimen
            earlier = self._s.specimens.get(specimen, ())
            if any(r.analyte == result.analyte for r in earlier):
                raise _refused("duplicate analyte result of a specimen")
            self._insert("analyte_results", result.id, result, "analyte result id")
            self._put("specimens", specimen, (*earlier, result))

    def last_analyte_revision(self) -> AnalyteRevision | None:
        return next(reversed(self._s.analyte_revisions.values()), None)

    def specimen_revisions(self, participant: str, specimen: str) -> list[AnalyteRevision]:
        return list(self._s.revised_specimens.get((participant, specimen), ()))

    def specimens_of(
        self, specimens: Sequence[tuple[str, str]]
    ) -> tuple[list[AnalyteResult], list[AnalyteRevision]]:
        pairs = dict.fromkeys(specimens)
        results = [r for p in pairs for r in self._s.specimens.get(p, ())]
        revisions = [r for p in pairs for r in self._s.revised_specimens.get(p, ())]
        return sorted(results, key=lambda r: r.id), sorted(revisions, key=lambda r: r.id)

    def analyte_revisions(self, participant: str | None = None) -> list[AnalyteRevision]:
        return [
            r for r in self._s.analyte_revisions.values() if participant in (None, r.participant)
        ]

    def awaiting_final(self, participant: str) -> list[str]:
        standing = standing_readings(
            self.analyte_results(participant), self.analyte_revisions(participant)
        )
        return awaiting_final(standing)

    def add_analyte_revisions(self, revisions: Sequence[AnalyteRevision]) -> None:
        for revision in revisions:
            if revision.revises is not None and revision.revises not in self._s.analyte_results:
                raise _refused("a revision of no analyte result")
            if revision.result is None and not revision.status.withdrawn:
                raise _refused("a revision without a result")
            specimen = revision.participant, revision.specimen
            earlier = self._s.revised_specimens.get(specimen, ())
            self._insert("analyte_revisions", revision.id, revision, "analyte revision id")
            self._put("revised_specimens", specimen, (*earlier, revision))

    # --- the ledger and cap usage -------------------------------------------------------

    def last_transfer(self) -> Transfer | None:
        return next(reversed(self._s.transfers.values()), None)

    def transfer(self, transfer_id: int) -> Transfer | None:
        return self._s.transfers.get(transfer_id)

    def transfers(self, participant: str | None = None) -> list[Transfer]:
        if participant is None:
            return list(self._s.transfers.values())
        return [self._s.transfers[i] for i in self._s.transfers_of.get(participant, ())]

    def transfer_links(self) -> list[ChainLink]:
        return links_of(self._s.transfers.values())

    def reversal_of(self, transfer_id: int) -> Transfer | None:
        return self._s.reversals.get(transfer_id)

    def append_transfers(self, transfers: Sequence[Transfer]) -> None:
        for transfer in transfers:
            self._insert("transfers", transfer.id, transfer, "transfer id")
            if transfer.participant is not None:
                self._index("transfers_of", transfer.participant, transfer.id)
            if transfer.reverses is not None:
                self._insert("reversals", transfer.reverses, transfer, "reversal of transfer")
            for account, change in balance_changes(transfer):
                self._add("balances", account, change)

    def balance(self, program_id: str, account: str) -> int:
        return self._s.balances.get((program_id, account), 0)

    def balances(self) -> dict[AccountKey, int]:
        return dict(self._s.balances)

    def cap_usage(self, participant: str, period: str) -> int:
        return self._s.cap_usage.get((participant, period), 0)

    def cap_usages(self) -> dict[tuple[str, str], int]:
        return dict(self._s.cap_usage)

    def add_cap_usage(self, participant: str, period: str, cents: int) -> None:
        self._add("cap_usage", (participant, period), cents)

    # --- prizes ---------------------------------------------------------------------------

    def last_prize(self) -> Prize | None:
        return next(reversed(self._s.prizes.values()), None)

    def prizes(self, participant: str | None = None) -> list[Prize]:
        if participant is None:
            return list(self._s.prizes.values())
        return [self._s.prizes[i] for i in self._s.prizes_of.get(participant, ())]

    def owed_prizes(self, participant: str) -> list[Prize]:
        return [p for p in self.prizes(participant) if p.status == "owed"]

    def add_prizes(self, prizes: Sequence[Prize]) -> None:
        for prize in prizes:
            self._insert("prizes", prize.id, prize, "prize id")
            self._index("prizes_of", prize.participant, prize.id)
            if prize.outcome_id is not None:
                self._insert("draws", (prize.outcome_id, prize.draw), prize.id, "prize draw")

    def prize(self, prize_id: int) -> Prize | None:
        return self._s.prizes.get(prize_id)

    def fulfil_prize(self, fulfilment: PrizeFulfilment) -> None:
        self._insert("fulfilments", fulfilment.prize_id, fulfilment, "prize fulfilment")
        self._move_on(fulfilment.prize_id, PrizeStatus.FULFILLED)

    def prize_fulfilments(self) -> list[PrizeFulfilment]:
        return sorted(self._s.fulfilments.values(), key=lambda f: f.prize_id)

    def add_prize_trades(self, trades: Sequence[PrizeTrade]) -> None:
        for trade in trades:
            self._insert("trades", trade.traded_prize, trade, "prize trade")
            self._move_on(trade.traded_prize, PrizeStatus.TRADED)

    def prize_trades(self) -> list[PrizeTrade]:
        return sorted(self._s.trades.values(), key=lambda t: t.traded_prize)

    def _move_on(self, prize_id: int, status: PrizeStatus) -> None:
        prize = self._s.prizes.get(prize_id)
        if prize is None or prize.status is not PrizeStatus.OWED:
            raise _refused("prize not owed")
        self._put("prizes", prize_id, attrs.evolve(prize, status=status))

    # --- corrections, write-offs and prize withdrawals -----------------------------------

    def last_correction(self) -> Correction | None:
        return next(reversed(self._s.corrections.values()), None)

    def corrections(self, participant: str | None = None) -> list[Correction]:
        return [c for c in self._s.corrections.values() if participant in (None, c.participant)]

    def add_corrections(self, corrections: Sequence[Correction]) -> None:
        for correction in corrections:
            if correction.outcome_id not in self._s.outcomes:
                raise _refused("correction of no outcome")
            self._insert("corrections", correction.id, correction, "correction id")

    def last_write_off(self) -> WriteOff | None:
        return next(reversed(self._s.write_offs.values()), None)

    def write_offs(self, participant: str | None = None) -> list[WriteOff]:
        return [w for w in self._s.write_offs.values() if participant in (None, w.participant)]

    def add_write_offs(self, write_offs: Sequence[WriteOff]) -> None:
        for write_off in write_offs:
            self._insert("write_offs", write_off.id, write_off, "write-off id")

    def last_prize_withdrawal(self) -> PrizeWithdrawal | None:
        return next(reversed(self._s.withdrawals.values()), None)

    def prize_withdrawals(self) -> list[PrizeWithdrawal]:
        return list(self._s.withdrawals.values())

    def add_prize_withdrawals(self, withdrawals: Sequence[PrizeWithdrawal]) -> None:
        for withdrawal in withdrawals:
            prize = self._s.prizes.get(withdrawal.prize_id)
            before = PrizeStatus.WITHDRAWN if withdrawal.reinstated else PrizeStatus.OWED
            if prize is None or prize.status is not before:
                raise _refused("only an owed prize is withdrawn")
            self._insert("withdrawals", withdrawal.id, withdrawal, "prize withdrawal id")
            after = PrizeStatus.OWED if withdrawal.reinstated else PrizeStatus.WITHDRAWN
            self._put("prizes", prize.id, attrs.evolve(prize, status=after))

    # --- the catalog and its stock ------------------------------------------------------

    def item(self, sku: str) -> CatalogItem | None:
        return self._s.catalog.get(sku)

    def items(self) -> list[CatalogItem]:
        return sorted(self._s.catalog.values(), key=lambda i: i.sku)

    def add_item(self, item: CatalogItem) -> None:
        self._insert("catalog", item.sku, item, "catalog item")

    def last_stock_movement(self) -> StockMovement | None:
        return next(reversed(self._s.movements.values()), None)

    def stock_movements(self) -> list[StockMovement]:
        return list(self._s.movements.values())

    def add_stock_movements(self, movements: Sequence[StockMovement]) -> None:
        for movement in movements:
            self._insert("movements", movement.id, movement, "stock movement id")
            item = self._s.catalog[movement.sku]
            stock = (item.stock or 0) + movement.change
            if stock < 0:
                raise _refused("stock < 0")
            self._put("catalog", movement.sku, attrs.evolve(item, stock=stock))

    # --- redemptions ----------------------------------------------------------------------

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
            r
            for _, r in sorted(self._s.open_redemptions.items())
            if r.requested_at < requested_before
        ]

    def last_redemption(self) -> Redemption | None:
        return self._s.redemptions[max(self._s.redemptions)] if self._s.redemptions else None

    def add_redemption(self, redemption: Redemption) -> None:
        self._insert("redemptions", redemption.id, redemption, "redemption")
        self._index_open(redemption)

    def update_redemption(self, redemption: Redemption) -> None:
        self._put("redemptions", redemption.id, redemption)
        self._index_open(redemption)

    def _index_open(self, redemption: Redemption) -> None:
        if redemption.status.is_open:
            self._put("open_redemptions", redemption.id, redemption)
        else:
            self._drop("open_redemptions", redemption.id)

    # --- the journal and idempotency keys -------------------------------------------------

    def last_journal_entry(self) -> JournalEntry | None:
        return next(reversed(self._s.journal.values()), None)

    def journal(self) -> list[JournalEntry]:
        return list(self._s.journal.values())

    def journal_links(self) -> list[ChainLink]:
        return links_of(self._s.journal.values())

    def append_journal(self, entries: Sequence[JournalEntry]) -> None:
        for entry in entries:
            self._insert("journal", entry.id, entry, "journal entry id")

    def idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        return self._s.keys.get((scope, key))

    def idempotency_many(self, keys: Sequence[tuple[str, str]]) -> list[IdempotencyRecord]:
        return [self._s.keys[pair] for pair in dict.fromkeys(keys) if pair in self._s.keys]

    def idempotency_records(self) -> list[IdempotencyRecord]:
        return [self._s.keys[k] for k in sorted(self._s.keys)]

    def stored_keys(self) -> list[StoredKey]:
        return [
            (r.scope, r.key, r.fingerprint, canonical(r.result), to_utc_text(r.created_at))
            for r in self.idempotency_records()
        ]

    def remember(self, record: IdempotencyRecord) -> None:
        self._insert("keys", (record.scope, record.key), record, "idempotency key")

    def remember_all(self, records: Sequence[IdempotencyRecord]) -> None:
        for record in records:
            self.remember(record)


class MemoryStore:
    """The reference store: one unit of work at a time. Like every store it belongs to the
    thread that opened it and refuses use after ``close`` (``owner.py``)."""

    location = ":memory:"

    def __init__(self) -> None:
        self._owner = Owner(self.location)
        self._state = _State()
        self._lock = threading.RLock()
        self._undo: list[_Change] | None = None
        """The open write's log; only the thread holding the lock can see it set."""
        self._readers = 0
        """Reads open on the thread holding the lock."""

    @contextmanager
    def write(self) -> Iterator[MemoryTx]:
        self._owner.check()
        with self._lock:
            if self._undo is not None:
                raise IntegrityError(":memory: cannot start a unit of work inside another")
            if self._readers:
                # A read open on this thread keeps the state it holds; this write edits a copy.
                self._state = self._state.copy()
            undo: list[_Change] = []
            self._undo = undo
            try:
                yield MemoryTx(self._state, undo)
            except BaseException:
                for change in reversed(undo):
                    change.undo(self._state)
                raise
            finally:
                self._undo = None

    @contextmanager
    def read(self) -> Iterator[MemoryTx]:
        self._owner.check()
        with self._lock:
            state = self._state
            if self._undo is not None:
                state = state.copy()
                for change in reversed(self._undo):
                    change.undo(state)
            self._readers += 1
            try:
                yield MemoryTx(state, None)
            finally:
                self._readers -= 1

    def integrity_problems(self) -> list[str]:
        return []

    def close(self) -> None:
        self._owner.close()
