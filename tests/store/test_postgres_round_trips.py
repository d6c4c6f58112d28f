"""Round trips a write makes to a PostgreSQL server, counted on the wire (support/wire.py).

Issue 16 asks for at most five per ``record``: each costs a network latency that no
amount of local speed wins back. These tests count; they time nothing.
"""

from __future__ import annotations

import datetime as dt

import cmrewards
from support import postgres as postgres_support
from support.wire import round_trips, turns_in

BUDGET = 5
"""Round trips one ``record`` may make (issue 16)."""


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC) + dt.timedelta(days=day)


def test_the_trace_counts_turns_not_messages() -> None:
    trace = "F\t4\tSync\nB\t5\tReadyForQuery\t I\nF\t4\tBind\nF\t4\tSync\nB\t4\tBindComplete\n"
    assert turns_in(trace) == 2
    assert turns_in("") == 0


def test_one_record_makes_at_most_five_round_trips() -> None:
    with postgres_support.database() as url, cmrewards.open(url) as clinic:
        clinic.init("admin-1")
        clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor="admin-1")
        for n in range(2):
            clinic.enroll(f"P-{n}", "higgins-vbrt", start=dt.date(2026, 1, 5), actor="admin-1")
        clinic.record("P-0", "stimulant-negative", "met", at=at(0), actor="admin-1")
        counted = []
        for day, key in ((2, None), (4, "visit-4")):
            with round_trips(clinic) as turns:
                result = clinic.record(
                    "P-1", "stimulant-negative", "met", at=at(day), key=key, actor="admin-1"
                )
            assert result.award.points > 0  # a real write, not a refusal
            counted.append(turns.count)
        assert all(0 < count <= BUDGET for count in counted), counted
