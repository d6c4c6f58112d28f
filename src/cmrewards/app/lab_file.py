"""Bulk import of lab results: a CSV file applied in order, in chunked transactions.

Header ``participant,target,outcome,at,key,note``. A row whose key was applied
before is a replay and is skipped, so an interrupted import is resumed by running
it again. A row without a key gets one derived from its contents, so resuming
never applies it twice. The first bad row stops the import; every row before it
is committed and reported.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import IO, Protocol

import attrs

from ..errors import InvalidInput

HEADER = ("participant", "target", "outcome", "at", "key", "note")


@attrs.frozen
class ImportRow:
    """One CSV row, as text, with the file line it started on."""

    line: int
    participant: str
    target: str
    outcome: str
    at: str
    key: str
    """The row's key, or one derived from its contents when the file left it empty."""
    note: str | None


@attrs.frozen
class BadRow:
    """A row that cannot be read at all (wrong field count, broken quoting, no time)."""

    line: int
    problem: str
    specimen: tuple[str, str] | None = None
    """In a lab export, the specimen (participant, accession) the row belongs to, when it
    says: the specimen is refused with it."""


@attrs.frozen
class ImportReport:
    """What an import did."""

    rows: int
    """Rows read and accepted (applied plus replayed)."""
    applied: int
    replayed: int
    failed_line: int | None = None
    """The line of the first bad row; None when every row was accepted."""
    error: str | None = None
    error_type: str | None = None
    exit_code: int = 0
    """The CLI exit code of the error that stopped the import (0 when complete)."""
    last_day: dt.date | None = None
    """The latest clinical date among the rows accepted, each in its program's zone: the
    day ``import --close`` closes the calendar through. None when no row was accepted."""

    @property
    def complete(self) -> bool:
        return self.failed_line is None


def derived_key(participant: str, target: str, outcome: str, at: str, note: str | None) -> str:
    digest = hashlib.sha256("\x1f".join([participant, target, outcome, at, note or ""]).encode())
    return f"row:{digest.hexdigest()[:32]}"


def read_rows(file: IO[str], source: str) -> Iterator[ImportRow | BadRow]:
    """Stream the rows of an import file (constant memory), checking the header first.

    A bad header is refused at once; a bad row is yielded as ``BadRow`` so the rows
    before it can still be committed. Raises ``InvalidInput`` for a missing or wrong
    header (``participant,target,outcome,at,key,note``). Rules: docs/design.md section 3.5.
    """
    reader = csv.reader(file)
    header = read_header(reader, source, f"the header {','.join(HEADER)}")
    if tuple(h.strip() for h in header) != HEADER:
        raise InvalidInput(f"{source} line 1: the header must be {','.join(HEADER)}")
    for row in numbered_rows(reader):
        if isinstance(row, BadRow):
            yield row
        elif row[1]:
            yield _row(row[1], row[0])


class CSVReader(Protocol):
    """What ``csv.reader`` gives: rows, and the line the last one ended on."""

    @property
    def line_num(self) -> int: ...
    def __next__(self) -> list[str]: ...


def read_header(reader: CSVReader, source: str, expected: str) -> list[str]:
    """The first row of a CSV file; an empty or unreadable one is ``InvalidInput``."""
    try:
        return next(reader)
    except StopIteration:
        raise InvalidInput(f"{source} is empty; expected {expected}") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise InvalidInput(f"{source} line 1: {_problem(error)}") from None


def numbered_rows(reader: CSVReader) -> Iterator[tuple[int, list[str]] | BadRow]:
    """Each row after the header with the line it starts on (a quoted field may span
    lines). A row that is not CSV or not UTF-8 ends the file as one ``BadRow``."""
    line = reader.line_num + 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as error:
            yield BadRow(line, _problem(error))
            return
        yield line, fields
        line = reader.line_num + 1


def _problem(error: Exception) -> str:
    return "not UTF-8 text" if isinstance(error, UnicodeDecodeError) else str(error)


def _row(fields: list[str], line: int) -> ImportRow | BadRow:
    if len(fields) != len(HEADER):
        return BadRow(line, f"expected {len(HEADER)} fields, got {len(fields)}")
    participant, target, outcome, at, key, note = (f.strip() for f in fields)
    if not at:
        return BadRow(line, "'at' is required in an import")
    return ImportRow(
        line=line,
        participant=participant,
        target=target,
        outcome=outcome,
        at=at,
        key=key or derived_key(participant, target, outcome, at, note or None),
        note=note or None,
    )
