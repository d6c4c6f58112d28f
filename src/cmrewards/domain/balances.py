"""A participant's balance as every ``Clinic`` method returns it: ``balance`` on its own,
and inside each write's result (``results``)."""

from __future__ import annotations

import attrs

from .records import Prize


@attrs.frozen
class Balance:
    """A participant's points."""

    participant: str
    program_id: str
    points: int
    """Everything the participant owns: available plus held."""
    held_points: int
    """Held by open redemption requests."""
    available_points: int
    """What the participant can spend now."""
    value_cents: int
    """``points`` at the program's point value."""
    cap_remaining_cents: int | None
    """What may still be awarded this cap period; None when the program has no cap."""
    prizes_owed: tuple[Prize, ...] | None = attrs.field(default=None, eq=False)
    """The prizes won and not yet handed over, traded or withdrawn, in the order they were
    won. ``Clinic.balance`` reads them, and so do ``correct`` and ``void`` (their line
    names what is still owed); None in other writes' results, which do not. Not compared:
    a write's result equals the balance read right after it."""
    awaiting_final: tuple[str, ...] | None = attrs.field(default=None, eq=False)
    """The specimens (accessions, in order of collection) with an analyte whose standing
    result is preliminary: shown, paying nothing until the final one comes (issue 13).
    ``Clinic.balance`` reads them; None in a write's result, which does not. Not
    compared, as ``prizes_owed``."""
