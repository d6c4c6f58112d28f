"""A later episode is a fresh start, whatever came before it (issue 12 item 5, design 2).

Hypothesis records an episode of results in any clinical order (late ones included), ends
it, enrols the person again and records a second episode, then corrects or voids results
of the first. A person enrolled fresh on the second episode's start, given the same
second-episode results in the same order, must end with the same awards for them and the
same cached schedule states (the in-order fast path and the replay agree), and ``verify``
stays clean: nothing of the first episode leaks into the second.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cmrewards
from cmrewards import AlreadyExists, Clinic, InvalidTransition
from cmrewards.domain.schedules import ScheduleState
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"
SECONDARY = "secondary-negative"
NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
SECOND = 30
"""The second episode starts 30 days after START."""

OUTCOMES = st.sampled_from(["met", "met", "met", "not_met", "missed", "excused", "invalid"])


@attrs.frozen
class Result:
    day: int
    target: str
    outcome: str


@attrs.frozen
class Fix:
    pick: int
    outcome: str | None
    """None voids."""


def results(targets: list[str], first: int, last: int) -> st.SearchStrategy[list[Result]]:
    one = st.builds(
        Result, day=st.integers(first, last), target=st.sampled_from(targets), outcome=OUTCOMES
    )
    return st.lists(one, max_size=12)


def record_all(clinic: Clinic, who: str, rows: list[Result]) -> None:
    for row in rows:
        # A different result for a recorded visit is refused: the desk must correct it.
        with contextlib.suppress(AlreadyExists):
            clinic.record(who, row.target, row.outcome, actor=ADMIN, at=visit(row.day))


def awards(clinic: Clinic, who: str, since: int) -> list[tuple[str, str, int, int]]:
    """(day, target, points, draws) of each statement line from day ``since`` on."""
    return [
        (line.occurred_at.isoformat(), line.target, line.points, line.draws)
        for line in clinic.statement(who).lines
        if line.occurred_at >= visit(since, 0)
    ]


def states(clinic: Clinic, who: str) -> dict[str, object]:
    with clinic._store.read() as tx:
        cached = tx.schedule_states()
    fresh = ScheduleState()
    return {t: s for (p, t), s in sorted(cached.items()) if p == who and s != fresh}


def check_fresh_start(
    program_id: str, first: list[Result], second: list[Result], fixes: list[Fix]
) -> None:
    clock = FakeClock(NOW)
    clinic = cmrewards.open(None, clock=clock, seeds=iter(range(1, 10**6)).__next__)
    clinic.init(ADMIN)
    clinic.add_program(cmrewards.load_preset(program_id), actor=ADMIN)
    clinic.enroll("P001", program_id, start=START, actor=ADMIN)
    record_all(clinic, "P001", first)
    with clock.at(visit(SECOND - 1, hour=23)):  # ended before the next episode starts
        clinic.complete("P001", actor=ADMIN)
    clinic.enroll("P001", program_id, start=visit(SECOND).date(), actor=ADMIN)
    record_all(clinic, "P001", second)
    clinic.enroll("P002", program_id, start=visit(SECOND).date(), actor=ADMIN)
    record_all(clinic, "P002", second)

    assert awards(clinic, "P001", SECOND) == awards(clinic, "P002", SECOND)
    assert states(clinic, "P001") == states(clinic, "P002")
    assert clinic.preview("P001") == clinic.preview("P002")

    # Corrections reach the ended episode and settle it alone.
    with clinic._store.read() as tx:
        earlier = [o.id for o in tx.outcomes("P001") if o.occurred_at < visit(SECOND, 0)]
    for fix in fixes:
        if not earlier:
            break
        outcome_id = earlier[fix.pick % len(earlier)]
        with contextlib.suppress(InvalidTransition):  # already voided, or that outcome
            if fix.outcome is None:
                clinic.void(outcome_id, reason="entered in error", actor=ADMIN)
            else:
                clinic.correct(outcome_id, fix.outcome, reason="confirmed", actor=ADMIN)
    assert awards(clinic, "P001", SECOND) == awards(clinic, "P002", SECOND)
    assert states(clinic, "P001") == states(clinic, "P002")
    report = clinic.verify()
    assert (report.ok, report.problems) == (True, ())


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIXES = st.lists(
    st.builds(Fix, pick=st.integers(0, 10**6), outcome=st.none() | OUTCOMES.map(str)), max_size=4
)


@SETTINGS
@given(
    first=results([STIM], 0, SECOND - 1), second=results([STIM], SECOND, SECOND + 40), fixes=FIXES
)
def test_vouchers_start_afresh_in_a_new_episode(
    first: list[Result], second: list[Result], fixes: list[Fix]
) -> None:
    check_fresh_start("higgins-vbrt", first, second, fixes)


@SETTINGS
@given(
    first=results([STIM, SECONDARY], 0, SECOND - 1),
    second=results([STIM, SECONDARY], SECOND, SECOND + 40),
    fixes=FIXES,
)
def test_weekly_draws_start_afresh_in_a_new_episode(
    first: list[Result], second: list[Result], fixes: list[Fix]
) -> None:
    check_fresh_start("petry-fishbowl", first, second, fixes)
