"""What ``Clinic.balance`` reads (issue 16): the points, the prizes still owed and the
specimens awaiting final results, in one snapshot whose reads do not grow with history.

The store answers the awaiting specimens with one query (``Specimens.awaiting_final``);
every store must agree with the standing readings ``Clinic.analyte_results`` derives from
every stored report (domain/revisions.py), whatever order the reports came in.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

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
from cmrewards.store.port import Store, Tx
from support.clinics import START, FakeClock, visit
from support.lab_statuses import (
    ANALYTES,
    LAB_PROGRAM,
    LAB_START,
    NEG,
    POS,
    C,
    F,
    P,
    W,
    X,
    both,
    collected,
)
from support.wrapped_stores import WrappedStore

ADMIN = "admin-1"


def send(
    clinic: Clinic, participant: str, specimen: int, **analytes: tuple[ResultStatus, Any]
) -> None:
    reported = tuple(ReportedAnalyte(a, result, status) for a, (status, result) in analytes.items())
    report = LabReport(participant, f"{participant}-S{specimen}", collected(specimen), reported)
    clinic.apply_lab_message(LabMessage((report,), "line 1"), actor=ADMIN)


def standing_preliminaries(clinic: Clinic, participant: str) -> tuple[str, ...]:
    """The awaiting specimens as the full readings say: the reference the query must meet."""
    readings = clinic.analyte_results(participant)
    return tuple(dict.fromkeys(r.specimen for r in readings if r.status is P))


@pytest.fixture
def lab(any_clinic: Clinic) -> Clinic:
    any_clinic.add_program(LAB_PROGRAM, actor=ADMIN)
    return any_clinic


def test_the_balance_names_the_specimens_awaiting_final_results(lab: Clinic) -> None:
    lab.enroll("P1", LAB_PROGRAM.id, start=LAB_START, actor=ADMIN)
    assert lab.balance("P1").awaiting_final == ()
    send(lab, "P1", 0, **both(P, NEG))
    send(lab, "P1", 1, cocaine=(P, NEG))
    assert lab.balance("P1").awaiting_final == ("P1-S0", "P1-S1")
    send(lab, "P1", 0, **both(F, NEG))  # final: no longer awaiting, and it pays
    assert (lab.balance("P1").awaiting_final, lab.balance("P1").points) == (("P1-S1",), 10)
    send(lab, "P1", 1, cocaine=(X, None))  # cancelled before any result: nothing awaits
    assert lab.balance("P1").awaiting_final == ()
    send(lab, "P1", 2, **both(F, NEG))
    send(lab, "P1", 2, amphetamine=(W, None))  # withdrawn, then a new preliminary of it
    send(lab, "P1", 2, amphetamine=(P, POS))
    assert lab.balance("P1").awaiting_final == ("P1-S2",)
    assert lab.balance("P1").awaiting_final == standing_preliminaries(lab, "P1")
    send(lab, "P1", 2, amphetamine=(F, POS))
    assert lab.balance("P1").awaiting_final == ()


def test_the_balance_lists_only_the_prizes_still_owed(any_clinic: Clinic) -> None:
    clinic = any_clinic
    clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    clinic.enroll("P1", "petry-fishbowl", start=START, actor=ADMIN)
    won = [
        clinic.record("P1", "stimulant-negative", "met", at=visit(3 * n), actor=ADMIN)
        for n in range(8)
    ]
    prizes = [p for result in won for p in result.prizes]
    assert len(prizes) >= 2, "the fixed seeds win prizes"
    add_cabinet(clinic)
    clinic.fulfil_prize(prizes[0].id, sku=f"CAB-{prizes[0].category}", actor=ADMIN)
    owed = clinic.balance("P1").prizes_owed
    assert owed == tuple(p for p in clinic.prizes("P1") if p.status == "owed")
    assert [p.id for p in owed] == [p.id for p in prizes[1:]]


def add_cabinet(clinic: Clinic) -> None:
    for category in ("small", "large", "jumbo"):
        clinic.add_item(f"CAB-{category}", name=category, cost=0, category=category, actor=ADMIN)


# --- flat: the reads of a balance do not grow with history ---------------------------------


class CountingStore(WrappedStore):
    """A store whose read snapshots count each call and the rows it returned."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.reads: list[tuple[str, int]] = []

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.adapter.read() as tx:
            yield Counted(tx, self.reads)

    def write(self) -> AbstractContextManager[Tx]:
        return self.adapter.write()


class Counted:
    def __init__(self, tx: Tx, reads: list[tuple[str, int]]) -> None:
        self._tx = tx
        self._reads = reads

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._tx, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            answer = method(*args, **kwargs)
            rows = (
                len(answer) if isinstance(answer, list | tuple | dict) else int(answer is not None)
            )
            self._reads.append((name, rows))
            return answer

        return counted


def reads_of_balance(clinic: Clinic, clock: FakeClock, participant: str) -> list[tuple[str, int]]:
    counting = CountingStore(clinic._store)
    balance = Clinic(counting, clock=clock).balance(participant)
    assert balance.awaiting_final is not None
    assert balance.prizes_owed is not None
    return counting.reads


def lab_history(clinic: Clinic, participant: str, specimens: int) -> None:
    """Every specimen preliminary then final, but the last: still preliminary."""
    clinic.enroll(participant, LAB_PROGRAM.id, start=LAB_START, actor=ADMIN)
    for n in range(specimens):
        send(clinic, participant, n, **both(P, NEG))
        if n < specimens - 1:
            send(clinic, participant, n, **both(F, NEG if n % 3 else POS))


def prize_history(clinic: Clinic, participant: str, visits: int) -> None:
    """A negative sample every Monday and Thursday, every prize handed over."""
    clinic.enroll(participant, "petry-fishbowl", start=START, actor=ADMIN)
    for n in range(visits):
        day = (n // 2) * 7 + (n % 2) * 3
        for prize in clinic.record(
            participant, "stimulant-negative", "met", at=visit(day), actor=ADMIN
        ).prizes:
            clinic.fulfil_prize(prize.id, sku=f"CAB-{prize.category}", actor=ADMIN)


def test_a_balance_reads_the_same_rows_whatever_the_history(lab: Clinic, clock: FakeClock) -> None:
    lab.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    add_cabinet(lab)
    lab_history(lab, "SHORT-LAB", 2)
    lab_history(lab, "LONG-LAB", 12)
    prize_history(lab, "SHORT-PRIZE", 2)
    prize_history(lab, "LONG-PRIZE", 16)
    assert len(lab.prizes("LONG-PRIZE")) > len(lab.prizes("SHORT-PRIZE")), "the seeds win"
    short = reads_of_balance(lab, clock, "SHORT-LAB")
    assert ("awaiting_final", 1) in short
    assert short == reads_of_balance(lab, clock, "LONG-LAB")
    assert reads_of_balance(lab, clock, "SHORT-PRIZE") == reads_of_balance(lab, clock, "LONG-PRIZE")


# --- the query against the readings, whatever the order of arrival ------------------------

report_of = st.one_of(
    st.tuples(st.sampled_from([P, F, C]), st.sampled_from([NEG, POS])),
    st.tuples(st.sampled_from([W, X]), st.none()),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(ANALYTES), report_of), min_size=1, max_size=12
    )
)
def test_every_store_finds_what_the_readings_say_awaits(
    arrivals: list[tuple[int, str, tuple[ResultStatus, LabResult | None]]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for location in (None, str(Path(folder) / "clinic.db")):
            with cmrewards.open(location, clock=FakeClock()) as clinic:
                clinic.init(ADMIN)
                clinic.add_program(LAB_PROGRAM, actor=ADMIN)
                clinic.enroll("P1", LAB_PROGRAM.id, start=LAB_START, actor=ADMIN)
                for specimen, analyte, report in arrivals:
                    with contextlib.suppress(InvalidTransition, IdempotencyConflict):
                        send(clinic, "P1", specimen, **{analyte: report})
                expected = standing_preliminaries(clinic, "P1")
                assert clinic.balance("P1").awaiting_final == expected
