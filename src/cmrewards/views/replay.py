"""Replaying the stored history: what each outcome earns, which awards stand, running balances.

Every derived read starts here, so ``verify``, statements, history and program
reports count the same way: the schedule rules are ``domain/earning.py``'s, run
again over the corrected history in clinical order (the replay ``record`` and
``correct`` settle by, ``domain/settlement.py``); an award "stands"
unless a later reversal undid it; a participant's points are the running sum of
the transfers into and out of their ``available`` and ``held`` accounts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import attrs

from ..domain import ledger
from ..domain.episodes import Episodes
from ..domain.ledger import Movement, Transfer
from ..domain.records import Correction, OutcomeRecord
from ..domain.refs import RefKind, id_of
from ..domain.settlement import Replayed, effective_history, replay_episodes

__all__ = [
    "AWARDED",
    "Awards",
    "Points",
    "Replayed",
    "points_by_outcome",
    "replay_outcomes",
    "reversed_ids",
]

AWARDED = (Movement.AWARD, Movement.BONUS)
"""The movements that pay a participant for an outcome."""


def replay_outcomes(
    episodes: Episodes,
    outcomes: Iterable[OutcomeRecord],
    corrections: Iterable[Correction] = (),
) -> list[Replayed]:
    """What each of a person's outcomes earns, in clinical order: the corrected history
    (``domain/settlement.py``), voided outcomes left out, each episode under its program.

    Each target's schedule carries over from its previous outcome in the same episode; a
    ``met`` that requires other targets pays only if they were met at the same visit.
    Raises ``KeyError`` for a target the program lacks.
    """
    return replay_episodes(episodes, effective_history(outcomes, corrections))


def reversed_ids(transfers: Iterable[Transfer]) -> set[int]:
    """The ids of the transfers that a reversal among ``transfers`` undid."""
    return {t.reverses for t in transfers if t.reverses is not None}


@attrs.frozen
class Awards:
    """The award and bonus transfers among some transfers, split by whether they stand."""

    standing: tuple[Transfer, ...]
    """Those no reversal undid: what the participant keeps and the program pays for."""
    reversed: tuple[Transfer, ...]
    """Those an admin reversed."""

    @classmethod
    def among(cls, transfers: Iterable[Transfer]) -> Awards:
        """Split the awards among ``transfers``, which must hold the reversals that concern them
        (all of a participant's, a program's, or the whole ledger)."""
        transfers = list(transfers)
        undone = reversed_ids(transfers)
        standing: list[Transfer] = []
        taken_back: list[Transfer] = []
        for transfer in transfers:
            if transfer.kind in AWARDED:
                (taken_back if transfer.id in undone else standing).append(transfer)
        return cls(tuple(standing), tuple(taken_back))


def points_by_outcome(awards: Iterable[Transfer]) -> Counter[int]:
    """Points per id of the outcome that caused them (awards with another cause are left out)."""
    points: Counter[int] = Counter()
    for transfer in awards:
        outcome_id = id_of(transfer.cause, RefKind.OUTCOME)
        if outcome_id is not None:
            points[outcome_id] += transfer.amount
    return points


@attrs.frozen
class Points:
    """A participant's points, derived from their transfers."""

    available: int = 0
    """What they can spend."""
    held: int = 0
    """Held by open redemption requests."""

    @property
    def total(self) -> int:
        return self.available + self.held

    def after(self, transfer: Transfer, participant: str) -> Points:
        """The points once ``transfer`` has moved in or out of ``participant``'s accounts."""
        change = {account: amount for (_, account), amount in ledger.balance_changes(transfer)}
        return Points(
            self.available + change.get(ledger.available(participant), 0),
            self.held + change.get(ledger.held(participant), 0),
        )
