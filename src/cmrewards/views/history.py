"""A participant's history: outcomes, corrections and transfers in clinical order, each
with the balance the ledger held once the lines so far were entered (none where a late
entry is among them); each correction and void is a line with who and why, and each
settlement's transfers name it as their cause, each write-off follows them.

Lines are put in entry order first (which also gives the balances), then listed by
the clinical time each is about, ties in entry order (docs/decisions.md, "History
order"): a late result, a void or a correction stands beside the results of its day,
not after everything recorded before it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

import attrs

from ..domain.clock import zone
from ..domain.counts import plural
from ..domain.episodes import Enrolled, Episodes
from ..domain.ledger import Movement, Transfer
from ..domain.records import Correction, OutcomeRecord, WriteOff
from ..domain.refs import Ref, RefKind, id_of
from ..domain.results import HistoryEntry
from .replay import Points, Replayed


def history_entries(
    participant: str,
    outcomes: list[OutcomeRecord],
    transfers: list[Transfer],
    corrections: Sequence[Correction] = (),
    write_offs: Sequence[WriteOff] = (),
    notes: Mapping[int, str] = MappingProxyType({}),
    episodes: Episodes | None = None,
) -> list[HistoryEntry]:
    """A participant's outcomes, corrections and transfers by clinical time, ties in entry
    order; each line's ``available_points`` and ``held_points`` are the balance once the
    lines so far were entered, None where those are not the first entered
    (``_balances_held``; the last line's is the balance now), and its ``occurred_at``
    the clinical time it is about: a correction's or write-off's is its outcome's, a later
    episode's line is at local midnight of its start. Write-offs follow the transfers of
    the settlement that made them. ``notes`` says, by outcome id, why an outcome did not pay
    or what broke the run before it (``notes_of``). Given the person's ``episodes``, each
    outcome line names its episode and each later episode's enrolment is a line of its own.
    """
    entered = _entry_order(participant, outcomes, transfers, corrections, write_offs, notes,
                           episodes)  # fmt: skip
    order = sorted(range(len(entered)), key=lambda i: (entered[i].occurred_at, i))
    return _balances_held(entered, order)


def _balances_held(entered: list[HistoryEntry], order: list[int]) -> list[HistoryEntry]:
    """``entered`` (in entry order, each with the balance after it) listed in ``order``,
    each line's balance the one after the lines so far. Where the first k lines listed
    are the first k entered, that is the balance once the k-th was entered: a figure the
    ledger held, and the sum of the points listed so far. Where a late entry is among
    them (or an earlier-entered line is still to come) no balance the ledger held is
    their sum, so the line has none (docs/decisions.md, "History order"): a balance in
    entry order would jump, one summed in this order could go below zero."""
    listed, latest = [], -1
    for k, i in enumerate(order):
        latest = max(latest, i)
        line = entered[i]
        if latest != k:
            line = attrs.evolve(line, available_points=None, held_points=None)
        elif i != k:  # the lines so far are the first k + 1 entered, the last not this one
            held = entered[k]
            line = attrs.evolve(
                line, available_points=held.available_points, held_points=held.held_points
            )
        listed.append(line)
    return listed


def _entry_order(
    participant: str,
    outcomes: list[OutcomeRecord],
    transfers: list[Transfer],
    corrections: Sequence[Correction],
    write_offs: Sequence[WriteOff],
    notes: Mapping[int, str],
    episodes: Episodes | None,
) -> list[HistoryEntry]:
    """Every line in the order it was entered, each with the balance after it."""
    clinical = {o.id: o.occurred_at for o in outcomes}
    points = Points()
    entries = []
    events = _with_corrections(_ledger_order(outcomes, transfers), corrections, write_offs)
    if episodes is not None:
        events = _with_episodes(events, episodes)
    for event in events:
        if isinstance(event, Correction | WriteOff):
            entries.append(_note(event, points, clinical[event.outcome_id]))
            continue
        if isinstance(event, Enrolled):
            entries.append(_enrolment(event, points))
            continue
        if isinstance(event, OutcomeRecord):
            entries.append(
                HistoryEntry(
                    occurred_at=event.occurred_at,
                    recorded_at=event.recorded_at,
                    kind="outcome",
                    detail=f"{event.target}: {event.outcome}"
                    + (f" ({notes[event.id]})" if event.id in notes else ""),
                    points=0,
                    available_points=points.available,
                    held_points=points.held,
                    ref=Ref.to(RefKind.OUTCOME, event.id),
                    actor=event.actor,
                    episode=None if episodes is None else episodes.of_outcome(event).number,
                )
            )
            continue
        before, points = points, points.after(event, participant)
        taken = is_taken_back(event)
        entries.append(
            HistoryEntry(
                occurred_at=event.occurred_at,
                recorded_at=event.recorded_at,
                kind=TAKEN_BACK if taken else str(event.kind),
                detail=f"{event.reason}, settling {_words(event.cause)}" if taken else event.reason,
                points=points.total - before.total,
                available_points=points.available,
                held_points=points.held,
                ref=Ref.to(RefKind.TRANSFER, event.id),
                actor=event.actor,
            )
        )
    return entries


TAKEN_BACK = "taken-back"
"""The history kind of points a settlement took back after a correction, a void, a late
result or a close: stored as an ``adjustment-down`` transfer naming the outcome it
settles, shown for what it is, not as a hand adjustment by whoever ran the write."""


def is_taken_back(transfer: Transfer) -> bool:
    """Whether ``transfer`` is a settlement's take-back: an ``adjustment-down`` with the
    outcome it settles (``Transfer.settles``); an admin's adjustment never has one."""
    return transfer.kind is Movement.ADJUSTMENT_DOWN and transfer.settles is not None


def _words(cause: str | None) -> str:
    """``correction:2`` as ``correction 2``: the write whose settlement it was."""
    return "an earlier write" if cause is None else cause.replace(":", " ", 1)


def notes_of(replayed: Iterable[Replayed]) -> dict[int, str]:
    """Each replayed outcome's ``Earning.note``, by outcome id, where it has one."""
    return {r.record.id: r.earning.note for r in replayed if r.earning.note}


def _note(event: Correction | WriteOff, points: Points, about: dt.datetime) -> HistoryEntry:
    """A line that moves no points: a correction, a void or a write-off, listed at
    ``about``, the clinical time of the outcome it is about."""
    if isinstance(event, Correction):
        what = "voided" if event.outcome is None else f"corrected to {event.outcome}"
        return HistoryEntry(
            occurred_at=about,
            recorded_at=event.recorded_at,
            kind=str(event.kind),
            detail=f"outcome {event.outcome_id} {what}: {event.reason}",
            points=0,
            available_points=points.available,
            held_points=points.held,
            ref=Ref.to(RefKind.CORRECTION, event.id),
            actor=event.actor,
        )
    written = (
        f"prize {event.prize_id}" if event.prize_id is not None else plural(event.points, "point")
    )
    return HistoryEntry(
        occurred_at=about,
        recorded_at=event.at,
        kind="write-off",
        detail=f"{written} of outcome {event.outcome_id} written off ({event.cause}):"
        " already spent or handed over",
        points=0,
        available_points=points.available,
        held_points=points.held,
        ref=Ref.to(RefKind.WRITE_OFF, event.id),
        actor=event.actor,
    )


def _enrolment(episode: Enrolled, points: Points) -> HistoryEntry:
    """The line of a later episode's enrolment, listed at the start of its first day."""
    person = episode.person
    start = dt.datetime.combine(person.start, dt.time(0), tzinfo=zone(episode.program.timezone))
    return HistoryEntry(
        occurred_at=start.astimezone(dt.UTC),
        recorded_at=person.enrolled_at,
        kind="episode",
        detail=f"episode {person.episode} in {person.program_id} from {person.start}",
        points=0,
        available_points=points.available,
        held_points=points.held,
        ref=Ref.to(RefKind.PARTICIPANT, person.id),
        actor=person.enrolled_by,
        episode=person.episode,
    )


Event = OutcomeRecord | Transfer | Correction | WriteOff | Enrolled


def _with_episodes(events: list[Event], episodes: Episodes) -> list[Event]:
    """``events`` with each later episode's enrolment before the first line recorded after
    it, and before its own first result whatever the clocks said."""
    for episode in episodes.all[1:]:
        at = episode.person.enrolled_at
        where = next(
            (
                i
                for i, e in enumerate(events)
                if _recorded(e) > at
                or (
                    isinstance(e, OutcomeRecord) and episodes.of_outcome(e).number >= episode.number
                )
            ),
            len(events),
        )
        events.insert(where, episode)
    return events


def _with_corrections(
    merged: list[OutcomeRecord | Transfer],
    corrections: Sequence[Correction],
    write_offs: Sequence[WriteOff],
) -> list[Event]:
    """``merged`` with each correction just before the first transfer it or a later
    correction caused (else in recording order), and each write-off after the last line of
    the settlement it is from. A later correction's transfers come after it even where the
    times tie (one clock reading for a whole lab file): otherwise a correction that moved no
    points was listed after the next correction of the same outcome."""
    events: list[Event] = list(merged)
    for correction in corrections:
        at = next(
            (
                i
                for i, e in enumerate(events)
                if (
                    isinstance(e, Transfer)
                    and (by := id_of(e.cause, RefKind.CORRECTION)) is not None
                    and by >= correction.id
                )
                or _recorded(e) > correction.recorded_at
            ),
            len(events),
        )
        events.insert(at, correction)
    for write_off in write_offs:
        last = max(
            (
                i
                for i, e in enumerate(events)
                if (isinstance(e, Transfer) and e.cause == write_off.cause)
                or (
                    isinstance(e, Correction)
                    and Ref.to(RefKind.CORRECTION, e.id) == write_off.cause
                )
                or (
                    isinstance(e, OutcomeRecord)
                    and Ref.to(RefKind.OUTCOME, e.id) == write_off.cause
                )
            ),
            default=len(events) - 1,
        )
        events.insert(last + 1, write_off)
    return events


def _cause_of(event: Event) -> str | None:
    """The cause a settlement's lines share: a transfer's, or the record that is it."""
    if isinstance(event, Transfer):
        return event.cause
    if isinstance(event, Correction):
        return Ref.to(RefKind.CORRECTION, event.id)
    if isinstance(event, OutcomeRecord):
        return Ref.to(RefKind.OUTCOME, event.id)
    return None


def _recorded(event: Event) -> dt.datetime:
    if isinstance(event, Correction):
        return event.recorded_at
    if isinstance(event, WriteOff):
        return event.at
    if isinstance(event, Enrolled):
        return event.person.enrolled_at
    return event.recorded_at


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
