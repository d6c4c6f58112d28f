"""The MLLP server: frames in, whole messages to the handler one at a time, an ACK for each,
and never a crash — over loopback with a real client, every wait bounded."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time

import pytest

from cmrewards.app.hl7v2 import hl7_ack
from cmrewards.app.mllp import (
    Acknowledgement,
    MLLPServer,
    read_acknowledgement,
)
from support.mllp import FAMILY_NAME, TIMEOUT, Address, Client, frame, oru, serving

AT = dt.datetime(2026, 1, 5, 15, 0, tzinfo=dt.UTC)


class Recorder:
    """A handler that keeps what it was given: AA for an ORU, AE for anything else."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.busy = threading.Lock()

    def __call__(self, text: str) -> str:
        assert self.busy.acquire(blocking=False), "two messages handled at once"
        try:
            self.messages.append(text)
            time.sleep(0.001)  # long enough for another connection's frame to be waiting
            return hl7_ack(text, "AA", "applied", now=AT)
        finally:
            self.busy.release()


def code_and_id(answer: str) -> tuple[str, str | None, str]:
    told = read_acknowledgement(answer, AT)
    assert told is not None, answer
    return told.code, told.control_id, told.reason


def test_a_burst_is_answered_message_by_message_in_order() -> None:
    recorder = Recorder()
    with serving(lambda: MLLPServer(recorder, port=0)) as (server, address), Client(address) as c:
        answers = [c.send(oru(f"MSG{n:04d}", accession=f"ACC-{n}")) for n in range(30)]
    assert [("AA", f"MSG{n:04d}", "applied") for n in range(30)] == [
        code_and_id(a) for a in answers
    ]
    assert [oru(f"MSG{n:04d}", accession=f"ACC-{n}") for n in range(30)] == recorder.messages
    assert server.answered == 30


def test_messages_sent_back_to_back_without_waiting_each_get_their_answer() -> None:
    recorder = Recorder()
    burst = b"".join(frame(oru(f"B{n}")) for n in range(10))
    with serving(lambda: MLLPServer(recorder, port=0)) as (_, address), Client(address) as c:
        c.socket.sendall(burst)
        answers = [c.receive() for _ in range(10)]
    assert [f"B{n}" for n in range(10)] == [code_and_id(a)[1] for a in answers]


def test_two_senders_at_once_are_handled_one_message_at_a_time() -> None:
    recorder = Recorder()
    failures: list[BaseException] = []

    def send(address: Address, sender: str) -> None:
        try:
            with Client(address) as c:
                for n in range(15):
                    assert code_and_id(c.send(oru(f"{sender}{n}")))[0] == "AA"
        except BaseException as error:
            failures.append(error)

    with serving(lambda: MLLPServer(recorder, port=0)) as (_, address):
        senders = [threading.Thread(target=send, args=(address, s)) for s in "XY"]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(TIMEOUT)
    assert failures == []
    assert len(recorder.messages) == 30


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"MSH|^~\\&|LAB\x1c\x0d", "the frame does not start with 0x0B"),
        (frame("hello, is this the lab?"), "the frame holds no HL7 message (no MSH segment)"),
        (frame("MSH|"), "the frame holds no HL7 message (no MSH segment)"),
        (b"\x0bMSH|^~\\&|\xff\xfe\x1c\x0d", "the message is not UTF-8 text"),
    ],
)
def test_a_malformed_frame_gets_AE_and_the_server_keeps_serving(data: bytes, reason: str) -> None:
    recorder = Recorder()
    with serving(lambda: MLLPServer(recorder, port=0)) as (_, address), Client(address) as c:
        refused = c.send_raw(data)
        accepted = c.send(oru("AFTER"))
    assert ("AE", None, reason) == code_and_id(refused)
    assert "ACK" in refused.split("\r")[0]
    assert code_and_id(accepted) == ("AA", "AFTER", "applied")
    assert [oru("AFTER")] == recorder.messages


def test_a_frame_over_the_limit_is_refused_and_its_connection_closed() -> None:
    recorder = Recorder()
    with serving(lambda: MLLPServer(recorder, port=0, max_message_bytes=4096)) as (_, address):
        with Client(address) as c:
            huge = oru("BIG") + "NTE|1||" + "x" * 10_000 + "\r"
            assert code_and_id(c.send(huge))[0] == "AE"
            assert c.closed_by_server()
        with Client(address) as c:
            assert code_and_id(c.send(oru("NEXT")))[:2] == ("AA", "NEXT")
    assert [oru("NEXT")] == recorder.messages


def test_a_handler_that_raises_gets_AE_naming_only_the_error_class() -> None:
    def broken(text: str) -> str:
        raise RuntimeError(f"boom on {text}")  # the message text must not reach the ACK

    with serving(lambda: MLLPServer(broken, port=0)) as (_, address), Client(address) as c:
        first = c.send(oru("ONE", participant="P-1001"))
        second = c.send(oru("TWO"))
    assert code_and_id(first) == ("AE", "ONE", "the message could not be handled (RuntimeError)")
    assert "P-1001" not in first
    assert FAMILY_NAME not in first
    assert code_and_id(second)[:2] == ("AE", "TWO")


def test_a_handler_answer_that_is_not_an_ack_becomes_AE() -> None:
    not_an_ack = MLLPServer(lambda text: "fine", port=0)
    with serving(lambda: not_an_ack) as (_, address), Client(address) as c:
        answer = c.send(oru("ODD"))
    assert code_and_id(answer) == (
        "AE",
        "ODD",
        "the handler's answer is not an HL7 acknowledgement",
    )


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_sender_killed_mid_message_delivers_nothing(how: str) -> None:
    recorder = Recorder()
    with serving(lambda: MLLPServer(recorder, port=0)) as (server, address):
        half = frame(oru("HALF"))[:60]
        sender = Client(address)
        sender.socket.sendall(half)
        time.sleep(0.05)  # the half frame has reached the server
        sender.kill() if how == "reset" else sender.close()
        with Client(address) as c:
            answer = c.send(oru("WHOLE"))
    assert code_and_id(answer)[:2] == ("AA", "WHOLE")
    assert [oru("WHOLE")] == recorder.messages
    assert server.answered == 1


def test_segments_ended_by_newlines_are_read_as_carriage_returns() -> None:
    recorder = Recorder()
    with serving(lambda: MLLPServer(recorder, port=0)) as (_, address), Client(address) as c:
        answer = c.send(oru("NL").replace("\r", "\r\n"))
    assert code_and_id(answer)[:2] == ("AA", "NL")
    assert [oru("NL")] == recorder.messages


def test_stopping_answers_the_message_in_hand_and_drops_the_frames_still_arriving() -> None:
    handled = threading.Event()
    stop_now = threading.Event()
    recorder = Recorder()
    servers: list[MLLPServer] = []

    def slow(text: str) -> str:
        answer = recorder(text)
        handled.set()
        # A SIGTERM arrives now: the stop is asked for while this message is in hand.
        servers[0].stop()
        stop_now.wait(TIMEOUT)
        return answer

    def make() -> MLLPServer:
        servers.append(MLLPServer(slow, port=0))
        return servers[0]

    with serving(make) as (_server, address):
        arriving = Client(address)
        arriving.socket.sendall(frame(oru("LATE"))[:40])
        with Client(address) as c:
            c.socket.sendall(frame(oru("IN-HAND")))
            assert handled.wait(TIMEOUT)
            stop_now.set()
            answer = c.receive()
            assert c.closed_by_server()
        assert arriving.closed_by_server()
        arriving.close()
    assert code_and_id(answer)[:2] == ("AA", "IN-HAND")
    assert [oru("IN-HAND")] == recorder.messages


def test_the_stopped_server_no_longer_accepts_connections() -> None:
    with serving(lambda: MLLPServer(Recorder(), port=0)) as (server, address):
        pass
    with pytest.raises(ConnectionRefusedError), socket.create_connection(address, timeout=TIMEOUT):
        pass
    server.stop()  # stopping twice is harmless


def test_stop_before_serving_returns_at_once() -> None:
    server = MLLPServer(Recorder(), port=0)
    server.stop()
    thread = threading.Thread(target=server.serve)
    thread.start()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_every_answer_is_told_with_its_control_id_code_and_reason() -> None:
    told: list[Acknowledgement] = []
    telling = MLLPServer(Recorder(), port=0, on_answer=told.append)
    with serving(lambda: telling) as (_, address), Client(address) as c:
        c.send(oru("T1"))
        c.send_raw(frame("garbage"))
    assert [(t.control_id, t.code, t.reason) for t in told] == [
        ("T1", "AA", "applied"),
        (None, "AE", "the frame holds no HL7 message (no MSH segment)"),
    ]
    assert all(t.at.tzinfo is not None for t in told)


@pytest.mark.parametrize(
    ("header", "control_id"),
    [
        ("MSH|^~\\&|LAB|FAC|CM|CL|20260105||ORU|M1|P|2.5.1", "M1"),  # MSH-9 without its event
        ("MSH|^~\\&|LAB|FAC|CM|CL|20260105||ORU^R01|M2", "M2"),  # ends at MSH-10
        ("MSH|^~\\&|LAB", None),
        ("MSH|^~\\&", None),
        ("MSH#^~\\&#LAB#FAC#CM#CL#20260105##ORU^R01#M3#P#2.5.1", "M3"),  # its own separator
    ],
)
def test_an_ack_of_any_header_reads_back(header: str, control_id: str | None) -> None:
    answer = hl7_ack(header + "\r", "AE", "refused #1 | ^", now=AT)
    told = read_acknowledgement(answer, AT)
    assert told is not None
    assert (control_id, "AE", "refused #1 | ^") == (told.control_id, told.code, told.reason)


def test_an_address_in_use_is_an_os_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            MLLPServer(Recorder(), port=port).serve()
