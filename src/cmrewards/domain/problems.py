"""What ``verify`` finds, as data: which check found it, which record it is about, what is wrong.

The rules that find problems live with what they check (the hash chains, the
ledger, the journal, the replayed schedules); each says which check it is, so a
caller can sort, count or filter problems without reading their text.
"""

from __future__ import annotations

import enum

import attrs

from .refs import Ref


class Check(enum.StrEnum):
    """The checks ``verify`` runs, each named once."""

    ENGINE = "engine"
    """The database engine's own checks: SQLite's integrity and foreign keys, the PostgreSQL
    guard triggers, the application marker."""
    OUTCOME_CHAIN = "outcome-chain"
    TRANSFER_CHAIN = "transfer-chain"
    JOURNAL_CHAIN = "journal-chain"
    BALANCE = "balance"
    """Each cached balance is the sum of its account's transfers."""
    LEDGER = "ledger"
    """Each program's accounts sum to zero, amounts are positive, no participant account goes
    below zero, and each reversal mirrors one transfer once."""
    SCHEDULE_REPLAY = "schedule-replay"
    """Replaying each participant's corrected history gives the stored schedule states, and
    each outcome's awards less what settlements took back or wrote off."""
    EPISODES = "episodes"
    """Each person's episodes are numbered in order, each starting after the one before,
    and each outcome was recorded under the program of the episode its date falls in."""
    SETTLEMENT = "settlement"
    """Each correction, settlement transfer and write-off concerns an outcome of its own
    participant and names the record that caused it."""
    PRIZE_DRAW = "prize-draw"
    """Each prize won is a slip its outcome's seed draws from the bowl."""
    CAP = "cap"
    """Cap usage is what still stands in each period, and within the cap."""
    REDEMPTION = "redemption"
    """Each redemption's transfers match its state; held points equal open requests."""
    STOCK = "stock"
    """Each counted item's stock is the sum of its stock movements."""
    PRIZE_RECORD = "prize-record"
    """Each prize's status matches its hand-over or trade; each trade follows a rule."""
    JOURNAL = "journal"
    """Each journaled record is in the form its latest journal entry recorded."""
    PROGRAM_ROWS = "program-rows"
    """Each stored program row holds the program its id names, once."""
    CHECKPOINT = "checkpoint"
    """Each chain still passes through the head a checkpoint kept outside the database saw
    (only when ``verify`` is given a checkpoint)."""


@attrs.frozen
class Problem:
    """One thing ``verify`` found wrong.

    ``str(problem)`` is its message, the line the CLI prints.
    """

    check: Check
    ref: Ref | None
    """The record it is about; None when it is about no single record."""
    message: str
    """One line in the clinic's words: ``transfer 7: hash does not match its contents …``."""

    def __str__(self) -> str:
        return self.message
