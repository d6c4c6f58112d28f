"""The double-entry points ledger: accounts, transfers and the invariants they keep.

Every movement is one transfer of a positive amount between two accounts of one
program; transfers are never updated or deleted, and a correction is a new
transfer (docs/design.md section 4). Balances are derived from transfers; the stored
copy is a cache that ``verify`` compares against the sum.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .clock import from_utc_text, to_utc_text

if TYPE_CHECKING:
    from .problems import Problem

FUNDING = "funding"
"""The source of every award; its balance is minus everything ever awarded."""
REDEEMED = "redeemed"
"""The sink of every fulfilled redemption."""


def available(participant: str) -> str:
    return f"available:{participant}"


def held(participant: str) -> str:
    return f"held:{participant}"


def is_participant_account(account: str) -> bool:
    return account.startswith(("available:", "held:"))


class Movement(enum.StrEnum):
    """Why points moved; each kind has one direction (docs/design.md section 4)."""

    AWARD = "award"
    BONUS = "bonus"
    ADJUSTMENT_UP = "adjustment-up"
    ADJUSTMENT_DOWN = "adjustment-down"
    HOLD = "hold"
    RELEASE = "release"
    SPEND = "spend"
    REVERSAL = "reversal"


def route(movement: Movement, participant: str) -> tuple[str, str]:
    """The (from, to) accounts of a movement for one participant."""
    routes = {
        Movement.AWARD: (FUNDING, available(participant)),
        Movement.BONUS: (FUNDING, available(participant)),
        Movement.ADJUSTMENT_UP: (FUNDING, available(participant)),
        Movement.ADJUSTMENT_DOWN: (available(participant), FUNDING),
        Movement.HOLD: (available(participant), held(participant)),
        Movement.RELEASE: (held(participant), available(participant)),
        Movement.SPEND: (held(participant), REDEEMED),
    }
    return routes[movement]


@attrs.frozen
class Transfer:
    """One movement of points. Never updated; reversed by a new transfer."""

    id: int
    program_id: str
    kind: Movement
    from_account: str
    to_account: str
    amount: int
    """Always positive."""
    participant: str | None
    actor: str
    reason: str
    cause: str | None
    """What caused it: ``outcome:12``, ``redemption:3``, ``prize:4``, or None for an adjustment."""
    reverses: int | None
    """For a reversal, the transfer it undoes."""
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    prev_hash: str
    hash: str
    settles: int | None = None
    """For a settlement, the outcome whose award it corrects, when that is not its cause
    (migration 0005; hashed only when set, so earlier rows hash as they did)."""
    cap_change_cents: int | None = None
    """For an adjustment in a program with a cap, or the reversal of one: the cents it
    added to its participant's cap usage (negative: gave back), in the period of the
    adjustment (``domain/caps.py``). None for any other transfer, and for adjustments
    recorded before migration 0007, which the cap never counted. Hashed only when set."""
    over_cap_cents: int | None = None
    """For an admin's adjustment over the cap: the cents by which it passed the cap (what
    the cap left was less than its value). Hashed only when set."""

    def hash_fields(self) -> dict[str, Any]:
        """Everything but the hash itself, in the form the chain hashes."""
        optional = {
            name: value
            for name, value in (
                ("settles", self.settles),
                ("cap_change_cents", self.cap_change_cents),
                ("over_cap_cents", self.over_cap_cents),
            )
            if value is not None
        }
        return optional | {
            "id": self.id,
            "program_id": self.program_id,
            "kind": str(self.kind),
            "from_account": self.from_account,
            "to_account": self.to_account,
            "amount": self.amount,
            "participant": self.participant,
            "actor": self.actor,
            "reason": self.reason,
            "cause": self.cause,
            "reverses": self.reverses,
            "occurred_at": to_utc_text(self.occurred_at),
            "recorded_at": to_utc_text(self.recorded_at),
        }

    @classmethod
    def of_link(cls, link: tuple[int, str, str, dict[str, Any]]) -> Transfer:
        """The record a chain link (``chain.ChainLink``) holds: the inverse of
        ``hash_fields`` (``OutcomeRecord.of_link``). Raises ``ValueError`` for a field
        that is no movement or time."""
        row_id, prev_hash, row_hash, fields = link
        return cls(
            row_id,
            fields["program_id"],
            Movement(fields["kind"]),
            fields["from_account"],
            fields["to_account"],
            fields["amount"],
            fields["participant"],
            fields["actor"],
            fields["reason"],
            fields["cause"],
            fields["reverses"],
            from_utc_text(fields["occurred_at"]),
            from_utc_text(fields["recorded_at"]),
            prev_hash,
            row_hash,
            fields.get("settles"),
            fields.get("cap_change_cents"),
            fields.get("over_cap_cents"),
        )


AccountKey = tuple[str, str]
"""(program id, account name)."""


def balance_changes(transfer: Transfer) -> tuple[tuple[AccountKey, int], tuple[AccountKey, int]]:
    """What one transfer does to balances: ``((source, -amount), (sink, +amount))``.

    The one statement of double entry: every balance, stored or derived, is the sum of
    these changes over the transfers so far (points; the accounts are the program's).
    """
    return (
        ((transfer.program_id, transfer.from_account), -transfer.amount),
        ((transfer.program_id, transfer.to_account), transfer.amount),
    )


def balances_from(transfers: Iterable[Transfer]) -> dict[AccountKey, int]:
    """Every account's balance as the sum of its transfers."""
    totals: dict[AccountKey, int] = defaultdict(int)
    for transfer in transfers:
        for account, change in balance_changes(transfer):
            totals[account] += change
    return dict(totals)


def ledger_problems(
    transfers: list[Transfer], cached: Mapping[AccountKey, int]
) -> Iterable[Problem]:
    """Every broken ledger invariant, one problem each."""
    # verify's records, imported by verify: a balance reads the ledger without them (issue 16)
    from .problems import Check, Problem
    from .refs import Ref, RefKind, account_ref

    derived = balances_from(transfers)
    for key in sorted(set(derived) | set(cached)):
        if derived.get(key, 0) != cached.get(key, 0):
            yield Problem(
                Check.BALANCE,
                account_ref(*key),
                f"balance of {key[1]} in {key[0]} is {cached.get(key, 0)}"
                f" but its transfers sum to {derived.get(key, 0)}",
            )
    by_program: dict[str, int] = defaultdict(int)
    for (program_id, _), amount in derived.items():
        by_program[program_id] += amount
    for program_id, total in sorted(by_program.items()):
        if total:
            yield Problem(
                Check.LEDGER,
                Ref(RefKind.PROGRAM, program_id),
                f"accounts of {program_id} sum to {total}, not zero",
            )
    yield from _negative_balances(transfers)
    yield from _bad_reversals(transfers)


def _negative_balances(transfers: list[Transfer]) -> Iterable[Problem]:
    running: dict[AccountKey, int] = defaultdict(int)
    for transfer in transfers:
        if transfer.amount <= 0:
            yield _problem(transfer.id, f"moves {transfer.amount}, not a positive amount")
        for account, change in balance_changes(transfer):
            running[account] += change
        source = transfer.program_id, transfer.from_account
        if is_participant_account(source[1]) and running[source] < 0:
            yield _problem(transfer.id, f"takes {source[1]} below zero")


def _bad_reversals(transfers: list[Transfer]) -> Iterable[Problem]:
    by_id = {t.id: t for t in transfers}
    reversed_once: set[int] = set()
    for transfer in transfers:
        if transfer.reverses is None:
            continue
        original = by_id.get(transfer.reverses)
        if original is None:
            yield _problem(transfer.id, f"reverses missing transfer {transfer.reverses}")
            continue
        if transfer.reverses in reversed_once:
            yield _problem(transfer.reverses, "is reversed more than once")
        reversed_once.add(transfer.reverses)
        swapped = (original.to_account, original.from_account, original.amount)
        if (transfer.from_account, transfer.to_account, transfer.amount) != swapped:
            yield _problem(transfer.id, "does not mirror the transfer it reverses")


def _problem(transfer_id: int, what: str) -> Problem:
    """A problem with one transfer: ``transfer 7 takes available:P-1 below zero``."""
    from .problems import Check, Problem
    from .refs import Ref, RefKind

    return Problem(
        Check.LEDGER, Ref(RefKind.TRANSFER, transfer_id), f"transfer {transfer_id} {what}"
    )
