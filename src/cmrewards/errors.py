"""The exceptions every refused request raises.

Each class carries the CLI exit code it maps to, so the command line and any
host application agree on what "refused", "invalid" and "damaged" mean.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "Busy",
    "CMRewardsError",
    "CapExceeded",
    "IdempotencyConflict",
    "InsufficientPoints",
    "IntegrityError",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "OutOfOrder",
    "OutOfStock",
    "PermissionDenied",
    "UsageError",
]


class CMRewardsError(Exception):
    """Base class: a request was refused and nothing was written."""

    exit_code: int = 1


class NotFound(CMRewardsError):
    """A participant, staff member, program, transfer or item does not exist."""


class PermissionDenied(CMRewardsError):
    """The actor is unknown, inactive, or their role does not allow the action."""


class InsufficientPoints(CMRewardsError):
    """The participant's available points do not cover the request."""


class CapExceeded(CMRewardsError):
    """An adjustment or reversal would take a participant past their program's cap; only
    an admin may grant an adjustment over it."""


class OutOfStock(CMRewardsError):
    """No unit of the item is left in the cabinet."""


class InvalidTransition(CMRewardsError):
    """The record is not in a state that allows the request (e.g. reversing twice)."""


class AlreadyExists(InvalidTransition):
    """A staff member, program or participant with that id exists already."""


class IdempotencyConflict(CMRewardsError):
    """The key was already used for a different request."""


class OutOfOrder(CMRewardsError):
    """An outcome is earlier than the last one recorded for that participant and target."""


class Busy(CMRewardsError):
    """Another terminal held the database longer than the busy timeout."""


class InvalidInput(CMRewardsError):
    """A value is malformed or out of range; the message names it."""

    exit_code = 2


class IntegrityError(CMRewardsError):
    """The database is damaged, foreign, from a newer version, or fails verification."""

    exit_code = 3


class UsageError(CMRewardsError):
    """The library was called in a way it does not support: a programming error, not bad data.

    A ``Clinic`` used on a thread other than the one that opened it, or after ``close()``.
    Nothing was written and the database is sound; fix the calling code (open one ``Clinic``
    per thread, or per request).
    """

    exit_code = 2
