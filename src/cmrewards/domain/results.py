"""What the ``Clinic`` methods return: frozen records, the same shape as the CLI's JSON.

Two live in modules of their own: the balance every write's result carries
(``balances.Balance``, named here too) and ``verify``'s report
(``verify_report.VerifyReport``), so that a ``balance`` at the desk builds neither these
records nor the checkpoint and problem records a report names (issue 16).
"""

from __future__ import annotations

import datetime as dt

import attrs

from .balances import Balance
from .ledger import Transfer
from .records import Correction
from .schedules import Outcome


@attrs.frozen
class Award:
    """What one recorded outcome earned."""

    points: int = 0
    """Base points awarded (after any cap)."""
    bonus_points: int = 0
    draws: int = 0
    """Prize-bowl draws, bonus draws included."""
    value_cents: int = 0
    """Points at the program's point value plus the value of prizes won."""
    capped: bool = False
    """The program's annual cap cut this award."""
    reset: bool = False
    """The outcome reset the schedule."""
    recovered: bool = False
    """This award was paid at the restored pre-reset position."""
    paid: bool = True
    """False when the outcome did not count (``note`` says why): a ``met`` whose required
    target was not met at the visit, an extra sample, a result after the last paid week."""
    slips: tuple[str, ...] = ()
    """The category of every slip drawn, in draw order ("good-job" included)."""
    note: str = ""
    """Why it did not count ("week 25 is after the program's last paid week (24)"), or the
    empty week that broke the run before it; empty when neither."""


@attrs.frozen
class PrizeWon:
    """A prize owed to a participant from a winning draw."""

    id: int
    category: str
    value_cents: int


@attrs.frozen
class Settlement:
    """What one write paid or took back for outcomes other than one it recorded: the
    difference between what they earn in the corrected history and what they were paid."""

    cause: str
    """The record that caused it: ``outcome:12`` or ``correction:3``."""
    outcomes: tuple[int, ...] = ()
    """The outcomes whose award changed, in clinical order."""
    paid_points: int = 0
    taken_back_points: int = 0
    """Points moved back from ``available`` to the program's funding."""
    written_off_points: int = 0
    """Points that could not be taken back (already spent or held): the clinic bears them."""
    prizes: tuple[PrizeWon, ...] = ()
    """Prizes now won (new draws, or withdrawn ones earned again)."""
    prizes_withdrawn: tuple[int, ...] = ()
    """Owed prizes no longer earned."""
    prizes_written_off: tuple[int, ...] = ()
    """Prizes no longer earned but already handed over or traded: written off."""
    draws: int = 0
    """Prize-bowl draws the settled outcomes now earn and did not before (a dependent
    target paid once its required one is met), whatever they won: earned draws, before
    the cap, as ``Award.draws``."""
    slips: tuple[str, ...] = ()
    """The category each of those draws drew, ``good-job`` included (``prizes`` names the
    prizes they won), cap applied: fewer than ``draws`` when the cap left no room for the
    last ones."""
    draws_taken_back: int = 0
    """Draws the settled outcomes no longer earn, before the cap (their owed prizes are
    ``prizes_withdrawn``; a prize the cap now cuts is withdrawn without a draw taken back)."""

    @property
    def points(self) -> int:
        """The net change to the participant's points."""
        return self.paid_points - self.taken_back_points


@attrs.frozen
class RecordResult:
    """The result of recording one outcome."""

    outcome_id: int
    participant: str
    target: str
    outcome: Outcome
    occurred_at: dt.datetime
    award: Award
    prizes: tuple[PrizeWon, ...]
    balance: Balance
    replayed: bool = False
    """True when this is the stored result of an earlier call with the same key, or the
    same result for the same visit recorded before (which wrote nothing)."""
    settlement: Settlement | None = None
    """What recording it paid or took back for other outcomes: a late result changes
    the awards after it, a required target arriving pays the result that needed it."""
    visit: str | None = None
    """The visit it belongs to: the caller's id, or the clinical day."""
    replaced: tuple[int, ...] = ()
    """The ``missed`` placeholders of its week, written when the calendar was closed, that
    this result replaced (voided, reason "replaced by a late result"): usually one."""


@attrs.frozen
class VisitResult:
    """The results of one visit recorded in one call, one per target, in the order given."""

    participant: str
    visit: str
    results: tuple[RecordResult, ...]
    balance: Balance
    """The balance after the whole visit."""


@attrs.frozen
class CorrectionResult:
    """The result of correcting or voiding one outcome."""

    correction: Correction
    settlement: Settlement
    balance: Balance
    replayed: bool = False


@attrs.frozen
class TransferResult:
    """The result of an adjustment or a reversal."""

    transfer: Transfer
    balance: Balance
    replayed: bool = False


@attrs.frozen
class HistoryEntry:
    """One line of a participant's history, with the balance after it."""

    occurred_at: dt.datetime
    recorded_at: dt.datetime
    kind: str
    """``outcome`` or a ledger movement (``award``, ``bonus``, ``hold``, …); ``taken-back``
    for points a settlement took back (stored as an ``adjustment-down`` naming the outcome
    it settles), so that only an admin's adjustment reads ``adjustment-down``."""
    detail: str
    """``stimulant-negative: met``, or the transfer's reason."""
    points: int
    """Change to the participant's points (available plus held)."""
    available_points: int | None
    """The participant's available points once every line so far (this one included) was
    entered; None where those lines are not the first entered, a late entry among them or
    an earlier-entered line still to come, so that no balance the ledger held is their sum
    (docs/decisions.md, "History order"). The last line's is the balance now."""
    held_points: int | None
    """Held by open redemption requests, as ``available_points`` (None where it is)."""
    ref: str
    """``outcome:12`` or ``transfer:34``."""
    actor: str
    episode: int | None = None
    """The episode an outcome line's result belongs to, or that an ``episode`` line
    starts; None for the other lines."""
