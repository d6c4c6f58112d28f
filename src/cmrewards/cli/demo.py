"""``cmrewards demo``: a sample Higgins voucher clinic on a fresh file, shown as staff see it.

Every step is a real CLI command run against the demo database, printed with a
one-line explanation, so the demo doubles as a tutorial of the commands. It ends with
four real histories of the CTN-0027 trial (``demo_data/``: from the MIT-licensed R
package public.ctn0094data, see its README) imported through a lab's mapping file, then
the calendar closed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import shlex
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import click

import cmrewards
from cmrewards.errors import AlreadyExists, InvalidInput

VISIT_DAYS = (0, 2, 4, 7, 9, 11, 14, 16, 18)
DEMO_ZONE = "America/Chicago"
"""The demo clinic's zone: every program is added in its clinic's zone."""
"""Monday, Wednesday and Friday of three weeks: the Higgins three-samples-a-week rhythm."""

RESULTS = {
    "P-1001": ["met"] * 9,
    "P-1002": ["met", "met", "met", "met", "not_met", "met", "met", "met", "met"],
    "P-1003": ["met", "missed", "met", "excused", "met", "met", "met", "not_met", "met"],
}
"""Pseudonymous participants: one steady, one who slips once, one with a missed sample."""

REAL_HISTORIES = "demo_data"
"""The CTN-0027 excerpt, its program and the lab's mapping (``demo_data/README.md``)."""


def run_demo(path: Path, now: dt.datetime, *, as_json: bool = False) -> None:
    """Walk through the tour; with ``as_json`` print one JSON document of every step instead."""
    if path.exists():
        raise AlreadyExists(f"the demo needs a fresh file and {path} exists; remove it first")
    if not path.parent.is_dir():
        raise InvalidInput(f"{path.parent} is not a directory; the demo cannot create {path.name}")
    demo = _Demo(path, as_json)
    if as_json:
        with contextlib.redirect_stdout(io.StringIO()):
            _tour(demo, now)
        click.echo(json.dumps({"database": str(path), "steps": demo.steps}, indent=2))
    else:
        _tour(demo, now)


def _tour(demo: _Demo, now: dt.datetime) -> None:
    path = demo.path
    start = (now - dt.timedelta(days=21)).date()
    click.echo(f"cmrewards demo: three weeks at a CM clinic (database {path})")

    demo.step(
        "The clinic's admin creates the database. A demo plays every role from one terminal,"
        " so it leaves sign-in off; a clinic's database has it on ('cmrewards login').",
        "init", "--admin", "admin-1", "--no-sign-in",
    )  # fmt: skip
    demo.step(
        "The admin adds a front-desk recorder and a clinician.",
        "staff", "add", "rec-01", "--role", "recorder", "--actor", "admin-1",
    )  # fmt: skip
    demo.quiet("staff", "add", "clin-01", "--role", "clinician", "--actor", "admin-1")
    demo.step("Shipped protocols, with what each can pay one participant.", "presets")
    demo.step(
        "The admin adopts the Higgins voucher protocol.",
        "program", "add", "--preset", "higgins-vbrt", "--timezone", DEMO_ZONE,
        "--actor", "admin-1",
    )  # fmt: skip
    for participant in RESULTS:
        demo.quiet(
            "enroll", participant, "--program", "higgins-vbrt",
            "--start", start.isoformat(), "--actor", "admin-1",
        )  # fmt: skip
    click.echo(f"\n» Three participants are enrolled from {start}: {', '.join(RESULTS)}.")

    first_visit = _at(start, VISIT_DAYS[0])
    demo.step(
        "Day 1: P-1001's sample is negative; the recorder enters it with the lab accession.",
        "record", "P-1001", "--target", "stimulant-negative", "--outcome", "met",
        "--at", first_visit, "--key", "LAB-0001", "--actor", "rec-01",
    )  # fmt: skip
    demo.step(
        "The lab interface sends the same result again: the key makes it a harmless replay.",
        "record", "P-1001", "--target", "stimulant-negative", "--outcome", "met",
        "--at", first_visit, "--key", "LAB-0001", "--actor", "rec-01",
    )  # fmt: skip
    click.echo("\n» Three weeks of results are recorded (quietly).")
    for visit, day in enumerate(VISIT_DAYS):
        for participant, outcomes in RESULTS.items():
            if participant == "P-1001" and visit == 0:
                continue
            demo.quiet(
                "record", participant, "--target", "stimulant-negative",
                "--outcome", outcomes[visit], "--at", _at(start, day), "--actor", "rec-01",
            )  # fmt: skip
    demo.step("P-1001 has been negative all along.", "balance", "P-1001")
    demo.step(
        "P-1002 slipped once: the positive reset the schedule to 10, then it climbed again.",
        "history", "P-1002",
    )  # fmt: skip
    demo.step(
        "A recorder may not hand out points by hand; the rule refuses it (exit 1).",
        "adjust", "P-1003", "--points", "50", "--reason", "goodwill", "--actor", "rec-01",
        expect=1,
    )  # fmt: skip
    demo.step(
        "The admin credits P-1003 for a lab delay, with a reason for the audit trail.",
        "adjust", "P-1003", "--points", "15", "--reason", "lab delay on week 1",
        "--actor", "admin-1",
    )  # fmt: skip
    demo.step(
        "The credit was meant for another participant: the admin reverses it with a mirror"
        " transfer; nothing is edited and the original row stays.",
        "reverse", demo.last_transfer_id(), "--reason", "meant for another participant",
        "--actor", "admin-1", "--yes",
    )  # fmt: skip
    demo.step(
        "The admin stocks the reward cabinet: grocery gift cards, never cash.",
        "catalog", "add", "GC-10", "--name", "$10 grocery gift card", "--cost", "40",
        "--stock", "3", "--low-stock", "1", "--actor", "admin-1",
    )  # fmt: skip
    demo.step(
        "P-1001 asks for a gift card: the points and one card are held at once.",
        "redeem", "request", "P-1001", "GC-10", "--actor", "rec-01",
    )  # fmt: skip
    demo.step(
        "The clinician approves it as fitting P-1001's treatment goals.",
        "redeem", "approve", "1", "--actor", "clin-01",
    )  # fmt: skip
    demo.step(
        "The card is handed over; the note keeps its last digits and what it cost.",
        "redeem", "fulfil", "1", "--note", "card ending 4417", "--cost", "10.00",
        "--actor", "clin-01",
    )  # fmt: skip
    _prize_clinic(demo, start)
    page = path.with_name("statement-P-1002.html")
    demo.step(
        "P-1002's statement for the counselling session, with a printable chart page.",
        "statement", "P-1002", "--html", str(page),
    )  # fmt: skip
    demo.step("The program manager's monthly report.", "report")
    demo.step(
        "Next year's budget: 1,000 participants of the VA protocol, 60 % negative samples.",
        "simulate", "--preset", "va-prize-cm", "--participants", "1000", "--p-met", "0.6",
    )  # fmt: skip
    demo.step("What is left in the cabinet.", "catalog", "list")
    with resources.as_file(resources.files(__package__) / REAL_HISTORIES) as data:
        _real_histories(demo, data)
    demo.step("The auditor's check: hash chains, balances and schedules all recomputed.", "verify")
    click.echo(f"\nDone. Explore it yourself: cmrewards --db {shlex.quote(str(path))} --help")


def _prize_clinic(demo: _Demo, start: dt.date) -> None:
    """The same clinic runs the VA prize-bowl protocol for a second group."""
    demo.step(
        "The clinic also runs the VA prize protocol: draws from a 500-slip bowl.",
        "program", "add", "--preset", "va-prize-cm", "--timezone", DEMO_ZONE,
        "--actor", "admin-1",
    )  # fmt: skip
    demo.quiet(
        "enroll", "P-2001", "--program", "va-prize-cm", "--start", start.isoformat(),
        "--actor", "admin-1",
    )  # fmt: skip
    for category in ("small", "large", "jumbo"):
        demo.quiet(
            "catalog", "add", f"CAB-{category.upper()}", "--name", f"{category} prize",
            "--cost", "0", "--stock", "10", "--category", category, "--actor", "admin-1",
        )  # fmt: skip
    for day in (0, 3, 7, 10, 14):
        demo.quiet(
            "record", "P-2001", "--target", "stimulant-negative", "--outcome", "met",
            "--at", _at(start, day), "--actor", "rec-01",
        )  # fmt: skip
    click.echo("\n» P-2001 gave five negative samples over two and a half weeks (quietly).")
    demo.step(
        "The sixth: the program has one target, so --target can be left out. Each draw's"
        " slip is shown, and every prize won with its id for the hand-over.",
        "record", "P-2001", "--outcome", "met", "--at", _at(start, 17), "--actor", "rec-01",
    )  # fmt: skip
    demo.step("A prize program's balance is the prizes owed.", "balance", "P-2001")
    demo.step(
        "The prizes P-2001 has won, each drawn from a stored seed.", "prize", "list", "P-2001"
    )
    owed = demo.first_owed_prize("P-2001")
    if owed is not None:
        demo.step(
            "The clinician hands over the first one from the prize cabinet.",
            "prize", "fulfil", str(owed[0]), "--sku", f"CAB-{owed[1].upper()}",
            "--actor", "clin-01",
        )  # fmt: skip


def _real_histories(demo: _Demo, data: Path) -> None:
    """Four real CTN-0027 histories, one specimen a week: imported as the lab sent them,
    then the calendar closed, so a week nobody came is a missed sample."""
    excerpt, lab, program = (
        data / f"ctn0094-{name}" for name in ("excerpt.csv", "map.toml", "program.toml")
    )
    click.echo(
        "\n» Real histories: four participants of the CTN-0027 trial (public.ctn0094data,"
        " MIT licence), one urine specimen a week for 12 weeks."
    )
    demo.step(
        "The clinic adds a weekly stimulant program decided by the lab panel: a specimen"
        " negative for cocaine and amphetamine is met.",
        "program", "add", "--file", str(program), "--actor", "admin-1",
    )  # fmt: skip
    starts = _first_visits(excerpt, lab)
    for participant, start in starts.items():
        demo.quiet(
            "enroll", participant, "--program", "ctn-stimulant", "--start", start.isoformat(),
            "--actor", "admin-1",
        )  # fmt: skip
    enrolled = ", ".join(f"{p} from {start}" for p, start in starts.items())
    click.echo(f"\n» Each is enrolled on their first visit: {enrolled}.")
    demo.step(
        "The lab's export goes in through its mapping file: one row per analyte, and no row"
        " at all for a week the participant did not come.",
        "import", str(excerpt), "--map", str(lab), "--actor", "rec-01",
    )  # fmt: skip
    demo.step(
        "CTN-00211 did not come in week 7. Nothing in the file says so, and eleven negatives"
        " pay as one unbroken run.",
        "balance", "CTN-00211",
    )  # fmt: skip
    # Every enrolment's last week has ended by the last day of the latest one's.
    weeks = cmrewards.load_program_file(program).weeks
    through = max(starts.values()) + dt.timedelta(days=7 * weeks - 1)
    demo.step(
        f"Closing the calendar through the end of week {weeks} records every week without a"
        " specimen as missed; a missed sample resets the run, so the awards after it are"
        " taken back.",
        "close", "--through", through.isoformat(), "--actor", "rec-01",
    )  # fmt: skip
    demo.step(
        "CTN-00211's week 7 is missed: the run restarted at 10, and the fifth negative after"
        " it recovered the level of the run before.",
        "statement", "CTN-00211",
    )  # fmt: skip
    demo.step(
        "CTN-00016's week 7 specimen was cocaine-positive: the same reset, and the same"
        " recovery five negatives later. The close changed nothing for them.",
        "statement", "CTN-00016",
    )  # fmt: skip
    demo.step(
        "CTN-00249 gave six negatives and came no more: weeks 7 to 12 are missed, and what"
        " the six earned stays.",
        "statement", "CTN-00249",
    )  # fmt: skip
    demo.step(
        "CTN-00030 was negative all twelve weeks: the most the program pays.",
        "balance", "CTN-00030",
    )  # fmt: skip
    demo.step(
        "Closing again writes nothing, so a nightly job can simply run it.",
        "close", "--through", through.isoformat(), "--actor", "rec-01",
    )  # fmt: skip


def _first_visits(excerpt: Path, lab: Path) -> dict[str, dt.date]:
    """Each participant's first specimen day, in the export's (the clinic's) local time."""
    first: dict[str, dt.date] = {}
    with excerpt.open(encoding="utf-8-sig", newline="") as file:
        for row in cmrewards.read_lab_file(file, cmrewards.load_lab_map(lab), str(excerpt)):
            if isinstance(row, cmrewards.LabRow):
                day = row.collected.date()
                first[row.participant] = min(first.get(row.participant, day), day)
    return first


def _at(start: dt.date, day: int) -> str:
    """A visit at 09:30 in the clinic's zone, as the front desk types it."""
    return f"{start + dt.timedelta(days=day)} 09:30"


class _Demo:
    def __init__(self, path: Path, as_json: bool) -> None:
        self.path = path
        self.as_json = as_json
        self.steps: list[dict[str, Any]] = []

    def _run(self, args: Sequence[str]) -> int:
        from ._shell import cli  # the commands are registered: the demo runs inside one

        options = ["--db", str(self.path), *(["--json"] if self.as_json else [])]
        try:
            cli.main([*options, *args])
        except SystemExit as done:
            return int(done.code or 0)
        return 0

    def step(self, explanation: str, *args: str, expect: int = 0) -> None:
        click.echo(f"\n» {explanation}")
        click.echo(f"$ cmrewards {shlex.join(args)}")
        sys.stdout.flush()  # keep a refusal's stderr line next to its command
        if self.as_json:
            with contextlib.redirect_stdout(io.StringIO()) as output:
                code = self._run(args)
            self.steps.append(
                {
                    "explanation": explanation,
                    "command": f"cmrewards {shlex.join(args)}",
                    "exit_code": code,
                    "result": json.loads(output.getvalue()),
                }
            )
        else:
            code = self._run(args)
        if code != expect:
            raise RuntimeError(f"demo step {shlex.join(args)} exited {code}, expected {expect}")

    def quiet(self, *args: str) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            code = self._run(args)
        if code:
            raise RuntimeError(f"demo step {shlex.join(args)} exited {code}")

    def first_owed_prize(self, participant: str) -> tuple[int, str] | None:
        with cmrewards.open(self.path) as clinic:
            owed = [p for p in clinic.prizes(participant) if p.status == "owed"]
        return (owed[0].id, owed[0].category) if owed else None

    def last_transfer_id(self) -> str:
        with cmrewards.open(self.path) as clinic:
            return str(clinic.history("P-1003")[-1].ref.split(":")[1])
