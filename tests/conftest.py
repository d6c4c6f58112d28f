"""Shared fixtures: a clock the tests move by hand, and clinics on each store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import cmrewards
from cmrewards import Clinic
from support.clinics import START, STORES, FakeClock, database_location


@pytest.fixture(autouse=True)
def no_actor_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal signed in for one member of staff exports ``CMREWARDS_ACTOR``; a CLI test
    that expects ``--actor`` to be missing, or a refusal of the actor it names, must not
    find someone else's there."""
    monkeypatch.delenv("CMREWARDS_ACTOR", raising=False)


# The documented test cost (README, "Who is at the keyboard"): the cheapest Argon2id and
# millisecond delays, here and in every command and example the tests start as a process.
os.environ["CMREWARDS_PASSPHRASE_COST"] = "test"

SECRET_VARIABLES = (
    "CMREWARDS_PASSPHRASE",
    "CMREWARDS_PASSPHRASE_FILE",
    "CMREWARDS_NEW_PASSPHRASE",
    "CMREWARDS_NEW_PASSPHRASE_FILE",
)


@pytest.fixture(autouse=True)
def signed_in_nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No passphrase from the machine's environment, and sessions kept in the test's own
    folder, never the tester's home."""
    for name in SECRET_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CMREWARDS_SESSIONS", str(tmp_path / "sessions"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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
