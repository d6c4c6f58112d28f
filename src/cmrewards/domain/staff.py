"""Staff roles and what each may do. The host application authenticates; we authorise."""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from ..errors import InvalidTransition, PermissionDenied


class Role(enum.StrEnum):
    """What a staff member may do (``PERMISSIONS``; docs/design.md section 2)."""

    RECORDER = "recorder"
    """Records outcomes, requests redemptions and reads."""
    CLINICIAN = "clinician"
    """Also approves, fulfils and cancels redemptions, hands over prizes, corrects outcomes."""
    ADMIN = "admin"
    """Everything: staff, programs, enrolment, the catalog, adjustments, reversals, voids."""
    LAB_FEED = "lab-feed"
    """A service account for the lab's feed (``listen``, the nightly import): reads,
    records outcomes and applies a lab's changes to decided results (corrections and
    withdrawals); it may not adjust, redeem, correct or void by hand (docs/decisions.md,
    "Who may change a result through a lab message")."""


class Action(enum.StrEnum):
    READ = "read"
    RECORD = "record outcomes"
    REQUEST = "request redemptions"
    APPROVE = "approve redemptions"
    FULFIL = "fulfil redemptions and prizes"
    CANCEL = "cancel redemptions"
    MANAGE_STAFF = "manage staff"
    MANAGE_PROGRAMS = "manage programs"
    MANAGE_CATALOG = "manage the catalog"
    ENROL = "enrol and withdraw participants"
    ADJUST = "adjust balances"
    GRANT_OVER_CAP = "grant adjustments over the cap"
    REVERSE = "reverse transfers"
    EXPIRE = "expire holds"
    CORRECT = "correct outcomes"
    VOID = "void outcomes"
    APPLY_LAB_CHANGE = "apply a lab's correction or withdrawal of a decided result"
    """A lab message's corrected, entered-in-error or cancelled report about an analyte that
    already has a decisive result: it changes or voids what was decided, as ``correct`` and
    ``void`` do by hand, so a recorder's file may not carry one."""


_RECORDER = frozenset({Action.READ, Action.RECORD, Action.REQUEST, Action.EXPIRE})
_CLINICIAN = _RECORDER | {Action.APPROVE, Action.FULFIL, Action.CANCEL, Action.CORRECT}
PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.RECORDER: _RECORDER,
    Role.CLINICIAN: _CLINICIAN,
    Role.ADMIN: frozenset(Action),
    # The feed only brings results in: it requests, approves, expires nothing by hand.
    Role.LAB_FEED: frozenset({Action.READ, Action.RECORD, Action.APPLY_LAB_CHANGE}),
}


@attrs.frozen
class Staff:
    """A staff member, by the clinic's staff id (no names)."""

    id: str
    role: Role
    active: bool
    added_at: dt.datetime
    added_by: str | None
    """Who added them; None for the first admin, created by ``init``."""

    def may(self, action: Action) -> bool:
        return self.active and action in PERMISSIONS[self.role]

    @property
    def applies_lab_changes(self) -> bool:
        """May apply a lab's correction or withdrawal of a decided result
        (``Action.APPLY_LAB_CHANGE``): what a listener run as them will refuse otherwise."""
        return self.may(Action.APPLY_LAB_CHANGE)


def authorise(staff: Staff | None, actor: str, action: Action) -> Staff:
    """The acting staff member, or ``PermissionDenied`` saying why not."""
    if staff is None:
        raise PermissionDenied(f"{actor!r} is not a staff member")
    if not staff.active:
        raise PermissionDenied(f"staff member {actor!r} is no longer active")
    if not staff.may(action):
        raise PermissionDenied(f"{actor!r} is a {staff.role}; a {staff.role} may not {action}")
    return staff


def deactivated(staff: Staff, actor: str) -> Staff:
    """``staff`` no longer active, as ``actor`` deactivates them: they keep their history
    but may no longer act. Nobody deactivates themselves (``InvalidTransition``), so the
    admin acting is never the one locked out."""
    if staff.id == actor:
        raise InvalidTransition("staff members cannot deactivate themselves")
    return attrs.evolve(staff, active=False)
