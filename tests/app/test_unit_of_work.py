"""The unit of work under every ``Clinic`` call, and the facade written on one page.

A write's first step releases overdue redemption holds ("on the next write"), in the
same transaction as the call that triggered it: a refused call writes nothing, its
expiry included. ``journaled`` is the one write without that step.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

import cmrewards
from cmrewards import Clinic, PermissionDenied, RedemptionStatus
from cmrewards.app import clinic as clinic_module
from cmrewards.app.unit_of_work import UnitOfWork
from cmrewards.domain.redemption import Redemption
from cmrewards.domain.staff import Action
from cmrewards.store import open_store
from support.clinics import START, FakeClock

ADMIN = "admin-1"
RECORDER = "rec-1"


def test_every_public_method_is_written_on_the_clinic_page() -> None:
    """No mixins and no base class: a reader of app/clinic.py sees the whole surface."""
    assert Clinic.__bases__ == (object,)
    public = sorted(name for name in dir(Clinic) if not name.startswith("_"))
    assert len(public) > 30
    assert public == sorted(name for name in vars(Clinic) if not name.startswith("_"))
    for name in public:
        member = vars(Clinic)[name]
        function = member.fget if isinstance(member, property) else member
        assert function is not None
        # Under the argument check every public method wears (app/arguments.py).
        assert inspect.getsourcefile(inspect.unwrap(function)) == clinic_module.__file__, name
        assert inspect.getdoc(function), f"Clinic.{name} has no docstring"


@pytest.fixture
def overdue(clock: FakeClock) -> Iterator[tuple[UnitOfWork, int]]:
    """A memory clinic whose one redemption hold is a day past its program's hold_days,
    and a unit of work on the same store."""
    store = open_store(None)
    clinic = Clinic(store, clock=clock)
    clinic.init(ADMIN)
    clinic.add_staff(RECORDER, "recorder", actor=ADMIN)
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
    clinic.enroll("P001", "higgins-vbrt", start=START, actor=ADMIN)
    clinic.adjust("P001", 100, reason="opening balance", actor=ADMIN)
    clinic.add_item("GC10", name="Gift card", cost=40, stock=3, actor=ADMIN)
    held = clinic.request_redemption("P001", "GC10", actor=RECORDER).redemption
    clock.advance(days=clinic.program("higgins-vbrt").hold_days + 1)
    yield UnitOfWork(store, clock), held.id
    clinic.close()


def stored(work: UnitOfWork, redemption_id: int) -> Redemption:
    with work.read() as tx:
        redemption = tx.redemption(redemption_id)
    assert redemption is not None
    return redemption


def test_a_write_first_expires_overdue_holds_in_its_own_transaction(
    overdue: tuple[UnitOfWork, int], clock: FakeClock
) -> None:
    work, held = overdue
    with work.write(RECORDER, Action.READ) as tx:
        inside = tx.redemption(held)
        assert inside is not None
        assert inside.status is RedemptionStatus.CANCELLED
    expired = stored(work, held)
    assert (expired.status, expired.closed_by, expired.closed_at) == (
        RedemptionStatus.CANCELLED,
        RECORDER,
        clock.now,
    )


@pytest.mark.parametrize(
    ("actor", "action"),
    [("ghost", Action.READ), (RECORDER, Action.MANAGE_STAFF)],
    ids=["not staff", "not allowed"],
)
def test_a_refused_write_expires_nothing(
    overdue: tuple[UnitOfWork, int], actor: str, action: Action
) -> None:
    work, held = overdue
    with pytest.raises(PermissionDenied), work.write(actor, action):
        pytest.fail("a refused actor's block never runs")
    assert stored(work, held).status is RedemptionStatus.REQUESTED


def test_a_write_that_fails_rolls_its_expiry_back(overdue: tuple[UnitOfWork, int]) -> None:
    work, held = overdue
    with pytest.raises(RuntimeError), work.write(ADMIN, Action.READ):
        raise RuntimeError("the use case refused after the expiry step")
    assert stored(work, held).status is RedemptionStatus.REQUESTED


def test_a_journaled_unit_has_no_expiry_step(overdue: tuple[UnitOfWork, int]) -> None:
    work, held = overdue
    with work.journaled() as tx:
        inside = tx.redemption(held)
        assert inside is not None
        assert inside.status is RedemptionStatus.REQUESTED
