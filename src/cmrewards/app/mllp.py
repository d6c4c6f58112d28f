"""MLLP: HL7 v2 messages over TCP, each answered with an acknowledgement.

A lab interface sends each message framed as ``0x0B`` message ``0x1C 0x0D`` (HL7 v2.5.1
Appendix C, "Minimal Lower Layer Protocol") and waits for its acknowledgement (``ACK``,
HL7 v2.5.1 section 2.9.2, original mode) before it sends the next. ``MLLPServer`` reads
the frames with python-hl7's asyncio streams (``hl7.mllp``), hands each whole message to a
handler (message text in, acknowledgement text out) and writes the answer back.

One message is handled at a time, whatever the number of connections: the handler runs
on the serving thread, between reads, so a ``Clinic`` it uses (bound to the thread that
opened it) is opened on the thread that calls ``serve``. Nothing half-received reaches
the handler: a client that disconnects mid-frame, or a server stopping while a frame
arrives, drops the partial frame. A frame the handler cannot be given (no start block,
not UTF-8, not an HL7 message, too long) and a handler that raises are answered ``AE``
here (``hl7_ack``); the server itself never stops on one (docs/design.md, "The MLLP
listener").
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

import attrs
import hl7
from hl7.mllp import InvalidBlockError, start_hl7_server

from ..domain.clock import Clock, system_clock
from .hl7v2 import hl7_ack

Handler = Callable[[str], str]
"""Message text (segments separated by carriage returns) to acknowledgement text."""

MLLP_HOST = "127.0.0.1"
"""Loopback: a lab interface on another machine reaches the listener through a tunnel or
an interface engine, never an open port (docs/decisions.md, "The MLLP listener")."""
MLLP_PORT = 2575
"""The port IANA registered for HL7 over MLLP."""
MAX_MESSAGE_BYTES = 1 << 20
"""A drug screen is a few kilobytes; a longer frame is refused and its connection closed."""

_LAST_WRITES = 5.0
"""Seconds a stopping server waits for the answers being written."""


@attrs.frozen
class Acknowledgement:
    """One message answered, as the listener logs it: never the message's content."""

    at: dt.datetime
    """When the answer was sent (UTC)."""
    control_id: str | None
    """The message's MSH-10, echoed in MSA-2; None when the frame held no readable one."""
    code: str
    """MSA-1: ``AA`` applied (or a replay), ``AE`` refused, ``AR`` not processed (retry)."""
    reason: str
    """MSA-3, one line: what was done, or why not. Names no person."""


def read_acknowledgement(text: str, at: dt.datetime) -> Acknowledgement | None:
    """What the ``ACK`` ``text`` says (MSA-1, MSA-2, MSA-3, unescaped), stamped ``at``; None
    when it is not an HL7 message with an MSA segment. Raises nothing."""
    parsed = _parsed(text)
    try:
        msa = parsed.segment("MSA") if parsed is not None else None
    except KeyError:
        return None
    if msa is None:
        return None
    control_id = str(msa(2)) if len(msa) > 2 else ""
    reason = parsed.unescape(str(msa(3))) if parsed is not None and len(msa) > 3 else ""
    return Acknowledgement(at, control_id or None, str(msa(1)), reason)


def _parsed(text: str) -> Any:
    """``text`` as python-hl7 reads it, or None when it is not an HL7 message."""
    if not text.startswith("MSH") or len(text) < 9:
        return None
    try:
        message = hl7.parse(text)
        msh = message.segment("MSH")
    except Exception:  # python-hl7 raises what it meets (IndexError, ParseException ...)
        return None
    # python-hl7 misreads a header that ends after MSH-2 ("MSH|^~\&").
    encoding = text[4:].split(text[3], 1)[0]
    return message if len(msh) > 2 and str(msh[2]) == encoding else None


@attrs.define
class MLLPServer:
    """An MLLP listener that answers every message with what ``handler`` returns.

    ``serve()`` blocks the calling thread until ``stop()`` (from any thread) or one of the
    signals it was told to stop on. ``on_answer`` is told of every message answered, on
    the serving thread, after its answer is written.
    """

    handler: Handler
    host: str = MLLP_HOST
    port: int = MLLP_PORT
    """0 lets the system choose a free port (``ready`` is told which)."""
    on_answer: Callable[[Acknowledgement], None] | None = None
    max_message_bytes: int = MAX_MESSAGE_BYTES
    clock: Clock = system_clock
    _loop: asyncio.AbstractEventLoop | None = attrs.field(default=None, init=False)
    _wake: asyncio.Event | None = attrs.field(default=None, init=False)
    _stopping: bool = attrs.field(default=False, init=False)
    _waiting: set[asyncio.Task[None]] = attrs.field(factory=set, init=False)
    """The connections waiting for a frame: the ones a stop may cut short."""
    _connections: set[asyncio.Task[None]] = attrs.field(factory=set, init=False)
    _answered: int = attrs.field(default=0, init=False)

    def serve(
        self,
        *,
        ready: Callable[[str, int], None] | None = None,
        stop_on: Sequence[signal.Signals] = (),
    ) -> None:
        """Listen on ``host:port`` until stopped; ``ready`` is told the address once bound.

        ``stop_on`` (``SIGTERM``, ``SIGINT``; main thread only) stops the server as
        ``stop()`` does. On stopping, the message being handled is answered, the frames
        still arriving are dropped (the sender resends what it got no answer for), and
        ``serve`` returns. Raises ``OSError`` when the address cannot be bound.
        """
        asyncio.run(self._serve(ready, stop_on))

    def stop(self) -> None:
        """Stop serving; safe from any thread or a signal handler, before or while serving."""
        self._stopping = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with suppress(RuntimeError):  # the loop has already closed
                loop.call_soon_threadsafe(wake.set)

    @property
    def answered(self) -> int:
        """How many messages were answered since the server started."""
        return self._answered

    async def _serve(
        self, ready: Callable[[str, int], None] | None, stop_on: Sequence[signal.Signals]
    ) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._loop = loop
        if self._stopping:
            self._wake.set()
        for signum in stop_on:
            loop.add_signal_handler(signum, self.stop)
        try:
            server = await start_hl7_server(
                self._connection, self.host, self.port, limit=self.max_message_bytes
            )
            try:
                if ready is not None:
                    host, port = server.sockets[0].getsockname()[:2]
                    ready(host, port)
                await self._wake.wait()
            finally:
                server.close()
                for task in self._waiting:
                    task.cancel()
                # An answer still being written gets a moment; a client not reading it, no more.
                if self._connections:
                    _, late = await asyncio.wait(self._connections, timeout=_LAST_WRITES)
                    for task in late:
                        task.cancel()
                    await asyncio.gather(*late, return_exceptions=True)
        finally:
            for signum in stop_on:
                loop.remove_signal_handler(signum)
            self._loop = None

    async def _connection(self, reader: Any, writer: Any) -> None:
        """One client: read a frame, answer it, until it leaves or the server stops."""
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while not self._stopping:
                frame = await self._next_frame(reader, task)
                if frame is None:
                    return  # gone, perhaps mid-frame: what arrived of it is dropped
                answer = self._answer(frame) if isinstance(frame, bytes) else self._refuse(frame)
                writer.writeblock(answer.encode("utf-8"))
                await writer.drain()
                self._told(answer)
                if frame == self._too_long:
                    return  # the rest of that frame is still coming: no frame starts here
        except (ConnectionError, asyncio.CancelledError):
            return  # a reset, or a stop while waiting: nothing is in hand
        finally:
            self._connections.discard(task)
            writer.close()
            with suppress(Exception):
                await writer.wait_closed()

    async def _next_frame(self, reader: Any, task: asyncio.Task[None]) -> bytes | str | None:
        """The next whole frame (bytes), why the frame is refused (text), or None when the
        client has gone. Only while waiting here may a stop cancel the connection."""
        self._waiting.add(task)
        try:
            block: bytes = await reader.readblock()
        except asyncio.IncompleteReadError:
            return None
        except InvalidBlockError:
            return "the frame does not start with 0x0B"
        except ValueError:  # python-hl7's word for a frame over the limit
            return self._too_long
        finally:
            self._waiting.discard(task)
        return block

    @property
    def _too_long(self) -> str:
        return f"the frame is longer than {self.max_message_bytes:,} bytes"

    def _answer(self, block: bytes) -> str:
        """The acknowledgement of one whole frame: the handler's, or ``AE`` from here."""
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            return self._refuse("the message is not UTF-8 text")
        text = text.replace("\r\n", "\r").replace("\n", "\r")
        if _parsed(text) is None:
            return self._refuse("the frame holds no HL7 message (no MSH segment)")
        try:
            answer = self.handler(text)
        except Exception as error:  # the handler's bug must not stop the listener
            return self._refuse(f"the message could not be handled ({type(error).__name__})", text)
        if read_acknowledgement(answer, self.clock()) is None:
            return self._refuse("the handler's answer is not an HL7 acknowledgement", text)
        return answer

    def _refuse(self, reason: str, message: str | None = None) -> str:
        return hl7_ack(message or "", "AE", reason, now=self.clock())

    def _told(self, answer: str) -> None:
        self._answered += 1
        if self.on_answer is not None:
            told = read_acknowledgement(answer, self.clock())
            if told is not None:
                self.on_answer(told)
