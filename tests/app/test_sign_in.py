"""Signing staff in through the library (``Clinic.sign_in`` and its neighbours), on every store.

The rules of docs/design.md section 2, "Sign-in": passphrases kept as Argon2id hashes,
failures counted, slowed and locked out, sessions bound to an OS user and a database and
ended by expiry or sign-out, the policy an admin sets. The CLI that uses them is tested in
tests/cli/test_cli_sign_in.py.
"""

from __future__ import annotations

import attrs
import pytest

import cmrewards
from cmrewards import Clinic, SignInEventKind, SignInPolicy
from support.clinics import FakeClock

ADMIN = "admin-1"
RECORDER = "rec-01"
WHERE = "/clinic/cm.db"
RIGHT = "correct horse battery"


@pytest.fixture
def pauses(any_clinic: Clinic) -> list[float]:
    """The delays the clinic asks for before checking each attempt (none is waited)."""
    asked: list[float] = []
    any_clinic._work = attrs.evolve(any_clinic._work, pause=asked.append)
    return asked


@pytest.fixture
def clinic(any_clinic: Clinic, pauses: list[float]) -> Clinic:
    """``any_clinic`` with recorder rec-01, whose passphrase an admin set."""
    any_clinic.add_staff(RECORDER, "recorder", actor=ADMIN)
    any_clinic.set_passphrase(RECORDER, RIGHT, actor=ADMIN)
    return any_clinic


def kinds(clinic: Clinic, staff_id: str = RECORDER) -> list[str]:
    return [str(e.event) for e in clinic.sign_ins(staff_id)]


def test_a_passphrase_is_kept_only_as_its_argon2id_hash(clinic: Clinic) -> None:
    with clinic._store.read() as tx:
        secret = tx.staff_secret(RECORDER)
    assert secret is not None
    assert secret.hash.startswith("$argon2id$v=19$")
    assert RIGHT not in secret.hash
    assert RIGHT not in repr(secret)
    assert (secret.set_by, kinds(clinic)) == (ADMIN, ["passphrase-set"])
    assert clinic.verify().ok


def test_failures_are_slowed_counted_and_lock_the_member_out(
    clinic: Clinic, pauses: list[float], clock: FakeClock
) -> None:
    for left in (4, 3, 2, 1):
        with pytest.raises(cmrewards.PermissionDenied, match=f"{left} more and they are locked"):
            clinic.sign_in(RECORDER, "a wrong guess", os_user="desk", location=WHERE)
    with pytest.raises(cmrewards.PermissionDenied, match="locked out for 15 minutes"):
        clinic.sign_in(RECORDER, "a wrong guess", os_user="desk", location=WHERE)
    # Each check waits longer than the one before (a millisecond per unit at the test cost).
    assert pauses == [0.0, 0.001, 0.002, 0.004, 0.008]
    with pytest.raises(cmrewards.PermissionDenied, match="locked out after 5 failed attempts"):
        clinic.sign_in(RECORDER, RIGHT, os_user="desk", location=WHERE)
    assert len(pauses) == 5  # a locked-out member's attempt is refused before any check
    assert kinds(clinic) == ["passphrase-set", *["failed"] * 5, "locked-out"]
    clock.advance(minutes=15, seconds=1)
    assert clinic.sign_in(RECORDER, RIGHT, os_user="desk", location=WHERE).session.staff_id
    assert clinic.verify().ok


def test_failures_spread_over_a_shift_never_add_up(
    clinic: Clinic, pauses: list[float], clock: FakeClock
) -> None:
    for _ in range(6):
        with pytest.raises(cmrewards.PermissionDenied, match="more and they are locked"):
            clinic.confirm(RECORDER, "a typo", os_user="desk")
        clock.advance(minutes=16)
    assert set(pauses) == {0.0}
    assert "locked-out" not in kinds(clinic)


@pytest.mark.parametrize("right_by", ["confirm", "sign_in"])
def test_a_right_passphrase_ends_the_run_of_failures(
    clinic: Clinic, pauses: list[float], right_by: str
) -> None:
    """Five failures *in a row* lock out: a right passphrase between them, at sign-in or
    confirmed again (a sensitive act, a service account's command), starts the count over."""
    for left in (4, 3, 2, 1):
        with pytest.raises(cmrewards.PermissionDenied, match=f"{left} more and they are locked"):
            clinic.confirm(RECORDER, "a wrong guess", os_user="desk")
    if right_by == "confirm":
        assert clinic.confirm(RECORDER, RIGHT, os_user="desk").id == RECORDER
    else:
        clinic.sign_in(RECORDER, RIGHT, os_user="desk", location=WHERE)
    with pytest.raises(cmrewards.PermissionDenied, match="4 more and they are locked"):
        clinic.confirm(RECORDER, "a wrong guess", os_user="desk")
    ended = "confirmed" if right_by == "confirm" else "signed-in"
    assert kinds(clinic) == ["passphrase-set", *["failed"] * 4, ended, "failed"]
    assert pauses[-1] == 0.0  # the delay starts over too
    assert clinic.verify().ok


def test_a_right_passphrase_with_no_failures_to_end_writes_nothing(clinic: Clinic) -> None:
    assert clinic.confirm(RECORDER, RIGHT, os_user="desk").id == RECORDER
    assert kinds(clinic) == ["passphrase-set"]


def test_a_new_passphrase_ends_a_lock_out(clinic: Clinic) -> None:
    for _ in range(5):
        with pytest.raises(cmrewards.PermissionDenied):
            clinic.confirm(RECORDER, "a wrong guess", os_user="desk")
    clinic.set_passphrase(RECORDER, "a fresh passphrase", actor=ADMIN)
    assert clinic.confirm(RECORDER, "a fresh passphrase", os_user="desk").id == RECORDER
    with pytest.raises(cmrewards.PermissionDenied, match="wrong passphrase"):
        clinic.confirm(RECORDER, RIGHT, os_user="desk")


def test_a_member_changes_their_own_with_the_current_one(clinic: Clinic) -> None:
    with pytest.raises(cmrewards.PermissionDenied, match="give the current one"):
        clinic.set_passphrase(RECORDER, "mine at last", actor=RECORDER)
    with pytest.raises(cmrewards.PermissionDenied, match="wrong passphrase"):
        clinic.set_passphrase(RECORDER, "mine at last", actor=RECORDER, current="not it!!")
    clinic.set_passphrase(RECORDER, "mine at last", actor=RECORDER, current=RIGHT)
    assert clinic.confirm(RECORDER, "mine at last", os_user="desk").id == RECORDER
    # Another's is an admin's to set.
    clinic.add_staff("rec-02", "recorder", actor=ADMIN)
    with pytest.raises(cmrewards.PermissionDenied, match="a recorder may not manage staff"):
        clinic.set_passphrase("rec-02", "not yours to set", actor=RECORDER)


@pytest.mark.parametrize("bad", ["short", "x" * 1025, "two\nlines", 12345678])
def test_a_passphrase_out_of_bounds_is_refused_without_repeating_it(
    clinic: Clinic, bad: object
) -> None:
    with pytest.raises(cmrewards.InvalidInput) as refused:
        clinic.set_passphrase(RECORDER, bad, actor=ADMIN)  # type: ignore[arg-type]
    assert str(bad) not in str(refused.value)


def test_a_session_is_bound_to_its_os_user_and_database_and_expires(
    clinic: Clinic, clock: FakeClock
) -> None:
    signed = clinic.sign_in(RECORDER, RIGHT, os_user="desk", location=WHERE)
    assert RIGHT not in repr(signed)
    assert signed.token not in repr(signed)
    assert clinic.session(signed.token, os_user="desk", location=WHERE) == signed.session
    with pytest.raises(cmrewards.PermissionDenied, match="opened by OS user 'desk', not 'eve'"):
        clinic.session(signed.token, os_user="eve", location=WHERE)
    with pytest.raises(cmrewards.PermissionDenied, match="belongs to another database"):
        clinic.session(signed.token, os_user="desk", location="/elsewhere/copy.db")
    with pytest.raises(cmrewards.PermissionDenied, match="not one of this database's"):
        clinic.session("a token of another database", os_user="desk", location=WHERE)
    clock.advance(hours=8)
    with pytest.raises(cmrewards.PermissionDenied, match="session expired at"):
        clinic.session(signed.token, os_user="desk", location=WHERE)


def test_a_session_ends_at_sign_out_and_when_its_member_is_deactivated(clinic: Clinic) -> None:
    first = clinic.sign_in(RECORDER, RIGHT, os_user="desk", location=WHERE)
    assert clinic.sign_out(first.token, os_user="desk") == first.session
    with pytest.raises(cmrewards.PermissionDenied, match="signed out"):
        clinic.session(first.token, os_user="desk", location=WHERE)
    with pytest.raises(cmrewards.InvalidTransition, match="signed out already"):
        clinic.sign_out(first.token, os_user="desk")
    second = clinic.sign_in(RECORDER, RIGHT, os_user="desk", location=WHERE)
    clinic.deactivate_staff(RECORDER, actor=ADMIN)
    with pytest.raises(cmrewards.PermissionDenied, match="no longer active"):
        clinic.session(second.token, os_user="desk", location=WHERE)
    assert kinds(clinic) == ["passphrase-set", "signed-in", "signed-out", "signed-in"]


def test_the_policy_is_off_until_an_admin_sets_it(clinic: Clinic) -> None:
    assert clinic.sign_in_policy() == SignInPolicy()
    with pytest.raises(cmrewards.InvalidTransition, match="admin-1 has no passphrase"):
        clinic.set_sign_in_policy(SignInPolicy(required=True), actor=ADMIN)
    with pytest.raises(cmrewards.PermissionDenied, match="a recorder may not manage staff"):
        clinic.set_sign_in_policy(SignInPolicy(required=True), actor=RECORDER)
    rules = SignInPolicy(required=True, session_minutes=60, attempts=3, confirm_sensitive=False)
    stored = clinic.set_sign_in_policy(rules, actor=ADMIN, passphrase="the admin's own")
    assert (stored.required, stored.session_minutes, stored.attempts) == (True, 60, 3)
    assert (stored.set_by, clinic.sign_in_policy()) == (ADMIN, stored)
    assert kinds(clinic, ADMIN) == ["passphrase-set", "policy"]
    signed = clinic.sign_in(ADMIN, "the admin's own", os_user="desk", location=WHERE)
    assert (signed.session.expires_at - signed.session.opened_at).total_seconds() == 3600
    with pytest.raises(cmrewards.InvalidInput, match="session minutes"):
        SignInPolicy(session_minutes=0)


def test_init_with_a_passphrase_turns_sign_in_on(clock: FakeClock) -> None:
    clinic = cmrewards.open(clock=clock)
    clinic.init(ADMIN, passphrase=RIGHT, os_user="desk")
    assert clinic.sign_in_policy().required
    assert [e.event for e in clinic.sign_ins()] == [
        SignInEventKind.PASSPHRASE_SET,
        SignInEventKind.POLICY,
    ]
    assert clinic.confirm(ADMIN, RIGHT, os_user="desk").id == ADMIN
    assert clinic.verify().ok


def test_a_hash_made_at_the_test_cost_is_remade_at_the_full_cost(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    with clinic._store.read() as tx:
        cheap = tx.staff_secret(RECORDER)
    assert cheap is not None
    assert "$m=8,t=1,p=1$" in cheap.hash
    monkeypatch.delenv("CMREWARDS_PASSPHRASE_COST")
    clinic.sign_in(RECORDER, RIGHT, os_user="desk", location=WHERE)
    with clinic._store.read() as tx:
        full = tx.staff_secret(RECORDER)
    assert full is not None
    assert "$m=65536,t=3,p=4$" in full.hash
    assert clinic.confirm(RECORDER, RIGHT, os_user="desk").id == RECORDER
    assert clinic.verify().ok
