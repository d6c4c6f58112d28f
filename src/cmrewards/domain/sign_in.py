"""Staff sign-in: stored passphrase hashes, sign-in events, sessions and the clinic's policy.

The library authorises the actor its host vouches for (``staff.authorise``); these are the
records a host that signs staff in itself (the CLI) keeps in the clinic's own database, so
that every terminal sees one count of failed attempts and one list of open sessions, and the
journal holds them like any other record (docs/design.md section 2, "Sign-in").

Nothing here holds a secret. A passphrase is kept only as its Argon2id hash (computed by the
app layer with ``argon2-cffi``); a session token only as its SHA-256 (a token is 256 random
bits, so a fast hash is enough). The rules are plain functions of the events, so the
attempt counting and the lock-out read the same in every store.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Sequence

import attrs

from ..errors import InvalidInput


class SignInEventKind(enum.StrEnum):
    """What one sign-in event records."""

    SIGNED_IN = "signed-in"
    """A session opened (``session``, ``expires_at``, ``location`` and ``os_user`` set)."""
    SIGNED_OUT = "signed-out"
    """A session ended before it expired (``session`` names it)."""
    FAILED = "failed"
    """A wrong passphrase, at sign-in or when a sensitive act asked for it again."""
    LOCKED_OUT = "locked-out"
    """Too many failures: ``detail`` is the UTC time the lock-out ends."""
    PASSPHRASE_SET = "passphrase-set"
    """A new passphrase hash; ``detail`` is who set it. It ends a lock-out."""
    POLICY = "policy"
    """An admin set the policy; ``detail`` is the policy as JSON."""
    CONFIRMED = "confirmed"
    """A right passphrase checked again, for a sensitive act or a service account's
    command, after failures: it ends their run (sign-in's own success is ``SIGNED_IN``)."""


@attrs.frozen
class StaffSecret:
    """A staff member's passphrase, as its Argon2id hash (a PHC string with its salt and
    parameters). One per staff member; a new passphrase replaces it."""

    staff_id: str
    hash: str = attrs.field(repr=False)
    set_at: dt.datetime
    set_by: str
    """The member themselves, or the admin who set it."""


@attrs.frozen
class SignInEvent:
    """One sign-in, failure, lock-out, sign-out, new passphrase or policy (append-only)."""

    id: int
    staff_id: str
    """Who signed in, failed, was locked out or signed out; for a policy, the admin."""
    event: SignInEventKind
    at: dt.datetime
    os_user: str | None = None
    """The operating-system account at the keyboard, as the host read it."""
    location: str | None = None
    """The database the session is bound to, as the host names it (an absolute path or a
    URL without its password)."""
    session: str | None = attrs.field(default=None, repr=False)
    """SHA-256 of the session token (signed-in and signed-out), never the token."""
    expires_at: dt.datetime | None = None
    detail: str | None = None


DEFAULT_SESSION_MINUTES = 8 * 60
"""One shift (docs/decisions.md, "Sign-in")."""
DEFAULT_ATTEMPTS = 5
DEFAULT_LOCKOUT_MINUTES = 15
MAX_MINUTES = 7 * 24 * 60
MIN_PASSPHRASE = 8
MAX_PASSPHRASE = 1024


@attrs.frozen
class SignInPolicy:
    """Whether the CLI signs staff in, and how (set by an admin; off until then)."""

    required: bool = False
    """Each CLI write names the signed-in staff member; ``--actor`` only asserts it."""
    session_minutes: int = DEFAULT_SESSION_MINUTES
    attempts: int = DEFAULT_ATTEMPTS
    """Failures in a row (within ``lockout_minutes``, with no right passphrase between
    them) that lock a staff member out."""
    lockout_minutes: int = DEFAULT_LOCKOUT_MINUTES
    confirm_sensitive: bool = True
    """Adjust, reverse, approve, fulfil, correct and void ask for the passphrase again."""
    set_at: dt.datetime | None = None
    set_by: str | None = None

    def __attrs_post_init__(self) -> None:
        for name, value, most in (
            ("session minutes", self.session_minutes, MAX_MINUTES),
            ("attempts", self.attempts, 100),
            ("lock-out minutes", self.lockout_minutes, MAX_MINUTES),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
                raise InvalidInput(f"{name} must be a whole number from 1 to {most}")

    def detail(self) -> str:
        """The policy as the JSON a policy event keeps."""
        return json.dumps(
            {
                "required": self.required,
                "session_minutes": self.session_minutes,
                "attempts": self.attempts,
                "lockout_minutes": self.lockout_minutes,
                "confirm_sensitive": self.confirm_sensitive,
            },
            sort_keys=True,
        )


def policy_from(event: SignInEvent | None) -> SignInPolicy:
    """The policy a policy event set; without one (a database from before sign-in), off."""
    if event is None:
        return SignInPolicy()
    fields = json.loads(event.detail or "{}")
    return SignInPolicy(**fields, set_at=event.at, set_by=event.staff_id)


def check_passphrase(passphrase: str) -> str:
    """``passphrase`` if it is long enough to resist guessing: 8 to 1,024 printable
    characters. Raises ``InvalidInput`` saying which rule it breaks (never repeating it)."""
    if not isinstance(passphrase, str):
        raise InvalidInput(f"a passphrase must be text, not {type(passphrase).__name__}")
    if not MIN_PASSPHRASE <= len(passphrase) <= MAX_PASSPHRASE:
        raise InvalidInput(
            f"a passphrase has {MIN_PASSPHRASE} to {MAX_PASSPHRASE} characters"
            f" (this one has {len(passphrase)})"
        )
    if not passphrase.isprintable():
        raise InvalidInput("a passphrase has no control characters (line breaks, tabs)")
    return passphrase


def token_digest(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _resets(event: SignInEvent) -> bool:
    return event.event in (
        SignInEventKind.SIGNED_IN,
        SignInEventKind.CONFIRMED,
        SignInEventKind.PASSPHRASE_SET,
        SignInEventKind.LOCKED_OUT,
    )


def recent_failures(events: Sequence[SignInEvent], now: dt.datetime, policy: SignInPolicy) -> int:
    """A staff member's failures in a row: since their last right passphrase (a sign-in, or
    one confirmed for a sensitive act or a service account's command), new passphrase or
    lock-out, and within the last ``lockout_minutes`` (``events`` are theirs, oldest first).
    So a typo now and then over a shift never adds up to a lock-out; a burst of guesses
    does."""
    window = now - dt.timedelta(minutes=policy.lockout_minutes)
    count = 0
    for event in reversed(events):
        if _resets(event):
            break
        if event.event is SignInEventKind.FAILED and event.at > window:
            count += 1
    return count


def locked_until(events: Sequence[SignInEvent], now: dt.datetime) -> dt.datetime | None:
    """When a staff member's lock-out ends, or None when they are not locked out: the latest
    lock-out still running, unless a new passphrase was set after it."""
    for event in reversed(events):
        if event.event is SignInEventKind.PASSPHRASE_SET:
            return None
        if event.event is SignInEventKind.LOCKED_OUT:
            until = dt.datetime.fromisoformat(event.detail or "")
            return until if until > now else None
    return None


def failure_delay(failures: int) -> int:
    """How many delay units (a second each, a millisecond at the test cost) to wait before
    checking the next attempt after ``failures`` in a row: 0, then 1, 2, 4, 8 ... at most 30.
    Online guessing is slowed far past what the hash alone costs."""
    return 0 if failures <= 0 else min(2 ** (failures - 1), 30)


@attrs.frozen
class Session:
    """A staff member signed in at one OS account on one database, until it expires."""

    staff_id: str
    os_user: str
    location: str
    opened_at: dt.datetime
    expires_at: dt.datetime


@attrs.frozen
class SignedIn:
    """What a sign-in returns: the session and its token. The token is the only copy; the
    host keeps it where only the OS user can read it (the CLI: an owner-only file)."""

    session: Session
    token: str = attrs.field(repr=False)


def session_from(events: Sequence[SignInEvent]) -> Session | None:
    """The session the events of one token describe (its signed-in event), or None."""
    for event in events:
        if event.event is SignInEventKind.SIGNED_IN:
            # A signed-in event always has them (written by ``app/sign_in.py``); a row
            # damaged outside cmrewards reads as a session already expired.
            return Session(
                event.staff_id,
                event.os_user or "",
                event.location or "",
                event.at,
                event.expires_at or event.at,
            )
    return None


def session_problem(
    events: Sequence[SignInEvent], now: dt.datetime, *, os_user: str, location: str
) -> str | None:
    """Why the session these events describe may not act now, or None when it may."""
    session = session_from(events)
    if session is None:
        return "the session is not one of this database's: sign in again"
    if any(e.event is SignInEventKind.SIGNED_OUT for e in events):
        return f"{session.staff_id}'s session was signed out: sign in again"
    if session.location != location:
        return f"the session belongs to another database ({session.location}): sign in again"
    if session.os_user != os_user:
        return (
            f"the session was opened by OS user {session.os_user!r}, not {os_user!r}: sign in again"
        )
    if now >= session.expires_at:
        return (
            f"{session.staff_id}'s session expired at"
            f" {session.expires_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC: sign in again"
        )
    return None
