"""Program reports: is it working, what does it cost, is the record clean.

Everything is computed from the stored records for one program and an optional
period of clinical dates, over the corrected history (each outcome as its newest
correction says, voided ones left out); money is integer cents throughout. Awards are
counted net of what settlements took back; what they could not take back is written
off and counted apart, as are admins' adjustments granted past a participant's cap.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Protocol

import attrs

from ..domain.caps import OverCapGrant, over_cap_grants
from ..domain.clock import local_date
from ..domain.earning import value_cents
from ..domain.episodes import Episodes
from ..domain.ledger import REDEEMED, Movement, Transfer
from ..domain.money import divide_cents
from ..domain.programs import Program
from ..domain.records import (
    Correction,
    Episode,
    OutcomeRecord,
    Participant,
    Prize,
    PrizeStatus,
    Status,
)
from ..domain.schedules import Outcome
from ..domain.settlement import effective_history
from ..store.port import (
    Catalog,
    Corrections,
    Enrolment,
    Ledger,
    Outcomes,
    Prizes,
    Programs,
    Settlements,
)
from .replay import Awards, Replayed, replay_outcomes, reversed_ids
from .statement import longest_abstinence


class ReportReads(
    Programs, Enrolment, Outcomes, Corrections, Ledger, Settlements, Prizes, Catalog, Protocol
):
    """What a program report reads: the programs, the participants and their episodes,
    outcomes and their corrections,
    transfers, balances, cap usage, write-offs and prizes of every program (it keeps its
    program's), and the catalog's stock."""


@attrs.frozen
class TargetSummary:
    """One target's results over a report's period."""

    target: str
    opportunities: int
    """Outcomes recorded in the period."""
    met: int
    met_per_mille: int
    """Share of opportunities met, in thousandths (e.g. 625 = 62.5 %)."""


AS_OF_NOW = (
    "enrolled",
    "active",
    "completed",
    "withdrawn",
    "episodes",
    "returning",
    "points_held",
    "points_redeemed",
    "points_outstanding",
    "outstanding_cents",
    "cap_hits",
    "low_stock",
)
"""A report's figures that are the record as it stands, not the period's: the status of
each participant, the balances and what is owed, caps reached and stock."""


@attrs.frozen
class ProgramReport:
    """One program's month (or any period) on one page."""

    program_id: str
    name: str
    since: dt.date | None
    until: dt.date | None
    enrolled: int
    active: int
    completed: int
    withdrawn: int
    targets: tuple[TargetSummary, ...]
    longest_abstinence: dict[str, int]
    """Per participant: the longest run of consecutive ``met`` on the primary target, in
    the samples the calendar asked for (``statement.longest_abstinence``)."""
    lda_mean_tenths: int
    """Mean longest duration of abstinence, in tenths of an opportunity (e.g. 72 = 7.2)."""
    lda_median_tenths: int
    points_awarded: int
    points_held: int
    points_redeemed: int
    points_outstanding: int
    """Available plus held: the program's liability in points."""
    awarded_cents: int
    """Points awarded at their value plus prizes won (the incentives committed)."""
    outstanding_cents: int
    """Points outstanding at their value plus prizes still owed."""
    prizes_won: dict[str, int]
    prizes_handed_over: dict[str, int]
    cost_per_participant_cents: int
    """``awarded_cents`` per enrolled participant, to the cent, half to even."""
    budget_cents: int | None
    budget_committed_cents: int
    """Everything awarded from the start up to ``until`` (a budget spans the whole program)."""
    budget_remaining_cents: int | None
    cap_hits: int
    """Participant cap periods in which the cap was reached."""
    low_stock: tuple[str, ...]
    """Catalog items at or below their low-stock threshold."""
    written_off_points: int = 0
    """Points settlements could not take back (already spent), in the period."""
    written_off_cents: int = 0
    """Those points at their value plus prizes written off (already handed over)."""
    episodes: int = 0
    """Enrolments in the program: ``enrolled`` plus every time one of them came back."""
    returning: int = 0
    """Participants whose latest episode in the program is not their first episode."""
    over_cap_grants: tuple[OverCapGrant, ...] = ()
    """Admins' adjustments past a participant's cap in the period, reversed ones marked."""
    over_cap_points: int = 0
    """Points of the grants over the cap that stand (not reversed)."""
    over_cap_cents: int = 0
    """What those grants paid past the cap: the sum of their ``over_cents``."""
    adjusted_points: int = 0
    """Admins' hand adjustments in the period, net (up less down; reversed ones left out,
    a settlement's take-back is in ``points_awarded``): what ``awarded`` leaves out."""
    adjusted_cents: int = 0
    """Those points at their value."""
    as_of_now: tuple[str, ...] = AS_OF_NOW
    """The fields that are as of now, whatever ``since``/``until`` say; every other figure
    is for the period (docs/decisions.md, "Reports: Period and now")."""


def program_report(
    tx: ReportReads, program: Program, since: dt.date | None, until: dt.date | None
) -> ProgramReport:
    everyone = _everyone(tx)
    mine = [e for episodes in everyone.values() for e in episodes.all if e.program.id == program.id]
    # Each person once, as their latest episode in the program left them.
    people = list({e.person.id: e.person for e in mine}.values())
    corrections = [c for c in tx.corrections() if c.program_id == program.id]
    records = [o for o in tx.outcomes() if o.program_id == program.id]
    outcomes = [
        attrs.evolve(e.record, outcome=e.outcome)
        for e in effective_history(records, corrections)
        if e.outcome is not None and _within(e.record.occurred_at, program, since, until)
    ]
    transfers = [t for t in tx.transfers() if t.program_id == program.id]
    undone = reversed_ids(transfers)
    # A settlement's take-back counts against the award it corrects: awards net of them.
    taken_back = [
        attrs.evolve(t, amount=-t.amount)
        for t in transfers
        if t.kind is Movement.ADJUSTMENT_DOWN and t.settles is not None and t.id not in undone
    ]
    standing = (*Awards.among(transfers).standing, *taken_back)
    all_prizes = [
        p
        for p in tx.prizes()
        if p.program_id == program.id and p.status is not PrizeStatus.WITHDRAWN
    ]
    write_offs = [
        w
        for w in tx.write_offs()
        if w.program_id == program.id
        and _within(_outcome_time(tx, w.outcome_id), program, since, until)
    ]
    grants = tuple(
        g for g in over_cap_grants(program, transfers) if _within(g.at, program, since, until)
    )
    awarded, won_cents = _awarded(program, standing, all_prizes, since, until)
    before_until = _awarded(program, standing, all_prizes, None, until)
    committed = value_cents(program, before_until[0]) + before_until[1]
    prizes = [p for p in all_prizes if _within(p.won_at, program, since, until)]
    drawn = [p for p in prizes if p.outcome_id is not None]
    balances = {a: v for (pid, a), v in tx.balances().items() if pid == program.id}
    held = sum(v for a, v in balances.items() if a.startswith("held:"))
    available = sum(v for a, v in balances.items() if a.startswith("available:"))
    owed_cents = sum(p.value_cents for p in all_prizes if p.status is PrizeStatus.OWED)
    lda = _longest_abstinence(program, people, records, corrections, everyone, (since, until))
    runs = sorted(lda.values())
    awarded_cents = value_cents(program, awarded) + won_cents
    adjusted = sum(
        t.amount if t.kind is Movement.ADJUSTMENT_UP else -t.amount
        for t in transfers
        if t.kind in (Movement.ADJUSTMENT_UP, Movement.ADJUSTMENT_DOWN)
        and t.settles is None
        and t.cause is None  # by hand: neither a settlement's nor a redemption's
        and t.id not in undone
        and _within(t.occurred_at, program, since, until)
    )
    return ProgramReport(
        program_id=program.id,
        name=program.name,
        since=since,
        until=until,
        enrolled=len(people),
        active=sum(p.status is Status.ACTIVE for p in people),
        completed=sum(p.status is Status.COMPLETED for p in people),
        withdrawn=sum(p.status is Status.WITHDRAWN for p in people),
        targets=tuple(_target_summary(t.id, outcomes) for t in program.targets),
        longest_abstinence=lda,
        lda_mean_tenths=round(10 * statistics.fmean(runs)) if runs else 0,
        lda_median_tenths=round(10 * statistics.median(runs)) if runs else 0,
        points_awarded=awarded,
        points_held=held,
        points_redeemed=balances.get(REDEEMED, 0),
        points_outstanding=available + held,
        awarded_cents=awarded_cents,
        outstanding_cents=value_cents(program, available + held) + owed_cents,
        prizes_won=dict(sorted(Counter(p.category for p in drawn).items())),
        prizes_handed_over=dict(
            sorted(Counter(p.category for p in prizes if p.status is PrizeStatus.FULFILLED).items())
        ),
        cost_per_participant_cents=divide_cents(awarded_cents, len(people)) if people else 0,
        budget_cents=program.budget_cents,
        budget_committed_cents=committed,
        budget_remaining_cents=(
            None if program.budget_cents is None else program.budget_cents - committed
        ),
        cap_hits=_cap_hits(tx, program, people),
        low_stock=tuple(i.sku for i in tx.items() if i.is_low),
        written_off_points=sum(w.points for w in write_offs),
        written_off_cents=sum(w.value_cents for w in write_offs),
        episodes=len(mine),
        returning=sum(p.episode > 1 for p in people),
        over_cap_grants=grants,
        over_cap_points=sum(g.points for g in grants if not g.reversed),
        over_cap_cents=sum(g.over_cents for g in grants if not g.reversed),
        adjusted_points=adjusted,
        adjusted_cents=value_cents(program, adjusted),
    )


def _everyone(tx: ReportReads) -> dict[str, Episodes]:
    """Every person's episodes with their programs."""
    programs = {p.id: p for p in tx.programs()}
    past: dict[str, list[Episode]] = defaultdict(list)
    for episode in tx.past_episodes():
        past[episode.participant].append(episode)
    return {p.id: Episodes.of(p, past[p.id], programs) for p in tx.participants()}


def _outcome_time(tx: Outcomes, outcome_id: int) -> dt.datetime:
    record = tx.outcome(outcome_id)
    assert record is not None
    return record.occurred_at


def _awarded(
    program: Program,
    standing: Iterable[Transfer],
    prizes: list[Prize],
    since: dt.date | None,
    until: dt.date | None,
) -> tuple[int, int]:
    """(points of the standing awards, cents of prizes drawn) between the clinical dates.

    Prizes received in a trade were paid for by the prizes traded for them.
    """
    points = sum(t.amount for t in standing if _within(t.occurred_at, program, since, until))
    cents = sum(
        p.value_cents
        for p in prizes
        if p.outcome_id is not None and _within(p.won_at, program, since, until)
    )
    return points, cents


def _within(
    at: dt.datetime, program: Program, since: dt.date | None, until: dt.date | None
) -> bool:
    day = local_date(at, program.timezone)
    return (since is None or day >= since) and (until is None or day <= until)


def _target_summary(target: str, outcomes: list[OutcomeRecord]) -> TargetSummary:
    mine = [o for o in outcomes if o.target == target]
    met = sum(o.outcome is Outcome.MET for o in mine)
    return TargetSummary(
        target=target,
        opportunities=len(mine),
        met=met,
        met_per_mille=round(1000 * met / len(mine)) if mine else 0,
    )


def _longest_abstinence(
    program: Program,
    people: list[Participant],
    records: list[OutcomeRecord],
    corrections: list[Correction],
    everyone: dict[str, Episodes],
    period: tuple[dt.date | None, dt.date | None],
) -> dict[str, int]:
    """Per participant, the longest run among the primary target's results in ``period`` in
    any one of their episodes in ``program`` (a run does not carry from one enrolment into
    the next). Each person's ``records`` (the program's, with its ``corrections``) are
    replayed to know which results the calendar asked for (``statement.longest_abstinence``)."""
    primary = program.primary_target.id
    mine: dict[str, list[OutcomeRecord]] = {p.id: [] for p in people}
    for record in records:
        mine.setdefault(record.participant, []).append(record)
    corrected: dict[str, list[Correction]] = defaultdict(list)
    for correction in corrections:
        corrected[correction.participant].append(correction)
    longest: dict[str, int] = {}
    for who, theirs in sorted(mine.items()):
        episodes = everyone[who]
        runs: dict[int, list[Replayed]] = defaultdict(list)
        for result in replay_outcomes(episodes, theirs, corrected[who]):
            episode = episodes.of_outcome(result.record)
            if (
                result.record.target == primary
                and episode.program.id == program.id
                and _within(result.record.occurred_at, program, *period)
            ):
                runs[episode.number].append(result)
        longest[who] = max((longest_abstinence(run) for run in runs.values()), default=0)
    return longest


def _cap_hits(tx: Ledger, program: Program, people: list[Participant]) -> int:
    if program.cap_cents is None:
        return 0
    mine = {p.id for p in people}
    return sum(
        1
        for (participant, _), cents in tx.cap_usages().items()
        if participant in mine and cents >= program.cap_cents
    )
