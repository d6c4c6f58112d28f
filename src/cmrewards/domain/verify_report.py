"""What ``verify`` returns: every check's problems and the chains it proved (``Clinic.verify``)."""

from __future__ import annotations

import attrs

from .checkpoint import ChainHead, Checkpoint
from .problems import Problem


@attrs.frozen
class VerifyReport:
    """What ``verify`` checked and every problem it found."""

    ok: bool
    problems: tuple[Problem, ...]
    """Every problem found, in the order the checks ran; empty when ``ok``."""
    outcomes: int
    transfers: int
    participants: int
    transfer_chain_head: str
    outcome_chain_head: str
    chains: tuple[ChainHead, ...] = ()
    """Every chain's length and head as verified: what ``checkpoint`` would record."""
    against: Checkpoint | None = None
    """The checkpoint the chains were checked against, if one was given; every way they
    do not extend it is a problem of the ``checkpoint`` check."""
