"""Programming mistakes get their own clear error, on every store.

A ``Clinic`` used on a thread other than the one that opened it, or after ``close()``, is
``UsageError`` (the calling code's mistake, exit 2) and never ``IntegrityError`` ("the file
is damaged", exit 3). Nothing is written and the database stays sound.
"""

from __future__ import annotations

import datetime as dt
import inspect
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import cmrewards
from cmrewards import Clinic, InvalidInput, UsageError
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


# --- argument types, checked at the door -----------------------------------------------------


def public_methods() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(Clinic).items()
        if not name.startswith("_") and inspect.isfunction(member)
    }


@pytest.mark.parametrize("method", sorted(public_methods()))
def test_every_argument_of_every_method_is_checked(any_clinic: Clinic, method: str) -> None:
    """A value of no sensible type, for each parameter in turn: refused by name, before
    the method runs (the other arguments are missing, which it would notice next)."""
    before = any_clinic.verify()
    for parameter in list(public_methods()[method].parameters)[1:]:
        with pytest.raises(InvalidInput) as info:
            getattr(any_clinic, method)(**{parameter: object()})
        assert str(info.value).startswith(f"{parameter} must be ")
        assert str(info.value).endswith(", not object")
    assert any_clinic.verify() == before


START = dt.date(2026, 1, 5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c: c.enroll("P-2", "higgins-vbrt", start="2026-01-05", actor="admin-1"),
            "start must be a datetime.date or None, not str",
        ),
        (
            lambda c: c.enroll(
                "P-2", "higgins-vbrt", start=dt.datetime(2026, 1, 5, tzinfo=dt.UTC), actor="admin-1"
            ),
            "start must be a datetime.date or None, not datetime.datetime",
        ),
        (lambda c: c.report(since="2026-01-01"), "since must be a datetime.date or None, not str"),
        (
            lambda c: c.record(
                "P-1", "stimulant-negative", "met", at="2026-01-05T09:30", actor="admin-1"
            ),
            "at must be a datetime.datetime or None, not str",
        ),
        (
            lambda c: c.record("P-1", "stimulant-negative", True, actor="admin-1"),
            "outcome must be an Outcome or str, not bool",
        ),
        (
            lambda c: c.adjust("P-1", "15", reason="r", actor="admin-1"),
            "points must be an int, not str",
        ),
        (
            lambda c: c.adjust("P-1", True, reason="r", actor="admin-1"),
            "points must be an int, not bool",
        ),
        (
            lambda c: c.record_visit("P-1", [("stimulant-negative", "met")], actor="admin-1"),
            "results must be a mapping of str to Outcome or str, not list",
        ),
        (
            lambda c: c.record_visit("P-1", {"stimulant-negative": 1}, actor="admin-1"),
            "results must be a mapping of str to Outcome or str, not dict",
        ),
        (
            lambda c: c.import_lab_results([], actor="admin-1", targets="stimulant-negative"),
            "targets must be a sequence of str, not str",
        ),
        (
            lambda c: c.add_program("higgins-vbrt", actor="admin-1"),
            "program must be a Program, not str",
        ),
        (lambda c: c.balance(None), "participant must be a str, not None"),
        (
            lambda c: c.correct("1", "met", reason="r", actor="admin-1"),
            "outcome_id must be an int, not str",
        ),
        (lambda c: c.export(7), "directory must be a str or pathlib.Path, not int"),
    ],
)
def test_a_value_of_the_wrong_type_is_one_line_of_invalid_input(
    any_clinic: Clinic, call: Callable[[Clinic], object], message: str
) -> None:
    any_clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
    any_clinic.enroll("P-1", "higgins-vbrt", start=START, actor="admin-1")
    before = any_clinic.history("P-1"), any_clinic.participants()
    with pytest.raises(InvalidInput) as info:
        call(any_clinic)
    assert str(info.value) == message
    assert info.value.exit_code == 2
    assert (any_clinic.history("P-1"), any_clinic.participants()) == before


def test_the_right_types_pass_through(any_clinic: Clinic, tmp_path: Path) -> None:
    """Subclasses, enums for their strings, tuples for sequences, a Path, a generator."""
    any_clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
    any_clinic.enroll("P-1", "higgins-vbrt", start=START, actor="admin-1")
    any_clinic.add_staff("rec-01", cmrewards.Role.RECORDER, actor="admin-1")
    visit = dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC)
    result = any_clinic.record(
        "P-1", "stimulant-negative", cmrewards.Outcome.MET, at=visit, actor="rec-01"
    )
    assert result.award.points == 10
    report = any_clinic.import_lab_results(
        iter(()), actor="rec-01", targets=("stimulant-negative",)
    )
    assert report.rows == 0
    assert any_clinic.report(since=START)[0].program_id == "higgins-vbrt"
    assert any_clinic.export(tmp_path / "out").tables["participants"] == 1
