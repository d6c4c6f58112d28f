"""A write vouched for by a session: the sign-in check inside the write's own transaction.

A host that signs staff in itself (the CLI) opens the ``Clinic`` it writes through with
the session it holds (``Clinic.with_session``). Every write of that ``Clinic`` then reads
the sign-in policy and the session's events in its own transaction, before its first
step, and goes on only when sign-in is off or the session may act now and is the actor's:
a sign-out, an expiry or a policy change committed by another terminal a moment before is
seen, and no separate read transaction is spent on it (issue 16). Without a session the
library takes the actor its host vouches for, as it always did (docs/design.md section 2,
"Sign-in").
"""

from __future__ import annotations

import datetime as dt

import attrs

from ..domain.sign_in import policy_from, session_from, session_problem, token_digest
from ..errors import PermissionDenied
from ..store.port import SignIns


@attrs.frozen
class SessionVouch:
    """The session a host holds, checked by every write (``UnitOfWork.write``)."""

    token: str = attrs.field(repr=False)
    """The secret the session was opened with; only its digest is looked up."""
    os_user: str
    """The OS account the host runs at; the session must have been opened there."""
    location: str
    """The database as the session is bound to it (``Session.location``)."""

    def read_ahead(self, tx: SignIns) -> None:
        """The reads ``check`` makes, for a store that reads ahead (PostgreSQL)."""
        tx.sign_in_policy()
        tx.session_events(token_digest(self.token))

    def check(self, tx: SignIns, actor: str, now: dt.datetime) -> None:
        """Nothing when sign-in is off or the session may act now as ``actor``; else
        ``PermissionDenied`` saying why (the write then rolls back, having written
        nothing). The actor's role and activity are ``authorise``'s to check."""
        if not policy_from(tx.sign_in_policy()).required:
            return
        events = tx.session_events(token_digest(self.token))
        problem = session_problem(events, now, os_user=self.os_user, location=self.location)
        if problem is not None:
            raise PermissionDenied(problem)
        session = session_from(events)
        assert session is not None  # session_problem says so otherwise
        if session.staff_id != actor:
            raise PermissionDenied(
                f"{actor} is not who is signed in here ({session.staff_id}); nothing was written"
            )
