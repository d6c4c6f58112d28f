"""Staff: the first admin, then members added and deactivated by admins. We authorise; the
host application authenticates."""

from __future__ import annotations

from ..domain.sign_in import check_passphrase
from ..domain.staff import Action, Role, Staff, deactivated
from ..domain.validation import check_id, choice
from ..errors import AlreadyExists, NotFound
from .sign_in import init_with_passphrase
from .unit_of_work import UnitOfWork


def init(
    work: UnitOfWork, admin: str, *, passphrase: str | None = None, os_user: str | None = None
) -> Staff:
    """Create the first admin of a database without staff (see ``Clinic.init``)."""
    check_id(admin, "staff id")
    if passphrase is not None:
        check_passphrase(passphrase)
    # No ``write``: there is nobody yet to authorise.
    with work.journaled() as tx:
        if tx.all_staff():
            raise AlreadyExists(
                f"{work.store.location} already has staff: its first admin adds the others"
            )
        staff = Staff(admin, Role.ADMIN, active=True, added_at=work.clock(), added_by=None)
        tx.add_staff(staff)
        if passphrase is not None:
            init_with_passphrase(tx, staff, passphrase, staff.added_at, os_user)
        return staff


def add_staff(work: UnitOfWork, staff_id: str, role: Role | str, *, actor: str) -> Staff:
    """Add an active staff member (see ``Clinic.add_staff``)."""
    check_id(staff_id, "staff id")
    staff_role: Role = choice(Role, role, "role")
    with work.write(actor, Action.MANAGE_STAFF) as tx:
        if tx.staff(staff_id) is not None:
            raise AlreadyExists(f"staff member {staff_id!r} already exists")
        staff = Staff(staff_id, staff_role, active=True, added_at=work.clock(), added_by=actor)
        tx.add_staff(staff)
        return staff


def deactivate_staff(work: UnitOfWork, staff_id: str, *, actor: str) -> Staff:
    """Stop a staff member acting; their history stays (see ``Clinic.deactivate_staff``)."""
    with work.write(actor, Action.MANAGE_STAFF) as tx:
        staff = tx.staff(staff_id)
        if staff is None:
            raise NotFound(f"no staff member {staff_id!r}")
        inactive = deactivated(staff, actor)
        tx.set_staff_active(staff_id, False)
        return inactive
