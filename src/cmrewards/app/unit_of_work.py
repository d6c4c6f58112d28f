"""The unit of work every ``Clinic`` call runs in: one read snapshot or one write transaction.

Every use case takes a ``UnitOfWork`` first. A write either commits everything it
means to, or nothing (the store rolls back unless the block finishes).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ..domain.clock import Clock, system_clock
from ..domain.json_form import to_json
from ..domain.records import IdempotencyRecord
from ..domain.validation import check_text
from ..errors import IdempotencyConflict

if TYPE_CHECKING:
    from ..domain.staff import Action
    from ..store.port import IdempotencyCheck, RecordTx, SignIns, Store, Tx, WriteStart
    from .vouching import SessionVouch

# What only a write needs (the journal, the holds, the actor's rights, the draws' seeds) is
# imported by the first write: a command that only reads starts without it (issue 16).

R = TypeVar("R")


def belongs_to(result: Any) -> str:
    """What a stored result (the JSON form of what a keyed write returned) wrote, and for
    whom: ``outcome 12 of P-1001 (stimulant-negative: met)``, ``transfer 7 of P-1001``.

    A key conflict names it, so staff can find the row the key already stands for.
    """
    if not isinstance(result, dict):
        return "an earlier request"
    if "outcome_id" in result:
        return (
            f"outcome {result['outcome_id']} of {result.get('participant')}"
            f" ({result.get('target')}: {result.get('outcome')})"
        )
    if "visit" in result and "results" in result:
        return f"the visit {result['visit']} of {result.get('participant')}"
    for kind in ("correction", "transfer", "redemption"):
        record = result.get(kind)
        if isinstance(record, dict):
            whom = record.get("participant") or result.get("balance", {}).get("participant")
            return f"{kind} {record.get('id')} of {whom}"
    return "an earlier request"


def random_seed() -> int:
    """63 random bits from ``secrets``: nobody can choose a draw's result in advance."""
    import secrets

    return secrets.randbits(63)


@attrs.frozen
class UnitOfWork:
    """One clinic's store, its clock and its draw seeds, and how a use case uses them."""

    store: Store
    clock: Clock = system_clock
    """The wall clock: aware datetimes. Tests pass one that moves only when told."""
    seeds: Callable[[], int] = random_seed
    """A new seed for each outcome that earns prize-bowl draws; tests fix them."""
    pause: Callable[[float], None] = time.sleep
    """Waits that many seconds: the delay after a failed sign-in. Tests record it instead."""
    vouch: SessionVouch | None = None
    """The session the host signed its staff in with (``Clinic.with_session``): every
    write checks it in its own transaction first. None: the host vouches for the actor."""

    def read(self) -> AbstractContextManager[Tx]:
        """One consistent snapshot of the store; it writes nothing."""
        return self.store.read()

    @contextmanager
    def write(
        self, actor: str, action: Action, ahead: Callable[[RecordTx], object] | None = None
    ) -> Iterator[Tx]:
        """One transaction that ``actor`` may run as ``action``, or ``PermissionDenied``.

        Its first step releases overdue redemption holds: holds older than a program's
        ``hold_days`` expire "at the start of the next write" (docs/design.md section 5),
        so points are never stuck. Only a staff member's write does it, attributed to
        them; a refused actor's unit rolls back, expiry included. ``ahead`` names reads
        the use case will make first, read ahead with the write's own (``read_ahead``).
        """
        from ..domain.staff import authorise
        from .holds import expire_overdue, held_long_enough

        now = self.clock()

        def first_reads(tx: WriteStart) -> None:
            if self.vouch is not None:
                self.vouch.read_ahead(tx)
            tx.staff(actor)
            tx.open_redemptions(held_long_enough(now))
            if ahead is not None:
                ahead(tx)

        with self.journaled(first_reads, now) as tx:
            self.check_vouch(tx, actor, now)
            staff = tx.staff(actor)
            if staff is not None:
                expire_overdue(tx, lambda: now, actor)
            authorise(staff, actor, action)
            yield tx

    def check_vouch(self, tx: SignIns, actor: str, now: dt.datetime) -> None:
        """The host's session may act as ``actor`` (``vouching.py``), before anything is
        written; nothing without a session. ``PermissionDenied`` otherwise."""
        if self.vouch is not None:
            self.vouch.check(tx, actor, now)

    @contextmanager
    def journaled(
        self, ahead: Callable[[WriteStart], object] | None = None, now: dt.datetime | None = None
    ) -> Iterator[Tx]:
        """One transaction without the steps of ``write``: for ``init`` (there is no staff
        yet) and ``expire`` (whose expiry is the point, not a first step). Like every
        write, it journals each record it writes that is not hash-chained itself, at
        ``now`` (the clock's time by default)."""
        from ..store.journaling import JournalingTx

        with self.store.write() as raw:
            if ahead is not None:
                raw.read_ahead(lambda tx: (tx.last_journal_entry(), ahead(tx)))
            yield JournalingTx(raw, self.clock() if now is None else now)

    def idempotent(
        self,
        tx: IdempotencyCheck,
        scope: str,
        key: str | None,
        request: dict[str, Any],
        replay: Callable[[Any], R],
        perform: Callable[[], R],
        stored: Callable[[R], Any] = to_json,
    ) -> R:
        """Run ``perform`` once per ``key`` in ``scope`` (a program id, '' clinic-wide).

        A repeat of the same ``request`` returns ``replay`` of the stored result and
        writes nothing; a different request under a used key is ``IdempotencyConflict``.
        No key means no memory: ``perform`` runs. ``stored`` is what the key remembers of
        the result (its whole JSON form unless a caller that never replays it says less).
        """
        if key is None:
            return perform()
        check_text(key, "key", required=True)
        import hashlib  # with the chain's encoder, a keyed write's: not a read's (issue 16)

        from ..domain.chain import canonical

        fingerprint = hashlib.sha256(canonical(request).encode()).hexdigest()
        earlier = tx.idempotency(scope, key)
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise IdempotencyConflict(
                    f"key {key!r} belongs to {belongs_to(earlier.result)}, a different"
                    " request; nothing was written"
                )
            return replay(earlier.result)
        result = perform()
        tx.remember(IdempotencyRecord(scope, key, fingerprint, stored(result), self.clock()))
        return result
