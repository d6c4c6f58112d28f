"""Corrections: when points may be adjusted by hand, a transfer reversed, an outcome corrected.

A correction is a new record, never an edit: an adjustment moves points between
the program's funding and the participant, a reversal mirrors one transfer once, and
an outcome's correction or void is a ``Correction`` that points at it (its settlement
is ``settlement.py``'s).
The rules are in docs/decisions.md ("Ledger: Reversal", "Redemption: Reversing a
spend"); ``ledger_problems`` checks the ledger's side of them afterwards.
"""

from __future__ import annotations

from ..errors import InsufficientPoints, InvalidInput, InvalidTransition
from .counts import plural
from .ledger import Movement, Transfer, is_participant_account
from .records import OutcomeRecord
from .schedules import Outcome

MAX_POINTS = 10**9
"""No single adjustment is larger: a bigger number is a typo, not a correction."""


def check_adjustment(points: int) -> None:
    """``points`` is a possible adjustment: a whole number other than 0 (positive adds,
    negative removes) no larger than ``MAX_POINTS`` either way; ``InvalidInput`` if not."""
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise InvalidInput("points must be a whole number other than 0, e.g. +20 or -15")
    if abs(points) > MAX_POINTS:
        raise InvalidInput(f"points must be between -{MAX_POINTS:,} and {MAX_POINTS:,}")


def check_points_to_remove(participant: str, points: int, available: int) -> None:
    """Removing ``points`` leaves ``participant``'s ``available`` balance at 0 or more; a
    participant's balance never goes negative, so more is ``InsufficientPoints``."""
    if available < points:
        raise InsufficientPoints(
            f"cannot remove {plural(points, 'point')}: {participant} has {available:,} available"
        )


def check_reversible(original: Transfer, earlier_reversal: Transfer | None) -> None:
    """``original`` may be reversed, or ``InvalidTransition`` says why not.

    A transfer is reversed at most once (``earlier_reversal`` is the reversal already
    written, if any). A reversal is not itself reversed: ``adjust`` corrects it. Holds
    and releases belong to a redemption and are resolved by cancelling it. A spend is
    reversible only as the spend of a redemption, which the reversal then reverses too.
    A settlement's take-back is the replay's, not an admin's: correcting the outcome
    changes it.
    """
    if earlier_reversal is not None:
        raise InvalidTransition(
            f"transfer {original.id} was already reversed by transfer {earlier_reversal.id}"
        )
    if original.kind is Movement.REVERSAL:
        raise InvalidTransition(
            f"transfer {original.id} is itself a reversal; correct it with an adjustment"
        )
    if original.kind in (Movement.HOLD, Movement.RELEASE):
        raise InvalidTransition(
            f"transfer {original.id} is a {original.kind}; cancel the redemption instead"
        )
    if original.kind is Movement.SPEND and original.cause is None:
        raise InvalidTransition(f"transfer {original.id} spends points of no redemption")
    if original.kind is Movement.ADJUSTMENT_DOWN and original.settles is not None:
        raise InvalidTransition(
            f"transfer {original.id} took back points of outcome {original.settles} when it"
            " was settled; correct the outcome, or make an adjustment, instead"
        )


def check_still_given(original: Transfer, outcome_id: int, gives: int) -> None:
    """An award or bonus ``original`` of outcome ``outcome_id``, which still gives ``gives``
    points (after its settlements and earlier reversals), may be reversed only if they
    cover it: a reversal gives back points the outcome still gives, never points a
    settlement already took back (docs/decisions.md, "Reversals stay outside").
    ``InvalidTransition`` if not."""
    if original.amount > gives:
        raise InvalidTransition(
            f"transfer {original.id} paid {plural(original.amount, 'point')} for outcome"
            f" {outcome_id},"
            f" which now gives {gives:,}; correct or void the outcome instead"
        )


def check_points_to_take_back(original: Transfer, source_balance: int) -> None:
    """The reversal of ``original`` takes its amount back from ``original.to_account``,
    which holds ``source_balance``. A participant's balance never goes negative, so
    reversing points already spent or held is ``InsufficientPoints``; the clinic's own
    accounts (funding, redeemed) are not limited."""
    source = original.to_account
    if is_participant_account(source) and source_balance < original.amount:
        raise InsufficientPoints(
            f"reversing transfer {original.id} needs {plural(original.amount, 'point')} in"
            f" {source} but it holds {source_balance:,}"
        )


def check_correctable(
    record: OutcomeRecord, effective: Outcome | None, voided_by: int | None, wanted: Outcome | None
) -> None:
    """Outcome ``record`` may be corrected to ``wanted`` (None: voided), or
    ``InvalidTransition`` says why not. ``effective`` is its outcome as corrected so far
    (None once voided, by correction ``voided_by``)."""
    if effective is None:
        raise InvalidTransition(
            f"outcome {record.id} was voided by correction {voided_by}; record the right"
            " result instead"
        )
    if wanted is not None and wanted is effective:
        raise InvalidTransition(
            f"outcome {record.id} ({record.participant} {record.target}) is already {effective}"
        )
