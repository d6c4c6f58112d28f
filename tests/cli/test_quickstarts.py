"""The README's two quickstarts run as written, on the real clock, in an empty folder.

A newcomer pastes them first; a date "in the future" or a renamed method must fail here
rather than at their desk.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent


def block_after(heading: str, language: str) -> str:
    """The first ``language`` code block under the README heading ``heading``."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found, f"no {language} block under '## {heading}'"
    return found.group(1)


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    environment.pop("CMREWARDS_DB", None)
    environment.update(env)
    return subprocess.run(
        args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_python_quickstart_prints_what_it_promises(tmp_path: Path) -> None:
    code = block_after("Python quickstart", "python")
    done = run([sys.executable, "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["10", "10"]  # the comment on its print line
    assert (tmp_path / "clinic.db").exists()


def test_the_cli_quickstart_runs_every_step(tmp_path: Path) -> None:
    script = block_after("CLI quickstart", "sh")
    done = run(["bash", "-euo", "pipefail", "-c", script], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "10 points" in done.stdout
    assert "OK" in done.stdout
    history = run(["cmrewards", "--db", "clinic.db", "--json", "history", "P-1001"], tmp_path)
    entries = json.loads(history.stdout)
    assert [e["points"] for e in entries if e["kind"] != "outcome"] == [10]
