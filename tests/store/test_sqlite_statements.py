"""Statements one ``record`` runs on SQLite, counted with ``set_trace_callback``.

Issue 16 asks one ``record`` to cost little more than a raw insert and commit; what it
reads is pinned here so a change that adds a read per record is seen (benchmarks/PROFILE.md,
"One `record`"). These tests count; they time nothing. The trace reports the steps a
trigger runs under the text of the statement that fired it, so an insert into
``transfers`` (whose trigger keeps the balances) counts more than once.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import cmrewards

READS = 13
"""SELECTs of a participant's first in-order ``record`` without a key (the list is in
benchmarks/PROFILE.md)."""
READS_LATER = 14
"""SELECTs of a later one: its attendance also reads the target's recent outcomes."""
STATEMENTS = 22
"""Every statement of it as traced: BEGIN IMMEDIATE, the reads, the outcome, its schedule
state, its transfer (reported five times: its balance trigger's steps come under the
insert's text), COMMIT."""


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC) + dt.timedelta(days=day)


def traced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement run on a connection the store opens from now on."""
    seen: list[str] = []
    original = sqlite3.connect

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn: sqlite3.Connection = original(*args, **kwargs)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    return seen


def clinic_with_two(path: Path) -> cmrewards.Clinic:
    clinic = cmrewards.open(path)
    clinic.init("admin-1")
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
    for n in range(2):
        clinic.enroll(f"P-{n}", "higgins-vbrt", start=dt.date(2026, 1, 5), actor="admin-1")
    clinic.record("P-0", "stimulant-negative", "met", at=at(0), actor="admin-1")
    return clinic


def test_one_record_runs_its_pinned_statements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = traced(monkeypatch)
    clinic = clinic_with_two(tmp_path / "clinic.db")
    try:
        del seen[:]
        result = clinic.record("P-1", "stimulant-negative", "met", at=at(2), actor="admin-1")
        statements = list(seen)
        del seen[:]
        again = clinic.record("P-0", "stimulant-negative", "met", at=at(2), actor="admin-1")
    finally:
        clinic.close()
    # Real writes, not refusals.
    assert result.award.points > 0
    assert again.award.points > 0
    reads = [s for s in statements if s.startswith("SELECT")]
    assert statements[0] == "BEGIN IMMEDIATE"
    assert statements[-1] == "COMMIT"
    assert len(reads) <= READS, reads
    assert len(statements) <= STATEMENTS, statements
    assert len([s for s in seen if s.startswith("SELECT")]) <= READS_LATER


def test_a_second_connections_write_is_seen_by_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "clinic.db"
    first = clinic_with_two(path)
    second = cmrewards.open(path)
    try:
        mine = first.record("P-1", "stimulant-negative", "met", at=at(2), actor="admin-1")
        theirs = second.record("P-0", "stimulant-negative", "met", at=at(2), actor="admin-1")
        after = first.record("P-1", "stimulant-negative", "met", at=at(4), actor="admin-1")
        assert (mine.outcome_id, theirs.outcome_id, after.outcome_id) == (2, 3, 4)
        assert after.balance.available_points == mine.balance.available_points + after.award.points
        assert first.verify().ok
    finally:
        second.close()
        first.close()
