"""Shared fixtures: a clock the tests move by hand, and clinics on each store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine

import cmrewards
import postgres_support
from cmrewards import Clinic

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


def visit(day: int, hour: int = 9) -> dt.datetime:
    """Clinical time ``day`` days after START, at ``hour`` UTC."""
    return dt.datetime(START.year, START.month, START.day, hour, tzinfo=dt.UTC) + dt.timedelta(
        days=day
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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


@pytest.fixture(params=["sqlite", "postgres"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database several processes can open: a SQLite file or a PostgreSQL URL."""
    with database_location(request.param, tmp_path) as location:
        assert location is not None
        yield location


@pytest.fixture(params=STORES)
def any_clinic(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Clinic]:
    """An empty clinic on each store, with admin ``admin-1`` and the fake clock."""
    with database_location(request.param, tmp_path) as location:
        clinic = cmrewards.open(location, clock=clock, seeds=iter(range(1, 10**6)).__next__)
        clinic.init("admin-1")
        yield clinic
        clinic.close()


@pytest.fixture
def higgins(any_clinic: Clinic) -> Clinic:
    """``any_clinic`` with the higgins-vbrt preset and participant P001 enrolled on START."""
    any_clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
    any_clinic.enroll("P001", "higgins-vbrt", start=START, actor="admin-1")
    return any_clinic
