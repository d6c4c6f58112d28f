"""Two new clinics given the same input, one in chunks and one a unit at a time, must end
up holding the same rows (issue 16: chunking is a speed-up, never a change in what is
written). Used by the outcome and the lab-export equivalence tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cmrewards import Clinic
from support.cli import snapshot


def applied_alike(
    chunked: Clinic, single: Clinic, apply: Callable[[Clinic, int], object], chunk_size: int
) -> None:
    """``apply(clinic, chunk_size)`` in chunks to ``chunked`` and one unit a transaction to
    ``single``: the same report, and both verify."""
    report = apply(chunked, chunk_size)
    assert apply(single, 1) == report
    assert chunked.verify().ok
    assert single.verify().ok


def exported(clinic: Clinic, directory: Path) -> dict[str, Any]:
    """Every exported table, and the manifest's chain heads."""
    manifest = clinic.export(directory)
    tables = {p.stem: json.loads(p.read_text()) for p in directory.glob("*.json")}
    tables.pop("manifest")
    return tables | {"heads": (manifest.outcome_chain_head, manifest.transfer_chain_head)}


def exports_alike(chunked: Clinic, single: Clinic, folder: Path) -> None:
    assert exported(chunked, folder / "chunked") == exported(single, folder / "single")


def sqlite_files_alike(first: Path, second: Path) -> None:
    """Every row of every table the same; journal entries, which carry their time of
    writing, compared by kind, key and digest."""
    tables = [snapshot(path, migrations=False) for path in (first, second)]
    journals = [sorted(r[1:4] for r in t.pop("journal")) for t in tables]
    assert journals[0] == journals[1]
    assert tables[0] == tables[1]
