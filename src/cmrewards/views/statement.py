"""A participant's statement: every opportunity with what it paid, streaks, resets, redemptions.

Built from the stored records alone (the ledger and the corrected outcome history),
so its numbers are the ledger's numbers: each line shows what its outcome gives after
every settlement, corrected and voided outcomes as corrected (a voided one has no
line), and the write-offs apart. The schedule is replayed only to say which outcome
reset the streak and which award recovered the earlier level.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Protocol

import attrs

from ..domain.caps import OverCapGrant, over_cap_grants
from ..domain.earning import value_cents
from ..domain.ledger import Transfer
from ..domain.programs import Program
from ..domain.records import Correction, OutcomeRecord, Participant, Prize, WriteOff
from ..domain.redemption import Redemption
from ..domain.results import Balance, HistoryEntry
from ..domain.schedules import Outcome
from ..domain.settlement import paid_by_outcome, settled_outcome
from ..store.port import Corrections, Ledger, Outcomes, Prizes, Redemptions, Settlements
from .balance import balance_of
from .history import history_entries
from .replay import Awards, replay_outcomes, reversed_ids


class StatementReads(Outcomes, Corrections, Ledger, Settlements, Prizes, Redemptions, Protocol):
    """What a statement reads: one participant's outcomes and their corrections, transfers,
    balance, write-offs, prizes and redemptions."""


@attrs.frozen
class StatementLine:
    """One recorded opportunity and what it paid."""

    outcome_id: int
    occurred_at: dt.datetime
    target: str
    outcome: Outcome
    points: int
    """Points it gives, bonus included, after every settlement (less what was taken back or
    written off); reversed awards excluded."""
    draws: int
    """Prize-bowl draws the outcome earned."""
    value_cents: int
    """Points at the program's value plus the value of prizes won."""
    streak: int
    """Consecutive ``met`` on this target after this outcome."""
    reset: bool
    recovered: bool
    paid: bool
    """False for a ``met`` that did not count: a required target was not met at the visit."""
    reversed_points: int
    """Points this outcome paid that an admin later reversed (not in ``points``)."""
    cumulative_cents: int
    """Everything awarded up to and including this line, in cents."""
    corrected: bool = False
    """The outcome was corrected: ``outcome`` is the correction's."""


@attrs.frozen
class Statement:
    """What a participant (and their counsellor) sees."""

    participant: str
    program_id: str
    program_name: str
    timezone: str
    """The program's zone: clinical dates on the statement are in it."""
    start: dt.date
    status: str
    balance: Balance
    lines: tuple[StatementLine, ...]
    longest_streak: int
    """Longest run of consecutive ``met`` on the primary target (the abstinence measure)."""
    resets: int
    recoveries: int
    earned_cents: int
    redemptions: tuple[Redemption, ...]
    prizes: tuple[Prize, ...]
    history: tuple[HistoryEntry, ...]
    corrections: tuple[Correction, ...] = ()
    """Every correction and void of the participant's outcomes, with who and why."""
    write_offs: tuple[WriteOff, ...] = ()
    """What settlements could not take back (already spent or handed over)."""
    written_off_points: int = 0
    written_off_cents: int = 0
    over_cap_grants: tuple[OverCapGrant, ...] = ()
    """Adjustments an admin granted past the cap, with who and why (reversed ones marked)."""


def statement_of(
    tx: StatementReads, person: Participant, program: Program, now: dt.datetime
) -> Statement:
    """``person``'s statement under ``program`` (the program they are enrolled in) at ``now``."""
    outcomes = tx.outcomes(person.id)
    transfers = tx.transfers(person.id)
    prizes = tx.prizes(person.id)
    corrections = tx.corrections(person.id)
    write_offs = tx.write_offs(person.id)
    lines = _lines(program, person, outcomes, corrections, transfers, write_offs, prizes)
    return Statement(
        participant=person.id,
        program_id=program.id,
        program_name=program.name,
        timezone=program.timezone,
        start=person.start,
        status=str(person.status),
        balance=balance_of(tx, person, program, now),
        lines=tuple(lines),
        longest_streak=longest_abstinence(
            line.outcome for line in lines if line.target == program.primary_target.id
        ),
        resets=sum(line.reset for line in lines),
        recoveries=sum(line.recovered for line in lines),
        earned_cents=lines[-1].cumulative_cents if lines else 0,
        redemptions=tuple(tx.redemptions(person.id)),
        prizes=tuple(prizes),
        history=tuple(history_entries(person.id, outcomes, transfers, corrections, write_offs)),
        corrections=tuple(corrections),
        write_offs=tuple(write_offs),
        written_off_points=sum(w.points for w in write_offs),
        written_off_cents=sum(w.value_cents for w in write_offs),
        over_cap_grants=tuple(over_cap_grants(program, transfers)),
    )


def _lines(
    program: Program,
    person: Participant,
    outcomes: list[OutcomeRecord],
    corrections: list[Correction],
    transfers: list[Transfer],
    write_offs: list[WriteOff],
    prizes: list[Prize],
) -> list[StatementLine]:
    undone = reversed_ids(transfers)
    standing = paid_by_outcome([t for t in transfers if t.id not in undone], write_offs, prizes)
    taken_back: Counter[int] = Counter()
    for transfer in Awards.among(transfers).reversed:
        outcome_id = settled_outcome(transfer)
        if outcome_id is not None:
            taken_back[outcome_id] += transfer.amount
    corrected = {c.outcome_id for c in corrections}
    lines = []
    cumulative = 0
    for replayed in replay_outcomes(program, person, outcomes, corrections):
        record, earning = replayed.record, replayed.earning
        paid = standing.get(record.id)
        points = 0 if paid is None else paid.points
        prize_cents = 0 if paid is None else sum(p.value_cents for p in paid.standing().values())
        value = value_cents(program, points) + prize_cents
        cumulative += value
        lines.append(
            StatementLine(
                outcome_id=record.id,
                occurred_at=record.occurred_at,
                target=record.target,
                outcome=replayed.outcome,
                points=points,
                draws=earning.draws,
                value_cents=value,
                streak=earning.step.state.run,
                reset=earning.step.reset,
                recovered=earning.step.recovered,
                paid=earning.paid,
                reversed_points=taken_back[record.id],
                cumulative_cents=cumulative,
                corrected=record.id in corrected,
            )
        )
    return lines


def longest_abstinence(outcomes: Iterable[Outcome]) -> int:
    """The longest run of consecutive ``met`` (the standard CM outcome measure).

    An excused result neither breaks nor extends it; every other result breaks it,
    whatever the program's ``reset_on`` says about payment.
    """
    longest = run = 0
    for outcome in outcomes:
        if outcome is Outcome.EXCUSED:
            continue
        run = run + 1 if outcome is Outcome.MET else 0
        longest = max(longest, run)
    return longest
