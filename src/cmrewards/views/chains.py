"""Every hash chain the database keeps, named once: what ``verify`` links, what a checkpoint holds.

A new chained table is one more ``ChainSpec`` here; ``verify`` then checks its links,
``checkpoint`` records its head and ``verify --against`` compares it, with no other
change (docs/design.md section 4).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import attrs

from ..domain.chain import GENESIS, Chained, ChainLink, Spelling, fixed_spelling
from ..domain.checkpoint import ChainHead, Checkpoint, checkpoint_of
from ..domain.problems import Check
from ..domain.refs import RefKind
from ..store.port import Journal, Ledger, Outcomes


class ChainReads(Outcomes, Ledger, Journal, Protocol):
    """Every chained table: its rows in id order and its newest row."""


@attrs.frozen
class ChainSpec:
    """One hash chain: its name, what its rows are, the check that links them."""

    name: str
    kind: RefKind
    check: Check
    links: Callable[[ChainReads], list[ChainLink]]
    """Every row as its chain link, in id order."""
    newest: Callable[[ChainReads], Chained | None]
    """The newest row (one indexed read), or None for an empty chain."""
    spell: Spelling
    """Its rows' ``hash_fields`` as ``canonical`` spells them, for their shape
    (``chain.fixed_spelling``; tests/views/test_chain_shapes.py pins each against its record)."""


CHAINS = (
    ChainSpec(
        "outcomes", RefKind.OUTCOME, Check.OUTCOME_CHAIN,
        lambda tx: tx.outcome_links(), lambda tx: tx.last_outcome(),
        fixed_spelling(
            {"id": "int", "program_id": "str", "participant": "str", "target": "str",
             "outcome": "str", "occurred_at": "str", "recorded_at": "str", "actor": "str",
             "key": "str?", "note": "str?", "seed": "int?"},
            {"visit": "str", "specimen": "str"},
        ),
    ),
    ChainSpec(
        "transfers", RefKind.TRANSFER, Check.TRANSFER_CHAIN,
        lambda tx: tx.transfer_links(), lambda tx: tx.last_transfer(),
        fixed_spelling(
            {"id": "int", "program_id": "str", "kind": "str", "from_account": "str",
             "to_account": "str", "amount": "int", "participant": "str?", "actor": "str",
             "reason": "str", "cause": "str?", "reverses": "int?", "occurred_at": "str",
             "recorded_at": "str"},
            {"settles": "int", "cap_change_cents": "int", "over_cap_cents": "int"},
        ),
    ),
    ChainSpec(
        "journal", RefKind.JOURNAL_ENTRY, Check.JOURNAL_CHAIN,
        lambda tx: tx.journal_links(), lambda tx: tx.last_journal_entry(),
        fixed_spelling(
            {"id": "int", "kind": "str", "key": "str", "digest": "str", "at": "str"}
        ),
    ),
)  # fmt: skip
"""Every chain, in the order a checkpoint lists them."""


def head_of(newest: Chained | None, name: str) -> ChainHead:
    if newest is None:
        return ChainHead(name, 0, GENESIS)
    return ChainHead(name, newest.id, newest.hash)


def take_checkpoint(tx: ChainReads, at: dt.datetime) -> Checkpoint:
    """Every chain's head now (one read of each chain's newest row)."""
    return checkpoint_of((head_of(spec.newest(tx), spec.name) for spec in CHAINS), at)


def heads_of(links: Mapping[str, Sequence[ChainLink]]) -> tuple[ChainHead, ...]:
    """Each chain's head, from chains already read whole (as ``verify`` reads them)."""
    return tuple(
        ChainHead(s.name, links[s.name][-1][0], links[s.name][-1][2])
        if links[s.name]
        else ChainHead(s.name, 0, GENESIS)
        for s in CHAINS
    )
