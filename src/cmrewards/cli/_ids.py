"""Ids typed at the desk, and the nearest known one when a typed id is not found.

Each option or argument that names something stored declares what it names with a
parameter type (``PARTICIPANT``, ``STAFF``, ``PROGRAM``, ``SKU``, ``TARGET``, ``PRESET``).
When a command is refused with ``NotFound`` (or ``PermissionDenied`` for an unknown
actor) and the message names one of its typed ids that does not exist, the command adds
the nearest existing id by ``difflib``'s similarity: ``no participant 'P-1O01'; did you
mean P-1001?``. The lookup runs only on that error path, so no command pays for it.
"""

from __future__ import annotations

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
    """A string that names a stored thing of one kind (read as any other string)."""

    def __init__(self, name: str, known: Known) -> None:
        self.name = name
        self.known = known


def _targets(clinic: Callable[[], Clinic], params: Mapping[str, Any]) -> Iterable[str]:
    """The participant's program's targets, else the named program's, else every one."""
    participant, program = params.get("participant"), params.get("program_id")
    if isinstance(participant, str):
        program = clinic().participant(participant).program_id
    chosen = [clinic().program(program)] if isinstance(program, str) else clinic().programs()
    return [t.id for p in chosen for t in p.targets]


PARTICIPANT = IdType("participant", lambda clinic, _: [p.id for p in clinic().participants()])
STAFF = IdType("staff", lambda clinic, _: [s.id for s in clinic().staff()])
PROGRAM = IdType("program", lambda clinic, _: [p.id for p in clinic().programs()])
SKU = IdType("sku", lambda clinic, _: [i.sku for i in clinic().items()])
TARGET = IdType("target", _targets)
PRESET = IdType("preset", lambda _clinic, _: cmrewards.preset_names())


def nearest(typed: str, known: Iterable[str]) -> str | None:
    """The known id closest to ``typed`` (ignoring case first), or None if none is close."""
    import difflib  # only a refusal pays for it

    candidates = list(known)
    same_but_case = [k for k in candidates if k.casefold() == typed.casefold()]
    if same_but_case:
        return same_but_case[0]
    close = difflib.get_close_matches(typed, candidates, n=1, cutoff=0.6)
    return close[0] if close else None


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
            match = nearest(typed, known)
            if match is not None:
                return f"did you mean {match}?"
    return None


__all__ = ["PARTICIPANT", "PRESET", "PROGRAM", "SKU", "STAFF", "TARGET", "IdType", "suggestion"]
