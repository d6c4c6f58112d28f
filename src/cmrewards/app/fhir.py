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
  NDJSON file, or contained), through the ``ids`` map when one is configured;
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

import datetime as dt
import json
from collections.abc import Iterator
from typing import IO

import attrs

from ..domain.analytes import LabResult
from ..domain.lab_map import IGNORE, LabMap
from ..domain.lab_reports import LabMessage, LabReport, ReportedAnalyte, ResultStatus
from ..errors import InvalidInput
from .fhir_json import Document, Fault, Node, Resource, date_time, resource_of, specimen_id
from .lab_file import BadRow

LOINC = "http://loinc.org"

BUNDLE_TYPES = ("collection", "transaction", "batch", "searchset")
"""The Bundles that carry resources to read (not a history, document or message)."""

STATUSES = {
    "preliminary": ResultStatus.PRELIMINARY,
    "final": ResultStatus.FINAL,
    "corrected": ResultStatus.CORRECTED,
    "amended": ResultStatus.CORRECTED,
    "entered-in-error": ResultStatus.ENTERED_IN_ERROR,
    "cancelled": ResultStatus.CANCELLED,
}
"""R4 ``ObservationStatus`` codes and what each does to the record."""

RESULTS = ("Observation", "DiagnosticReport")
"""The resources a result is read from; a Bundle holds them, other resources support them."""

NOT_YET = "registered"
"""The status of an Observation with no result yet: skipped, the result comes later."""

WITHDRAWING = ("entered-in-error", "cancelled")
"""``DiagnosticReport.status`` codes that withdraw every result of the report."""


def read_fhir_messages(
    file: IO[str], lab_map: LabMap, source: str
) -> Iterator[LabMessage | BadRow]:
    """The lab messages of a FHIR file: one JSON document, or NDJSON (one resource a line).

    A document is one ``LabMessage`` (position ``line 1``); an NDJSON file gives one per
    report, at the line of its first resource (the file is read whole first, to resolve
    references between lines). A fault is yielded as a ``BadRow`` with the line and the
    JSON path (``Bundle.entry[3].resource.code: ...``); the messages before it can still
    be applied. A document with no result to apply (every Observation ``registered``)
    gives nothing. Raises ``InvalidInput`` at once for a mapping without
    ``[identity] system``, a file that is empty or not UTF-8.
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
    if message.reports:
        yield message


def parse_fhir_message(text: str, lab_map: LabMap, position: str) -> LabMessage:
    """One JSON document (an Observation, a DiagnosticReport or a Bundle) as a message at
    ``position`` (``line 1``, ``request 7``), read as ``read_fhir_messages`` reads one.

    The message has no reports when nothing in it is to be applied yet. Raises
    ``InvalidInput`` naming the position and the JSON path of the first fault.
    """
    _check_mapping(lab_map, position)
    try:
        return _document(_loads(text, 1), lab_map, 1, position)
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


def _document(data: object, lab_map: LabMap, line: int, position: str = "") -> LabMessage:
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
    reports = (_report(unit, document, lab_map) for unit in _units(document))
    return LabMessage(tuple(r for r in reports if r is not None), position or f"line {line}")


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
    work: list[tuple[int, _Unit | object]] = [(u.line, u) for u in units]
    for number, item in sorted([*work, *bundles], key=lambda pair: pair[0]):
        try:
            if isinstance(item, _Unit):
                report = _report(item, document, lab_map)
                message = LabMessage(() if report is None else (report,), f"line {number}")
            else:
                message = _document(item, lab_map, number)
        except Fault as fault:
            yield BadRow(fault.line, str(fault))
            return
        except InvalidInput as error:
            yield BadRow(number, str(error))
            return
        if message.reports:
            yield message


@attrs.frozen
class _Unit:
    """The resources of one report: a DiagnosticReport and its Observations, or
    Observations of one specimen and status."""

    report: Resource | None
    observations: tuple[Resource, ...]

    @property
    def line(self) -> int:
        first = self.report or self.observations[0]
        return first.node.line


def _units(document: Document) -> list[_Unit]:
    """Every report of the document, in order of where it starts."""
    placed: list[tuple[tuple[int, int], _Unit]] = []
    claimed: set[tuple[int, str]] = set()
    ordered = list(enumerate(document.resources))
    for index, resource in ordered:
        if resource.type == "DiagnosticReport":
            members = _results(resource, document, claimed)
            placed.append(((resource.node.line, index), _Unit(resource, tuple(members))))
    for index, resource in ordered:
        if _is_grouping(resource) and resource.key not in claimed:
            members = _members(resource, document, claimed)
            placed.append(((resource.node.line, index), _Unit(None, tuple(members))))
    groups: dict[object, tuple[tuple[int, int], list[Resource]]] = {}
    for index, resource in ordered:
        if resource.type != "Observation" or resource.key in claimed:
            continue
        group = (_specimen_key(resource, document), resource.node.text("status"))
        if group[0] is None:
            group = (resource.key, None)
        groups.setdefault(group, ((resource.node.line, index), []))[1].append(resource)
    for where, members in groups.values():
        placed.append((where, _Unit(None, tuple(members))))
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


def _results(report: Resource, document: Document, claimed: set[tuple[int, str]]) -> list[Resource]:
    found: list[Resource] = []
    for reference in report.node.items("result"):
        found.extend(_observation(reference, report, document, claimed))
    return found


def _members(panel: Resource, document: Document, claimed: set[tuple[int, str]]) -> list[Resource]:
    claimed.add(panel.key)
    found: list[Resource] = []
    for reference in panel.node.items("hasMember"):
        found.extend(_observation(reference, panel, document, claimed))
    return found


def _observation(
    reference: Node, source: Resource, document: Document, claimed: set[tuple[int, str]]
) -> list[Resource]:
    target = document.resolve(reference, source)
    if target is None:
        raise reference.fail(
            "is not in the file: contain the Observation, or send it in the same Bundle"
        )
    if target.type != "Observation":
        raise reference.fail(f"must reference an Observation, not a {target.type}")
    if target.key in claimed:
        return []  # a result listed twice, or a panel member listed beside its panel
    if _is_grouping(target):
        return _members(target, document, claimed)
    claimed.add(target.key)
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


def _report(unit: _Unit, document: Document, lab_map: LabMap) -> LabReport | None:
    """The report ``unit`` makes, or None when nothing in it is to be applied yet."""
    withdrawn: ResultStatus | None = None
    if unit.report is not None:
        status = unit.report.node.text("status", required=True)
        if status in WITHDRAWING:
            withdrawn = STATUSES[str(status)]
    analytes: dict[str, tuple[ReportedAnalyte, Resource]] = {}
    kept: list[Resource] = []
    for observation in unit.observations:
        status = _status(observation)
        if status is None:
            continue
        name = _analyte(observation, lab_map)
        if name == IGNORE:
            continue
        status = withdrawn or status
        item = ReportedAnalyte(name, _result(observation, lab_map, status), status)
        if name in analytes and analytes[name][0] != item:
            raise observation.node.fail(
                f"reports {name} differently from {analytes[name][1].node.path}"
                " of the same specimen; send one result per analyte"
            )
        analytes[name] = (item, observation)
        kept.append(observation)
    if not analytes:
        return None
    specimen, reference = _specimen(unit, document)
    return LabReport(
        participant=_participant(unit, kept, document, lab_map),
        accession=_accession(unit, kept, specimen, reference),
        collected=_collected(unit, kept, specimen),
        analytes=tuple(item for item, _ in analytes.values()),
    )


def _status(observation: Resource) -> ResultStatus | None:
    word = observation.node.text("status", required=True)
    if word == NOT_YET:
        return None
    status = STATUSES.get(str(word))
    if status is None:
        raise Fault(
            f"{observation.node.path}.status",
            f"{str(word)[:40]!r} is not applied: expected {', '.join(STATUSES)}"
            f" ({NOT_YET} is skipped)",
            observation.node.line,
        )
    return status


def _analyte(observation: Resource, lab_map: LabMap) -> str:
    code = observation.node.obj("code", required=True)
    assert code is not None
    codings = code.items("coding")
    loinc_first = sorted(codings, key=lambda c: c.text("system") != LOINC)
    tried: list[str] = []
    for coding in loinc_first:
        word = coding.text("code")
        if word is None:
            continue
        found = lab_map.analyte_of(word)
        if found is not None:
            return found
        tried.append(f"{coding.text('system') or 'no system'} {word[:40]}")
    text = code.text("text")
    if text is not None:
        found = lab_map.analyte_of(text)
        if found is not None:
            return found
        tried.append(f"text {text[:40]!r}")
    raise code.fail(
        f"no coding is a known analyte or LOINC code ({'; '.join(tried) or 'no code'});"
        f" map it in [analytes] of {lab_map.source}"
    )


def _result(observation: Resource, lab_map: LabMap, status: ResultStatus) -> LabResult | None:
    try:
        return _value(observation.node, lab_map)
    except InvalidInput:
        if status.withdrawn:
            return None  # a withdrawn result need not repeat (or read) its value
        raise


def _value(node: Node, lab_map: LabMap) -> LabResult:
    concept = node.obj("valueCodeableConcept")
    if concept is not None:
        return _concept(concept, lab_map)
    string = node.text("valueString")
    if string is not None:
        result = lab_map.result_of(string)
        if result is None:
            raise _unknown(f"{node.path}.valueString", [repr(string[:40])], node, lab_map)
        return result
    interpretations = node.items("interpretation")
    words: list[str] = []
    for interpretation in interpretations:
        try:
            return _concept(interpretation, lab_map)
        except Fault:
            words.extend(_words(interpretation))
    if interpretations:
        raise _unknown(f"{node.path}.interpretation", words, node, lab_map)
    raise node.fail("has no result: valueCodeableConcept, valueString or interpretation")


def _concept(concept: Node, lab_map: LabMap) -> LabResult:
    for word in _words(concept):
        result = lab_map.result_of(word)
        if result is not None:
            return result
    raise _unknown(concept.path, [repr(w[:40]) for w in _words(concept)], concept, lab_map)


def _words(concept: Node) -> list[str]:
    """A CodeableConcept's codes and displays, then its text."""
    words = [
        word
        for coding in concept.items("coding")
        for word in (coding.text("code"), coding.text("display"))
        if word is not None
    ]
    text = concept.text("text")
    return [*words, text] if text is not None else words


def _unknown(path: str, words: list[str], node: Node, lab_map: LabMap) -> Fault:
    return Fault(
        path,
        f"not a known result ({', '.join(words[:4]) or 'empty'});"
        f" map it in [results] of {lab_map.source}",
        node.line,
    )


def _participant(
    unit: _Unit, observations: list[Resource], document: Document, lab_map: LabMap
) -> str:
    found: dict[str, Node] = {}
    for source in [*([unit.report] if unit.report else []), *observations]:
        subject = source.node.obj("subject")
        if subject is not None:
            found.setdefault(_subject(subject, source, document, lab_map), subject)
    if not found:
        raise (unit.report or observations[0]).node.fail(
            "subject is required: the participant, by identifier or Patient reference"
        )
    if len(found) > 1:
        raise list(found.values())[1].fail("names another participant than the rest of the report")
    return next(iter(found))


def _subject(subject: Node, source: Resource, document: Document, lab_map: LabMap) -> str:
    system = lab_map.identity.system
    identifier = subject.obj("identifier")
    if identifier is not None and identifier.text("system") == system:
        value = identifier.text("value", required=True)
    else:
        patient = document.resolve(subject, source)
        if patient is None:
            raise subject.fail(
                f"has no identifier with system {system} ([identity] system of"
                f" {lab_map.source}), and the Patient it references is not in the file"
            )
        if patient.type != "Patient":
            raise subject.fail(f"must be a Patient, not a {patient.type}")
        value = _patient_identifier(patient, str(system))
        if value is None:
            raise patient.node.fail(
                f"no identifier has system {system} ([identity] system of {lab_map.source})"
            )
    participant = lab_map.identity.participant_for(str(value))
    if participant is None:
        # The identifier may be a medical record number: it is not echoed.
        raise subject.fail(
            f"the participant's identifier (system {system}) is not in the ids file of"
            f" {lab_map.source}"
        )
    return participant


def _patient_identifier(patient: Resource, system: str) -> str | None:
    for identifier in patient.node.items("identifier"):
        if identifier.text("system") == system and identifier.text("use") != "old":
            value = identifier.text("value")
            if value is not None:
                return value
    return None


def _specimen(unit: _Unit, document: Document) -> tuple[Resource | None, Node | None]:
    """The specimen the report is about, when the file has it, and the reference to it."""
    references: list[tuple[Node, Resource]] = []
    if unit.report is not None:
        references = [(ref, unit.report) for ref in unit.report.node.items("specimen")]
        if len(references) > 1:
            raise references[1][0].fail("a report of two specimens: send one report each")
    if not references:
        references = [(ref, obs) for obs in unit.observations if (ref := obs.node.obj("specimen"))][
            :1
        ]
    if not references:
        return None, None
    reference, source = references[0]
    specimen = document.resolve(reference, source)
    if specimen is not None and specimen.type != "Specimen":
        raise reference.fail(f"must reference a Specimen, not a {specimen.type}")
    return specimen, reference


def _accession(
    unit: _Unit, observations: list[Resource], specimen: Resource | None, reference: Node | None
) -> str:
    if specimen is not None:
        accession = specimen.node.obj("accessionIdentifier")
        value = None if accession is None else accession.text("value")
        if value is not None:
            return value
    if unit.report is not None:
        for identifier in unit.report.node.items("identifier"):
            value = identifier.text("value")
            if value is not None:
                return value
    if reference is not None:
        named = reference.obj("identifier")
        value = None if named is None else named.text("value")
        if value is None:
            value = specimen_id(reference.text("reference"))
        if value is not None:
            return value
    raise (unit.report or observations[0]).node.fail(
        "no accession number: send the Specimen with its accessionIdentifier, the"
        " DiagnosticReport with an identifier, or a specimen reference"
    )


def _collected(unit: _Unit, observations: list[Resource], specimen: Resource | None) -> dt.datetime:
    if specimen is not None:
        collection = specimen.node.obj("collection")
        at = None if collection is None else date_time(collection, "collectedDateTime")
        if at is not None:
            return at
    if unit.report is not None:
        at = date_time(unit.report.node, "effectiveDateTime")
        if at is not None:
            return at
    found: dt.datetime | None = None
    for observation in observations:
        at = date_time(observation.node, "effectiveDateTime") or date_time(
            observation.node, "effectiveInstant"
        )
        if at is not None and found is not None and at != found:
            raise observation.node.fail(
                "effectiveDateTime differs from the other results of the same specimen"
            )
        found = found or at
    if found is None:
        raise (unit.report or observations[0]).node.fail(
            "no collection time: Specimen.collection.collectedDateTime or effectiveDateTime"
        )
    return found
