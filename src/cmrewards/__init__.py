"""cmrewards: a contingency management rewards engine.

    >>> import cmrewards
    >>> clinic = cmrewards.open()            # in memory; pass a path for a SQLite file
    >>> admin = clinic.init("admin-1")

This module is the only public door: ``open()``, the ``Clinic`` it returns, every
record and enum a ``Clinic`` method returns (and the records inside them), the
refusals of ``cmrewards.errors``, and the functions an embedder needs besides
(program files, the lab-file reader, the MLLP listener, the simulation, JSON conversion,
the HTML statement, ``migrate``, ``restore``, the grants of a PostgreSQL terminal role,
time and money as staff type and read them). Each name is listed once in ``__all__``.
The subpackages (``domain``, ``store``, ``views``, ``app``, ``cli``) are internal and
may change without notice; ``cmrewards.errors`` is public.

See README.md for the quickstart and docs/design.md for the rules the numbers follow.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app.backups import BackupReport, RestoreReport, restore
    from .app.clinic import Clinic
    from .app.closing import ClosedParticipant, CloseReport
    from .app.fhir import parse_fhir_message, read_fhir_messages
    from .app.hl7v2 import hl7_ack, parse_oru, read_hl7_messages
    from .app.lab_export import LabRow, NotInCM, read_lab_file
    from .app.lab_file import BadRow, ImportReport, ImportRow, read_rows
    from .app.lab_formats import LabFormat, lab_file_format, read_lab_messages
    from .app.lab_import import LabImportReport, Refusal
    from .app.lab_listener import lab_handler
    from .app.lab_reports import LabMessageResult, ReportResult
    from .app.migrate import MigrationReport, migrate
    from .app.mllp import (
        MLLP_HOST,
        MLLP_PORT,
        Acknowledgement,
        MLLPServer,
        read_acknowledgement,
    )
    from .app.rewards import RedemptionResult
    from .domain.analytes import ANALYTES, Analyte, LabResult
    from .domain.balances import Balance
    from .domain.calendar import Escalation, ExtraSamples, Phase
    from .domain.caps import CappedMaximum, OverCapGrant, capped_maximum
    from .domain.checkpoint import ChainHead, Checkpoint
    from .domain.clock import format_when, local_date, parse_date, parse_when
    from .domain.json_form import from_json, to_json
    from .domain.lab_map import Identity, LabMap, lab_map_from_dict, load_lab_map
    from .domain.lab_reports import LabMessage, LabReport, ReportedAnalyte, ResultStatus
    from .domain.ledger import Movement, Transfer
    from .domain.money import format_cents, parse_dollars
    from .domain.problems import Check, Problem
    from .domain.programs import (
        BowlCategory,
        CapPeriod,
        MaximumEarnings,
        Program,
        Target,
        Trade,
        load_preset,
        load_program_file,
        maximum_earnings,
        preset_names,
        program_from_dict,
    )
    from .domain.records import (
        Correction,
        CorrectionKind,
        Episode,
        Participant,
        Prize,
        PrizeStatus,
        Status,
        WriteOff,
    )
    from .domain.redemption import CatalogItem, Redemption, RedemptionStatus
    from .domain.refs import Ref, RefKind
    from .domain.results import (
        Award,
        CorrectionResult,
        HistoryEntry,
        PrizeWon,
        RecordResult,
        Settlement,
        TransferResult,
        VisitResult,
    )
    from .domain.revisions import AnalyteReading, AnalyteRevision
    from .domain.schedules import AwardKind, EscalatingSchedule, FixedSchedule, Outcome, StepBy
    from .domain.sign_in import (
        Session,
        SignedIn,
        SignInEvent,
        SignInEventKind,
        SignInPolicy,
        check_passphrase,
    )
    from .domain.simulation import SimulationReport, simulate
    from .domain.specimens import AnalyteResult
    from .domain.staff import Role, Staff
    from .domain.validation import MAX_CHUNK_SIZE, check_id
    from .domain.verify_report import VerifyReport
    from .errors import (
        AlreadyExists,
        Busy,
        CapExceeded,
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
        UsageError,
    )
    from .store import POSTGRES_SCHEMES
    from .store.postgres_grants import postgres_terminal_grants
    from .views.export import ExportManifest
    from .views.preview import TargetPreview
    from .views.program_report import ProgramReport, TargetSummary
    from .views.statement import EpisodeSummary, Statement, StatementLine
    from .views.statement_html import statement_html

_HOMES = {
    "app.backups": ("BackupReport", "RestoreReport", "restore"),
    "app.clinic": ("Clinic",),
    "app.closing": ("ClosedParticipant", "CloseReport"),
    "app.fhir": ("parse_fhir_message", "read_fhir_messages"),
    "app.hl7v2": ("hl7_ack", "parse_oru", "read_hl7_messages"),
    "app.lab_export": ("LabRow", "NotInCM", "read_lab_file"),
    "app.lab_listener": ("lab_handler",),
    "app.lab_file": ("BadRow", "ImportReport", "ImportRow", "read_rows"),
    "app.lab_formats": ("LabFormat", "lab_file_format", "read_lab_messages"),
    "app.migrate": ("MigrationReport", "migrate"),
    "app.mllp": (
        "MLLP_HOST",
        "MLLP_PORT",
        "Acknowledgement",
        "MLLPServer",
        "read_acknowledgement",
    ),
    "app.rewards": ("RedemptionResult",),
    "app.lab_import": ("LabImportReport", "Refusal"),
    "app.lab_reports": ("LabMessageResult", "ReportResult"),
    "domain.analytes": ("ANALYTES", "Analyte", "LabResult"),
    "domain.calendar": ("Escalation", "ExtraSamples", "Phase"),
    "domain.caps": ("CappedMaximum", "OverCapGrant", "capped_maximum"),
    "domain.checkpoint": ("ChainHead", "Checkpoint"),
    "domain.clock": ("format_when", "local_date", "parse_date", "parse_when"),
    "domain.json_form": ("from_json", "to_json"),
    "domain.lab_map": ("Identity", "LabMap", "lab_map_from_dict", "load_lab_map"),
    "domain.lab_reports": ("LabMessage", "LabReport", "ReportedAnalyte", "ResultStatus"),
    "domain.ledger": ("Movement", "Transfer"),
    "domain.money": ("format_cents", "parse_dollars"),
    "domain.problems": ("Check", "Problem"),
    "domain.programs": (
        "BowlCategory",
        "CapPeriod",
        "MaximumEarnings",
        "Program",
        "Target",
        "Trade",
        "load_preset",
        "load_program_file",
        "maximum_earnings",
        "postgres_terminal_grants",
        "preset_names",
        "program_from_dict",
    ),
    "domain.records": (
        "Correction",
        "CorrectionKind",
        "Episode",
        "Participant",
        "Prize",
        "PrizeStatus",
        "Status",
        "WriteOff",
    ),
    "domain.redemption": ("CatalogItem", "Redemption", "RedemptionStatus"),
    "domain.refs": ("Ref", "RefKind"),
    "domain.balances": ("Balance",),
    "domain.results": (
        "Award",
        "CorrectionResult",
        "HistoryEntry",
        "PrizeWon",
        "RecordResult",
        "Settlement",
        "TransferResult",
        "VisitResult",
    ),
    "domain.schedules": ("AwardKind", "EscalatingSchedule", "FixedSchedule", "Outcome", "StepBy"),
    "domain.sign_in": (
        "Session",
        "SignInEvent",
        "SignInEventKind",
        "SignInPolicy",
        "SignedIn",
        "check_passphrase",
    ),
    "domain.simulation": ("SimulationReport", "simulate"),
    "domain.revisions": ("AnalyteReading", "AnalyteRevision"),
    "domain.specimens": ("AnalyteResult",),
    "domain.staff": ("Role", "Staff"),
    "domain.validation": ("MAX_CHUNK_SIZE", "check_id"),
    "domain.verify_report": ("VerifyReport",),
    "errors": (
        "AlreadyExists",
        "Busy",
        "CapExceeded",
        "CMRewardsError",
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
    ),
    "store": ("POSTGRES_SCHEMES",),
    "store.postgres_grants": ("postgres_terminal_grants",),
    "views.export": ("ExportManifest",),
    "views.preview": ("TargetPreview",),
    "views.program_report": ("ProgramReport", "TargetSummary"),
    "views.statement": ("EpisodeSummary", "Statement", "StatementLine"),
    "views.statement_html": ("statement_html",),
}
"""Which internal module each public name lives in (the imports above say the same to mypy)."""

_LAZY = {name: module for module, names in _HOMES.items() for name in names}
"""Each public name is imported on first use, so ``import cmrewards`` (and the CLI) starts fast."""

__all__ = [
    "ANALYTES",
    "MAX_CHUNK_SIZE",
    "MLLP_HOST",
    "MLLP_PORT",
    "POSTGRES_SCHEMES",
    "Acknowledgement",
    "AlreadyExists",
    "Analyte",
    "AnalyteReading",
    "AnalyteResult",
    "AnalyteRevision",
    "Award",
    "AwardKind",
    "BackupReport",
    "BadRow",
    "Balance",
    "BowlCategory",
    "Busy",
    "CMRewardsError",
    "CapExceeded",
    "CapPeriod",
    "CappedMaximum",
    "CatalogItem",
    "ChainHead",
    "Check",
    "Checkpoint",
    "Clinic",
    "CloseReport",
    "ClosedParticipant",
    "Correction",
    "CorrectionKind",
    "CorrectionResult",
    "Episode",
    "EpisodeSummary",
    "EscalatingSchedule",
    "Escalation",
    "ExportManifest",
    "ExtraSamples",
    "FixedSchedule",
    "HistoryEntry",
    "IdempotencyConflict",
    "Identity",
    "ImportReport",
    "ImportRow",
    "InsufficientPoints",
    "IntegrityError",
    "InvalidInput",
    "InvalidTransition",
    "LabFormat",
    "LabImportReport",
    "LabMap",
    "LabMessage",
    "LabMessageResult",
    "LabReport",
    "LabResult",
    "LabRow",
    "MLLPServer",
    "MaximumEarnings",
    "MigrationReport",
    "Movement",
    "NotFound",
    "NotInCM",
    "OutOfOrder",
    "OutOfStock",
    "Outcome",
    "OverCapGrant",
    "Participant",
    "PermissionDenied",
    "Phase",
    "Prize",
    "PrizeStatus",
    "PrizeWon",
    "Problem",
    "Program",
    "ProgramReport",
    "RecordResult",
    "Redemption",
    "RedemptionResult",
    "RedemptionStatus",
    "Ref",
    "RefKind",
    "Refusal",
    "ReportResult",
    "ReportedAnalyte",
    "RestoreReport",
    "ResultStatus",
    "Role",
    "Session",
    "Settlement",
    "SignInEvent",
    "SignInEventKind",
    "SignInPolicy",
    "SignedIn",
    "SimulationReport",
    "Staff",
    "Statement",
    "StatementLine",
    "Status",
    "StepBy",
    "Target",
    "TargetPreview",
    "TargetSummary",
    "Trade",
    "Transfer",
    "TransferResult",
    "UsageError",
    "VerifyReport",
    "VisitResult",
    "WriteOff",
    "capped_maximum",
    "check_id",
    "check_passphrase",
    "format_cents",
    "format_when",
    "from_json",
    "hl7_ack",
    "lab_file_format",
    "lab_handler",
    "lab_map_from_dict",
    "load_lab_map",
    "load_preset",
    "load_program_file",
    "local_date",
    "maximum_earnings",
    "migrate",
    "open",
    "parse_date",
    "parse_dollars",
    "parse_fhir_message",
    "parse_oru",
    "parse_when",
    "postgres_terminal_grants",
    "preset_names",
    "program_from_dict",
    "read_acknowledgement",
    "read_fhir_messages",
    "read_hl7_messages",
    "read_lab_file",
    "read_lab_messages",
    "read_rows",
    "restore",
    "simulate",
    "statement_html",
    "to_json",
]

__version__ = "0.1.0.dev0"


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cmrewards' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def open(
    path: str | os.PathLike[str] | None = None, *, create: bool = True, **options: object
) -> Clinic:
    """Open a clinic: a SQLite file at ``path`` (created if missing), a PostgreSQL database
    given as a ``postgresql://`` URL (needs ``cmrewards[postgres]``), or memory when None
    (or ``":memory:"``, SQLite's name for it; nothing is kept after ``close()``).

    ``create=False`` refuses a missing database instead of creating it. Options are passed
    to ``Clinic`` (``clock``, ``seeds``): tests use them to fix time and draws. The
    ``Clinic`` belongs to the calling thread until ``close()`` (``Clinic``, "Threads").

    Raises ``NotFound`` for a missing database with ``create=False``; ``IntegrityError``
    for a file that is damaged, not a cmrewards database, or from a newer cmrewards, or a
    server that cannot be reached; ``InvalidInput`` for a path the system refuses, or a
    ``postgresql://`` URL without the ``postgres`` extra installed; ``Busy`` when another
    terminal holds the database past the busy timeout.
    """
    from .app.clinic import Clinic
    from .store import open_store

    return Clinic(open_store(path, create=create), **options)  # type: ignore[arg-type]
