"""A lab export imported in chunks writes what the same specimens applied one per
transaction write (issue 16), refusals included.

A chunk holds its writes back to one batch per table (``store/buffered.py``), and a
specimen refused part-way is taken back alone (``BufferedTx.take_back``): the specimens
before it stay pending and are committed with the chunk, without being applied again.
Hypothesis writes lab exports with specimens in any clinical order, replays, a second
collection time for one accession (refused after its first report was written), results
before enrolment (refused by the record path, after the analyte results were stored),
unknown participants and unreadable results, and imports each into two new clinics with
the same clock: one in chunks, one specimen per chunk (in memory, on SQLite, and on
PostgreSQL under ``scripts/with-postgres``). The two must report the same,
hold the same rows in every table (the journal as the same entries, in an order that
follows the chunking) and both ``verify`` clean.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cmrewards
from cmrewards import Clinic, LabImportReport
from cmrewards.app import lab_reports
from support import postgres
from support.clinics import FakeClock
from support.equivalence import applied_alike, exports_alike, sqlite_files_alike

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROGRAM = cmrewards.load_program_file(EXAMPLES / "ctn0094-program.toml")
LAB_MAP = cmrewards.load_lab_map(EXAMPLES / "ctn0094-map.toml")
HEADER = "Specimen ID,Patient ID,Collected,Analyte,Result\n"
START = dt.date(2027, 1, 4)


def new_clinic(path: str | None) -> Clinic:
    # One seed for every draw: a refused specimen that drew would otherwise shift the seeds
    # of the ones after it differently in the two clinics.
    clinic = cmrewards.open(path, clock=FakeClock(), seeds=lambda: 7)
    clinic.init("admin-1")
    clinic.add_staff("feed-1", "lab-feed", actor="admin-1")
    clinic.add_program(PROGRAM, actor="admin-1")
    for participant in ("P1", "P2"):
        clinic.enroll(participant, PROGRAM.id, start=START, actor="admin-1")
    return clinic


def when(day: int, hour: int = 10) -> str:
    return (dt.datetime.combine(START, dt.time(hour)) + dt.timedelta(days=day)).strftime(
        "%m/%d/%Y %H:%M"
    )


@st.composite
def exports(draw: Callable[..., Any]) -> list[str]:
    """A lab export's rows: mostly whole specimens a few days apart, some late, some
    repeated, some refused."""
    rows: list[str] = []
    day = 0
    for n in range(draw(st.integers(1, 25))):
        day = max(-3, day + draw(st.sampled_from([2, 3, 3, 4, 7, -5, -9])))
        person = draw(st.sampled_from(["P1", "P1", "P2", "P2", "P-9"]))
        accession = draw(st.sampled_from([f"S{n}"] * 5 + [f"S{max(n - 1, 0)}"]))
        hour = draw(st.sampled_from([10, 10, 10, 15]))  # 15: another time for the accession
        for analyte in draw(st.sampled_from([["Cocaine", "Amphetamine"]] * 3 + [["Cocaine"]])):
            result = draw(st.sampled_from(["NEG", "NEG", "NEG", "POS", "maybe"][: 4 + (n > 2)]))
            rows.append(f"{accession},{person},{when(day, hour)},{analyte},{result}")
    return draw(st.permutations(rows)) if draw(st.booleans()) else rows


def run(clinic: Clinic, rows: list[str], chunk_size: int) -> LabImportReport:
    text = HEADER + "".join(f"{row}\n" for row in rows)
    read = cmrewards.read_lab_file(io.StringIO(text), LAB_MAP, "lab.csv")
    return clinic.import_lab_results(read, actor="feed-1", chunk_size=chunk_size)


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(rows=exports(), chunk_size=st.integers(2, 12))
def test_in_memory_chunks_export_what_single_specimens_do(
    tmp_path_factory: Any, rows: list[str], chunk_size: int
) -> None:
    folder = tmp_path_factory.mktemp("memory")
    chunked, single = new_clinic(None), new_clinic(None)
    applied_alike(chunked, single, lambda clinic, size: run(clinic, rows, size), chunk_size)
    exports_alike(chunked, single, folder)


@SETTINGS
@given(rows=exports(), chunk_size=st.integers(2, 12))
def test_on_sqlite_chunks_write_the_rows_single_specimens_do(
    tmp_path_factory: Any, rows: list[str], chunk_size: int
) -> None:
    folder = tmp_path_factory.mktemp("sqlite")
    with new_clinic(str(folder / "chunked.db")) as chunked, \
         new_clinic(str(folder / "single.db")) as single:  # fmt: skip
        applied_alike(chunked, single, lambda clinic, size: run(clinic, rows, size), chunk_size)
    sqlite_files_alike(folder / "chunked.db", folder / "single.db")


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=exports(), chunk_size=st.integers(2, 12))
def test_on_postgres_chunks_export_what_single_specimens_do(
    tmp_path_factory: Any, rows: list[str], chunk_size: int
) -> None:
    postgres.server()  # skips (or fails, when required) without a test server
    folder = tmp_path_factory.mktemp("postgres")
    with (
        postgres.database() as first,
        postgres.database() as second,
        new_clinic(first) as chunked,
        new_clinic(second) as single,
    ):
        applied_alike(chunked, single, lambda clinic, size: run(clinic, rows, size), chunk_size)
        exports_alike(chunked, single, folder)


def test_a_refused_specimen_is_taken_back_alone_not_the_chunk_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each specimen is applied once: a refusal in the middle of a chunk does not apply
    the specimens before it a second time (it did, after rolling the chunk back)."""
    applied: list[str] = []
    apply_report = lab_reports.apply_report

    def counted(*args: Any, **kwargs: Any) -> Any:
        applied.append(args[2].accession)
        return apply_report(*args, **kwargs)

    monkeypatch.setattr(lab_reports, "apply_report", counted)
    clinic = new_clinic(None)
    rows = [f"S{n},P1,{when(2 * n)},{a},NEG" for n in range(5) for a in ("Cocaine", "Amphetamine")]
    rows[5] = f"S2,P1,{when(4, 15)},Amphetamine,NEG"  # S2's second row: another time
    report = run(clinic, rows, chunk_size=100)
    assert [r.at for r in report.refused] == ["line 7"]
    assert (report.applied, report.outcomes) == (4, 4)
    assert applied == ["S0", "S1", "S2", "S2", "S3", "S4"]  # S2's two collection times
    assert {r.specimen for r in clinic.analyte_results("P1")} == {"S0", "S1", "S3", "S4"}
    assert clinic.verify().ok
