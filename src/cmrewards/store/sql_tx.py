"""One unit of work in SQL: every statement the domain's port needs.

The SQL is the common dialect of SQLite and PostgreSQL, written with ``?`` placeholders;
each adapter passes a connection that runs it (the PostgreSQL one rewrites placeholders).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ..domain.clock import to_utc_text
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
from ..domain.schedules import ScheduleState
from .port import StateKey, Tx
from .sql_rows import (
    ANALYTE_RESULT_COLUMNS,
    ANALYTE_REVISION_COLUMNS,
    CORRECTION_COLUMNS,
    EPISODE_COLUMNS,
    JOURNAL_LINKS,
    OUTCOME_COLUMNS,
    OUTCOME_LINKS,
    PARTICIPANT_COLUMNS,
    PRIZES_NOW,
    SECRET_COLUMNS,
    SIGN_IN_COLUMNS,
    STORED_KEY_COLUMNS,
    TRANSFER_COLUMNS,
    TRANSFER_LINKS,
    WITHDRAWAL_COLUMNS,
    WRITE_OFF_COLUMNS,
    InOrder,
    Row,
    analyte_result_from_row,
    analyte_result_row,
    analyte_revision_from_row,
    analyte_revision_row,
    correction_from_row,
    correction_row,
    episode_from_row,
    episode_row,
    fulfilment_from_row,
    insert_sql,
    item_from_row,
    journal_from_row,
    key_from_row,
    links_from_rows,
    links_sql,
    movement_from_row,
    outcome_from_row,
    outcome_row,
    participant_from_row,
    participant_row,
    prize_from_row,
    program_from_row,
    redemption_from_row,
    redemption_row,
    secret_from_row,
    secret_row,
    sign_in_from_row,
    sign_in_row,
    staff_from_row,
    state_from_row,
    stored_key,
    transfer_from_row,
    transfer_row,
    utc_time,
    withdrawal_from_row,
    withdrawal_row,
    write_off_from_row,
    write_off_row,
)

if TYPE_CHECKING:  # records of rooms a balance never reads, imported where converted
    from ..domain.chain import ChainLink
    from ..domain.journal import JournalEntry
    from ..domain.redemption import (
        CatalogItem,
        PrizeFulfilment,
        PrizeTrade,
        Redemption,
        StockMovement,
    )
    from ..domain.revisions import AnalyteRevision
    from ..domain.sign_in import SignInEvent, StaffSecret
    from ..domain.specimens import AnalyteResult
    from ..domain.staff import Staff

R = TypeVar("R")
KEYS_PER_QUERY = 500
"""Pairs per lookup: 1,000 parameters, well inside both servers' limits."""


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What ``SQLTx`` needs of a DB-API connection: ``sqlite3.Connection`` has it as is."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> Any: ...


class SQLTx(Tx):
    """A unit of work as SQL statements on one connection, inside the adapter's transaction."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def read_ahead(self, reads: Callable[[Tx], object]) -> None:
        ahead = getattr(self._conn, "ahead", None)  # a connection with round trips has it
        if ahead is not None:
            with ahead():
                reads(self)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def _in_order(self, sql: str) -> list[InOrder]:
        """Every row of ``sql``, its columns read by position (``values_of``): a sqlite3
        cursor's as plain tuples, with no ``sqlite3.Row`` built (a fifth of reading a
        chained row: issue 16, verify's fifth pass), another connection's as it gives them."""
        cursor = self._conn.execute(sql)
        if isinstance(cursor, sqlite3.Cursor):
            cursor.row_factory = None
        return cursor.fetchall()

    def _first(self, convert: Callable[[Row], R], sql: str, params: Sequence[Any] = ()) -> R | None:
        row = self._one(sql, params)
        return None if row is None else convert(row)

    def _every(self, convert: Callable[[Row], R], sql: str, params: Sequence[Any] = ()) -> list[R]:
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

    # sign-in
    def staff_secret(self, staff_id: str) -> StaffSecret | None:
        return self._first(
            secret_from_row, "SELECT * FROM staff_secrets WHERE staff_id = ?", [staff_id]
        )

    def staff_secrets(self) -> list[StaffSecret]:
        return self._every(secret_from_row, "SELECT * FROM staff_secrets ORDER BY staff_id")

    def put_staff_secret(self, secret: StaffSecret) -> None:
        self._conn.execute(
            insert_sql("staff_secrets", SECRET_COLUMNS)
            + " ON CONFLICT (staff_id) DO UPDATE SET hash = excluded.hash,"
            " set_at = excluded.set_at, set_by = excluded.set_by",
            secret_row(secret),
        )

    def last_sign_in(self) -> SignInEvent | None:
        return self._first(sign_in_from_row, "SELECT * FROM sign_ins ORDER BY id DESC LIMIT 1")

    def sign_ins(self, staff_id: str | None = None) -> list[SignInEvent]:
        if staff_id is None:
            return self._every(sign_in_from_row, "SELECT * FROM sign_ins ORDER BY id")
        return self._every(
            sign_in_from_row, "SELECT * FROM sign_ins WHERE staff_id = ? ORDER BY id", [staff_id]
        )

    def session_events(self, session: str) -> list[SignInEvent]:
        return self._every(
            sign_in_from_row, "SELECT * FROM sign_ins WHERE session = ? ORDER BY id", [session]
        )

    def sign_in_policy(self) -> SignInEvent | None:
        return self._first(
            sign_in_from_row,
            "SELECT * FROM sign_ins WHERE event = 'policy' ORDER BY id DESC LIMIT 1",
        )

    def add_sign_ins(self, events: Sequence[SignInEvent]) -> None:
        self._conn.executemany(
            insert_sql("sign_ins", SIGN_IN_COLUMNS), [sign_in_row(e) for e in events]
        )

    # programs
    def program(self, program_id: str) -> Program | None:
        return self._first(
            program_from_row, "SELECT definition FROM programs WHERE id = ?", [program_id]
        )

    def programs(self) -> list[Program]:
        return self._every(program_from_row, "SELECT definition FROM programs ORDER BY id")

    def program_origins(self) -> dict[str, tuple[dt.datetime, str]]:
        rows = self._all("SELECT id, added_at, added_by FROM programs")
        return {r["id"]: (utc_time(r["added_at"]), r["added_by"]) for r in rows}

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
            insert_sql("participants", PARTICIPANT_COLUMNS), participant_row(participant)
        )

    def update_participant(self, participant: Participant) -> None:
        assignments = ", ".join(f"{c} = ?" for c in PARTICIPANT_COLUMNS[1:])
        self._conn.execute(
            f"UPDATE participants SET {assignments} WHERE id = ?",
            [*participant_row(participant)[1:], participant.id],
        )

    def past_episodes(self, participant: str | None = None) -> list[Episode]:
        if participant is None:
            return self._every(
                episode_from_row, "SELECT * FROM past_episodes ORDER BY participant, number"
            )
        return self._every(
            episode_from_row,
            "SELECT * FROM past_episodes WHERE participant = ? ORDER BY number",
            [participant],
        )

    def add_past_episode(self, episode: Episode) -> None:
        self._conn.execute(insert_sql("past_episodes", EPISODE_COLUMNS), episode_row(episode))

    # outcomes
    def last_outcome(self) -> OutcomeRecord | None:
        return self._first(outcome_from_row, "SELECT * FROM outcomes ORDER BY id DESC LIMIT 1")

    def last_outcome_for(self, participant: str, target: str) -> OutcomeRecord | None:
        return self._first(
            outcome_from_row,
            "SELECT * FROM outcomes WHERE participant = ? AND target = ?"
            " ORDER BY occurred_at DESC, id DESC LIMIT 1",
            [participant, target],
        )

    def outcome(self, outcome_id: int) -> OutcomeRecord | None:
        return self._first(outcome_from_row, "SELECT * FROM outcomes WHERE id = ?", [outcome_id])

    def outcomes(self, participant: str | None = None) -> list[OutcomeRecord]:
        if participant is None:
            rows = self._all("SELECT * FROM outcomes ORDER BY id")
        else:
            rows = self._all(
                "SELECT * FROM outcomes WHERE participant = ? ORDER BY id", [participant]
            )
        return [outcome_from_row(r) for r in rows]

    def outcome_links(self) -> list[ChainLink]:
        rows = self._in_order(links_sql("outcomes", OUTCOME_LINKS[0]))
        return links_from_rows(rows, *OUTCOME_LINKS)

    def outcomes_since(
        self, participant: str, target: str, since: dt.datetime
    ) -> list[OutcomeRecord]:
        rows = self._all(
            "SELECT * FROM outcomes WHERE participant = ? AND target = ? AND occurred_at >= ?"
            " ORDER BY occurred_at, id",
            [participant, target, to_utc_text(since)],
        )
        return [outcome_from_row(r) for r in rows]

    def outcomes_since_of(
        self, participants: Sequence[str], since: dt.datetime
    ) -> list[OutcomeRecord]:
        people = list(dict.fromkeys(participants))
        found: list[OutcomeRecord] = []
        for start in range(0, len(people), KEYS_PER_QUERY):
            batch = people[start : start + KEYS_PER_QUERY]
            marks = ", ".join(["?"] * len(batch))
            found += self._every(
                outcome_from_row,
                f"SELECT * FROM outcomes WHERE participant IN ({marks}) AND occurred_at >= ?",
                [*batch, to_utc_text(since)],
            )
        return found

    def outcomes_at(self, participant: str, occurred_at: dt.datetime) -> list[OutcomeRecord]:
        rows = self._all(
            "SELECT * FROM outcomes WHERE participant = ? AND occurred_at = ? ORDER BY id",
            [participant, to_utc_text(occurred_at)],
        )
        return [outcome_from_row(r) for r in rows]

    def append_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        self._conn.executemany(
            insert_sql("outcomes", OUTCOME_COLUMNS), [outcome_row(r) for r in records]
        )

    # analyte results
    def last_analyte_result(self) -> AnalyteResult | None:
        return self._first(
            analyte_result_from_row, "SELECT * FROM analyte_results ORDER BY id DESC LIMIT 1"
        )

    def specimen_results(self, participant: str, specimen: str) -> list[AnalyteResult]:
        return self._every(
            analyte_result_from_row,
            "SELECT * FROM analyte_results WHERE participant = ? AND specimen = ? ORDER BY id",
            [participant, specimen],
        )

    def analyte_results(self, participant: str | None = None) -> list[AnalyteResult]:
        if participant is None:
            return self._every(analyte_result_from_row, "SELECT * FROM analyte_results ORDER BY id")
        return self._every(
            analyte_result_from_row,
            "SELECT * FROM analyte_results WHERE participant = ? ORDER BY id",
            [participant],
        )

    def add_analyte_results(self, results: Sequence[AnalyteResult]) -> None:
        self._conn.executemany(
            insert_sql("analyte_results", ANALYTE_RESULT_COLUMNS),
            [analyte_result_row(r) for r in results],
        )

    def last_analyte_revision(self) -> AnalyteRevision | None:
        return self._first(
            analyte_revision_from_row, "SELECT * FROM analyte_revisions ORDER BY id DESC LIMIT 1"
        )

    def specimen_revisions(self, participant: str, specimen: str) -> list[AnalyteRevision]:
        return self._every(
            analyte_revision_from_row,
            "SELECT * FROM analyte_revisions WHERE participant = ? AND specimen = ? ORDER BY id",
            [participant, specimen],
        )

    def specimens_of(
        self, specimens: Sequence[tuple[str, str]]
    ) -> tuple[list[AnalyteResult], list[AnalyteRevision]]:
        pairs = list(dict.fromkeys(specimens))
        results: list[AnalyteResult] = []
        revisions: list[AnalyteRevision] = []
        for start in range(0, len(pairs), KEYS_PER_QUERY):
            batch = pairs[start : start + KEYS_PER_QUERY]
            where = f"(participant, specimen) IN (VALUES {', '.join(['(?, ?)'] * len(batch))})"
            named = [part for pair in batch for part in pair]
            results += self._every(
                analyte_result_from_row, f"SELECT * FROM analyte_results WHERE {where}", named
            )
            revisions += self._every(
                analyte_revision_from_row, f"SELECT * FROM analyte_revisions WHERE {where}", named
            )
        return sorted(results, key=lambda r: r.id), sorted(revisions, key=lambda r: r.id)

    def analyte_revisions(self, participant: str | None = None) -> list[AnalyteRevision]:
        if participant is None:
            return self._every(
                analyte_revision_from_row, "SELECT * FROM analyte_revisions ORDER BY id"
            )
        return self._every(
            analyte_revision_from_row,
            "SELECT * FROM analyte_revisions WHERE participant = ? ORDER BY id",
            [participant],
        )

    def add_analyte_revisions(self, revisions: Sequence[AnalyteRevision]) -> None:
        self._conn.executemany(
            insert_sql("analyte_revisions", ANALYTE_REVISION_COLUMNS),
            [analyte_revision_row(r) for r in revisions],
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

    def transfer_links(self) -> list[ChainLink]:
        rows = self._in_order(links_sql("transfers", TRANSFER_LINKS[0]))
        return links_from_rows(rows, *TRANSFER_LINKS)

    def reversal_of(self, transfer_id: int) -> Transfer | None:
        return self._first(
            transfer_from_row, "SELECT * FROM transfers WHERE reverses = ?", [transfer_id]
        )

    def append_transfers(self, transfers: Sequence[Transfer]) -> None:
        # The balances follow through the transfers_keep_balances trigger.
        self._conn.executemany(
            insert_sql("transfers", TRANSFER_COLUMNS), [transfer_row(t) for t in transfers]
        )

    def balance(self, program_id: str, account: str) -> int:
        row = self._one(
            "SELECT points FROM balances WHERE program_id = ? AND account = ?",
            [program_id, account],
        )
        return 0 if row is None else int(row["points"])

    def awaiting_final(self, participant: str) -> list[str]:
        # The standing report of an analyte is the latest revision of the row it revises
        # (its first decisive result, or none yet: domain/revisions.py ``readings``); both
        # lookups ride the UNIQUE and by-specimen indexes.
        rows = self._all(
            "SELECT v.specimen FROM analyte_revisions v LEFT JOIN analyte_results f"
            " ON f.participant = v.participant AND f.specimen = v.specimen"
            " AND f.analyte = v.analyte"
            " WHERE v.participant = ? AND v.status = 'preliminary'"
            " AND (v.revises = f.id OR (v.revises IS NULL AND f.id IS NULL))"
            " AND NOT EXISTS (SELECT 1 FROM analyte_revisions w"
            " WHERE w.participant = v.participant AND w.specimen = v.specimen"
            " AND w.analyte = v.analyte AND w.id > v.id"
            " AND (w.revises = f.id OR (w.revises IS NULL AND f.id IS NULL)))"
            " GROUP BY v.specimen ORDER BY MIN(v.collected_at), MIN(v.id)",
            [participant],
        )
        return [r["specimen"] for r in rows]

    def balances(self) -> dict[AccountKey, int]:
        return {
            (r["program_id"], r["account"]): r["points"]
            for r in self._all("SELECT * FROM balances")
        }

    # prizes
    def last_prize(self) -> Prize | None:
        return self._first(prize_from_row, f"{PRIZES_NOW} ORDER BY id DESC LIMIT 1")

    def prizes(self, participant: str | None = None) -> list[Prize]:
        if participant is None:
            rows = self._all(f"{PRIZES_NOW} ORDER BY id")
        else:
            rows = self._all(f"{PRIZES_NOW} WHERE participant = ? ORDER BY id", [participant])
        return [prize_from_row(r) for r in rows]

    def owed_prizes(self, participant: str) -> list[Prize]:
        rows = self._all(
            f"SELECT * FROM ({PRIZES_NOW} WHERE participant = ? AND status = 'owed') AS owed"
            " WHERE reinstated IS NULL OR reinstated <> 0 ORDER BY id",
            [participant],
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
        return self._first(prize_from_row, f"{PRIZES_NOW} WHERE id = ?", [prize_id])

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
        from ..domain.redemption import PrizeTrade

        return [
            PrizeTrade(r["traded_prize"], r["new_prize"], r["actor"], utc_time(r["at"]))
            for r in self._all("SELECT * FROM prize_trades ORDER BY traded_prize")
        ]

    # corrections, write-offs and prize withdrawals
    def last_correction(self) -> Correction | None:
        return self._first(
            correction_from_row, "SELECT * FROM corrections ORDER BY id DESC LIMIT 1"
        )

    def corrections(self, participant: str | None = None) -> list[Correction]:
        if participant is None:
            return self._every(correction_from_row, "SELECT * FROM corrections ORDER BY id")
        return self._every(
            correction_from_row,
            "SELECT * FROM corrections WHERE participant = ? ORDER BY id",
            [participant],
        )

    def add_corrections(self, corrections: Sequence[Correction]) -> None:
        self._conn.executemany(
            insert_sql("corrections", CORRECTION_COLUMNS), [correction_row(c) for c in corrections]
        )

    def last_write_off(self) -> WriteOff | None:
        return self._first(write_off_from_row, "SELECT * FROM write_offs ORDER BY id DESC LIMIT 1")

    def write_offs(self, participant: str | None = None) -> list[WriteOff]:
        if participant is None:
            return self._every(write_off_from_row, "SELECT * FROM write_offs ORDER BY id")
        return self._every(
            write_off_from_row,
            "SELECT * FROM write_offs WHERE participant = ? ORDER BY id",
            [participant],
        )

    def add_write_offs(self, write_offs: Sequence[WriteOff]) -> None:
        self._conn.executemany(
            insert_sql("write_offs", WRITE_OFF_COLUMNS), [write_off_row(w) for w in write_offs]
        )

    def last_prize_withdrawal(self) -> PrizeWithdrawal | None:
        return self._first(
            withdrawal_from_row, "SELECT * FROM prize_withdrawals ORDER BY id DESC LIMIT 1"
        )

    def prize_withdrawals(self) -> list[PrizeWithdrawal]:
        return self._every(withdrawal_from_row, "SELECT * FROM prize_withdrawals ORDER BY id")

    def add_prize_withdrawals(self, withdrawals: Sequence[PrizeWithdrawal]) -> None:
        self._conn.executemany(
            insert_sql("prize_withdrawals", WITHDRAWAL_COLUMNS),
            [withdrawal_row(w) for w in withdrawals],
        )

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
        fields = redemption_row(redemption)
        self._conn.execute(
            f"INSERT INTO redemptions ({', '.join(fields)})"
            f" VALUES ({', '.join('?' * len(fields))})",
            list(fields.values()),
        )

    def update_redemption(self, redemption: Redemption) -> None:
        fields = redemption_row(redemption)
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

    # journal
    def last_journal_entry(self) -> JournalEntry | None:
        return self._first(journal_from_row, "SELECT * FROM journal ORDER BY id DESC LIMIT 1")

    def journal(self) -> list[JournalEntry]:
        return self._every(journal_from_row, "SELECT * FROM journal ORDER BY id")

    def journal_links(self) -> list[ChainLink]:
        rows = self._in_order(links_sql("journal", JOURNAL_LINKS[0]))
        return links_from_rows(rows, *JOURNAL_LINKS)

    def append_journal(self, entries: Sequence[JournalEntry]) -> None:
        self._conn.executemany(
            "INSERT INTO journal (id, kind, key, digest, at, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (e.id, e.kind, e.key, e.digest, to_utc_text(e.at), e.prev_hash, e.hash)
                for e in entries
            ],
        )

    # idempotency
    def idempotency(self, scope: str, key: str) -> IdempotencyRecord | None:
        return self._first(
            key_from_row, "SELECT * FROM idempotency WHERE scope = ? AND key = ?", [scope, key]
        )

    def idempotency_many(self, keys: Sequence[tuple[str, str]]) -> list[IdempotencyRecord]:
        pairs = list(dict.fromkeys(keys))
        found: list[IdempotencyRecord] = []
        for start in range(0, len(pairs), KEYS_PER_QUERY):
            batch = pairs[start : start + KEYS_PER_QUERY]
            values = ", ".join(["(?, ?)"] * len(batch))
            found += self._every(
                key_from_row,
                f"SELECT * FROM idempotency WHERE (scope, key) IN (VALUES {values})",
                [part for pair in batch for part in pair],
            )
        return found

    def idempotency_records(self) -> list[IdempotencyRecord]:
        return self._every(key_from_row, "SELECT * FROM idempotency ORDER BY scope, key")

    def stored_keys(self) -> list[StoredKey]:
        columns = ", ".join(STORED_KEY_COLUMNS)
        rows = self._in_order(f"SELECT {columns} FROM idempotency ORDER BY scope, key")
        return list(map(stored_key, rows))

    def remember(self, record: IdempotencyRecord) -> None:
        self.remember_all([record])

    def remember_all(self, records: Sequence[IdempotencyRecord]) -> None:
        from ..domain.chain import canonical  # a write's; a balance never hashes (issue 16)

        self._conn.executemany(
            "INSERT INTO idempotency (scope, key, fingerprint, result, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (
                    r.scope,
                    r.key,
                    r.fingerprint,
                    canonical(r.result),  # hashed as it is by verify (StoredKey)
                    to_utc_text(r.created_at),
                )
                for r in records
            ],
        )
