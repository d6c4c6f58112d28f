"""What a settlement paid or took back, in the words ``record`` uses for its own outcome:
shared by ``record``, ``correct``/``void``, ``import``, ``excuse`` and ``close``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cmrewards import Settlement

from ._output import plural
from ._shell import money

if TYPE_CHECKING:
    from cmrewards import Prize, PrizeWon


def says_something(settlement: Settlement) -> bool:
    """Whether the settlement paid, took back, drew or withdrew anything."""
    return bool(
        settlement.paid_points
        or settlement.taken_back_points
        or settlement.written_off_points
        or settlement.draws
        or settlement.draws_taken_back
        or settlement.prizes
        or settlement.prizes_withdrawn
        or settlement.prizes_written_off
    )


def describe_settlement(settlement: Settlement, withdrawn: Sequence[Prize] = ()) -> str:
    """``settled outcomes 6, 7: +75 points, 2 draws: won prize #4 small ($1.00); 1 good-job``:
    what a write's settlement of other outcomes paid or took back, as ``record`` says what
    its own outcome paid (each draw and what it won). The owed prizes it withdrew are
    named when ``withdrawn`` holds them (the participant's prizes), else counted."""
    changed = ", ".join(str(i) for i in settlement.outcomes) or "none"
    noun = "outcome" if len(settlement.outcomes) == 1 else "outcomes"
    return f"settled {noun} {changed}: {settled_parts(settlement, withdrawn)}"


def settled_parts(settlement: Settlement, withdrawn: Sequence[Prize] = ()) -> str:
    """``+75 points, -5 points taken back, 2 draws: ...``: what a settlement paid, took
    back, drew and withdrew; ``nothing to pay or take back`` when nothing."""
    parts = []
    if settlement.paid_points:
        parts.append(f"+{plural(settlement.paid_points, 'point')}")
    if settlement.taken_back_points:
        parts.append(f"-{plural(settlement.taken_back_points, 'point')} taken back")
    if settlement.written_off_points:
        parts.append(
            f"{plural(settlement.written_off_points, 'point')} written off (already spent)"
        )
    if settlement.draws:
        # As ``record`` says its own: each draw, what it won, and the slips that won nothing;
        # when the cap kept none of them and nothing else was paid, that nothing was.
        paid_nothing = not (settlement.slips or parts)
        parts.append(
            CAP_USED_UP
            if paid_nothing
            else drawn(settlement.draws, settlement.slips, settlement.prizes)
        )
    elif settlement.prizes:
        parts.append(f"won {prizes_won(settlement.prizes)}")
    if settlement.draws_taken_back:
        parts.append(f"-{plural(settlement.draws_taken_back, 'draw')} no longer earned")
    if settlement.prizes_withdrawn:
        named = [p for p in withdrawn if p.id in settlement.prizes_withdrawn]
        if len(named) == len(settlement.prizes_withdrawn):
            parts.append(f"withdrew {prizes_won(named)}")
        else:
            parts.append(f"{plural(len(settlement.prizes_withdrawn), 'owed prize')} withdrawn")
    if settlement.prizes_written_off:
        parts.append(
            f"{plural(len(settlement.prizes_written_off), 'prize')} written off (handed over)"
        )
    return ", ".join(parts) or "nothing to pay or take back"


def combined(settlements: Sequence[Settlement], cause: str) -> Settlement:
    """One settlement summing ``settlements`` (several participants' in one ``close``)."""
    return Settlement(
        cause=cause,
        outcomes=tuple(i for s in settlements for i in s.outcomes),
        paid_points=sum(s.paid_points for s in settlements),
        taken_back_points=sum(s.taken_back_points for s in settlements),
        written_off_points=sum(s.written_off_points for s in settlements),
        prizes=tuple(p for s in settlements for p in s.prizes),
        prizes_withdrawn=tuple(p for s in settlements for p in s.prizes_withdrawn),
        prizes_written_off=tuple(p for s in settlements for p in s.prizes_written_off),
        draws=sum(s.draws for s in settlements),
        slips=tuple(slip for s in settlements for slip in s.slips),
        draws_taken_back=sum(s.draws_taken_back for s in settlements),
    )


def prizes_won(prizes: Sequence[PrizeWon | Prize]) -> str:
    """``prize #12 small ($1.00), prize #13 large ($20.00)``: what to hand over, and its id."""
    return ", ".join(f"prize #{p.id} {p.category} ({money(p.value_cents)})" for p in prizes)


CAP_USED_UP = "nothing paid: the annual cap is used up"
"""What ``record`` and a settlement line say of draws or points the cap kept none of."""


def drawn(draws: int, slips: Sequence[str], prizes: Sequence[PrizeWon]) -> str:
    """``4 draws: won prize #12 small ($1.00); 3 good-job``: each prize won, with the id
    staff hand it over by, and the slips that won nothing. ``slips`` are those the cap kept
    (``Award.slips``, ``Settlement.slips``); fewer than the ``draws`` earned, it says so:
    ``6 draws earned, 2 kept under the annual cap: won ...`` (none kept: ``none``)."""
    drawn = plural(draws, "draw")
    if len(slips) < draws:
        drawn += f" earned, {f'{len(slips):,}' if slips else 'none'} kept under the annual cap"
    unmatched = list(slips)
    for prize in prizes:
        if prize.category in unmatched:
            unmatched.remove(prize.category)
    empty = max(len(slips) - len(prizes), 0)
    if len(unmatched) == empty:
        counts: dict[str, int] = {}
        for slip in unmatched:
            counts[slip] = counts.get(slip, 0) + 1
        nothing = [f"{n} {slip}" for slip, n in counts.items()]
    else:  # a prize cut to fit the cap is not the slip drawn: count what won nothing
        nothing = [f"{empty} without a prize"] if empty else []
    won = [f"won {prizes_won(prizes)}"] if prizes else []
    return f"{drawn}: {'; '.join(won + nothing)}" if won or nothing else drawn
