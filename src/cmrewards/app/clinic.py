"""The facade other clinic software imports: one unit of work per call.

Each public method authorises the actor, validates its input, honours the
caller's idempotency key, and either writes everything it means to or nothing.
Methods take plain values and return frozen records (``results.py``).
"""

from __future__ import annotations

import datetime as dt

import attrs

from ..domain.clock import (
    local_date,
    require_date_in_range,
)
from ..domain.programs import Program
from ..domain.records import Participant, Status
from ..domain.results import (
    VerifyReport,
)
from ..domain.staff import Action, Role, Staff
from ..domain.validation import check_id, choice
from ..errors import (
    AlreadyExists,
    InvalidTransition,
    NotFound,
)
from ..store.lookup import find_participant, find_program
from ..views.verify import verify_store
from .corrections import Corrections
from .recording import Recording
from .reporting import Reporting
from .rewards import Redeeming


class Clinic(Recording, Corrections, Redeeming, Reporting):
    """One clinic's CM records. Not thread-safe: give each thread its own ``open()``."""

    # --- staff ---------------------------------------------------------------

    def init(self, admin: str) -> Staff:
        """Create the first admin of an empty database."""
        check_id(admin, "staff id")
        with self._unit() as tx:
            if tx.all_staff():
                raise AlreadyExists(f"{self.location} already has staff; use 'staff add'")
            staff = Staff(admin, Role.ADMIN, active=True, added_at=self._clock(), added_by=None)
            tx.add_staff(staff)
            return staff

    def add_staff(self, staff_id: str, role: Role | str, *, actor: str) -> Staff:
        check_id(staff_id, "staff id")
        staff_role: Role = choice(Role, role, "role")
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.MANAGE_STAFF)
            if tx.staff(staff_id) is not None:
                raise AlreadyExists(f"staff member {staff_id!r} already exists")
            staff = Staff(staff_id, staff_role, active=True, added_at=self._clock(), added_by=actor)
            tx.add_staff(staff)
            return staff

    def deactivate_staff(self, staff_id: str, *, actor: str) -> Staff:
        """A staff member who leaves keeps their history but may no longer act."""
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.MANAGE_STAFF)
            staff = tx.staff(staff_id)
            if staff is None:
                raise NotFound(f"no staff member {staff_id!r}")
            if staff_id == actor:
                raise InvalidTransition("staff members cannot deactivate themselves")
            tx.set_staff_active(staff_id, False)
            return attrs.evolve(staff, active=False)

    def staff(self) -> list[Staff]:
        with self._store.read() as tx:
            return tx.all_staff()

    # --- programs ------------------------------------------------------------

    def add_program(self, program: Program, *, actor: str) -> Program:
        """Store a program. Programs never change: a new version is a new id."""
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.MANAGE_PROGRAMS)
            existing = tx.program(program.id)
            if existing is not None:
                raise AlreadyExists(
                    f"program {program.id!r} already exists and programs never change;"
                    f" add the new version under a new id (e.g. {program.id}-v2)"
                )
            tx.add_program(program, self._clock(), actor)
            return program

    def programs(self) -> list[Program]:
        with self._store.read() as tx:
            return tx.programs()

    def program(self, program_id: str) -> Program:
        with self._store.read() as tx:
            return find_program(tx, program_id)

    # --- enrolment -----------------------------------------------------------

    def enroll(
        self, participant: str, program_id: str, *, start: dt.date | None = None, actor: str
    ) -> Participant:
        check_id(participant, "participant id")
        if start is not None:
            require_date_in_range(start, "start")
        now = self._clock()
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.ENROL)
            program = find_program(tx, program_id)
            existing = tx.participant(participant)
            if existing is not None:
                raise AlreadyExists(
                    f"participant {participant!r} is already enrolled in {existing.program_id}"
                    f" ({existing.status}); a participant is enrolled once"
                )
            record = Participant(
                id=participant,
                program_id=program.id,
                start=start or local_date(now, program.timezone),
                status=Status.ACTIVE,
                enrolled_at=now,
                enrolled_by=actor,
            )
            tx.add_participant(record)
            return record

    def withdraw(self, participant: str, *, actor: str) -> Participant:
        return self._end_enrolment(participant, Status.WITHDRAWN, actor)

    def complete(self, participant: str, *, actor: str) -> Participant:
        return self._end_enrolment(participant, Status.COMPLETED, actor)

    def _end_enrolment(self, participant: str, status: Status, actor: str) -> Participant:
        with self._write(actor) as tx:
            self._authorise(tx, actor, Action.ENROL)
            record = find_participant(tx, participant)
            if record.status is not Status.ACTIVE:
                raise InvalidTransition(f"participant {participant!r} is already {record.status}")
            tx.set_participant_status(participant, status)
            return attrs.evolve(record, status=status)

    def participant(self, participant: str) -> Participant:
        with self._store.read() as tx:
            return find_participant(tx, participant)

    def participants(self) -> list[Participant]:
        with self._store.read() as tx:
            return tx.participants()

    def timezone(self, participant: str) -> str:
        """The IANA zone of the participant's program: a time they give without an offset is
        read there (``parse_when``). ``NotFound`` for an unknown participant."""
        with self._store.read() as tx:
            return find_program(tx, find_participant(tx, participant).program_id).timezone

    def verify(self) -> VerifyReport:
        """Recompute the hash chains, every balance and every schedule state."""
        with self._store.read() as tx:
            return verify_store(tx, self._store.integrity_problems())


__all__ = ["Clinic", "check_id"]
