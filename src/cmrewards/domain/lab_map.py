"""Mapping files: how one lab's export says what cmrewards needs.

A lab portal exports one row per analyte per specimen, with its own column names,
date format and words. A mapping file (TOML) says which column holds what, how
times are written, and what the lab's result and analyte words mean; the shipped
vocabulary (``domain/analytes.py``) already knows the common spellings and LOINC
codes, so a mapping lists only what that lab says differently::

    time_format = "%m/%d/%Y %H:%M"      # datetime.strptime; no offset = the program's zone
    targets = ["stimulant-negative"]    # optional: default every target with analytes
    final_statuses = ["F", "C"]         # only with columns.status: other rows are skipped

    [columns]
    participant = "Patient ID"
    specimen = "Specimen ID"
    collected = "Collected"
    analyte = "Analyte"
    result = "Result"
    # status = "Status"

    [results]                           # lab word = negative, positive, dilute, ...
    "Neg." = "negative"

    [analytes]                          # lab word or code = analyte name, or "ignore"
    "COC-S" = "cocaine"
    "Creatinine" = "ignore"

HL7 v2 messages and FHIR resources name their fields by the standard, so a mapping
for them needs no ``[columns]``; it says which identifier is the participant id::

    [identity]
    assigning_authority = "CMCLINIC"    # HL7: the PID-3 identifier with this CX-4
    system = "urn:example:cm"           # FHIR: the subject identifier with this system
    # ids = "ids.csv"                   # or an explicit map: identifier,participant

Every error names the file and the key, as program files do.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from ..errors import InvalidInput
from .analytes import LabResult, analyte, analyte_for, analyte_names, result_for

IGNORE = "ignore"
"""What ``[analytes]`` maps a lab word to when its rows are to be skipped."""

COLUMNS = ("participant", "specimen", "collected", "analyte", "result")
"""The columns a mapping must name; ``status`` is optional."""


@attrs.frozen
class Identity:
    """Which identifier in a message is the participant id (``[identity]``).

    Messages from a lab or an EHR name the person by several identifiers (medical record
    number, insurance number ...) beside their name and birth date. Only the one the
    clinic configures is read; the rest is dropped unread.
    """

    assigning_authority: str | None = None
    """HL7 v2: the PID-3 repetition whose assigning authority (CX-4, its first
    component) is this."""
    system: str | None = None
    """FHIR: the ``Identifier.system`` of the subject's (or ``Patient``'s) identifier."""
    ids: Mapping[str, str] = attrs.field(factory=dict)
    """An explicit map from that identifier to the participant id (``ids`` file); empty
    when the identifier is the participant id itself."""

    def participant_for(self, identifier: str) -> str | None:
        """The participant id ``identifier`` stands for; None when an ``ids`` map is
        configured and does not list it."""
        if not self.ids:
            return identifier
        return self.ids.get(identifier)


@attrs.frozen
class LabMap:
    """One lab's format, as its mapping file describes it."""

    participant: str = ""
    """The column of the participant id ("" when the mapping has no ``[columns]``)."""
    specimen: str = ""
    """The column of the specimen's accession number."""
    collected: str = ""
    """The column of the collection time."""
    analyte: str = ""
    result: str = ""
    status: str | None = None
    """The column of the result status (preliminary, final, corrected), if any."""
    identity: Identity = Identity()
    """How HL7 and FHIR messages name the participant (``[identity]``)."""
    final_statuses: tuple[str, ...] = ()
    """With ``status``: the statuses whose rows are applied; other rows are skipped."""
    time_format: str = "%Y-%m-%d %H:%M"
    """``datetime.strptime`` format; a time without an offset is in the program's zone."""
    results: Mapping[str, LabResult] = attrs.field(factory=dict)
    """The lab's result words (casefolded) beyond the shipped spellings."""
    analytes: Mapping[str, str | None] = attrs.field(factory=dict)
    """The lab's analyte words or codes (casefolded) to analyte names; None = skip."""
    targets: tuple[str, ...] = ()
    """The targets the specimens decide; empty for every target with ``analytes``."""
    source: str = "mapping"
    """The file, for messages."""

    @property
    def has_columns(self) -> bool:
        """The mapping can read a CSV export (it has ``[columns]``)."""
        return bool(self.participant)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the export must have (none without ``[columns]``)."""
        if not self.has_columns:
            return ()
        named = (self.participant, self.specimen, self.collected, self.analyte, self.result)
        return named if self.status is None else (*named, self.status)

    def result_of(self, word: str) -> LabResult | None:
        text = word.strip()
        return self.results.get(text.casefold()) or result_for(text)

    def analyte_of(self, word: str) -> str | None:
        """The analyte name ``word`` means, ``IGNORE`` for a skipped one, None if unknown."""
        text = word.strip()
        key = text.casefold()
        if key in self.analytes:
            return self.analytes[key] or IGNORE
        known = analyte_for(text)
        return None if known is None else known.name

    def is_final(self, status: str) -> bool:
        return self.status is None or status.strip().casefold() in {
            s.casefold() for s in self.final_statuses
        }


def lab_map_from_dict(data: object, source: str, *, ids: Mapping[str, str] | None = None) -> LabMap:
    """A ``LabMap`` from the data of a mapping file (README, "Specimens, panels and mapping
    files"), validated. ``source`` names the file in errors; ``ids`` is the content of the
    ``identity.ids`` file (``load_lab_map`` reads it), required when that key is set.
    Raises ``InvalidInput`` for an unknown key or a bad value, naming the file and the
    key."""

    def fail(key: str, problem: str) -> InvalidInput:
        return InvalidInput(f"{source}: {key}: {problem}")

    if not isinstance(data, Mapping):
        raise fail("file", "must be a table")
    data = dict(data)
    columns = _table(data.pop("columns", None), source, "columns")
    names: dict[str, str] = {}
    for key in (*COLUMNS, "status") if columns else ():
        value = columns.pop(key, None)
        if value is None:
            if key != "status":
                raise fail(f"columns.{key}", "is required (the header of that column)")
            continue
        if not isinstance(value, str) or not value.strip():
            raise fail(f"columns.{key}", "must be a column header")
        names[key] = value.strip()
    if columns:
        raise fail(f"columns.{sorted(columns)[0]}", "unknown key")

    time_format = data.pop("time_format", "%Y-%m-%d %H:%M")
    if not isinstance(time_format, str) or "%" not in time_format:
        raise fail("time_format", "must be a datetime.strptime format, e.g. '%m/%d/%Y %H:%M'")
    finals = _words(data.pop("final_statuses", []), source, "final_statuses")
    if finals and "status" not in names:
        raise fail("final_statuses", "needs columns.status")
    if "status" in names and not finals:
        raise fail("final_statuses", "must list the statuses to apply when columns.status is set")
    targets = _words(data.pop("targets", []), source, "targets")

    results: dict[str, LabResult] = {}
    allowed = ", ".join(str(r) for r in LabResult)
    for word, meaning in _table(data.pop("results", None), source, "results").items():
        try:
            results[word.strip().casefold()] = LabResult(str(meaning))
        except ValueError:
            raise fail(f"results.{word}", f"{meaning!r} is not one of {allowed}") from None

    analytes: dict[str, str | None] = {}
    known = ", ".join(analyte_names())
    for word, name in _table(data.pop("analytes", None), source, "analytes").items():
        if name == IGNORE:
            analytes[word.strip().casefold()] = None
        elif isinstance(name, str) and analyte(name) is not None:
            analytes[word.strip().casefold()] = name
        else:
            raise fail(
                f"analytes.{word}",
                f"{name!r} is not an analyte ({known}) or {IGNORE!r}",
            )
    identity = _identity(_table(data.pop("identity", None), source, "identity"), ids, fail)
    if not names and identity == Identity():
        raise fail("columns", "a mapping needs [columns] (a CSV export) or [identity] (HL7, FHIR)")
    if data:
        raise fail(sorted(data)[0], "unknown key")
    return LabMap(
        participant=names.get("participant", ""),
        specimen=names.get("specimen", ""),
        collected=names.get("collected", ""),
        analyte=names.get("analyte", ""),
        result=names.get("result", ""),
        status=names.get("status"),
        identity=identity,
        final_statuses=finals,
        time_format=time_format,
        results=results,
        analytes=analytes,
        targets=targets,
        source=source,
    )


def _identity(
    table: dict[str, object],
    ids: Mapping[str, str] | None,
    fail: Callable[[str, str], InvalidInput],
) -> Identity:
    words: dict[str, str] = {}
    for key in ("assigning_authority", "system", "ids"):
        value = table.pop(key, None)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise fail(f"identity.{key}", "must be a non-empty string")
        words[key] = value.strip()
    if table:
        raise fail(f"identity.{sorted(table)[0]}", "unknown key")
    if "ids" in words and not ids:
        raise fail("identity.ids", "the identifier map is empty")
    return Identity(
        assigning_authority=words.get("assigning_authority"),
        system=words.get("system"),
        ids=dict(ids or {}) if "ids" in words else {},
    )


def _table(value: object, source: str, key: str, *, required: bool = False) -> dict[str, object]:
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{source}: {key}: must be a [{key}] table")
    return dict(value)


def _words(value: object, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInput(f"{source}: {key}: must be a list of strings")
    return tuple(v.strip() for v in value)


def lab_map_from_toml(text: str, source: str, *, ids: Mapping[str, str] | None = None) -> LabMap:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"{source}: not valid TOML: {error}") from None
    return lab_map_from_dict(data, source, ids=ids)


def load_lab_map(path: str | Path) -> LabMap:
    """Read and validate a mapping file (as ``lab_map_from_dict``).

    ``identity.ids`` names a CSV file (``identifier,participant`` header), relative to the
    mapping file. Raises ``InvalidInput`` for a file that cannot be read, is not TOML, or
    is not a valid mapping, and for an ids file that cannot be read or repeats an
    identifier (whose value the message leaves out: it may be a medical record number).
    """
    file = Path(path)
    text = _read(file, "mapping file")
    try:
        ids_name = tomllib.loads(text).get("identity", {}).get("ids")
    except (tomllib.TOMLDecodeError, AttributeError):
        ids_name = None  # lab_map_from_toml names the fault
    ids = _read_ids(file.parent / ids_name, str(file)) if isinstance(ids_name, str) else None
    return lab_map_from_toml(text, str(file), ids=ids)


def _read(file: Path, what: str) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{file}: cannot read {what} ({error.__class__.__name__})") from None


def _read_ids(file: Path, source: str) -> dict[str, str]:
    rows = list(csv.reader(io.StringIO(_read(file, "identifier map"))))
    if not rows or [h.strip() for h in rows[0]] != ["identifier", "participant"]:
        raise InvalidInput(f"{file} line 1: the header must be identifier,participant")
    ids: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(f.strip() for f in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise InvalidInput(f"{file} line {line}: expected identifier,participant")
        identifier = row[0].strip()
        if identifier in ids:
            raise InvalidInput(f"{file} line {line}: this identifier is listed twice")
        ids[identifier] = row[1].strip()
    return ids


def parse_collected(text: str, lab_map: LabMap) -> dt.datetime:
    """A collection time as the lab wrote it (naive unless the format has an offset)."""
    try:
        return dt.datetime.strptime(text.strip(), lab_map.time_format)
    except ValueError:
        raise InvalidInput(
            f"{lab_map.collected} {text.strip()[:40]!r} does not match the time format"
            f" {lab_map.time_format!r}"
        ) from None
