"""HL7 v2 lab results: ``ORU^R01`` messages read into ``LabMessage`` records.

The fields follow the HL7 v2.5.1 Laboratory Results Interface (``ORU^R01``): a message
is ``MSH``, then for each patient a ``PID`` and one or more orders, each an ``OBR`` with
its result ``OBX`` segments and, optionally, an ``SPM`` (the specimen) with its own
``OBX`` segments about the specimen. python-hl7 (``hl7``) splits segments, fields,
repetitions and components and reads HL7 dates; this module says what the fields mean
(docs/design.md section 3.11):

- ``MSH-9`` must be ``ORU^R01``; ``MSH-10`` (the control id) is echoed in the ACK.
- ``PID-3``: the repetition whose assigning authority (``CX-4``, first component) is the
  mapping's ``[identity] assigning_authority`` is the participant, through its ``ids``
  file when it has one. Nothing else of ``PID`` is read: names, birth date, address,
  phone and the other identifiers never reach a record, an error or a log. A PID with no
  such identifier, or one the ``ids`` file does not list, is a patient outside CM: a file
  passes over their orders (counted, never shown).
- Each ``OBR`` is one ``LabReport``: accession ``OBR-3`` (filler order number), else
  ``OBR-2`` (placer); collected ``SPM-17`` when present, else ``OBR-7``.
- Each ``OBX`` after it (before ``SPM``) is one ``ReportedAnalyte``: ``OBX-3`` through the
  mapping's analytes (its code, then its alternate code), ``OBX-5`` through its results
  (code, then text), ``OBX-11`` the status. A numeric value is read by its ``OBX-8``
  abnormal flag (``N`` negative; ``A``, ``AA``, ``H``, ``HH``, ``>`` positive).
- An ``OBX`` after ``SPM`` describes the specimen: a dilute, substituted or invalid value
  there makes every negative result of the report that result (the sample cannot show
  abstinence; a positive still shows use). Numbers there are not read.

Files may hold many messages, with or without ``FHS``/``BHS`` batch envelopes, with
``\\r``, ``\\n`` or ``\\r\\n`` segment ends (and MLLP framing bytes left in a capture).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any, Literal

import attrs
import hl7

from ..domain.analytes import LabResult
from ..domain.lab_map import IGNORE, LabMap
from ..domain.lab_reports import LabMessage, LabReport, ReportedAnalyte, ResultStatus
from ..domain.specimens import SPOILED
from ..errors import InvalidInput
from .lab_file import BadRow

STATUSES = {
    "P": ResultStatus.PRELIMINARY,
    "F": ResultStatus.FINAL,
    "C": ResultStatus.CORRECTED,
    "W": ResultStatus.ENTERED_IN_ERROR,
    "X": ResultStatus.CANCELLED,
}
"""HL7 v2.5.1 Table 0085 (OBX-11) statuses cmrewards applies; the others are refused."""

POSITIVE_FLAGS = frozenset({"A", "AA", "H", "HH", ">"})
NEGATIVE_FLAGS = frozenset({"N"})
"""HL7 Table 0078 (OBX-8) flags that read a numeric drug result (a quantitative term such
as ethyl glucuronide) as positive or negative; any other flag leaves it unread."""

NUMERIC_TYPES = frozenset({"NM", "SN"})
"""OBX-2 value types whose OBX-5 is a number (HL7 Table 0125)."""

ENVELOPE = frozenset({"FHS", "BHS", "FTS", "BTS"})
"""Batch and file header and trailer segments: they wrap messages and say nothing of them."""

AckCode = Literal["AA", "AE", "AR"]

_SEGMENT_END = re.compile(r"\r\n|\r|\n")
_FRAMING = " \t\x0b\x1c"
"""Whitespace and the MLLP start/end block bytes a captured stream may keep."""
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
_DTM = re.compile(r"\d{12}(?:\d{2}(?:\.\d{1,4})?)?(?:[+-]\d{4})?")
"""HL7 DTM to the minute at least: a collection time of a day alone says too little."""
_STAND_IN = hl7.parse("MSH|^~\\&|||||||ORU^R01^ORU_R01||P|2.5.1")
"""The header an unreadable message is acknowledged from."""
_SHOWN = 40
"""Characters of a lab's word an error shows."""


class _Refused(Exception):
    """One thing wrong with a message, and the line of the segment it is in (if known)."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line


class _NotInCM(_Refused):
    """A PID the mapping's ``[identity]`` names no participant for: a patient outside CM.
    A file skips their orders; one message alone (the listener's) is refused as before."""

    orders = 1
    """The orders passed over (a PID without one still counts once)."""


@attrs.frozen
class _Segment:
    line: int | None
    """The file line it stands on; None for a message from a stream."""
    text: str

    @property
    def name(self) -> str:
        return self.text[:3]


def read_hl7_messages(file: IO[str], lab_map: LabMap, source: str) -> Iterator[LabMessage | BadRow]:
    """Stream the ``ORU^R01`` messages of an HL7 v2 file, each as a ``LabMessage`` (position
    ``line N``, the line of its ``MSH``) or, when it cannot be read, a ``BadRow`` naming the
    line of the segment at fault and the one thing wrong. The orders of a PID without the
    configured identifier, or with one the ``ids`` map does not list (a patient outside
    CM), are passed over unread and counted in ``LabMessage.not_in_cm`` (a message may
    hold only those); ``parse_oru`` refuses a message that holds nothing else.

    ``source`` names the file. Raises ``InvalidInput`` at once when ``lab_map`` has no
    ``[identity] assigning_authority``. Rules: docs/design.md section 3.11.
    """
    _require_authority(lab_map)
    return _read(file, lab_map)


def _read(file: IO[str], lab_map: LabMap) -> Iterator[LabMessage | BadRow]:
    orphan = False
    for segments in _messages(_segments(file)):
        if isinstance(segments, BadRow):
            if not orphan:  # one error for a run of segments outside any message
                yield segments
            orphan = True
            continue
        orphan = False
        start = segments[0].line
        try:
            yield _message(segments, lab_map, f"line {start}")
        except _NotInCM as outside:
            yield LabMessage((), f"line {start}", not_in_cm=outside.orders)
        except _Refused as refused:
            yield BadRow(refused.line or start or 1, refused.problem)


def parse_oru(text: str, lab_map: LabMap, position: str) -> LabMessage:
    """One ``ORU^R01`` message (segments ended by ``\\r``, ``\\n`` or ``\\r\\n``), as the
    listener receives it. ``position`` says where it came from, for ``LabMessage.position``
    and errors.

    Raises ``InvalidInput`` with one line, ``POSITION: PROBLEM``, naming the segment and
    field at fault and never the person's details. Rules: docs/design.md section 3.11.
    """
    _require_authority(lab_map)
    segments = [_Segment(None, s) for _, s in _segments([text]) if s]
    try:
        if not segments or segments[0].name != "MSH":
            raise _Refused("a message starts with an MSH segment")
        if any(s.name == "MSH" for s in segments[1:]):
            raise _Refused("more than one MSH segment: one message at a time")
        return _message(segments, lab_map, position)
    except _Refused as refused:
        raise InvalidInput(f"{position}: {refused.problem}") from None


def hl7_ack(
    message: str | hl7.Message,
    code: AckCode,
    text: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> str:
    """The HL7 acknowledgement of ``message`` (original mode, HL7 v2.5.1 section 2.9.2):
    ``MSH`` with sender and receiver swapped, ``MSA-1`` ``code`` (``AA`` accepted, ``AE``
    error, ``AR`` rejected), ``MSA-2`` the message's ``MSH-10``, ``MSA-3`` ``text`` (escaped).
    Segments end with ``\\r``; MLLP framing is the listener's.

    A message whose ``MSH`` cannot be read is acknowledged all the same, with empty
    sender, receiver and ``MSA-2``. ``now`` (aware) stamps ``MSH-7`` in UTC. Raises
    ``InvalidInput`` for another code.
    """
    if code not in ("AA", "AE", "AR"):
        raise InvalidInput(f"ACK code {code!r} is not one of AA, AE, AR")
    parsed = message if isinstance(message, hl7.Message) else _header(message)
    try:
        ack = parsed.create_ack(ack_code=code)
    except Exception:  # an MSH-9 without a trigger event: answer from the stand-in header
        ack = _STAND_IN.create_ack(ack_code=code)
        msh = parsed[0]
        for into, taken in ((3, 5), (4, 6), (5, 3), (6, 4)):  # sender and receiver swapped
            ack.assign_field(str(msh(taken)) if len(msh) > taken else "", "MSH", 1, into)
        ack.assign_field(_field(msh, 10), "MSA", 1, 2)
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    ack.assign_field(stamp.strftime("%Y%m%d%H%M%S") + "+0000", "MSH", 1, 7)
    if text:
        ack.assign_field(ack.escape(" ".join(text.split())), "MSA", 1, 3)
    return str(ack)


def _header(text: str) -> Any:
    """The message's MSH alone, parsed; a stand-in header when it has none that parses."""
    first = next((s for _, s in _segments([text]) if s), "")
    if first.startswith("MSH") and len(first) > 8:
        try:
            return hl7.parse(first)
        except Exception:  # the library's own faults: acknowledge all the same
            pass
    return _STAND_IN


def _require_authority(lab_map: LabMap) -> str:
    authority = lab_map.identity.assigning_authority
    if authority is None:
        raise InvalidInput(
            f"the mapping {lab_map.source} has no [identity] assigning_authority:"
            " it must say which PID-3 identifier is the participant"
        )
    return authority


def _segments(chunks: Iterable[str]) -> Iterator[tuple[int, str]]:
    """(line, segment text) for every line of ``chunks`` (file lines or one text), split
    at any segment end; blank lines come out empty."""
    line = 0
    for chunk in chunks:
        pieces = _SEGMENT_END.split(chunk)
        if len(pieces) > 1 and pieces[-1] == "":
            pieces.pop()  # the chunk's own line end
        for piece in pieces:
            line += 1
            yield line, piece.strip(_FRAMING)


def _messages(lines: Iterable[tuple[int, str]]) -> Iterator[list[_Segment] | BadRow]:
    """The segments of each message, envelope segments dropped."""
    current: list[_Segment] = []
    for line, text in lines:
        if not text:
            continue
        name = text[:3]
        if name in ENVELOPE or name == "MSH":
            if current:
                yield current
            current = [_Segment(line, text)] if name == "MSH" else []
        elif current:
            current.append(_Segment(line, text))
        else:  # the segment is not named: it may be a person's details
            yield BadRow(line, "a segment before any MSH: every message starts with MSH")
    if current:
        yield current


def _message(segments: list[_Segment], lab_map: LabMap, position: str) -> LabMessage:
    separator = segments[0].text[3:4]
    for segment in segments[1:]:
        if not _SEGMENT_NAME.fullmatch(segment.name) or segment.text[3:4] not in ("", separator):
            raise _Refused(
                "not an HL7 segment (a 3-letter name, then a field separator)", segment.line
            )
    try:
        parsed = hl7.parse("\r".join(s.text for s in segments))
    except Exception:  # whatever the library raises may quote the segment: not shown
        raise _Refused("MSH cannot be read as an HL7 header", segments[0].line) from None
    msh = parsed[0]
    kind = (_field(msh, 9, 1), _field(msh, 9, 2))
    if kind != ("ORU", "R01"):
        shown = "^".join(k for k in kind if k) or "empty"
        raise _Refused(f"MSH-9 {shown[:_SHOWN]!r} is not ORU^R01: only lab results are read")
    reader = _Reader(lab_map)
    for segment, fields in zip(segments[1:], parsed[1:], strict=True):
        try:
            reader.read(segment.name, fields)
        except _Refused as refused:
            raise _Refused(refused.problem, segment.line) from None
    reports = reader.reports()
    if not reports and reader.outside is not None:
        raise reader.outside
    if not reports:
        raise _Refused("no OBR with an analyte result: nothing to apply", segments[0].line)
    return LabMessage(
        reports=reports,
        position=position,
        control_id=_field(msh, 10) or None,
        not_in_cm=reader.not_in_cm,
    )


@attrs.define
class _Order:
    """One OBR as it is read: its report's fields and analytes so far."""

    number: int
    participant: str
    accession: str
    collected: dt.datetime
    analytes: dict[str, ReportedAnalyte] = attrs.field(factory=dict)
    codes: dict[str, str] = attrs.field(factory=dict)
    """The OBX-3 code each analyte came from, for a conflict's message."""
    results: int = 0
    """OBX segments read, ignored ones included."""
    specimen: bool = False
    """An SPM was read: the OBX segments now describe the specimen."""
    spoiled: LabResult | None = None

    def report(self) -> LabReport:
        analytes = tuple(
            attrs.evolve(a, result=self.spoiled)
            if self.spoiled is not None and a.result is LabResult.NEGATIVE
            else a
            for a in self.analytes.values()
        )
        return LabReport(self.participant, self.accession, self.collected, analytes)


@attrs.define
class _Reader:
    """Walks one message's segments after MSH, in order."""

    lab_map: LabMap
    participant: str | None = None
    orders: list[_Order] = attrs.field(factory=list)
    outside: _NotInCM | None = None
    """The last PID names a patient outside CM: their segments are passed over unread."""
    not_in_cm: int = 0
    """The orders (OBR) of patients outside CM passed over."""

    def read(self, name: str, segment: Any) -> None:
        if name == "PID":
            try:
                self.participant, self.outside = _participant(segment, self.lab_map), None
            except _NotInCM as outside:
                self.participant, self.outside = None, outside
        elif self.outside is not None:
            if name == "OBR":
                self.not_in_cm += 1
                self.outside.orders = self.not_in_cm
            # Nothing else of a patient outside CM is read.
        elif name == "OBR":
            self.orders.append(self._order(segment))
        elif name == "SPM":
            order = self._current("SPM")
            if order.specimen:
                raise _Refused(f"OBR {order.number} has a second SPM: one specimen per OBR")
            order.specimen = True
            collected = _field(segment, 17, 1)
            if collected:
                order.collected = _when(collected, "SPM-17")
        elif name == "OBX":
            order = self._current("OBX")
            if order.specimen:
                _specimen_observation(order, segment, self.lab_map)
            else:
                order.results += 1
                _analyte(order, segment, self.lab_map)
        # ORC, NTE, PV1, TQ1, ... say nothing cmrewards records.

    def _order(self, segment: Any) -> _Order:
        if self.participant is None:
            raise _Refused("OBR before any PID: the order names no participant")
        number = len(self.orders) + 1
        accession = _field(segment, 3) or _field(segment, 2)
        if not accession:
            raise _Refused(
                f"OBR {number}: OBR-3 (filler order number) and OBR-2 (placer) are both empty"
            )
        when = _field(segment, 7)
        if not when:
            raise _Refused(f"OBR {number}: OBR-7 (collected) is empty and no SPM-17 is read yet")
        return _Order(number, self.participant, accession, _when(when, "OBR-7"))

    def _current(self, name: str) -> _Order:
        if not self.orders:
            raise _Refused(f"{name} before any OBR")
        return self.orders[-1]

    def reports(self) -> tuple[LabReport, ...]:
        for order in self.orders:
            if not order.results:
                raise _Refused(f"OBR {order.number} ({order.accession}) has no OBX result")
        return tuple(order.report() for order in self.orders if order.analytes)


def _participant(pid: Any, lab_map: LabMap) -> str:
    """The participant id PID-3 names. Only the assigning authority of each repetition and
    the identifier of the configured one are read."""
    authority = _require_authority(lab_map)
    repetitions = len(pid[3]) if len(pid) > 3 else 0
    found = [
        _field(pid, 3, 1, repeat)
        for repeat in range(1, repetitions + 1)
        if _field(pid, 3, 4, repeat) == authority
    ]
    if not found:
        raise _NotInCM(f"PID-3 has no identifier with assigning authority {authority!r}")
    if len(set(found)) > 1:
        raise _Refused(f"PID-3 has two identifiers with assigning authority {authority!r}")
    if not found[0]:
        raise _Refused(f"PID-3: the identifier with assigning authority {authority!r} is empty")
    participant = lab_map.identity.participant_for(found[0])
    if participant is None:
        raise _NotInCM(
            f"PID-3: the identifier with assigning authority {authority!r} is not in the"
            f" ids file of {lab_map.source}"
        )
    return participant


def _analyte(order: _Order, obx: Any, lab_map: LabMap) -> None:
    codes = [c for c in (_field(obx, 3, 1), _field(obx, 3, 4)) if c]
    names = [lab_map.analyte_of(c) for c in codes]
    name = next((n for n in names if n is not None), None)
    if name == IGNORE:
        return
    if name is None:
        shown = codes[0][:_SHOWN] if codes else ""
        raise _Refused(
            f"OBX-3 {shown!r} is not a known analyte or LOINC code;"
            f" map it in [analytes] of {lab_map.source}"
        )
    status = _status(obx)
    try:
        result = _value(obx, lab_map)
    except _Refused:
        if not status.withdrawn:
            raise
        result = None  # the lab need not repeat, or spell well, a value it takes back
    reported = ReportedAnalyte(name, result, status)
    code = codes[names.index(name)]
    earlier = order.analytes.get(name)
    if earlier is not None and earlier != reported:
        raise _Refused(
            f"OBR {order.number}: OBX-3 {order.codes[name]!r} and {code!r} both report"
            f" {name}, differently"
        )
    order.analytes[name] = reported
    order.codes[name] = code


def _specimen_observation(order: _Order, obx: Any, lab_map: LabMap) -> None:
    if _status(obx).withdrawn or _field(obx, 2) in NUMERIC_TYPES:
        return
    result = _value(obx, lab_map, required=False)
    if result is LabResult.POSITIVE:
        raise _Refused(
            "OBX-5 of a specimen observation (after SPM) reads as positive: say dilute,"
            " substituted, invalid or negative"
        )
    if result in SPOILED and order.spoiled is None:
        order.spoiled = result


def _status(obx: Any) -> ResultStatus:
    word = _field(obx, 11).upper()
    if not word:
        raise _Refused("OBX-11 (the result status: P, F, C, W or X) is empty")
    status = STATUSES.get(word)
    if status is None:
        raise _Refused(
            f"OBX-11 {word[:_SHOWN]!r} is not a status cmrewards applies (P, F, C, W or X)"
        )
    return status


def _value(obx: Any, lab_map: LabMap, *, required: bool = True) -> LabResult | None:
    """OBX-5 as a result: its code, then its text; a number by its OBX-8 flag. Empty is
    None unless ``required``; a word the mapping does not know is refused."""
    words = [w for w in (_field(obx, 5, 1), _field(obx, 5, 2)) if w]
    if not words:
        if required:
            raise _Refused("OBX-5 (the result) is empty")
        return None
    if _field(obx, 2) in NUMERIC_TYPES:
        flag = _field(obx, 8).upper()
        if flag in POSITIVE_FLAGS:
            return LabResult.POSITIVE
        if flag in NEGATIVE_FLAGS:
            return LabResult.NEGATIVE
        raise _Refused(
            f"OBX-5 is a number and OBX-8 {flag[:_SHOWN]!r} does not say positive"
            " (A, AA, H, HH, >) or negative (N)"
        )
    result = next((r for r in map(lab_map.result_of, words) if r is not None), None)
    if result is None:
        raise _Refused(
            f"OBX-5 {words[0][:_SHOWN]!r} is not a known result;"
            f" map it in [results] of {lab_map.source}"
        )
    return result


def _when(text: str, where: str) -> dt.datetime:
    """An HL7 DTM: aware when it has an offset, else naive (the program's zone)."""
    shown = f"{where} {text[:_SHOWN]!r} is not an HL7 date and time (YYYYMMDDHHMM[SS][+ZZZZ])"
    if not _DTM.fullmatch(text):
        raise _Refused(shown)
    try:
        value: dt.datetime = hl7.parse_datetime(text)
    except ValueError:
        raise _Refused(shown) from None
    offset = value.utcoffset()
    return value.replace(tzinfo=None if offset is None else dt.timezone(offset))


def _field(segment: Any, field: int, component: int = 1, repeat: int = 1) -> str:
    """One component of a field (its first subcomponent), unescaped; "" when absent."""
    try:
        return str(segment.extract_field(1, field, repeat, component, 1)).strip()
    except IndexError:
        return ""
