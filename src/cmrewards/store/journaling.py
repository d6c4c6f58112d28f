"""The unit of work every ``Clinic`` write runs in: the adapter's, with its writes journaled.

Each write of a record that is not hash-chained itself (staff, programs, participants and
their past episodes, prizes and their hand-overs, trades and withdrawals, the catalog, stock
movements, redemptions, analyte results, idempotency keys, corrections, write-offs) appends a
journal entry for the record as written (``domain/journal.py`` says why). Reads, and the writes of
chained or derived data (outcomes, schedule states, transfers, cap usage), go to the
adapter unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from ..domain.chain import ChainLink
from ..domain.journal import Journaled, JournalEntry, ProgramAdded, entry_for
from ..domain.ledger import AccountKey, Transfer
from ..domain.programs import Program
from ..domain.records import (
    Correction,
    Episode,
    IdempotencyRecord,
    OutcomeRecord,
    Participant,
    Prize,
    PrizeWithdrawal,
    StoredKey,
    WriteOff,
)
from ..domain.redemption import CatalogItem, PrizeFulfilment, PrizeTrade, Redemption, StockMovement
from ..domain.revisions import AnalyteRevision
from ..domain.schedules import ScheduleState
from ..domain.sign_in import SignInEvent, StaffSecret
from ..domain.specimens import AnalyteResult
from ..domain.staff import Staff
from .port import StateKey, Tx


class JournalingTx(Tx):
    """The adapter's ``tx``, journaling each journaled write with the time ``at`` (UTC)."""

    def __init__(self, tx: Tx, at: dt.datetime) -> None:
        self._tx = tx
        self._at = at
        self._head = tx.last_journal_entry()

    def _note(self, *records: Journaled | None) -> None:
        """Append an entry for each record, after the journal's head."""
        entries = []
        for record in records:
            if record is not None:
                self._head = entry_for(record, self._head, self._at)
                entries.append(self._head)
        self._tx.append_journal(entries)

    # --- journaled writes ---------------------------------------------------------

    def add_staff(self, staff: Staff) -> None:
        self._tx.add_staff(staff)
        self._note(staff)

    def set_staff_active(self, staff_id: str, active: bool) -> None:
        self._tx.set_staff_active(staff_id, active)
        self._note(self._tx.staff(staff_id))

    def put_staff_secret(self, secret: StaffSecret) -> None:
        self._tx.put_staff_secret(secret)
        self._note(secret)

    def add_sign_ins(self, events: Sequence[SignInEvent]) -> None:
        self._tx.add_sign_ins(events)
        self._note(*events)

    def add_program(self, program: Program, added_at: dt.datetime, added_by: str) -> None:
        self._tx.add_program(program, added_at, added_by)
        self._note(ProgramAdded(program, added_at, added_by))

    def add_participant(self, participant: Participant) -> None:
        self._tx.add_participant(participant)
        self._note(participant)

    def update_participant(self, participant: Participant) -> None:
        self._tx.update_participant(participant)
        self._note(participant)

    def add_past_episode(self, episode: Episode) -> None:
        self._tx.add_past_episode(episode)
        self._note(episode)

    def add_prizes(self, prizes: Sequence[Prize]) -> None:
        self._tx.add_prizes(prizes)
        self._note(*prizes)

    def fulfil_prize(self, fulfilment: PrizeFulfilment) -> None:
        self._tx.fulfil_prize(fulfilment)
        self._note(fulfilment, self._tx.prize(fulfilment.prize_id))

    def add_prize_trades(self, trades: Sequence[PrizeTrade]) -> None:
        self._tx.add_prize_trades(trades)
        for trade in trades:
            self._note(trade, self._tx.prize(trade.traded_prize))

    def add_item(self, item: CatalogItem) -> None:
        self._tx.add_item(item)
        self._note(item)

    def add_stock_movements(self, movements: Sequence[StockMovement]) -> None:
        self._tx.add_stock_movements(movements)
        self._note(*movements)

    def add_redemption(self, redemption: Redemption) -> None:
        self._tx.add_redemption(redemption)
        self._note(redemption)

    def update_redemption(self, redemption: Redemption) -> None:
        self._tx.update_redemption(redemption)
        self._note(redemption)

    def add_analyte_results(self, results: Sequence[AnalyteResult]) -> None:
        self._tx.add_analyte_results(results)
        self._note(*results)

    def add_analyte_revisions(self, revisions: Sequence[AnalyteRevision]) -> None:
        self._tx.add_analyte_revisions(revisions)
        self._note(*revisions)

    def remember(self, record: IdempotencyRecord) -> None:
        self._tx.remember(record)
        self._note(record)

    def remember_all(self, records: Sequence[IdempotencyRecord]) -> None:
        self._tx.remember_all(records)
        self._note(*records)

    def add_corrections(self, corrections: Sequence[Correction]) -> None:
        self._tx.add_corrections(corrections)
        self._note(*corrections)

    def add_write_offs(self, write_offs: Sequence[WriteOff]) -> None:
        self._tx.add_write_offs(write_offs)
        self._note(*write_offs)

    def add_prize_withdrawals(self, withdrawals: Sequence[PrizeWithdrawal]) -> None:
        self._tx.add_prize_withdrawals(withdrawals)
        for withdrawal in withdrawals:
            self._note(withdrawal, self._tx.prize(withdrawal.prize_id))

    # --- chained or derived writes: the chains and verify's sums are their evidence --

    def append_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        self._tx.append_outcomes(records)

    def put_schedule_states(self, states: Sequence[tuple[StateKey, ScheduleState]]) -> None:
        self._tx.put_schedule_states(states)

    def append_transfers(self, transfers: Sequence[Transfer]) -> None:
        self._tx.append_transfers(transfers)

    def add_cap_usage(self, participant: str, period: str, cents: int) -> None:
        self._tx.add_cap_usage(participant, period, cents)

    def append_journal(self, entries: Sequence[JournalEntry]) -> None:
        self._tx.append_journal(entries)
        if entries:
            self._head = entries[-1]

    # --- reads ------------------------------------------------------------------------

    def read_ahead(self, reads: Callable[[Tx], object]) -> None:
        self._tx.read_ahead(reads)

    def staff(self, staff_id: str) -> Staff | None:
        return self._tx.staff(staff_id)

    def all_staff(self) -> list[Staff]:
        return self._tx.all_staff()

    def staff_secret(self, staff_id: str) -> StaffSecret | None:
        return self._tx.staff_secret(staff_id)

    def staff_secrets(self) -> list[StaffSecret]:
        return self._tx.staff_secrets()

    def last_sign_in(self) -> SignInEvent | None:
        return self._tx.last_sign_in()

    def sign_ins(self, staff_id: str | None = None) -> list[SignInEvent]:
        return self._tx.sign_ins(staff_id)

    def session_events(self, session: str) -> list[SignInEvent]:
        return self._tx.session_events(session)

    def sign_in_policy(self) -> SignInEvent | None:
        return self._tx.sign_in_policy()

    def program(self, program_id: str) -> Program | None:
        return self._tx.program(program_id)

    def programs(self) -> list[Program]:
        return self._tx.programs()

    def program_origins(self) -> dict[str, tuple[dt.datetime, str]]:
        return self._tx.program_origins()

    def participant(self, participant_id: str) -> Participant | None:
        return self._tx.participant(participant_id)

    def participants(self) -> list[Participant]:
        return self._tx.participants()

    def past_episodes(self, participant: str | None = None) -> list[Episode]:
        return self._tx.past_episodes(participant)

    def last_outcome(self) -> OutcomeRecord | None:
        return self._tx.last_outcome()

    def last_outcome_for(self, participant: str, target: str) -> OutcomeRecord | None:
        return self._tx.last_outcome_for(participant, target)

    def outcome(self, outcome_id: int) -> OutcomeRecord | None:
        return self._tx.outcome(outcome_id)

    def outcomes(self, participant: str | None = None) -> list[OutcomeRecord]:
        return self._tx.outcomes(participant)

    def outcome_links(self) -> list[ChainLink]:
        return self._tx.outcome_links()

    def outcomes_at(self, participant: str, occurred_at: dt.datetime) -> list[OutcomeRecord]:
        return self._tx.outcomes_at(participant, occurred_at)

    def outcomes_since(
        self, participant: str, target: str, since: dt.datetime
    ) -> list[OutcomeRecord]:
        return self._tx.outcomes_since(participant, target, since)

    def outcomes_since_of(
        self, participants: Sequence[str], since: dt.datetime
    ) -> list[OutcomeRecord]:
        return self._tx.outcomes_since_of(participants, since)

    def schedule_state(self, participant: str, target: str) -> ScheduleState | None:
        return self._tx.schedule_state(participant, target)

    def last_analyte_result(self) -> AnalyteResult | None:
        return self._tx.last_analyte_result()

    def specimen_results(self, participant: str, specimen: str) -> list[AnalyteResult]:
        return self._tx.specimen_results(participant, specimen)

    def analyte_results(self, participant: str | None = None) -> list[AnalyteResult]:
        return self._tx.analyte_results(participant)

    def last_analyte_revision(self) -> AnalyteRevision | None:
        return self._tx.last_analyte_revision()

    def specimen_revisions(self, participant: str, specimen: str) -> list[AnalyteRevision]:
        return self._tx.specimen_revisions(participant, specimen)

    def analyte_revisions(self, participant: str | None = None) -> list[AnalyteRevision]:
        return self._tx.analyte_revisions(participant)

    def specimens_of(
        self, specimens: Sequence[tuple[str, str]]
    ) -> tuple[list[AnalyteResult], list[AnalyteRevision]]:
        return self._tx.specimens_of(specimens)

    def awaiting_final(self, participant: str) -> list[str]:
        return self._tx.awaiting_final(participant)

    def schedule_states(self) -> dict[StateKey, ScheduleState]:
        return self._tx.schedule_states()

    def last_transfer(self) -> Transfer | None:
        return self._tx.last_transfer()

    def transfer(self, transfer_id: int) -> Transfer | None:
        return self._tx.transfer(transfer_id)

    def transfers(self, participant: str | None = None) -> list[Transfer]:
        return self._tx.transfers(participant)

    def transfer_links(self) -> list[ChainLink]:
        return self._tx.transfer_links()

    def reversal_of(self, transfer_id: int) -> Transfer | None:
        return self._tx.reversal_of(transfer_id)

    def balance(self, program_id: str, account: str) -> int:
        return self._tx.balance(program_id, account)

    def balances(self) -> dict[AccountKey, int]:
        return self._tx.balances()

    def cap_usage(self, participant: str, period: str) -> int:
        return self._tx.cap_usage(participant, period)

    def cap_usages(self) -> dict[tuple[str, str], int]:
        return self._tx.cap_usages()

    def last_prize(self) -> Prize | None:
        return self._tx.last_prize()

    def prizes(self, participant: str | None = None) -> list[Prize]:
        return self._tx.prizes(participant)

    def owed_prizes(self, participant: str) -> list[Prize]:
        return self._tx.owed_prizes(participant)

    def prize(self, prize_id: int) -> Prize | None:
        return self._tx.prize(prize_id)

    def prize_fulfilments(self) -> list[PrizeFulfilment]:
        return self._tx.prize_fulfilments()

    def prize_trades(self) -> list[PrizeTrade]:
        return self._tx.prize_trades()

    def item(self, sku: str) -> CatalogItem | None:
        return self._tx.item(sku)

    def items(self) -> list[CatalogItem]:
        return self._tx.items()

    def last_stock_movement(self) -> StockMovement | None:
        return self._tx.last_stock_movement()

    def stock_movements(self) -> list[StockMovement]:
        return self._tx.stock_movements()

    def redemption(self, redemption_id: int) -> Redemption | None:
        return self._tx.redemption(redemption_id)

    def redemptions(self, participant: str | None = None) -> list[Redemption]:
        return self._tx.redemptions(participant)

    def open_redemptions(self, requested_before: dt.datetime) -> list[Redemption]:
        return self._tx.open_redemptions(requested_before)

    def last_redemption(self) -> Redemption | None:
        return self._tx.last_redemption()

    def last_journal_entry(self) -> JournalEntry | None:
        return self._tx.last_journal_entry()

    def journal(self) -> list[JournalEntry]:
        return self._tx.journal()

    def journal_links(self) -> list[ChainLink]:
        return self._tx.journal_links()

    def idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        return self._tx.idempotency(scope, key)

    def idempotency_many(self, keys: Sequence[tuple[str, str]]) -> list[IdempotencyRecord]:
        return self._tx.idempotency_many(keys)

    def idempotency_records(self) -> list[IdempotencyRecord]:
        return self._tx.idempotency_records()

    def stored_keys(self) -> list[StoredKey]:
        return self._tx.stored_keys()

    def last_correction(self) -> Correction | None:
        return self._tx.last_correction()

    def corrections(self, participant: str | None = None) -> list[Correction]:
        return self._tx.corrections(participant)

    def last_write_off(self) -> WriteOff | None:
        return self._tx.last_write_off()

    def write_offs(self, participant: str | None = None) -> list[WriteOff]:
        return self._tx.write_offs(participant)

    def last_prize_withdrawal(self) -> PrizeWithdrawal | None:
        return self._tx.last_prize_withdrawal()

    def prize_withdrawals(self) -> list[PrizeWithdrawal]:
        return self._tx.prize_withdrawals()
