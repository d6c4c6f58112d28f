"""The one replay every derived read shares: earnings per outcome, standing awards, points."""

from __future__ import annotations

import cmrewards
from cmrewards.domain import ledger
from cmrewards.domain.chain import GENESIS
from cmrewards.domain.episodes import Episodes
from cmrewards.domain.ledger import Movement, Transfer
from cmrewards.domain.records import OutcomeRecord, Participant, Status
from cmrewards.domain.schedules import Outcome
from cmrewards.views.replay import Awards, Points, points_by_outcome, replay_outcomes
from support.clinics import START, visit

PROGRAM = "higgins-vbrt"
WHO = "P001"


def transfer(
    transfer_id: int,
    kind: Movement,
    amount: int,
    *,
    cause: str | None = None,
    reverses: int | None = None,
    participant: str = WHO,
) -> Transfer:
    source, target = (
        ledger.route(kind, participant) if kind is not Movement.REVERSAL else ("?", "?")
    )
    return Transfer(
        id=transfer_id,
        program_id=PROGRAM,
        kind=kind,
        from_account=source,
        to_account=target,
        amount=amount,
        participant=participant,
        actor="admin-1",
        reason="",
        cause=cause,
        reverses=reverses,
        occurred_at=visit(transfer_id),
        recorded_at=visit(transfer_id),
        prev_hash=GENESIS,
        hash="",
    )


def test_an_award_stands_until_a_reversal_undoes_it() -> None:
    transfers = [
        transfer(1, Movement.AWARD, 10, cause="outcome:1"),
        transfer(2, Movement.BONUS, 5, cause="outcome:1"),
        transfer(3, Movement.AWARD, 15, cause="outcome:2"),
        transfer(4, Movement.ADJUSTMENT_UP, 100),
        transfer(5, Movement.REVERSAL, 15, cause="transfer:3", reverses=3),
    ]
    awards = Awards.among(transfers)
    assert [t.id for t in awards.standing] == [1, 2]
    assert [t.id for t in awards.reversed] == [3]
    assert points_by_outcome(awards.standing) == {1: 15}
    assert points_by_outcome(awards.reversed) == {2: 15}


def test_points_by_outcome_leaves_out_awards_with_another_cause() -> None:
    awards = [
        transfer(1, Movement.AWARD, 10, cause="outcome:7"),
        transfer(2, Movement.AWARD, 3, cause=None),
        transfer(3, Movement.AWARD, 4, cause="prize:7"),
    ]
    assert points_by_outcome(awards) == {7: 10}


def test_points_follow_the_participant_s_two_accounts() -> None:
    steps = [
        (transfer(1, Movement.AWARD, 50), Points(50, 0)),
        (transfer(2, Movement.HOLD, 40), Points(10, 40)),
        (transfer(3, Movement.RELEASE, 40), Points(50, 0)),
        (transfer(4, Movement.HOLD, 30), Points(20, 30)),
        (transfer(5, Movement.SPEND, 30), Points(20, 0)),
        (transfer(6, Movement.AWARD, 99, participant="P002"), Points(20, 0)),
    ]
    points = Points()
    for step, expected in steps:
        points = points.after(step, WHO)
        assert points == expected
    assert points.total == 20


def outcome(outcome_id: int, result: Outcome, day: int) -> OutcomeRecord:
    return OutcomeRecord(
        id=outcome_id,
        program_id=PROGRAM,
        participant=WHO,
        target="stimulant-negative",
        outcome=result,
        occurred_at=visit(day),
        recorded_at=visit(day),
        actor="admin-1",
        key=None,
        note=None,
        seed=None,
        prev_hash=GENESIS,
        hash="",
    )


def test_the_replay_carries_each_target_s_schedule_from_outcome_to_outcome() -> None:
    program = cmrewards.load_preset(PROGRAM)
    person = Participant(WHO, PROGRAM, START, Status.ACTIVE, visit(0), "admin-1")
    results = [Outcome.MET, Outcome.MET, Outcome.NOT_MET, Outcome.MET]
    history = [outcome(i + 1, result, 3 * i) for i, result in enumerate(results)]
    replayed = list(replay_outcomes(Episodes.single(person, program), history))
    assert [r.record for r in replayed] == history
    runs = [r.earning.step.state.run for r in replayed]
    points = [r.earning.points for r in replayed]
    assert runs == [1, 2, 0, 1]
    assert points[1] > points[0] > 0
    assert (points[2], points[3]) == (0, points[0])  # a reset starts the schedule again
    assert replayed[2].earning.step.reset
