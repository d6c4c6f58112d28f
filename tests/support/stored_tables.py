"""A clinic's stored rows read past the library, on each kind of store.

The state machines check what is stored, not what the library says is: through a plain
connection of their own on SQLite and PostgreSQL, and the memory store's own records.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Protocol

import attrs

import cmrewards
from cmrewards.store.memory import MemoryStore


class Tables(Protocol):
    """A clinic's stored rows, read past the library."""

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table``, column by name, in the order of its first column."""
        ...

    def dump(self) -> object:
        """Every table: equal before and after means nothing was written."""
        ...

    def close(self) -> None: ...


class SQLiteTables:
    """The file, through a plain connection of our own."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path)

    def rows(self, table: str) -> list[dict[str, Any]]:
        cursor = self.conn.cursor()
        cursor.row_factory = sqlite3.Row
        return [dict(row) for row in cursor.execute(f"SELECT * FROM {table} ORDER BY 1")]

    def dump(self) -> object:
        return list(self.conn.iterdump())

    def close(self) -> None:
        self.conn.close()


class PostgresTables:
    """The clinic's schema, through a plain connection of our own."""

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()

    def dump(self) -> object:
        # As postgres_support.table_dump, in one round trip on this connection.
        tables = [
            row["tablename"]
            for row in self.conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
            )
        ]
        every_row = " UNION ALL ".join(
            f"SELECT '{table}' AS tab, t::text AS row FROM {table} AS t" for table in tables
        )
        return tables, self.conn.execute(f"{every_row} ORDER BY 1, 2").fetchall()

    def close(self) -> None:
        self.conn.close()


class MemoryTables:
    """The memory store's state itself: its records, as the rows a database would hold."""

    def __init__(self, clinic: cmrewards.Clinic) -> None:
        store = clinic._store
        assert isinstance(store, MemoryStore)
        self.store = store

    def rows(self, table: str) -> list[dict[str, Any]]:
        state = self.store._state
        records: dict[str, dict[int, Any]] = {
            "transfers": state.transfers,
            "outcomes": state.outcomes,
            "prizes": state.prizes,
            "prize_withdrawals": state.withdrawals,
            "write_offs": state.write_offs,
        }
        if table in records:
            return [attrs.asdict(r, recurse=False) for r in records[table].values()]
        if table == "balances":
            return [
                {"program_id": program_id, "account": account, "points": points}
                for (program_id, account), points in sorted(state.balances.items())
            ]
        if table == "cap_usage":
            return [
                {"participant": participant, "period": period, "cents": cents}
                for (participant, period), cents in sorted(state.cap_usage.items())
            ]
        if table == "schedule_states":
            return [
                {"participant": participant, "target": target, **attrs.asdict(s)}
                for (participant, target), s in sorted(state.states.items())
            ]
        raise AssertionError(f"no memory rows for {table}")

    def dump(self) -> object:
        # Records are frozen, so a copy of the tables is a snapshot.
        return self.store._state.copy()

    def close(self) -> None:
        pass


def open_tables(clinic: cmrewards.Clinic, location: str | None) -> Tables:
    if location is None:
        return MemoryTables(clinic)
    if location.startswith("postgresql://"):
        return PostgresTables(location)
    return SQLiteTables(location)
