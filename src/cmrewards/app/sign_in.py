"""Signing staff in: passphrases as Argon2id hashes, attempts counted and slowed, sessions.

The library still authorises the actor its host vouches for (``UnitOfWork.write``); these
use cases are for a host that signs staff in itself, the CLI first. What they keep lives in
the clinic's database (``domain/sign_in.py``): the hash, never the passphrase; the digest
of a session token, never the token; every sign-in, failure, lock-out, sign-out, new
passphrase and policy as a journaled event.

Hashing is ``argon2-cffi``'s Argon2id with its RFC 9106 low-memory profile (3 passes over
64 MiB, 4 lanes: about 0.1 s here), never hand-rolled. The documented setting
``CMREWARDS_PASSPHRASE_COST=test`` makes it the cheapest Argon2id (1 pass, 8 KiB) and the
delay after a failure milliseconds instead of seconds, for test suites only: a hash made so
still verifies later, and ``needs_rehash`` upgrades it at the next sign-in without it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Sequence
from typing import Protocol

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..domain.clock import to_utc_text
from ..domain.refs import next_id
from ..domain.sign_in import (
    Session,
    SignedIn,
    SignInEvent,
    SignInEventKind,
    SignInPolicy,
    StaffSecret,
    check_passphrase,
    failure_delay,
    locked_until,
    policy_from,
    recent_failures,
    session_from,
    session_problem,
    token_digest,
)
from ..domain.staff import Action, Staff
from ..domain.validation import check_id, check_text
from ..errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from ..store.port import SignIns, StaffLookup
from .unit_of_work import UnitOfWork

COST_SETTING = "_".join(("CMREWARDS", "PASSPHRASE", "COST"))
"""The environment variable that lowers the cost for tests (README, "Who is at the
keyboard"); spelled in parts, as no library message names a CLI setting."""


def _test_cost() -> bool:
    value = os.environ.get(COST_SETTING, "")
    if value not in ("", "test"):
        raise InvalidInput(f"the passphrase cost setting is 'test' or unset, not {value[:20]!r}")
    return value == "test"


def hasher() -> argon2.PasswordHasher:
    """Argon2id at the clinic's cost, or the cheapest one under the test setting."""
    if _test_cost():
        return argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)


def _delay_unit() -> float:
    return 0.001 if _test_cost() else 1.0


def _matches(secret: StaffSecret, passphrase: str) -> bool:
    try:
        return hasher().verify(secret.hash, passphrase)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class _Reads(StaffLookup, SignIns, Protocol):
    """What checking a passphrase reads."""


def policy(work: UnitOfWork) -> SignInPolicy:
    """The clinic's sign-in policy (see ``Clinic.sign_in_policy``)."""
    with work.read() as tx:
        return policy_from(tx.sign_in_policy())


def _next(tx: SignIns, after: SignInEvent | None = None) -> int:
    """The next event's id (after ``after``, one not stored yet, when given)."""
    return next_id(after or tx.last_sign_in())


def check(
    work: UnitOfWork, staff_id: str, passphrase: str, *, os_user: str, ends_run: bool = True
) -> Staff:
    """The staff member, once ``passphrase`` is theirs; a failure is counted, journaled and
    slowed, and enough of them in a row lock the member out (see ``Clinic.confirm``).

    A success after failures ends their run with a journaled ``confirmed`` event (its own
    transaction); a success with none to end writes nothing, the act it confirms being
    the record. ``ends_run=False`` leaves that to the caller's own event (a sign-in's).
    """
    check_id(staff_id, "staff id")
    check_text(os_user, "OS user", required=True)
    if not isinstance(passphrase, str):
        raise InvalidInput(f"a passphrase must be text, not {type(passphrase).__name__}")
    with work.read() as tx:
        staff, secret, events, rules = _standing(tx, staff_id)
    now = work.clock()
    until = locked_until(events, now)
    if until is not None:
        raise PermissionDenied(
            f"{staff_id} is locked out after {rules.attempts} failed attempts until"
            f" {until.astimezone(dt.UTC):%H:%M} UTC, or until an admin sets a new passphrase"
        )
    if secret is None:
        raise PermissionDenied(f"{staff_id} has no passphrase yet; an admin sets one")
    failures = recent_failures(events, now, rules)
    work.pause(failure_delay(failures) * _delay_unit())
    if _matches(secret, passphrase):
        if failures and ends_run:
            _record_confirmed(work, staff_id, os_user)
        return staff
    _record_failure(work, staff_id, failures + 1, rules, os_user)
    left = rules.attempts - failures - 1
    if left <= 0:
        raise PermissionDenied(
            f"wrong passphrase for {staff_id}; locked out for {rules.lockout_minutes} minutes"
        )
    raise PermissionDenied(f"wrong passphrase for {staff_id} ({left} more and they are locked out)")


def _standing(
    tx: _Reads, staff_id: str
) -> tuple[Staff, StaffSecret | None, list[SignInEvent], SignInPolicy]:
    staff = tx.staff(staff_id)
    if staff is None:
        raise PermissionDenied(f"{staff_id!r} is not a staff member")
    if not staff.active:
        raise PermissionDenied(f"staff member {staff_id!r} is no longer active")
    return staff, tx.staff_secret(staff_id), tx.sign_ins(staff_id), policy_from(tx.sign_in_policy())


def _record_confirmed(work: UnitOfWork, staff_id: str, os_user: str) -> None:
    """A right passphrase after failures, in its own transaction: the run of failures is
    over even when the act it was asked for is then refused."""
    with work.journaled() as tx:
        tx.add_sign_ins(
            [SignInEvent(_next(tx), staff_id, SignInEventKind.CONFIRMED, work.clock(), os_user)]
        )


def _record_failure(
    work: UnitOfWork, staff_id: str, failures: int, rules: SignInPolicy, os_user: str
) -> None:
    """The failure, and the lock-out it completes, in their own transaction: the refusal
    that follows must not roll them back."""
    with work.journaled() as tx:
        now = work.clock()
        failed = SignInEvent(
            _next(tx), staff_id, SignInEventKind.FAILED, now, os_user, detail="wrong passphrase"
        )
        events = [failed]
        if failures >= rules.attempts:
            until = now + dt.timedelta(minutes=rules.lockout_minutes)
            events.append(
                SignInEvent(
                    _next(tx, failed),
                    staff_id,
                    SignInEventKind.LOCKED_OUT,
                    now,
                    os_user,
                    detail=to_utc_text(until),
                )
            )
        tx.add_sign_ins(events)


def sign_in(
    work: UnitOfWork, staff_id: str, passphrase: str, *, os_user: str, location: str
) -> SignedIn:
    """Open a session for ``staff_id`` at ``os_user`` on ``location`` (see
    ``Clinic.sign_in``)."""
    check_text(location, "database location", required=True)
    staff = check(work, staff_id, passphrase, os_user=os_user, ends_run=False)
    token = secrets.token_urlsafe(32)
    with work.journaled() as tx:
        now = work.clock()
        rules = policy_from(tx.sign_in_policy())
        expires = now + dt.timedelta(minutes=rules.session_minutes)
        tx.add_sign_ins(
            [
                SignInEvent(
                    _next(tx),
                    staff.id,
                    SignInEventKind.SIGNED_IN,
                    now,
                    os_user,
                    location,
                    token_digest(token),
                    expires,
                )
            ]
        )
        _upgrade_hash(tx, staff.id, passphrase, now)
    return SignedIn(Session(staff.id, os_user, location, now, expires), token)


def _upgrade_hash(tx: SignIns, staff_id: str, passphrase: str, now: dt.datetime) -> None:
    """A hash made at another cost (the test setting, an older default) is remade at the
    current one while the passphrase is at hand."""
    secret = tx.staff_secret(staff_id)
    if secret is not None and hasher().check_needs_rehash(secret.hash):
        tx.put_staff_secret(StaffSecret(staff_id, hasher().hash(passphrase), now, secret.set_by))


def session(work: UnitOfWork, token: str, *, os_user: str, location: str) -> Session:
    """The open session ``token`` names, or ``PermissionDenied`` saying why it may not act
    (see ``Clinic.session``)."""
    if not isinstance(token, str) or not token:
        raise PermissionDenied("no session token")
    with work.read() as tx:
        events = tx.session_events(token_digest(token))
        problem = session_problem(events, work.clock(), os_user=os_user, location=location)
        if problem is not None:
            raise PermissionDenied(problem)
        opened = session_from(events)
        assert opened is not None
        _standing(tx, opened.staff_id)  # still an active staff member
        return opened


def sign_out(work: UnitOfWork, token: str, *, os_user: str) -> Session:
    """End the session ``token`` names (see ``Clinic.sign_out``)."""
    digest = token_digest(token) if isinstance(token, str) else ""
    with work.journaled() as tx:
        events = tx.session_events(digest)
        opened = session_from(events)
        if opened is None:
            raise NotFound("no such session in this database")
        if any(e.event is SignInEventKind.SIGNED_OUT for e in events):
            raise InvalidTransition(f"{opened.staff_id}'s session was signed out already")
        tx.add_sign_ins(
            [
                SignInEvent(
                    _next(tx),
                    opened.staff_id,
                    SignInEventKind.SIGNED_OUT,
                    work.clock(),
                    os_user,
                    opened.location,
                    digest,
                )
            ]
        )
        return opened


def set_passphrase(
    work: UnitOfWork,
    staff_id: str,
    passphrase: str,
    *,
    actor: str,
    current: str | None = None,
    os_user: str | None = None,
) -> SignInEvent:
    """Store a new passphrase hash for ``staff_id`` (see ``Clinic.set_passphrase``)."""
    check_id(staff_id, "staff id")
    check_passphrase(passphrase)
    own = staff_id == actor
    if own and current is not None:
        check(work, staff_id, current, os_user=os_user or "unknown")
    hashed = hasher().hash(passphrase)
    with work.write(actor, Action.READ if own else Action.MANAGE_STAFF) as tx:
        staff = tx.staff(staff_id)
        if staff is None:
            raise NotFound(f"no staff member {staff_id!r}")
        if own and current is None and tx.staff_secret(staff_id) is not None:
            raise PermissionDenied(
                f"{staff_id} has a passphrase: give the current one to change it"
            )
        return _store_passphrase(tx, staff_id, hashed, actor, work.clock(), os_user)


def _store_passphrase(
    tx: SignIns, staff_id: str, hashed: str, actor: str, now: dt.datetime, os_user: str | None
) -> SignInEvent:
    tx.put_staff_secret(StaffSecret(staff_id, hashed, now, actor))
    event = SignInEvent(
        _next(tx), staff_id, SignInEventKind.PASSPHRASE_SET, now, os_user, detail=actor
    )
    tx.add_sign_ins([event])
    return event


def set_policy(
    work: UnitOfWork,
    rules: SignInPolicy,
    *,
    actor: str,
    passphrase: str | None = None,
    os_user: str | None = None,
) -> SignInPolicy:
    """Set the clinic's sign-in policy (see ``Clinic.set_sign_in_policy``)."""
    if not isinstance(rules, SignInPolicy):
        raise InvalidInput(f"rules must be a SignInPolicy, not {type(rules).__name__}")
    hashed = None if passphrase is None else hasher().hash(check_passphrase(passphrase))
    with work.write(actor, Action.MANAGE_STAFF) as tx:
        now = work.clock()
        if hashed is not None:
            _store_passphrase(tx, actor, hashed, actor, now, os_user)
        elif rules.required and tx.staff_secret(actor) is None:
            raise InvalidTransition(
                f"{actor} has no passphrase: with sign-in on, nobody without one can act"
            )
        event = SignInEvent(
            _next(tx), actor, SignInEventKind.POLICY, now, os_user, detail=rules.detail()
        )
        tx.add_sign_ins([event])
        return policy_from(event)


def init_with_passphrase(
    tx: SignIns, admin: Staff, passphrase: str, now: dt.datetime, os_user: str | None
) -> None:
    """The first admin's passphrase and the policy that turns sign-in on, in ``init``'s
    own transaction."""
    hashed = hasher().hash(check_passphrase(passphrase))
    _store_passphrase(tx, admin.id, hashed, admin.id, now, os_user)
    on = SignInPolicy(required=True).detail()
    tx.add_sign_ins(
        [SignInEvent(_next(tx), admin.id, SignInEventKind.POLICY, now, os_user, detail=on)]
    )


def events(work: UnitOfWork, staff_id: str | None = None) -> Sequence[SignInEvent]:
    """Every sign-in event, or one member's, oldest first (see ``Clinic.sign_ins``)."""
    with work.read() as tx:
        if staff_id is not None and tx.staff(staff_id) is None:
            raise NotFound(f"no staff member {staff_id!r}")
        return tx.sign_ins(staff_id)
