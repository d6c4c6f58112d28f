"""The SQLite store, through sqlite-utils 4.x: one file, safe for several terminals.

Every write is one ``BEGIN IMMEDIATE`` transaction, so writers on the same file
queue on the busy timeout instead of failing half-way; reads see one snapshot.
The file is created mode 0600, in WAL mode with ``synchronous=FULL``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
from sqlite_utils import Database

from ..clock import from_utc_text, to_utc_text
from ..errors import Busy, IntegrityError
from ..ledger import AccountKey, Movement, Transfer
from ..programs import Program, program_from_dict
from ..records import (
    IdempotencyRecord,
    OutcomeRecord,
    Participant,
    Prize,
    PrizeStatus,
    Status,
)
from ..redemption import (
    CatalogItem,
    PrizeFulfilment,
    PrizeTrade,
    Redemption,
    RedemptionStatus,
    StockMovement,
    StockReason,
)
from ..schedules import Outcome, ScheduleState
from ..staff import Role, Staff
from . import schema
from .port import StateKey

SQLITE_MAGIC = b"SQLite format 3\x00"
R = TypeVar("R")
DEFAULT_BUSY_TIMEOUT_MS = 10_000


# --- rows to records (the adapter owns the mapping; records never see a row) ---


def _key_from_row(row: sqlite3.Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope=row["scope"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        result=json.loads(row["result"]),
        created_at=_time(row["created_at"]),
    )


def _time(text: str) -> dt.datetime:
    return from_utc_text(text)


def staff_from_row(row: sqlite3.Row) -> Staff:
    return Staff(
        id=row["id"],
        role=Role(row["role"]),
        active=bool(row["active"]),
        added_at=_time(row["added_at"]),
        added_by=row["added_by"],
    )


def participant_from_row(row: sqlite3.Row) -> Participant:
    return Participant(
        id=row["id"],
        program_id=row["program_id"],
        start=dt.date.fromisoformat(row["start_date"]),
        status=Status(row["status"]),
        enrolled_at=_time(row["enrolled_at"]),
        enrolled_by=row["enrolled_by"],
    )


def outcome_from_row(row: sqlite3.Row) -> OutcomeRecord:
    return OutcomeRecord(
        id=row["id"],
        program_id=row["program_id"],
        participant=row["participant"],
        target=row["target"],
        outcome=Outcome(row["outcome"]),
        occurred_at=_time(row["occurred_at"]),
        recorded_at=_time(row["recorded_at"]),
        actor=row["actor"],
        key=row["key"],
        note=row["note"],
        seed=row["seed"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def transfer_from_row(row: sqlite3.Row) -> Transfer:
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
        occurred_at=_time(row["occurred_at"]),
        recorded_at=_time(row["recorded_at"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


def prize_from_row(row: sqlite3.Row) -> Prize:
    return Prize(
        id=row["id"],
        program_id=row["program_id"],
        participant=row["participant"],
        outcome_id=row["outcome_id"],
        draw=row["draw"],
        category=row["category"],
        value_cents=row["value_cents"],
        won_at=_time(row["won_at"]),
        status=PrizeStatus(row["status"]),
    )


def _maybe_time(text: str | None) -> dt.datetime | None:
    return None if text is None else _time(text)


def _maybe_text(value: dt.datetime | None) -> str | None:
    return None if value is None else to_utc_text(value)


def item_from_row(row: sqlite3.Row) -> CatalogItem:
    return CatalogItem(
        sku=row["sku"],
        name=row["name"],
        cost=row["cost"],
        stock=row["stock"],
        category=row["category"],
        low_stock=row["low_stock"],
        added_at=_time(row["added_at"]),
        added_by=row["added_by"],
    )


def movement_from_row(row: sqlite3.Row) -> StockMovement:
    return StockMovement(
        id=row["id"],
        sku=row["sku"],
        change=row["change"],
        reason=StockReason(row["reason"]),
        cause=row["cause"],
        actor=row["actor"],
        at=_time(row["at"]),
    )


_REDEMPTION_TIMES = ("requested_at", "approved_at", "fulfilled_at", "closed_at")


def redemption_from_row(row: sqlite3.Row) -> Redemption:
    fields = {key: row[key] for key in row.keys()}  # noqa: SIM118 (sqlite3.Row)
    for key in _REDEMPTION_TIMES:
        fields[key] = _maybe_time(fields[key])
    fields["status"] = RedemptionStatus(fields["status"])
    return Redemption(**fields)


def _redemption_row(redemption: Redemption) -> dict[str, Any]:
    fields = attrs.asdict(redemption, recurse=False)
    for key in _REDEMPTION_TIMES:
        fields[key] = _maybe_text(fields[key])
    fields["status"] = str(redemption.status)
    return fields


def fulfilment_from_row(row: sqlite3.Row) -> PrizeFulfilment:
    return PrizeFulfilment(
        prize_id=row["prize_id"],
        sku=row["sku"],
        actor=row["actor"],
        at=_time(row["at"]),
        note=row["note"],
    )


def state_from_row(row: sqlite3.Row) -> ScheduleState:
    return ScheduleState(
        pos=row["pos"], run=row["run"], saved=row["saved"], last_week=row["last_week"]
    )


def _outcome_row(record: OutcomeRecord) -> tuple[Any, ...]:
    fields = record.hash_fields()
    return (*(fields[c] for c in _OUTCOME_COLUMNS[:-2]), record.prev_hash, record.hash)


def _transfer_row(transfer: Transfer) -> tuple[Any, ...]:
    fields = transfer.hash_fields()
    return (*(fields[c] for c in _TRANSFER_COLUMNS[:-2]), transfer.prev_hash, transfer.hash)


_OUTCOME_COLUMNS = (
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
    "prev_hash",
    "hash",
)
_TRANSFER_COLUMNS = (
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
    "prev_hash",
    "hash",
)


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class SQLiteTx:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn = db.conn

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def _first(
        self, convert: Callable[[sqlite3.Row], R], sql: str, params: Sequence[Any] = ()
    ) -> R | None:
        row = self._one(sql, params)
        return None if row is None else convert(row)

    def _every(
        self, convert: Callable[[sqlite3.Row], R], sql: str, params: Sequence[Any] = ()
    ) -> list[R]:
        return [convert(row) for row in self._all(sql, params)]

    # staff
    def staff(self, staff_id: str) -> Staff | None:
        return self._first(staff_from_row, "SELECT * FROM staff WHERE id = ?", [staff_id])

    def all_staff(self) -> list[Staff]:
        return self._every(staff_from_row, "SELECT * FROM staff ORDER BY id")

    def add_staff(self, staff: Staff) -> None:
        self._conn.execute(
            "INSERT INTO staff (id, role, active, added_at, added_by) VALUES (?, ?, ?, ?, ?)",
            [
                staff.id,
                str(staff.role),
                int(staff.active),
                to_utc_text(staff.added_at),
                staff.added_by,
            ],
        )

    def set_staff_active(self, staff_id: str, active: bool) -> None:
        self._conn.execute("UPDATE staff SET active = ? WHERE id = ?", [int(active), staff_id])

    # programs
    def program(self, program_id: str) -> Program | None:
        return self._first(_program, "SELECT definition FROM programs WHERE id = ?", [program_id])

    def programs(self) -> list[Program]:
        return self._every(_program, "SELECT definition FROM programs ORDER BY id")

    def add_program(self, program: Program, added_at: dt.datetime, added_by: str) -> None:
        self._conn.execute(
            "INSERT INTO programs (id, definition, added_at, added_by) VALUES (?, ?, ?, ?)",
            [program.id, json.dumps(program.to_dict()), to_utc_text(added_at), added_by],
        )

    # participants
    def participant(self, participant_id: str) -> Participant | None:
        return self._first(
            participant_from_row, "SELECT * FROM participants WHERE id = ?", [participant_id]
        )

    def participants(self) -> list[Participant]:
        return self._every(participant_from_row, "SELECT * FROM participants ORDER BY id")

    def add_participant(self, participant: Participant) -> None:
        self._conn.execute(
            "INSERT INTO participants (id, program_id, start_date, status, enrolled_at,"
            " enrolled_by) VALUES (?, ?, ?, ?, ?, ?)",
            [
                participant.id,
                participant.program_id,
                participant.start.isoformat(),
                str(participant.status),
                to_utc_text(participant.enrolled_at),
                participant.enrolled_by,
            ],
        )

    def set_participant_status(self, participant_id: str, status: Status) -> None:
        self._conn.execute(
            "UPDATE participants SET status = ? WHERE id = ?", [str(status), participant_id]
        )

    # outcomes
    def last_outcome(self) -> OutcomeRecord | None:
        return self._first(outcome_from_row, "SELECT * FROM outcomes ORDER BY id DESC LIMIT 1")

    def last_outcome_for(self, participant: str, target: str) -> OutcomeRecord | None:
        return self._first(
            outcome_from_row,
            "SELECT * FROM outcomes WHERE participant = ? AND target = ? ORDER BY id DESC LIMIT 1",
            [participant, target],
        )

    def outcomes(self, participant: str | None = None) -> list[OutcomeRecord]:
        if participant is None:
            rows = self._all("SELECT * FROM outcomes ORDER BY id")
        else:
            rows = self._all(
                "SELECT * FROM outcomes WHERE participant = ? ORDER BY id", [participant]
            )
        return [outcome_from_row(r) for r in rows]

    def outcomes_at(self, participant: str, occurred_at: dt.datetime) -> list[OutcomeRecord]:
        rows = self._all(
            "SELECT * FROM outcomes WHERE participant = ? AND occurred_at = ? ORDER BY id",
            [participant, to_utc_text(occurred_at)],
        )
        return [outcome_from_row(r) for r in rows]

    def append_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        self._conn.executemany(
            _insert_sql("outcomes", _OUTCOME_COLUMNS), [_outcome_row(r) for r in records]
        )

    # schedule states
    def schedule_state(self, participant: str, target: str) -> ScheduleState | None:
        return self._first(
            state_from_row,
            "SELECT * FROM schedule_states WHERE participant = ? AND target = ?",
            [participant, target],
        )

    def schedule_states(self) -> dict[StateKey, ScheduleState]:
        return {
            (r["participant"], r["target"]): state_from_row(r)
            for r in self._all("SELECT * FROM schedule_states")
        }

    def put_schedule_states(self, states: Sequence[tuple[StateKey, ScheduleState]]) -> None:
        self._conn.executemany(
            "INSERT INTO schedule_states (participant, target, pos, run, saved, last_week)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (participant, target) DO UPDATE SET"
            " pos = excluded.pos, run = excluded.run, saved = excluded.saved,"
            " last_week = excluded.last_week",
            [(p, t, s.pos, s.run, s.saved, s.last_week) for (p, t), s in states],
        )

    # ledger
    def last_transfer(self) -> Transfer | None:
        return self._first(transfer_from_row, "SELECT * FROM transfers ORDER BY id DESC LIMIT 1")

    def transfer(self, transfer_id: int) -> Transfer | None:
        return self._first(transfer_from_row, "SELECT * FROM transfers WHERE id = ?", [transfer_id])

    def transfers(self, participant: str | None = None) -> list[Transfer]:
        if participant is None:
            rows = self._all("SELECT * FROM transfers ORDER BY id")
        else:
            rows = self._all(
                "SELECT * FROM transfers WHERE participant = ? ORDER BY id", [participant]
            )
        return [transfer_from_row(r) for r in rows]

    def reversal_of(self, transfer_id: int) -> Transfer | None:
        return self._first(
            transfer_from_row, "SELECT * FROM transfers WHERE reverses = ?", [transfer_id]
        )

    def append_transfers(self, transfers: Sequence[Transfer]) -> None:
        # The balances follow through the transfers_keep_balances trigger.
        self._conn.executemany(
            _insert_sql("transfers", _TRANSFER_COLUMNS), [_transfer_row(t) for t in transfers]
        )

    def balance(self, program_id: str, account: str) -> int:
        row = self._one(
            "SELECT points FROM balances WHERE program_id = ? AND account = ?",
            [program_id, account],
        )
        return 0 if row is None else int(row["points"])

    def balances(self) -> dict[AccountKey, int]:
        return {
            (r["program_id"], r["account"]): r["points"]
            for r in self._all("SELECT * FROM balances")
        }

    # prizes
    def last_prize(self) -> Prize | None:
        return self._first(prize_from_row, "SELECT * FROM prizes ORDER BY id DESC LIMIT 1")

    def prizes(self, participant: str | None = None) -> list[Prize]:
        if participant is None:
            rows = self._all("SELECT * FROM prizes ORDER BY id")
        else:
            rows = self._all(
                "SELECT * FROM prizes WHERE participant = ? ORDER BY id", [participant]
            )
        return [prize_from_row(r) for r in rows]

    def add_prizes(self, prizes: Sequence[Prize]) -> None:
        self._conn.executemany(
            "INSERT INTO prizes (id, program_id, participant, outcome_id, draw, category,"
            " value_cents, won_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    p.id,
                    p.program_id,
                    p.participant,
                    p.outcome_id,
                    p.draw,
                    p.category,
                    p.value_cents,
                    to_utc_text(p.won_at),
                    str(p.status),
                )
                for p in prizes
            ],
        )

    def prize(self, prize_id: int) -> Prize | None:
        return self._first(prize_from_row, "SELECT * FROM prizes WHERE id = ?", [prize_id])

    def fulfil_prize(self, fulfilment: PrizeFulfilment) -> None:
        self._conn.execute(
            "INSERT INTO prize_fulfilments (prize_id, sku, actor, at, note) VALUES (?, ?, ?, ?, ?)",
            [
                fulfilment.prize_id,
                fulfilment.sku,
                fulfilment.actor,
                to_utc_text(fulfilment.at),
                fulfilment.note,
            ],
        )
        self._conn.execute(
            "UPDATE prizes SET status = 'fulfilled' WHERE id = ?", [fulfilment.prize_id]
        )

    def prize_fulfilments(self) -> list[PrizeFulfilment]:
        rows = self._all("SELECT * FROM prize_fulfilments ORDER BY prize_id")
        return [fulfilment_from_row(r) for r in rows]

    def add_prize_trades(self, trades: Sequence[PrizeTrade]) -> None:
        self._conn.executemany(
            "INSERT INTO prize_trades (traded_prize, new_prize, actor, at) VALUES (?, ?, ?, ?)",
            [(t.traded_prize, t.new_prize, t.actor, to_utc_text(t.at)) for t in trades],
        )
        self._conn.executemany(
            "UPDATE prizes SET status = 'traded' WHERE id = ?", [(t.traded_prize,) for t in trades]
        )

    def prize_trades(self) -> list[PrizeTrade]:
        return [
            PrizeTrade(r["traded_prize"], r["new_prize"], r["actor"], _time(r["at"]))
            for r in self._all("SELECT * FROM prize_trades ORDER BY traded_prize")
        ]

    # catalog and stock
    def item(self, sku: str) -> CatalogItem | None:
        return self._first(item_from_row, "SELECT * FROM catalog WHERE sku = ?", [sku])

    def items(self) -> list[CatalogItem]:
        return self._every(item_from_row, "SELECT * FROM catalog ORDER BY sku")

    def add_item(self, item: CatalogItem) -> None:
        self._conn.execute(
            "INSERT INTO catalog (sku, name, cost, stock, category, low_stock, added_at, added_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                item.sku,
                item.name,
                item.cost,
                item.stock,
                item.category,
                item.low_stock,
                to_utc_text(item.added_at),
                item.added_by,
            ],
        )

    def last_stock_movement(self) -> StockMovement | None:
        return self._first(
            movement_from_row, "SELECT * FROM stock_movements ORDER BY id DESC LIMIT 1"
        )

    def stock_movements(self) -> list[StockMovement]:
        return self._every(movement_from_row, "SELECT * FROM stock_movements ORDER BY id")

    def add_stock_movements(self, movements: Sequence[StockMovement]) -> None:
        # The cached stock follows through the stock_movements_keep_stock trigger.
        self._conn.executemany(
            "INSERT INTO stock_movements (id, sku, change, reason, cause, actor, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (m.id, m.sku, m.change, str(m.reason), m.cause, m.actor, to_utc_text(m.at))
                for m in movements
            ],
        )

    # redemptions
    def redemption(self, redemption_id: int) -> Redemption | None:
        return self._first(
            redemption_from_row, "SELECT * FROM redemptions WHERE id = ?", [redemption_id]
        )

    def redemptions(self, participant: str | None = None) -> list[Redemption]:
        if participant is None:
            rows = self._all("SELECT * FROM redemptions ORDER BY id")
        else:
            rows = self._all(
                "SELECT * FROM redemptions WHERE participant = ? ORDER BY id", [participant]
            )
        return [redemption_from_row(r) for r in rows]

    def open_redemptions(self, requested_before: dt.datetime) -> list[Redemption]:
        rows = self._all(
            "SELECT * FROM redemptions WHERE status IN ('requested', 'approved')"
            " AND requested_at < ? ORDER BY id",
            [to_utc_text(requested_before)],
        )
        return [redemption_from_row(r) for r in rows]

    def last_redemption(self) -> Redemption | None:
        return self._first(
            redemption_from_row, "SELECT * FROM redemptions ORDER BY id DESC LIMIT 1"
        )

    def add_redemption(self, redemption: Redemption) -> None:
        fields = _redemption_row(redemption)
        self._conn.execute(
            f"INSERT INTO redemptions ({', '.join(fields)})"
            f" VALUES ({', '.join('?' * len(fields))})",
            list(fields.values()),
        )

    def update_redemption(self, redemption: Redemption) -> None:
        fields = _redemption_row(redemption)
        del fields["id"]
        self._conn.execute(
            f"UPDATE redemptions SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
            [*fields.values(), redemption.id],
        )

    # cap usage
    def cap_usage(self, participant: str, period: str) -> int:
        row = self._one(
            "SELECT cents FROM cap_usage WHERE participant = ? AND period = ?",
            [participant, period],
        )
        return 0 if row is None else int(row["cents"])

    def cap_usages(self) -> dict[tuple[str, str], int]:
        return {
            (r["participant"], r["period"]): r["cents"]
            for r in self._all("SELECT * FROM cap_usage")
        }

    def add_cap_usage(self, participant: str, period: str, cents: int) -> None:
        # Zero row first: an upsert would test CHECK (cents >= 0) on a negative change.
        self._conn.execute(
            "INSERT INTO cap_usage (participant, period, cents) VALUES (?, ?, 0)"
            " ON CONFLICT (participant, period) DO NOTHING",
            [participant, period],
        )
        self._conn.execute(
            "UPDATE cap_usage SET cents = cents + ? WHERE participant = ? AND period = ?",
            [cents, participant, period],
        )

    # idempotency
    def idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        return self._first(
            _key_from_row, "SELECT * FROM idempotency WHERE scope = ? AND key = ?", [scope, key]
        )

    def idempotency_records(self) -> list[IdempotencyRecord]:
        return self._every(_key_from_row, "SELECT * FROM idempotency ORDER BY scope, key")

    def remember(self, record: IdempotencyRecord) -> None:
        self._conn.execute(
            "INSERT INTO idempotency (scope, key, fingerprint, result, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                record.scope,
                record.key,
                record.fingerprint,
                json.dumps(record.result, sort_keys=True),
                to_utc_text(record.created_at),
            ],
        )


@functools.lru_cache(maxsize=64)
def _parsed_program(definition: str) -> Program:
    # Programs never change, so one stored definition always parses to one Program.
    return program_from_dict(json.loads(definition), "stored program")


def _program(row: sqlite3.Row) -> Program:
    return _parsed_program(row["definition"])


class SQLiteStore:
    """A clinic's database file."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.location = str(path)
        _create_private(Path(path))
        _refuse_foreign_file(Path(path))
        try:
            conn = sqlite3.connect(
                self.location, timeout=busy_timeout_ms / 1000, isolation_level=None
            )
        except sqlite3.Error as error:
            raise IntegrityError(f"{path}: cannot open database ({error})") from None
        conn.row_factory = sqlite3.Row
        self._db = Database(conn)
        try:
            self._configure(busy_timeout_ms)
            self._migrate()
        except BaseException:
            conn.close()
            raise

    def _configure(self, busy_timeout_ms: int) -> None:
        with _translated_errors(self.location):
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA synchronous = FULL")
            # Refuse a foreign or newer file before anything (WAL included) changes it.
            self._check_schema()
            self._db.execute("PRAGMA journal_mode = WAL")

    def _migrate(self) -> None:
        with self._transaction(immediate=True):
            # Again inside the lock: another process may have created the schema meanwhile.
            self._check_schema()
            schema.migrations.apply(self._db)

    def _check_schema(self) -> None:
        tables = {t for t in self._db.table_names() if not t.startswith("sqlite_")}
        if not tables:
            return
        self._check_application(tables)
        applied = [m.name for m in schema.migrations.applied(self._db)]
        newer = [name for name in applied if name not in schema.KNOWN]
        if newer:
            raise IntegrityError(
                f"{self.location} was written by a newer cmrewards (schema {newer[-1]});"
                " upgrade cmrewards to open it"
            )

    def _check_application(self, tables: set[str]) -> None:
        row = None
        if "cmrewards_meta" in tables:
            row = self._db.execute(
                "SELECT value FROM cmrewards_meta WHERE key = 'application'"
            ).fetchone()
        if row is None or row[0] != schema.APPLICATION:
            raise IntegrityError(f"{self.location} is not a cmrewards database")

    @contextmanager
    def _transaction(self, *, immediate: bool) -> Iterator[None]:
        with _translated_errors(self.location):
            self._db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.rollback()
                raise

    @contextmanager
    def write(self) -> Iterator[SQLiteTx]:
        with self._transaction(immediate=True):
            yield SQLiteTx(self._db)

    @contextmanager
    def read(self) -> Iterator[SQLiteTx]:
        with self._transaction(immediate=False):
            yield SQLiteTx(self._db)

    def integrity_problems(self) -> list[str]:
        with _translated_errors(self.location):
            rows = self._db.execute("PRAGMA integrity_check").fetchall()
            problems = [r[0] for r in rows if r[0] != "ok"]
            violations = self._db.execute("PRAGMA foreign_key_check").fetchall()
        problems += [f"row {v[1]} of {v[0]} refers to a missing {v[2]}" for v in violations]
        return problems

    def close(self) -> None:
        self._db.close()


def _create_private(path: Path) -> None:
    """Create the file owner-only before SQLite opens it; SQLite copies its mode to -wal/-shm."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    except OSError as error:
        raise IntegrityError(f"{path}: cannot create database ({error.strerror})") from None


def _refuse_foreign_file(path: Path) -> None:
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_MAGIC))
    except OSError as error:
        raise IntegrityError(f"{path}: cannot read database ({error.strerror})") from None
    if header and header != SQLITE_MAGIC:
        raise IntegrityError(f"{path} is not a cmrewards database (not an SQLite file)")


@contextmanager
def _translated_errors(location: str) -> Iterator[None]:
    """Turn the engine's errors into the library's: busy is a refusal, damage is integrity."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise Busy(
                f"{location} is busy: another terminal held it past the timeout; try again"
            ) from None
        raise IntegrityError(f"{location}: {error}") from None
    except sqlite3.IntegrityError as error:
        raise IntegrityError(
            f"{location}: refused by the database's own checks ({error})"
        ) from None
    except sqlite3.DatabaseError as error:
        raise IntegrityError(f"{location} is damaged or not a database ({error})") from None
