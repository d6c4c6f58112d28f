"""A write-behind unit of work for bulk recording: the import's fast path.

Wraps any adapter's ``Tx`` and implements ``RecordTx``: exactly what recording an
outcome calls, and nothing else. The writes that recording makes (outcomes, schedule
states, transfers, prizes, cap usage, analyte results, idempotency keys) are kept in
memory and written with one batched statement each when the chunk is flushed; the
reads recording needs see those pending writes (chain heads, balances, states, keys).
A unit of the chunk that is refused is taken back alone (``begin_unit``, ``take_back``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from ..domain.ledger import AccountKey, Transfer, balance_changes
from ..domain.programs import Program
from ..domain.records import (
    Correction,
    Episode,
    IdempotencyRecord,
    OutcomeRecord,
    Participant,
    Prize,
    PrizeWithdrawal,
    WriteOff,
)
from ..domain.revisions import AnalyteRevision
from ..domain.schedules import ScheduleState
from ..domain.specimens import AnalyteResult
from ..domain.staff import Staff
from .port import RecordTx, StateKey, Tx

_UNREAD: Any = object()
"""Marks a chain head not yet read from the adapter."""
_ABSENT: Any = object()
"""Marks a pending entry a unit added (``take_back`` removes it)."""

_UnitStart = tuple[tuple[int, ...], tuple[Any, ...], int]
"""What was pending when a unit began: the lengths of the pending lists, the chain heads,
and how many flushes there had been (a plain tuple: one is made for every unit)."""


class BufferedTx(RecordTx):
    """Recording's unit of work over the adapter's ``tx``, its writes batched until ``flush``.

    Staff, programs, participants and their past episodes are read once per chunk: an
    import changes none.
    """

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self._staff: dict[str, Staff | None] = {}
        self._participants: dict[str, Participant | None] = {}
        self._episodes: dict[str, list[Episode]] = {}
        self._programs: dict[str, Program | None] = {}
        self._flushes = 0
        self._unit: _UnitStart | None = None
        self._undo: list[tuple[dict[Any, Any], Any, Any]] = []
        """Each pending dict entry the unit set, with what it held (``_ABSENT``)."""
        self._reset_pending()

    def _reset_pending(self) -> None:
        self._outcomes: list[OutcomeRecord] = []
        self._outcomes_of: dict[str, list[OutcomeRecord]] = defaultdict(list)
        """The pending outcomes by participant: each row reads its participant's."""
        self._last_for: dict[StateKey, OutcomeRecord] = {}
        self._states: dict[StateKey, ScheduleState] = {}
        self._transfers: list[Transfer] = []
        self._balance_deltas: dict[AccountKey, int] = defaultdict(int)
        self._prizes: list[Prize] = []
        self._cap_deltas: dict[tuple[str, str], int] = defaultdict(int)
        self._keys: dict[tuple[str, str], IdempotencyRecord] = {}
        self._balances_read: dict[AccountKey, int] = {}
        """Balances as the adapter had them before the pending transfers."""
        self._known_keys: dict[tuple[str, str], IdempotencyRecord | None] = {}
        """Keys ``prefetch_keys`` or a lookup read, found or not; dropped at flush."""
        self._outcome_head: OutcomeRecord | None = _UNREAD
        self._transfer_head: Transfer | None = _UNREAD
        self._prize_head: Prize | None = _UNREAD
        self._analyte_results: list[AnalyteResult] = []
        self._specimens: dict[tuple[str, str], list[AnalyteResult]] = defaultdict(list)
        self._analyte_head: AnalyteResult | None = _UNREAD
        self._revisions: list[AnalyteRevision] = []
        self._revised: dict[tuple[str, str], list[AnalyteRevision]] = defaultdict(list)
        self._revision_head: AnalyteRevision | None = _UNREAD
        self._stored: dict[str, tuple[list[OutcomeRecord], list[Transfer], list[Prize]]] = {}
        """Each participant's history as the adapter held it at the chunk's start (read once:
        every row of theirs replays it)."""
        self._settled: dict[str, tuple[list[Correction], list[WriteOff]]] = {}
        self._stored_last_for: dict[StateKey, OutcomeRecord | None] = {}
        self._stored_states: dict[StateKey, ScheduleState | None] = {}
        self._stored_caps: dict[tuple[str, str], int] = {}
        """What the adapter held at the chunk's start, read once per participant and target
        (issue 16: a read per row was most of the import's queries); pending writes are
        laid over them."""
        self._stored_specimens: dict[tuple[str, str], list[AnalyteResult]] = {}
        self._stored_revised: dict[tuple[str, str], list[AnalyteRevision]] = {}
        """Each prefetched specimen's stored results and revisions (``prefetch_specimens``)."""
        self._recent_since: dt.datetime | None = None
        self._recent: dict[StateKey, list[OutcomeRecord]] = {}
        """Each prefetched participant's stored outcomes at or after ``_recent_since`` by
        target, in clinical order (``prefetch_recent``); an earlier ``since`` is read."""

    def flush(self) -> None:
        """Write everything pending, one batch per table."""
        tx = self._tx
        if self._outcomes:
            tx.append_outcomes(self._outcomes)
        if self._states:
            tx.put_schedule_states(list(self._states.items()))
        if self._transfers:
            tx.append_transfers(self._transfers)
        if self._prizes:
            tx.add_prizes(self._prizes)
        if self._analyte_results:
            tx.add_analyte_results(self._analyte_results)
        if self._revisions:
            tx.add_analyte_revisions(self._revisions)
        for (participant, period), cents in self._cap_deltas.items():
            if cents:
                tx.add_cap_usage(participant, period, cents)
        if self._keys:
            tx.remember_all(list(self._keys.values()))
        self._reset_pending()
        self._flushes += 1
        self._unit, self._undo = None, []  # what was pending is written: nothing to take back

    # --- a unit of the chunk, taken back alone when it is refused -------------------

    def _lists(self) -> tuple[list[Any], ...]:
        return (self._outcomes, self._transfers, self._prizes, self._analyte_results,
                self._revisions)  # fmt: skip

    def _heads(self) -> tuple[Any, ...]:
        return (self._outcome_head, self._transfer_head, self._prize_head, self._analyte_head,
                self._revision_head)  # fmt: skip

    def begin_unit(self) -> None:
        """A unit of the chunk begins: ``take_back`` forgets what it writes from here."""
        self._unit = (tuple(map(len, self._lists())), self._heads(), self._flushes)
        self._undo = []

    def take_back(self) -> bool:
        """Forget every write since ``begin_unit``, as if the unit had not run, so that the
        units before it are written as they stand (a refused lab unit: issue 16). False
        when that cannot be done here — a write went through to the adapter since (a
        correction flushes first): the caller rolls the transaction back instead."""
        unit, self._unit = self._unit, None
        if unit is None or unit[2] != self._flushes:
            return False
        lengths, heads, _ = unit
        for pending, key, held in reversed(self._undo):
            if held is _ABSENT:
                del pending[key]
            else:
                pending[key] = held
        self._undo = []
        for pending, length in zip(self._lists(), lengths, strict=True):
            del pending[length:]
        # The indexes over the lists, built again from what stays pending.
        outcomes, transfers = self._outcomes, self._transfers
        self._outcomes, self._transfers = [], []
        self._outcomes_of.clear()
        self._last_for.clear()
        self._balance_deltas.clear()
        self.append_outcomes(outcomes)
        self.append_transfers(transfers)
        self._specimens.clear()
        for result in self._analyte_results:
            self._specimens[result.participant, result.specimen].append(result)
        self._revised.clear()
        for revision in self._revisions:
            self._revised[revision.participant, revision.specimen].append(revision)
        (self._outcome_head, self._transfer_head, self._prize_head, self._analyte_head,
         self._revision_head) = heads  # fmt: skip
        return True

    def _set(self, pending: dict[Any, Any], key: Any, value: Any) -> None:
        """``pending[key] = value``, undone by ``take_back``."""
        if self._unit is not None:
            self._undo.append((pending, key, pending.get(key, _ABSENT)))
        pending[key] = value

    def read_ahead(self, reads: Callable[[Tx], object]) -> None:
        """``reads`` go to the adapter's unit, never through this one's caches (what
        they are answered in read-ahead is thrown away)."""
        self._tx.read_ahead(reads)

    # --- cached reads: immutable within a chunk ---------------------------------

    def staff(self, staff_id: str) -> Staff | None:
        if staff_id not in self._staff:
            self._staff[staff_id] = self._tx.staff(staff_id)
        return self._staff[staff_id]

    def participant(self, participant_id: str) -> Participant | None:
        if participant_id not in self._participants:
            self._participants[participant_id] = self._tx.participant(participant_id)
        return self._participants[participant_id]

    def past_episodes(self, participant: str | None = None) -> list[Episode]:
        if participant is None:
            return self._tx.past_episodes()
        if participant not in self._episodes:
            self._episodes[participant] = self._tx.past_episodes(participant)
        return list(self._episodes[participant])

    def program(self, program_id: str) -> Program | None:
        if program_id not in self._programs:
            self._programs[program_id] = self._tx.program(program_id)
        return self._programs[program_id]

    # --- recording's reads and writes, pending until flush -----------------------

    def prefetch_keys(self, keys: Sequence[tuple[str, str]]) -> None:
        """Look up a chunk's keys in one query, so each row's lookup is a dict read."""
        self._known_keys.update(dict.fromkeys(keys))
        for record in self._tx.idempotency_many(keys):
            self._known_keys[record.scope, record.key] = record

    def idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        pending = self._keys.get((scope, key))
        if pending is not None:
            return pending
        if (scope, key) in self._known_keys:
            return self._known_keys[scope, key]
        # Remembered until the flush: a lab report looks its keys up more than once, and
        # only ``remember`` (pending, looked at first) writes one in the chunk.
        found = self._known_keys[scope, key] = self._tx.idempotency(scope, key)
        return found

    def remember(self, record: IdempotencyRecord) -> None:
        self._set(self._keys, (record.scope, record.key), record)

    def last_outcome(self) -> OutcomeRecord | None:
        if self._outcome_head is _UNREAD:
            self._outcome_head = self._tx.last_outcome()
        return self._outcome_head

    def last_outcome_for(self, participant: str, target: str) -> OutcomeRecord | None:
        pair = participant, target
        if pair not in self._stored_last_for:
            # The latest of the prefetched recent results is the stored latest (a later one
            # would be among them): a query a participant and target fewer (issue 16).
            recent = self._recent.get(pair)
            self._stored_last_for[pair] = (
                recent[-1] if recent else self._tx.last_outcome_for(participant, target)
            )
        stored = self._stored_last_for[pair]
        pending = self._last_for.get((participant, target))
        if pending is None or (
            stored is not None
            and (stored.occurred_at, stored.id) > (pending.occurred_at, pending.id)
        ):
            return stored
        return pending

    def outcomes_at(self, participant: str, occurred_at: dt.datetime) -> list[OutcomeRecord]:
        pending = [
            o for o in self._outcomes_of.get(participant, ()) if o.occurred_at == occurred_at
        ]
        return self._tx.outcomes_at(participant, occurred_at) + pending

    def prefetch_recent(self, participants: Sequence[str], since: dt.datetime) -> None:
        """Read the stored outcomes of ``participants`` at or after ``since`` in one query,
        so each row's ``outcomes_since`` from then on is a list filter (the calendar's
        attendance read a query a row: issue 16)."""
        self._recent_since = since
        self._recent = {(p, t): [] for p in participants for t in self._targets_of(p)}
        found = self._tx.outcomes_since_of(participants, since)
        for record in sorted(found, key=lambda r: (r.occurred_at, r.id)):
            self._recent.setdefault((record.participant, record.target), []).append(record)

    def outcomes_since_of(
        self, participants: Sequence[str], since: dt.datetime
    ) -> list[OutcomeRecord]:
        people = set(participants)
        pending = [o for o in self._outcomes if o.participant in people and o.occurred_at >= since]
        return self._tx.outcomes_since_of(participants, since) + pending

    def _targets_of(self, participant: str) -> list[str]:
        person = self.participant(participant)
        program = None if person is None else self.program(person.program_id)
        return [] if program is None else [t.id for t in program.targets]

    def outcomes_since(
        self, participant: str, target: str, since: dt.datetime
    ) -> list[OutcomeRecord]:
        pending = [
            o
            for o in self._outcomes_of.get(participant, ())
            if o.target == target and o.occurred_at >= since
        ]
        recent = self._recent.get((participant, target))
        if recent is not None and self._recent_since is not None and since >= self._recent_since:
            stored = [o for o in recent if o.occurred_at >= since]
        else:
            stored = self._tx.outcomes_since(participant, target, since)
        if not pending:
            return stored
        return sorted([*stored, *pending], key=lambda r: (r.occurred_at, r.id))

    def append_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        for record in records:
            self._outcomes.append(record)
            self._outcomes_of[record.participant].append(record)
            pair = record.participant, record.target
            latest = self._last_for.get(pair)
            if latest is None or (latest.occurred_at, latest.id) < (record.occurred_at, record.id):
                self._last_for[pair] = record
            self._outcome_head = record

    def schedule_state(self, participant: str, target: str) -> ScheduleState | None:
        pair = participant, target
        pending = self._states.get(pair)
        if pending is not None:
            return pending
        if pair not in self._stored_states:
            self._stored_states[pair] = self._tx.schedule_state(participant, target)
        return self._stored_states[pair]

    def put_schedule_states(self, states: Sequence[tuple[StateKey, ScheduleState]]) -> None:
        for pair, state in states:
            self._set(self._states, pair, state)

    def last_transfer(self) -> Transfer | None:
        if self._transfer_head is _UNREAD:
            self._transfer_head = self._tx.last_transfer()
        return self._transfer_head

    def append_transfers(self, transfers: Sequence[Transfer]) -> None:
        for transfer in transfers:
            self._transfers.append(transfer)
            for account, change in balance_changes(transfer):
                self._balance_deltas[account] += change
            self._transfer_head = transfer

    def balance(self, program_id: str, account: str) -> int:
        key = program_id, account
        if key not in self._balances_read:
            self._balances_read[key] = self._tx.balance(program_id, account)
        return self._balances_read[key] + self._balance_deltas.get(key, 0)

    def last_prize(self) -> Prize | None:
        if self._prize_head is _UNREAD:
            self._prize_head = self._tx.last_prize()
        return self._prize_head

    def add_prizes(self, prizes: Sequence[Prize]) -> None:
        self._prizes.extend(prizes)
        if prizes:
            self._prize_head = prizes[-1]

    def cap_usage(self, participant: str, period: str) -> int:
        key = participant, period
        if key not in self._stored_caps:
            self._stored_caps[key] = self._tx.cap_usage(participant, period)
        return self._stored_caps[key] + self._cap_deltas.get(key, 0)

    def add_cap_usage(self, participant: str, period: str, cents: int) -> None:
        key = participant, period
        self._set(self._cap_deltas, key, self._cap_deltas.get(key, 0) + cents)

    def last_analyte_result(self) -> AnalyteResult | None:
        if self._analyte_head is _UNREAD:
            self._analyte_head = self._tx.last_analyte_result()
        return self._analyte_head

    def prefetch_specimens(self, specimens: Sequence[tuple[str, str]]) -> None:
        """Read the stored results and revisions of a chunk's specimens at once, so each
        report's reads of them are dict reads (two queries a report: issue 16)."""
        results, revisions = self._tx.specimens_of(specimens)
        self._stored_specimens.update((pair, []) for pair in specimens)
        self._stored_revised.update((pair, []) for pair in specimens)
        for result in results:
            self._stored_specimens[result.participant, result.specimen].append(result)
        for revision in revisions:
            self._stored_revised[revision.participant, revision.specimen].append(revision)

    def specimens_of(
        self, specimens: Sequence[tuple[str, str]]
    ) -> tuple[list[AnalyteResult], list[AnalyteRevision]]:
        results = [r for p in dict.fromkeys(specimens) for r in self.specimen_results(*p)]
        revisions = [r for p in dict.fromkeys(specimens) for r in self.specimen_revisions(*p)]
        return sorted(results, key=lambda r: r.id), sorted(revisions, key=lambda r: r.id)

    def specimen_results(self, participant: str, specimen: str) -> list[AnalyteResult]:
        pending = self._specimens.get((participant, specimen), [])
        stored = self._stored_specimens.get((participant, specimen))
        if stored is None:
            stored = self._tx.specimen_results(participant, specimen)
        return stored + pending

    def add_analyte_results(self, results: Sequence[AnalyteResult]) -> None:
        self._analyte_results.extend(results)
        for result in results:
            self._specimens[result.participant, result.specimen].append(result)
        if results:
            self._analyte_head = results[-1]

    def last_analyte_revision(self) -> AnalyteRevision | None:
        if self._revision_head is _UNREAD:
            self._revision_head = self._tx.last_analyte_revision()
        return self._revision_head

    def specimen_revisions(self, participant: str, specimen: str) -> list[AnalyteRevision]:
        pending = self._revised.get((participant, specimen), [])
        stored = self._stored_revised.get((participant, specimen))
        if stored is None:
            stored = self._tx.specimen_revisions(participant, specimen)
        return stored + pending

    def add_analyte_revisions(self, revisions: Sequence[AnalyteRevision]) -> None:
        self._revisions.extend(revisions)
        for revision in revisions:
            self._revised[revision.participant, revision.specimen].append(revision)
        if revisions:
            self._revision_head = revisions[-1]

    # --- a participant's history, for the settlement's replay: stored plus pending ----

    def _history(self, participant: str) -> tuple[list[OutcomeRecord], list[Transfer], list[Prize]]:
        if participant not in self._stored:
            tx = self._tx
            self._stored[participant] = (
                tx.outcomes(participant),
                tx.transfers(participant),
                tx.prizes(participant),
            )
        return self._stored[participant]

    def outcomes(self, participant: str | None = None) -> list[OutcomeRecord]:
        if participant is None:
            return self._tx.outcomes() + self._outcomes
        return self._history(participant)[0] + self._outcomes_of.get(participant, [])

    def transfers(self, participant: str | None = None) -> list[Transfer]:
        if participant is None:
            return self._tx.transfers() + self._transfers
        pending = [t for t in self._transfers if t.participant == participant]
        return self._history(participant)[1] + pending

    def prizes(self, participant: str | None = None) -> list[Prize]:
        if participant is None:
            return self._tx.prizes() + self._prizes
        pending = [p for p in self._prizes if p.participant == participant]
        return self._history(participant)[2] + pending

    def _corrections_and_write_offs(
        self, participant: str
    ) -> tuple[list[Correction], list[WriteOff]]:
        if participant not in self._settled:
            self._settled[participant] = (
                self._tx.corrections(participant),
                self._tx.write_offs(participant),
            )
        return self._settled[participant]

    # --- what only a late result's settlement writes: written through, after a flush ---
    # (their rows refer to outcomes and prizes the chunk may still hold back); each
    # participant's corrections and write-offs are read once per chunk too

    def last_correction(self) -> Correction | None:
        return self._tx.last_correction()

    def corrections(self, participant: str | None = None) -> list[Correction]:
        if participant is None:
            return self._tx.corrections()
        return list(self._corrections_and_write_offs(participant)[0])

    def add_corrections(self, corrections: Sequence[Correction]) -> None:
        if corrections:
            self.flush()
            self._tx.add_corrections(corrections)
            self._settled.clear()

    def last_write_off(self) -> WriteOff | None:
        return self._tx.last_write_off()

    def write_offs(self, participant: str | None = None) -> list[WriteOff]:
        if participant is None:
            return self._tx.write_offs()
        return list(self._corrections_and_write_offs(participant)[1])

    def add_write_offs(self, write_offs: Sequence[WriteOff]) -> None:
        if write_offs:
            self.flush()
            self._tx.add_write_offs(write_offs)
            self._settled.clear()

    def last_prize_withdrawal(self) -> PrizeWithdrawal | None:
        return self._tx.last_prize_withdrawal()

    def prize_withdrawals(self) -> list[PrizeWithdrawal]:
        return self._tx.prize_withdrawals()

    def add_prize_withdrawals(self, withdrawals: Sequence[PrizeWithdrawal]) -> None:
        if withdrawals:
            self.flush()
            self._tx.add_prize_withdrawals(withdrawals)
            self._stored.clear()  # the prizes it withdrew read differently now
