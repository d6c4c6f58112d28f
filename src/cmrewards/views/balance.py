"""A participant's balance: available and held points, their value, and what the cap leaves."""

from __future__ import annotations

import datetime as dt

from ..domain import ledger
from ..domain.caps import cap_period
from ..domain.earning import value_cents
from ..domain.programs import Program
from ..domain.records import Participant
from ..domain.results import Balance
from ..store.port import LedgerPosting


def balance_of(
    tx: LedgerPosting, person: Participant, program: Program, now: dt.datetime
) -> Balance:
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
