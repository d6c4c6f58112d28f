"""The facade other clinic software imports: every public method here, one unit of work each.

Each method hands its plain-value arguments to a use case (``staffing``,
``programs``, ``enrolment``, ``recording``, ``corrections``, ``rewards``, ``reads``)
or reads the store directly, and returns frozen records. A write authorises the
actor, validates its input, honours the caller's idempotency key, and either
writes everything it means to or nothing; its first step expires overdue
redemption holds (``UnitOfWork.write``). A refusal raises a ``CMRewardsError``
subclass (``cmrewards.errors``) and writes nothing.

Each method's docstring gives the shape of what it takes and returns, the units (points
are whole points, money integer cents), the errors it raises of its own and when, and the
section of docs/design.md whose rules it applies. The errors every method may raise are
in the class docstring. ``tests/test_public_surface.py`` holds every public method to it.
"""

from __future__ import annotations

import copy
import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Self

import attrs

from ..domain.clock import Clock, system_clock
from ..domain.programs import Program
from ..domain.records import Episode, Participant, Prize, Status
from ..domain.schedules import Outcome
from ..store.lookup import find_participant, find_program
from ..store.port import Store
from .arguments import checked_arguments
from .lazy import LazyModule, lazy_names
from .unit_of_work import UnitOfWork, random_seed

if TYPE_CHECKING:
    from pathlib import Path

    from ..domain.balances import Balance
    from ..domain.checkpoint import Checkpoint
    from ..domain.lab_reports import LabMessage
    from ..domain.redemption import CatalogItem, Redemption
    from ..domain.results import (
        CorrectionResult,
        HistoryEntry,
        RecordResult,
        TransferResult,
        VisitResult,
    )
    from ..domain.revisions import AnalyteReading
    from ..domain.sign_in import Session, SignedIn, SignInEvent, SignInPolicy
    from ..domain.staff import Role, Staff
    from ..domain.verify_report import VerifyReport
    from ..views.export import ExportManifest
    from ..views.preview import TargetPreview
    from ..views.program_report import ProgramReport
    from ..views.statement import Statement
    from . import (
        backups,
        closing,
        corrections,
        enrolment,
        lab_import,
        lab_reports,
        programs,
        reads,
        recording,
        rewards,
        sign_in,
        specimens,
        staffing,
    )
    from .backups import BackupReport
    from .closing import CloseReport
    from .lab_export import LabRow, NotInCM
    from .lab_file import BadRow, ImportReport, ImportRow
    from .lab_import import LabImportReport
    from .lab_reports import LabMessageResult
    from .rewards import RedemptionResult
else:
    # Each use case is imported when a method first needs it (``app/lazy.py``).
    backups = LazyModule(".backups", __package__)
    closing = LazyModule(".closing", __package__)
    corrections = LazyModule(".corrections", __package__)
    enrolment = LazyModule(".enrolment", __package__)
    lab_import = LazyModule(".lab_import", __package__)
    lab_reports = LazyModule(".lab_reports", __package__)
    programs = LazyModule(".programs", __package__)
    reads = LazyModule(".reads", __package__)
    recording = LazyModule(".recording", __package__)
    rewards = LazyModule(".rewards", __package__)
    sign_in = LazyModule(".sign_in", __package__)
    specimens = LazyModule(".specimens", __package__)
    staffing = LazyModule(".staffing", __package__)

__getattr__ = lazy_names(
    __name__,
    {
        "AnalyteReading": "..domain.revisions",
        "BackupReport": ".backups",
        "Balance": "..domain.balances",
        "BadRow": ".lab_file",
        "CatalogItem": "..domain.redemption",
        "Checkpoint": "..domain.checkpoint",
        "CloseReport": ".closing",
        "CorrectionResult": "..domain.results",
        "ExportManifest": "..views.export",
        "HistoryEntry": "..domain.results",
        "ImportReport": ".lab_file",
        "ImportRow": ".lab_file",
        "LabImportReport": ".lab_import",
        "LabMessage": "..domain.lab_reports",
        "LabMessageResult": ".lab_reports",
        "LabRow": ".lab_export",
        "NotInCM": ".lab_export",
        "Path": "pathlib",
        "ProgramReport": "..views.program_report",
        "RecordResult": "..domain.results",
        "Redemption": "..domain.redemption",
        "RedemptionResult": ".rewards",
        "Role": "..domain.staff",
        "Session": "..domain.sign_in",
        "SignInEvent": "..domain.sign_in",
        "SignInPolicy": "..domain.sign_in",
        "SignedIn": "..domain.sign_in",
        "Staff": "..domain.staff",
        "Statement": "..views.statement",
        "TargetPreview": "..views.preview",
        "TransferResult": "..domain.results",
        "VerifyReport": "..domain.verify_report",
        "VisitResult": "..domain.results",
    },
)
"""The names only type hints use, imported when ``checked_arguments`` first reads a hint."""


@checked_arguments
class Clinic:
    """One clinic's CM records; every public method is one unit of work (one transaction).

    **Threads.** A ``Clinic`` belongs to the thread that opened it, until ``close()``. A web
    server serves requests on threads: open one ``Clinic`` per request (``with
    cmrewards.open(url) as clinic: ...``) or one per worker thread (``threading.local``).
    Opening is cheap (about 2 ms for a SQLite file and 7 ms for a local PostgreSQL server;
    README, "Threads and web servers"). Opening a database that has every migration
    takes no lock, so it does not wait for another terminal's write; a write does, and
    opening one that lacks a migration applies it under the writers' lock.

    **Values.** Ids are pseudonymous text ids; points are whole points; money is integer
    cents (``*_cents``); a clinical time is an aware datetime (returned in UTC) and a bare
    date is a clinical date in the program's zone. Where a method takes ``at``, None means
    now by the clinic's clock. Every method returns frozen attrs records, all importable
    from ``cmrewards``; ``cmrewards.to_json`` turns any of them into JSON values.

    **Errors every method may raise**, besides those its docstring lists (each a
    ``CMRewardsError`` from ``cmrewards.errors``; none writes anything):

    - ``InvalidInput``: an argument of the wrong type (``start must be a datetime.date or
      None, not str``), checked before anything is read, or malformed text (an id, a note,
      a reason or a key of more than one line or too long).
    - ``UsageError``: called on another thread than the one that opened it, or after
      ``close()`` (the calling code's mistake, not bad data).
    - ``Busy``: another terminal held the database past the busy timeout (10 s).
    - ``IntegrityError``: the database is damaged, foreign, or from a newer cmrewards.

    **Every write** (a method taking ``actor``) also raises ``PermissionDenied`` unless
    ``actor`` is an active staff member whose role allows it: a ``recorder`` records and
    requests, a ``clinician`` also approves, fulfils, cancels and corrects, an ``admin``
    does everything, a ``lab-feed`` service account records lab results and applies the
    lab's corrections and withdrawals (docs/design.md section 2). A ``key`` makes a write
    idempotent: a repeat returns the stored result marked ``replayed`` and writes nothing;
    the key reused for a different request is ``IdempotencyConflict``.
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock = system_clock,
        seeds: Callable[[], int] = random_seed,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        """A facade over ``store``; ``clock`` and ``seeds`` are for tests to fix time and draws,
        ``pause`` to see the delay after a failed sign-in without waiting it.

        Embedders call ``cmrewards.open()`` rather than this.
        """
        self._work = UnitOfWork(store, clock, seeds, pause)

    @property
    def location(self) -> str:
        """Where the database lives, for messages: a path, a URL (never its password) or
        ':memory:'. Raises nothing."""
        return self._work.store.location

    @property
    def _store(self) -> Store:
        """The store underneath (tests read stored rows past the library through it)."""
        return self._work.store

    def close(self) -> None:
        """Close the database connection (``with`` does it on leaving the block).

        Every later call raises ``UsageError``; closing twice is harmless. Raises
        ``UsageError`` on another thread than the one that opened it.
        """
        self._work.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- staff ---------------------------------------------------------------------

    def init(
        self, admin: str, *, passphrase: str | None = None, os_user: str | None = None
    ) -> Staff:
        """Create the first admin of a database without staff and return them (``Staff``,
        role ``admin``, ``added_by`` None). Nobody authorises this write: there is nobody yet.

        With ``passphrase`` (8 to 1,024 characters), the admin's is stored as its Argon2id
        hash and sign-in is on from the start (``sign_in_policy().required``), in the same
        transaction; ``os_user`` is the OS account it was typed at, for the journal.

        Raises ``AlreadyExists`` once the database has staff; ``InvalidInput`` for a
        malformed id or passphrase. Rules: docs/design.md section 2.
        """
        return staffing.init(self._work, admin, passphrase=passphrase, os_user=os_user)

    def add_staff(self, staff_id: str, role: Role | str, *, actor: str) -> Staff:
        """Add an active staff member with ``role`` (``recorder``, ``clinician``, ``admin``
        or ``lab-feed``) and return them. Admin only.

        Raises ``AlreadyExists`` for an id in use; ``InvalidInput`` for a malformed id or an
        unknown role; ``PermissionDenied`` unless the actor is an active admin. Rules:
        docs/design.md section 2.
        """
        return staffing.add_staff(self._work, staff_id, role, actor=actor)

    def deactivate_staff(self, staff_id: str, *, actor: str) -> Staff:
        """A staff member who leaves keeps their history but may no longer act; returns them
        inactive. Admin only.

        Raises ``NotFound`` for an unknown id; ``InvalidTransition`` for the actor
        themselves; ``PermissionDenied`` unless the actor is an active admin. Rules:
        docs/design.md section 2.
        """
        return staffing.deactivate_staff(self._work, staff_id, actor=actor)

    def staff(self) -> list[Staff]:
        """Every staff member, active or not.

        Raises nothing of its own.
        """
        with self._work.read() as tx:
            return tx.all_staff()

    # --- sign-in: for a host that signs staff in itself (the CLI) --------------------

    def sign_in_policy(self) -> SignInPolicy:
        """Whether staff sign in to act, and how (session length in minutes, failed attempts
        before a lock-out, its length, whether sensitive acts ask again). Off, with the
        defaults, until an admin sets it. Raises nothing of its own. Rules: docs/design.md
        section 2, "Sign-in".
        """
        return sign_in.policy(self._work)

    def set_sign_in_policy(
        self,
        rules: SignInPolicy,
        *,
        actor: str,
        passphrase: str | None = None,
        os_user: str | None = None,
    ) -> SignInPolicy:
        """Set the sign-in policy and return it as stored. Admin only; journaled.

        ``passphrase`` sets the admin's own in the same transaction (so one call switches a
        database from before sign-in on). ``os_user`` is the OS account, for the journal.

        Raises ``InvalidTransition`` for turning sign-in on while the actor has no
        passphrase; ``InvalidInput`` for a passphrase out of bounds; ``PermissionDenied``
        unless the actor is an active admin. Rules: docs/design.md section 2, "Sign-in".
        """
        return sign_in.set_policy(
            self._work, rules, actor=actor, passphrase=passphrase, os_user=os_user
        )

    def set_passphrase(
        self,
        staff_id: str,
        passphrase: str,
        *,
        actor: str,
        current: str | None = None,
        os_user: str | None = None,
    ) -> SignInEvent:
        """Store ``passphrase`` (8 to 1,024 printable characters) for ``staff_id`` as its
        Argon2id hash and return the journaled ``passphrase-set`` event. A staff member sets
        their own (giving ``current`` once they have one); an admin sets anyone's. A new
        passphrase ends a lock-out.

        Raises ``NotFound`` for an unknown staff id; ``InvalidInput`` for a passphrase out of
        bounds; ``PermissionDenied`` when ``current`` is wrong (counted like a failed
        sign-in) or missing, or for another's passphrase unless the actor is an active admin.
        Rules: docs/design.md section 2, "Sign-in".
        """
        return sign_in.set_passphrase(
            self._work, staff_id, passphrase, actor=actor, current=current, os_user=os_user
        )

    def sign_in(self, staff_id: str, passphrase: str, *, os_user: str, location: str) -> SignedIn:
        """Check ``passphrase`` and open a session for ``staff_id`` at OS account ``os_user``
        on the database the host names ``location``, for the policy's session length;
        return it with its token (256 random bits, kept nowhere else: the database holds
        its SHA-256). A hash made at another cost is remade at the current one.

        A failure is journaled, and the next attempt waits 1, 2, 4 ... seconds (at most 30)
        before it is checked; the policy's number of failures in a row locks the member out
        for its lock-out minutes (journaled too).

        Raises ``PermissionDenied`` for a wrong passphrase, a member locked out, without a
        passphrase, unknown or inactive; ``InvalidInput`` for a malformed id or empty
        ``os_user`` or ``location``. Rules: docs/design.md section 2, "Sign-in".
        """
        return sign_in.sign_in(self._work, staff_id, passphrase, os_user=os_user, location=location)

    def confirm(self, staff_id: str, passphrase: str, *, os_user: str) -> Staff:
        """Check ``passphrase`` again before a sensitive act and return the staff member.
        A success writes nothing; a failure is counted, journaled and slowed as at
        ``sign_in``.

        Raises ``PermissionDenied`` as ``sign_in`` does. Rules: docs/design.md section 2,
        "Sign-in".
        """
        return sign_in.check(self._work, staff_id, passphrase, os_user=os_user)

    def session(self, token: str, *, os_user: str, location: str) -> Session:
        """The session ``token`` opened, while it may act: not signed out, not expired (by
        the clinic's clock), opened at the same OS account on the same ``location``, by a
        staff member still active. Writes nothing.

        Raises ``PermissionDenied`` saying which of those fails (a token of another
        database is not found in this one). Rules: docs/design.md section 2, "Sign-in".
        """
        return sign_in.session(self._work, token, os_user=os_user, location=location)

    def with_session(self, token: str, *, os_user: str, location: str) -> Clinic:
        """This clinic, for a host that signs staff in itself: every write of the ``Clinic``
        returned checks, in its own transaction and before anything else, that sign-in is
        off or that the session ``token`` opened may act now (as ``session`` checks it) and
        is the actor's. A sign-out, an expiry or a policy change another terminal committed
        a moment before is seen by the write itself. Reads are unchanged. Same database and
        connection: closing either closes both. Reads nothing now.

        Raises nothing of its own; each of the returned clinic's writes raises
        ``PermissionDenied`` saying which check fails, having written nothing. Rules:
        docs/design.md section 2, "Sign-in".
        """
        from .vouching import SessionVouch

        bound = copy.copy(self)
        bound._work = attrs.evolve(self._work, vouch=SessionVouch(token, os_user, location))
        return bound

    def sign_out(self, token: str, *, os_user: str) -> Session:
        """End the session ``token`` opened (journaled) and return it.

        Raises ``NotFound`` for a token not of this database; ``InvalidTransition`` for a
        session signed out already. Rules: docs/design.md section 2, "Sign-in".
        """
        return sign_in.sign_out(self._work, token, os_user=os_user)

    def sign_ins(self, staff_id: str | None = None) -> list[SignInEvent]:
        """Every sign-in event (sign-ins, failures, lock-outs, sign-outs, new passphrases,
        policies), or one staff member's, oldest first. Never a passphrase or token.

        Raises ``NotFound`` for an unknown staff id. Rules: docs/design.md section 2,
        "Sign-in".
        """
        return list(sign_in.events(self._work, staff_id))

    # --- programs ------------------------------------------------------------------

    def add_program(self, program: Program, *, actor: str) -> Program:
        """Store a program (from ``load_preset``, ``load_program_file`` or
        ``program_from_dict``) and return it. Admin only. Programs never change: a new
        version is a new id.

        Raises ``AlreadyExists`` for an id in use; ``PermissionDenied`` unless the actor is
        an active admin. Rules: docs/design.md section 3.4.
        """
        return programs.add_program(self._work, program, actor=actor)

    def programs(self) -> list[Program]:
        """Every stored program. Raises nothing of its own."""
        with self._work.read() as tx:
            return tx.programs()

    def program(self, program_id: str) -> Program:
        """The program with that id. Raises ``NotFound`` for an unknown id."""
        with self._work.read() as tx:
            return find_program(tx, program_id)

    # --- enrolment -----------------------------------------------------------------

    def enroll(
        self, participant: str, program_id: str, *, start: dt.date | None = None, actor: str
    ) -> Participant:
        """Enrol a participant in a program and return the active enrolment. Admin only.

        ``start`` is a clinical date (program weeks count from it); None means today in the
        program's zone by the clinic's clock. A person whose enrolment ended (withdrawn or
        completed) is enrolled again as their next episode (``Participant.episode``), in the
        same program or another, with a fresh schedule state; the cap's period still counts
        every episode.

        Raises ``AlreadyExists`` while the current episode is active (before any check of
        ``start``: no start would do); ``InvalidInput`` for a
        malformed id, a start out of range or more than 31 days after today (a mistyped
        year: ``enrolment.START_AHEAD_DAYS``); ``InvalidTransition`` for a start on or
        before the previous episode's start or the person's last result, or before the
        previous episode ended (a date that contradicts the record), and for another
        program while points are left in the old one; ``NotFound`` for an unknown program;
        ``PermissionDenied`` unless the actor is an active admin. Rules: docs/design.md
        section 2 ("Episodes") and docs/decisions.md, "Episodes".
        """
        return enrolment.enroll(self._work, participant, program_id, start=start, actor=actor)

    def withdraw(self, participant: str, *, on: dt.date | None = None, actor: str) -> Participant:
        """End an active enrolment as withdrawn and return it. Admin only. No more outcomes
        are recorded until the person is enrolled again (their next episode); corrections and
        redemptions remain possible. ``on`` is the clinical date it ended (``ended_at`` noon
        that day in the program's zone; now when today); None means now.

        Raises ``NotFound`` for an unknown participant; ``InvalidTransition`` when the
        enrolment has ended or has not started yet (its start is after today), or for an
        ``on`` before the episode's start or the person's last result; ``InvalidInput``
        for an ``on`` after today; ``PermissionDenied`` unless the
        actor is an active admin. Rules: docs/design.md section 2; docs/decisions.md,
        "Episodes: An episode ends on a date".
        """
        return enrolment.end_enrolment(
            self._work, participant, Status.WITHDRAWN, on=on, actor=actor
        )

    def complete(self, participant: str, *, on: dt.date | None = None, actor: str) -> Participant:
        """End an active enrolment as completed and return it. Admin only; final, like
        ``withdraw``, and ``on`` as there.

        Raises ``NotFound`` for an unknown participant; ``InvalidTransition`` when the
        enrolment has ended or has not started yet; ``InvalidInput`` for an ``on`` as
        ``withdraw`` says;
        ``PermissionDenied`` unless the actor is an active admin. Rules: docs/design.md
        section 2.
        """
        return enrolment.end_enrolment(
            self._work, participant, Status.COMPLETED, on=on, actor=actor
        )

    def participant(self, participant: str) -> Participant:
        """The participant with their current enrolment (episode): program, start date,
        status.

        Raises ``NotFound`` for an unknown participant.
        """
        with self._work.read() as tx:
            return find_participant(tx, participant)

    def participants(self) -> list[Participant]:
        """Every participant with their current enrolment (episode), whatever its status, by
        id. Raises nothing of its own."""
        with self._work.read() as tx:
            return tx.participants()

    def episodes(self, participant: str) -> list[Episode]:
        """Every enrolment of ``participant``, oldest first, the current one last: program,
        start, status, who enrolled and who ended it.

        Raises ``NotFound`` for an unknown participant. Rules: docs/design.md section 2.
        """
        return enrolment.episodes(self._work, participant)

    def timezone(self, participant: str) -> str:
        """The IANA zone of the participant's program (``America/Chicago``): a time they give
        without an offset is read there (``parse_when``).

        Raises ``NotFound`` for an unknown participant.
        """
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
        """Record one verified outcome (``met``, ``not_met``, ``missed``, ``excused`` or
        ``invalid``) and pay what the schedule says. Any staff role.

        ``at`` is the clinical time, an aware datetime; None means now by the clinic's
        clock. ``visit`` names the visit; None means the clinical day in the program's zone.
        ``specimen`` is the lab accession. There is one result per participant, target and
        visit: the same result again is a replay (marked ``replayed``, nothing written). A
        result earlier than the last of its target is a late result: it takes its place in
        clinical order and the awards after it are settled (``settlement``). Returns the
        outcome id, the award (points, bonus points, draws and their value in cents, after
        the cap), the prizes won and the balance after it.

        Raises ``NotFound`` for an unknown participant or target; ``AlreadyExists`` for a
        different result at a recorded visit (naming the outcome to ``correct``);
        ``InvalidTransition`` while the enrolment is not active; ``InvalidInput`` for an
        unknown outcome, a naive ``at``, a time more than an hour ahead of the clock or
        before the enrolment; ``PermissionDenied`` for an unknown or inactive actor;
        ``IdempotencyConflict`` for a ``key`` used for another request. Rules:
        docs/design.md sections 3.1, 3.2, 3.3, 3.5 and 3.7.
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
        one transaction, at one clinical time (None: now by the clinic's clock), each as
        ``record`` would. ``requires`` is judged within the visit whatever the order.
        Returns each target's ``RecordResult`` and the balance after the visit.

        Raises what ``record`` raises for any of its targets: ``NotFound``,
        ``AlreadyExists``, ``InvalidTransition``, ``InvalidInput`` (also for no results),
        ``PermissionDenied`` and ``IdempotencyConflict``; nothing is written then. Rules:
        docs/design.md sections 3.5 and 3.7.
        """
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
        """Correct a recorded outcome to ``outcome``, with a reason. Clinician or admin.

        The outcome row stays; a correction record points at it. The participant's history
        is replayed with it and every award it changes is settled: paid, taken back, or
        written off (in points and cents) when already spent. Returns the correction and
        the settlement.

        Raises ``NotFound`` for an unknown outcome; ``InvalidTransition`` for a voided
        outcome or one already ``outcome``; ``InvalidInput`` for an unknown outcome or an
        empty reason; ``PermissionDenied`` unless the actor is an active clinician or
        admin; ``IdempotencyConflict`` for a ``key`` used for another request. Rules:
        docs/design.md sections 3.7 and 4.1.
        """
        return corrections.correct(
            self._work, outcome_id, outcome, reason=reason, actor=actor, key=key
        )

    def void(
        self, outcome_id: int, *, reason: str, actor: str, key: str | None = None
    ) -> CorrectionResult:
        """Void a recorded outcome entered in error: it counts for nothing, and the awards it
        changes are settled as for ``correct``. Admin only.

        Raises ``NotFound`` for an unknown outcome; ``InvalidTransition`` when it was voided
        before; ``InvalidInput`` for an empty reason; ``PermissionDenied`` unless the actor
        is an active admin; ``IdempotencyConflict`` for a ``key`` used for another request.
        Rules: docs/design.md sections 3.7 and 4.1.
        """
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
        """Record many outcomes (``read_rows``) in order, one transaction per chunk of rows.

        A row whose key was applied before is skipped as a replay. The first bad row stops
        the import: the rows before it are committed, and the report names its line, the
        error's class and exit code (a refused row is reported, not raised). ``progress``
        is told how many rows each committed chunk held, outside its transaction.

        Raises ``InvalidInput`` for a chunk size outside 1 to ``MAX_CHUNK_SIZE`` (100,000);
        ``PermissionDenied`` for an unknown or inactive actor (before any row is written).
        Rules: docs/design.md section 3.5.
        """
        return recording.import_outcomes(
            self._work, rows, actor=actor, chunk_size=chunk_size, progress=progress
        )

    def import_lab_results(
        self,
        rows: Iterable[LabRow | BadRow | NotInCM],
        *,
        actor: str,
        targets: Sequence[str] = (),
        chunk_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> LabImportReport:
        """Store a lab's analyte results (``read_lab_file``) and record what each complete
        specimen decides for ``targets`` (default: every target with ``analytes``).

        A specimen's rows may be anywhere in ``rows``; specimens are applied in order of
        collection, one transaction per chunk of about ``chunk_size`` rows, each specimen
        its own unit of work. A result stored before is a replay; one still missing leaves
        the specimen pending until a later import brings it. A specimen with a bad row
        (``BadRow`` naming it) or refused as it is applied writes nothing, is listed in
        ``LabImportReport.refused`` (its line and a one-line reason; not raised), and the
        others go on; a bad row naming no specimen is refused alone. ``NotInCM`` rows
        (patients the mapping's ``[identity] ids`` does not list) are counted in
        ``not_in_cm``, specimens once each. Rerunning replays what was applied and tries
        what was refused again (a late specimen settles as a late result does).

        Raises ``InvalidInput`` for a chunk size outside 1 to ``MAX_CHUNK_SIZE`` (100,000);
        ``PermissionDenied`` for an unknown or inactive actor (before any row is written).
        Rules: docs/design.md section 3.6.
        """
        return specimens.import_lab_results(
            self._work,
            rows,
            actor=actor,
            targets=targets,
            chunk_size=chunk_size,
            progress=progress,
        )

    # --- the calendar: closing it, excused absences --------------------------------

    def close_calendar(self, through: dt.date, *, actor: str) -> CloseReport:
        """Record ``missed`` for every owed sample without a result in every program week
        that ended by ``through`` (a local date), for every active enrolment of every
        calendar program; programs stored before the calendar are skipped and named.

        A week ends at midnight after its last day in the program's zone; weeks before the
        enrolment and after the target's last phase owe nothing; every effective result of
        the week counts (``met``, ``not_met``, ``missed``, ``excused``, ``invalid``). Each
        placeholder is recorded at the week's last instant with the key
        ``close:P:TARGET:WEEK:N`` (docs/design.md section 3.9), and what it changes for later
        awards is settled. One transaction per participant: a failure leaves whole
        participants closed, and the report names the one it stopped at (it is not raised).
        Closing again writes nothing.

        Raises ``InvalidInput`` for a date after today, ``PermissionDenied`` when ``actor``
        may not record results.
        """
        return closing.close_calendar(self._work, through, actor=actor)

    def excuse(
        self,
        participant: str,
        day: dt.date,
        *,
        reason: str,
        actor: str,
        target: str | None = None,
    ) -> VisitResult:
        """Record an excused absence on ``day``: an ``excused`` result (neutral: no award, no
        reset, the streak kept) for ``target``, or every target, at the participant's visit of
        that day or else at noon in the program's zone, with ``reason`` as its note.

        It fills one owed sample of its week; in a week the calendar was closed for, it
        replaces a ``missed`` placeholder as a late result does. The same excuse again is a
        replay. Rules: docs/design.md section 3.9.

        Raises ``InvalidTransition`` when the week already has every sample it owes (for a
        named target; with every target, those left out are the ones that cannot be excused,
        and it is refused only when none can) or the enrolment is not active; ``InvalidInput``
        for a day in the future or before the enrolment, or an empty reason; ``AlreadyExists``
        when a named target has another result that day; ``NotFound`` for an unknown
        participant or target; ``PermissionDenied`` when ``actor`` may not record results.
        """
        return closing.excuse(
            self._work, participant, day, reason=reason, actor=actor, target=target
        )

    def analyte_results(self, participant: str) -> list[AnalyteReading]:
        """Each analyte of each of the participant's specimens as it stands: its latest
        report's status (``preliminary`` shown, deciding nothing; ``final``; ``corrected``;
        ``entered-in-error`` / ``cancelled``, withdrawn) and value, with how many reports
        it had. Specimens in order of collection, analytes in the order they arrived.

        Raises ``NotFound`` for an unknown participant. Rules: docs/design.md sections 3.6
        and 3.10.
        """
        with self._work.read() as tx:
            person = find_participant(tx, participant)
            firsts = tx.analyte_results(person.id)
            revisions = tx.analyte_revisions(person.id)
        from ..domain.revisions import standing_readings

        return standing_readings(firsts, revisions)

    def apply_lab_message(
        self, message: LabMessage, *, actor: str, targets: Sequence[str] = ()
    ) -> LabMessageResult:
        """Apply one lab message (an HL7 ``ORU^R01``, a FHIR resource or ``Bundle``, ...)
        in one transaction: each report's analyte results stored with their status, and
        what each specimen now decides for ``targets`` (default: every target with
        ``analytes``) recorded, corrected or voided.

        Per analyte the latest report wins: ``preliminary`` is stored and shown but decides
        and pays nothing; ``final`` decides; ``corrected`` replaces the result and, when the
        specimen then decides otherwise, corrects its outcome (as ``correct``, settled);
        ``entered-in-error`` / ``cancelled`` withdraw it and void the outcome of a target
        the specimen no longer decides (as ``void``). A report is keyed by its accession and
        a digest of its content: the same report again is a replay that writes nothing
        (``ReportResult.replayed``). First results (preliminary, final) need the right to
        record; a corrected or withdrawn report (or any later one) about an analyte that
        already has a decisive result changes what was decided, and needs
        ``Action.APPLY_LAB_CHANGE``: an admin or a ``lab-feed`` account, not a recorder or
        a clinician (docs/decisions.md, "Who may change a result through a lab message").

        Raises ``NotFound`` for an unknown participant or target; ``InvalidInput`` for a
        message without reports, a report without analytes, a collection time that differs
        from the specimen's, a non-withdrawn analyte without a value, or a program without
        a target with analytes; ``InvalidTransition`` for a preliminary result after a
        final one (or when an outcome cannot be recorded: an ended enrolment);
        ``IdempotencyConflict`` for a final result that changes a final one (it must come
        as corrected) or an accession's report for another participant; ``AlreadyExists``
        when the visit has another result for a target; ``PermissionDenied`` when
        ``actor`` may not record results, or may not apply the lab's change to a decided
        result (the report named, on one line). A refused message writes nothing. Rules:
        docs/design.md section 3.10.
        """
        return lab_reports.apply_lab_message(self._work, message, actor=actor, targets=targets)

    def import_lab_messages(
        self,
        messages: Iterable[LabMessage | BadRow],
        *,
        actor: str,
        targets: Sequence[str] = (),
        chunk_size: int = 500,
        progress: Callable[[int], None] | None = None,
    ) -> LabImportReport:
        """Apply many lab messages in order (as ``apply_lab_message`` each), several per
        transaction: about ``chunk_size`` messages each.

        Each message is its own unit of work: a bad one (a ``BadRow`` a reader yields, or
        a refusal) writes nothing, is listed in ``LabImportReport.refused`` (its position,
        a one-line reason, the error's class and exit code; not raised), and the rest go
        on. Reports a reader left out as not in CM (``LabMessage.not_in_cm``) are counted
        in ``not_in_cm``. Rerunning replays every report applied before and tries the
        refused ones again. ``progress`` is told how many messages each chunk held.

        Raises ``InvalidInput`` for a chunk size outside 1 to ``MAX_CHUNK_SIZE`` (100,000);
        ``PermissionDenied`` for an unknown or inactive actor (before any message is
        written). Rules: docs/design.md
        section 3.10.
        """
        from .lab_file import BadRow

        units = (m if isinstance(m, BadRow) else lab_import.Unit(m) for m in messages)
        return lab_import.import_units(
            self._work,
            units,
            actor=actor,
            targets=targets,
            chunk_size=chunk_size,
            progress=progress,
        )

    def preview(self, participant: str) -> list[TargetPreview]:
        """For each target, in program order: the streak, what a ``met`` pays next (amount,
        bonus and value in cents), what the first ``met`` after a reset pays, and how many
        more restore the earlier level, as of now by the clinic's clock.

        Raises ``NotFound`` for an unknown participant. Rules: docs/design.md section 3.1.
        """
        return reads.preview(self._work, participant)

    # --- balances and corrections --------------------------------------------------

    def balance(self, participant: str) -> Balance:
        """The participant's points (available and held), their value in cents and the cap
        left in cents (None without a cap), now; with the prizes still owed
        (``prizes_owed``) and the accessions of specimens awaiting final results
        (``awaiting_final``), in one snapshot that reads only those rows, whatever the
        participant's history.

        Raises ``NotFound`` for an unknown participant. Rules: docs/design.md sections 3.3,
        3.10 and 4.
        """
        return reads.balance(self._work, participant)

    def history(self, participant: str) -> list[HistoryEntry]:
        """Outcomes, transfers, corrections and write-offs by the clinical time each is about,
        ties in the order they were entered, each with its change in points and the available
        and held points once the lines so far were entered: None where those are not the
        first entered (a late entry among them), so each figure is one the ledger held and
        the sum of the points listed so far; the last line holds the balance now.

        Raises ``NotFound`` for an unknown participant. Rules: docs/design.md section 4;
        the order: docs/decisions.md, "History order".
        """
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
        """Add (positive) or remove (negative) points by hand, with a reason. Admin only.

        In a program with a cap the adjustment counts toward it: an upward one past the cap
        is refused unless ``over_cap`` (an admin's grant; the transfer records by how much it
        passed the cap, and ``reason`` should say why); a downward one gives back the room
        adjustments used. Returns the transfer and the balance after it.

        Raises ``NotFound`` for an unknown participant; ``InsufficientPoints`` for removing
        more than is available; ``CapExceeded`` for an upward adjustment past the cap without
        ``over_cap``; ``InvalidInput`` for 0 points, more than a billion, or an empty reason;
        ``PermissionDenied`` unless the actor is an active admin (``over_cap`` too);
        ``IdempotencyConflict`` for a ``key`` used for another request. Rules:
        docs/design.md sections 3.3 and 4.
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
        """Undo one transfer with a mirror transfer; the original is never touched. Admin only.

        Reversing a fulfilled redemption's spend gives the points back (the mirror transfer,
        then the release of the hold it returns to) and marks the redemption reversed; the
        item goes back into stock only if ``returned``. Returns the mirror transfer and the
        balance after it.

        Raises ``NotFound`` for an unknown transfer; ``InvalidTransition`` for a transfer
        reversed before, a reversal, a hold or a release, a settlement's take-back, or an
        award its outcome no longer gives in full (a correction took some back);
        ``InsufficientPoints`` when the points were spent or held since; ``CapExceeded`` when
        undoing a downward adjustment needs room the cap no longer has; ``InvalidInput`` for
        an empty reason; ``PermissionDenied`` unless the actor is an active admin;
        ``IdempotencyConflict`` for a ``key`` used for another request. Rules:
        docs/design.md sections 3.3, 4 and 4.1.
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
        """Add an item to the catalog and return it. Admin only.

        ``cost`` is in points, 0 for a prize-cabinet item of prize ``category``; ``stock``
        None means it is bought on demand; ``low_stock`` is the count reports flag at.

        Raises ``AlreadyExists`` for a sku in use; ``InvalidInput`` for a malformed sku,
        name or category or a count out of range; ``PermissionDenied`` unless the actor is
        an active admin. Rules: docs/design.md section 5.
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
        """Every catalog item, with its stock. Raises nothing of its own."""
        with self._work.read() as tx:
            return tx.items()

    def restock(self, sku: str, quantity: int, *, actor: str) -> CatalogItem:
        """Count ``quantity`` more units of an item in and return it. Admin only.

        Raises ``NotFound`` for an unknown sku; ``InvalidTransition`` for an item bought on
        demand; ``InvalidInput`` for a quantity out of range; ``PermissionDenied`` unless
        the actor is an active admin. Rules: docs/design.md section 5.
        """
        return rewards.restock(self._work, sku, quantity, actor=actor)

    # --- redemptions ---------------------------------------------------------------

    def request_redemption(
        self, participant: str, sku: str, *, actor: str, key: str | None = None
    ) -> RedemptionResult:
        """Hold the item's cost in points (and one unit of stock) for the participant; return
        the redemption and the balance after it. Any staff role.

        Raises ``NotFound`` for an unknown participant or sku; ``InsufficientPoints``;
        ``OutOfStock``; ``InvalidTransition`` for a prize-cabinet item;
        ``PermissionDenied`` for an unknown or inactive actor; ``IdempotencyConflict`` for
        a ``key`` used for another request. Rules: docs/design.md section 5.
        """
        return rewards.request_redemption(self._work, participant, sku, actor=actor, key=key)

    def approve_redemption(self, redemption_id: int, *, actor: str) -> RedemptionResult:
        """A clinician agrees the item fits the treatment goals; returns the redemption
        approved. Clinician or admin.

        Raises ``NotFound`` for an unknown redemption; ``InvalidTransition`` unless it is
        requested; ``PermissionDenied`` unless the actor is an active clinician or admin.
        Rules: docs/design.md section 5.
        """
        return rewards.approve_redemption(self._work, redemption_id, actor=actor)

    def fulfil_redemption(
        self,
        redemption_id: int,
        *,
        actor: str,
        note: str | None = None,
        cost_cents: int | None = None,
    ) -> RedemptionResult:
        """Hand the item over: the held points are spent. Clinician or admin.

        ``note`` is the receipt or gift card's last digits, ``cost_cents`` what the clinic
        paid, in cents.

        Raises ``NotFound`` for an unknown redemption; ``InvalidTransition`` before a
        required approval or after the redemption closed; ``PermissionDenied`` unless the
        actor is an active clinician or admin, or when the program separates duties and the
        actor requested or approved it; ``InvalidInput`` for a cost out of range. Rules:
        docs/design.md section 5.
        """
        return rewards.fulfil_redemption(
            self._work, redemption_id, actor=actor, note=note, cost_cents=cost_cents
        )

    def cancel_redemption(self, redemption_id: int, *, reason: str, actor: str) -> RedemptionResult:
        """Cancel or decline: the hold is released and the unit of stock returned. Clinician
        or admin.

        Raises ``NotFound`` for an unknown redemption; ``InvalidTransition`` unless it is
        open; ``InvalidInput`` for an empty reason; ``PermissionDenied`` unless the actor
        is an active clinician or admin. Rules: docs/design.md section 5.
        """
        return rewards.cancel_redemption(self._work, redemption_id, reason=reason, actor=actor)

    def expire(self, *, actor: str) -> list[Redemption]:
        """Release every hold older than its program's ``hold_days`` now (by the clinic's
        clock) and return those redemptions, expired. Any staff role.

        Every write does this as its first step; ``expire`` does it alone (a nightly job).
        Raises ``PermissionDenied`` for an unknown or inactive actor. Rules: docs/design.md
        section 5.
        """
        return rewards.expire(self._work, actor=actor)

    def redemptions(self, participant: str | None = None) -> list[Redemption]:
        """Every redemption, or the participant's, oldest first.

        Raises ``NotFound`` for an unknown participant.
        """
        with self._work.read() as tx:
            if participant is not None:
                find_participant(tx, participant)
            return tx.redemptions(participant)

    # --- prizes --------------------------------------------------------------------

    def prizes(self, participant: str | None = None) -> list[Prize]:
        """The participant's prizes (every participant's when ``participant`` is None), owed,
        fulfilled and traded, in the order they were won; each with its category and value
        in cents.

        Raises ``NotFound`` for an unknown participant. Rules: docs/design.md section 3.2.
        """
        with self._work.read() as tx:
            if participant is not None:
                find_participant(tx, participant)
            return tx.prizes(participant)

    def fulfil_prize(
        self, prize_id: int, *, sku: str, actor: str, note: str | None = None
    ) -> Prize:
        """Hand over an item of the won category from the cabinet; return the prize
        fulfilled. Clinician or admin.

        Raises ``NotFound`` for an unknown prize or sku; ``InvalidTransition`` for a prize
        no longer owed or an item of another category; ``OutOfStock`` when none is left;
        ``PermissionDenied`` unless the actor is an active clinician or admin. Rules:
        docs/design.md section 5.
        """
        return rewards.fulfil_prize(self._work, prize_id, sku=sku, actor=actor, note=note)

    def trade_prizes(self, participant: str, *, give: str, get: str, actor: str) -> Prize:
        """Exchange owed prizes for one better one, as the program's trade rule allows.
        Clinician or admin.

        The oldest owed prizes of ``give`` are traded; the new prize, returned, is owed
        like any other. It does not count against the cap again: what was won already did.

        Raises ``NotFound`` for an unknown participant; ``InvalidTransition`` without such
        a trade or enough owed prizes; ``PermissionDenied`` unless the actor is an active
        clinician or admin. Rules: docs/design.md sections 3.2 and 5.
        """
        return rewards.trade_prizes(self._work, participant, give=give, get=get, actor=actor)

    # --- statements, reports, the export, backups and verify -----------------------

    def statement(self, participant: str) -> Statement:
        """What a participant and their counsellor see, as of now by the clinic's clock:
        each target's streak and next award, every outcome with what it paid (points, draws,
        cents), streaks, resets (runs lost), recoveries, the balance, redemptions, prizes,
        corrections and the history. ``cmrewards.statement_html`` prints it as a page.

        Raises ``NotFound`` for an unknown participant. Rules: docs/design.md sections 3
        and 4.
        """
        return reads.statement(self._work, participant)

    def report(
        self,
        program_id: str | None = None,
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[ProgramReport]:
        """One report per program (or the one named), over clinical dates since..until
        (both included; None: from the start, up to now): participants, the share met per
        target, points and dollars (in cents) awarded, held, redeemed and outstanding,
        prizes, cost per participant, the budget and cap hits.

        Raises ``NotFound`` for an unknown program; ``InvalidInput`` when ``since`` is after
        ``until`` or a date is out of range. Rules: docs/design.md sections 3.3 and 4.
        """
        return reads.reports(self._work, program_id, since=since, until=until)

    def export(self, directory: str | Path) -> ExportManifest:
        """Write every table as CSV and JSON (owner-only files), with a manifest of row
        counts, the chain heads and a checkpoint; return the manifest.

        Raises ``InvalidInput`` unless ``directory`` is new or empty, or when it cannot be
        written. Rules: docs/design.md section 6.
        """
        return reads.export(self._work, directory)

    def checkpoint(self) -> Checkpoint:
        """Every hash chain's length and head now, and a digest over them: keep its
        ``statement`` where the clinic cannot edit it, and ``verify(against=...)`` later.

        Raises nothing of its own. Rules: docs/design.md section 4.
        """
        return reads.checkpoint(self._work)

    def backup(self, path: str | Path) -> BackupReport:
        """Copy this clinic's SQLite file into the new file ``path`` while other terminals
        go on writing, verify the copy, and write its checkpoint beside it
        (``PATH.checkpoint``); return where both are, the checkpoint and the copy's verify.

        The copy is one snapshot (SQLite's online backup API), owner-only (0600) from its
        first byte, one self-contained file; it holds every write committed before the
        backup began. ``cmrewards.restore`` turns it back into a clinic.

        Raises ``AlreadyExists`` when ``path`` or ``PATH.checkpoint`` exists (never
        overwritten); ``InvalidInput`` for a PostgreSQL or in-memory clinic (a server is
        backed up with ``pg_dump``) or a path that cannot be created; ``IntegrityError``
        when the copy fails ``verify`` (the copy is removed). Nothing is left behind on a
        failure. Rules: docs/design.md section 6, "Backups".
        """
        return backups.backup(self._work, path)

    def verify(self, *, against: Checkpoint | str | None = None) -> VerifyReport:
        """Recompute the hash chains, every balance and every schedule state; the report
        lists every problem found (it does not raise for them).

        ``against``, a checkpoint (or its statement or JSON), also proves that every chain
        still extends it: nothing before it changed and nothing was cut.

        Raises ``InvalidInput`` when the text is not a checkpoint. Rules: docs/design.md
        sections 4 and 6.
        """
        return reads.verify(self._work, against)


__all__ = ["Clinic"]
