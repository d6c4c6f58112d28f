"""Lab reports: what a lab or an EHR says about one specimen, whatever the format.

Every door a result comes through is read into these records before anything is
written: a lab export's rows (``app/lab_export.py``), an HL7 v2 ``ORU^R01`` (one
``OBR`` and its ``OBX`` segments per report) and FHIR R4 (a ``DiagnosticReport`` and
its ``Observation``s, or ``Observation``s sharing a ``Specimen``). The reader drops
what the message says about the person at the door: a ``LabReport`` holds the
pseudonymous participant id and nothing else about them.

Each analyte carries its result status, because statuses drive the record
(HL7 v2.5.1 Table 0085 "Observation result status", OBX-11; FHIR R4
``ObservationStatus``): a preliminary result is shown but not paid, a final one pays,
a corrected one corrects what was paid, and one entered in error (or cancelled)
takes it back.
"""

from __future__ import annotations

import datetime as dt
import enum

import attrs

from .analytes import LabResult


class ResultStatus(enum.StrEnum):
    """The status a lab gives one analyte result.

    HL7 v2 OBX-11 ``P`` / ``F`` / ``C`` / ``W`` / ``X``; FHIR ``preliminary``, ``final``,
    ``corrected`` or ``amended``, ``entered-in-error``, ``cancelled``.
    """

    PRELIMINARY = "preliminary"
    FINAL = "final"
    CORRECTED = "corrected"
    ENTERED_IN_ERROR = "entered-in-error"
    CANCELLED = "cancelled"

    @property
    def pays(self) -> bool:
        """A final or corrected result decides the specimen's targets."""
        return self in (ResultStatus.FINAL, ResultStatus.CORRECTED)

    @property
    def withdrawn(self) -> bool:
        """Entered in error or cancelled: the result, and what it decided, is taken back."""
        return self in (ResultStatus.ENTERED_IN_ERROR, ResultStatus.CANCELLED)


@attrs.frozen
class ReportedAnalyte:
    """One analyte result of a report (one ``OBX``, one FHIR ``Observation``)."""

    analyte: str
    """A stable analyte name (``domain/analytes.py``)."""
    result: LabResult | None
    """None only when ``status`` is withdrawn (the lab need not repeat the value)."""
    status: ResultStatus


@attrs.frozen
class LabReport:
    """What one message says about one specimen (one ``OBR``, one ``DiagnosticReport``)."""

    participant: str
    """The pseudonymous participant id, resolved by the mapping file's ``[identity]``."""
    accession: str
    """The lab's accession number of the specimen (filler order number, else placer)."""
    collected: dt.datetime
    """When the sample was given: aware when the message gave an offset, else naive (read
    in the program's zone)."""
    analytes: tuple[ReportedAnalyte, ...]


@attrs.frozen
class LabMessage:
    """One message, applied in one transaction: an HL7 ``ORU^R01``, a FHIR resource or
    ``Bundle``, one line of a bulk-export NDJSON file, or one specimen of a lab export."""

    reports: tuple[LabReport, ...]
    position: str
    """Where the message stands in its file or stream, for messages: ``line 12``."""
    control_id: str | None = None
    """The sender's id for the message (HL7 MSH-10), echoed in its acknowledgement."""
    not_in_cm: int = 0
    """Reports left out because the mapping's ``[identity]`` names no participant for
    their patient (a patient the lab serves who is not in contingency management)."""
