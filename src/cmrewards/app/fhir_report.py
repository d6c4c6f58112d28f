"""One lab report from FHIR R4 resources: the Observations of one specimen, and whose they are.

``app/fhir.py`` finds which resources make each report (a ``DiagnosticReport`` and its
results, or Observations sharing a specimen and a status); this module reads them into a
``LabReport``: each Observation's status, analyte and result, and the report's
participant, accession and collection time, by the rules of docs/design.md section 3.12.
Nothing about the person is read beyond the one identifier ``[identity] system`` names,
and no fault echoes an identifier, a date or a name.
"""

from __future__ import annotations

import datetime as dt

import attrs

from ..domain.analytes import LabResult
from ..domain.lab_map import IGNORE, LabMap
from ..domain.lab_reports import LabReport, ReportedAnalyte, ResultStatus
from ..errors import InvalidInput
from .fhir_json import Document, Fault, Node, Resource, SubjectNotInCM, date_time, specimen_id

LOINC = "http://loinc.org"

STATUSES = {
    "preliminary": ResultStatus.PRELIMINARY,
    "final": ResultStatus.FINAL,
    "corrected": ResultStatus.CORRECTED,
    "amended": ResultStatus.CORRECTED,
    "entered-in-error": ResultStatus.ENTERED_IN_ERROR,
    "cancelled": ResultStatus.CANCELLED,
}
"""R4 ``ObservationStatus`` codes and what each does to the record."""

NOT_YET = "registered"
"""The status of an Observation with no result yet: skipped, the result comes later."""

WITHDRAWING = ("entered-in-error", "cancelled")
"""``DiagnosticReport.status`` codes that withdraw every result of the report."""


@attrs.frozen
class Unit:
    """The resources of one report: a DiagnosticReport and its Observations, or
    Observations of one specimen and status."""

    report: Resource | None
    observations: tuple[Resource, ...]

    @property
    def line(self) -> int:
        first = self.report or self.observations[0]
        return first.node.line


def report_of(unit: Unit, document: Document, lab_map: LabMap) -> LabReport | None:
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
    unit: Unit, observations: list[Resource], document: Document, lab_map: LabMap
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
        if patient is None and identifier is not None and identifier.text("system"):
            # Named by another system's identifier alone (another clinic's MRN): not in CM.
            # One without a system could be anyone's (a mapping's typo): refused below.
            raise SubjectNotInCM(
                subject.path,
                f"its identifier is not of system {system} ([identity] system of {lab_map.source})",
                subject.line,
            )
        if patient is None:
            raise subject.fail(
                f"has no identifier with system {system} ([identity] system of"
                f" {lab_map.source}), and the Patient it references is not in the file"
            )
        if patient.type != "Patient":
            raise subject.fail(f"must be a Patient, not a {patient.type}")
        value = _patient_identifier(patient, str(system))
        if value is None:
            raise SubjectNotInCM(
                patient.node.path,
                f"no identifier has system {system} ([identity] system of {lab_map.source})",
                patient.node.line,
            )
    participant = lab_map.identity.participant_for(str(value))
    if participant is None:
        # The identifier may be a medical record number: it is not echoed.
        raise SubjectNotInCM(
            subject.path,
            f"the participant's identifier (system {system}) is not in the ids file of"
            f" {lab_map.source}",
            subject.line,
        )
    return participant


def _patient_identifier(patient: Resource, system: str) -> str | None:
    for identifier in patient.node.items("identifier"):
        if identifier.text("system") == system and identifier.text("use") != "old":
            value = identifier.text("value")
            if value is not None:
                return value
    return None


def _specimen(unit: Unit, document: Document) -> tuple[Resource | None, Node | None]:
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
    unit: Unit, observations: list[Resource], specimen: Resource | None, reference: Node | None
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


def _collected(unit: Unit, observations: list[Resource], specimen: Resource | None) -> dt.datetime:
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
