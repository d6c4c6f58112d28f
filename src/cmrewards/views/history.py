"""A participant's history: outcomes and transfers in ledger order, with running balances."""

from __future__ import annotations

from ..domain.ledger import Transfer
from ..domain.records import OutcomeRecord
from ..domain.refs import Ref, RefKind, id_of
from ..domain.results import HistoryEntry
from .replay import Points


def history_entries(
    participant: str, outcomes: list[OutcomeRecord], transfers: list[Transfer]
) -> list[HistoryEntry]:
    """A participant's outcomes and transfers in ledger order, with running balances."""
    points = Points()
    entries = []
    for event in _ledger_order(outcomes, transfers):
        if isinstance(event, OutcomeRecord):
            entries.append(
                HistoryEntry(
                    occurred_at=event.occurred_at,
                    recorded_at=event.recorded_at,
                    kind="outcome",
                    detail=f"{event.target}: {event.outcome}",
                    points=0,
                    available_points=points.available,
                    held_points=points.held,
                    ref=Ref.to(RefKind.OUTCOME, event.id),
                    actor=event.actor,
                )
            )
            continue
        before, points = points, points.after(event, participant)
        entries.append(
            HistoryEntry(
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
                kind=str(event.kind),
                detail=event.reason,
                points=points.total - before.total,
                available_points=points.available,
                held_points=points.held,
                ref=Ref.to(RefKind.TRANSFER, event.id),
                actor=event.actor,
            )
        )
    return entries


def _ledger_order(
    outcomes: list[OutcomeRecord], transfers: list[Transfer]
) -> list[OutcomeRecord | Transfer]:
    """Outcomes and transfers merged in the order they were recorded.

    Transfers keep their ledger (id) order, so the running balance replays the
    ledger and never dips below zero; each outcome stands just before the
    transfers it caused.
    """
    merged: list[OutcomeRecord | Transfer] = []
    i = j = 0
    while i < len(outcomes) or j < len(transfers):
        if j == len(transfers):
            merged.append(outcomes[i])
            i += 1
            continue
        transfer = transfers[j]
        if i < len(outcomes):
            outcome = outcomes[i]
            caused_by = id_of(transfer.cause, RefKind.OUTCOME)
            belongs_earlier = caused_by is not None and caused_by < outcome.id
            if not belongs_earlier and outcome.recorded_at <= transfer.recorded_at:
                merged.append(outcome)
                i += 1
                continue
        merged.append(transfer)
        j += 1
    return merged
