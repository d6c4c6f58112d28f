"""Stores whose units of work run through the wrappers the use cases put on an adapter's.

The storage contract runs against each adapter plainly and through each wrapper: a
wrapper that drops, reorders or hides a write fails the same tests an adapter would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

from cmrewards.store.buffered import BufferedTx
from cmrewards.store.journaling import JournalingTx
from cmrewards.store.port import RecordTx, Store, Tx

JOURNALED_AT = dt.datetime(2027, 6, 2, 8, 0, 0, 654_321, tzinfo=dt.UTC)
"""When the journaling store's writes happen."""

RECORDING_CALLS = frozenset(name for name in dir(RecordTx) if not name.startswith("_"))
"""What ``BufferedTx`` answers: the calls recording an outcome makes."""


class WrappedStore:
    """A store that is its adapter but for what a subclass changes (``write`` here; a
    counting store's ``read``)."""

    def __init__(self, adapter: Store) -> None:
        self.adapter = adapter
        self.location = adapter.location

    def read(self) -> AbstractContextManager[Tx]:
        return self.adapter.read()

    def integrity_problems(self) -> list[str]:
        return self.adapter.integrity_problems()

    def close(self) -> None:
        self.adapter.close()


class JournalingStore(WrappedStore):
    """Each write through ``JournalingTx``, as every ``Clinic`` write runs."""

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self.adapter.write() as tx:
            yield JournalingTx(tx, JOURNALED_AT)


class ImportChunkStore(WrappedStore):
    """Each write as an import chunk: ``BufferedTx`` over the adapter's unit of work,
    flushed when the block ends (a block that raises leaves the adapter to roll back)."""

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self.adapter.write() as tx:
            unit = ChunkedUnit(tx)
            yield cast(Tx, unit)
            unit.chunk.flush()


class ChunkedUnit:
    """``BufferedTx`` for each ``RecordTx`` call. Any other call, which the contract
    makes and an import never does, ends the chunk: the pending writes are flushed, the
    call goes to the adapter, and a new chunk starts (so no cached read outlives it)."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self.chunk = BufferedTx(tx)

    def __getattr__(self, name: str) -> Any:
        if name in RECORDING_CALLS:
            return getattr(self.chunk, name)
        self.chunk.flush()
        self.chunk = BufferedTx(self._tx)
        return getattr(self._tx, name)
