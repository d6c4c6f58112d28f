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

from support.doc_blocks import signing_in

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent


def block_after(heading: str, language: str, level: str = "##") -> str:
    """The first ``language`` code block under the README heading ``heading``."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n{level} {heading}\n", 1)[1]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found, f"no {language} block under '## {heading}'"
    return found.group(1)


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **env}
    environment.update(signing_in(cwd))
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


def test_a_front_desk_session_shows_local_times_prize_names_and_aligned_tables(
    tmp_path: Path,
) -> None:
    """The quickstart, then "At the front desk" in the same folder, as a newcomer runs them."""
    quickstart = run(
        ["bash", "-euo", "pipefail", "-c", block_after("CLI quickstart", "sh")], tmp_path
    )
    assert quickstart.returncode == 0, quickstart.stderr
    desk = run(
        ["bash", "-euo", "pipefail", "-c", block_after("At the front desk", "sh", "###")], tmp_path
    )
    assert desk.returncode == 0, desk.stderr
    assert desk.stderr == ""

    def cmrewards(*args: str) -> str:
        done = run(["cmrewards", "--db", "clinic.db", *args], tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    # Local times: the quickstart's 09:30 in Chicago, in the table and in the CSV.
    history = cmrewards("history", "P-1001").splitlines()
    assert history[0].split() == ["when", "what", "points", "balance", "detail", "ref", "by"]
    assert history[1].startswith("2026-01-05 09:30 CST  outcome")
    assert (
        (tmp_path / "P-1001.csv")
        .read_text()
        .splitlines()[1]
        .startswith("2026-01-05T09:30:00-06:00,outcome,")
    )
    aligned(history)

    # Prize names: what each draw won, by id and category, is what the prize list holds.
    won = re.findall(r"prize #(\d+) (\w+) \(\$[\d.]+\)", desk.stdout)
    prizes = json.loads(cmrewards("--json", "prize", "list", "P-2001"))
    assert [(str(p["id"]), p["category"]) for p in prizes] == won
    draws = re.findall(r"P-2001 stimulant-negative: met — (\d+) draws?", desk.stdout)
    assert [int(n) for n in draws] == [1, 1, 2]
    listed = cmrewards("prize", "list", "P-2001").splitlines()
    # The draws are random: four of them can all come up empty.
    if not won:
        assert listed == ["P-2001 has won no prizes"]
    else:
        assert listed[0].split() == ["id", "participant", "won", "category", "value", "status"]
        assert [line.split()[5] for line in listed[1:]] == [category for _, category in won]
        aligned(listed)
        assert f"{len(won)} prize" in cmrewards("balance", "P-2001")

    # The approval queue as it stood, with the item's name; then cancelled with --yes.
    row = r"^ *1  2\d{3}-\d\d-\d\d \d\d:\d\d C[SD]T  P-1001       bus pass  BUS  +10  requested  "
    assert re.search(row, desk.stdout, re.MULTILINE), desk.stdout
    assert json.loads(cmrewards("--json", "redeem", "list"))[0]["status"] == "cancelled"


def aligned(lines: list[str]) -> None:
    """Each cell of each row starts where its header starts or ends where it ends."""
    header = [m.span() for m in re.finditer(r"\S+(?: \S+)*", lines[0])]
    starts, ends = {start for start, _ in header}, {end for _, end in header}
    for line in lines[1:]:
        for found in re.finditer(r"\S+(?: \S+)*", line):
            assert found.start() in starts or found.end() in ends, (lines[0], line)
