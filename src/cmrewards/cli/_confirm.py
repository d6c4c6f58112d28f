"""Asking before a destructive command: on a terminal, or ``--yes``.

A destructive command is one whose effect staff cannot simply take back at the desk:
``withdraw``, ``complete``, ``staff deactivate``, ``correct``, ``void``, ``reverse``,
``redeem cancel``, ``prize trade`` and ``sign-in off`` (docs/decisions.md, "The front
desk"). Each takes
``--yes``. Without it, on a terminal, the command says what it is about to do and asks
(the question goes to stderr, so ``--json`` output stays one document); answering no
writes nothing and exits 1. With no terminal to ask (a script, cron) and no ``--yes``
it refuses as a usage error, exit 2, before anything is read or written: a job must say
``--yes`` on purpose.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click


class NotConfirmed(click.ClickException):
    """Staff answered no: nothing was written."""

    exit_code = 1


def yes_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--yes",
        "-y",
        is_flag=True,
        help="Do it without asking; required when there is no terminal to ask (scripts, cron).",
    )


def can_ask() -> bool:
    """Whether a person can answer: stdin and stderr are a terminal."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def confirm(yes: bool, what: str | Callable[[], str]) -> None:
    """Go on if ``yes``, or if the person at the terminal agrees to ``what`` (``mark P-1001
    withdrawn in higgins-vbrt: ...``; a function when saying it needs a read, which only
    runs when there is someone to ask); else refuse."""
    if yes:
        return
    command = click.get_current_context().command_path
    if not can_ask():
        raise click.UsageError(
            f"'{command}' cannot be undone at the desk: confirm with --yes (there is no"
            " terminal to ask); nothing was written"
        )
    question = what() if callable(what) else what
    if not click.confirm(f"{question}. Go ahead?", default=False, err=True):
        raise NotConfirmed(f"'{command}' not confirmed; nothing was written")


__all__ = ["NotConfirmed", "can_ask", "confirm", "yes_option"]
