"""A lab interface for the listener's tests: a blocking MLLP client over loopback, a server
run on a thread, and ORU^R01 messages written from HL7 v2.5.1 chapter 7.

Every wait is bounded, so a listener that hangs fails the test instead of hanging it.
"""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cmrewards.app.mllp import MLLPServer

START_BLOCK, END_BLOCK = b"\x0b", b"\x1c\x0d"
TIMEOUT = 10.0
"""Seconds any one step may take on a loaded two-core machine."""

Address = tuple[str, int]


def frame(message: str) -> bytes:
    """``message`` in an MLLP block."""
    return START_BLOCK + message.encode("utf-8") + END_BLOCK


class Client:
    """One connection of a lab interface: send a message, wait for its acknowledgement."""

    def __init__(self, address: Address) -> None:
        self.socket = socket.create_connection(address, timeout=TIMEOUT)
        self._pending = b""

    def send(self, message: str) -> str:
        """Send ``message`` framed and return the acknowledgement's text."""
        return self.send_raw(frame(message))

    def send_raw(self, data: bytes) -> str:
        self.socket.sendall(data)
        return self.receive()

    def receive(self) -> str:
        """The next acknowledgement (the text inside its block)."""
        while END_BLOCK not in self._pending:
            chunk = self.socket.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed before an acknowledgement: {self._pending!r}")
            self._pending += chunk
        block, _, self._pending = self._pending.partition(END_BLOCK)
        assert block.startswith(START_BLOCK), block
        return block[1:].decode("utf-8")

    def closed_by_server(self) -> bool:
        """The server closed this connection (reading finds its end)."""
        return self.socket.recv(1) == b""

    def kill(self) -> None:
        """Drop the connection as a crashed sender does: a reset, no orderly close."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
        self.socket.close()

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def serving(make_server: Callable[[], MLLPServer]) -> Iterator[tuple[MLLPServer, Address]]:
    """A server (built on its own thread, so what it opens belongs there) on a free
    loopback port; stopped on leaving, and the thread must end."""
    ready: queue.Queue[MLLPServer | Address | BaseException] = queue.Queue()

    def run() -> None:
        try:
            server = make_server()
            ready.put(server)
            server.serve(ready=lambda host, port: ready.put((host, port)))
        except BaseException as error:
            ready.put(error)
            raise

    thread = threading.Thread(target=run, name="mllp-server", daemon=True)
    thread.start()
    got = ready.get(timeout=TIMEOUT)
    if isinstance(got, BaseException):
        raise got
    assert isinstance(got, MLLPServer)
    server = got
    try:
        address = ready.get(timeout=TIMEOUT)
        if isinstance(address, BaseException):
            raise address
        assert isinstance(address, tuple)
        yield server, address
    finally:
        server.stop()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "the server did not stop"


FAMILY_NAME, GIVEN_NAME, BIRTH_DATE = "Quimby", "Harriet", "19810714"
"""The made-up person in every ``oru``'s PID: what no answer, log line or record may show."""


def oru(
    control_id: str,
    *,
    participant: str = "P-1001",
    accession: str = "ACC-1",
    collected: str = "202601050830-0500",
    results: tuple[tuple[str, str, str], ...] = (("3397-7", "NEG", "F"),),
    authority: str = "CMCLINIC",
) -> str:
    """An ORU^R01 (HL7 v2.5.1 section 7.3.1): one OBR (the specimen, filler order number
    ``accession``) and one OBX per ``(LOINC code, result, OBX-11 status)``. The PID holds a
    made-up name and birth date beside the participant's identifier, as a lab's does."""
    segments = [
        f"MSH|^~\\&|TOXLAB|LABFAC|CMREWARDS|CLINIC|20260105093000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"PID|1||{participant}^^^{authority}^MR||{FAMILY_NAME}^{GIVEN_NAME}||{BIRTH_DATE}|F",
        f"OBR|1||{accession}|UDS9^Urine drug screen^L|||{collected}",
    ]
    for number, (code, value, status) in enumerate(results, 1):
        segments.append(f"OBX|{number}|ST|{code}^Drug screen^LN||{value}||||||{status}")
    return "\r".join(segments) + "\r"


def ctn_oru(
    control_id: str, accession: str, who: str = "P-1001", cocaine: str = "NEG", status: str = "F"
) -> str:
    """``oru`` as the CTN stimulant program's lab sends it (examples/hl7-map.toml): cocaine
    and amphetamine screens collected 2026-03-03 09:00 in Chicago, negative unless
    ``cocaine`` says otherwise, each with OBX-11 ``status``; ``who`` under the CMREWARDS
    assigning authority."""
    return oru(
        control_id,
        participant=who,
        accession=accession,
        collected="202603030900-0600",
        results=(("19359-9", cocaine, status), ("19261-7", "NEG", status)),
        authority="CMREWARDS",
    )
