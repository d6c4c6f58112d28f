"""Reading FHIR R4 lab results from an EHR: Observations, DiagnosticReports, Bundles, NDJSON.

A file holds one JSON document — an ``Observation``, a ``DiagnosticReport`` (its
``result`` Observations contained in it), or a ``Bundle`` of type ``collection``,
``transaction``, ``batch`` or ``searchset`` — or a bulk-export NDJSON file, one resource
a line. Each is read into ``LabMessage``s (``domain/lab_reports.py``):

- a document is one message (applied in one transaction); an NDJSON file is one message
  per report, in order of the report's first line;
- one ``LabReport`` per ``DiagnosticReport`` (its ``result`` Observations, a grouping
  Observation's ``hasMember`` expanded); Observations no report claims are grouped by
  their ``specimen`` reference and ``status``, one report per group, so a preliminary
  and its correction in one file stay two messages, in file order;
- one ``ReportedAnalyte`` per Observation, its analyte from ``code`` (LOINC codings
  first, then the other codings and ``code.text``, through the mapping's ``[analytes]``
  and the shipped vocabulary), its result from ``valueCodeableConcept`` (each coding's
  code and display, then its text), ``valueString`` or ``interpretation``, through
  ``[results]`` and the shipped spellings;
- status (R4 ``ObservationStatus``): ``preliminary``, ``final``, ``corrected`` and
  ``amended`` (a correction), ``entered-in-error``, ``cancelled``; ``registered`` (no
  result yet) is skipped; ``unknown`` and anything else is refused. A
  ``DiagnosticReport`` that is ``entered-in-error`` or ``cancelled`` withdraws every
  result in it;
- the participant: the subject's ``identifier`` with the mapping's ``[identity] system``,
  else that identifier of the ``Patient`` the subject references (in the Bundle, the
  NDJSON file, or contained), through the ``ids`` map when one is configured; a report
  whose patient has no such identifier, or one the ``ids`` map does not list, is about a
  patient outside CM: a file leaves it out and counts it (``LabMessage.not_in_cm``), a
  document sent alone (``parse_fhir_message``) is refused when every report is;
- the accession: the ``Specimen``'s ``accessionIdentifier``, else the
  ``DiagnosticReport.identifier``, else the specimen reference's ``identifier`` or
  ``Specimen/id``; the collection time: ``Specimen.collection.collectedDateTime``, else
  ``effectiveDateTime`` (report, then Observations, which must agree), with its offset.

Nothing else about the person is read: names, birth dates, addresses, telecom, other
identifiers and ``display`` texts are never copied into a message, an error or a log;
errors name the JSON path (``Bundle.entry[3].resource.code``) and the rule, never a
Patient's content. Rules and choices: docs/design.md section 3.12, docs/decisions.md
"Importing from an EHR (FHIR)".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO

from ..domain.lab_map import LabMap
from ..domain.lab_reports import LabMessage, LabReport
from ..errors import InvalidInput
from .fhir_json import Document, Fault, Node, Resource, SubjectNotInCM, resource_of
from .fhir_report import Unit, report_of
from .lab_file import BadRow

BUNDLE_TYPES = ("collection", "transaction", "batch", "searchset")
"""The Bundles that carry resources to read (not a history, document or message)."""

RESULTS = ("Observation", "DiagnosticReport")
"""The resources a result is read from; a Bundle holds them, other resources support them."""


def read_fhir_messages(
    file: IO[str], lab_map: LabMap, source: str
) -> Iterator[LabMessage | BadRow]:
    """The lab messages of a FHIR file: one JSON document, or NDJSON (one resource a line).

    A document is one ``LabMessage`` (position ``line 1``); an NDJSON file gives one per
    report, at the line of its first resource (the file is read whole first, to resolve
    references between lines). A fault is yielded as a ``BadRow`` with the line and the
    JSON path (``Bundle.entry[3].resource.code: ...``); in NDJSON the reports after it are
    still read, unless the line is not JSON. Reports about patients outside CM are left out
    and counted in ``LabMessage.not_in_cm`` (a message may hold only those). A document
    with no result to apply (every Observation ``registered``) gives nothing. Raises
    ``InvalidInput`` at once for a mapping without ``[identity] system``, a file that is
    empty or not UTF-8.
    """
    _check_mapping(lab_map, source)
    try:
        text = file.read().removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InvalidInput(f"{source}: not UTF-8 text") from None
    lines = text.splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise InvalidInput(f"{source} is empty; expected a FHIR resource, a Bundle or NDJSON")
    first = numbered[0][0]
    if len(numbered) > 1 and _one_object(numbered[0][1]):
        yield from _ndjson(numbered, lab_map)
        return
    try:
        message = _document(_loads(text, first), lab_map, first)
    except InvalidInput as error:
        yield BadRow(first, str(error))
        return
    if message.reports or message.not_in_cm:
        yield message


def parse_fhir_message(text: str, lab_map: LabMap, position: str) -> LabMessage:
    """One JSON document (an Observation, a DiagnosticReport or a Bundle) as a message at
    ``position`` (``line 1``, ``request 7``), read as ``read_fhir_messages`` reads one.

    The message has no reports when nothing in it is to be applied yet. Raises
    ``InvalidInput`` naming the position and the JSON path of the first fault.
    """
    _check_mapping(lab_map, position)
    try:
        return _document(_loads(text, 1), lab_map, 1, position, lenient=False)
    except InvalidInput as error:
        raise InvalidInput(f"{position}: {error}") from None


def _check_mapping(lab_map: LabMap, where: str) -> None:
    if lab_map.identity.system is None:
        raise InvalidInput(
            f"{where}: the mapping {lab_map.source} has no [identity] system: the FHIR"
            " identifier system of the participant id"
        )


def _one_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False


def _loads(text: str, line: int) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"not JSON: {error.msg} at line {error.lineno + line - 1} column {error.colno}"
        ) from None


def _root(data: object, line: int) -> Resource:
    kind = data.get("resourceType") if isinstance(data, dict) else None
    return resource_of(Node(data, kind if isinstance(kind, str) else "resource", line))


def _document(
    data: object, lab_map: LabMap, line: int, position: str = "", *, lenient: bool = True
) -> LabMessage:
    """The document's message; its reports about patients outside CM are left out and
    counted, unless every report is and it is not ``lenient`` (a document alone, sent to
    be applied): then the first of them is raised."""
    root = _root(data, line)
    if root.type == "Bundle":
        resources = list(_entries(root))
    elif root.type in RESULTS:
        resources = [root]
    else:
        raise root.node.fail(
            f"a {root.type} is not a lab result: expected an Observation, a DiagnosticReport"
            " or a Bundle of them"
        )
    document = Document(resources)
    reports: list[LabReport] = []
    outside: list[SubjectNotInCM] = []
    for unit in _units(document):
        try:
            report = report_of(unit, document, lab_map)
        except SubjectNotInCM as skipped:
            outside.append(skipped)
            continue
        if report is not None:
            reports.append(report)
    if outside and not reports and not lenient:
        raise outside[0]  # one document alone, about a patient outside CM: refused
    return LabMessage(tuple(reports), position or f"line {line}", not_in_cm=len(outside))


def _entries(bundle: Resource) -> Iterator[Resource]:
    kind = bundle.node.text("type", required=True)
    if kind not in BUNDLE_TYPES:
        raise Fault(
            f"{bundle.node.path}.type",
            f"type {str(kind)[:40]!r} is not read: send a {', '.join(BUNDLE_TYPES)} Bundle",
            bundle.node.line,
        )
    for entry in bundle.node.items("entry"):
        resource = entry.obj("resource")
        if resource is None:
            raise entry.fail("has no resource (a result must be sent, not requested or deleted)")
        yield resource_of(resource, full_url=entry.text("fullUrl"))


def _ndjson(numbered: list[tuple[int, str]], lab_map: LabMap) -> Iterator[LabMessage | BadRow]:
    resources: list[Resource] = []
    bundles: list[tuple[int, object]] = []
    for number, line in numbered:
        try:
            data = _loads(line, number)
            resource = _root(data, number)
        except InvalidInput as error:
            yield BadRow(number, str(error))
            return
        if resource.type == "Bundle":
            bundles.append((number, data))
        else:
            resources.append(resource)
    if not bundles and not any(r.type in RESULTS for r in resources):
        yield BadRow(numbered[0][0], "no Observation, DiagnosticReport or Bundle in the file")
        return
    document = Document(resources)
    try:
        units = _units(document)
    except Fault as fault:
        yield BadRow(fault.line, str(fault))
        return
    work: list[tuple[int, Unit | object]] = [(u.line, u) for u in units]
    for number, item in sorted([*work, *bundles], key=lambda pair: pair[0]):
        # Each report is its own message: a fault in one is refused, the rest are read.
        try:
            if isinstance(item, Unit):
                report = report_of(item, document, lab_map)
                message = LabMessage(() if report is None else (report,), f"line {number}")
            else:
                message = _document(item, lab_map, number)
        except SubjectNotInCM:
            message = LabMessage((), f"line {number}", not_in_cm=1)
        except Fault as fault:
            yield BadRow(fault.line, str(fault))
            continue
        except InvalidInput as error:
            yield BadRow(number, str(error))
            continue
        if message.reports or message.not_in_cm:
            yield message


Claims = dict[tuple[int, str], tuple[int, str]]
"""Each Observation a report has taken, and the report (or panel) that took it."""


def _units(document: Document) -> list[Unit]:
    """Every report of the document, in order of where it starts."""
    placed: list[tuple[tuple[int, int], Unit]] = []
    claimed: Claims = {}
    ordered = list(enumerate(document.resources))
    for index, resource in ordered:
        if resource.type == "DiagnosticReport":
            members = _results(resource, document, claimed)
            placed.append(((resource.node.line, index), Unit(resource, tuple(members))))
    for index, resource in ordered:
        if _is_grouping(resource) and resource.key not in claimed:
            members = _members(resource, resource, document, claimed)
            placed.append(((resource.node.line, index), Unit(None, tuple(members))))
    groups: dict[object, tuple[tuple[int, int], list[Resource]]] = {}
    for index, resource in ordered:
        if resource.type != "Observation" or resource.key in claimed:
            continue
        group = (_specimen_key(resource, document), resource.node.text("status"))
        if group[0] is None:
            group = (resource.key, None)
        groups.setdefault(group, ((resource.node.line, index), []))[1].append(resource)
    for where, members in groups.values():
        placed.append((where, Unit(None, tuple(members))))
    return [unit for _, unit in sorted(placed, key=lambda pair: pair[0])]


def _is_grouping(resource: Resource) -> bool:
    """A panel Observation: members in ``hasMember``, no value of its own."""
    fields = resource.node.value
    return (
        resource.type == "Observation"
        and isinstance(fields, dict)
        and resource.node.has("hasMember")
        and not any(key.startswith("value") for key in fields)
    )


def _results(report: Resource, document: Document, claimed: Claims) -> list[Resource]:
    found: list[Resource] = []
    for reference in report.node.items("result"):
        found.extend(_observation(reference, report, report, document, claimed))
    return found


def _members(
    panel: Resource, owner: Resource, document: Document, claimed: Claims
) -> list[Resource]:
    claimed[panel.key] = owner.key
    found: list[Resource] = []
    for reference in panel.node.items("hasMember"):
        found.extend(_observation(reference, panel, owner, document, claimed))
    return found


def _observation(
    reference: Node, source: Resource, owner: Resource, document: Document, claimed: Claims
) -> list[Resource]:
    target = document.resolve(reference, source)
    if target is None:
        raise reference.fail(
            "is not in the file: contain the Observation, or send it in the same Bundle"
        )
    if target.type != "Observation":
        raise reference.fail(f"must reference an Observation, not a {target.type}")
    if target.key in claimed:
        if claimed[target.key] != owner.key:
            raise reference.fail("is a result of another report too: send it in one report")
        return []  # listed twice in one report, or a panel member listed beside its panel
    if _is_grouping(target):
        return _members(target, owner, document, claimed)
    claimed[target.key] = owner.key
    return [target]


def _specimen_key(observation: Resource, document: Document) -> object:
    reference = observation.node.obj("specimen")
    if reference is None:
        return None
    specimen = document.resolve(reference, observation)
    if specimen is not None:
        return specimen.key
    identifier = reference.obj("identifier")
    value = None if identifier is None else identifier.text("value")
    return ("identifier", value) if value else ("reference", reference.text("reference"))
