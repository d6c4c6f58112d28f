"""Episodes (issue 12 item 5): a person enrolled again after an enrolment ended, on every store.

Each episode has its own start, program weeks and schedule state; the cap's period counts
every episode of the person; corrections reach an ended episode, new results do not.
"""

from __future__ import annotations

import datetime as dt

import pytest

import cmrewards
from cmrewards import AlreadyExists, Clinic, InvalidInput, InvalidTransition
from cmrewards.domain.programs import program_from_toml
from support.clinics import START, FakeClock, visit

ADMIN = "admin-1"
STIM = "stimulant-negative"
HIGGINS = "higgins-vbrt"


def record(clinic: Clinic, who: str, day: int, outcome: str = "met") -> cmrewards.RecordResult:
    return clinic.record(who, STIM, outcome, actor=ADMIN, at=visit(day))


def points(results: list[cmrewards.RecordResult]) -> list[int]:
    return [r.award.points + r.award.bonus_points for r in results]


def day(n: int) -> dt.date:
    return visit(n).date()


# --- enrolling again ------------------------------------------------------------------------


def test_a_returning_person_starts_a_fresh_schedule(higgins: Clinic, clock: FakeClock) -> None:
    first = [record(higgins, "P001", d) for d in (0, 2, 4, 7)]
    assert points(first) == [10, 15, 60, 25]
    with clock.at(visit(20)):
        ended = higgins.withdraw("P001", actor=ADMIN)
    assert ended.ended_at is not None
    assert ended.ended_by == ADMIN
    again = higgins.enroll("P001", HIGGINS, start=day(30), actor=ADMIN)
    assert (2, day(30), START) == (again.episode, again.start, again.first_start)
    # Episode 2 pays as a first enrolment does: 10, 15, 20 + 40, not 30, 35 ...
    second = [record(higgins, "P001", d) for d in (30, 32, 35)]
    assert points(second) == [10, 15, 60]
    # A person enrolled fresh on the same day, with the same results, is paid the same.
    higgins.enroll("P002", HIGGINS, start=day(30), actor=ADMIN)
    fresh = [record(higgins, "P002", d) for d in (30, 32, 35)]
    assert points(fresh) == points(second)
    assert higgins.preview("P001") == higgins.preview("P002")
    assert higgins.balance("P001").points == 110 + 85
    report = higgins.verify()
    assert report.ok, report.problems


def test_every_episode_is_listed_and_kept(higgins: Clinic, clock: FakeClock) -> None:
    record(higgins, "P001", 0)
    clock.now = visit(19)
    higgins.complete("P001", actor=ADMIN)
    clock.advance(days=1)
    higgins.enroll("P001", HIGGINS, start=day(20), actor="admin-1")
    episodes = higgins.episodes("P001")
    assert [(1, "completed", START), (2, "active", day(20))] == [
        (e.number, e.status, e.start) for e in episodes
    ]
    assert episodes[0].ended_at == clock.now - dt.timedelta(days=1)
    assert (episodes[1].ended_at, episodes[1].ended_by) == (None, None)
    assert [p.episode for p in higgins.participants()] == [2]
    assert higgins.participant("P001").as_episode() == episodes[1]
    with pytest.raises(cmrewards.NotFound):
        higgins.episodes("P404")


def test_an_active_episode_is_not_enrolled_again(higgins: Clinic, clock: FakeClock) -> None:
    with pytest.raises(AlreadyExists, match="already enrolled in higgins-vbrt"):
        higgins.enroll("P001", HIGGINS, start=day(30), actor=ADMIN)
    # Said before the 31-day limit: no start would do while the episode is active.
    with pytest.raises(AlreadyExists, match="already enrolled in higgins-vbrt"):
        higgins.enroll("P001", HIGGINS, start=day(30 + 365), actor=ADMIN)
    with clock.at(visit(20)):
        higgins.withdraw("P001", actor=ADMIN)
    higgins.enroll("P001", HIGGINS, start=day(30), actor=ADMIN)
    before = higgins.episodes("P001")
    with pytest.raises(AlreadyExists, match=r"\(active, episode 2\)"):
        higgins.enroll("P001", HIGGINS, start=day(40), actor=ADMIN)
    assert before == higgins.episodes("P001")


def test_the_next_episode_starts_after_the_last_result(higgins: Clinic, clock: FakeClock) -> None:
    record(higgins, "P001", 0)
    record(higgins, "P001", 9)
    with clock.at(visit(9, hour=17)):
        higgins.withdraw("P001", actor=ADMIN)
    for start in (day(1), day(5), day(9)):
        with pytest.raises(InvalidTransition, match=f"last result, on {day(9)} \\(outcome"):
            higgins.enroll("P001", HIGGINS, start=start, actor=ADMIN)
    assert [e.number for e in higgins.episodes("P001")] == [1]
    assert higgins.enroll("P001", HIGGINS, start=day(10), actor=ADMIN).episode == 2
    assert higgins.verify().ok


def test_the_next_episode_does_not_start_before_the_last_one_ended(
    higgins: Clinic, clock: FakeClock
) -> None:
    record(higgins, "P001", 0)
    with clock.at(visit(20)):
        higgins.withdraw("P001", actor=ADMIN)
    before = (higgins.episodes("P001"), higgins.history("P001"), higgins.participants())
    for start in (day(1), day(19)):
        with pytest.raises(InvalidTransition, match=f"ended, on {day(20)} \\(withdrawn\\)"):
            higgins.enroll("P001", HIGGINS, start=start, actor=ADMIN)
    assert before == (higgins.episodes("P001"), higgins.history("P001"), higgins.participants())
    assert higgins.enroll("P001", HIGGINS, start=day(20), actor=ADMIN).episode == 2
    assert higgins.verify().ok


def test_no_results_are_recorded_into_an_ended_episode(higgins: Clinic, clock: FakeClock) -> None:
    record(higgins, "P001", 0)
    with clock.at(visit(1)):
        higgins.withdraw("P001", actor=ADMIN)
    with pytest.raises(InvalidTransition, match="is withdrawn"):
        record(higgins, "P001", 3)
    higgins.enroll("P001", HIGGINS, start=day(20), actor=ADMIN)
    # A late result dated in episode 1 would pay into an ended enrolment: refused.
    with pytest.raises(InvalidInput, match=f"before P001's episode 2, from {day(20)}"):
        record(higgins, "P001", 5)
    assert sum(e.kind == "outcome" for e in higgins.history("P001")) == 1


def test_a_correction_in_an_ended_episode_settles_that_episode_only(
    higgins: Clinic, clock: FakeClock
) -> None:
    first = [record(higgins, "P001", d) for d in (0, 2, 4)]
    with clock.at(visit(20)):
        higgins.complete("P001", actor=ADMIN)
    higgins.enroll("P001", HIGGINS, start=day(30), actor=ADMIN)
    second = [record(higgins, "P001", d) for d in (30, 32)]
    assert points(second) == [10, 15]
    corrected = higgins.correct(first[0].outcome_id, "not_met", reason="GC/MS", actor=ADMIN)
    # Episode 1 is replayed without its first negative: 0, 10, 15 instead of 10, 15, 60.
    assert corrected.settlement.taken_back_points == 85 - 25
    assert set(corrected.settlement.outcomes) == {r.outcome_id for r in first}
    statement = higgins.statement("P001")
    assert [line.points for line in statement.lines] == [0, 10, 15, 10, 15]
    assert [line.episode for line in statement.lines] == [1, 1, 1, 2, 2]
    report = higgins.verify()
    assert report.ok, report.problems


# --- another program -------------------------------------------------------------------------


def test_another_program_once_the_old_points_are_spent(higgins: Clinic, clock: FakeClock) -> None:
    higgins.add_program(cmrewards.load_preset("va-prize-cm"), actor=ADMIN)
    record(higgins, "P001", 0)
    with clock.at(visit(20)):
        higgins.complete("P001", actor=ADMIN)
    with pytest.raises(InvalidTransition, match="still has 10 points in higgins-vbrt"):
        higgins.enroll("P001", "va-prize-cm", start=day(30), actor=ADMIN)
    higgins.adjust("P001", -10, reason="handed over as a gift card", actor=ADMIN)
    again = higgins.enroll("P001", "va-prize-cm", start=day(30), actor=ADMIN)
    assert (again.program_id, again.episode) == ("va-prize-cm", 2)
    drawn = record(higgins, "P001", 30)
    assert drawn.award.draws == 1  # va-prize-cm's first draw, not a Higgins voucher
    statement = higgins.statement("P001")
    assert [(e.number, e.program_id, e.results) for e in statement.episodes] == [
        (1, HIGGINS, 1),
        (2, "va-prize-cm", 1),
    ]
    assert statement.episodes[0].earned_cents == 10 * 25  # its one voucher, 10 points
    report = higgins.verify()
    assert report.ok, report.problems


# --- caps: a person's period counts every episode --------------------------------------------


def capped_toml(period: str) -> str:
    return f"""
id = "capped-{period}"
name = "Fixed $50 a negative, $599 a year"
point_value_cents = 100
timezone = "UTC"
cap_cents = 59900
cap_period = "{period}"
calendar = false  # a result every other day for a year: the cap, not the calendar, decides

[[targets]]
id = "{STIM}"
schedule = {{ kind = "fixed", award = "points", amount = 50 }}
"""


@pytest.mark.parametrize("period", ["enrollment-year", "calendar-year"])
def test_a_new_episode_does_not_start_the_cap_again(
    any_clinic: Clinic, clock: FakeClock, period: str
) -> None:
    program = program_from_toml(capped_toml(period), "capped.toml")
    any_clinic.add_program(program, actor=ADMIN)
    any_clinic.enroll("P001", program.id, start=START, actor=ADMIN)
    first = [record(any_clinic, "P001", d) for d in range(0, 20, 2)]
    assert sum(points(first)) == 500  # $500 in episode 1
    with clock.at(visit(30)):
        any_clinic.withdraw("P001", actor=ADMIN)
    # Two months later, in the same program: only $99 of the $599 is left.
    any_clinic.enroll("P001", program.id, start=day(60), actor=ADMIN)
    second = [record(any_clinic, "P001", d) for d in (60, 62, 64)]
    assert points(second) == [50, 49, 0]
    assert [r.award.capped for r in second] == [False, True, True]
    assert any_clinic.balance("P001").cap_remaining_cents == 0  # in June 2027
    clock.now = dt.datetime(2028, 3, 1, 12, tzinfo=dt.UTC)
    # A new period gives the whole cap again: the first anniversary of the FIRST start
    # (2028-01-04, before episode 2's own anniversary), or the new calendar year.
    new_period = [record(any_clinic, "P001", d) for d in (366, 368)]
    assert points(new_period) == [50, 50]
    assert any_clinic.balance("P001").cap_remaining_cents == 59900 - 10000
    report = any_clinic.verify()
    assert report.ok, report.problems


# --- what staff see ----------------------------------------------------------------------------


def test_history_statement_and_report_show_the_episodes(higgins: Clinic, clock: FakeClock) -> None:
    record(higgins, "P001", 0)
    record(higgins, "P001", 2, "not_met")
    with clock.at(visit(20)):
        higgins.withdraw("P001", actor=ADMIN)
    higgins.enroll("P001", HIGGINS, start=day(30), actor=ADMIN)
    record(higgins, "P001", 30)
    history = higgins.history("P001")
    assert [(e.kind, e.episode) for e in history if e.kind in ("outcome", "episode")] == [
        ("outcome", 1),
        ("outcome", 1),
        ("episode", 2),
        ("outcome", 2),
    ]
    (line,) = [e for e in history if e.kind == "episode"]
    assert line.detail == f"episode 2 in {HIGGINS} from {day(30)}"
    statement = higgins.statement("P001")
    assert (statement.episode, statement.start, statement.status) == (2, day(30), "active")
    summary = [(e.number, e.status, e.results, e.earned_cents) for e in statement.episodes]
    assert summary == [(1, "withdrawn", 2, 250), (2, "active", 1, 250)]
    assert statement.earned_cents == 500
    page = cmrewards.statement_html(statement)
    assert '<section class="episodes"><h2>Episodes</h2>' in page
    assert page.count('data-episode="2"') == 2  # its row in Episodes and its result
    (report,) = higgins.report(HIGGINS)
    assert (report.enrolled, report.episodes, report.returning) == (1, 2, 1)
    assert report.longest_abstinence == {"P001": 1}


def test_a_booked_episode_ends_only_from_its_first_day(higgins: Clinic, clock: FakeClock) -> None:
    """A start more than 31 days ahead is refused (a mistyped year); one within a month
    is a booking, which cannot be ended before its first day (it would end before it
    starts) and is withdrawn as any other from that day."""
    with clock.at(visit(40)), pytest.raises(InvalidInput, match="more than 31 days after"):
        higgins.enroll("P009", HIGGINS, start=day(72), actor=ADMIN)
    with clock.at(visit(40)):
        higgins.enroll("P009", HIGGINS, start=day(71), actor=ADMIN)
        for end in (higgins.withdraw, higgins.complete):
            with pytest.raises(InvalidTransition, match="has not started"):
                end("P009", actor=ADMIN)
    with clock.at(visit(71)):
        ended = higgins.withdraw("P009", actor=ADMIN)
    assert ended.ended_at is not None
    assert ended.ended_at.date() >= ended.start
    report = higgins.verify()
    assert report.ok, report.problems
