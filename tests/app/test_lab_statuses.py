"""Result statuses drive the record (issue 13): preliminary, final, corrected, withdrawn.

The worked sequences run on every store: a preliminary negative then its final pays once,
at the final; a final negative corrected to positive takes the award back and the next
award's escalation follows the corrected history; a final positive corrected to negative
pays what an on-time negative would have; a final then entered in error voids; every
message sent again is a replay; a refused message writes nothing. The property: whatever
the order a specimen's reports arrive in (each analyte's last one fixed), the money is the
money of recording only the effective results directly.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cmrewards
from cmrewards import (
    Clinic,
    IdempotencyConflict,
    InvalidTransition,
    LabMessage,
    LabReport,
    LabResult,
    ReportedAnalyte,
    ResultStatus,
)
from support.clinics import FakeClock
from support.lab_statuses import ANALYTES, NEG, POS, C, F, P, W, X, both, collected
from support.lab_statuses import LAB_PROGRAM as PROGRAM
from support.lab_statuses import LAB_START as START

STIM = "stimulant-negative"


def report(specimen: int, **analytes: tuple[ResultStatus, LabResult | None]) -> LabReport:
    return LabReport(
        "P1",
        f"S{specimen}",
        collected(specimen),
        tuple(ReportedAnalyte(name, result, status) for name, (status, result) in analytes.items()),
    )


def message(*reports: LabReport) -> LabMessage:
    return LabMessage(reports, "line 1", control_id="MSG-1")


def apply(clinic: Clinic, *reports: LabReport) -> cmrewards.LabMessageResult:
    """As the lab's feed (a lab-feed account), which may apply its corrections."""
    return clinic.apply_lab_message(message(*reports), actor="feed-1")


def points(clinic: Clinic) -> int:
    return clinic.balance("P1").points


def outcomes(clinic: Clinic) -> list[str]:
    """P1's outcomes as they stand (corrections applied, voided ones gone), in clinical
    order: ``stimulant-negative: met``."""
    standing: dict[str, str] = {}
    for entry in clinic.history("P1"):
        if entry.kind == "outcome":
            standing[entry.ref.removeprefix("outcome:")] = entry.detail.split(" (")[0]
        elif entry.kind in ("correct", "void"):
            outcome_id = entry.detail.split()[1]
            if entry.kind == "void":
                del standing[outcome_id]
            else:
                wanted = entry.detail.split(" corrected to ")[1].split(":")[0]
                standing[outcome_id] = f"{standing[outcome_id].split(':')[0]}: {wanted}"
    return list(standing.values())


@pytest.fixture
def lab(any_clinic: Clinic) -> Clinic:
    """``any_clinic`` with the CTN stimulant program (Higgins: 10, +5 a step, reset on a
    positive), recorder ``rec-1``, lab-feed account ``feed-1`` and P1 enrolled."""
    any_clinic.add_staff("rec-1", "recorder", actor="admin-1")
    any_clinic.add_staff("feed-1", "lab-feed", actor="admin-1")
    any_clinic.add_program(PROGRAM, actor="admin-1")
    any_clinic.enroll("P1", PROGRAM.id, start=START, actor="admin-1")
    return any_clinic


def assert_replays(clinic: Clinic, *reports: LabReport) -> None:
    """Sending the message again is a replay: it writes nothing."""
    before = (points(clinic), clinic.analyte_results("P1"), outcomes(clinic))
    again = apply(clinic, *reports)
    assert again.replayed
    assert (points(clinic), clinic.analyte_results("P1"), outcomes(clinic)) == before


# --- the worked sequences ------------------------------------------------------------------


def test_a_preliminary_negative_is_shown_and_the_final_pays_once(lab: Clinic) -> None:
    early = report(0, **both(P, NEG))
    shown = apply(lab, early)
    assert (shown.reports[0].preliminary, shown.reports[0].recorded) == (2, ())
    assert points(lab) == 0
    assert outcomes(lab) == []
    assert [(r.analyte, r.status, r.result) for r in lab.analyte_results("P1")] == [
        ("cocaine", P, NEG),
        ("amphetamine", P, NEG),
    ]
    final = report(0, **both(F, NEG))
    paid = apply(lab, final)
    assert len(paid.reports[0].recorded) == 1
    assert points(lab) == 10
    assert outcomes(lab) == [f"{STIM}: met"]
    assert {r.status for r in lab.analyte_results("P1")} == {F}
    assert_replays(lab, early)
    assert_replays(lab, final)
    assert points(lab) == 10
    assert lab.verify().ok


def test_a_final_negative_corrected_to_positive_takes_the_award_back(lab: Clinic) -> None:
    apply(lab, report(0, **both(F, NEG)))
    apply(lab, report(1, **both(F, NEG)))
    assert points(lab) == 10 + 15
    fix = report(0, cocaine=(C, POS))
    corrected = apply(lab, fix)
    assert (corrected.reports[0].corrected, corrected.reports[0].voided) == (
        (corrected.reports[0].corrected[0],),
        (),
    )
    # S0 is not_met now: its 10 is taken back, and S1 is the first met after a reset (10).
    assert points(lab) == 10
    assert outcomes(lab) == [f"{STIM}: not_met", f"{STIM}: met"]
    # The next award follows the corrected history: the second met in a row, 15.
    apply(lab, report(2, **both(F, NEG)))
    assert points(lab) == 10 + 15
    standing = {r.analyte: (r.status, r.result, r.reports) for r in lab.analyte_results("P1")[:2]}
    assert standing == {"cocaine": (C, POS, 2), "amphetamine": (F, NEG, 1)}
    assert_replays(lab, fix)
    assert_replays(lab, report(0, **both(F, NEG)))  # the original final, sent again
    assert lab.verify().ok


def test_a_final_positive_corrected_to_negative_pays_what_an_on_time_negative_would(
    lab: Clinic,
) -> None:
    apply(lab, report(0, cocaine=(F, POS), amphetamine=(F, NEG)))
    apply(lab, report(1, **both(F, NEG)))
    assert points(lab) == 10
    apply(lab, report(0, cocaine=(C, NEG)))
    with cmrewards.open(None, clock=FakeClock()) as direct:
        direct.init("admin-1")
        on_time = reference(direct, [(0, "met"), (1, "met")])
    assert points(lab) == on_time == 10 + 15
    assert outcomes(lab) == [f"{STIM}: met", f"{STIM}: met"]
    assert lab.verify().ok


def test_a_final_then_entered_in_error_voids_the_outcome(lab: Clinic) -> None:
    final = report(0, **both(F, NEG))
    apply(lab, final)
    apply(lab, report(1, **both(F, NEG)))
    assert points(lab) == 25
    error = report(0, cocaine=(W, None))
    withdrawn = apply(lab, error)
    assert len(withdrawn.reports[0].voided) == 1
    # S0 decides nothing now: S1 is the first met, 10.
    assert points(lab) == 10
    assert outcomes(lab) == [f"{STIM}: met"]
    cocaine = lab.analyte_results("P1")[0]
    assert (cocaine.analyte, cocaine.status, cocaine.result, cocaine.decides) == (
        "cocaine",
        W,
        NEG,
        False,
    )
    assert_replays(lab, error)
    assert_replays(lab, final)
    # The lab reports the analyte again: the specimen decides again, recorded anew.
    again = apply(lab, report(0, cocaine=(F, NEG)))
    assert len(again.reports[0].recorded) == 1
    assert points(lab) == 25
    assert lab.verify().ok


def test_a_cancelled_analyte_before_any_result_is_shown_and_decides_nothing(lab: Clinic) -> None:
    apply(lab, report(0, cocaine=(X, None), amphetamine=(F, NEG)))
    assert [(r.analyte, r.status, r.result) for r in lab.analyte_results("P1")] == [
        ("amphetamine", F, NEG),
        ("cocaine", X, None),
    ]
    assert outcomes(lab) == []


def test_a_refused_message_writes_nothing(lab: Clinic) -> None:
    apply(lab, report(0, **both(F, NEG)))
    before = (points(lab), lab.analyte_results("P1"), outcomes(lab))
    fine = report(1, **both(F, NEG))
    with pytest.raises(InvalidTransition, match="a preliminary report cannot follow it"):
        apply(lab, fine, report(0, cocaine=(P, POS)))
    with pytest.raises(IdempotencyConflict, match="changes only through a corrected one"):
        apply(lab, fine, report(0, cocaine=(F, POS)))
    with pytest.raises(cmrewards.InvalidInput, match="collected at"):
        apply(lab, fine, LabReport("P1", "S0", collected(3), (ReportedAnalyte("cocaine", POS, C),)))
    with pytest.raises(cmrewards.NotFound):
        apply(lab, fine, LabReport("P9", "S9", collected(3), (ReportedAnalyte("cocaine", POS, F),)))
    assert (points(lab), lab.analyte_results("P1"), outcomes(lab)) == before
    assert lab.verify().ok


def test_a_refused_message_that_wrote_a_correction_rolls_its_chunk_back(lab: Clinic) -> None:
    """A correction is written through to the store (the chunk is flushed first), so a
    message refused after one cannot be taken back alone: its chunk is rolled back and
    the messages before it are applied again, and it writes nothing."""
    apply(lab, report(0, **both(F, NEG)))
    before = (points(lab), outcomes(lab))
    good = LabMessage((report(1, **both(F, NEG)),), "line 1")
    unknown = LabReport("P9", "S9", collected(3), (ReportedAnalyte("cocaine", POS, F),))
    bad = LabMessage((report(0, cocaine=(C, POS)), unknown), "line 2")  # corrects S0 first
    later = LabMessage((report(2, **both(F, NEG)),), "line 3")
    done = lab.import_lab_messages([good, bad, later], actor="feed-1", chunk_size=10)
    assert [(r.at, r.error_type) for r in done.refused] == [("line 2", "NotFound")]
    assert (done.applied, done.outcomes, done.corrected) == (2, 2, 0)
    # S0 still met (not corrected), S1 and S2 recorded once each.
    assert outcomes(lab) == [*before[1], f"{STIM}: met", f"{STIM}: met"]
    assert points(lab) == before[0] + 15 + 20 + 40  # the third met in a row earns the bonus
    assert lab.verify().ok


def test_an_import_refuses_a_bad_message_goes_on_and_a_rerun_retries_it(lab: Clinic) -> None:
    good = LabMessage((report(0, **both(F, NEG)),), "line 1")
    bad = LabMessage((report(1, **both(F, NEG)), report(0, cocaine=(P, POS))), "line 2")
    later = LabMessage((report(2, **both(F, NEG)),), "line 3")
    first = lab.import_lab_messages([good, bad, later], actor="rec-1", chunk_size=10)
    assert (first.complete, first.failed_at, first.applied, first.messages) == (
        False,
        "line 2",
        2,
        2,
    )
    assert [(r.at, r.error_type) for r in first.refused] == [("line 2", "InvalidTransition")]
    assert first.error is not None
    assert first.error.startswith("line 2: specimen S0 cocaine has a final result")
    # Nothing of the refused message: S1 (its first report) is not stored.
    assert [r.specimen for r in lab.analyte_results("P1")] == ["S0", "S0", "S2", "S2"]
    assert points(lab) == 10 + 15
    fixed = LabMessage((report(1, **both(F, NEG)),), "line 2")
    done = lab.import_lab_messages([good, fixed, later], actor="rec-1")
    assert (done.complete, done.applied, done.replayed_units, done.outcomes) == (True, 1, 2, 1)
    # S1 comes late and S2 is settled again: as if the file had been right.
    assert points(lab) == 10 + 15 + 20 + 40  # the third met in a row earns the bonus
    assert lab.verify().ok


# --- who may apply a lab's change to a decided result ----------------------------------------


def as_staff(clinic: Clinic, actor: str, *reports: LabReport) -> cmrewards.LabMessageResult:
    return clinic.apply_lab_message(message(*reports), actor=actor)


def test_a_recorder_records_first_results_but_may_not_change_a_decided_one(lab: Clinic) -> None:
    lab.add_staff("clin-1", "clinician", actor="admin-1")
    as_staff(lab, "rec-1", report(0, **both(P, NEG)))
    as_staff(lab, "rec-1", report(0, **both(F, NEG)))  # the first final: recording
    as_staff(lab, "rec-1", report(1, cocaine=(X, None)))  # a withdrawal before any result
    before = (points(lab), lab.analyte_results("P1"), outcomes(lab))
    assert before[0] == 10
    fine = report(2, **both(F, NEG))
    for actor, role in (("rec-1", "recorder"), ("clin-1", "clinician")):
        for change in (report(0, cocaine=(C, POS)), report(0, cocaine=(W, None))):
            # The whole message is refused, its first report (a plain final) included.
            with pytest.raises(cmrewards.PermissionDenied) as refused:
                as_staff(lab, actor, fine, change)
            text = str(refused.value)
            assert "\n" not in text
            assert text.startswith(f"specimen S0 cocaine: this {change.analytes[0].status} report")
            assert f"{actor!r} is a {role}; only an admin or a lab-feed account" in text
            assert (points(lab), lab.analyte_results("P1"), outcomes(lab)) == before
    # The feed, and an admin, apply it; a recorder then sends the same report: a replay.
    fix = report(0, cocaine=(C, POS))
    assert as_staff(lab, "feed-1", fix).reports[0].corrected
    assert as_staff(lab, "rec-1", fix).replayed
    assert as_staff(lab, "admin-1", report(0, cocaine=(W, None))).reports[0].voided
    assert points(lab) == 0
    assert lab.verify().ok


def test_a_final_after_a_withdrawal_is_a_change_too(lab: Clinic) -> None:
    apply(lab, report(0, **both(F, NEG)))
    apply(lab, report(0, cocaine=(W, None)))
    with pytest.raises(cmrewards.PermissionDenied, match="this final report changes"):
        as_staff(lab, "rec-1", report(0, cocaine=(F, NEG)))
    assert outcomes(lab) == []
    assert len(as_staff(lab, "feed-1", report(0, cocaine=(F, NEG))).reports[0].recorded) == 1


def test_a_recorder_import_refuses_the_change_and_applies_the_rest(lab: Clinic) -> None:
    first = LabMessage((report(0, **both(F, NEG)),), "line 1")
    change = LabMessage((report(1, **both(F, NEG)), report(0, cocaine=(C, POS))), "line 2")
    later = LabMessage((report(2, **both(F, NEG)),), "line 3")
    refused = lab.import_lab_messages([first, change, later], actor="rec-1", chunk_size=10)
    assert (refused.complete, refused.failed_at, refused.applied) == (False, "line 2", 2)
    assert (refused.error_type, refused.exit_code) == ("PermissionDenied", 1)
    assert refused.error is not None
    assert refused.error.startswith("line 2: specimen S0 cocaine: this corrected report changes")
    assert [r.specimen for r in lab.analyte_results("P1")] == ["S0", "S0", "S2", "S2"]
    assert points(lab) == 10 + 15
    done = lab.import_lab_messages([first, change, later], actor="feed-1")
    assert (done.complete, done.applied, done.corrected, done.replayed_units) == (True, 1, 1, 2)
    assert outcomes(lab) == [f"{STIM}: not_met", f"{STIM}: met", f"{STIM}: met"]
    assert points(lab) == 10 + 15  # S0 no longer pays; S1 and S2 start again
    assert lab.verify().ok


def test_a_lab_feed_account_changes_nothing_by_hand(lab: Clinic) -> None:
    apply(lab, report(0, **both(F, NEG)))
    (outcome,) = [e for e in lab.history("P1") if e.kind == "outcome"]
    outcome_id = int(outcome.ref.removeprefix("outcome:"))
    with pytest.raises(cmrewards.PermissionDenied, match="a lab-feed may not correct"):
        lab.correct(outcome_id, "not_met", reason="by hand", actor="feed-1")
    with pytest.raises(cmrewards.PermissionDenied, match="a lab-feed may not void"):
        lab.void(outcome_id, reason="by hand", actor="feed-1")
    with pytest.raises(cmrewards.PermissionDenied, match="a lab-feed may not adjust"):
        lab.adjust("P1", 5, reason="by hand", actor="feed-1")
    assert [s.role for s in lab.staff() if s.id == "feed-1"] == [cmrewards.Role.LAB_FEED]


# --- the property: any order of arrival, the same money ------------------------------------


def reference(clinic: Clinic, decided: list[tuple[int, str]]) -> int:
    """The money of recording each specimen's effective outcome directly, in order."""
    clinic.add_staff("rec-1", "recorder", actor="admin-1")
    clinic.add_program(PROGRAM, actor="admin-1")
    clinic.enroll("P1", PROGRAM.id, start=START, actor="admin-1")
    for specimen, outcome in sorted(decided):
        clinic.record("P1", STIM, outcome, actor="rec-1", at=collected(specimen))
    return points(clinic)


result_of = st.sampled_from([NEG, POS, LabResult.DILUTE])
earlier_report = st.one_of(
    st.tuples(st.sampled_from([P, F, C]), result_of),
    st.tuples(st.sampled_from([W, X]), st.one_of(st.none(), result_of)),
)
last_report = st.one_of(
    st.tuples(st.sampled_from([F, C]), result_of),
    st.tuples(st.sampled_from([W, X]), st.none()),
)


@st.composite
def arrivals(draw: st.DrawFn) -> tuple[list[tuple[int, str, tuple]], dict[tuple[int, str], tuple]]:  # type: ignore[type-arg]
    """Each (specimen, analyte)'s reports, the last one fixed, interleaved in any order
    (one analyte per report)."""
    lanes: dict[tuple[int, str], list[tuple]] = {}  # type: ignore[type-arg]
    for specimen in range(3):
        for analyte in ANALYTES:
            earlier = draw(st.lists(earlier_report, max_size=3, unique=True))
            status, value = draw(last_report)
            if status is F and any(s.pays for s, _ in earlier):
                status = C  # a final after a final or corrected one must come as corrected
            # The same report twice is one report sent again (a replay, by its content
            # key): each report of a lane is a different one.
            earlier = [e for e in earlier if e != (status, value)]
            lanes[specimen, analyte] = [*earlier, (status, value)]
    order = draw(st.permutations([lane for lane, reports in lanes.items() for _ in reports]))
    taken = dict.fromkeys(lanes, 0)
    sequence = []
    for lane in order:
        sequence.append((*lane, lanes[lane][taken[lane]]))
        taken[lane] += 1
    return sequence, {lane: reports[-1] for lane, reports in lanes.items()}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arrivals())
def test_any_order_of_arrival_pays_what_the_effective_results_pay(
    case: tuple[list[tuple[int, str, tuple]], dict[tuple[int, str], tuple]],  # type: ignore[type-arg]
) -> None:
    sequence, last = case
    clock = FakeClock()
    with cmrewards.open(None, clock=clock) as clinic, cmrewards.open(None, clock=clock) as direct:
        clinic.init("admin-1")
        clinic.add_staff("feed-1", "lab-feed", actor="admin-1")
        clinic.add_program(PROGRAM, actor="admin-1")
        clinic.enroll("P1", PROGRAM.id, start=START, actor="admin-1")
        for specimen, analyte, (status, value) in sequence:
            # A preliminary after a final, or a final changing a final, is refused.
            with contextlib.suppress(InvalidTransition, IdempotencyConflict):
                apply(clinic, report(specimen, **{analyte: (status, value)}))
        decided = []
        for specimen in range(3):
            values = {
                a: value
                for a in ANALYTES
                for status, value in [last[specimen, a]]
                if status.pays and value is not None
            }
            if POS in values.values():
                decided.append((specimen, "not_met"))
            elif len(values) == len(ANALYTES):
                decided.append((specimen, "met" if set(values.values()) == {NEG} else "invalid"))
        direct.init("admin-1")
        assert points(clinic) == reference(direct, decided)
        assert sorted(outcomes(clinic)) == sorted(f"{STIM}: {o}" for _, o in decided)
        assert clinic.verify().ok
