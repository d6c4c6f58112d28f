"""One contract for the storage port, run against every adapter and through each wrapper.

``StoreContract`` states what the domain needs from a ``Store`` and its ``Tx``
(store/port.py); each adapter proves itself with one subclass that says how to
open it (``OnMemory``, ``OnSQLite``, ``OnPostgres``). The wrappers the use cases put
on an adapter's unit of work (``JournalingTx`` on every write, ``BufferedTx`` on each
import chunk) run the same contract over each adapter, plus tests of what they add.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

import cmrewards
from cmrewards.domain.analytes import LabResult
from cmrewards.domain.chain import GENESIS, canonical, link, links_of, position_after, sealed
from cmrewards.domain.clock import to_utc_text
from cmrewards.domain.journal import (
    Journaled,
    JournalEntry,
    ProgramAdded,
    entry_for,
    journal_problems,
    latest_digests,
)
from cmrewards.domain.lab_reports import ResultStatus
from cmrewards.domain.ledger import (
    FUNDING,
    REDEEMED,
    AccountKey,
    Movement,
    Transfer,
    available,
    balances_from,
    held,
    route,
)
from cmrewards.domain.programs import Program
from cmrewards.domain.records import (
    Correction,
    CorrectionKind,
    IdempotencyRecord,
    OutcomeRecord,
    Participant,
    Prize,
    PrizeStatus,
    PrizeWithdrawal,
    Status,
    WriteOff,
)
from cmrewards.domain.redemption import (
    CatalogItem,
    PrizeFulfilment,
    PrizeTrade,
    Redemption,
    RedemptionStatus,
    StockMovement,
    StockReason,
)
from cmrewards.domain.revisions import AnalyteRevision
from cmrewards.domain.schedules import Outcome, ScheduleState
from cmrewards.domain.sign_in import SignInEvent, SignInEventKind, StaffSecret
from cmrewards.domain.specimens import AnalyteResult
from cmrewards.domain.staff import Role, Staff
from cmrewards.store.buffered import BufferedTx
from cmrewards.store.memory import MemoryStore
from cmrewards.store.port import StateKey, Store, Tx
from cmrewards.store.sqlite import SQLiteStore
from support import postgres as postgres_support
from support.wrapped_stores import JOURNALED_AT, ImportChunkStore, JournalingStore

HIGGINS = "higgins-vbrt"
PETRY = "petry-fishbowl"
STIM = "stimulant-negative"
SECONDARY = "secondary-negative"
ADMIN = "admin-1"
RECORDER = "rec-1"
ADDED = dt.datetime(2027, 1, 3, 8, 30, 15, 250_000, tzinfo=dt.UTC)
RECORDED = dt.datetime(2027, 6, 1, 12, 0, 0, 123_456, tzinfo=dt.UTC)


def at(day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    """A clinical time in January 2027, UTC."""
    return dt.datetime(2027, 1, 4, hour, minute, tzinfo=dt.UTC) + dt.timedelta(days=day)


# --- records as the facade builds them: numbered and sealed after the chain head ---


def make_outcomes(
    head: OutcomeRecord | None,
    rows: Sequence[tuple[str, str, str, Outcome, dt.datetime]],
) -> list[OutcomeRecord]:
    """Chained records after ``head``; rows are (program, participant, target, outcome, at)."""
    made: list[OutcomeRecord] = []
    for index, (program_id, participant, target, result, when) in enumerate(rows):
        outcome_id, prev_hash = position_after(made[-1] if made else head)
        made.append(
            sealed(
                OutcomeRecord(
                    id=outcome_id,
                    program_id=program_id,
                    participant=participant,
                    target=target,
                    outcome=result,
                    occurred_at=when,
                    recorded_at=RECORDED + dt.timedelta(seconds=outcome_id),
                    actor=RECORDER if index % 2 else ADMIN,
                    key=f"lab-{outcome_id}" if index % 2 == 0 else None,
                    note="dilute, retested" if index % 3 == 0 else None,
                    seed=2**62 + outcome_id if index % 2 else None,
                    prev_hash=prev_hash,
                    hash="",
                )
            )
        )
    return made


TransferRow = tuple[str, Movement, str, int]
"""(program, movement, participant, amount)."""


def make_transfers(head: Transfer | None, rows: Sequence[TransferRow]) -> list[Transfer]:
    made: list[Transfer] = []
    for program_id, movement, participant, amount in rows:
        transfer_id, prev_hash = position_after(made[-1] if made else head)
        source, sink = route(movement, participant)
        made.append(
            _sealed_transfer(
                transfer_id, prev_hash, program_id, movement, source, sink, amount, participant
            )
        )
    return made


def make_reversal(head: Transfer | None, original: Transfer) -> Transfer:
    transfer_id, prev_hash = position_after(head)
    return _sealed_transfer(
        transfer_id,
        prev_hash,
        original.program_id,
        Movement.REVERSAL,
        original.to_account,
        original.from_account,
        original.amount,
        original.participant,
        reverses=original.id,
    )


def _sealed_transfer(
    transfer_id: int,
    prev_hash: str,
    program_id: str,
    movement: Movement,
    source: str,
    sink: str,
    amount: int,
    participant: str | None,
    *,
    reverses: int | None = None,
) -> Transfer:
    return sealed(
        Transfer(
            id=transfer_id,
            program_id=program_id,
            kind=movement,
            from_account=source,
            to_account=sink,
            amount=amount,
            participant=participant,
            actor=ADMIN,
            reason=f"{movement} of {amount}",
            cause=f"outcome:{transfer_id}" if movement is Movement.AWARD else None,
            reverses=reverses,
            occurred_at=at(transfer_id % 5, 10),
            recorded_at=RECORDED + dt.timedelta(minutes=transfer_id),
            prev_hash=prev_hash,
            hash="",
        )
    )


def prize(
    prize_id: int, outcome: OutcomeRecord, *, draw: int, category: str, value_cents: int
) -> Prize:
    return Prize(
        id=prize_id,
        program_id=outcome.program_id,
        participant=outcome.participant,
        outcome_id=outcome.id,
        draw=draw,
        category=category,
        value_cents=value_cents,
        won_at=outcome.occurred_at,
    )


def analyte_result(
    result_id: int, participant: str, specimen: str, analyte: str, result: LabResult
) -> AnalyteResult:
    return AnalyteResult(
        id=result_id,
        program_id=HIGGINS,
        participant=participant,
        specimen=specimen,
        analyte=analyte,
        result=result,
        collected_at=at(1, 10, 30),
        recorded_at=RECORDED,
        actor=RECORDER,
    )


def analyte_revision(
    revision_id: int,
    analyte: str,
    status: ResultStatus,
    result: LabResult | None,
    revises: int | None,
) -> AnalyteRevision:
    return AnalyteRevision(
        id=revision_id,
        program_id=HIGGINS,
        participant="P001",
        specimen="S-1",
        analyte=analyte,
        status=status,
        result=result,
        revises=revises,
        collected_at=at(1, 10, 30),
        recorded_at=RECORDED,
        actor=RECORDER,
    )


def staff_member(staff_id: str, role: Role, added_by: str | None) -> Staff:
    return Staff(staff_id, role, active=True, added_at=ADDED, added_by=added_by)


def enrolment(participant: str, program_id: str, start: dt.date) -> Participant:
    return Participant(
        id=participant,
        program_id=program_id,
        start=start,
        status=Status.ACTIVE,
        enrolled_at=ADDED + dt.timedelta(hours=1),
        enrolled_by=ADMIN,
    )


ENDED = dt.datetime(2027, 3, 1, 15, 0, tzinfo=dt.UTC)


def ended_episode(person: Participant, status: Status) -> Participant:
    """``person`` with their current episode ended as ``status`` on ``ENDED``."""
    return attrs.evolve(person, status=status, ended_at=ENDED, ended_by=ADMIN)


def second_episode(person: Participant) -> Participant:
    """``person``'s next episode, in PETRY from 1 April."""
    return attrs.evolve(
        person,
        program_id=PETRY,
        start=dt.date(2027, 4, 1),
        status=Status.ACTIVE,
        enrolled_at=ENDED + dt.timedelta(days=30),
        episode=person.episode + 1,
        first_start=person.cap_start,
        ended_at=None,
        ended_by=None,
    )


COUNTED = CatalogItem("gift-card", "Gift card", 40, 0, "large", 2, ADDED, ADMIN)
"""An item whose stock is counted (none yet)."""
ON_DEMAND = CatalogItem("bus-pass", "Bus pass", 15, None, None, 0, ADDED, ADMIN)
"""An item bought when needed: no stock count."""


def stock_movement(movement_id: int, sku: str, change: int, reason: StockReason) -> StockMovement:
    return StockMovement(movement_id, sku, change, reason, None, ADMIN, at(movement_id, 12))


def redemption(redemption_id: int, participant: Participant, sku: str, day: int) -> Redemption:
    return Redemption(
        id=redemption_id,
        program_id=participant.program_id,
        participant=participant.id,
        sku=sku,
        cost=15,
        status=RedemptionStatus.REQUESTED,
        requested_at=at(day),
        requested_by=RECORDER,
    )


def journal_entries(records: Sequence[Journaled], head: JournalEntry | None) -> list[JournalEntry]:
    """Chained entries for ``records`` after ``head``."""
    made: list[JournalEntry] = []
    for record in records:
        made.append(entry_for(record, made[-1] if made else head, RECORDED))
    return made


PARTICIPANTS = (
    enrolment("P001", HIGGINS, dt.date(2027, 1, 4)),
    enrolment("P002", HIGGINS, dt.date(2027, 1, 5)),
    enrolment("P003", PETRY, dt.date(2027, 1, 6)),
)


def populate(tx: Tx) -> None:
    """Staff, two programs and three participants: what every other row refers to."""
    tx.add_staff(staff_member(ADMIN, Role.ADMIN, None))
    tx.add_staff(staff_member(RECORDER, Role.RECORDER, ADMIN))
    tx.add_program(cmrewards.load_preset(HIGGINS), ADDED, ADMIN)
    tx.add_program(cmrewards.load_preset(PETRY), ADDED, ADMIN)
    for participant in PARTICIPANTS:
        tx.add_participant(participant)


def snapshot(tx: Tx) -> dict[str, Any]:
    """Everything a store holds, through the port."""
    return {
        "staff": tx.all_staff(),
        "programs": tx.programs(),
        "participants": tx.participants(),
        "past_episodes": tx.past_episodes(),
        "outcomes": tx.outcomes(),
        "last_outcome": tx.last_outcome(),
        "states": tx.schedule_states(),
        "transfers": tx.transfers(),
        "last_transfer": tx.last_transfer(),
        "balances": tx.balances(),
        "prizes": tx.prizes(),
        "cap_usage": tx.cap_usages(),
        "keys": [tx.idempotency(s, k) for s, k in (("higgins-vbrt", "k-1"), ("", "k-2"))],
        "key_records": tx.idempotency_records(),
        "stored_keys": tx.stored_keys(),
        "fulfilments": tx.prize_fulfilments(),
        "trades": tx.prize_trades(),
        "items": tx.items(),
        "stock_movements": tx.stock_movements(),
        "redemptions": tx.redemptions(),
        "analyte_results": tx.analyte_results(),
        "analyte_revisions": tx.analyte_revisions(),
        "staff_secrets": tx.staff_secrets(),
        "sign_ins": tx.sign_ins(),
        "journal": tx.journal(),
    }


def sign_in_event(
    event_id: int,
    staff_id: str,
    kind: SignInEventKind,
    *,
    session: str | None = None,
    detail: str | None = None,
) -> SignInEvent:
    """An event with every column set that its kind sets."""
    opened = kind is SignInEventKind.SIGNED_IN
    return SignInEvent(
        event_id,
        staff_id,
        kind,
        at(event_id),
        os_user="desk",
        location="/clinic/cm.db" if session else None,
        session=session,
        expires_at=at(event_id + 1) if opened else None,
        detail=detail,
    )


def journaled_records(tx: Tx) -> list[Journaled]:
    """Every record the journal covers, as it is now (what verify compares)."""
    origins = tx.program_origins()
    return [
        *tx.all_staff(),
        *(ProgramAdded(p, *origins[p.id]) for p in tx.programs()),
        *tx.participants(),
        *tx.past_episodes(),
        *tx.prizes(),
        *tx.prize_fulfilments(),
        *tx.prize_trades(),
        *tx.items(),
        *tx.stock_movements(),
        *tx.redemptions(),
        *tx.analyte_results(),
        *tx.analyte_revisions(),
        *tx.idempotency_records(),
    ]


def nonzero(balances: dict[AccountKey, int]) -> dict[AccountKey, int]:
    return {key: points for key, points in balances.items() if points}


class Boom(Exception):
    """A failure in the middle of a unit of work."""


def write_everything_then_fail(store: Store, seen: dict[str, object]) -> None:
    """Write a row through every Tx method, note what the unit of work sees, then fail."""
    with store.write() as tx:
        tx.add_staff(staff_member("clin-9", Role.CLINICIAN, ADMIN))
        tx.add_program(cmrewards.load_preset("va-prize-cm"), ADDED, ADMIN)
        tx.add_participant(enrolment("P010", HIGGINS, dt.date(2027, 1, 4)))
        (record,) = make_outcomes(None, [(HIGGINS, "P010", STIM, Outcome.MET, at(0))])
        tx.append_outcomes([record])
        tx.add_prizes([prize(1, record, draw=0, category="small", value_cents=100)])
        tx.add_cap_usage("P010", "2027", 350)
        tx.put_schedule_states([(("P010", STIM), ScheduleState(pos=1, run=1))])
        tx.append_transfers(make_transfers(None, [(HIGGINS, Movement.AWARD, "P010", 10)]))
        tx.remember(IdempotencyRecord(HIGGINS, "k-1", "ab" * 32, {"n": 1}, RECORDED))
        tx.remember(IdempotencyRecord("", "k-2", "cd" * 32, {"n": 2}, RECORDED))
        tx.set_staff_active(RECORDER, False)
        tx.put_staff_secret(
            StaffSecret(RECORDER, "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", ADDED, ADMIN)
        )
        tx.add_sign_ins([sign_in_event(1, RECORDER, SignInEventKind.FAILED)])
        tx.update_participant(ended_episode(PARTICIPANTS[0], Status.WITHDRAWN))
        tx.add_past_episode(ended_episode(PARTICIPANTS[1], Status.COMPLETED).as_episode())
        seen["staff"] = tx.staff("clin-9")
        seen["balance"] = tx.balance(HIGGINS, available("P010"))
        seen["outcomes"] = len(tx.outcomes("P010"))
        seen["episodes"] = len(tx.past_episodes("P002"))
        raise Boom


def overwrite_then_interrupt(store: Store, outcome_head: OutcomeRecord, head: Transfer) -> None:
    """Overwrite a schedule state and append rows, then get interrupted (a BaseException)."""
    with store.write() as tx:
        tx.put_schedule_states([(("P001", STIM), ScheduleState(pos=0, run=0, saved=1))])
        tx.append_outcomes(
            make_outcomes(outcome_head, [(HIGGINS, "P001", STIM, Outcome.NOT_MET, at(1))])
        )
        tx.append_transfers(make_transfers(head, [(HIGGINS, Movement.ADJUSTMENT_DOWN, "P001", 10)]))
        raise KeyboardInterrupt


def append_transfers_after(store: Store, head: Transfer | None, rows: list[TransferRow]) -> None:
    with store.write() as tx:
        tx.append_transfers(make_transfers(head, rows))


def append_outcomes_after(
    store: Store,
    head: OutcomeRecord | None,
    rows: list[tuple[str, str, str, Outcome, dt.datetime]],
) -> None:
    with store.write() as tx:
        tx.append_outcomes(make_outcomes(head, rows))


def add_prizes(store: Store, prizes: list[Prize]) -> None:
    with store.write() as tx:
        tx.add_prizes(prizes)


def append_second_reversal(store: Store, original: Transfer) -> None:
    with store.write() as tx:
        tx.append_transfers([make_reversal(tx.last_transfer(), original)])


def trade_for_a_new_prize(store: Store, new: Prize, *, traded: int) -> None:
    with store.write() as tx:
        tx.add_prizes([new])
        tx.add_prize_trades([PrizeTrade(traded, new.id, ADMIN, at(5))])


def hand_over_and_redeem_then_fail(
    store: Store, outcome: OutcomeRecord, requested: Redemption
) -> None:
    """Write through every catalog, hand-over, redemption and journal method, then fail
    (prizes 1 and 2 owed, ``requested`` open, the counted item in stock)."""
    with store.write() as tx:
        tx.add_item(ON_DEMAND)
        tx.add_stock_movements([stock_movement(2, COUNTED.sku, -1, StockReason.PRIZE)])
        tx.fulfil_prize(PrizeFulfilment(1, COUNTED.sku, ADMIN, at(4), None))
        tx.add_prizes([prize(3, outcome, draw=0, category="large", value_cents=2000)])
        tx.add_prize_trades([PrizeTrade(2, 3, ADMIN, at(5))])
        tx.update_redemption(attrs.evolve(requested, status=RedemptionStatus.CANCELLED))
        tx.add_redemption(redemption(2, PARTICIPANTS[2], ON_DEMAND.sku, day=2))
        tx.append_journal(journal_entries([ON_DEMAND], tx.last_journal_entry()))
        raise Boom


class StoreContract:
    """What every ``Store`` adapter must do. Subclasses say how to open one."""

    refusal: ClassVar[tuple[type[BaseException], ...]]
    """What the adapter raises when a uniqueness rule the domain relies on is broken."""

    def open_adapter(self, directory: Path) -> Store:
        """A new, empty database of the adapter under test."""
        raise NotImplementedError

    def open_again(self, store: Store, directory: Path) -> Store:
        """Another handle on the same database (a second terminal)."""
        raise NotImplementedError

    def wrap(self, adapter: Store) -> Store:
        """The store the tests use: the adapter, or a wrapper around its units of work."""
        return adapter

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = self.wrap(self.open_adapter(tmp_path))
        yield store
        store.close()

    @pytest.fixture
    def clinic_store(self, store: Store) -> Store:
        """A store with staff, programs and participants in place."""
        with store.write() as tx:
            populate(tx)
        return store

    # --- an empty store -------------------------------------------------------

    def test_an_empty_store_has_nothing(self, store: Store) -> None:
        with store.read() as tx:
            assert tx.all_staff() == []
            assert tx.staff(ADMIN) is None
            assert tx.programs() == []
            assert tx.program(HIGGINS) is None
            assert tx.participants() == []
            assert tx.participant("P001") is None
            assert tx.last_outcome() is None
            assert tx.last_outcome_for("P001", STIM) is None
            assert tx.outcomes() == []
            assert tx.outcomes("P001") == []
            assert tx.outcomes_at("P001", at(0)) == []
            assert tx.schedule_state("P001", STIM) is None
            assert tx.schedule_states() == {}
            assert tx.last_transfer() is None
            assert tx.transfer(1) is None
            assert tx.transfers() == []
            assert tx.reversal_of(1) is None
            assert tx.balances() == {}
            assert tx.balance(HIGGINS, FUNDING) == 0
            assert tx.idempotency(HIGGINS, "k-1") is None
            assert tx.analyte_results() == []
            assert tx.last_analyte_result() is None
            assert tx.specimen_results("P001", "S-1") == []

    def test_location_names_the_database(self, store: Store) -> None:
        assert isinstance(store.location, str)
        assert store.location != ""

    def test_a_sound_store_reports_no_integrity_problems(self, clinic_store: Store) -> None:
        assert clinic_store.integrity_problems() == []

    # --- staff ------------------------------------------------------------------

    def test_staff_round_trip(self, store: Store) -> None:
        admin = staff_member(ADMIN, Role.ADMIN, None)
        clinician = staff_member("clin-1", Role.CLINICIAN, ADMIN)
        recorder = staff_member(RECORDER, Role.RECORDER, "clin-1")
        first_by_id = staff_member("aa-1", Role.RECORDER, ADMIN)
        with store.write() as tx:
            for member in (admin, clinician, recorder, first_by_id):
                tx.add_staff(member)
        with store.read() as tx:
            assert tx.staff(ADMIN) == admin
            assert tx.staff("clin-1") == clinician
            assert tx.staff(RECORDER) == recorder
            assert tx.staff("aa-1") == first_by_id
            assert tx.staff("nobody") is None
            assert tx.all_staff() == [first_by_id, admin, clinician, recorder]

    def test_set_staff_active_changes_only_that_member(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            tx.set_staff_active(RECORDER, False)
        with clinic_store.read() as tx:
            recorder = tx.staff(RECORDER)
            admin = tx.staff(ADMIN)
        assert (
            Staff(RECORDER, Role.RECORDER, active=False, added_at=ADDED, added_by=ADMIN) == recorder
        )
        assert staff_member(ADMIN, Role.ADMIN, None) == admin
        with clinic_store.write() as tx:
            tx.set_staff_active(RECORDER, True)
        with clinic_store.read() as tx:
            assert staff_member(RECORDER, Role.RECORDER, ADMIN) == tx.staff(RECORDER)

    # --- sign-in ----------------------------------------------------------------

    def test_a_staff_secret_is_stored_and_replaced(self, clinic_store: Store) -> None:
        first = StaffSecret(RECORDER, "$argon2id$first", ADDED, ADMIN)
        second = StaffSecret(RECORDER, "$argon2id$second", at(3), RECORDER)
        admin = StaffSecret(ADMIN, "$argon2id$admin", at(1), ADMIN)
        with clinic_store.read() as tx:
            assert tx.staff_secret(RECORDER) is None
            assert tx.staff_secrets() == []
        with clinic_store.write() as tx:
            tx.put_staff_secret(first)
            tx.put_staff_secret(admin)
            assert tx.staff_secret(RECORDER) == first
        with clinic_store.write() as tx:
            tx.put_staff_secret(second)
        with clinic_store.read() as tx:
            assert tx.staff_secret(RECORDER) == second
            assert tx.staff_secrets() == [admin, second]

    def test_a_secret_of_nobody_is_refused(self, clinic_store: Store) -> None:
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.put_staff_secret(StaffSecret("nobody", "$argon2id$x", ADDED, ADMIN))

    def test_sign_in_events_round_trip_by_staff_session_and_policy(
        self, clinic_store: Store
    ) -> None:
        opened = sign_in_event(1, RECORDER, SignInEventKind.SIGNED_IN, session="ab" * 32)
        policy = sign_in_event(2, ADMIN, SignInEventKind.POLICY, detail='{"required": true}')
        failed = sign_in_event(3, ADMIN, SignInEventKind.FAILED)
        closed = sign_in_event(4, RECORDER, SignInEventKind.SIGNED_OUT, session="ab" * 32)
        later = sign_in_event(5, ADMIN, SignInEventKind.POLICY, detail='{"required": false}')
        confirmed = sign_in_event(6, ADMIN, SignInEventKind.CONFIRMED)
        with clinic_store.read() as tx:
            assert tx.last_sign_in() is None
            assert tx.sign_in_policy() is None
        with clinic_store.write() as tx:
            tx.add_sign_ins([opened, policy])
            tx.add_sign_ins([failed, closed, later, confirmed])
        with clinic_store.read() as tx:
            assert tx.sign_ins() == [opened, policy, failed, closed, later, confirmed]
            assert tx.sign_ins(RECORDER) == [opened, closed]
            assert tx.sign_ins(ADMIN) == [policy, failed, later, confirmed]
            assert tx.session_events("ab" * 32) == [opened, closed]
            assert tx.session_events("cd" * 32) == []
            assert tx.sign_in_policy() == later
            assert tx.last_sign_in() == confirmed

    def test_a_sign_in_id_is_used_once(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            tx.add_sign_ins([sign_in_event(1, RECORDER, SignInEventKind.FAILED)])
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.add_sign_ins([sign_in_event(1, ADMIN, SignInEventKind.FAILED)])

    # --- programs ---------------------------------------------------------------

    def test_programs_round_trip_equal(self, store: Store) -> None:
        presets: list[Program] = [cmrewards.load_preset(n) for n in cmrewards.preset_names()]
        assert len(presets) >= 3
        with store.write() as tx:
            tx.add_staff(staff_member(ADMIN, Role.ADMIN, None))
            for program in reversed(presets):
                tx.add_program(program, ADDED, ADMIN)
        with store.read() as tx:
            for program in presets:
                assert program == tx.program(program.id)
            assert tx.program("no-such-program") is None
            assert sorted(presets, key=lambda p: p.id) == tx.programs()

    # --- participants -------------------------------------------------------------

    def test_participants_round_trip(self, clinic_store: Store) -> None:
        with clinic_store.read() as tx:
            for participant in PARTICIPANTS:
                assert participant == tx.participant(participant.id)
            assert tx.participant("P999") is None
            assert list(PARTICIPANTS) == tx.participants()

    def test_participants_are_listed_by_id(self, clinic_store: Store) -> None:
        late = enrolment("P000", HIGGINS, dt.date(2027, 2, 1))
        with clinic_store.write() as tx:
            tx.add_participant(late)
        with clinic_store.read() as tx:
            assert [p.id for p in tx.participants()] == ["P000", "P001", "P002", "P003"]

    def test_update_participant_replaces_the_whole_row(self, clinic_store: Store) -> None:
        withdrawn = ended_episode(PARTICIPANTS[1], Status.WITHDRAWN)
        again = second_episode(ended_episode(PARTICIPANTS[2], Status.COMPLETED))
        with clinic_store.write() as tx:
            tx.update_participant(withdrawn)
            tx.update_participant(again)
            tx.update_participant(enrolment("P404", HIGGINS, dt.date(2027, 1, 4)))  # no row
        with clinic_store.read() as tx:
            assert [PARTICIPANTS[0], withdrawn, again] == tx.participants()
            assert withdrawn == tx.participant("P002")
            assert again == tx.participant("P003")
        assert (2, dt.date(2027, 1, 6)) == (again.episode, again.first_start)
        assert withdrawn.ended_at == ENDED

    def test_past_episodes_are_kept_by_participant_and_number(self, clinic_store: Store) -> None:
        first = ended_episode(PARTICIPANTS[2], Status.COMPLETED)
        second = attrs.evolve(
            ended_episode(second_episode(first), Status.WITHDRAWN), ended_by=None, ended_at=None
        )
        other = ended_episode(PARTICIPANTS[0], Status.WITHDRAWN)
        with clinic_store.write() as tx:
            assert tx.past_episodes("P003") == []
            tx.add_past_episode(first.as_episode())
            tx.add_past_episode(other.as_episode())
            tx.add_past_episode(second.as_episode())
            assert [first.as_episode(), second.as_episode()] == tx.past_episodes("P003")
        with clinic_store.read() as tx:
            assert [first.as_episode(), second.as_episode()] == tx.past_episodes("P003")
            assert [other.as_episode()] == tx.past_episodes("P001")
            assert tx.past_episodes("P002") == []
            everyone = [other.as_episode(), first.as_episode(), second.as_episode()]
            assert everyone == tx.past_episodes()

    def test_a_past_episode_is_kept_once_and_ended(self, clinic_store: Store) -> None:
        kept = ended_episode(PARTICIPANTS[0], Status.WITHDRAWN).as_episode()
        with clinic_store.write() as tx:
            tx.add_past_episode(kept)
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.add_past_episode(attrs.evolve(kept, program_id=PETRY))
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.add_past_episode(attrs.evolve(kept, number=2, status=Status.ACTIVE))
        with clinic_store.read() as tx:
            assert [kept] == tx.past_episodes()

    # --- outcomes ---------------------------------------------------------------

    def _append_sample_outcomes(self, store: Store) -> list[OutcomeRecord]:
        """Six outcomes in three units of work; ids deliberately not in clinical-time order."""
        batches: list[list[tuple[str, str, str, Outcome, dt.datetime]]] = [
            [
                (HIGGINS, "P001", STIM, Outcome.MET, at(2)),
                (HIGGINS, "P002", STIM, Outcome.NOT_MET, at(0)),
            ],
            [(PETRY, "P003", STIM, Outcome.MET, at(1))],
            [
                (PETRY, "P003", SECONDARY, Outcome.MET, at(1)),
                (HIGGINS, "P001", STIM, Outcome.EXCUSED, at(4)),
                (HIGGINS, "P002", STIM, Outcome.MISSED, at(3)),
            ],
        ]
        written: list[OutcomeRecord] = []
        for batch in batches:
            with store.write() as tx:
                records = make_outcomes(tx.last_outcome(), batch)
                tx.append_outcomes(records)
            written += records
        return written

    def test_outcomes_round_trip_in_id_order(self, clinic_store: Store) -> None:
        written = self._append_sample_outcomes(clinic_store)
        assert [o.id for o in written] == [1, 2, 3, 4, 5, 6]
        with clinic_store.read() as tx:
            assert written == tx.outcomes()
            assert written[-1] == tx.last_outcome()
            assert [written[0], written[4]] == tx.outcomes("P001")
            assert [written[1], written[5]] == tx.outcomes("P002")
            assert [written[2], written[3]] == tx.outcomes("P003")
            assert tx.outcomes("P999") == []

    def test_outcome_chain_links_survive_storage(self, clinic_store: Store) -> None:
        self._append_sample_outcomes(clinic_store)
        with clinic_store.read() as tx:
            stored = tx.outcomes()
        expected_prev = GENESIS
        for record in stored:
            assert expected_prev == record.prev_hash
            assert link(record.prev_hash, record.hash_fields()) == record.hash
            expected_prev = record.hash

    def test_chain_links_are_the_records_as_hashed(self, clinic_store: Store) -> None:
        # verify hashes the rows as links without building records: each link must be
        # the record's own (id, prev_hash, hash, hash_fields()), optional fields included.
        self._append_sample_outcomes(clinic_store)
        with clinic_store.write() as tx:
            (head,) = make_outcomes(
                tx.last_outcome(), [(HIGGINS, "P001", STIM, Outcome.MET, at(6))]
            )
            visited = attrs.evolve(head, visit="V-6", specimen="ACC-6", note="négatif ✓")
            tx.append_outcomes([sealed(visited)])
            award, bonus = make_transfers(
                tx.last_transfer(),
                [(HIGGINS, Movement.AWARD, "P001", 10), (HIGGINS, Movement.BONUS, "P001", 5)],
            )
            settled = sealed(attrs.evolve(bonus, settles=7, cap_change_cents=50))
            tx.append_transfers([award, settled])
            nurse = Staff("nurse-1", Role.RECORDER, True, at(0), "admin-1")
            tx.append_journal(journal_entries([nurse], tx.last_journal_entry()))
        with clinic_store.read() as tx:
            assert links_of(tx.outcomes()) == tx.outcome_links()
            assert links_of(tx.transfers()) == tx.transfer_links()
            assert links_of(tx.journal()) == tx.journal_links()
            assert tx.journal_links() != []
            assert {"visit", "specimen"} <= set(tx.outcome_links()[-1][3])
            assert "visit" not in tx.outcome_links()[0][3]
            # Each link's fields come in the order canonical() spells them (ChainLink).
            for chain in (tx.outcome_links(), tx.transfer_links(), tx.journal_links()):
                assert all(list(fields) == sorted(fields) for *_, fields in chain)
            # ... and verify reads the records' meaning from the same links.
            assert [OutcomeRecord.of_link(link) for link in tx.outcome_links()] == tx.outcomes()
            assert [Transfer.of_link(link) for link in tx.transfer_links()] == tx.transfers()

    def test_last_outcome_for_each_participant_and_target(self, clinic_store: Store) -> None:
        written = self._append_sample_outcomes(clinic_store)
        with clinic_store.read() as tx:
            assert written[4] == tx.last_outcome_for("P001", STIM)
            assert written[5] == tx.last_outcome_for("P002", STIM)
            assert written[2] == tx.last_outcome_for("P003", STIM)
            assert written[3] == tx.last_outcome_for("P003", SECONDARY)
            assert tx.last_outcome_for("P001", SECONDARY) is None
            assert tx.last_outcome_for("P999", STIM) is None

    def test_outcomes_at_one_visit_in_recording_order(self, clinic_store: Store) -> None:
        written = self._append_sample_outcomes(clinic_store)
        with clinic_store.read() as tx:
            assert [written[2], written[3]] == tx.outcomes_at("P003", at(1))
            assert [written[0]] == tx.outcomes_at("P001", at(2))
            assert tx.outcomes_at("P001", at(1)) == []
            assert tx.outcomes_at("P001", at(2) + dt.timedelta(microseconds=1)) == []
            # The same instant written in another zone is the same visit.
            same_instant = at(1).astimezone(dt.timezone(dt.timedelta(hours=-8)))
            assert [written[2], written[3]] == tx.outcomes_at("P003", same_instant)

    def test_outcomes_since_of_several_participants(self, clinic_store: Store) -> None:
        written = self._append_sample_outcomes(clinic_store)
        with clinic_store.read() as tx:
            found = tx.outcomes_since_of(["P001", "P003", "P999", "P001"], at(1))
            assert sorted(found, key=lambda r: r.id) == [written[0], *written[2:5]]
            assert tx.outcomes_since_of(["P002"], at(3)) == [written[5]]
            assert tx.outcomes_since_of(["P002"], at(3) + dt.timedelta(microseconds=1)) == []
            assert tx.outcomes_since_of([], at(0)) == []

    def test_an_outcome_by_id_with_its_visit_and_specimen(self, clinic_store: Store) -> None:
        written = self._append_sample_outcomes(clinic_store)
        with clinic_store.write() as tx:
            (head,) = make_outcomes(
                tx.last_outcome(), [(HIGGINS, "P001", STIM, Outcome.MET, at(6))]
            )
            visited = sealed(attrs.evolve(head, visit="V-6", specimen="ACC-0006"))
            tx.append_outcomes([visited])
        with clinic_store.read() as tx:
            assert tx.outcome(3) == written[2]
            assert tx.outcome(7) == visited
            assert (visited.visit, visited.specimen) == ("V-6", "ACC-0006")
            assert tx.outcome(99) is None
            assert link(visited.prev_hash, visited.hash_fields()) == visited.hash

    # --- corrections, write-offs and prize withdrawals --------------------------------

    def test_corrections_round_trip_per_participant(self, clinic_store: Store) -> None:
        written = self._append_sample_outcomes(clinic_store)
        made = [
            Correction(1, HIGGINS, "P002", written[1].id, CorrectionKind.CORRECT, Outcome.MET,
                       None, "lab retest negative", ADMIN, RECORDED),
            Correction(2, PETRY, "P003", written[2].id, CorrectionKind.CORRECT, Outcome.MET,
                       2**62 + 9, "confirmed", RECORDER, RECORDED),
            Correction(3, HIGGINS, "P002", written[1].id, CorrectionKind.VOID, None, None,
                       "wrong chart", ADMIN, RECORDED + dt.timedelta(seconds=1)),
        ]  # fmt: skip
        with clinic_store.write() as tx:
            assert tx.last_correction() is None
            tx.add_corrections(made[:2])
        with clinic_store.write() as tx:
            tx.add_corrections(made[2:])
        with clinic_store.read() as tx:
            assert tx.corrections() == made
            assert tx.corrections("P002") == [made[0], made[2]]
            assert tx.corrections("P001") == []
            assert tx.last_correction() == made[2]
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.add_corrections([attrs.evolve(made[0], id=4, outcome_id=99)])  # no such outcome

    def test_settlement_transfers_keep_the_outcome_they_settle(self, clinic_store: Store) -> None:
        written = self._append_sample_outcomes(clinic_store)
        with clinic_store.write() as tx:
            (award,) = make_transfers(None, [(HIGGINS, Movement.AWARD, "P001", 15)])
            settled = sealed(attrs.evolve(award, settles=written[0].id, cause="correction:1"))
            tx.append_transfers([settled])
        with clinic_store.read() as tx:
            assert tx.transfers("P001") == [settled]
            assert link(settled.prev_hash, settled.hash_fields()) == settled.hash

    def test_write_offs_round_trip_per_participant(self, clinic_store: Store) -> None:
        records = self._prize_setup(clinic_store)
        won = prize(1, records[0], draw=0, category="small", value_cents=100)
        made = [
            WriteOff(1, HIGGINS, "P001", records[1].id, 60, None, 1500, "correction:1", ADMIN,
                     RECORDED),
            WriteOff(2, PETRY, "P003", records[0].id, 0, won.id, 100, "outcome:4", RECORDER,
                     RECORDED),
        ]  # fmt: skip
        with clinic_store.write() as tx:
            tx.add_prizes([won])
            assert tx.last_write_off() is None
            tx.add_write_offs(made)
        with clinic_store.read() as tx:
            assert tx.write_offs() == made
            assert tx.write_offs("P003") == [made[1]]
            assert tx.last_write_off() == made[1]

    def test_a_withdrawn_prize_reads_withdrawn_until_reinstated(self, clinic_store: Store) -> None:
        records = self._prize_setup(clinic_store)
        won = [
            prize(1, records[0], draw=0, category="small", value_cents=100),
            prize(2, records[0], draw=1, category="large", value_cents=2000),
        ]
        out = PrizeWithdrawal(1, 1, False, "correction:1", ADMIN, RECORDED)
        with clinic_store.write() as tx:
            tx.add_prizes(won)
            assert tx.last_prize_withdrawal() is None
            tx.add_prize_withdrawals([out])
            assert tx.prize(1) == attrs.evolve(won[0], status=PrizeStatus.WITHDRAWN)
        with clinic_store.read() as tx:
            assert [p.status for p in tx.prizes("P003")] == [
                PrizeStatus.WITHDRAWN,
                PrizeStatus.OWED,
            ]
            assert tx.prize_withdrawals() == [out]
        # A withdrawn prize is not handed over.
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.fulfil_prize(PrizeFulfilment(1, "TOY", ADMIN, RECORDED, None))
        back = PrizeWithdrawal(2, 1, True, "outcome:9", ADMIN, RECORDED)
        with clinic_store.write() as tx:
            tx.add_prize_withdrawals([back])
        with clinic_store.read() as tx:
            assert tx.prize(1) == won[0]
            assert tx.last_prize_withdrawal() == back

    # --- schedule states ----------------------------------------------------------

    def test_schedule_states_insert_overwrite_and_list(self, clinic_store: Store) -> None:
        first: list[tuple[StateKey, ScheduleState]] = [
            (("P001", STIM), ScheduleState(pos=3, run=3)),
            (("P003", STIM), ScheduleState(pos=1, run=2, saved=None, last_week=1)),
        ]
        with clinic_store.write() as tx:
            tx.put_schedule_states(first)
        with clinic_store.read() as tx:
            assert ScheduleState(pos=3, run=3) == tx.schedule_state("P001", STIM)
            assert dict(first) == tx.schedule_states()
            assert tx.schedule_state("P002", STIM) is None
            assert tx.schedule_state("P003", SECONDARY) is None
        second: list[tuple[StateKey, ScheduleState]] = [
            (("P001", STIM), ScheduleState(pos=0, run=0, saved=3, last_week=None)),
            (("P003", SECONDARY), ScheduleState(pos=2, run=2, saved=None, last_week=2)),
        ]
        with clinic_store.write() as tx:
            tx.put_schedule_states(second)
        with clinic_store.read() as tx:
            assert ScheduleState(pos=0, run=0, saved=3) == tx.schedule_state("P001", STIM)
            assert {
                ("P001", STIM): ScheduleState(pos=0, run=0, saved=3),
                ("P003", STIM): ScheduleState(pos=1, run=2, last_week=1),
                ("P003", SECONDARY): ScheduleState(pos=2, run=2, last_week=2),
            } == tx.schedule_states()

    # --- transfers and balances ---------------------------------------------------

    LEDGER: ClassVar[list[TransferRow]] = [
        (HIGGINS, Movement.AWARD, "P001", 10),
        (HIGGINS, Movement.AWARD, "P002", 15),
        (PETRY, Movement.AWARD, "P003", 7),
        (HIGGINS, Movement.BONUS, "P001", 40),
        (HIGGINS, Movement.HOLD, "P001", 30),
        (HIGGINS, Movement.RELEASE, "P001", 5),
        (HIGGINS, Movement.SPEND, "P001", 25),
        (HIGGINS, Movement.ADJUSTMENT_DOWN, "P002", 15),
        (PETRY, Movement.ADJUSTMENT_UP, "P003", 3),
        (PETRY, Movement.HOLD, "P003", 10),
    ]

    def test_balances_follow_every_appended_transfer(self, clinic_store: Store) -> None:
        appended: list[Transfer] = []
        for row in self.LEDGER:
            with clinic_store.write() as tx:
                (transfer,) = make_transfers(tx.last_transfer(), [row])
                tx.append_transfers([transfer])
                # Inside the unit of work the balances already include it.
                expected = balances_from([*appended, transfer])
                for (program_id, account), points in expected.items():
                    assert points == tx.balance(program_id, account)
            appended.append(transfer)
            with clinic_store.read() as tx:
                expected = balances_from(appended)
                assert nonzero(expected) == nonzero(tx.balances())
                for (program_id, account), points in expected.items():
                    assert points == tx.balance(program_id, account)
        with clinic_store.read() as tx:
            final = {
                (HIGGINS, FUNDING): -50,
                (HIGGINS, available("P001")): 25,
                (HIGGINS, held("P001")): 0,
                (HIGGINS, REDEEMED): 25,
                (HIGGINS, available("P002")): 0,
                (PETRY, FUNDING): -10,
                (PETRY, available("P003")): 0,
                (PETRY, held("P003")): 10,
            }
            for (program_id, account), points in final.items():
                assert points == tx.balance(program_id, account)
            assert nonzero(final) == nonzero(tx.balances())
            # Accounts are per program: P003's accounts do not exist in higgins.
            assert tx.balance(HIGGINS, held("P003")) == 0
            assert tx.balance(PETRY, REDEEMED) == 0

    def test_transfers_round_trip_in_id_order(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            written = make_transfers(None, self.LEDGER[:4])
            tx.append_transfers(written)
        with clinic_store.write() as tx:
            more = make_transfers(tx.last_transfer(), self.LEDGER[4:])
            tx.append_transfers(more)
        written += more
        assert list(range(1, len(self.LEDGER) + 1)) == [t.id for t in written]
        with clinic_store.read() as tx:
            assert written == tx.transfers()
            assert written[-1] == tx.last_transfer()
            for transfer in written:
                assert transfer == tx.transfer(transfer.id)
            assert tx.transfer(len(written) + 1) is None
            assert tx.transfer(0) is None
            assert [t for t in written if t.participant == "P001"] == tx.transfers("P001")
            assert [written[1], written[7]] == tx.transfers("P002")
            assert [written[2], written[8], written[9]] == tx.transfers("P003")
            assert tx.transfers("P999") == []

    def test_reversal_of_finds_the_mirror_transfer(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            written = make_transfers(None, self.LEDGER[:3])
            tx.append_transfers(written)
            reversal = make_reversal(written[-1], written[1])
            tx.append_transfers([reversal])
            assert reversal == tx.reversal_of(written[1].id)
        with clinic_store.read() as tx:
            assert reversal == tx.reversal_of(written[1].id)
            assert tx.reversal_of(written[0].id) is None
            assert tx.reversal_of(reversal.id) is None
            assert reversal == tx.last_transfer()
            assert reversal == tx.transfer(4)
            # The original row is untouched.
            assert written[1] == tx.transfer(2)
            assert tx.balance(HIGGINS, available("P002")) == 0
            assert tx.balance(HIGGINS, FUNDING) == -10

    def test_a_second_reversal_of_one_transfer_is_refused(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            written = make_transfers(None, [(HIGGINS, Movement.AWARD, "P001", 50)])
            first = make_reversal(written[0], written[0])
            tx.append_transfers([*written, first])
            tx.append_transfers(make_transfers(first, [(HIGGINS, Movement.AWARD, "P001", 50)]))
        with clinic_store.read() as tx:
            before = snapshot(tx)
        with pytest.raises(self.refusal):
            append_second_reversal(clinic_store, written[0])
        with clinic_store.read() as tx:
            assert before == snapshot(tx)

    def test_a_transfer_id_is_used_once(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            tx.append_transfers(make_transfers(None, [(HIGGINS, Movement.AWARD, "P001", 10)]))
        with clinic_store.read() as tx:
            before = snapshot(tx)
        # A second transfer numbered 1, as a writer that read a stale chain head would make.
        with pytest.raises(self.refusal):
            append_transfers_after(clinic_store, None, [(HIGGINS, Movement.AWARD, "P002", 15)])
        with clinic_store.read() as tx:
            assert snapshot(tx) == before

    def test_an_outcome_id_is_used_once(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            tx.append_outcomes(make_outcomes(None, [(HIGGINS, "P001", STIM, Outcome.MET, at(0))]))
        with clinic_store.read() as tx:
            before = snapshot(tx)
        with pytest.raises(self.refusal):
            append_outcomes_after(clinic_store, None, [(HIGGINS, "P002", STIM, Outcome.MET, at(1))])
        with clinic_store.read() as tx:
            assert snapshot(tx) == before

    # --- prizes and cap usage -----------------------------------------------------------

    def _prize_setup(self, store: Store) -> list[OutcomeRecord]:
        rows: list[tuple[str, str, str, Outcome, dt.datetime]] = [
            (PETRY, "P003", STIM, Outcome.MET, at(1)),
            (HIGGINS, "P001", STIM, Outcome.MET, at(1)),
            (PETRY, "P003", STIM, Outcome.MET, at(3)),
        ]
        with store.write() as tx:
            records = make_outcomes(None, rows)
            tx.append_outcomes(records)
        return records

    def test_prizes_round_trip_in_id_order(self, clinic_store: Store) -> None:
        records = self._prize_setup(clinic_store)
        first = [
            prize(1, records[0], draw=0, category="small", value_cents=100),
            prize(2, records[0], draw=2, category="large", value_cents=2000),
        ]
        second = [prize(3, records[2], draw=1, category="jumbo", value_cents=10000)]
        with clinic_store.write() as tx:
            assert tx.last_prize() is None
            tx.add_prizes(first)
            assert tx.last_prize() == first[-1]
        with clinic_store.write() as tx:
            tx.add_prizes([])
            tx.add_prizes(second)
        with clinic_store.read() as tx:
            assert tx.prizes() == first + second
            assert tx.prizes("P003") == first + second
            assert tx.prizes("P001") == []
            assert tx.last_prize() == second[0]
            assert [p.status for p in tx.prizes()] == [PrizeStatus.OWED] * 3

    def test_a_prize_draw_is_stored_once(self, clinic_store: Store) -> None:
        records = self._prize_setup(clinic_store)
        won = prize(1, records[0], draw=0, category="small", value_cents=100)
        with clinic_store.write() as tx:
            tx.add_prizes([won])
        with pytest.raises(self.refusal):
            add_prizes(
                clinic_store, [prize(2, records[0], draw=0, category="large", value_cents=2000)]
            )
        with clinic_store.read() as tx:
            assert tx.prizes() == [won]

    # --- analyte results of specimens --------------------------------------------------

    def test_analyte_results_round_trip_by_specimen_in_id_order(self, clinic_store: Store) -> None:
        first = [
            analyte_result(1, "P001", "S-1", "cocaine", LabResult.NEGATIVE),
            analyte_result(2, "P002", "S-2", "cocaine", LabResult.POSITIVE),
        ]
        second = [analyte_result(3, "P001", "S-1", "amphetamine", LabResult.DILUTE)]
        with clinic_store.write() as tx:
            tx.add_analyte_results(first)
            assert tx.last_analyte_result() == first[-1]
            assert tx.specimen_results("P001", "S-1") == first[:1]
        with clinic_store.write() as tx:
            tx.add_analyte_results([])
            tx.add_analyte_results(second)
        with clinic_store.read() as tx:
            assert tx.analyte_results() == first + second
            assert tx.analyte_results("P001") == [first[0], second[0]]
            assert tx.specimen_results("P001", "S-1") == [first[0], second[0]]
            assert tx.specimen_results("P002", "S-1") == []
            assert tx.last_analyte_result() == second[0]

    def test_specimens_are_read_many_at_once(self, clinic_store: Store) -> None:
        results = [
            analyte_result(1, "P001", "S-1", "cocaine", LabResult.NEGATIVE),
            analyte_result(2, "P002", "S-2", "cocaine", LabResult.POSITIVE),
            analyte_result(3, "P001", "S-1", "amphetamine", LabResult.NEGATIVE),
            analyte_result(4, "P001", "S-3", "cocaine", LabResult.NEGATIVE),
        ]
        revision = analyte_revision(1, "cocaine", ResultStatus.CORRECTED, LabResult.POSITIVE, 1)
        with clinic_store.write() as tx:
            tx.add_analyte_results(results)
            tx.add_analyte_revisions([revision])
        # Each specimen's rows in id order, as one by one; asked twice or unknown, nothing
        # extra; a participant's other specimens are not read.
        asked = [("P001", "S-1"), ("P002", "S-2"), ("P001", "S-1"), ("P002", "S-1")]
        with clinic_store.read() as tx:
            assert tx.specimens_of(asked) == (results[:3], [revision])
            assert tx.specimens_of([("P002", "S-2")]) == ([results[1]], [])
            assert tx.specimens_of([]) == ([], [])
        # More specimens than one query of the SQL stores takes.
        lots = [analyte_result(10 + n, "P002", f"L-{n}", "cocaine", LabResult.NEGATIVE)
                for n in range(1200)]  # fmt: skip
        with clinic_store.write() as tx:
            tx.add_analyte_results(lots)
        with clinic_store.read() as tx:
            assert tx.specimens_of([("P002", r.specimen) for r in lots]) == (lots, [])

    def test_one_analyte_of_a_specimen_is_stored_once(self, clinic_store: Store) -> None:
        negative = analyte_result(1, "P001", "S-1", "cocaine", LabResult.NEGATIVE)
        with clinic_store.write() as tx:
            tx.add_analyte_results([negative])
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.add_analyte_results(
                [analyte_result(2, "P001", "S-1", "cocaine", LabResult.POSITIVE)]
            )
        with clinic_store.read() as tx:
            assert tx.analyte_results() == [negative]

    def test_analyte_revisions_round_trip_by_specimen_in_id_order(
        self, clinic_store: Store
    ) -> None:
        early = analyte_revision(1, "cocaine", ResultStatus.PRELIMINARY, LabResult.POSITIVE, None)
        final = analyte_result(1, "P001", "S-1", "cocaine", LabResult.NEGATIVE)
        later = [
            analyte_revision(2, "cocaine", ResultStatus.CORRECTED, LabResult.POSITIVE, 1),
            analyte_revision(3, "cocaine", ResultStatus.ENTERED_IN_ERROR, None, 1),
        ]
        with clinic_store.write() as tx:
            tx.add_analyte_revisions([early])
            assert tx.last_analyte_revision() == early
        with clinic_store.write() as tx:
            tx.add_analyte_results([final])
            tx.add_analyte_revisions([])
            tx.add_analyte_revisions(later)
        with clinic_store.read() as tx:
            assert tx.analyte_revisions() == [early, *later]
            assert tx.analyte_revisions("P001") == [early, *later]
            assert tx.analyte_revisions("P002") == []
            assert tx.specimen_revisions("P001", "S-1") == [early, *later]
            assert tx.specimen_revisions("P001", "S-2") == []
            assert tx.last_analyte_revision() == later[-1]

    @pytest.mark.parametrize(
        "bad",
        [
            analyte_revision(1, "cocaine", ResultStatus.FINAL, None, None),
            analyte_revision(1, "cocaine", ResultStatus.CORRECTED, LabResult.POSITIVE, 99),
        ],
        ids=["no-result", "no-such-first-result"],
    )
    def test_a_revision_needs_a_value_unless_withdrawn_and_a_stored_first_result(
        self, clinic_store: Store, bad: AnalyteRevision
    ) -> None:
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.add_analyte_revisions([bad])
        with clinic_store.read() as tx:
            assert tx.analyte_revisions() == []

    def test_cap_usage_accumulates_per_participant_and_period(self, clinic_store: Store) -> None:
        with clinic_store.read() as tx:
            assert tx.cap_usage("P001", "2027") == 0
            assert tx.cap_usages() == {}
        with clinic_store.write() as tx:
            tx.add_cap_usage("P001", "2027", 250)
            tx.add_cap_usage("P001", "2027", 1500)
            assert tx.cap_usage("P001", "2027") == 1750
            tx.add_cap_usage("P001", "2028", 100)
            tx.add_cap_usage("P003", "enrolment-1", 2000)
        with clinic_store.write() as tx:
            # A reversal gives value back to the period.
            tx.add_cap_usage("P001", "2027", -750)
        with clinic_store.read() as tx:
            assert tx.cap_usage("P001", "2027") == 1000
            assert tx.cap_usage("P001", "2028") == 100
            assert tx.cap_usage("P003", "enrolment-1") == 2000
            assert tx.cap_usage("P002", "2027") == 0
            assert tx.cap_usages() == {
                ("P001", "2027"): 1000,
                ("P001", "2028"): 100,
                ("P003", "enrolment-1"): 2000,
            }

    # --- idempotency ----------------------------------------------------------------

    def test_idempotency_keys_round_trip_per_scope(self, clinic_store: Store) -> None:
        result: dict[str, Any] = {
            "outcome_id": 7,
            "award": {"points": 10, "bonus_points": 0, "capped": False},
            "prizes": [],
            "note": None,
            "occurred_at": "2027-01-04T09:00:00.000000Z",
        }
        record = IdempotencyRecord(HIGGINS, "lab-0001", "ab" * 32, result, RECORDED)
        clinic_wide = IdempotencyRecord("", "lab-0001", "cd" * 32, {"id": "rec-1"}, ADDED)
        with clinic_store.write() as tx:
            tx.remember(record)
            tx.remember(clinic_wide)
        with clinic_store.read() as tx:
            assert record == tx.idempotency(HIGGINS, "lab-0001")
            assert clinic_wide == tx.idempotency("", "lab-0001")
            assert tx.idempotency(PETRY, "lab-0001") is None
            assert tx.idempotency(HIGGINS, "lab-0002") is None
            # verify's reading: each as stored, its result in canonical spelling
            assert tx.stored_keys() == [
                ("", "lab-0001", "cd" * 32, canonical({"id": "rec-1"}), to_utc_text(ADDED)),
                (HIGGINS, "lab-0001", "ab" * 32, canonical(result), to_utc_text(RECORDED)),
            ]

    def test_a_key_is_remembered_once_per_scope(self, clinic_store: Store) -> None:
        record = IdempotencyRecord(HIGGINS, "k-1", "ab" * 32, {"n": 1}, RECORDED)
        with clinic_store.write() as tx:
            tx.remember(record)
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.remember(IdempotencyRecord(HIGGINS, "k-1", "ef" * 32, {"n": 2}, RECORDED))
        with clinic_store.read() as tx:
            assert record == tx.idempotency(HIGGINS, "k-1")

    def test_keys_remembered_as_a_batch_are_each_kept_and_a_repeat_refuses_all(
        self, clinic_store: Store
    ) -> None:
        batch = [
            IdempotencyRecord(HIGGINS, f"k-{n}", "ab" * 32, {"n": n}, RECORDED) for n in range(3)
        ]
        with clinic_store.write() as tx:
            tx.remember_all(batch)
        repeat = IdempotencyRecord(PETRY, "k-9", "cd" * 32, {"n": 9}, RECORDED)
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.remember_all([repeat, batch[1]])
        with clinic_store.read() as tx:
            assert [tx.idempotency(HIGGINS, f"k-{n}") for n in range(3)] == batch
            assert tx.idempotency(PETRY, "k-9") is None

    def test_keys_are_looked_up_many_at_once(self, clinic_store: Store) -> None:
        kept = [
            IdempotencyRecord(scope, f"k-{n}", "ab" * 32, {"n": n}, RECORDED)
            for scope in (HIGGINS, PETRY)
            for n in range(3)
        ]
        with clinic_store.write() as tx:
            tx.remember_all(kept)
        # Found by scope and key; asked twice or unknown, nothing extra comes back.
        asked = [(HIGGINS, "k-0"), (PETRY, "k-2"), (HIGGINS, "k-0"), (HIGGINS, "k-9"), ("", "k-1")]
        with clinic_store.read() as tx:
            found = tx.idempotency_many(asked)
            assert sorted(found, key=lambda r: (r.scope, r.key)) == [kept[0], kept[5]]
            assert tx.idempotency_many([]) == []
        # More keys than one query of the SQL stores takes.
        lots = [IdempotencyRecord("", f"x-{n}", "cd" * 32, {}, RECORDED) for n in range(1200)]
        with clinic_store.write() as tx:
            tx.remember_all(lots)
        with clinic_store.read() as tx:
            found = tx.idempotency_many([(r.scope, r.key) for r in lots])
            assert sorted(found, key=lambda r: r.key) == sorted(lots, key=lambda r: r.key)

    # --- the catalog, its stock, redemptions and prize hand-overs -----------------------

    def test_an_item_s_stock_follows_its_movements(self, clinic_store: Store) -> None:
        moves = [
            stock_movement(1, COUNTED.sku, 5, StockReason.RESTOCK),
            stock_movement(2, COUNTED.sku, -1, StockReason.REQUEST),
        ]
        with clinic_store.write() as tx:
            assert tx.last_stock_movement() is None
            tx.add_item(COUNTED)
            tx.add_item(ON_DEMAND)
            tx.add_stock_movements(moves[:1])
            assert attrs.evolve(COUNTED, stock=5) == tx.item(COUNTED.sku)
            tx.add_stock_movements(moves[1:])
        with clinic_store.read() as tx:
            assert [ON_DEMAND, attrs.evolve(COUNTED, stock=4)] == tx.items()
            assert tx.item(ON_DEMAND.sku) == ON_DEMAND
            assert tx.item("no-such-item") is None
            assert moves == tx.stock_movements()
            assert moves[-1] == tx.last_stock_movement()

    def test_stock_never_goes_below_zero(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            tx.add_item(COUNTED)
            tx.add_stock_movements([stock_movement(1, COUNTED.sku, 1, StockReason.RESTOCK)])
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.add_stock_movements([stock_movement(2, COUNTED.sku, -2, StockReason.REQUEST)])
        with clinic_store.read() as tx:
            assert attrs.evolve(COUNTED, stock=1) == tx.item(COUNTED.sku)
            assert len(tx.stock_movements()) == 1

    def test_redemptions_round_trip_and_move_on(self, clinic_store: Store) -> None:
        first = redemption(1, PARTICIPANTS[0], ON_DEMAND.sku, day=1)
        second = redemption(2, PARTICIPANTS[2], ON_DEMAND.sku, day=2)
        approved = attrs.evolve(
            first, status=RedemptionStatus.APPROVED, approved_at=at(3), approved_by=ADMIN
        )
        with clinic_store.write() as tx:
            assert tx.last_redemption() is None
            tx.add_item(ON_DEMAND)
            tx.add_redemption(first)
            tx.add_redemption(second)
            tx.update_redemption(approved)
            assert approved == tx.redemption(1)
        with clinic_store.read() as tx:
            assert [approved, second] == tx.redemptions()
            assert [second] == tx.redemptions(PARTICIPANTS[2].id)
            assert tx.redemptions(PARTICIPANTS[1].id) == []
            assert second == tx.last_redemption()
            assert tx.redemption(3) is None
            # Open means still holding points, requested strictly before the time given.
            assert [approved] == tx.open_redemptions(at(2))
            assert [approved, second] == tx.open_redemptions(at(9))
        fulfilled = attrs.evolve(
            approved, status=RedemptionStatus.FULFILLED, fulfilled_at=at(4), fulfilled_by=ADMIN
        )
        with clinic_store.write() as tx:
            tx.update_redemption(fulfilled)
        with clinic_store.read() as tx:
            assert [second] == tx.open_redemptions(at(9))
            assert [fulfilled, second] == tx.redemptions()

    def test_prize_hand_overs_and_trades_move_prizes_on(self, clinic_store: Store) -> None:
        records = self._prize_setup(clinic_store)
        won = [
            prize(1, records[0], draw=0, category="small", value_cents=100),
            prize(2, records[0], draw=1, category="small", value_cents=100),
            prize(3, records[2], draw=0, category="large", value_cents=2000),
        ]
        handed = PrizeFulfilment(1, ON_DEMAND.sku, ADMIN, at(4), "at the front desk")
        trade = PrizeTrade(2, 3, ADMIN, at(5))
        with clinic_store.write() as tx:
            tx.add_item(ON_DEMAND)
            tx.add_prizes(won)
            tx.fulfil_prize(handed)
            assert (tx.prize(1) or won[0]).status == PrizeStatus.FULFILLED
            tx.add_prize_trades([trade])
        with clinic_store.read() as tx:
            statuses = [p.status for p in tx.prizes()]
            assert statuses == [PrizeStatus.FULFILLED, PrizeStatus.TRADED, PrizeStatus.OWED]
            assert attrs.evolve(won[1], status=PrizeStatus.TRADED) == tx.prize(2)
            assert tx.prize(4) is None
            assert [handed] == tx.prize_fulfilments()
            assert [trade] == tx.prize_trades()

    def test_only_an_owed_prize_moves_on(self, clinic_store: Store) -> None:
        (record, *_) = self._prize_setup(clinic_store)
        won = prize(1, record, draw=0, category="small", value_cents=100)
        with clinic_store.write() as tx:
            tx.add_item(ON_DEMAND)
            tx.add_prizes([won])
            tx.fulfil_prize(PrizeFulfilment(1, ON_DEMAND.sku, ADMIN, at(4), None))
        with clinic_store.read() as tx:
            before = snapshot(tx)
        with pytest.raises(self.refusal), clinic_store.write() as tx:
            tx.fulfil_prize(PrizeFulfilment(1, ON_DEMAND.sku, RECORDER, at(5), None))
        with pytest.raises(self.refusal):
            trade_for_a_new_prize(
                clinic_store, prize(2, record, draw=1, category="small", value_cents=100), traded=1
            )
        with clinic_store.read() as tx:
            assert before == snapshot(tx)

    # --- the journal ----------------------------------------------------------------------

    def test_journal_round_trip_in_id_order(self, store: Store) -> None:
        records: list[Journaled] = [
            staff_member(ADMIN, Role.ADMIN, None),
            ON_DEMAND,
            IdempotencyRecord("", "k-1", "ab" * 32, {"n": 1}, RECORDED),
        ]
        with store.write() as tx:
            assert tx.last_journal_entry() is None
            entries = journal_entries(records[:2], None)
            tx.append_journal(entries)
            assert entries[-1] == tx.last_journal_entry()
        with store.write() as tx:
            more = journal_entries(records[2:], tx.last_journal_entry())
            tx.append_journal(more)
        with store.read() as tx:
            assert [*entries, *more] == tx.journal()
            assert more[-1] == tx.last_journal_entry()
        assert [e.id for e in [*entries, *more]] == [1, 2, 3]

    def test_a_journal_entry_id_is_used_once(self, store: Store) -> None:
        (first,) = journal_entries([ON_DEMAND], None)
        with store.write() as tx:
            tx.append_journal([first])
        with pytest.raises(self.refusal), store.write() as tx:
            tx.append_journal(journal_entries([COUNTED], None))
        with store.read() as tx:
            assert [first] == tx.journal()

    # --- units of work ----------------------------------------------------------------

    def test_a_failed_unit_of_work_leaves_nothing_behind(self, clinic_store: Store) -> None:
        with clinic_store.read() as tx:
            before = snapshot(tx)
        seen: dict[str, object] = {}
        with pytest.raises(Boom):
            write_everything_then_fail(clinic_store, seen)
        # The unit of work saw its own rows before it failed.
        assert seen == {
            "staff": staff_member("clin-9", Role.CLINICIAN, ADMIN),
            "balance": 10,
            "outcomes": 1,
            "episodes": 1,
        }
        with clinic_store.read() as tx:
            after = snapshot(tx)
            assert tx.staff("clin-9") is None
            assert tx.program("va-prize-cm") is None
            assert tx.participant("P010") is None
            assert tx.schedule_state("P010", STIM) is None
            assert tx.balance(HIGGINS, available("P010")) == 0
            assert tx.staff(RECORDER) == staff_member(RECORDER, Role.RECORDER, ADMIN)
            assert tx.participant("P001") == PARTICIPANTS[0]
            assert tx.past_episodes() == []
        assert before == after

    def test_a_failed_unit_of_work_keeps_earlier_commits_and_overwrites(
        self, clinic_store: Store
    ) -> None:
        with clinic_store.write() as tx:
            committed = make_outcomes(None, [(HIGGINS, "P001", STIM, Outcome.MET, at(0))])
            tx.append_outcomes(committed)
            tx.put_schedule_states([(("P001", STIM), ScheduleState(pos=1, run=1))])
            awards = make_transfers(None, [(HIGGINS, Movement.AWARD, "P001", 10)])
            tx.append_transfers(awards)
        with pytest.raises(KeyboardInterrupt):
            overwrite_then_interrupt(clinic_store, committed[0], awards[0])
        with clinic_store.read() as tx:
            assert committed == tx.outcomes()
            assert ScheduleState(pos=1, run=1) == tx.schedule_state("P001", STIM)
            assert awards == tx.transfers()
            assert tx.balance(HIGGINS, available("P001")) == 10
        # The store still works after the failure.
        with clinic_store.write() as tx:
            tx.append_outcomes(
                make_outcomes(committed[0], [(HIGGINS, "P001", STIM, Outcome.MET, at(2))])
            )
        with clinic_store.read() as tx:
            assert [o.id for o in tx.outcomes()] == [1, 2]

    def test_a_failed_unit_of_work_leaves_no_catalog_redemption_or_hand_over_behind(
        self, clinic_store: Store
    ) -> None:
        records = self._prize_setup(clinic_store)
        won = [
            prize(1, records[0], draw=0, category="small", value_cents=100),
            prize(2, records[0], draw=1, category="small", value_cents=100),
        ]
        requested = redemption(1, PARTICIPANTS[0], COUNTED.sku, day=1)
        with clinic_store.write() as tx:
            tx.add_item(COUNTED)
            tx.add_stock_movements([stock_movement(1, COUNTED.sku, 3, StockReason.RESTOCK)])
            tx.add_prizes(won)
            tx.add_redemption(requested)
        with clinic_store.read() as tx:
            before = snapshot(tx)
        with pytest.raises(Boom):
            hand_over_and_redeem_then_fail(clinic_store, records[2], requested)
        with clinic_store.read() as tx:
            assert before == snapshot(tx)
            assert tx.item(ON_DEMAND.sku) is None
            assert attrs.evolve(COUNTED, stock=3) == tx.item(COUNTED.sku)
            assert tx.prize(3) is None
            assert requested == tx.redemption(1)

    def test_reads_inside_a_write_see_its_earlier_rows(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            member = staff_member("clin-2", Role.CLINICIAN, ADMIN)
            tx.add_staff(member)
            assert member == tx.staff("clin-2")
            assert "clin-2" in [s.id for s in tx.all_staff()]

            program = cmrewards.load_preset("va-prize-cm")
            tx.add_program(program, ADDED, ADMIN)
            assert program == tx.program("va-prize-cm")

            person = enrolment("P020", "va-prize-cm", dt.date(2027, 1, 4))
            tx.add_participant(person)
            assert person == tx.participant("P020")
            tx.update_participant(ended_episode(person, Status.COMPLETED))
            assert (tx.participant("P020") or person).status == Status.COMPLETED
            tx.add_past_episode(ended_episode(person, Status.COMPLETED).as_episode())
            assert [e.number for e in tx.past_episodes("P020")] == [1]

            tx.set_staff_active("clin-2", False)
            assert False is (tx.staff("clin-2") or member).active

            (first,) = make_outcomes(None, [("va-prize-cm", "P020", STIM, Outcome.MET, at(0))])
            tx.append_outcomes([first])
            assert first == tx.last_outcome()
            assert first == tx.last_outcome_for("P020", STIM)
            assert [first] == tx.outcomes_at("P020", at(0))
            (second,) = make_outcomes(
                tx.last_outcome(), [("va-prize-cm", "P020", STIM, Outcome.MET, at(0))]
            )
            tx.append_outcomes([second])
            assert [first, second] == tx.outcomes("P020")
            assert [first, second] == tx.outcomes_at("P020", at(0))

            tx.put_schedule_states([(("P020", STIM), ScheduleState(pos=2, run=2, last_week=1))])
            assert ScheduleState(pos=2, run=2, last_week=1) == tx.schedule_state("P020", STIM)

            (award,) = make_transfers(None, [("va-prize-cm", Movement.AWARD, "P020", 12)])
            tx.append_transfers([award])
            assert award == tx.last_transfer()
            assert award == tx.transfer(1)
            assert [award] == tx.transfers("P020")
            assert tx.balance("va-prize-cm", available("P020")) == 12
            assert {("va-prize-cm", FUNDING): -12, ("va-prize-cm", available("P020")): 12} == (
                nonzero(tx.balances())
            )

            key = IdempotencyRecord("va-prize-cm", "k-9", "ab" * 32, {"ok": True}, RECORDED)
            tx.remember(key)
            assert key == tx.idempotency("va-prize-cm", "k-9")

    def test_a_committed_write_is_visible_to_a_later_read(self, clinic_store: Store) -> None:
        with clinic_store.write() as tx:
            records = make_outcomes(None, [(HIGGINS, "P001", STIM, Outcome.MET, at(0))])
            tx.append_outcomes(records)
            transfers = make_transfers(None, [(HIGGINS, Movement.AWARD, "P001", 10)])
            tx.append_transfers(transfers)
        with clinic_store.read() as tx:
            assert records == tx.outcomes()
            assert transfers == tx.transfers()
            assert tx.balance(HIGGINS, available("P001")) == 10
        with clinic_store.write() as tx:
            assert records[0] == tx.last_outcome()
            assert transfers[0] == tx.last_transfer()

    def test_a_committed_write_is_visible_to_another_handle(
        self, clinic_store: Store, tmp_path: Path
    ) -> None:
        other = self.open_again(clinic_store, tmp_path)
        try:
            with other.read() as tx:
                assert list(PARTICIPANTS) == tx.participants()
            with clinic_store.write() as tx:
                records = make_outcomes(None, [(HIGGINS, "P002", STIM, Outcome.MET, at(1))])
                tx.append_outcomes(records)
                tx.remember(IdempotencyRecord(HIGGINS, "k-1", "ab" * 32, {"n": 1}, RECORDED))
            with other.read() as tx:
                assert records == tx.outcomes()
                assert tx.idempotency(HIGGINS, "k-1") is not None
            with other.write() as tx:
                more = make_transfers(None, [(HIGGINS, Movement.AWARD, "P002", 15)])
                tx.append_transfers(more)
            with clinic_store.read() as tx:
                assert more == tx.transfers()
                assert tx.balance(HIGGINS, available("P002")) == 15
        finally:
            if other is not clinic_store:
                other.close()

    def test_an_open_write_is_invisible_to_another_handle_until_it_commits(
        self, clinic_store: Store, tmp_path: Path
    ) -> None:
        other = self.open_again(clinic_store, tmp_path)
        try:
            with clinic_store.write() as tx:
                tx.append_outcomes(
                    make_outcomes(None, [(HIGGINS, "P001", STIM, Outcome.MET, at(0))])
                )
                tx.append_transfers(make_transfers(None, [(HIGGINS, Movement.AWARD, "P001", 10)]))
                with other.read() as seen:
                    assert seen.outcomes() == []
                    assert seen.transfers() == []
                    assert seen.balance(HIGGINS, available("P001")) == 0
            with other.read() as seen:
                assert len(seen.outcomes()) == 1
                assert seen.balance(HIGGINS, available("P001")) == 10
        finally:
            if other is not clinic_store:
                other.close()


class OnMemory(StoreContract):
    refusal = (cmrewards.IntegrityError,)

    def open_adapter(self, directory: Path) -> Store:
        return MemoryStore()

    def open_again(self, store: Store, directory: Path) -> Store:
        # A memory database has one handle; sharing it is how two callers share it.
        return store


class OnSQLite(StoreContract):
    refusal = (cmrewards.IntegrityError,)

    def open_adapter(self, directory: Path) -> Store:
        return SQLiteStore(directory / "clinic.db")

    def open_again(self, store: Store, directory: Path) -> Store:
        return self.wrap(SQLiteStore(directory / "clinic.db"))


class OnPostgres(StoreContract):
    refusal = (cmrewards.IntegrityError,)
    urls: ClassVar[dict[Path, str]] = {}
    """Each test's database (a schema on the test cluster, left for the cluster's removal)."""

    def open_adapter(self, directory: Path) -> Store:
        from cmrewards.store.postgres import PostgresStore

        self.urls[directory] = postgres_support.new_database()
        return PostgresStore(self.urls[directory])

    def open_again(self, store: Store, directory: Path) -> Store:
        from cmrewards.store.postgres import PostgresStore

        return self.wrap(PostgresStore(self.urls[directory]))


class TestMemoryStore(OnMemory):
    pass


class TestSQLiteStore(OnSQLite):
    pass


class TestPostgresStore(OnPostgres):
    pass


# --- the wrappers the use cases put around an adapter's unit of work ------------------------


class ThroughJournalingTx(StoreContract):
    """The contract with every write through ``JournalingTx``, as every ``Clinic`` write
    runs; and what the journal adds: a chained entry for each journaled record written."""

    def wrap(self, adapter: Store) -> Store:
        return JournalingStore(adapter)

    def test_each_journaled_write_appends_an_entry_for_the_record_as_written(
        self, clinic_store: Store
    ) -> None:
        records = self._prize_setup(clinic_store)
        won = [prize(n, records[0], draw=n, category="small", value_cents=100) for n in (1, 2, 3)]
        requested = redemption(1, PARTICIPANTS[0], ON_DEMAND.sku, day=1)
        with clinic_store.write() as tx:
            tx.set_staff_active(RECORDER, False)
            tx.update_participant(ended_episode(PARTICIPANTS[1], Status.WITHDRAWN))
            tx.add_past_episode(ended_episode(PARTICIPANTS[1], Status.WITHDRAWN).as_episode())
            tx.add_prizes(won)
            tx.add_item(ON_DEMAND)
            tx.add_item(COUNTED)
            tx.add_stock_movements([stock_movement(1, COUNTED.sku, 2, StockReason.RESTOCK)])
            tx.fulfil_prize(PrizeFulfilment(1, ON_DEMAND.sku, ADMIN, at(4), None))
            tx.add_prize_trades([PrizeTrade(2, 3, ADMIN, at(5))])
            tx.add_redemption(requested)
            tx.update_redemption(attrs.evolve(requested, status=RedemptionStatus.CANCELLED))
            tx.add_analyte_results(
                [analyte_result(1, "P001", "S-1", "cocaine", LabResult.POSITIVE)]
            )
            tx.remember(IdempotencyRecord(HIGGINS, "k-1", "ab" * 32, {"n": 1}, RECORDED))
            tx.remember_all([IdempotencyRecord("", "k-2", "cd" * 32, {"n": 2}, RECORDED)])
        with clinic_store.read() as tx:
            entries = tx.journal()
            current = journaled_records(tx)
            stored_keys = tx.stored_keys()
        assert [(e.kind, e.key) for e in entries] == [
            *(("staff", s) for s in (ADMIN, RECORDER)),
            *(("program", p) for p in (HIGGINS, PETRY)),
            *(("participant", p.id) for p in PARTICIPANTS),
            ("staff", RECORDER),
            ("participant", "P002"),
            ("episode", "P002/1"),
            *(("prize", str(n)) for n in (1, 2, 3)),
            ("catalog-item", ON_DEMAND.sku),
            ("catalog-item", COUNTED.sku),
            ("stock-movement", "1"),
            ("prize-fulfilment", "1"),
            ("prize", "1"),
            ("prize-trade", "2"),
            ("prize", "2"),
            ("redemption", "1"),
            ("redemption", "1"),
            ("analyte-result", "1"),
            ("idempotency-key", f"{HIGGINS}/k-1"),
            ("idempotency-key", "/k-2"),
        ]
        assert list(range(1, len(entries) + 1)) == [e.id for e in entries]
        assert {JOURNALED_AT} == {e.at for e in entries}
        previous = GENESIS
        for entry in entries:
            assert previous == entry.prev_hash
            assert link(entry.prev_hash, entry.hash_fields()) == entry.hash
            previous = entry.hash
        # Each record's latest entry holds the digest of the record as it is now.
        assert list(journal_problems(latest_digests(links_of(entries)), current)) == []
        # ... and so does each key as verify reads it, as a row.
        keys = [r for r in current if not isinstance(r, IdempotencyRecord)]
        assert list(journal_problems(latest_digests(links_of(entries)), keys, stored_keys)) == []

    def test_chained_and_derived_writes_are_not_journaled(self, clinic_store: Store) -> None:
        with clinic_store.read() as tx:
            before = tx.journal()
        with clinic_store.write() as tx:
            tx.append_outcomes(make_outcomes(None, [(HIGGINS, "P001", STIM, Outcome.MET, at(0))]))
            tx.put_schedule_states([(("P001", STIM), ScheduleState(pos=1, run=1))])
            tx.append_transfers(make_transfers(None, [(HIGGINS, Movement.AWARD, "P001", 10)]))
            tx.add_cap_usage("P001", "2027", 250)
        with clinic_store.read() as tx:
            assert before == tx.journal()


class TestJournaledMemoryStore(ThroughJournalingTx, OnMemory):
    pass


class TestJournaledSQLiteStore(ThroughJournalingTx, OnSQLite):
    pass


class TestJournaledPostgresStore(ThroughJournalingTx, OnPostgres):
    pass


class ThroughImportChunks(StoreContract):
    """The contract with every write as an import chunk: ``BufferedTx`` answers what it
    implements (``RecordTx``) and the chunk is flushed when the unit of work ends;
    and what the write-behind adds: nothing reaches the adapter before the flush."""

    def wrap(self, adapter: Store) -> Store:
        return ImportChunkStore(adapter)

    def adapter(self, store: Store) -> Store:
        assert isinstance(store, ImportChunkStore)
        return store.adapter

    def test_a_chunk_writes_nothing_until_it_is_flushed(self, clinic_store: Store) -> None:
        key = IdempotencyRecord(HIGGINS, "k-1", "ab" * 32, {"n": 1}, RECORDED)
        with self.adapter(clinic_store).write() as tx:
            chunk = BufferedTx(tx)
            (record,) = make_outcomes(
                chunk.last_outcome(), [(HIGGINS, "P001", STIM, Outcome.MET, at(0))]
            )
            chunk.append_outcomes([record])
            chunk.put_schedule_states([(("P001", STIM), ScheduleState(pos=1, run=1))])
            chunk.append_transfers(
                make_transfers(chunk.last_transfer(), [(HIGGINS, Movement.AWARD, "P001", 10)])
            )
            chunk.add_prizes([prize(1, record, draw=0, category="small", value_cents=100)])
            chunk.add_cap_usage("P001", "2027", 100)
            chunk.remember(key)
            # The chunk sees its own writes; the adapter has none of them yet.
            assert record == chunk.last_outcome()
            assert record == chunk.last_outcome_for("P001", STIM)
            assert [record] == chunk.outcomes_at("P001", at(0))
            assert [record] == chunk.outcomes_since_of(["P001"], at(0))
            assert chunk.balance(HIGGINS, available("P001")) == 10
            assert chunk.cap_usage("P001", "2027") == 100
            assert key == chunk.idempotency(HIGGINS, "k-1")
            assert (tx.outcomes(), tx.transfers(), tx.prizes()) == ([], [], [])
            assert tx.schedule_state("P001", STIM) is None
            assert tx.cap_usage("P001", "2027") == 0
            assert tx.idempotency(HIGGINS, "k-1") is None
            chunk.flush()
            assert [record] == tx.outcomes()
            assert tx.balance(HIGGINS, available("P001")) == 10
            assert key == tx.idempotency(HIGGINS, "k-1")
            # After a flush the chunk reads the adapter again, and sees the same.
            assert record == chunk.last_outcome()
            assert chunk.balance(HIGGINS, available("P001")) == 10
            assert chunk.cap_usage("P001", "2027") == 100

    def test_prefetched_outcomes_answer_each_row_s_attendance(self, clinic_store: Store) -> None:
        written = self._append_sample_outcomes(clinic_store)
        with self.adapter(clinic_store).write() as tx:
            chunk = BufferedTx(tx)
            chunk.prefetch_recent(["P001", "P003"], at(1))
            (late,) = make_outcomes(
                chunk.last_outcome(), [(HIGGINS, "P001", STIM, Outcome.MET, at(3))]
            )
            chunk.append_outcomes([late])
            # From the prefetch, with the chunk's own writes in clinical order.
            assert chunk.outcomes_since("P001", STIM, at(2)) == [written[0], late, written[4]]
            assert chunk.outcomes_since("P003", SECONDARY, at(1)) == [written[3]]
            # Before the prefetched window, or of another participant: read from the adapter.
            assert chunk.outcomes_since("P002", STIM, at(0)) == [written[1], written[5]]
            assert chunk.outcomes_since("P003", STIM, at(0)) == [written[2]]
            chunk.flush()
            assert chunk.outcomes_since("P001", STIM, at(2)) == [written[0], late, written[4]]

    def test_prefetched_keys_answer_each_row_s_lookup(self, clinic_store: Store) -> None:
        kept = [
            IdempotencyRecord(HIGGINS, f"k-{n}", "ab" * 32, {"n": n}, RECORDED) for n in range(3)
        ]
        with clinic_store.write() as tx:
            tx.remember(kept[0])
        with self.adapter(clinic_store).write() as tx:
            tx.remember(kept[1])
            chunk = BufferedTx(tx)
            chunk.prefetch_keys([(HIGGINS, "k-0"), (HIGGINS, "k-2"), (PETRY, "k-0")])
            assert kept[0] == chunk.idempotency(HIGGINS, "k-0")
            assert chunk.idempotency(HIGGINS, "k-2") is None
            assert chunk.idempotency(PETRY, "k-0") is None
            # A key the chunk did not prefetch is looked up in the adapter.
            assert kept[1] == chunk.idempotency(HIGGINS, "k-1")
            chunk.remember(kept[2])
            assert kept[2] == chunk.idempotency(HIGGINS, "k-2")
            chunk.flush()
        with clinic_store.read() as tx:
            assert kept == [tx.idempotency(HIGGINS, f"k-{n}") for n in range(3)]

    def test_prefetched_specimens_answer_each_report_s_reads(self, clinic_store: Store) -> None:
        stored = analyte_result(1, "P001", "S-1", "cocaine", LabResult.NEGATIVE)
        revision = analyte_revision(1, "cocaine", ResultStatus.CORRECTED, LabResult.POSITIVE, 1)
        with clinic_store.write() as tx:
            tx.add_analyte_results([stored])
            tx.add_analyte_revisions([revision])
        pending = analyte_result(2, "P001", "S-1", "amphetamine", LabResult.NEGATIVE)
        with self.adapter(clinic_store).write() as tx:
            chunk = BufferedTx(tx)
            chunk.prefetch_specimens([("P001", "S-1"), ("P002", "S-2")])
            chunk.add_analyte_results([pending])
            assert chunk.specimen_results("P001", "S-1") == [stored, pending]
            assert chunk.specimen_revisions("P001", "S-1") == [revision]
            assert chunk.specimen_results("P002", "S-2") == []
            assert chunk.specimens_of([("P001", "S-1")]) == ([stored, pending], [revision])
            chunk.flush()  # the prefetched rows are dropped: the adapter holds the rest
            assert chunk.specimen_results("P001", "S-1") == [stored, pending]

    def test_a_unit_taken_back_leaves_the_chunk_as_it_was(self, clinic_store: Store) -> None:
        key = IdempotencyRecord(HIGGINS, "k-1", "ab" * 32, {"n": 1}, RECORDED)
        with self.adapter(clinic_store).write() as tx:
            chunk = BufferedTx(tx)
            (kept,) = make_outcomes(
                chunk.last_outcome(), [(HIGGINS, "P001", STIM, Outcome.MET, at(0))]
            )
            chunk.append_outcomes([kept])
            chunk.add_cap_usage("P001", "2027", 100)
            chunk.begin_unit()
            (taken,) = make_outcomes(kept, [(HIGGINS, "P001", STIM, Outcome.MET, at(1))])
            chunk.append_outcomes([taken])
            chunk.put_schedule_states([(("P001", STIM), ScheduleState(pos=2, run=2))])
            chunk.append_transfers(
                make_transfers(chunk.last_transfer(), [(HIGGINS, Movement.AWARD, "P001", 15)])
            )
            chunk.add_cap_usage("P001", "2027", 150)
            chunk.remember(key)
            chunk.add_analyte_results(
                [analyte_result(1, "P001", "S-1", "cocaine", LabResult.NEGATIVE)]
            )
            assert chunk.take_back()
            assert (kept, kept) == (chunk.last_outcome(), chunk.last_outcome_for("P001", STIM))
            assert chunk.last_transfer() is None
            assert chunk.balance(HIGGINS, available("P001")) == 0
            assert chunk.cap_usage("P001", "2027") == 100
            assert chunk.schedule_state("P001", STIM) is None
            assert chunk.idempotency(HIGGINS, "k-1") is None
            assert (chunk.last_analyte_result(), chunk.specimen_results("P001", "S-1")) == (
                None,
                [],
            )
            assert not chunk.take_back()  # nothing begun since
            chunk.begin_unit()
            chunk.flush()
            assert not chunk.take_back()  # written through: only a rollback undoes it
        with clinic_store.read() as tx:
            assert (tx.outcomes(), tx.cap_usage("P001", "2027")) == ([kept], 100)
            assert (tx.transfers(), tx.idempotency(HIGGINS, "k-1")) == ([], None)


class TestImportChunksOnMemoryStore(ThroughImportChunks, OnMemory):
    pass


class TestImportChunksOnSQLiteStore(ThroughImportChunks, OnSQLite):
    pass


class TestImportChunksOnPostgresStore(ThroughImportChunks, OnPostgres):
    pass
