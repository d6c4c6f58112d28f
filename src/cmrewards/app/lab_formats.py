"""Which format a lab file is in, told from its content, and the reader of each message format.

``import FILE`` takes whatever the lab or the EHR sends (issue 13): an HL7 v2 file starts with
its ``MSH`` segment, or an ``FHS``/``BHS`` batch envelope; FHIR R4 JSON (a resource, a
``Bundle``, or bulk-export NDJSON, one resource a line) starts with ``{``; anything else is a
CSV file, read as before (the six-column outcomes file, or a lab export with a mapping).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from typing import IO

from ..domain.lab_map import LabMap
from ..domain.lab_reports import LabMessage
from ..errors import InvalidInput
from .fhir import read_fhir_messages
from .hl7v2 import read_hl7_messages
from .lab_file import BadRow

_SEGMENT = re.compile(r"[A-Z][A-Z0-9]{2}\|")
"""An HL7 v2 segment id and the usual field separator: a file that starts at ``PID|`` or
``OBX|`` (its ``MSH`` cut off) is HL7 missing its header, which the HL7 reader names,
not a CSV file."""

HEAD = 4096
"""Characters read to tell the format: more than enough to pass a BOM and blank lines."""


class LabFormat(enum.StrEnum):
    """The formats ``import`` tells apart."""

    HL7 = "hl7"
    """HL7 v2 messages (``ORU^R01``), with or without a batch envelope."""
    FHIR = "fhir"
    """FHIR R4 JSON: a resource, a ``Bundle``, or NDJSON."""
    CSV = "csv"
    """A CSV file: outcomes, or a lab export read through a mapping's ``[columns]``."""

    @property
    def messages(self) -> bool:
        """The format holds messages (``LabMessage``), not rows."""
        return self is not LabFormat.CSV


MessageReader = Callable[[IO[str], LabMap, str], Iterator[LabMessage | BadRow]]

READERS: dict[LabFormat, MessageReader] = {
    LabFormat.HL7: read_hl7_messages,
    LabFormat.FHIR: read_fhir_messages,
}
"""The reader of each message format."""


def lab_file_format(head: str) -> LabFormat:
    """The format of a file whose first characters are ``head`` (a BOM, blank lines and an
    MLLP start byte before them are passed over): ``MSH``, ``FHS`` or ``BHS`` and a field
    separator, or any other segment id and ``|``, is HL7 v2, ``{`` is FHIR JSON, anything
    else CSV. Raises nothing: every text is one of the three."""
    start = head.lstrip("\ufeff\x0b \t\r\n")
    if start[:3] in ("MSH", "FHS", "BHS") and len(start) > 3 and not start[3].isalnum():
        return LabFormat.HL7
    if _SEGMENT.match(start):
        return LabFormat.HL7
    if start.startswith("{"):
        return LabFormat.FHIR
    return LabFormat.CSV


def read_lab_messages(file: IO[str], lab_map: LabMap, source: str) -> Iterator[LabMessage | BadRow]:
    """The messages of an HL7 v2 or FHIR file, whichever it holds (``lab_file_format`` of
    its start), each a ``LabMessage`` or a ``BadRow`` naming its line. ``file`` must be
    seekable: its start is read twice.

    Raises ``InvalidInput`` (before reading a message) for a CSV file, and as the format's
    reader does (``read_hl7_messages``: a mapping without ``[identity]
    assigning_authority``; ``read_fhir_messages``: one without ``[identity] system``).
    """
    found = lab_file_format(file.read(HEAD))
    file.seek(0)
    if not found.messages:
        raise InvalidInput(f"{source}: a CSV file holds rows, not HL7 or FHIR messages")
    return READERS[found](file, lab_map, source)
