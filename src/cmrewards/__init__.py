"""cmrewards: a contingency management rewards engine.

    >>> import cmrewards
    >>> clinic = cmrewards.open()            # in memory; pass a path for a SQLite file
    >>> admin = clinic.init("admin-1")

See README.md for the quickstart and DESIGN.md for the rules the numbers follow.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app.clinic import Clinic
    from .app.lab_file import ImportReport
    from .app.rewards import RedemptionResult
    from .domain.programs import Program, load_preset, load_program_file, preset_names
    from .domain.records import Participant, Prize, PrizeStatus, Status
    from .domain.redemption import CatalogItem, Redemption, RedemptionStatus
    from .domain.results import (
        Award,
        Balance,
        HistoryEntry,
        RecordResult,
        TransferResult,
        VerifyReport,
    )
    from .domain.schedules import Outcome
    from .domain.staff import Role, Staff
    from .errors import (
        AlreadyExists,
        Busy,
        CMRewardsError,
        IdempotencyConflict,
        InsufficientPoints,
        IntegrityError,
        InvalidInput,
        InvalidTransition,
        NotFound,
        OutOfOrder,
        OutOfStock,
        PermissionDenied,
    )
    from .views.preview import TargetPreview

_LAZY = {
    "AlreadyExists": "errors",
    "Award": "domain.results",
    "Balance": "domain.results",
    "Busy": "errors",
    "CMRewardsError": "errors",
    "CatalogItem": "domain.redemption",
    "Clinic": "app.clinic",
    "HistoryEntry": "domain.results",
    "IdempotencyConflict": "errors",
    "ImportReport": "app.lab_file",
    "InsufficientPoints": "errors",
    "IntegrityError": "errors",
    "InvalidInput": "errors",
    "InvalidTransition": "errors",
    "NotFound": "errors",
    "OutOfOrder": "errors",
    "OutOfStock": "errors",
    "Outcome": "domain.schedules",
    "Participant": "domain.records",
    "PermissionDenied": "errors",
    "Prize": "domain.records",
    "PrizeStatus": "domain.records",
    "Program": "domain.programs",
    "RecordResult": "domain.results",
    "Redemption": "domain.redemption",
    "RedemptionResult": "app.rewards",
    "RedemptionStatus": "domain.redemption",
    "Role": "domain.staff",
    "Staff": "domain.staff",
    "Status": "domain.records",
    "TargetPreview": "views.preview",
    "TransferResult": "domain.results",
    "VerifyReport": "domain.results",
    "load_preset": "domain.programs",
    "load_program_file": "domain.programs",
    "preset_names": "domain.programs",
}
"""Where each public name lives: imported on first use, so the CLI starts fast."""


__all__ = [
    "AlreadyExists",
    "Award",
    "Balance",
    "Busy",
    "CMRewardsError",
    "CatalogItem",
    "Clinic",
    "HistoryEntry",
    "IdempotencyConflict",
    "ImportReport",
    "InsufficientPoints",
    "IntegrityError",
    "InvalidInput",
    "InvalidTransition",
    "NotFound",
    "OutOfOrder",
    "OutOfStock",
    "Outcome",
    "Participant",
    "PermissionDenied",
    "Prize",
    "PrizeStatus",
    "Program",
    "RecordResult",
    "Redemption",
    "RedemptionResult",
    "RedemptionStatus",
    "Role",
    "Staff",
    "Status",
    "TargetPreview",
    "TransferResult",
    "VerifyReport",
    "load_preset",
    "load_program_file",
    "open",
    "preset_names",
]

__version__ = "0.1.0.dev0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cmrewards' has no attribute {name!r}")


def open(
    path: str | os.PathLike[str] | None = None, *, create: bool = True, **options: object
) -> Clinic:
    """Open a clinic: a SQLite file at ``path`` (created if missing), a PostgreSQL database
    given as a ``postgresql://`` URL (needs ``cmrewards[postgres]``), or memory when None.

    ``create=False`` refuses a missing database (``NotFound``) instead of creating it.
    Options are passed to ``Clinic`` (``clock``, ``seeds``) — tests use them to fix time
    and draws.
    """
    from .app.clinic import Clinic
    from .store import open_store

    return Clinic(open_store(path, create=create), **options)  # type: ignore[arg-type]
