"""Reading a lab portal's export through a mapping file: one row per analyte per specimen.

The header must hold every column the mapping names (others are ignored). Each row
becomes a ``LabRow`` in the shipped vocabulary, or a ``BadRow`` naming its line and
the one thing wrong with it. Rows with every field empty (what Excel leaves after the
data, ``,,,,``) are skipped, as are rows whose analyte the mapping ignores and, with
a status column, rows that are not final. With ``[identity] ids`` the participant column
is the lab's patient identifier, and rows of patients it does not list are not in CM.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from typing import IO

import attrs

from ..domain.analytes import LabResult
from ..domain.lab_map import IGNORE, LabMap, parse_collected
from ..errors import InvalidInput
from .lab_file import BadRow, numbered_rows, read_header


@attrs.frozen
class LabRow:
    """One analyte result of one specimen, read from a lab export."""

    line: int
    participant: str
    specimen: str
    """The lab's accession number."""
    collected: dt.datetime
    """As the lab wrote it: naive (read in the program's zone) unless the format has an offset."""
    analyte: str
    """A stable analyte name."""
    result: LabResult


@attrs.frozen
class NotInCM:
    """A row about a patient the mapping's ``[identity] ids`` does not list: someone the
    lab serves who is not in contingency management. Skipped and counted; nothing of it
    is kept or shown."""

    line: int
    specimen: str
    """The accession, to count the specimen once."""


def read_lab_file(
    file: IO[str], lab_map: LabMap, source: str
) -> Iterator[LabRow | BadRow | NotInCM]:
    """Stream the rows of a lab export through ``lab_map``.

    The participant column holds the participant id, or, with ``[identity] ids``, the
    lab's patient identifier that file maps to one; a row whose identifier it does not
    list is ``NotInCM``. A bad row is yielded as ``BadRow`` (naming its specimen when the
    row says) so the other specimens can still be applied.
    Raises ``InvalidInput`` at once for a header without a mapped column. Rules:
    docs/design.md section 3.6.
    """
    if not lab_map.has_columns:
        raise InvalidInput(
            f"{source}: the mapping {lab_map.source} has no [columns] to read a CSV export with"
        )
    reader = csv.reader(file)
    header = [h.strip() for h in read_header(reader, source, "a header row")]
    missing = [c for c in lab_map.columns if c not in header]
    if missing:
        raise InvalidInput(
            f"{source} line 1: no column {', '.join(repr(c) for c in missing)}"
            f" (mapping {lab_map.source}; the header has {', '.join(header)})"
        )
    where = {column: header.index(column) for column in lab_map.columns}
    for numbered in numbered_rows(reader):
        if isinstance(numbered, BadRow):
            yield numbered
            continue
        line, fields = numbered
        if any(f.strip() for f in fields):  # Excel's all-empty rows are not rows
            row = _row(fields, where, lab_map, line)
            if row is not None:
                yield row


def _row(
    fields: list[str], where: dict[str, int], lab_map: LabMap, line: int
) -> LabRow | BadRow | NotInCM | None:
    if len(fields) <= max(where.values()):
        return BadRow(
            line, f"expected at least {max(where.values()) + 1} fields, got {len(fields)}"
        )

    def field(column: str) -> str:
        return fields[where[column]].strip()

    if lab_map.status is not None and not lab_map.is_final(field(lab_map.status)):
        return None
    analyte_word = field(lab_map.analyte)
    analyte = lab_map.analyte_of(analyte_word)
    if analyte == IGNORE:
        return None
    for column in (lab_map.participant, lab_map.specimen):
        if not field(column):
            return BadRow(line, f"{column} is empty")
    participant = lab_map.identity.participant_for(field(lab_map.participant))
    if participant is None:
        return NotInCM(line, field(lab_map.specimen))
    specimen = (participant, field(lab_map.specimen))
    if analyte is None:
        return BadRow(
            line,
            f"{lab_map.analyte} {analyte_word[:40]!r} is not a known analyte or LOINC code;"
            f" map it in [analytes] of {lab_map.source}",
            specimen,
        )
    result_word = field(lab_map.result)
    result = lab_map.result_of(result_word)
    if result is None:
        return BadRow(
            line,
            f"{lab_map.result} {result_word[:40]!r} is not a known result;"
            f" map it in [results] of {lab_map.source}",
            specimen,
        )
    try:
        collected = parse_collected(field(lab_map.collected), lab_map)
    except InvalidInput as error:
        return BadRow(line, str(error), specimen)
    return LabRow(
        line=line,
        participant=participant,
        specimen=specimen[1],
        collected=collected,
        analyte=analyte,
        result=result,
    )
