"""Rows to records and records to rows: the SQL adapters (SQLite, PostgreSQL) own the mapping.

Records never see a row (attrs' advice: build objects with a named constructor in
the adapter, never ``Cls(**row)`` from a table).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ..domain.analytes import LabResult
from ..domain.clock import from_utc_text, to_utc_text
from ..domain.ledger import Movement, Transfer
from ..domain.programs import Program, program_from_dict
from ..domain.records import (
    Correction,
    CorrectionKind,
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
from ..domain.schedules import Outcome, ScheduleState
from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..domain.chain import ChainLink
    from ..domain.journal import JournalEntry
    from ..domain.redemption import CatalogItem, PrizeFulfilment, Redemption, StockMovement
    from ..domain.revisions import AnalyteRevision
    from ..domain.sign_in import SignInEvent, StaffSecret
    from ..domain.specimens import AnalyteResult
    from ..domain.staff import Staff

# The records of the journal, staff, sign-in, redemption and lab rooms are imported by
# their converters, on first use: opening a database and reading a balance builds none of
# their classes (issue 16, CLI start-up).


class Row(Protocol):
    """A result row read by column name: ``sqlite3.Row`` or psycopg's dict rows."""

    def __getitem__(self, column: str, /) -> Any: ...
    def keys(self) -> Iterable[str]: ...
    def __iter__(self) -> Iterator[Any]: ...


InOrder = Row | tuple[Any, ...]
"""A row read with known columns in a known order: a ``Row``, or sqlite3's plain tuple
(``SQLTx._in_order``), read by position (``values_of``)."""


# --- rows to records (the adapter owns the mapping; records never see a row) ---


def key_from_row(row: Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=row["scope"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        result=json.loads(row["result"]),
        created_at=utc_time(row["created_at"]),
    )


STORED_KEY_COLUMNS = ("scope", "key", "fingerprint", "result", "created_at")


def stored_key(row: InOrder) -> StoredKey:
    """An idempotency key's row, read with ``STORED_KEY_COLUMNS`` in that order, as
    ``verify`` digests it: its result as stored, its time as the journal hashed it."""
    scope, key, fingerprint, result, created_at = (
        row if type(row) is tuple else values_of(row, STORED_KEY_COLUMNS)
    )
    if _is_hashed_time(created_at):  # as _as_hashed says; 50,000 keys at a time (issue 16)
        return scope, key, fingerprint, result, created_at
    return scope, key, fingerprint, result, _as_hashed(created_at)


def values_of(row: InOrder, columns: Sequence[str]) -> Sequence[Any]:
    """The values of a row read with ``columns`` in that order: a sqlite3.Row's by
    position, not by name (a third of reading it), as it iterates over them; a psycopg
    dict row's by name (it iterates over its names)."""
    return [row[c] for c in columns] if isinstance(row, dict) else tuple(row)


def utc_time(text: str) -> dt.datetime:
    return from_utc_text(text)


def journal_from_row(row: Row) -> JournalEntry:
    from ..domain.journal import JournalEntry

    return JournalEntry(
        id=row["id"],
        kind=row["kind"],
        key=row["key"],
        digest=row["digest"],
        at=utc_time(row["at"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def staff_from_row(row: Row) -> Staff:
    from ..domain.staff import Role, Staff

    return Staff(
        id=row["id"],
        role=Role(row["role"]),
        active=bool(row["active"]),
        added_at=utc_time(row["added_at"]),
        added_by=row["added_by"],
    )


def secret_from_row(row: Row) -> StaffSecret:
    from ..domain.sign_in import StaffSecret

    return StaffSecret(
        staff_id=row["staff_id"],
        hash=row["hash"],
        set_at=utc_time(row["set_at"]),
        set_by=row["set_by"],
    )


def secret_row(secret: StaffSecret) -> tuple[Any, ...]:
    return (secret.staff_id, secret.hash, to_utc_text(secret.set_at), secret.set_by)


SECRET_COLUMNS = ("staff_id", "hash", "set_at", "set_by")


def sign_in_from_row(row: Row) -> SignInEvent:
    from ..domain.sign_in import SignInEvent, SignInEventKind

    expires = row["expires_at"]
    return SignInEvent(
        id=row["id"],
        staff_id=row["staff_id"],
        event=SignInEventKind(row["event"]),
        at=utc_time(row["at"]),
        os_user=row["os_user"],
        location=row["location"],
        session=row["session"],
        expires_at=None if expires is None else utc_time(expires),
        detail=row["detail"],
    )


def sign_in_row(event: SignInEvent) -> tuple[Any, ...]:
    return (
        event.id,
        event.staff_id,
        str(event.event),
        to_utc_text(event.at),
        event.os_user,
        event.location,
        event.session,
        None if event.expires_at is None else to_utc_text(event.expires_at),
        event.detail,
    )


SIGN_IN_COLUMNS = (
    "id",
    "staff_id",
    "event",
    "at",
    "os_user",
    "location",
    "session",
    "expires_at",
    "detail",
)


def participant_from_row(row: Row) -> Participant:
    first_start = row["first_start_date"]
    return Participant(
        id=row["id"],
        program_id=row["program_id"],
        start=dt.date.fromisoformat(row["start_date"]),
        status=Status(row["status"]),
        enrolled_at=utc_time(row["enrolled_at"]),
        enrolled_by=row["enrolled_by"],
        episode=row["episode"],
        first_start=None if first_start is None else dt.date.fromisoformat(first_start),
        ended_at=maybe_time(row["ended_at"]),
        ended_by=row["ended_by"],
    )


PARTICIPANT_COLUMNS = (
    "id",
    "program_id",
    "start_date",
    "status",
    "enrolled_at",
    "enrolled_by",
    "episode",
    "first_start_date",
    "ended_at",
    "ended_by",
)


def participant_row(participant: Participant) -> list[Any]:
    first_start = participant.first_start
    return [
        participant.id,
        participant.program_id,
        participant.start.isoformat(),
        str(participant.status),
        to_utc_text(participant.enrolled_at),
        participant.enrolled_by,
        participant.episode,
        None if first_start is None else first_start.isoformat(),
        None if participant.ended_at is None else to_utc_text(participant.ended_at),
        participant.ended_by,
    ]


def episode_from_row(row: Row) -> Episode:
    return Episode(
        participant=row["participant"],
        number=row["number"],
        program_id=row["program_id"],
        start=dt.date.fromisoformat(row["start_date"]),
        status=Status(row["status"]),
        enrolled_at=utc_time(row["enrolled_at"]),
        enrolled_by=row["enrolled_by"],
        ended_at=maybe_time(row["ended_at"]),
        ended_by=row["ended_by"],
    )


EPISODE_COLUMNS = (
    "participant",
    "number",
    "program_id",
    "start_date",
    "status",
    "enrolled_at",
    "enrolled_by",
    "ended_at",
    "ended_by",
)


def episode_row(episode: Episode) -> list[Any]:
    return [
        episode.participant,
        episode.number,
        episode.program_id,
        episode.start.isoformat(),
        str(episode.status),
        to_utc_text(episode.enrolled_at),
        episode.enrolled_by,
        None if episode.ended_at is None else to_utc_text(episode.ended_at),
        episode.ended_by,
    ]


def outcome_from_row(row: Row) -> OutcomeRecord:
    return OutcomeRecord(
        id=row["id"],
        program_id=row["program_id"],
        participant=row["participant"],
        target=row["target"],
        outcome=Outcome(row["outcome"]),
        occurred_at=utc_time(row["occurred_at"]),
        recorded_at=utc_time(row["recorded_at"]),
        actor=row["actor"],
        key=row["key"],
        note=row["note"],
        seed=row["seed"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        visit=row["visit"],
        specimen=row["specimen"],
    )


def transfer_from_row(row: Row) -> Transfer:
    return Transfer(
        id=row["id"],
        program_id=row["program_id"],
        kind=Movement(row["kind"]),
        from_account=row["from_account"],
        to_account=row["to_account"],
        amount=row["amount"],
        participant=row["participant"],
        actor=row["actor"],
        reason=row["reason"],
        cause=row["cause"],
        reverses=row["reverses"],
        occurred_at=utc_time(row["occurred_at"]),
        recorded_at=utc_time(row["recorded_at"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        settles=row["settles"],
        cap_change_cents=row["cap_change_cents"],
        over_cap_cents=row["over_cap_cents"],
    )


PRIZES_NOW = (
    "SELECT prizes.*, (SELECT reinstated FROM prize_withdrawals w WHERE w.prize_id = prizes.id"
    " ORDER BY w.id DESC LIMIT 1) AS reinstated FROM prizes"
)
"""Every prize with its status as it stands: a prize whose latest withdrawal was not
reinstated reads ``withdrawn`` (the prize row's CHECK list predates that status)."""


def prize_from_row(row: Row) -> Prize:
    # Only an owed prize can have been withdrawn: another stored status shows as it is.
    withdrawn = row["reinstated"] == 0 and row["status"] == "owed"
    return Prize(
        id=row["id"],
        program_id=row["program_id"],
        participant=row["participant"],
        outcome_id=row["outcome_id"],
        draw=row["draw"],
        category=row["category"],
        value_cents=row["value_cents"],
        won_at=utc_time(row["won_at"]),
        status=PrizeStatus.WITHDRAWN if withdrawn else PrizeStatus(row["status"]),
    )


def correction_from_row(row: Row) -> Correction:
    return Correction(
        id=row["id"],
        program_id=row["program_id"],
        participant=row["participant"],
        outcome_id=row["outcome_id"],
        kind=CorrectionKind(row["kind"]),
        outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
        seed=row["seed"],
        reason=row["reason"],
        actor=row["actor"],
        recorded_at=utc_time(row["recorded_at"]),
    )


def correction_row(correction: Correction) -> tuple[Any, ...]:
    return (
        correction.id,
        correction.program_id,
        correction.participant,
        correction.outcome_id,
        str(correction.kind),
        None if correction.outcome is None else str(correction.outcome),
        correction.seed,
        correction.reason,
        correction.actor,
        to_utc_text(correction.recorded_at),
    )


CORRECTION_COLUMNS = (
    "id",
    "program_id",
    "participant",
    "outcome_id",
    "kind",
    "outcome",
    "seed",
    "reason",
    "actor",
    "recorded_at",
)


def write_off_from_row(row: Row) -> WriteOff:
    return WriteOff(
        id=row["id"],
        program_id=row["program_id"],
        participant=row["participant"],
        outcome_id=row["outcome_id"],
        points=row["points"],
        prize_id=row["prize_id"],
        value_cents=row["value_cents"],
        cause=row["cause"],
        actor=row["actor"],
        at=utc_time(row["at"]),
    )


def write_off_row(write_off: WriteOff) -> tuple[Any, ...]:
    return (
        write_off.id,
        write_off.program_id,
        write_off.participant,
        write_off.outcome_id,
        write_off.points,
        write_off.prize_id,
        write_off.value_cents,
        write_off.cause,
        write_off.actor,
        to_utc_text(write_off.at),
    )


WRITE_OFF_COLUMNS = (
    "id",
    "program_id",
    "participant",
    "outcome_id",
    "points",
    "prize_id",
    "value_cents",
    "cause",
    "actor",
    "at",
)


def withdrawal_from_row(row: Row) -> PrizeWithdrawal:
    return PrizeWithdrawal(
        id=row["id"],
        prize_id=row["prize_id"],
        reinstated=bool(row["reinstated"]),
        cause=row["cause"],
        actor=row["actor"],
        at=utc_time(row["at"]),
    )


def withdrawal_row(withdrawal: PrizeWithdrawal) -> tuple[Any, ...]:
    return (
        withdrawal.id,
        withdrawal.prize_id,
        int(withdrawal.reinstated),
        withdrawal.cause,
        withdrawal.actor,
        to_utc_text(withdrawal.at),
    )


WITHDRAWAL_COLUMNS = ("id", "prize_id", "reinstated", "cause", "actor", "at")


def maybe_time(text: str | None) -> dt.datetime | None:
    return None if text is None else utc_time(text)


def maybe_text(value: dt.datetime | None) -> str | None:
    return None if value is None else to_utc_text(value)


def item_from_row(row: Row) -> CatalogItem:
    from ..domain.redemption import CatalogItem

    return CatalogItem(
        sku=row["sku"],
        name=row["name"],
        cost=row["cost"],
        stock=row["stock"],
        category=row["category"],
        low_stock=row["low_stock"],
        added_at=utc_time(row["added_at"]),
        added_by=row["added_by"],
    )


def movement_from_row(row: Row) -> StockMovement:
    from ..domain.redemption import StockMovement, StockReason

    return StockMovement(
        id=row["id"],
        sku=row["sku"],
        change=row["change"],
        reason=StockReason(row["reason"]),
        cause=row["cause"],
        actor=row["actor"],
        at=utc_time(row["at"]),
    )


REDEMPTION_TIMES = ("requested_at", "approved_at", "fulfilled_at", "closed_at")


def redemption_from_row(row: Row) -> Redemption:
    from ..domain.redemption import Redemption, RedemptionStatus

    fields = {key: row[key] for key in row.keys()}  # noqa: SIM118 (Row)
    for key in REDEMPTION_TIMES:
        fields[key] = maybe_time(fields[key])
    fields["status"] = RedemptionStatus(fields["status"])
    return Redemption(**fields)


def redemption_row(redemption: Redemption) -> dict[str, Any]:
    fields = attrs.asdict(redemption, recurse=False)
    for key in REDEMPTION_TIMES:
        fields[key] = maybe_text(fields[key])
    fields["status"] = str(redemption.status)
    return fields


def fulfilment_from_row(row: Row) -> PrizeFulfilment:
    from ..domain.redemption import PrizeFulfilment

    return PrizeFulfilment(
        prize_id=row["prize_id"],
        sku=row["sku"],
        actor=row["actor"],
        at=utc_time(row["at"]),
        note=row["note"],
    )


def analyte_result_from_row(row: Row) -> AnalyteResult:
    from ..domain.specimens import AnalyteResult

    return AnalyteResult(
        id=row["id"],
        program_id=row["program_id"],
        participant=row["participant"],
        specimen=row["specimen"],
        analyte=row["analyte"],
        result=LabResult(row["result"]),
        collected_at=utc_time(row["collected_at"]),
        recorded_at=utc_time(row["recorded_at"]),
        actor=row["actor"],
    )


def analyte_result_row(result: AnalyteResult) -> tuple[Any, ...]:
    return (
        result.id,
        result.program_id,
        result.participant,
        result.specimen,
        result.analyte,
        str(result.result),
        to_utc_text(result.collected_at),
        to_utc_text(result.recorded_at),
        result.actor,
    )


ANALYTE_RESULT_COLUMNS = (
    "id",
    "program_id",
    "participant",
    "specimen",
    "analyte",
    "result",
    "collected_at",
    "recorded_at",
    "actor",
)


def analyte_revision_from_row(row: Row) -> AnalyteRevision:
    from ..domain.lab_reports import ResultStatus
    from ..domain.revisions import AnalyteRevision

    return AnalyteRevision(
        id=row["id"],
        program_id=row["program_id"],
        participant=row["participant"],
        specimen=row["specimen"],
        analyte=row["analyte"],
        status=ResultStatus(row["status"]),
        result=None if row["result"] is None else LabResult(row["result"]),
        revises=row["revises"],
        collected_at=utc_time(row["collected_at"]),
        recorded_at=utc_time(row["recorded_at"]),
        actor=row["actor"],
    )


def analyte_revision_row(revision: AnalyteRevision) -> tuple[Any, ...]:
    return (
        revision.id,
        revision.program_id,
        revision.participant,
        revision.specimen,
        revision.analyte,
        str(revision.status),
        None if revision.result is None else str(revision.result),
        revision.revises,
        to_utc_text(revision.collected_at),
        to_utc_text(revision.recorded_at),
        revision.actor,
    )


ANALYTE_REVISION_COLUMNS = (
    "id",
    "program_id",
    "participant",
    "specimen",
    "analyte",
    "status",
    "result",
    "revises",
    "collected_at",
    "recorded_at",
    "actor",
)


def state_from_row(row: Row) -> ScheduleState:
    return ScheduleState(
        pos=row["pos"], run=row["run"], saved=row["saved"], last_week=row["last_week"]
    )


def outcome_row(record: OutcomeRecord) -> tuple[Any, ...]:
    # A column hashed only when set (visit, specimen) is NULL when absent.
    fields = record.hash_fields()
    return (*(fields.get(c) for c in OUTCOME_COLUMNS[:-2]), record.prev_hash, record.hash)


def transfer_row(transfer: Transfer) -> tuple[Any, ...]:
    fields = transfer.hash_fields()
    return (*(fields.get(c) for c in TRANSFER_COLUMNS[:-2]), transfer.prev_hash, transfer.hash)


OUTCOME_COLUMNS = (
    "id",
    "program_id",
    "participant",
    "target",
    "outcome",
    "occurred_at",
    "recorded_at",
    "actor",
    "key",
    "note",
    "seed",
    "visit",
    "specimen",
    "prev_hash",
    "hash",
)
TRANSFER_COLUMNS = (
    "id",
    "program_id",
    "kind",
    "from_account",
    "to_account",
    "amount",
    "participant",
    "actor",
    "reason",
    "cause",
    "reverses",
    "occurred_at",
    "recorded_at",
    "settles",
    "cap_change_cents",
    "over_cap_cents",
    "prev_hash",
    "hash",
)


JOURNAL_COLUMNS = ("id", "kind", "key", "digest", "at", "prev_hash", "hash")


def link_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """A chained table's ``columns`` (``id`` first, ``prev_hash`` and ``hash`` last) in the
    order ``links_from_rows`` reads them: the hashed ones sorted by name, as ``canonical``
    spells them, then ``prev_hash`` and ``hash``."""
    assert columns[0] == "id", columns
    assert tuple(columns[-2:]) == ("prev_hash", "hash"), columns
    return (*sorted(columns[:-2]), "prev_hash", "hash")


OUTCOME_LINKS = (
    link_columns(OUTCOME_COLUMNS),
    ("specimen", "visit"),
    ("occurred_at", "recorded_at"),
)
TRANSFER_LINKS = (
    link_columns(TRANSFER_COLUMNS),
    ("cap_change_cents", "over_cap_cents", "settles"),
    ("occurred_at", "recorded_at"),
)
JOURNAL_LINKS = (link_columns(JOURNAL_COLUMNS), (), ("at",))
"""Each chained table's columns as ``links_from_rows`` reads them (``link_columns``), those
hashed only when set, and its times."""


def links_from_rows(
    rows: Iterable[InOrder], columns: Sequence[str], optional: Sequence[str], times: Sequence[str]
) -> list[ChainLink]:
    """Each stored row of a chained table as its chain link, without building a record.

    ``rows`` hold ``columns`` in that order (``link_columns``, ``links_sql``): the hashed
    fields sorted by name, so that each link's fields come in the order ``canonical``
    spells them (``ChainLink``), then ``prev_hash`` and ``hash``. Every column but those
    two holds its hash field as it was hashed (``outcome_row`` and ``transfer_row`` store
    the record's ``hash_fields``; the journal its entry's), so a row is its fields, less
    the ``optional`` ones that are NULL (hashed only when set). A time stored in another
    spelling than the one hashed (``to_utc_text``'s, fixed-width with ``Z``) is spelled
    again, as reading it into a record would."""
    assert tuple(columns[-2:]) == ("prev_hash", "hash"), columns
    hashed = columns[:-2]
    links: list[ChainLink] = []
    append = links.append
    for row in rows:
        values = row if type(row) is tuple else values_of(row, columns)
        fields = dict(zip(hashed, values, strict=False))  # all but the last two
        for column in optional:
            if fields[column] is None:
                del fields[column]
        for column in times:
            value = fields[column]
            # _is_hashed_time, inline: two per row (issue 16)
            if not (type(value) is str and len(value) == _UTC_WIDTH and value[10] == "T"
                    and value[-1] == "Z"):  # fmt: skip
                fields[column] = _as_hashed(value)
        append((fields["id"], values[-2], values[-1], fields))
    return links


def links_sql(table: str, columns: Sequence[str]) -> str:
    """The read ``links_from_rows`` takes: ``columns`` in that order, by id."""
    return f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"


def _as_hashed(stored: Any) -> Any:
    """A stored time as the chain hashed it: as stored when it has the fixed-width UTC
    shape ``to_utc_text`` writes, else parsed and spelled again; a value that is no time
    stays as it is, for its row's hash to report."""
    if not isinstance(stored, str) or _is_hashed_time(stored):
        return stored
    try:
        return to_utc_text(from_utc_text(stored))
    except (ValueError, InvalidInput):  # not a time, or one without its offset
        return stored


_UTC_WIDTH = len("2026-01-05T09:00:00.000000Z")


def _is_hashed_time(value: Any) -> bool:
    """Whether ``value`` has the fixed-width UTC shape ``to_utc_text`` writes."""
    return type(value) is str and len(value) == _UTC_WIDTH and value[10] == "T" and value[-1] == "Z"


def insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


@functools.lru_cache(maxsize=64)
def parsed_program(definition: str) -> Program:
    # Programs never change, so one stored definition always parses to one Program.
    data = json.loads(definition)
    # A program stored before the protocol calendar has no "calendar" key: it keeps its
    # legacy rules (docs/decisions.md "The calendar"); Program.to_dict writes it when true.
    data.setdefault("calendar", False)
    return program_from_dict(data, "stored program")


def program_from_row(row: Row) -> Program:
    return parsed_program(row["definition"])
