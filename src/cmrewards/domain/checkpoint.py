"""Checkpoints: every hash chain's length and head at one moment, to be kept outside the file.

A chain proves that its rows were not edited *relative to each other*; it cannot show
that rows were cut off its end, or that the whole database was rebuilt with another
history. A checkpoint can, once it is kept where the clinic cannot edit it (an auditor's
mailbox, a write-once bucket), as Certificate Transparency keeps signed tree heads:
``verify --against`` proves that each chain still passes through the head the
checkpoint saw, so nothing before it changed and nothing was cut
(docs/design.md section 4, "Checkpoints").

A checkpoint is pure data: chain heads in, a statement and a digest out, and the
comparison with the chains as they are now. It covers whichever chains the caller
hands it; ``views/chains.py`` lists every chain the database has.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence

import attrs

from ..errors import InvalidInput
from .chain import GENESIS, canonical
from .clock import from_utc_text, to_utc_text
from .counts import plural
from .problems import Check, Problem

VERSION = 1
"""The form of the statement and of the digest; a later form gets the next number."""
MARK = f"cmrewards-checkpoint/{VERSION}"
"""The first word of every statement."""
SHOWN = 16
"""Hex characters of each head a statement shows; the digest covers every head whole."""

_HEX = re.compile(r"^[0-9a-f]+$")
_CHAIN = re.compile(r"^([a-z][a-z0-9_-]*)=(\d+):([0-9a-f]+)$")


@attrs.frozen
class ChainHead:
    """One chain at the moment of a checkpoint."""

    chain: str
    """The chain's name: ``outcomes``, ``transfers``, ``journal``."""
    length: int
    """Rows in the chain: the id of its newest row (ids count from 1); 0 when empty."""
    head: str
    """The hash of its newest row (64 zeros when empty). A checkpoint read back from its
    statement holds the first 16 characters; the digest covers the whole hash."""


@attrs.frozen
class Checkpoint:
    """Every chain's length and head at ``at``, and a digest over them."""

    at: dt.datetime
    chains: tuple[ChainHead, ...]
    digest: str
    """sha256 of the version, the time and every chain's name, length and whole head."""

    __json_extra__ = ("statement",)

    @property
    def statement(self) -> str:
        """The one line to copy and keep: ``cmrewards-checkpoint/1 TIME outcomes=12:3f2a…
        transfers=30:… journal=41:… digest=…``."""
        heads = " ".join(f"{c.chain}={c.length}:{c.head[:SHOWN]}" for c in self.chains)
        at = self.at.astimezone(dt.UTC)
        shown = at.strftime("%Y-%m-%dT%H:%M:%SZ") if not at.microsecond else to_utc_text(at)
        return f"{MARK} {shown} {heads} digest={self.digest}"


def checkpoint_of(heads: Iterable[ChainHead], at: dt.datetime) -> Checkpoint:
    """The checkpoint of ``heads`` (each whole) taken at ``at``, with its digest."""
    chains = tuple(heads)
    return Checkpoint(at, chains, digest_of(at, chains))


def digest_of(at: dt.datetime, chains: Iterable[ChainHead]) -> str:
    fields = {
        "checkpoint": VERSION,
        "at": to_utc_text(at),
        "chains": {c.chain: [c.length, c.head] for c in chains},
    }
    return hashlib.sha256(canonical(fields).encode()).hexdigest()


def parse_checkpoint(text: str) -> Checkpoint:
    """A checkpoint from its statement, from ``checkpoint --json``, or from an export's
    ``manifest.json``; ``InvalidInput`` naming what is wrong otherwise."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return _from_json(stripped)
    words = stripped.split()  # a statement wrapped by a mail program reads the same
    if len(words) < 3 or words[0] != MARK:
        raise InvalidInput(f"not a checkpoint: a checkpoint starts with {MARK!r}")
    at = _time(words[1])
    if not words[-1].startswith("digest="):
        raise InvalidInput("the checkpoint has no digest=... at its end")
    chains = []
    for word in words[2:-1]:
        found = _CHAIN.match(word)
        if found is None:
            raise InvalidInput(f"the checkpoint's {word[:40]!r} is not NAME=LENGTH:HEAD")
        name, length, head = found.groups()
        chains.append(_head(name, int(length), head))
    return Checkpoint(at, _unique(chains), _hex(words[-1].removeprefix("digest="), "digest"))


def _from_json(text: str) -> Checkpoint:
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInput("not a checkpoint: not valid JSON") from None
    try:
        if "checkpoint" in data:  # an export's manifest
            data = data["checkpoint"]
        chains = [_head(c["chain"], c["length"], c["head"]) for c in data["chains"]]
        return Checkpoint(_time(data["at"]), _unique(chains), _hex(data["digest"], "digest"))
    except (KeyError, TypeError, AttributeError) as error:
        raise InvalidInput(f"not a checkpoint: the JSON lacks or mistypes {error}") from None


def _time(text: str) -> dt.datetime:
    try:
        at = from_utc_text(text)
    except (ValueError, TypeError):
        at = None
    if at is None or at.tzinfo is None:
        raise InvalidInput(f"the checkpoint's time {str(text)[:40]!r} is not UTC text")
    return at


def _head(name: object, length: object, head: object) -> ChainHead:
    if not isinstance(name, str) or not isinstance(length, int) or isinstance(length, bool):
        raise InvalidInput("the checkpoint's chains need a name and a length")
    if length < 0:
        raise InvalidInput(f"the checkpoint's {name} chain has a negative length")
    return ChainHead(name, length, _hex(head, f"{name} head", shortest=SHOWN))


def _hex(value: object, what: str, *, shortest: int = 64) -> str:
    if not isinstance(value, str) or not shortest <= len(value) <= 64 or not _HEX.match(value):
        raise InvalidInput(f"the checkpoint's {what} is not {shortest} to 64 hex characters")
    return value


def _unique(chains: list[ChainHead]) -> tuple[ChainHead, ...]:
    names = [c.chain for c in chains]
    if len(set(names)) != len(names):
        raise InvalidInput("the checkpoint names a chain twice")
    return tuple(chains)


def checkpoint_problems(
    checkpoint: Checkpoint, chains: Mapping[str, Sequence[tuple[int, str]]]
) -> list[Problem]:
    """Where the chains as they are now do not extend ``checkpoint``.

    ``chains`` holds every chain of the database as ``(id, hash)`` rows in id order. A
    chain extends its checkpoint when its row at the checkpoint's length is the row the
    checkpoint saw; verify's chain checks prove the rows before it are linked to it, so
    nothing before the checkpoint changed and nothing was cut. A chain newer than the
    checkpoint extends its empty start.
    """
    problems = []
    now = []
    for seen in checkpoint.chains:
        rows = chains.get(seen.chain)
        if rows is None:
            problems.append(_problem(f"the checkpoint has a {seen.chain} chain; this database"
                                     " has none"))  # fmt: skip
            continue
        by_id = dict(rows)
        current = GENESIS if seen.length == 0 else by_id.get(seen.length)
        newest = max(by_id, default=0)
        saw = plural(seen.length, seen.chain.removesuffix("s"), seen.chain)  # 1 outcome
        was = f"the checkpoint saw {saw} ending in {seen.head[:SHOWN]}"
        if current is None and newest < seen.length:
            problems.append(_problem(f"{seen.chain} chain cut: {was}; it now ends at row {newest}"))
        elif current is None or not current.startswith(seen.head):
            now_is = "missing" if current is None else f"{current[:SHOWN]}"
            problems.append(
                _problem(
                    f"{seen.chain} chain rewritten: {was}; row {seen.length} is now {now_is}"
                    " (history before the checkpoint changed)"
                )
            )
        else:
            now.append(ChainHead(seen.chain, seen.length, current))
    if not problems and digest_of(checkpoint.at, now) != checkpoint.digest:
        problems.append(
            _problem(
                "the checkpoint's digest does not match the heads it names: the checkpoint was"
                " altered or mistyped, or a head differs past the characters it shows"
            )
        )
    return problems


def _problem(message: str) -> Problem:
    return Problem(Check.CHECKPOINT, None, message)
