"""Strict reading of FHIR R4 JSON: only the fields asked for, each fault named by its path.

The FHIR reader (``app/fhir.py``) reads a handful of elements of a few resources. This
module gives it a ``Node`` (a JSON value and where it stands, ``entry[3].resource.code``)
whose accessors check the JSON type the R4 specification gives each element, and the
``Document`` a reference is resolved in (a ``Bundle``'s entries, an NDJSON file's lines,
a resource's ``contained``). Every fault is ``InvalidInput`` naming the path and the
rule, never the value found there: a value may be a patient's name or record number.

Sources: FHIR R4 (4.0.1) "JSON representation", "References" (resolving references in
Bundles: ``fullUrl``, ``urn:uuid:``, ``Type/id``, contained ``#id``) and "Data types"
(``dateTime``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator

import attrs

from ..errors import InvalidInput


class Fault(InvalidInput):
    """A fault of the document at ``path``, on line ``line`` of its file."""

    def __init__(self, path: str, problem: str, line: int) -> None:
        super().__init__(f"{path}: {problem}")
        self.line = line


class SubjectNotInCM(Fault):
    """A report's subject the mapping's ``[identity]`` names no participant for: a patient
    outside CM. A file skips the report; one document alone is refused with it."""


@attrs.frozen
class Node:
    """One JSON value of a document and its path (``Bundle.entry[3].resource.code``)."""

    value: object
    path: str
    line: int = 1
    """The line of the file the document (the NDJSON line) starts on."""

    def fail(self, problem: str) -> Fault:
        return Fault(self.path, problem, self.line)

    def child(self, value: object, path: str) -> Node:
        return Node(value, path, self.line)

    def _get(self, key: str) -> object:
        if not isinstance(self.value, dict):
            raise self.fail("must be a JSON object")
        return self.value.get(key)

    def _at(self, key: str) -> Node | None:
        value = self._get(key)
        return None if value is None else self.child(value, f"{self.path}.{key}")

    def has(self, key: str) -> bool:
        return self._get(key) is not None

    def text(self, key: str, *, required: bool = False) -> str | None:
        """The string element ``key`` (stripped); None when absent (refused if
        ``required``) or empty."""
        value = self._get(key)  # read without a Node: strings are most of what is read
        if value is None:
            if required:
                raise self.fail(f"{key} is required")
            return None
        if not isinstance(value, str):
            raise Fault(f"{self.path}.{key}", "must be a string", self.line)
        text = value.strip()
        if not text and required:
            raise Fault(f"{self.path}.{key}", "must not be empty", self.line)
        return text or None

    def obj(self, key: str, *, required: bool = False) -> Node | None:
        """The object element ``key``; None when absent (refused if ``required``)."""
        node = self._at(key)
        if node is None:
            if required:
                raise self.fail(f"{key} is required")
            return None
        if not isinstance(node.value, dict):
            raise node.fail("must be a JSON object")
        return node

    def items(self, key: str) -> list[Node]:
        """The objects of the array element ``key`` (empty when absent)."""
        node = self._at(key)
        if node is None:
            return []
        if not isinstance(node.value, list):
            raise node.fail("must be an array")
        found = [node.child(value, f"{node.path}[{i}]") for i, value in enumerate(node.value)]
        for item in found:
            if not isinstance(item.value, dict):
                raise item.fail("must be a JSON object")
        return found


@attrs.frozen(eq=False)
class Resource:
    """A resource of the document: top level, a Bundle entry, or contained in another."""

    node: Node
    type: str
    id: str | None
    full_url: str | None = None
    """The Bundle entry's ``fullUrl``."""
    container: Resource | None = None
    """The resource this one is contained in."""

    @property
    def key(self) -> tuple[int, str]:
        """Where it stands: unique within a file (an NDJSON line, a path in it)."""
        return (self.node.line, self.node.path)

    @property
    def root(self) -> Resource:
        return self if self.container is None else self.container.root

    def contained(self) -> Iterator[Resource]:
        for item in self.node.items("contained"):
            yield resource_of(item, container=self)


def resource_of(
    node: Node, *, full_url: str | None = None, container: Resource | None = None
) -> Resource:
    """``node`` as a resource: an object with a ``resourceType``."""
    if not isinstance(node.value, dict):
        raise node.fail("must be a JSON object (a FHIR resource)")
    kind = node.text("resourceType")
    if kind is None:
        raise node.fail("has no resourceType: not a FHIR resource")
    return Resource(node, kind, node.text("id"), full_url, container)


_HISTORY = re.compile(r"/_history/[^/]+$")


def _type_and_id(url: str) -> str | None:
    """``Type/id`` of a relative or absolute RESTful reference, without a version."""
    parts = _HISTORY.sub("", url).rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return f"{parts[-2]}/{parts[-1]}"
    return None


def specimen_id(reference: str | None) -> str | None:
    """The id of a ``Specimen/id`` reference (relative or absolute); None for any other."""
    key = None if reference is None else _type_and_id(reference)
    kind, _, id_ = (key or "").partition("/")
    return id_ if kind == "Specimen" and id_ else None


class Document:
    """The resources a reference may point to: a Bundle's entries or an NDJSON file's lines.

    A reference resolves (FHIR R4 "References", "Resolving references in Bundles") to
    the entry whose ``fullUrl`` it equals (``urn:uuid:...`` or an absolute URL), else to
    the resource whose ``Type/id`` it ends with; ``#id`` to a resource contained in the
    same container.
    """

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources = list(resources)
        self._by_url: dict[str, Resource] = {}
        self._by_type_id: dict[str, Resource] = {}
        for resource in self.resources:
            if resource.full_url:
                self._by_url.setdefault(resource.full_url, resource)
                key = _type_and_id(resource.full_url)
                if key is not None:
                    self._by_type_id.setdefault(key, resource)
            if resource.id:
                self._by_type_id.setdefault(f"{resource.type}/{resource.id}", resource)

    def resolve(self, reference: Node, source: Resource) -> Resource | None:
        """The resource the ``Reference`` object ``reference`` (made in ``source``)
        points to, or None when it is not in the document (or names no resource)."""
        target = reference.text("reference")
        if target is None:
            return None
        if target.startswith("#"):
            for candidate in source.root.contained():
                if candidate.id == target[1:]:
                    return candidate
            return None
        if target in self._by_url:
            return self._by_url[target]
        key = _type_and_id(target)
        return None if key is None else self._by_type_id.get(key)


_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?P<zone>Z|[+-]\d{2}:\d{2})"
)


def date_time(node: Node, key: str) -> dt.datetime | None:
    """The ``dateTime`` (or ``instant``) element ``key`` as an aware datetime; None when
    absent. R4 requires an offset whenever a time is given; a date alone (no time of day)
    cannot place a sample in its week and is refused."""
    text = node.text(key)
    if text is None:
        return None
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise Fault(
            f"{node.path}.{key}",
            "must be a FHIR dateTime with a time and an offset (2026-03-02T09:15:00-06:00)",
            node.line,
        )
    fraction = match["fraction"] or ""
    # datetime reads at most microseconds; FHIR allows more digits.
    plain = text[: match.start("fraction")] if fraction else text[: match.start("zone")]
    zone = "+00:00" if match["zone"] == "Z" else match["zone"]
    try:
        return dt.datetime.fromisoformat(plain + fraction[:7] + zone)
    except ValueError:
        raise Fault(f"{node.path}.{key}", "is not a valid date and time", node.line) from None
