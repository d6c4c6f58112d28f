"""``cmrewards listen`` as a process: it logs one line per message, keeps going through bad
ones, and stops cleanly on SIGTERM (exit 0, the database verifies). Loopback only, a port
the system chooses, every wait bounded."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import cmrewards
from support.cli import assert_error, invoke, ok, snapshot
from support.mllp import BIRTH_DATE, FAMILY_NAME, TIMEOUT, Client, frame
from support.mllp import ctn_oru as oru

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "tests" / "fixtures" / "hl7" / "lab.toml"
PROGRAM = ROOT / "examples" / "ctn0094-program.toml"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.db"
    with cmrewards.open(str(path), create=True) as clinic:
        clinic.init("admin-1")
        clinic.add_staff("rec-01", "recorder", actor="admin-1")
        clinic.add_staff("feed-01", "lab-feed", actor="admin-1")
        program = clinic.add_program(cmrewards.load_program_file(PROGRAM), actor="admin-1")
        clinic.enroll("P-1001", program.id, start=dt.date(2026, 3, 2), actor="admin-1")
    return path


class Listener:
    """``cmrewards listen`` in a child process, its output read line by line with a deadline."""

    def __init__(self, db: Path, *options: str, actor: str = "feed-01") -> None:
        command = [sys.executable, "-m", "cmrewards", "--db", str(db), "listen", "--port", "0"]
        command += ["--map", str(LAB), "--actor", actor, *options]
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ, "out")
        self.selector.register(self.process.stderr, selectors.EVENT_READ, "err")
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self._partial = {"out": b"", "err": b""}
        started = self.line("err")
        found = re.fullmatch(r"cmrewards: listening on 127\.0\.0\.1:(\d+) for .*", started)
        assert found, started
        self.address = ("127.0.0.1", int(found[1]))

    def line(self, stream: str) -> str:
        """The next line the process writes to ``stream`` (``out`` or ``err``)."""
        deadline = time.monotonic() + TIMEOUT
        while not self.lines[stream]:
            left = deadline - time.monotonic()
            assert left > 0, f"no line on std{stream}: {self.lines}"
            for key, _ in self.selector.select(left):
                chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
                if not chunk:
                    self.selector.unregister(key.fileobj)
                    continue
                data = self._partial[key.data] + chunk
                *done, self._partial[key.data] = data.split(b"\n")
                self.lines[key.data] += [d.decode("utf-8") for d in done]
            if self.process.poll() is not None and not self.selector.get_map():
                break
        assert self.lines[stream], f"std{stream} ended: {self._partial}"
        return self.lines[stream].pop(0)

    def stop(self, signum: signal.Signals = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.process.wait(TIMEOUT)

    def rest(self, stream: str) -> str:
        """What is left on ``stream`` once the process has ended."""
        pipe = self.process.stdout if stream == "out" else self.process.stderr
        assert pipe is not None
        tail = self._partial[stream] + pipe.read()
        return "".join(f"{line}\n" for line in self.lines[stream]) + tail.decode("utf-8")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
        self.selector.close()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def listener(db: Path) -> Iterator[Listener]:
    running = Listener(db)
    try:
        yield running
    finally:
        running.close()


def test_it_logs_each_message_and_stops_cleanly_on_sigterm(listener: Listener, db: Path) -> None:
    with Client(listener.address) as lab:
        lab.send(oru("MSG-1", "ACC-1"))
        applied = listener.line("out")
        lab.send(oru("MSG-2", "ACC-2", who="P-9999"))
        refused = listener.line("out")
        lab.send_raw(frame("not HL7"))
        garbled = listener.line("out")
        lab.send(oru("MSG-1", "ACC-1"))
        replayed = listener.line("out")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ MSG-1 AA applied 1 specimen: .*", applied)
    assert re.fullmatch(r"\S+ MSG-2 AE .*P-9999.*", refused)
    assert re.fullmatch(r"\S+ - AE the frame holds no HL7 message \(no MSH segment\)", garbled)
    assert replayed.endswith(" MSG-1 AA replayed: applied before, nothing written")

    assert listener.stop() == 0
    assert listener.rest("err") == "cmrewards: stopped after 4 messages\n"
    assert listener.rest("out") == ""
    everything = "\n".join([applied, refused, garbled, replayed])
    assert FAMILY_NAME not in everything
    assert BIRTH_DATE not in everything
    assert ok(db, "verify")["ok"] is True
    assert ok(db, "balance P-1001")["points"] > 0


def test_sigterm_while_a_frame_arrives_writes_nothing_of_it(listener: Listener, db: Path) -> None:
    before = snapshot(db)
    sender = Client(listener.address)
    try:
        sender.socket.sendall(frame(oru("HALF", "ACC-3"))[:120])
        time.sleep(0.1)  # the half frame is in the listener's buffer
        assert listener.stop() == 0
    finally:
        sender.close()
    assert listener.rest("err") == "cmrewards: stopped after 0 messages\n"
    assert snapshot(db) == before
    assert ok(db, "verify")["ok"] is True


def test_ctrl_c_stops_it_too(listener: Listener, db: Path) -> None:
    with Client(listener.address) as lab:
        lab.send(oru("MSG-1", "ACC-1"))
    assert listener.line("out").endswith("outcome recorded")
    assert listener.stop(signal.SIGINT) == 0
    assert listener.rest("err") == "cmrewards: stopped after 1 message\n"


def test_with_json_each_message_is_one_json_line(db: Path) -> None:
    running = Listener(db, "--json")
    try:
        with Client(running.address) as lab:
            lab.send(oru("MSG-7", "ACC-7"))
        line = json.loads(running.line("out"))
        logged = cmrewards.from_json(cmrewards.Acknowledgement, line)
        assert (logged.control_id, logged.code) == ("MSG-7", "AA")
        assert running.stop() == 0
    finally:
        running.close()


def test_an_unknown_actor_is_refused_before_listening(db: Path) -> None:
    result = invoke(db, f"listen --port 0 --map {LAB} --actor nobody", json_output=False)
    message = assert_error(result, 1, json_output=False)["message"]
    assert message.startswith("'nobody' is not a staff member")


def test_a_csv_mapping_without_identity_is_refused_before_listening(db: Path) -> None:
    csv_map = ROOT / "examples" / "ctn0094-map.toml"
    result = invoke(db, f"listen --port 0 --map {csv_map} --actor rec-01", json_output=False)
    assert "assigning_authority" in assert_error(result, 2, json_output=False)["message"]


def test_a_port_in_use_is_one_line_and_exit_2(db: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(db, f"listen --port {port} --map {LAB} --actor rec-01", json_output=False)
    message = assert_error(result, 2, json_output=False)["message"]
    assert message.startswith(f"cannot listen on 127.0.0.1:{port}: ")


def test_run_by_a_recorder_it_warns_and_answers_a_change_to_a_decided_result_AE(
    db: Path,
) -> None:
    running = Listener(db, actor="rec-01")
    try:
        assert running.line("err") == (
            "cmrewards: rec-01 is a recorder: the lab's corrections and withdrawals of decided"
            " results will be refused (AE); run listen as a lab-feed account"
        )
        with Client(running.address) as lab:
            lab.send(oru("MSG-1", "ACC-1"))
            applied = running.line("out")
            before = snapshot(db)
            lab.send(oru("MSG-2", "ACC-1", cocaine="POS", status="C"))
            refused = running.line("out")
        assert " MSG-1 AA applied 1 specimen" in applied
        assert re.fullmatch(
            r"\S+ MSG-2 AE specimen ACC-1 cocaine: this corrected report changes a decided"
            r" result, and 'rec-01' is a recorder; .*nothing of it was written",
            refused,
        )
        assert snapshot(db) == before
        assert running.stop() == 0
    finally:
        running.close()
    # The lab-feed account's listener applies it; it never warns.
    feed = Listener(db)
    try:
        with Client(feed.address) as lab:
            lab.send(oru("MSG-2", "ACC-1", cocaine="POS", status="C"))
        assert feed.line("out").endswith("1 outcome corrected")
        assert feed.stop() == 0
        assert feed.rest("err") == "cmrewards: stopped after 1 message\n"
    finally:
        feed.close()
    assert ok(db, "verify")["ok"] is True
