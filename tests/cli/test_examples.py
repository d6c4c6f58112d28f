"""Every script in examples/ runs, from a fresh database, and says what it should."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("intake_service.py", "P-2001: +10 points, balance 10."),
        ("nightly_lab_import.py", "first run: 12 applied; second run: 12 skipped"),
        ("monthly_report.py", "record verified: True"),
    ],
)
def test_example_runs(script: str, expected: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), str(tmp_path / "example.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert expected in done.stdout


def test_every_example_is_tested() -> None:
    tested = {"intake_service.py", "nightly_lab_import.py", "monthly_report.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested
