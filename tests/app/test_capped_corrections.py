"""Corrections and late results in a program with a cap (issue 11), on every store.

A settlement never pays beyond the cap, and ``verify`` stays clean.
"""

from __future__ import annotations

import pytest

from cmrewards import Clinic
from cmrewards.domain.programs import program_from_toml
from support.clinics import START, sample_day, visit

ADMIN = "admin-1"
CAP = 3000

CAPPED_TOML = f"""
id = "capped-points"
name = "Capped escalating points"
point_value_cents = 25
timezone = "UTC"
cap_cents = {CAP}
cap_period = "calendar-year"

[[targets]]
id = "stimulant-negative"
schedule = {{ kind = "escalating", award = "points", start = 10, step = 5, max = 40, bonus = 20, bonus_every = 3, recovery_after = 3 }}
"""  # noqa: E501


@pytest.fixture
def capped(any_clinic: Clinic) -> Clinic:
    any_clinic.add_program(program_from_toml(CAPPED_TOML, "capped"), actor=ADMIN)
    any_clinic.enroll("P001", "capped-points", start=START, actor=ADMIN)
    return any_clinic


def cap_used(clinic: Clinic) -> int:
    remaining = clinic.balance("P001").cap_remaining_cents
    assert remaining is not None
    return CAP - remaining


def record(clinic: Clinic, day: int, outcome: str) -> int:
    return clinic.record(
        "P001", "stimulant-negative", outcome, actor=ADMIN, at=visit(day)
    ).outcome_id


def test_a_correction_never_pays_beyond_the_cap(capped: Clinic) -> None:
    # 10, 0, 10, 15, 20 (+20 bonus) ... the cap ($30 = 120 points) cuts the later awards.
    days = [sample_day(n, per_week=2) for n in range(10)]
    ids = [record(capped, day, "met" if day != 3 else "not_met") for day in days]
    assert capped.balance("P001").points <= CAP // 25
    assert cap_used(capped) == CAP
    # The reset corrected away: every later award grows, but the cap holds.
    capped.correct(ids[1], "met", reason="lab confirmed", actor=ADMIN)
    assert capped.balance("P001").points * 25 <= CAP
    assert 0 <= cap_used(capped) <= CAP
    assert capped.verify().ok
    # Voiding the first gives room back; what is paid stays within the cap.
    capped.void(ids[0], reason="entered in error", actor=ADMIN)
    assert capped.balance("P001").points * 25 <= CAP
    assert 0 <= cap_used(capped) <= CAP
    report = capped.verify()
    assert (report.ok, report.problems) == (True, ())


def test_a_late_result_never_pays_beyond_the_cap(capped: Clinic) -> None:
    for day in (0, 4, 8, 12, 16, 20, 24):
        record(capped, day, "met")
    paid = capped.balance("P001").points
    assert paid * 25 <= CAP
    # Late results on days with no result yet: the escalation they add is capped.
    record(capped, 2, "met")
    record(capped, 6, "not_met")
    assert capped.balance("P001").points * 25 <= CAP
    assert 0 <= cap_used(capped) <= CAP
    report = capped.verify()
    assert (report.ok, report.problems) == (True, ())


def test_void_after_an_admin_reversal_keeps_cap_usage_non_negative(capped: Clinic) -> None:
    outcome_id = record(capped, 0, "met")
    capped.reverse(1, reason="lab error", actor=ADMIN)  # the award, the first transfer
    assert cap_used(capped) == 0
    capped.void(outcome_id, reason="entered in error", actor=ADMIN)
    assert cap_used(capped) == 0
    # With room beyond the cap, later awards would pay more than $30 in the year.
    for day in range(2, 60, 2):
        record(capped, day, "met")
    assert cap_used(capped) <= CAP


EVERY_SLIP_WINS_TOML = """
id = "capped-draws"
name = "Capped draws, every slip a prize"
timezone = "UTC"
cap_cents = 300

[[targets]]
id = "stimulant-negative"
per_week = 2
schedule = { kind = "escalating", award = "draws", start = 1, step = 1, max = 12 }

[[bowl]]
category = "small"
slips = 10
value_cents = 100
"""


def test_a_settlement_counts_earned_draws_not_the_slips_the_cap_kept(
    any_clinic: Clinic,
) -> None:
    """Reviewer: the draw count compared the cap's kept slips with earned draws, so where
    the cap dropped a slip (a bowl without a $0 slip has nothing to downgrade to) a
    settlement that added draws said one was taken back. Earned draws are compared with
    earned draws; the slips are what the cap kept of the new ones."""
    any_clinic.add_program(program_from_toml(EVERY_SLIP_WINS_TOML, "capped-draws"), actor=ADMIN)
    any_clinic.enroll("P001", "capped-draws", start=START, actor=ADMIN)
    ids = [
        record(any_clinic, day, outcome)
        for day, outcome in ((0, "met"), (3, "not_met"), (7, "met"), (10, "met"))
    ]
    # Draws earned 1, 0, 1, 2: $4 of prizes, the $3 cap drops the last slip.
    assert any_clinic.balance("P001").cap_remaining_cents == 0
    # The reset corrected away: 1, 2, 3, 4 draws earned, no room for any new slip.
    met = any_clinic.correct(ids[1], "met", reason="lab confirmed", actor=ADMIN).settlement
    assert (met.draws, met.slips, met.draws_taken_back, met.prizes) == (6, (), 0, ())
    # And back: the six draws are no longer earned (not seven: one was never paid).
    back = any_clinic.correct(ids[1], "not_met", reason="typo", actor=ADMIN).settlement
    assert (back.draws, back.draws_taken_back, back.prizes_withdrawn) == (0, 6, ())
    # A void: its one draw is taken back and its prize withdrawn.
    voided = any_clinic.void(ids[0], reason="entered in error", actor=ADMIN).settlement
    assert (voided.draws, voided.draws_taken_back, len(voided.prizes_withdrawn)) == (0, 1, 1)
    report = any_clinic.verify()
    assert (report.ok, report.problems) == (True, ())
