"""Backups a clinic can restore: ``backup`` copies a SQLite clinic while terminals write,
``restore`` turns a backup into a new live file; both prove the copy with ``verify``.

A backup is taken with SQLite's online backup API (``store/sqlite.py``,
``copy_database``): one consistent snapshot, owner-only from its first byte, never over
an existing file. It reports success only once the copy itself passes ``verify``; the
checkpoint of the copy's chain heads is written beside it (``FILE.checkpoint``) and
returned, so a restore drill can prove the restored file is the one that was backed
up. Anything that fails leaves nothing behind (docs/design.md section 6, "Backups").
A PostgreSQL clinic is backed up with the server's own ``pg_dump`` (README, "Backups").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ..domain.checkpoint import Checkpoint, checkpoint_of, parse_checkpoint
from ..domain.verify_report import VerifyReport
from ..errors import AlreadyExists, IntegrityError, InvalidInput, NotFound
from ..store import POSTGRES_SCHEMES
from ..views.verify import verify_store
from .unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ..store.port import Store

CHECKPOINT_SUFFIX = ".checkpoint"
"""The checkpoint of a backup is written beside it: ``nightly.db`` -> ``nightly.db.checkpoint``."""


@attrs.frozen
class BackupReport:
    """A verified backup: where it is, what ``verify`` found in it, and its checkpoint."""

    source: str
    """The clinic that was copied (a path)."""
    target: str
    """The backup file: owner-only (0600), one self-contained SQLite file."""
    checkpoint_file: str
    """The file beside the backup that holds ``checkpoint.statement`` (owner-only)."""
    checkpoint: Checkpoint
    """The backup's chain heads: ``restore --against`` proves a restore is this backup."""
    verify: VerifyReport
    """``verify`` of the backup itself (always ok: a copy that fails is removed)."""


@attrs.frozen
class RestoreReport:
    """A restored clinic: the new file and ``verify`` of it (with the checkpoint, if given)."""

    source: str
    """The backup that was restored."""
    target: str
    """The new clinic file (owner-only)."""
    verify: VerifyReport
    """``verify`` of the restored file; ``verify.against`` is the checkpoint it extends."""


def backup(work: UnitOfWork, path: str | os.PathLike[str]) -> BackupReport:
    """A verified copy of the clinic in the new file ``path`` (see ``Clinic.backup``)."""
    from ..store.sqlite import SQLiteStore, discard, exists, seal

    store = work.store
    if not isinstance(store, SQLiteStore):
        raise InvalidInput(_no_file_to_copy(store))
    target = _new_file(path, "the backup")
    beside = target.with_name(target.name + CHECKPOINT_SUFFIX)
    for path in (target, beside):
        if exists(path):
            raise AlreadyExists(f"{path} exists and is never overwritten; name a new file")
    store.backup_to(target)
    try:
        report = _verified(target, None)
        if not report.ok:
            raise IntegrityError(
                f"the backup of {store.location} fails verify ({_first(report)});"
                f" {target} was removed (verify the clinic itself: the copy holds what it holds)"
            )
        seal(target)
        # Whole seconds: the statement is read and copied by people.
        made = checkpoint_of(report.chains, work.clock().replace(microsecond=0))
        _write_new(beside, made.statement + "\n")
    except BaseException:
        discard(target)
        raise
    return BackupReport(store.location, str(target), str(beside), made, report)


def restore(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    against: Checkpoint | str | None = None,
) -> RestoreReport:
    """Copy the backup ``source`` (a file ``Clinic.backup`` wrote, or any cmrewards SQLite
    file) into the new file ``target``, verify the copy and return where it is with its
    ``VerifyReport``. ``source`` is read, never changed.

    ``against``, a checkpoint (a ``Checkpoint``, or its statement or JSON, such as the
    ``.checkpoint`` file written beside a backup), also proves that every chain of the
    copy extends it: the restored clinic is that backup, nothing cut or rewritten.

    Raises ``NotFound`` when ``source`` does not exist; ``AlreadyExists`` when ``target``
    (or a SQLite log beside it) exists, never overwritten; ``InvalidInput`` for a
    postgresql:// URL, an empty path, a target that cannot be created, or ``against``
    that is no checkpoint; ``IntegrityError`` (one line naming the first problem) when
    ``source`` is no cmrewards database, is damaged, or its copy fails ``verify``. Nothing
    is left at ``target`` on any failure. Rules: docs/design.md section 6, "Backups".
    """
    from ..store.sqlite import copy_file, discard

    checkpoint = parse_checkpoint(against) if isinstance(against, str) else against
    restored = _new_file(target, "the restored clinic")
    backup_file = _existing_file(source)
    copy_file(backup_file, restored)
    try:
        report = _verified(restored, checkpoint)
    except IntegrityError as error:
        discard(restored)
        # The damage is the backup's: the message names the copy it was found in.
        found = str(error).replace(str(restored), "its copy")
        raise IntegrityError(
            f"{backup_file} does not restore: {found}; nothing was left at {restored}"
        ) from None
    except BaseException:
        discard(restored)
        raise
    if not report.ok:
        discard(restored)
        raise IntegrityError(
            f"{backup_file} does not restore: verify found {_first(report)}"
            f"{_more(report)}; nothing was left at {restored}"
        )
    return RestoreReport(str(backup_file), str(restored), report)


def _verified(path: Path, against: Checkpoint | None) -> VerifyReport:
    """``verify`` of the copy at ``path``, opened as a clinic of its own."""
    from ..store.sqlite import SQLiteStore

    copy = SQLiteStore(path)
    try:
        with copy.read() as tx:
            return verify_store(tx, copy.integrity_problems(), against)
    finally:
        copy.close()


def _no_file_to_copy(store: Store) -> str:
    if store.location.startswith(POSTGRES_SCHEMES):
        return (
            "a PostgreSQL clinic is backed up with the server's pg_dump, then verified"
            " after pg_restore (README, 'Backups'); backup copies a SQLite clinic file"
        )
    return "an in-memory clinic has no file to back up; open a SQLite file"


def _new_file(value: str | os.PathLike[str], what: str) -> Path:
    text = os.fspath(value)
    if text.startswith(POSTGRES_SCHEMES):
        raise InvalidInput(f"{what} is a SQLite file path, not a postgresql:// URL")
    if not text.strip():
        raise InvalidInput(f"{what} needs a file path")
    return Path(text)


def _existing_file(value: str | os.PathLike[str]) -> Path:
    path = _new_file(value, "the backup")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise NotFound(f"no backup at {path}") from None
    except OSError as error:
        raise InvalidInput(f"{str(path)[:80]!r}: {error.strerror}") from None
    if size == 0:
        raise IntegrityError(f"{path} is empty: not a backup")
    return path


def _write_new(path: Path, text: str) -> None:
    """Create ``path`` owner-only with ``text``; never over an existing file."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise AlreadyExists(f"{path} exists and is never overwritten; name a new file") from None
    except OSError as error:
        raise InvalidInput(f"cannot create {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
    except BaseException as error:
        path.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise InvalidInput(f"cannot write {path}: {error.strerror}") from None
        raise


def _first(report: VerifyReport) -> str:
    return report.problems[0].message if report.problems else "a problem"


def _more(report: VerifyReport) -> str:
    more = len(report.problems) - 1
    return f" (and {more} more)" if more > 0 else ""
