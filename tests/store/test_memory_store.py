"""What the memory store adds to the storage contract: writes in place, and reads nested
in a write (or a write in a read) on the one thread that holds the store."""

from __future__ import annotations

import datetime as dt

import pytest

import cmrewards
from cmrewards.domain.staff import Role, Staff
from cmrewards.store.memory import MemoryStore, _State
from support.clinics import START, FakeClock, visit

ADDED = dt.datetime(2027, 1, 3, 8, 30, tzinfo=dt.UTC)


def member(staff_id: str) -> Staff:
    return Staff(staff_id, Role.CLINICIAN, active=True, added_at=ADDED, added_by=None)


def test_units_of_work_copy_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost of a write does not grow with what the store holds."""

    def refuse(state: _State) -> _State:
        raise AssertionError("the whole state was copied")

    monkeypatch.setattr(_State, "copy", refuse)
    clinic = cmrewards.open(None, clock=FakeClock())
    clinic.init("admin-1")
    clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor="admin-1")
    clinic.enroll("P001", "petry-fishbowl", start=START, actor="admin-1")
    for day in range(5):
        clinic.record("P001", "stimulant-negative", "met", at=visit(day), actor="admin-1")
    assert clinic.verify().ok


def test_a_write_opened_inside_a_read_leaves_the_read_as_it_was() -> None:
    store = MemoryStore()
    with store.write() as tx:
        tx.add_staff(member("clin-1"))
    with store.read() as before:
        with store.write() as tx:
            tx.add_staff(member("clin-2"))
            tx.set_staff_active("clin-1", False)
        assert [member("clin-1")] == before.all_staff()
    with store.read() as after:
        assert [s.id for s in after.all_staff()] == ["clin-1", "clin-2"]
        assert (after.staff("clin-1") or member("clin-1")).active is False


def test_a_read_opened_inside_a_write_sees_what_the_write_started_from() -> None:
    store = MemoryStore()
    with store.write() as tx:
        tx.add_staff(member("clin-1"))
    with store.write() as tx:
        tx.add_staff(member("clin-2"))
        tx.set_staff_active("clin-1", False)
        with store.read() as seen:
            assert [member("clin-1")] == seen.all_staff()
        assert [s.id for s in tx.all_staff()] == ["clin-1", "clin-2"]


def test_a_unit_of_work_inside_another_is_refused() -> None:
    store = MemoryStore()
    with store.write() as tx:
        tx.add_staff(member("clin-1"))
        with pytest.raises(cmrewards.IntegrityError), store.write():
            pass
    with store.read() as tx:
        assert [member("clin-1")] == tx.all_staff()


def test_a_read_cannot_write() -> None:
    store = MemoryStore()
    with pytest.raises(cmrewards.IntegrityError), store.read() as tx:
        tx.add_staff(member("clin-1"))
    with store.read() as tx:
        assert tx.all_staff() == []
