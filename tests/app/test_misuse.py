"""Programming mistakes get their own clear error, on every store.

A ``Clinic`` used on a thread other than the one that opened it, or after ``close()``, is
``UsageError`` (the calling code's mistake, exit 2) and never ``IntegrityError`` ("the file
is damaged", exit 3). Nothing is written and the database stays sound.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import cmrewards
from cmrewards import Clinic, UsageError
from cmrewards.store.sqlite import _translated_errors
from support.clinics import STORES, database_location


def on_another_thread(call: Callable[[], object]) -> BaseException | None:
    """What ``call`` raised on a new thread (None if it returned)."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as error:  # reported to the test, not lost in the thread
            raised.append(error)

    thread = threading.Thread(target=run, name="request-7")
    thread.start()
    thread.join(timeout=60)
    return raised[0] if raised else None


@pytest.mark.parametrize(
    "use",
    [
        lambda clinic: clinic.staff(),
        lambda clinic: clinic.add_staff("rec-01", "recorder", actor="admin-1"),
        lambda clinic: clinic.verify(),
    ],
    ids=["read", "write", "verify"],
)
def test_another_thread_is_a_usage_error(
    any_clinic: Clinic, use: Callable[[Clinic], object]
) -> None:
    error = on_another_thread(lambda: use(any_clinic))
    assert isinstance(error, UsageError), error
    assert not isinstance(error, cmrewards.IntegrityError)
    assert error.exit_code == 2
    message = str(error)
    assert "\n" not in message
    assert "opened on thread 'MainThread' and used on 'request-7'" in message
    assert "one per thread or per request" in message
    # Nothing was written, and the clinic still works on its own thread.
    assert [s.id for s in any_clinic.staff()] == ["admin-1"]
    assert any_clinic.verify().ok


def test_a_clinic_per_thread_is_the_supported_pattern(any_clinic: Clinic, tmp_path: Path) -> None:
    location = any_clinic.location
    if location == ":memory:":
        pytest.skip("a memory clinic lives in one Clinic: there is nothing to open again")
    any_clinic.add_staff("rec-01", "recorder", actor="admin-1")

    def own_clinic() -> None:
        with cmrewards.open(location, create=False) as mine:
            assert [s.id for s in mine.staff()] == ["admin-1", "rec-01"]

    assert on_another_thread(own_clinic) is None


@pytest.mark.parametrize("kind", STORES)
def test_a_closed_clinic_is_a_usage_error(kind: str, tmp_path: Path) -> None:
    with database_location(kind, tmp_path) as location:
        clinic = cmrewards.open(location)
        clinic.init("admin-1")
        clinic.close()
        for use in (clinic.staff, lambda: clinic.add_staff("x-1", "recorder", actor="admin-1")):
            with pytest.raises(UsageError) as info:
                use()
            assert (
                str(info.value)
                == f"{location or ':memory:'} was closed; open it again with cmrewards.open()"
            )
        clinic.close()  # closing twice is harmless
        if location is not None:
            with cmrewards.open(location, create=False) as again:
                assert [s.id for s in again.staff()] == ["admin-1"]


def test_closing_on_another_thread_is_a_usage_error(any_clinic: Clinic) -> None:
    assert isinstance(on_another_thread(any_clinic.close), UsageError)
    assert [s.id for s in any_clinic.staff()] == ["admin-1"]


def test_sqlite_s_own_refusals_of_misuse_are_usage_errors_too() -> None:
    """Behind the owner check, the driver's "programming error" never reads as damage."""
    closed = r"^clinic\.db: Cannot operate on a closed database"
    with pytest.raises(UsageError, match=closed), _translated_errors("clinic.db"):
        raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
