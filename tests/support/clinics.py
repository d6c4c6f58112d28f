"""What the tests share: a clock moved by hand, visit times, and a new database on each store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine

from cmrewards import HistoryEntry
from support import postgres as postgres_support

START = dt.date(2027, 1, 4)
"""A Monday; the enrolment date used across the tests."""


class FakeClock:
    """A wall clock that only moves when a test says so."""

    def __init__(self, now: dt.datetime | None = None) -> None:
        self.now = now or dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)

    @contextmanager
    def at(self, when: dt.datetime) -> Iterator[None]:
        """The clock at ``when`` inside the block, back where it was after: staff acting on
        an earlier day (an episode ended before the next one starts)."""
        now, self.now = self.now, when
        try:
            yield
        finally:
            self.now = now


def visit(day: int, hour: int = 9) -> dt.datetime:
    """Clinical time ``day`` days after START, at ``hour`` UTC."""
    return dt.datetime(START.year, START.month, START.day, hour, tzinfo=dt.UTC) + dt.timedelta(
        days=day
    )


SAMPLE_DAYS = {1: (0,), 2: (0, 3), 3: (0, 2, 4)}
"""The days of the week a protocol taking so many samples a week sees a participant:
Monday; Monday and Thursday; Monday, Wednesday and Friday (START is a Monday)."""


def sample_day(n: int, per_week: int = 3) -> int:
    """The day, counted from START, of sample ``n`` (0-based) of a protocol that owes
    ``per_week`` samples a week: every one an owed sample, none extra (docs/design.md 3.8)."""
    return 7 * (n // per_week) + SAMPLE_DAYS[per_week][n % per_week]


def available_now(entries: Sequence[HistoryEntry]) -> int:
    """The available points a history says the participant has now: its last line's, once
    ``check_history_balances`` holds (docs/decisions.md, "History order")."""
    check_history_balances(entries)
    last = entries[-1].available_points if entries else 0
    assert last is not None
    return last


def check_history_balances(entries: Sequence[HistoryEntry]) -> None:
    """Each balance a history shows is the sum of the points listed down to it, never
    below zero, and the last line has one (the balance now)."""
    listed = 0
    for entry in entries:
        listed += entry.points
        available, held = entry.available_points, entry.held_points
        assert (available is None) == (held is None), entry
        if available is not None and held is not None:
            assert min(available, held) >= 0, entry
            assert available + held == listed, entry
    assert not entries or entries[-1].available_points is not None, entries[-1]


STORES = ("memory", "sqlite", "postgres")


@contextmanager
def database_location(kind: str, directory: Path) -> Iterator[str | None]:
    """Where a new, empty database of ``kind`` lives: None (memory), a file, or a URL."""
    if kind == "memory":
        yield None
    elif kind == "sqlite":
        yield str(directory / "clinic.db")
    else:
        with postgres_support.database() as url:
            yield url


def on_every_store(
    machine: type[RuleBasedStateMachine], *, steps: int, examples: int, postgres_examples: int
) -> tuple[Any, ...]:
    """A TestCase of the state machine per store kind (its ``STORE`` set), memory first.

    Each PostgreSQL example creates a clinic (~0.25 s): fewer examples there, as many steps.
    """
    cases = []
    for kind in STORES:
        store_machine: Any = type(f"{machine.__name__}_{kind}", (machine,), {"STORE": kind})
        store_machine.TestCase.settings = settings(
            max_examples=postgres_examples if kind == "postgres" else examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        cases.append(store_machine.TestCase)
    return tuple(cases)
