"""Checkpoints as pure data: heads in, a statement and a digest out, and the comparison."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest

from cmrewards.domain.chain import GENESIS
from cmrewards.domain.checkpoint import (
    ChainHead,
    Checkpoint,
    checkpoint_of,
    checkpoint_problems,
    parse_checkpoint,
)
from cmrewards.domain.json_form import to_json
from cmrewards.domain.problems import Check
from cmrewards.errors import InvalidInput

AT = dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.UTC)


def h(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def rows(n: int, salt: str = "") -> list[tuple[int, str]]:
    return [(i, h(i) if not salt else hashlib.sha256(f"{salt}{i}".encode()).hexdigest())
            for i in range(1, n + 1)]  # fmt: skip


CHAINS = {"outcomes": rows(3), "transfers": rows(5), "journal": []}


def taken(chains: dict[str, list[tuple[int, str]]] = CHAINS) -> Checkpoint:
    heads = [
        ChainHead(name, r[-1][0], r[-1][1]) if r else ChainHead(name, 0, GENESIS)
        for name, r in chains.items()
    ]
    return checkpoint_of(heads, AT)


def messages(checkpoint: Checkpoint, chains: dict[str, list[tuple[int, str]]]) -> list[str]:
    problems = checkpoint_problems(checkpoint, chains)
    assert all(p.check is Check.CHECKPOINT for p in problems)
    return [p.message for p in problems]


def test_the_statement_is_one_line_with_every_chain_and_the_digest() -> None:
    made = taken()
    expected = (
        f"cmrewards-checkpoint/1 2027-03-01T09:30:00Z outcomes=3:{h(3)[:16]}"
        f" transfers=5:{h(5)[:16]} journal=0:{GENESIS[:16]} digest={made.digest}"
    )
    assert expected == made.statement


def test_a_statement_and_the_json_read_back_to_the_same_checkpoint() -> None:
    made = taken()
    from_statement = parse_checkpoint(made.statement)
    assert (made.at, made.digest) == (from_statement.at, from_statement.digest)
    assert [c.head[:16] for c in made.chains] == [c.head for c in from_statement.chains]
    assert made == parse_checkpoint(json.dumps(to_json(made)))
    assert made == parse_checkpoint(json.dumps({"tables": {}, "checkpoint": to_json(made)}))
    # A mail program may wrap the line anywhere between words.
    assert from_statement == parse_checkpoint(made.statement.replace(" ", "\n  "))


@pytest.mark.parametrize("form", ["statement", "json"])
def test_the_same_chains_and_longer_ones_extend_the_checkpoint(form: str) -> None:
    made = taken()
    kept = made.statement if form == "statement" else json.dumps(to_json(made))
    checkpoint = parse_checkpoint(kept)
    assert messages(checkpoint, CHAINS) == []
    grown = {"outcomes": rows(9), "transfers": rows(5), "journal": rows(2), "later": rows(4)}
    assert messages(checkpoint, grown) == []


def test_a_chain_cut_short_says_where_it_ends_now() -> None:
    cut = CHAINS | {"transfers": rows(4)}
    assert [
        f"transfers chain cut: the checkpoint saw 5 transfers ending in {h(5)[:16]};"
        " it now ends at row 4"
    ] == messages(parse_checkpoint(taken().statement), cut)


def test_a_chain_of_one_row_cut_is_counted_in_the_singular() -> None:
    """Newcomer finding (session 6): counts of one agree with their noun ("1 outcome")."""
    one = CHAINS | {"outcomes": rows(1)}
    assert [
        f"outcomes chain cut: the checkpoint saw 1 outcome ending in {h(1)[:16]};"
        " it now ends at row 0"
    ] == messages(taken(one), one | {"outcomes": []})


def test_a_rebuilt_history_is_a_rewritten_chain() -> None:
    rebuilt = CHAINS | {"outcomes": rows(7, salt="x")}
    (message,) = messages(taken(), rebuilt)
    assert message.startswith("outcomes chain rewritten: the checkpoint saw 3 outcomes")
    assert message.endswith("(history before the checkpoint changed)")


def test_an_emptied_chain_and_a_missing_chain_are_reported() -> None:
    assert len(messages(taken(), {"outcomes": [], "journal": []})) == 2


def test_a_statement_altered_by_hand_fails_its_digest() -> None:
    altered = taken().statement.replace("09:30:00Z", "09:31:00Z")
    (message,) = messages(parse_checkpoint(altered), CHAINS)
    assert message.startswith("the checkpoint's digest does not match")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "cmrewards-checkpoint/2 2027-03-01T09:30:00Z digest=" + "0" * 64,
        "cmrewards-checkpoint/1 yesterday outcomes=1:" + "a" * 16 + " digest=" + "0" * 64,
        "cmrewards-checkpoint/1 2027-03-01T09:30:00 outcomes=1:" + "a" * 16 + " digest=" + "0" * 64,
        "cmrewards-checkpoint/1 2027-03-01T09:30:00Z outcomes=1:abc digest=" + "0" * 64,
        "cmrewards-checkpoint/1 2027-03-01T09:30:00Z outcomes=1:" + "a" * 16,
        "cmrewards-checkpoint/1 2027-03-01T09:30:00Z a=1:"
        + "a" * 16
        + " a=2:"
        + "b" * 16
        + " digest="
        + "0" * 64,
        '{"at": "2027-03-01T09:30:00Z"}',
        '{"at": "2027-03-01T09:30:00Z", "chains": [{"chain": "a", "length": -1, "head": "'
        + "a" * 64
        + '"}], "digest": "'
        + "0" * 64
        + '"}',
        "{not json",
        "[1, 2]",
    ],
)
def test_anything_else_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_checkpoint(text)
