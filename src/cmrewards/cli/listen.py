"""``cmrewards listen``: the lab interface's MLLP listener, one log line per message."""

from __future__ import annotations

import json
import signal

import click

import cmrewards
from cmrewards.errors import InvalidInput

from ._output import plural
from ._shell import Settings, actor_option, cli, pass_settings


@cli.command("listen")
# No default taken from the library here: reading cmrewards.MLLP_HOST would load the layers
# below on every command's start (tests/cli/test_cli.py); MLLPServer has the defaults.
@click.option(
    "--host",
    help="Address to listen on (default 127.0.0.1: loopback, unless the lab reaches this"
    " machine directly).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="TCP port (default 2575, HL7's; 0: any free port, printed when listening).",
)
@click.option(
    "--map",
    "map_file",
    required=True,
    metavar="MAP.toml",
    help="The lab's mapping file: [identity], its analyte and result words.",
)
@actor_option()
@pass_settings
def listen(
    settings: Settings, host: str | None, port: int | None, map_file: str, actor: str
) -> None:
    """Receive HL7 v2 ORU^R01 results over MLLP and apply each in its own transaction,
    answering with an ACK (AA applied or replayed, AE refused, AR send again later).

    One line per message: time, control id, ACK code and reason (never the person's
    details); with --json, one JSON object per line. SIGTERM or Ctrl-C stops it once the
    message in hand is answered.
    """
    lab_map = cmrewards.load_lab_map(map_file)
    clinic = settings.clinic()
    handler = cmrewards.lab_handler(clinic, lab_map, actor=actor)
    member = next(s for s in clinic.staff() if s.id == actor)  # lab_handler found them

    def listening(bound: str, at: int) -> None:
        click.echo(f"cmrewards: listening on {bound}:{at} for {clinic.location}", err=True)
        if not member.applies_lab_changes:
            # It runs (first results still come in), but says so now, not at the first AE.
            click.echo(
                f"cmrewards: {actor} is a {member.role}: the lab's corrections and withdrawals"
                " of decided results will be refused (AE); run listen as a lab-feed account",
                err=True,
            )

    def logged(told: cmrewards.Acknowledgement) -> None:
        if settings.json:
            click.echo(json.dumps(cmrewards.to_json(told)))
        else:
            stamp = told.at.isoformat(timespec="seconds").replace("+00:00", "Z")
            click.echo(f"{stamp} {told.control_id or '-'} {told.code} {told.reason}")

    server = cmrewards.MLLPServer(
        handler,
        host=cmrewards.MLLP_HOST if host is None else host,
        port=cmrewards.MLLP_PORT if port is None else port,
        on_answer=logged,
    )
    try:
        server.serve(
            ready=listening,
            stop_on=(signal.SIGTERM, signal.SIGINT),
        )
    except OSError as error:  # the address is taken, or not this machine's
        where = f"{server.host}:{server.port}"
        raise InvalidInput(f"cannot listen on {where}: {error.strerror or error}") from None
    click.echo(f"cmrewards: stopped after {plural(server.answered, 'message')}", err=True)
