"""A participant's balance: available and held points, their value, and what the cap leaves."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import attrs

from ..domain import ledger
from ..domain.balances import Balance
from ..domain.cap_periods import cap_period
from ..domain.programs import Program, value_cents
from ..domain.records import Participant
from ..store.port import LedgerPosting, Prizes, Specimens


class DeskReads(LedgerPosting, Prizes, Specimens, Protocol):
    """What the desk's balance reads: the ledger, the prizes owed, the specimens waiting."""


def balance_of(
    tx: LedgerPosting, person: Participant, program: Program, now: dt.datetime
) -> Balance:
    """The points and the cap left, as every write's result carries them (a few reads, none
    growing with the participant's history)."""
    available = tx.balance(program.id, ledger.available(person.id))
    held = tx.balance(program.id, ledger.held(person.id))
    cap_remaining = None
    if program.cap_cents is not None:
        used = tx.cap_usage(person.id, cap_period(program, person.cap_start, now))
        cap_remaining = max(program.cap_cents - used, 0)
    return Balance(
        participant=person.id,
        program_id=program.id,
        points=available + held,
        held_points=held,
        available_points=available,
        value_cents=value_cents(program, available + held),
        cap_remaining_cents=cap_remaining,
    )


def balance_at_desk(
    tx: DeskReads, person: Participant, program: Program, now: dt.datetime
) -> Balance:
    """``balance_of`` with what the desk says beside it (``Clinic.balance``): the prizes
    still owed and the specimens awaiting final results, each read as only those rows, so
    the answer costs the same whatever the participant's history (issue 16)."""
    return attrs.evolve(
        balance_of(tx, person, program, now),
        prizes_owed=tuple(tx.owed_prizes(person.id)),
        awaiting_final=tuple(tx.awaiting_final(person.id)),
    )
