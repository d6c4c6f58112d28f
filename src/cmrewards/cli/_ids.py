"""Ids typed at the desk, and the nearest known one when a typed id is not found.

Each option or argument that names something stored declares what it names with a
parameter type (``PARTICIPANT``, ``STAFF``, ``PROGRAM``, ``SKU``, ``TARGET``, ``PRESET``);
participant, staff and SKU ids of the wrong shape are usage errors (exit 2) at parse time.
When a command is refused with ``NotFound`` (or ``PermissionDenied`` for an unknown
actor) and the message names one of its typed ids that does not exist, the command adds
the nearest existing id by ``difflib``'s similarity, lookalike characters (``l``/``1``,
``O``/``0``) counting as the same: ``no participant 'P-1O01'; did you mean P-1001?``, or
every equally near one: ``did you mean R-1 or R-2?``. The lookup runs only on that error
path, so no command pays for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click

import cmrewards
from cmrewards.errors import CMRewardsError

if TYPE_CHECKING:
    from cmrewards import Clinic

Known = Callable[[Callable[[], "Clinic"], Mapping[str, Any]], Iterable[str]]
"""The ids that exist, given the clinic (opened on first use) and the command's other
parameters."""


class IdType(click.types.StringParamType):
    """A string that names a stored thing of one kind. With ``what``, the kind's ids are
    pseudonymous ids (``check_id``): one of another shape (``'Jane Doe'``, a name typed
    where the id belongs) is a usage error before anything is opened, not "not found"."""

    def __init__(self, name: str, known: Known, what: str | None = None) -> None:
        self.name = name
        self.known = known
        self.what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = super().convert(value, param, ctx)
        if self.what is not None:
            try:
                cmrewards.check_id(text, self.what)
            except CMRewardsError as error:
                self.fail(str(error), param, ctx)
        return text


def _targets(clinic: Callable[[], Clinic], params: Mapping[str, Any]) -> Iterable[str]:
    """The participant's program's targets, else the named program's, else every one."""
    participant, program = params.get("participant"), params.get("program_id")
    if isinstance(participant, str):
        program = clinic().participant(participant).program_id
    chosen = [clinic().program(program)] if isinstance(program, str) else clinic().programs()
    return [t.id for p in chosen for t in p.targets]


PARTICIPANT = IdType(
    "participant", lambda clinic, _: [p.id for p in clinic().participants()], "participant id"
)
STAFF = IdType("staff", lambda clinic, _: [s.id for s in clinic().staff()], "staff id")
PROGRAM = IdType("program", lambda clinic, _: [p.id for p in clinic().programs()])
SKU = IdType("sku", lambda clinic, _: [i.sku for i in clinic().items()], "sku")
TARGET = IdType("target", _targets)
PRESET = IdType("preset", lambda _clinic, _: cmrewards.preset_names())


LOOKALIKES = str.maketrans({"l": "1", "I": "1", "|": "1", "O": "0", "o": "0", "S": "5", "B": "8"})
"""Characters typed for one another (``P-1O01`` for ``P-1001``, ``R-l`` for ``R-1``): the
same when ranking, so the id they were typed for is nearer than one a real digit away."""

MOST = 3
"""Equally near ids listed at most."""

NEAR = 0.6
"""``difflib``'s similarity an id needs to be suggested at all (its own default cutoff)."""


def _similarity(typed: str, known: str) -> float:
    """``difflib``'s ratio ignoring case, or ignoring lookalikes then case, whichever is
    higher (``snack`` is ``SNACK``, though ``S`` looks like ``5``)."""
    import difflib  # only a refusal pays for it

    return max(
        difflib.SequenceMatcher(None, a, b).ratio()
        for a, b in (
            (typed.casefold(), known.casefold()),
            (typed.translate(LOOKALIKES).casefold(), known.translate(LOOKALIKES).casefold()),
        )
    )


def nearest(typed: str, known: Iterable[str]) -> list[str]:
    """The known ids closest to ``typed``, all of them when equally near (in their
    order); empty if none is close. Case and lookalike characters (``LOOKALIKES``) do not
    count as differences."""
    candidates = list(dict.fromkeys(known))
    scores = {k: _similarity(typed, k) for k in candidates}
    best = max(scores.values(), default=0.0)
    if best < NEAR:
        return []
    return [k for k in candidates if scores[k] == best]


def _either(ids: list[str]) -> str:
    """``R-1``, ``R-1 or R-2``, ``R-1, R-2 or R-3``."""
    return ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} or {ids[-1]}"


def did_you_mean(typed: str, known: Iterable[str]) -> str | None:
    """``did you mean P-1001?`` (or ``R-1 or R-2``) when an id in ``known`` is near
    ``typed``; None when none is."""
    matches = nearest(typed, known)
    return f"did you mean {_either(matches[:MOST])}?" if matches else None


NO_PARTICIPANT = re.compile(r"no participant '([^'\\]*)'")
"""How ``NotFound`` names a participant that does not exist (``store/lookup.py``)."""


def with_participant_hint(message: str, participants: Callable[[], Iterable[str]]) -> str:
    """``line 4: no participant 'CTN-00O10'; did you mean CTN-00010?``: a refusal a command
    reports as data (a lab import's refused unit) with the nearest participant id, as a
    command's own refusal gets from ``suggestion``; ``message`` as it is when none is near.
    ``participants`` is called only for such a message."""
    named = NO_PARTICIPANT.search(message)
    hint = None if named is None else did_you_mean(named.group(1), participants())
    return message if hint is None else f"{message}; {hint}"


def suggestion(ctx: click.Context, message: str, clinic: Callable[[], Clinic]) -> str | None:
    """``did you mean P-1001?`` for the first typed id the refusal names that does not
    exist and has a near neighbour; None otherwise."""
    for param in ctx.command.params:
        if not isinstance(param.type, IdType) or param.name is None:
            continue
        given = ctx.params.get(param.name)
        for typed in given if isinstance(given, tuple) else (given,):
            if not isinstance(typed, str) or repr(typed) not in message:
                continue
            try:
                known = list(param.type.known(clinic, ctx.params))
            except CMRewardsError:  # the database itself is missing: nothing to suggest
                return None
            if typed in known:
                continue
            hint = did_you_mean(typed, known)
            if hint is not None:
                return hint
    return None


__all__ = [
    "PARTICIPANT",
    "PRESET",
    "PROGRAM",
    "SKU",
    "STAFF",
    "TARGET",
    "IdType",
    "did_you_mean",
    "suggestion",
    "with_participant_hint",
]
