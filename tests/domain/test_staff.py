"""Staff rules beside the permission table: nobody deactivates themselves."""

from __future__ import annotations

import datetime as dt

import pytest

from cmrewards.domain.staff import Action, Role, Staff, deactivated
from cmrewards.errors import InvalidTransition

NOW = dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
CLINICIAN = Staff("clin-1", Role.CLINICIAN, active=True, added_at=NOW, added_by="admin-1")


def test_a_deactivated_member_keeps_their_record_but_not_their_permissions() -> None:
    gone = deactivated(CLINICIAN, "admin-1")
    assert CLINICIAN.may(Action.FULFIL)
    assert not gone.may(Action.FULFIL)
    assert (gone.id, gone.role, gone.active, gone.added_by) == (
        "clin-1",
        Role.CLINICIAN,
        False,
        "admin-1",
    )


def test_nobody_deactivates_themselves() -> None:
    with pytest.raises(InvalidTransition, match="cannot deactivate themselves"):
        deactivated(CLINICIAN, "clin-1")
