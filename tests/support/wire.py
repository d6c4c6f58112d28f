"""Round trips between a PostgreSQL clinic and its server, counted on the wire.

libpq's protocol trace (``PQtrace``) logs every message the client sends (``F``) and
receives (``B``) in order. A round trip is one turn of the conversation: a run of messages
sent followed by the server's answer, so a pipeline of several statements ended by one
sync counts once, and an answer the client waits for counts each time. This measures what
the server sees, whatever the library thinks it batched. The benchmark uses it too
(benchmarks/run.py puts tests/ on its path).
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import cmrewards


class Turns:
    """The number of round trips, filled in when the block ends."""

    count: int = 0


def turns_in(trace: str) -> int:
    """Round trips in a libpq trace: runs of client messages (``F``) the server answered."""
    directions = [line[:1] for line in trace.splitlines() if line[:1] in ("F", "B")]
    return sum(1 for sent, answer in itertools.pairwise(directions) if (sent, answer) == ("F", "B"))


@contextmanager
def round_trips(clinic: cmrewards.Clinic) -> Iterator[Turns]:
    """Count the round trips ``clinic`` (on PostgreSQL) makes inside the block."""
    from psycopg import pq

    pgconn = clinic._store._conn.pgconn  # type: ignore[attr-defined]  # the store's connection
    turns = Turns()
    with tempfile.TemporaryFile("w+") as log:
        pgconn.trace(log.fileno())
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield turns
        finally:
            pgconn.untrace()
        log.seek(0)
        turns.count = turns_in(log.read())
