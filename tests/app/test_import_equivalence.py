"""A file imported in chunks writes what the same rows imported one at a time write (issue 16).

The import reads ahead and batches per chunk (``store/buffered.py``); recording a row in
a chunk of its own reads everything fresh and commits it alone. Hypothesis writes lab
files with results in any clinical order (late rows fall back to the replay), replayed
and conflicting keys, unknown targets and visits recorded twice, and imports each into
two new clinics with the same clock and seeds: one in chunks, one row per chunk (in
memory, on SQLite, and on PostgreSQL under ``scripts/with-postgres``). The two
must report the same rows and the same stopping line, hold the same rows in every table
(outcomes and transfers with their hashes, states, prizes, keys; the journal as the same
entries, in an order that follows the chunking) and both ``verify`` clean.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cmrewards
from cmrewards import Clinic
from cmrewards.app.lab_file import ImportReport, read_rows
from support import postgres
from support.clinics import START, FakeClock, visit
from support.equivalence import applied_alike, exports_alike, sqlite_files_alike

ADMIN = "admin-1"
TARGETS = {"P001": ["stimulant-negative"], "P002": ["stimulant-negative", "secondary-negative"]}


def new_clinic(path: str | None) -> Clinic:
    clinic = cmrewards.open(path, clock=FakeClock(), seeds=iter(range(1, 10**6)).__next__)
    clinic.init(ADMIN)
    clinic.add_program(cmrewards.load_preset("higgins-vbrt"), actor=ADMIN)
    clinic.add_program(cmrewards.load_preset("petry-fishbowl"), actor=ADMIN)
    clinic.enroll("P001", "higgins-vbrt", start=START, actor=ADMIN)
    clinic.enroll("P002", "petry-fishbowl", start=START, actor=ADMIN)
    return clinic


@st.composite
def lab_files(draw: Callable[..., Any]) -> list[tuple[str, ...]]:
    """Rows mostly in clinical order, some late, some repeated, a few refused."""
    rows: list[tuple[str, ...]] = []
    day = 0
    for n in range(draw(st.integers(1, 40))):
        day = max(0, day + draw(st.sampled_from([1, 1, 2, 2, 3, 7, 0, -4, -10])))
        person = draw(st.sampled_from(sorted(TARGETS)))
        target = draw(st.sampled_from([*TARGETS[person], *TARGETS[person], "no-such-target"]))
        if target == "no-such-target" and draw(st.integers(0, 3)):
            target = TARGETS[person][0]
        outcome = draw(st.sampled_from(["met", "met", "met", "not_met", "missed", "excused"]))
        key = draw(st.sampled_from([f"K{n}"] * 6 + [f"K{max(n - 1, 0)}", ""]))
        hour = draw(st.sampled_from([9, 9, 15]))
        rows.append((person, target, outcome, visit(day, hour).isoformat(), key, ""))
    if rows and draw(st.booleans()):
        rows.append(draw(st.sampled_from(rows)))  # a replay of an earlier row
    return rows


def import_file(clinic: Clinic, path: Path, chunk_size: int) -> ImportReport:
    with path.open(encoding="utf-8", newline="") as file:
        return clinic.import_outcomes(read_rows(file, str(path)), actor=ADMIN,
                                      chunk_size=chunk_size)  # fmt: skip


def write_file(path: Path, rows: list[tuple[str, ...]]) -> Path:
    lines = ["participant,target,outcome,at,key,note", *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(rows=lab_files(), chunk_size=st.integers(2, 50))
def test_in_memory_chunks_export_what_single_rows_do(
    tmp_path_factory: Any, rows: list[tuple[str, ...]], chunk_size: int
) -> None:
    folder = tmp_path_factory.mktemp("memory")
    lab = write_file(folder / "lab.csv", rows)
    chunked, single = new_clinic(None), new_clinic(None)
    applied_alike(chunked, single, lambda clinic, size: import_file(clinic, lab, size), chunk_size)
    exports_alike(chunked, single, folder)


@SETTINGS
@given(rows=lab_files(), chunk_size=st.integers(2, 50))
def test_on_sqlite_chunks_write_the_rows_single_rows_do(
    tmp_path_factory: Any, rows: list[tuple[str, ...]], chunk_size: int
) -> None:
    folder = tmp_path_factory.mktemp("sqlite")
    lab = write_file(folder / "lab.csv", rows)
    with new_clinic(str(folder / "chunked.db")) as chunked, \
         new_clinic(str(folder / "single.db")) as single:  # fmt: skip
        applied_alike(
            chunked, single, lambda clinic, size: import_file(clinic, lab, size), chunk_size
        )
    sqlite_files_alike(folder / "chunked.db", folder / "single.db")


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=lab_files(), chunk_size=st.integers(2, 50))
def test_on_postgres_chunks_export_what_single_rows_do(
    tmp_path_factory: Any, rows: list[tuple[str, ...]], chunk_size: int
) -> None:
    postgres.server()  # skips (or fails, when required) without a test server
    folder = tmp_path_factory.mktemp("postgres")
    lab = write_file(folder / "lab.csv", rows)
    with (
        postgres.database() as first,
        postgres.database() as second,
        new_clinic(first) as chunked,
        new_clinic(second) as single,
    ):
        applied_alike(
            chunked, single, lambda clinic, size: import_file(clinic, lab, size), chunk_size
        )
        exports_alike(chunked, single, folder)
