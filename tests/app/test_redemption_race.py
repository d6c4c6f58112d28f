"""Terminals racing for the same points and the last units (docs/design.md sections 5 and 6).

A request holds the points and one unit of stock in the same write transaction
(``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL, one that first takes the writers' advisory
lock), so however many terminals ask at once, exactly as many requests win as the points
and the stock allow; every other terminal is refused by a rule (``InsufficientPoints`` or
``OutOfStock``), never a crash and never "database is locked" or ``Busy`` (the default
busy timeout is used). Each test runs on a SQLite file and on a PostgreSQL database (the
``shared_database`` fixture). Each terminal is a separate Python process; all of them
wait on a start file so that their requests really overlap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import cmrewards

ADMIN = "admin-1"
RECORDER = "rec-1"
PROGRAM = "higgins-vbrt"
PARTICIPANT = "P001"
SKU = "CARD"
COST = 10

API_TERMINAL = r"""
import json, pathlib, sys, time
import cmrewards

location, go, ready, participant, sku, actor = sys.argv[1:7]
clinic = cmrewards.open(location)
pathlib.Path(ready).touch()
deadline = time.monotonic() + 60
while not pathlib.Path(go).exists():
    if time.monotonic() > deadline:
        sys.exit("the start file never appeared")
    time.sleep(0.001)
try:
    result = clinic.request_redemption(participant, sku, actor=actor)
    outcome = {"won": result.redemption.id, "status": str(result.redemption.status)}
except cmrewards.CMRewardsError as error:
    outcome = {"error": type(error).__name__, "message": str(error)}
finally:
    clinic.close()
print(json.dumps(outcome))
"""

CLI_TERMINAL = r"""
import pathlib, sys, time
from cmrewards.cli import main

location, go, ready, participant, sku, actor = sys.argv[1:7]
pathlib.Path(ready).touch()
deadline = time.monotonic() + 60
while not pathlib.Path(go).exists():
    if time.monotonic() > deadline:
        sys.exit("the start file never appeared")
    time.sleep(0.001)
sys.argv = ["cmrewards", "--db", location, "--json", "redeem", "request", participant, sku,
            "--actor", actor]
main()
"""


def set_up(location: str, points: int, stock: int) -> None:
    """One participant with exactly ``points`` available and an item with ``stock`` units."""
    with cmrewards.open(location) as clinic:
        clinic.init(ADMIN)
        clinic.add_staff(RECORDER, "recorder", actor=ADMIN)
        clinic.add_program(cmrewards.load_preset(PROGRAM), actor=ADMIN)
        clinic.enroll(PARTICIPANT, PROGRAM, actor=ADMIN)  # today: the wall clock is real
        clinic.adjust(PARTICIPANT, points, reason="opening balance", actor=ADMIN)
        clinic.add_item(SKU, name="$2.50 voucher", cost=COST, stock=stock, actor=ADMIN)
        assert clinic.balance(PARTICIPANT).available_points == points
        assert clinic.verify().ok


def terminal(script: str, location: str, go: Path, ready: Path) -> list[str]:
    """The command line of one terminal: it requests P001's item once."""
    arguments = [location, str(go), str(ready), PARTICIPANT, SKU, RECORDER]
    return [sys.executable, "-c", script, *arguments]


def race(
    location: str, directory: Path, script: str, terminals: int
) -> tuple[list[subprocess.CompletedProcess[str]], float]:
    """Start ``terminals`` processes on the database at ``location``, release them at once,
    and collect how each ended and the seconds from the release until the last one did;
    the start and ready files go in ``directory``."""
    go = directory / "go"
    ready = [directory / f"ready-{i}" for i in range(terminals)]
    processes = [
        subprocess.Popen(
            terminal(script, location, go, flag),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 30
    while not all(flag.exists() for flag in ready):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            break
        time.sleep(0.005)
    # Timed from the release: starting eight interpreters on a busy machine is not the race.
    started = time.monotonic()
    go.touch()
    done = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done, time.monotonic() - started


def check_database(location: str, winners: int, stock: int, points: int) -> None:
    """Held points and stock match the winning requests exactly, and ``verify`` agrees."""
    with cmrewards.open(location) as clinic:
        balance = clinic.balance(PARTICIPANT)
        assert (balance.points, balance.held_points, balance.available_points) == (
            points,
            winners * COST,
            points - winners * COST,
        )
        (item,) = clinic.items()
        assert item.stock == stock - winners
        redemptions = clinic.redemptions()
        assert [r.id for r in redemptions] == list(range(1, winners + 1))
        assert {str(r.status) for r in redemptions} <= {"requested"}
        report = clinic.verify()
        assert report.problems == ()
        assert report.ok


SCENARIOS = [
    # (requests the points cover, units in stock, terminals, the refusal of the losers)
    pytest.param(2, 5, 8, "InsufficientPoints", id="points-run-out"),
    pytest.param(5, 2, 8, "OutOfStock", id="stock-runs-out"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("affordable", "stock", "terminals", "refusal"), SCENARIOS)
def test_racing_requests_win_exactly_what_points_and_stock_allow(
    shared_database: str,
    tmp_path: Path,
    affordable: int,
    stock: int,
    terminals: int,
    refusal: str,
) -> None:
    assert terminals > affordable + stock
    points = affordable * COST
    set_up(shared_database, points, stock)
    done, seconds = race(shared_database, tmp_path, API_TERMINAL, terminals)
    assert seconds < 15
    for process in done:
        assert (process.returncode, process.stderr) == (0, "")
    outcomes: list[dict[str, Any]] = [json.loads(p.stdout) for p in done]
    winners = min(affordable, stock)
    won = sorted(o["won"] for o in outcomes if "won" in o)
    assert won == list(range(1, winners + 1))
    assert {o["status"] for o in outcomes if "won" in o} == {"requested"}
    refusals = Counter(o["error"] for o in outcomes if "error" in o)
    assert refusals == Counter({refusal: terminals - winners})
    assert not any("locked" in o.get("message", "") for o in outcomes)
    check_database(shared_database, winners, stock, points)


@pytest.mark.slow
def test_racing_cli_requests_exit_0_or_1_with_one_line(
    shared_database: str, tmp_path: Path
) -> None:
    affordable, stock, terminals = 2, 3, 6
    points = affordable * COST
    set_up(shared_database, points, stock)
    done, _ = race(shared_database, tmp_path, CLI_TERMINAL, terminals)
    winners = [p for p in done if p.returncode == 0]
    losers = [p for p in done if p.returncode != 0]
    assert sorted(p.returncode for p in done) == [0] * affordable + [1] * (terminals - affordable)
    for process in done:
        assert "Traceback" not in process.stdout + process.stderr
    ids = []
    for process in winners:
        assert process.stderr == ""
        document = json.loads(process.stdout)
        assert document["redemption"]["status"] == "requested"
        assert document["replayed"] is False
        ids.append(document["redemption"]["id"])
    assert sorted(ids) == list(range(1, affordable + 1))
    for process in losers:
        lines = process.stderr.splitlines()
        assert len(lines) == 1, process.stderr
        assert lines[0].startswith("cmrewards: ")
        assert "locked" not in lines[0]
        error = json.loads(process.stdout)["error"]
        assert (error["type"], error["exit_code"]) == ("InsufficientPoints", 1)
        assert error["message"] == lines[0].removeprefix("cmrewards: ")
    check_database(shared_database, affordable, stock, points)
