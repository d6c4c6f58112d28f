"""The rules of closing the calendar, as pure functions (docs/design.md section 3.9).

Which owed samples a close writes ``missed`` for (every result of the week counts, voided
ones do not; only weeks that ended by the date and by now; nothing outside the phases or
in a legacy program), where a placeholder sits in time (the week's last instant in the
program's zone, DST included), and which placeholders a late result replaces.
"""

from __future__ import annotations

import datetime as dt
from itertools import count

import attrs
import pytest

from cmrewards import InvalidInput, Outcome
from cmrewards.domain.chain import sealed
from cmrewards.domain.closing import (
    check_not_reserved,
    is_placeholder,
    last_instant,
    placeholder_key,
    placeholder_visit,
    results_by_week,
    shortfalls,
    to_replace,
    week_ends,
)
from cmrewards.domain.programs import Program, program_from_toml
from cmrewards.domain.records import Correction, CorrectionKind, OutcomeRecord
from cmrewards.domain.settlement import Effective, effective_history

START = dt.date(2027, 1, 4)  # a Monday
NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
STIM = "stimulant-negative"

PHASED = program_from_toml(
    """
id = "phased"
name = "Twice weekly for 2 weeks, then weekly for 2"
weeks = 6
timezone = "America/Chicago"

[[targets]]
id = "stimulant-negative"

[[targets.phases]]
weeks = [1, 2]
per_week = 2
schedule = { kind = "escalating", start = 10, step = 5 }

[[targets.phases]]
weeks = [3, 4]
per_week = 1
schedule = { kind = "fixed", amount = 20 }
""",
    "phased.toml",
)

ids = count(1)


def outcome(
    day: int, result: Outcome = Outcome.MET, *, key: str | None = None, visit: str | None = None
) -> OutcomeRecord:
    """A result on day ``day`` of the enrolment, at 10:00 in Chicago."""
    at = dt.datetime.combine(START + dt.timedelta(days=day), dt.time(16), dt.UTC)
    return sealed(
        OutcomeRecord(
            id=next(ids), program_id="phased", participant="P1", target=STIM, outcome=result,
            occurred_at=at, recorded_at=NOW, actor="a", key=key, note=None, seed=None,
            prev_hash="0" * 64, hash="", visit=visit,
        )
    )  # fmt: skip


def placeholder(week: int, sample: int) -> OutcomeRecord:
    record = outcome(0, Outcome.MISSED, key=placeholder_key("P1", STIM, week, sample))
    at = last_instant(START, week, PHASED.timezone)
    return attrs.evolve(record, occurred_at=at, visit=placeholder_visit(week, sample))


def history(*records: OutcomeRecord, voided: tuple[int, ...] = ()) -> list[Effective]:
    corrections = [
        Correction(n, "phased", "P1", i, CorrectionKind.VOID, None, None, "x", "a", NOW)
        for n, i in enumerate(voided, start=1)
    ]
    return effective_history(records, corrections)


def short(
    program: Program, records: list[Effective], through: int
) -> list[tuple[int, tuple[int, ...]]]:
    """(week, owed samples without a result) of each week closing through day ``through`` writes."""
    found = shortfalls(program, START, records, START + dt.timedelta(days=through), NOW)
    return [(s.week, s.samples) for s in found]


def test_every_owed_sample_without_a_result_is_short_week_by_week() -> None:
    # Week 1 has one of its two, week 2 none, week 3 its one; week 4 is not through yet.
    records = history(outcome(1), outcome(15))
    assert short(PHASED, records, through=26) == [(1, (2,)), (2, (1, 2))]
    assert short(PHASED, records, through=27) == [(1, (2,)), (2, (1, 2)), (4, (1,))]


def test_every_result_counts_but_a_voided_one() -> None:
    results = [
        outcome(0, Outcome.NOT_MET),
        outcome(2, Outcome.EXCUSED),
        outcome(7, Outcome.INVALID),
    ]
    voided = outcome(9, Outcome.MISSED)
    records = history(*results, voided, voided=(voided.id,))
    assert short(PHASED, records, through=13) == [(2, (2,))]


def test_weeks_after_the_last_phase_owe_nothing() -> None:
    assert [w for w, _ in short(PHASED, history(), through=70)] == [1, 2, 3, 4]


def test_a_week_that_has_not_ended_by_now_is_not_closed() -> None:
    records = history()
    # Week 1 ends at midnight after 2027-01-10 in Chicago: 06:00 UTC on the 11th.
    ends = week_ends(START, 1, PHASED.timezone)
    assert ends == dt.datetime(2027, 1, 11, 6, tzinfo=dt.UTC)
    through = START + dt.timedelta(days=6)
    assert shortfalls(PHASED, START, records, through, ends - dt.timedelta(microseconds=1)) == []
    assert len(shortfalls(PHASED, START, records, through, ends)) == 1


def test_a_legacy_program_owes_nothing_closing_writes() -> None:
    legacy = program_from_toml(
        'id = "old"\nname = "Old"\ncalendar = false\n[[targets]]\nid = "stimulant-negative"\n'
        'schedule = { kind = "fixed", amount = 5 }\n',
        "old.toml",
    )
    assert shortfalls(legacy, START, history(), START + dt.timedelta(days=90), NOW) == []


def test_placeholders_count_and_a_voided_one_leaves_its_number_free() -> None:
    first, second = placeholder(2, 1), placeholder(2, 2)
    closed = history(first, second)
    assert short(PHASED, closed, through=13) == [(1, (1, 2))]
    # An admin voided the first: closing again writes sample 1 again, not a second sample 2.
    assert short(PHASED, history(first, second, voided=(first.id,)), through=13) == [
        (1, (1, 2)),
        (2, (1,)),
    ]


def test_the_last_instant_of_a_week_is_local_and_follows_daylight_saving() -> None:
    # Week 10 of an enrolment on 2027-01-04 ends on Sunday 2027-03-14, the day Chicago
    # springs forward: 23:59:59.999999 CDT is 04:59:59.999999 UTC the next day.
    assert last_instant(START, 10, "America/Chicago") == dt.datetime(
        2027, 3, 15, 4, 59, 59, 999_999, tzinfo=dt.UTC
    )
    assert last_instant(START, 1, "America/Chicago") == dt.datetime(
        2027, 1, 11, 5, 59, 59, 999_999, tzinfo=dt.UTC
    )
    assert last_instant(START, 1, "UTC") < week_ends(START, 1, "UTC")


def test_a_late_result_replaces_the_newest_placeholder_of_its_week() -> None:
    first, second = placeholder(1, 1), placeholder(1, 2)
    records = history(first, second)
    target = PHASED.target(STIM)
    late = dt.datetime.combine(START + dt.timedelta(days=3), dt.time(16), dt.UTC)
    assert [e.record.id for e in to_replace(PHASED, START, records, target, late)] == [second.id]
    # With one real result and one placeholder, the second result replaces it.
    one = history(outcome(1), placeholder(1, 2))
    assert len(to_replace(PHASED, START, one, target, late)) == 1


def test_nothing_is_replaced_without_placeholders_or_in_a_week_full_of_results() -> None:
    target = PHASED.target(STIM)
    late = dt.datetime.combine(START + dt.timedelta(days=3), dt.time(16), dt.UTC)
    assert to_replace(PHASED, START, history(outcome(1)), target, late) == []
    full = history(outcome(0), outcome(1), placeholder(1, 1))
    assert to_replace(PHASED, START, full, target, late) == []
    # A placeholder of another week stays.
    assert to_replace(PHASED, START, history(placeholder(2, 1)), target, late) == []


def test_a_placeholder_corrected_to_a_result_is_a_result() -> None:
    record = placeholder(1, 1)
    corrected = effective_history(
        [record],
        [Correction(1, "phased", "P1", record.id, CorrectionKind.CORRECT, Outcome.MET, None,
                    "found the sample", "a", NOW)],
    )  # fmt: skip
    weeks = results_by_week(PHASED, START, corrected)
    assert (len(weeks[STIM, 1].real), weeks[STIM, 1].placeholders) == (1, ())
    assert is_placeholder(record)


@pytest.mark.parametrize(("key", "visit"), [("close:P1:x:1:1", None), (None, "close:week-1:1")])
def test_a_caller_may_not_use_the_reserved_prefix(key: str | None, visit: str | None) -> None:
    with pytest.raises(InvalidInput, match="reserved for closing the calendar"):
        check_not_reserved(key, visit)
    check_not_reserved("LAB-1", "visit-1")
