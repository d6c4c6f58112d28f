"""The facade other clinic software imports: every public method here, one unit of work each.

Each method hands its plain-value arguments to a use case (``staffing``,
``programs``, ``enrolment``, ``recording``, ``corrections``, ``rewards``, ``reads``)
or reads the store directly, and returns frozen records. A write authorises the
actor, validates its input, honours the caller's idempotency key, and either
writes everything it means to or nothing; its first step expires overdue
redemption holds (``UnitOfWork.write``). A refusal raises a ``CMRewardsError``
subclass (``cmrewards.errors``) and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Self

from ..domain.checkpoint import Checkpoint
from ..domain.clock import Clock, system_clock
from ..domain.programs import Program
from ..domain.records import Participant, Prize, Status
from ..domain.redemption import CatalogItem, Redemption
from ..domain.results import (
    Balance,
    CorrectionResult,
    HistoryEntry,
    RecordResult,
    TransferResult,
    VerifyReport,
    VisitResult,
)
from ..domain.schedules import Outcome
from ..domain.specimens import AnalyteResult
from ..domain.staff import Role, Staff
from ..store.lookup import find_participant, find_program
from ..store.port import Store
from ..views.export import ExportManifest
from ..views.preview import TargetPreview
from ..views.program_report import ProgramReport
from ..views.statement import Statement
from . import corrections, enrolment, programs, reads, recording, rewards, specimens, staffing
from .lab_export import LabRow
from .lab_file import BadRow, ImportReport, ImportRow
from .rewards import RedemptionResult
from .specimens import LabImportReport
from .unit_of_work import UnitOfWork, random_seed


class Clinic:
    """One clinic's CM records. Not thread-safe: give each thread its own ``open()``.

    Every ``actor`` is a staff id; a write by someone who is not an active staff
    member whose role allows it is ``PermissionDenied``. A ``key`` makes a write
    idempotent: a repeat returns the stored result marked ``replayed`` and writes
    nothing; the key reused for a different request is ``IdempotencyConflict``.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = system_clock,
        seeds: Callable[[], int] = random_seed,
    ) -> None:
        """A facade over ``store``; ``clock`` and ``seeds`` are for tests to fix time and draws."""
        self._work = UnitOfWork(store, clock, seeds)

    @property
    def location(self) -> str:
        """Where the database lives, for messages: a path, a URL or ':memory:'."""
        return self._work.store.location

    @property
    def _store(self) -> Store:
        """The store underneath (tests read stored rows past the library through it)."""
        return self._work.store

    def close(self) -> None:
        """Close the database connection (``with`` does it on leaving the block)."""
        self._work.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- staff ---------------------------------------------------------------------

    def init(self, admin: str) -> Staff:
        """Create the first admin of a database without staff and return them.

        ``AlreadyExists`` once the database has staff; ``InvalidInput`` for a malformed id.
        """
        return staffing.init(self._work, admin)

    def add_staff(self, staff_id: str, role: Role | str, *, actor: str) -> Staff:
        """Add an active staff member with ``role`` (admin only) and return them.

        ``AlreadyExists`` for an id in use; ``InvalidInput`` for a malformed id or role.
        """
        return staffing.add_staff(self._work, staff_id, role, actor=actor)

    def deactivate_staff(self, staff_id: str, *, actor: str) -> Staff:
        """A staff member who leaves keeps their history but may no longer act (admin only).

        Returns them inactive. ``NotFound`` for an unknown id; ``InvalidTransition`` for
        the actor themselves.
        """
        return staffing.deactivate_staff(self._work, staff_id, actor=actor)

    def staff(self) -> list[Staff]:
        """Every staff member, active or not."""
        with self._work.read() as tx:
            return tx.all_staff()

    # --- programs ------------------------------------------------------------------

    def add_program(self, program: Program, *, actor: str) -> Program:
        """Store a program (admin only) and return it. Programs never change: a new version
        is a new id, and an id in use is ``AlreadyExists``."""
        return programs.add_program(self._work, program, actor=actor)

    def programs(self) -> list[Program]:
        """Every stored program."""
        with self._work.read() as tx:
            return tx.programs()

    def program(self, program_id: str) -> Program:
        """The program with that id, or ``NotFound``."""
        with self._work.read() as tx:
            return find_program(tx, program_id)

    # --- enrolment -----------------------------------------------------------------

    def enroll(
        self, participant: str, program_id: str, *, start: dt.date | None = None, actor: str
    ) -> Participant:
        """Enrol a participant in a program (admin only) and return the active enrolment.

        ``start`` (program weeks count from it) defaults to today in the program's time
        zone. A participant is enrolled once: ``AlreadyExists`` for a known id, whatever
        its status. ``NotFound`` for an unknown program; ``InvalidInput`` for a malformed
        id or a start out of range.
        """
        return enrolment.enroll(self._work, participant, program_id, start=start, actor=actor)

    def withdraw(self, participant: str, *, actor: str) -> Participant:
        """End an active enrolment as withdrawn (admin only): no more outcomes are recorded,
        corrections and redemptions remain possible. ``InvalidTransition`` if it has ended."""
        return enrolment.end_enrolment(self._work, participant, Status.WITHDRAWN, actor=actor)

    def complete(self, participant: str, *, actor: str) -> Participant:
        """End an active enrolment as completed (admin only), like ``withdraw``."""
        return enrolment.end_enrolment(self._work, participant, Status.COMPLETED, actor=actor)

    def participant(self, participant: str) -> Participant:
        """The participant's enrolment, or ``NotFound``."""
        with self._work.read() as tx:
            return find_participant(tx, participant)

    def participants(self) -> list[Participant]:
        """Every enrolment, whatever its status."""
        with self._work.read() as tx:
            return tx.participants()

    def timezone(self, participant: str) -> str:
        """The IANA zone of the participant's program: a time they give without an offset is
        read there (``parse_when``). ``NotFound`` for an unknown participant."""
        with self._work.read() as tx:
            return find_program(tx, find_participant(tx, participant).program_id).timezone

    # --- outcomes ------------------------------------------------------------------

    def record(
        self,
        participant: str,
        target: str,
        outcome: Outcome | str,
        *,
        actor: str,
        at: dt.datetime | None = None,
        key: str | None = None,
        note: str | None = None,
        visit: str | None = None,
        specimen: str | None = None,
    ) -> RecordResult:
        """Record one verified outcome and pay what the schedule says.

        ``at`` is the clinical time (aware; now when None), returned in UTC. ``visit``
        names the visit; None means the clinical day in the program's zone. ``specimen``
        is the lab accession. There is one result per participant, target and visit: the
        same result again is a replay (marked ``replayed``, nothing written), a different
        one is ``AlreadyExists`` naming the recorded outcome to ``correct``. A result
        earlier than the last of its target is a late result: it takes its place in
        clinical order and the awards after it are settled (``settlement``). The result
        holds the award, the prizes won and the balance after it. Refused while the
        enrolment is not active (``InvalidTransition``), or for a time more than an hour
        ahead or before the enrolment (``InvalidInput``).
        """
        return recording.record(
            self._work,
            participant,
            target,
            outcome,
            actor=actor,
            at=at,
            key=key,
            note=note,
            visit=visit,
            specimen=specimen,
        )

    def record_visit(
        self,
        participant: str,
        results: Mapping[str, Outcome | str],
        *,
        actor: str,
        at: dt.datetime | None = None,
        visit: str | None = None,
        key: str | None = None,
        note: str | None = None,
    ) -> VisitResult:
        """Record several targets of one visit (``{"stimulant-negative": "met", ...}``) in
        one transaction, at one clinical time, each as ``record`` would. ``requires`` is
        judged within the visit whatever the order. ``InvalidInput`` for no results."""
        return recording.record_visit(
            self._work, participant, results, actor=actor, at=at, visit=visit, key=key, note=note
        )

    def correct(
        self,
        outcome_id: int,
        outcome: Outcome | str,
        *,
        reason: str,
        actor: str,
        key: str | None = None,
    ) -> CorrectionResult:
        """Correct a recorded outcome to ``outcome`` (clinician or admin), with a reason.

        The outcome row stays; a correction record points at it. The participant's
        history is replayed with it and every award it changes is settled (paid, taken
        back, or written off when already spent). ``NotFound`` for an unknown outcome;
        ``InvalidTransition`` for a voided outcome or one already ``outcome``.
        """
        return corrections.correct(
            self._work, outcome_id, outcome, reason=reason, actor=actor, key=key
        )

    def void(
        self, outcome_id: int, *, reason: str, actor: str, key: str | None = None
    ) -> CorrectionResult:
        """Void a recorded outcome entered in error (admin only): it counts for nothing, and
        the awards it changes are settled as for ``correct``. ``InvalidTransition`` when
        it was voided before."""
        return corrections.correct(
            self._work, outcome_id, None, reason=reason, actor=actor, key=key
        )

    def import_outcomes(
        self,
        rows: Iterable[ImportRow | BadRow],
        *,
        actor: str,
        chunk_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Record many outcomes in order, one transaction per chunk of rows.

        A row whose key was applied before is skipped as a replay. The first bad row
        stops the import: the rows before it are committed, and the report names its
        line (it is not raised). ``progress`` is told how many rows each committed
        chunk held. ``InvalidInput`` for a chunk size below 1.
        """
        return recording.import_outcomes(
            self._work, rows, actor=actor, chunk_size=chunk_size, progress=progress
        )

    def import_lab_results(
        self,
        rows: Iterable[LabRow | BadRow],
        *,
        actor: str,
        targets: Sequence[str] = (),
        chunk_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> LabImportReport:
        """Store a lab's analyte results (``read_lab_file``) and record what each complete
        specimen decides for ``targets`` (default: every target with ``analytes``).

        A specimen's rows may be anywhere in ``rows``; specimens are applied in order of
        collection, one transaction per chunk of about ``chunk_size`` rows. A result
        stored before is a replay; one still missing leaves the specimen pending until a
        later import brings it. The first bad row or refusal stops the import: what came
        before is committed and the report names the line (it is not raised).
        """
        return specimens.import_lab_results(
            self._work,
            rows,
            actor=actor,
            targets=targets,
            chunk_size=chunk_size,
            progress=progress,
        )

    def analyte_results(self, participant: str) -> list[AnalyteResult]:
        """Every analyte result stored for the participant, in the order they arrived."""
        with self._work.read() as tx:
            return tx.analyte_results(find_participant(tx, participant).id)

    def preview(self, participant: str) -> list[TargetPreview]:
        """For each target: the streak, what a ``met`` pays next, what a reset returns to."""
        return reads.preview(self._work, participant)

    # --- balances and corrections --------------------------------------------------

    def balance(self, participant: str) -> Balance:
        """The participant's available and held points, their value and the cap left."""
        return reads.balance(self._work, participant)

    def history(self, participant: str) -> list[HistoryEntry]:
        """Outcomes and transfers in the order they were recorded, with running balances."""
        return reads.history(self._work, participant)

    def adjust(
        self,
        participant: str,
        points: int,
        *,
        reason: str,
        actor: str,
        key: str | None = None,
        over_cap: bool = False,
    ) -> TransferResult:
        """Add (positive) or remove (negative) points by hand, with a reason (admin only).

        In a program with a cap the adjustment counts toward it: an upward one past the
        cap is ``CapExceeded`` unless ``over_cap`` (an admin's grant; the transfer records
        by how much it passed the cap, and ``reason`` should say why); a downward one gives
        back room that adjustments used. Returns the transfer and the balance after it.
        ``InsufficientPoints`` for removing more than is available; ``InvalidInput`` for 0
        or more than a billion points.
        """
        return corrections.adjust(
            self._work, participant, points, reason=reason, actor=actor, key=key,
            over_cap=over_cap,
        )  # fmt: skip

    def reverse(
        self,
        transfer_id: int,
        *,
        reason: str,
        actor: str,
        key: str | None = None,
        returned: bool = False,
    ) -> TransferResult:
        """Undo one transfer with a mirror transfer (admin only); the original is never touched.

        Reversing a fulfilled redemption's spend gives the points back (the mirror
        transfer, then the release of the hold it returns to) and marks the
        redemption reversed; the item goes back into stock only if ``returned``.
        Returns the mirror transfer and the balance after it. ``InvalidTransition`` for
        a transfer reversed before, a reversal, a hold or a release, a settlement's
        take-back, or an award its outcome no longer gives in full (it was corrected);
        ``InsufficientPoints`` when the points were spent or held since; ``CapExceeded``
        when undoing a downward adjustment needs more room than the cap has left.
        """
        return corrections.reverse(
            self._work, transfer_id, reason=reason, actor=actor, key=key, returned=returned
        )

    # --- catalog -------------------------------------------------------------------

    def add_item(
        self,
        sku: str,
        *,
        name: str,
        cost: int,
        actor: str,
        stock: int | None = None,
        category: str | None = None,
        low_stock: int = 0,
    ) -> CatalogItem:
        """Add an item to the catalog (admin only) and return it.

        ``cost`` is in points, 0 for a prize-cabinet item of prize ``category``;
        ``stock`` None means it is bought on demand. ``AlreadyExists`` for a sku in use.
        """
        return rewards.add_item(
            self._work,
            sku,
            name=name,
            cost=cost,
            actor=actor,
            stock=stock,
            category=category,
            low_stock=low_stock,
        )

    def items(self) -> list[CatalogItem]:
        """Every catalog item, with its stock."""
        with self._work.read() as tx:
            return tx.items()

    def restock(self, sku: str, quantity: int, *, actor: str) -> CatalogItem:
        """Count ``quantity`` more units of an item in (admin only) and return it.

        ``InvalidTransition`` for an item bought on demand.
        """
        return rewards.restock(self._work, sku, quantity, actor=actor)

    # --- redemptions ---------------------------------------------------------------

    def request_redemption(
        self, participant: str, sku: str, *, actor: str, key: str | None = None
    ) -> RedemptionResult:
        """Hold the item's cost in points (and one unit of stock) for the participant.

        ``InsufficientPoints``, ``OutOfStock``, or ``InvalidTransition`` for a
        prize-cabinet item.
        """
        return rewards.request_redemption(self._work, participant, sku, actor=actor, key=key)

    def approve_redemption(self, redemption_id: int, *, actor: str) -> RedemptionResult:
        """A clinician agrees the item fits the treatment goals. ``InvalidTransition``
        unless the redemption is requested."""
        return rewards.approve_redemption(self._work, redemption_id, actor=actor)

    def fulfil_redemption(
        self,
        redemption_id: int,
        *,
        actor: str,
        note: str | None = None,
        cost_cents: int | None = None,
    ) -> RedemptionResult:
        """Hand the item over: the held points are spent.

        ``note`` is the receipt or gift card's last digits, ``cost_cents`` what the
        clinic paid. ``InvalidTransition`` before a required approval or after the
        redemption closed; ``PermissionDenied`` when the program separates duties and the
        actor requested or approved it.
        """
        return rewards.fulfil_redemption(
            self._work, redemption_id, actor=actor, note=note, cost_cents=cost_cents
        )

    def cancel_redemption(self, redemption_id: int, *, reason: str, actor: str) -> RedemptionResult:
        """Cancel or decline: the hold is released and the unit of stock returned.
        ``InvalidTransition`` unless the redemption is open."""
        return rewards.cancel_redemption(self._work, redemption_id, reason=reason, actor=actor)

    def expire(self, *, actor: str) -> list[Redemption]:
        """Release every hold older than its program's ``hold_days`` now; return them.

        Every write does this as its first step; ``expire`` does it alone (a nightly job).
        """
        return rewards.expire(self._work, actor=actor)

    def redemptions(self, participant: str | None = None) -> list[Redemption]:
        """Every redemption, or the participant's (``NotFound`` for an unknown one)."""
        with self._work.read() as tx:
            if participant is not None:
                find_participant(tx, participant)
            return tx.redemptions(participant)

    # --- prizes --------------------------------------------------------------------

    def prizes(self, participant: str) -> list[Prize]:
        """The participant's prizes, owed, fulfilled and traded, in the order they were won."""
        with self._work.read() as tx:
            find_participant(tx, participant)
            return tx.prizes(participant)

    def fulfil_prize(
        self, prize_id: int, *, sku: str, actor: str, note: str | None = None
    ) -> Prize:
        """Hand over an item of the won category from the cabinet; return the prize fulfilled.

        ``InvalidTransition`` for a prize no longer owed or an item of another category;
        ``OutOfStock`` when none is left.
        """
        return rewards.fulfil_prize(self._work, prize_id, sku=sku, actor=actor, note=note)

    def trade_prizes(self, participant: str, *, give: str, get: str, actor: str) -> Prize:
        """Exchange owed prizes for one better one, as the program's trade rule allows.

        The oldest owed prizes of ``give`` are traded; the new prize, returned, is owed
        like any other. It does not count against the cap again: what was won already
        did. ``InvalidTransition`` without such a trade or enough owed prizes.
        """
        return rewards.trade_prizes(self._work, participant, give=give, get=get, actor=actor)

    # --- statements, reports, the export and verify --------------------------------

    def statement(self, participant: str) -> Statement:
        """What a participant and their counsellor see: every outcome with what it paid,
        streaks, resets, the balance, redemptions, prizes and the history."""
        return reads.statement(self._work, participant)

    def report(
        self,
        program_id: str | None = None,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[ProgramReport]:
        """One report per program (or the one named), over clinical dates since..until.

        ``InvalidInput`` when ``since`` is after ``until``.
        """
        return reads.reports(self._work, program_id, since=since, until=until)

    def export(self, directory: str | Path) -> ExportManifest:
        """Write every table as CSV and JSON, with a manifest of row counts and chain heads.

        ``directory`` must be new or empty (``InvalidInput`` otherwise, or when it cannot
        be written).
        """
        return reads.export(self._work, directory)

    def checkpoint(self) -> Checkpoint:
        """Every hash chain's length and head now, and a digest over them: keep its
        ``statement`` where the clinic cannot edit it, and ``verify(against=...)`` later."""
        return reads.checkpoint(self._work)

    def verify(self, *, against: Checkpoint | str | None = None) -> VerifyReport:
        """Recompute the hash chains, every balance and every schedule state; the report
        lists every problem found (it does not raise).

        ``against``, a checkpoint (or its statement or JSON), also proves that every chain
        still extends it: nothing before it changed and nothing was cut. ``InvalidInput``
        when the text is not a checkpoint.
        """
        return reads.verify(self._work, against)


__all__ = ["Clinic"]
