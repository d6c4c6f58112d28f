"""A write vouched for by a session checks it in its own transaction (issue 16), on every store.

``Clinic.with_session`` binds the session a host holds: each write reads the sign-in
policy and the session's events inside its transaction, before its first step, so a
sign-out, an expiry or a policy change committed a moment before by another terminal is
seen by the write itself, and a refusal writes nothing. Without a session the library
takes the actor its host vouches for, as before.
"""

from __future__ import annotations

import pytest

import cmrewards
from cmrewards import Clinic, PermissionDenied, SignInPolicy
from support.clinics import START, FakeClock, visit

ADMIN, RECORDER = "admin-1", "rec-01"
WHERE, DESK = "/clinic/cm.db", "desk"
STIM = "stimulant-negative"


@pytest.fixture
def clinic(any_clinic: Clinic) -> Clinic:
    """Sign-in on, recorder rec-01 with a passphrase, P1 enrolled in higgins-vbrt."""
    any_clinic.set_sign_in_policy(
        SignInPolicy(required=True), actor=ADMIN, passphrase="admin passphrase"
    )
    any_clinic.add_staff(RECORDER, "recorder", actor=ADMIN)
    any_clinic.set_passphrase(RECORDER, "front desk passphrase", actor=ADMIN)
    any_clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
    any_clinic.enroll("P1", "higgins-vbrt", start=START, actor=ADMIN)
    return any_clinic


def session_of(clinic: Clinic, staff_id: str = RECORDER) -> tuple[str, Clinic]:
    passphrase = "front desk passphrase" if staff_id == RECORDER else "admin passphrase"
    token = clinic.sign_in(staff_id, passphrase, os_user=DESK, location=WHERE).token
    return token, clinic.with_session(token, os_user=DESK, location=WHERE)


def outcomes(clinic: Clinic) -> int:
    return len(clinic.history("P1"))


def refused(bound: Clinic, day: int, match: str) -> None:
    before = outcomes(bound)
    with pytest.raises(PermissionDenied, match=match):
        bound.record("P1", STIM, "met", at=visit(day), actor=RECORDER)
    assert outcomes(bound) == before


def test_a_session_that_may_act_writes_as_its_staff_member_only(clinic: Clinic) -> None:
    _, bound = session_of(clinic)
    assert bound.record("P1", STIM, "met", at=visit(0), actor=RECORDER).award.points == 10
    with pytest.raises(PermissionDenied, match=r"admin-1 is not who is signed in here \(rec-01\)"):
        bound.adjust("P1", 5, reason="x", actor=ADMIN)
    assert bound.balance("P1").points == 10


def test_a_sign_out_committed_before_the_write_is_seen_by_the_write(clinic: Clinic) -> None:
    token, bound = session_of(clinic)
    bound.record("P1", STIM, "met", at=visit(0), actor=RECORDER)
    clinic.sign_out(token, os_user=DESK)  # another terminal, between the host's checks
    refused(bound, 2, "rec-01's session was signed out: sign in again")
    with pytest.raises(PermissionDenied, match="signed out"):
        bound.expire(actor=RECORDER)  # not a ``write`` step, checked all the same


def test_an_expired_session_or_another_place_may_not_write(
    clinic: Clinic, clock: FakeClock
) -> None:
    token, bound = session_of(clinic)
    elsewhere = clinic.with_session(token, os_user="someone-else", location=WHERE)
    refused(elsewhere, 0, "opened by OS user 'desk', not 'someone-else'")
    copied = clinic.with_session(token, os_user=DESK, location="/elsewhere.db")
    refused(copied, 0, "belongs to another database")
    refused(clinic.with_session("not a token", os_user=DESK, location=WHERE), 0, "not one of")
    clock.advance(hours=8)
    refused(bound, 0, "rec-01's session expired at")


def test_sign_in_turned_off_lets_the_host_vouch_again(clinic: Clinic) -> None:
    token, bound = session_of(clinic)
    clinic.sign_out(token, os_user=DESK)
    clinic.set_sign_in_policy(SignInPolicy(required=False), actor=ADMIN)
    assert bound.record("P1", STIM, "met", at=visit(0), actor=RECORDER).award.points == 10
    # And the host-authenticated mode never asks about sessions at all.
    clinic.set_sign_in_policy(SignInPolicy(required=True), actor=ADMIN)
    assert clinic.record("P1", STIM, "met", at=visit(2), actor=RECORDER).award.points == 15
