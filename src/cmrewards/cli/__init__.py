"""The staff command line: parse, call ``Clinic``, print. Nothing else lives here.

Exit codes: 0 done; 1 refused by a rule; 2 invalid input or usage; 3 integrity
problem. With ``--json`` stdout carries exactly one JSON document, errors included;
messages go to stderr. Expected errors are one line, never a traceback.

The commands are public; these modules are internal. They use only the public door
(``cmrewards`` and ``cmrewards.errors``), as any embedder would.
"""

from __future__ import annotations

# Each command module adds its commands to ``cli`` when imported, which ``cli`` does on the
# command's first use (``_shell.COMMAND_HOMES``): ``balance`` never imports ``import``'s module.
from ._shell import cli


def main() -> None:
    cli.main()


__all__ = ["cli", "main"]
