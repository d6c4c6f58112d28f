"""What the key of an imported result remembers (issue 16): the outcome it wrote, not the
whole result, since a file's replay returns nothing. ``record`` under such a key still
replays (the outcome as it stands now), a different request is refused naming the outcome,
and ``verify`` passes; keys stored whole by earlier versions replay as they did."""

from __future__ import annotations

import datetime as dt
import io

import pytest

import cmrewards
from cmrewards import Clinic
from cmrewards.errors import IdempotencyConflict
from support.clinics import FakeClock, visit

STIM = "stimulant-negative"


def imported(clinic: Clinic, *rows: tuple[str, int, str]) -> cmrewards.ImportReport:
    lines = ["participant,target,outcome,at,key,note"]
    lines += [
        f"P001,{STIM},{outcome},{visit(day).isoformat()},{key}," for key, day, outcome in rows
    ]
    file = io.StringIO("\n".join(lines) + "\n")
    return clinic.import_outcomes(cmrewards.read_rows(file, "lab.csv"), actor="admin-1")


def test_an_imported_key_remembers_only_its_outcome(higgins: Clinic) -> None:
    assert imported(higgins, ("LAB-1", 0, "met"), ("LAB-2", 2, "met")).applied == 2
    with higgins._store.read() as tx:
        results = [r.result for r in tx.idempotency_records()]
    assert results == [
        {"outcome_id": n, "participant": "P001", "target": STIM, "outcome": "met"} for n in (1, 2)
    ]
    assert higgins.verify().ok


def test_record_under_an_imported_key_replays_the_outcome_as_it_stands(higgins: Clinic) -> None:
    imported(higgins, ("LAB-1", 0, "met"), ("LAB-2", 2, "met"))
    again = higgins.record("P001", STIM, "met", at=visit(2), key="LAB-2", actor="admin-1")
    assert again.replayed
    assert (again.outcome_id, again.award.points, again.occurred_at) == (2, 15, visit(2))
    assert again.balance.points == 25
    with pytest.raises(IdempotencyConflict, match=r"outcome 1 of P001 \(stimulant-negative: met"):
        higgins.record("P001", STIM, "not_met", at=visit(0), key="LAB-1", actor="admin-1")
    assert higgins.balance("P001").points == 25


def test_a_key_recorded_by_hand_keeps_its_whole_result(higgins: Clinic) -> None:
    first = higgins.record("P001", STIM, "met", at=visit(0), key="K", actor="admin-1")
    again = higgins.record("P001", STIM, "met", at=visit(0), key="K", actor="admin-1")
    assert again.outcome_id == first.outcome_id
    assert again.replayed
    assert (again.award, again.balance) == (first.award, first.balance)


def test_a_file_with_a_bare_date_rerun_later_that_day_is_the_same_request(
    higgins: Clinic, clock: FakeClock
) -> None:
    """A bare date means the start of its day, whatever the clock says: the time is part of
    the key's request, so a nightly file re-sent at noon replays instead of conflicting."""
    day = visit(3).date()
    file = f"participant,target,outcome,at,key,note\nP001,{STIM},met,{day},LAB-9,\n"

    def run() -> cmrewards.ImportReport:
        rows = cmrewards.read_rows(io.StringIO(file), "lab.csv")
        return higgins.import_outcomes(rows, actor="admin-1")

    clock.now = visit(3, hour=8)
    assert run().applied == 1
    clock.advance(hours=5)
    again = run()
    assert (again.applied, again.replayed) == (0, 1)
    midnight = dt.datetime.combine(day, dt.time(0), dt.UTC)  # higgins-vbrt's zone is UTC
    assert [h.occurred_at for h in higgins.history("P001") if h.kind == "outcome"] == [midnight]
