"""The storage port: what the domain needs from a database, and nothing else.

The domain never imports a database library. An adapter provides ``Store``; each
unit of work runs inside ``store.write()`` (serialised against every other writer
on the same database, committed only if the block finishes) or ``store.read()``
(one consistent snapshot). The same contract suite runs against every adapter.

A unit of work is a ``Tx``, made of one role per kind of record, so a use case or
a view can say which records it touches by the roles it asks for. Each area has a
narrow role, what recording an outcome needs (a lookup by id, a chain's head, an
append), inside a wider one that adds the listings views, verify and the export read
and the other writes. ``RecordTx`` combines the narrow roles: it is all the
import's write-behind (``buffered.BufferedTx``) implements.

Each view and use case declares the roles it calls, so mypy proves it calls nothing
else; a combination of roles that one module needs is a small Protocol next to its
use, one that several share (``HoldRelease``) is here. Only the reads of everything
(``verify``, the export) take the whole ``Tx``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the roles' signatures only: a store imports what it converts
    from ..domain.chain import ChainLink
    from ..domain.journal import JournalEntry
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
    from ..domain.redemption import (
        CatalogItem,
        PrizeFulfilment,
        PrizeTrade,
        Redemption,
        StockMovement,
    )
    from ..domain.revisions import AnalyteRevision
    from ..domain.schedules import ScheduleState
    from ..domain.sign_in import SignInEvent, StaffSecret
    from ..domain.specimens import AnalyteResult
    from ..domain.staff import Staff

__all__ = [
    "Catalog",
    "Corrections",
    "Enrolment",
    "History",
    "HoldRelease",
    "IdempotencyCheck",
    "IdempotencyKeys",
    "Journal",
    "Ledger",
    "LedgerPosting",
    "OutcomeChain",
    "Outcomes",
    "ParticipantLookup",
    "PrizeDraws",
    "Prizes",
    "ProgramLookup",
    "Programs",
    "RecordTx",
    "Redemptions",
    "Settlements",
    "SignIns",
    "SpecimenResults",
    "Specimens",
    "StaffLookup",
    "Staffing",
    "StateKey",
    "Store",
    "Tx",
]

StateKey = tuple[str, str]
"""(participant, target)."""


# --- staff --------------------------------------------------------------------


class StaffLookup(Protocol):
    def staff(self, staff_id: str) -> Staff | None: ...


class Staffing(StaffLookup, Protocol):
    def all_staff(self) -> list[Staff]:
        """By id."""
        ...

    def add_staff(self, staff: Staff) -> None: ...
    def set_staff_active(self, staff_id: str, active: bool) -> None: ...


class SignIns(Protocol):
    """Passphrase hashes and the sign-in events (domain/sign_in.py): what a host that signs
    staff in keeps in the clinic's database."""

    def staff_secret(self, staff_id: str) -> StaffSecret | None: ...
    def staff_secrets(self) -> list[StaffSecret]:
        """By staff id."""
        ...

    def put_staff_secret(self, secret: StaffSecret) -> None:
        """Store it, replacing the member's earlier one."""
        ...

    def last_sign_in(self) -> SignInEvent | None: ...
    def sign_ins(self, staff_id: str | None = None) -> list[SignInEvent]:
        """Every event, or one member's, in id order."""
        ...

    def session_events(self, session: str) -> list[SignInEvent]:
        """The events of one session (by its token's digest), in id order."""
        ...

    def sign_in_policy(self) -> SignInEvent | None:
        """The latest policy event; None before an admin set one."""
        ...

    def add_sign_ins(self, events: Sequence[SignInEvent]) -> None: ...


# --- programs -----------------------------------------------------------------


class ProgramLookup(Protocol):
    def program(self, program_id: str) -> Program | None: ...


class Programs(ProgramLookup, Protocol):
    def programs(self) -> list[Program]:
        """By id."""
        ...

    def add_program(self, program: Program, added_at: dt.datetime, added_by: str) -> None: ...
    def program_origins(self) -> dict[str, tuple[dt.datetime, str]]:
        """When and by whom each program was added."""
        ...


# --- participants -------------------------------------------------------------


class ParticipantLookup(Protocol):
    def participant(self, participant_id: str) -> Participant | None:
        """The person with their current episode."""
        ...

    def past_episodes(self, participant: str | None = None) -> list[Episode]:
        """The episodes before each person's current one (every person's when None), by
        participant and number; [] for a person in their first episode."""
        ...


class Enrolment(ParticipantLookup, Protocol):
    def participants(self) -> list[Participant]:
        """By id."""
        ...

    def add_participant(self, participant: Participant) -> None: ...
    def update_participant(self, participant: Participant) -> None:
        """Replace the stored row of ``participant.id``: its episode ended, or the next one
        started (after ``add_past_episode`` of the one before)."""
        ...

    def add_past_episode(self, episode: Episode) -> None:
        """Keep an ended episode, once, as the person's next one starts; never changed."""
        ...


# --- outcomes, append-only and hash-chained, and the schedule states they leave ----


class OutcomeChain(Protocol):
    """The head of the outcome chain, what the next outcome is checked against, the append;
    and each target's schedule state, a cache of replaying its outcomes."""

    def last_outcome(self) -> OutcomeRecord | None:
        """The head of the outcome chain."""
        ...

    def last_outcome_for(self, participant: str, target: str) -> OutcomeRecord | None:
        """The latest in clinical order, ``(occurred_at, id)``: a late result is not it."""
        ...

    def outcomes_at(self, participant: str, occurred_at: dt.datetime) -> list[OutcomeRecord]:
        """Every outcome of one visit (same clinical time), in recording order."""
        ...

    def outcomes_since(
        self, participant: str, target: str, since: dt.datetime
    ) -> list[OutcomeRecord]:
        """One target's outcomes at or after clinical time ``since``, in clinical order
        ``(occurred_at, id)``: the few weeks the calendar asks about when recording."""
        ...

    def outcomes_since_of(
        self, participants: Sequence[str], since: dt.datetime
    ) -> list[OutcomeRecord]:
        """Every target's outcomes of each of ``participants`` at or after clinical time
        ``since``, in no particular order: what ``outcomes_since`` would answer for a whole
        chunk of an import, read in one query (issue 16)."""
        ...

    def append_outcomes(self, records: Sequence[OutcomeRecord]) -> None: ...
    def schedule_state(self, participant: str, target: str) -> ScheduleState | None: ...
    def put_schedule_states(self, states: Sequence[tuple[StateKey, ScheduleState]]) -> None: ...


class Outcomes(OutcomeChain, Protocol):
    def outcome(self, outcome_id: int) -> OutcomeRecord | None: ...
    def outcomes(self, participant: str | None = None) -> list[OutcomeRecord]:
        """In recording (id) order."""
        ...

    def outcome_links(self) -> list[ChainLink]:
        """Every outcome as its chain link, in id order: what ``verify`` hashes, read
        without building records (issue 16)."""
        ...

    def schedule_states(self) -> dict[StateKey, ScheduleState]: ...


# --- analyte results of specimens, append-only and journaled --------------------------


class SpecimenResults(Protocol):
    """What deciding a specimen needs: the results stored for it so far, the table's
    newest row (for the next id), and the append."""

    def last_analyte_result(self) -> AnalyteResult | None: ...
    def specimen_results(self, participant: str, specimen: str) -> list[AnalyteResult]:
        """One specimen's results, in id order."""
        ...

    def add_analyte_results(self, results: Sequence[AnalyteResult]) -> None:
        """Append; a second result for one (participant, specimen, analyte) is refused."""
        ...

    def last_analyte_revision(self) -> AnalyteRevision | None: ...
    def specimen_revisions(self, participant: str, specimen: str) -> list[AnalyteRevision]:
        """One specimen's revisions (reports after or before its first decisive results),
        in id order."""
        ...

    def add_analyte_revisions(self, revisions: Sequence[AnalyteRevision]) -> None:
        """Append."""
        ...

    def specimens_of(
        self, specimens: Sequence[tuple[str, str]]
    ) -> tuple[list[AnalyteResult], list[AnalyteRevision]]:
        """The results and the revisions of every (participant, specimen) named, each in id
        order: what ``specimen_results`` and ``specimen_revisions`` give for each, read at
        once (a lab import's chunk: two queries instead of two a report, issue 16)."""
        ...


class Specimens(SpecimenResults, Protocol):
    def analyte_results(self, participant: str | None = None) -> list[AnalyteResult]:
        """In id order."""
        ...

    def analyte_revisions(self, participant: str | None = None) -> list[AnalyteRevision]:
        """In id order."""
        ...

    def awaiting_final(self, participant: str) -> list[str]:
        """The participant's specimens with an analyte whose standing report is preliminary
        (``domain/revisions.py`` ``awaiting_final``), in order of collection; what a
        balance reads, so only those rows (one query in SQL)."""
        ...


# --- the ledger, append-only and hash-chained, with balances and cap usage ---------


class LedgerPosting(Protocol):
    """What paying an award needs: the transfer chain's head and append, an account's
    balance (kept in the same unit of work), and the value awarded per participant and
    cap period (kept with each award)."""

    def last_transfer(self) -> Transfer | None:
        """The head of the transfer chain."""
        ...

    def append_transfers(self, transfers: Sequence[Transfer]) -> None: ...
    def balance(self, program_id: str, account: str) -> int:
        """Points; 0 for an account no transfer has touched."""
        ...

    def cap_usage(self, participant: str, period: str) -> int:
        """Cents; 0 for a period with no award."""
        ...

    def add_cap_usage(self, participant: str, period: str, cents: int) -> None: ...


class Ledger(LedgerPosting, Protocol):
    def transfer(self, transfer_id: int) -> Transfer | None: ...
    def transfers(self, participant: str | None = None) -> list[Transfer]:
        """In id order."""
        ...

    def transfer_links(self) -> list[ChainLink]:
        """Every transfer as its chain link, in id order (``Outcomes.outcome_links``)."""
        ...

    def reversal_of(self, transfer_id: int) -> Transfer | None: ...
    def balances(self) -> dict[AccountKey, int]: ...
    def cap_usages(self) -> dict[tuple[str, str], int]: ...


# --- prizes won from the bowl -----------------------------------------------------


class PrizeDraws(Protocol):
    def last_prize(self) -> Prize | None: ...
    def add_prizes(self, prizes: Sequence[Prize]) -> None: ...


class Prizes(PrizeDraws, Protocol):
    def prizes(self, participant: str | None = None) -> list[Prize]:
        """In id order."""
        ...

    def owed_prizes(self, participant: str) -> list[Prize]:
        """The participant's prizes still ``owed`` (not withdrawn), in id order; what a
        balance reads, so only those rows."""
        ...

    def prize(self, prize_id: int) -> Prize | None: ...
    def fulfil_prize(self, fulfilment: PrizeFulfilment) -> None:
        """Record the hand-over and mark the prize fulfilled."""
        ...

    def prize_fulfilments(self) -> list[PrizeFulfilment]: ...
    def add_prize_trades(self, trades: Sequence[PrizeTrade]) -> None:
        """Record the trades and mark each traded prize ``traded``."""
        ...

    def prize_trades(self) -> list[PrizeTrade]: ...


# --- corrections and settlements: append-only, journaled ---------------------------


class History(Protocol):
    """A participant's whole record, which a settlement replays (the wider roles list the
    same reads for everyone)."""

    def outcomes(self, participant: str | None = None) -> list[OutcomeRecord]:
        """In recording (id) order."""
        ...

    def transfers(self, participant: str | None = None) -> list[Transfer]:
        """In id order."""
        ...

    def prizes(self, participant: str | None = None) -> list[Prize]:
        """In id order."""
        ...


class Corrections(Protocol):
    def last_correction(self) -> Correction | None: ...
    def corrections(self, participant: str | None = None) -> list[Correction]:
        """In id order."""
        ...

    def add_corrections(self, corrections: Sequence[Correction]) -> None: ...


class Settlements(Protocol):
    """What a settlement writes besides transfers: write-offs and prize withdrawals."""

    def last_write_off(self) -> WriteOff | None: ...
    def write_offs(self, participant: str | None = None) -> list[WriteOff]:
        """In id order."""
        ...

    def add_write_offs(self, write_offs: Sequence[WriteOff]) -> None: ...
    def last_prize_withdrawal(self) -> PrizeWithdrawal | None: ...
    def prize_withdrawals(self) -> list[PrizeWithdrawal]:
        """In id order."""
        ...

    def add_prize_withdrawals(self, withdrawals: Sequence[PrizeWithdrawal]) -> None:
        """Record each; the prize reads ``withdrawn`` after a withdrawal, ``owed`` again
        after a reinstatement."""
        ...


# --- the catalog and redemptions ------------------------------------------------


class Catalog(Protocol):
    """The items, and their stock kept as append-only movements with a cached sum."""

    def item(self, sku: str) -> CatalogItem | None: ...
    def items(self) -> list[CatalogItem]: ...
    def add_item(self, item: CatalogItem) -> None: ...
    def last_stock_movement(self) -> StockMovement | None: ...
    def stock_movements(self) -> list[StockMovement]: ...
    def add_stock_movements(self, movements: Sequence[StockMovement]) -> None:
        """Append movements; each item's cached stock follows in the same unit of work."""
        ...


class Redemptions(Protocol):
    def redemption(self, redemption_id: int) -> Redemption | None: ...
    def redemptions(self, participant: str | None = None) -> list[Redemption]: ...
    def open_redemptions(self, requested_before: dt.datetime) -> list[Redemption]:
        """Requested or approved redemptions older than a time (for expiry)."""
        ...

    def last_redemption(self) -> Redemption | None: ...
    def add_redemption(self, redemption: Redemption) -> None: ...
    def update_redemption(self, redemption: Redemption) -> None: ...


# --- the journal ------------------------------------------------------------------


class Journal(Protocol):
    """The journal of every write of a record that is not hash-chained itself."""

    def last_journal_entry(self) -> JournalEntry | None: ...
    def journal(self) -> list[JournalEntry]:
        """In id order."""
        ...

    def journal_links(self) -> list[ChainLink]:
        """Every entry as its chain link, in id order (``Outcomes.outcome_links``)."""
        ...

    def append_journal(self, entries: Sequence[JournalEntry]) -> None: ...


# --- idempotency keys, unique per scope (program id, or '' for clinic-wide writes) ----


class IdempotencyCheck(Protocol):
    def idempotency(self, scope: str, key: str) -> IdempotencyRecord | None: ...
    def remember(self, record: IdempotencyRecord) -> None: ...


class IdempotencyKeys(IdempotencyCheck, Protocol):
    def idempotency_many(self, keys: Sequence[tuple[str, str]]) -> list[IdempotencyRecord]:
        """The stored records among these (scope, key) pairs, in no order (one import chunk)."""
        ...

    def remember_all(self, records: Sequence[IdempotencyRecord]) -> None:
        """``remember`` each, in order, as one batch (the import's flush)."""
        ...

    def idempotency_records(self) -> list[IdempotencyRecord]:
        """Every key, for the export."""
        ...

    def stored_keys(self) -> list[StoredKey]:
        """Every key as it is stored, by scope and key, no record built (``verify``)."""
        ...


class ReadAhead(Protocol):
    def read_ahead(self, reads: Callable[[Tx], object]) -> None:
        """Call ``reads`` with the store's own unit, its answers thrown away, so that the
        same reads made next (through this unit or any wrapping it) are answered at once:
        on PostgreSQL they travel together in one round trip (issue 16); a store without
        round trips calls nothing. A write in between makes them be read again."""


# --- units of work ------------------------------------------------------------------


class RecordTx(
    StaffLookup,
    ProgramLookup,
    ParticipantLookup,
    OutcomeChain,
    LedgerPosting,
    PrizeDraws,
    SpecimenResults,
    IdempotencyCheck,
    History,
    Corrections,
    Settlements,
    ReadAhead,
    Protocol,
):
    """What recording an outcome, or the analyte results that decide one, reads and
    writes: all an import chunk may call."""


class WriteStart(RecordTx, Redemptions, Journal, SignIns, Protocol):
    """What a write reads ahead as it begins (``UnitOfWork.write``): the journal's head,
    the host's session and the sign-in policy, the actor, the holds that may expire, and
    the first reads of its use case."""


class HoldRelease(ProgramLookup, Redemptions, LedgerPosting, Catalog, Protocol):
    """What giving a redemption's hold back reads and writes: the redemption and its
    program's rules, the release transfer, the unit of stock (a cancel, an expiry, the
    reversal of a spend)."""


class Tx(
    Staffing,
    SignIns,
    Programs,
    Enrolment,
    Outcomes,
    Specimens,
    Ledger,
    Prizes,
    Catalog,
    Redemptions,
    Journal,
    IdempotencyKeys,
    History,
    Corrections,
    Settlements,
    ReadAhead,
    Protocol,
):
    """One unit of work: reads see the writes made earlier in it."""


class Store(Protocol):
    """A database of one clinic."""

    location: str
    """Where it lives, for messages: a path, or ':memory:'."""

    def write(self) -> AbstractContextManager[Tx]: ...
    def read(self) -> AbstractContextManager[Tx]: ...
    def integrity_problems(self) -> list[str]:
        """Damage the database engine itself can see (page checks); [] when sound."""
        ...

    def close(self) -> None: ...
