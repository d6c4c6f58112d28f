"""Commands that set a clinic up: the database, staff, programs, enrolment."""

from __future__ import annotations

import attrs
import click

import cmrewards

from . import _session
from ._confirm import confirm, yes_option
from ._ids import PARTICIPANT, PRESET, PROGRAM, STAFF
from ._output import Column, csv_option, dollars, emit_list, plural
from ._shell import (
    Recorded,
    Settings,
    actor_option,
    at_most,
    cli,
    emit,
    money,
    pass_settings,
    period_words,
)

# --- setup -----------------------------------------------------------------


@cli.command()
@click.option("--admin", required=True, help="Staff id of the first admin.")
@click.option(
    "--no-sign-in",
    is_flag=True,
    help="Leave sign-in off: --actor names who acts (one person's database, a test);"
    " 'cmrewards sign-in on' turns it on later.",
)
@pass_settings
def init(settings: Settings, admin: str, no_sign_in: bool) -> None:
    """Create the database and its first admin, with sign-in on: asks for their passphrase."""
    cmrewards.check_id(admin, "staff id")  # before a file is created for it
    passphrase = None
    if not no_sign_in:
        passphrase = cmrewards.check_passphrase(_session.new_passphrase(admin))
    clinic = settings.clinic(create=True)
    try:
        staff = clinic.init(admin, passphrase=passphrase, os_user=_session.os_user())
    except cmrewards.AlreadyExists as error:
        raise cmrewards.AlreadyExists(f"{error}; use 'cmrewards staff add'") from None
    signing = "sign-in is off" if no_sign_in else f"sign-in is on: 'cmrewards login {admin}'"
    emit(
        settings,
        staff,
        f"created {clinic.location} with admin {admin}; {signing}",
        recorded=Recorded(f"the database with admin {admin}", "cmrewards staff list"),
    )


@cli.command()
@click.option("--from", "source_file", required=True, help="The clinic's SQLite file.")
@click.option("--to", "server_url", required=True, help="An empty database: postgresql://...")
@pass_settings
def migrate(settings: Settings, source_file: str, server_url: str) -> None:
    """Copy a clinic from its SQLite file into PostgreSQL, ids and hash chains kept."""
    report = cmrewards.migrate(source_file, server_url)

    def text() -> str:
        copied = ", ".join(f"{table} ({plural(n, 'row')})" for table, n in report.rows.items() if n)
        checked = report.target_verify
        return "\n".join(
            [
                f"copied {report.source} into {report.target}: {copied or 'no rows'}",
                f"verify OK on both: outcome chain head {checked.outcome_chain_head[:16]},"
                f" transfer chain head {checked.transfer_chain_head[:16]}",
                f"point --db / CMREWARDS_DB at the server from now on; {report.source} is"
                " unchanged: keep it as the last SQLite backup",
            ]
        )

    emit(settings, report, text, recorded=Recorded("the copy", "cmrewards --db URL verify"))


@cli.group()
def staff() -> None:
    """Manage staff: recorders, clinicians, admins, lab-feed service accounts."""


@staff.command("add")
@click.argument("staff_id", type=STAFF)
@click.option(
    "--role",
    required=True,
    # Literal, so the CLI starts without the domain; tests/cli check it against ``Role``.
    type=click.Choice(["recorder", "clinician", "admin", "lab-feed"]),
    help="Role (lab-feed: the service account of `listen` and the nightly import).",
)
@actor_option()
@pass_settings
def staff_add(settings: Settings, staff_id: str, role: str, actor: str) -> None:
    """Add a staff member."""
    member = settings.clinic().add_staff(staff_id, role, actor=actor)
    seen = Recorded(f"staff member {member.id}", "cmrewards staff list")
    emit(settings, member, f"added {member.role} {member.id}", recorded=seen)


@staff.command("deactivate")
@click.argument("staff_id", type=STAFF)
@actor_option()
@yes_option()
@pass_settings
def staff_deactivate(settings: Settings, staff_id: str, actor: str, yes: bool) -> None:
    """Stop a staff member from acting; their history stays. Asks first (or --yes)."""
    confirm(yes, f"deactivate {staff_id}: they can no longer act, for good")
    member = settings.clinic().deactivate_staff(staff_id, actor=actor)
    seen = Recorded(f"the deactivation of {member.id}", "cmrewards staff list")
    emit(settings, member, f"deactivated {member.id}", recorded=seen)


STAFF_COLUMNS: list[Column[cmrewards.Staff]] = [
    Column("staff", lambda m: m.id),
    Column("role", lambda m: m.role),
    Column("status", lambda m: "active" if m.active else "inactive"),
    Column("added by", lambda m: m.added_by or "(init)"),
]


@staff.command("list")
@csv_option()
@pass_settings
def staff_list(settings: Settings) -> None:
    """List staff and their roles."""
    members = settings.clinic().staff()
    emit_list(settings, members, STAFF_COLUMNS, members, empty="no staff yet")


# --- programs --------------------------------------------------------------


@cli.command()
@csv_option()
@pass_settings
def presets(settings: Settings) -> None:
    """List the shipped programs and what each can pay one participant: the points and
    draws when every sample is negative, their expected dollars, and that with the cap."""
    shipped = [(name, cmrewards.load_preset(name)) for name in cmrewards.preset_names()]
    maxima = {name: cmrewards.maximum_earnings(program) for name, program in shipped}
    capped = {name: cmrewards.capped_maximum(p, maxima[name]) for name, p in shipped}
    rows = [
        {"preset": name, "name": program.name, "description": program.description}
        | {"maximum": maxima[name], "maximum_with_cap": capped[name]}
        for name, program in shipped
    ]
    columns: list[Column[tuple[str, cmrewards.Program]]] = [
        Column("preset", lambda shipped: shipped[0]),
        Column("name", lambda shipped: shipped[1].name),
        # Points and draws apart, so that each CSV cell is a plain count.
        Column(
            "points",
            lambda shipped: f"{maxima[shipped[0]].points:,}",
            right=True,
            csv=lambda shipped: maxima[shipped[0]].points,
        ),
        Column(
            "draws",
            lambda shipped: f"{maxima[shipped[0]].draws:,}",
            right=True,
            csv=lambda shipped: maxima[shipped[0]].draws,
        ),
        Column(
            "expected",
            lambda shipped: money(maxima[shipped[0]].value_cents),
            right=True,
            csv=lambda shipped: dollars(maxima[shipped[0]].value_cents),
        ),
        # What one participant can receive: the expected value, the cap applied.
        Column(
            "with the cap",
            lambda shipped: money(capped[shipped[0]].cents) if shipped[1].cap_cents else "no cap",
            right=True,
            csv=lambda shipped: dollars(capped[shipped[0]].cents),
        ),
    ]
    emit_list(settings, rows, columns, shipped, empty="no presets")


@cli.group()
def program() -> None:
    """Define programs (CM protocols)."""


@program.command("add")
@click.option(
    "--preset", "preset_name", type=PRESET, help="A shipped preset (see 'cmrewards presets')."
)
@click.option("--file", "file_path", help="A program TOML file.")
@click.option("--id", "program_id", help="Store under this id instead of the file's.")
@click.option(
    "--timezone",
    help="The clinic's IANA time zone, e.g. America/Chicago (required unless the file names a"
    " zone other than UTC; give UTC to mean it).",
)
@actor_option()
@pass_settings
def program_add(
    settings: Settings,
    preset_name: str | None,
    file_path: str | None,
    program_id: str | None,
    timezone: str | None,
    actor: str,
) -> None:
    """Add a program from a preset or a TOML file, in the clinic's time zone: --timezone,
    else the zone the file names. A program in UTC only by default (most presets, a file
    without `timezone`) is refused: its clinical days would end at UTC midnight, and a
    program never changes."""
    if (preset_name is None) == (file_path is None):
        raise click.UsageError("give exactly one of --preset NAME or --file PATH")
    loaded = (
        cmrewards.load_preset(preset_name)
        if preset_name
        else cmrewards.load_program_file(str(file_path))
    )
    if timezone is None and loaded.timezone == "UTC":
        source = f"preset {preset_name}" if preset_name else str(file_path)
        raise click.UsageError(
            f"{source} would keep its clinical days in UTC: give --timezone with the"
            " clinic's zone (e.g. America/Chicago), or --timezone UTC to mean it;"
            " a program never changes"
        )
    if program_id is not None or timezone is not None:
        overrides = {
            "id": loaded.id if program_id is None else program_id,
            "timezone": loaded.timezone if timezone is None else timezone,
            "calendar": loaded.calendar,  # to_dict leaves out a false one: say it
        }
        loaded = cmrewards.program_from_dict(loaded.to_dict() | overrides, "command line")
    stored = settings.clinic().add_program(loaded, actor=actor)
    seen = Recorded(f"program {stored.id}", f"cmrewards program show {stored.id}")
    said = f"added program {stored.id}: {stored.name}, in {stored.timezone}"
    emit(settings, stored.to_dict(), said, recorded=seen)


PROGRAM_COLUMNS: list[Column[cmrewards.Program]] = [
    Column("program", lambda p: p.id),
    Column("name", lambda p: p.name),
    Column("time zone", lambda p: p.timezone),
    Column("weeks", lambda p: p.weeks, right=True),
    Column("targets", lambda p: ", ".join(t.id for t in p.targets)),
]


@program.command("list")
@csv_option()
@pass_settings
def program_list(settings: Settings) -> None:
    """List programs."""
    programs = settings.clinic().programs()
    data = [p.to_dict() for p in programs]
    emit_list(settings, data, PROGRAM_COLUMNS, programs, empty="no programs yet")


@program.command("show")
@click.argument("program_id", type=PROGRAM)
@pass_settings
def program_show(settings: Settings, program_id: str) -> None:
    """Show one program's rules: targets, schedules, redemption rules, prizes, the cap.

    The program file's description is free text (its author's words, which may quote
    figures from a paper); it is in the --json output, not beside the figures computed here.
    """
    shown = settings.clinic().program(program_id)
    most = cmrewards.maximum_earnings(shown)
    with_cap = cmrewards.capped_maximum(shown, most)

    def text() -> str:
        lines = [f"{shown.id}: {shown.name}", ""]
        lines.append(
            f"point value {money(shown.point_value_cents)}, {plural(shown.weeks, 'week')},"
            f" time zone {shown.timezone}, "
            + (
                "no cap"
                if shown.cap_cents is None
                else f"cap {money(shown.cap_cents)} per {period_words(shown.cap_period)}"
            )
        )
        if not shown.calendar:
            lines.append(
                "calendar = false: legacy rules, every sample pays (no phases, owed samples"
                " or last paid week)"
            )
        for target in shown.targets:
            lines += _target_lines(target)
            if target.requires:
                lines.append(f"    pays only with {' and '.join(target.requires)} met at the visit")
        lines += _redemption_rules(shown)
        lines.append(at_most(with_cap))
        return "\n".join(lines)

    emit(settings, shown.to_dict() | {"maximum": most, "maximum_with_cap": with_cap}, text)


def _schedule_words(schedule: cmrewards.FixedSchedule | cmrewards.EscalatingSchedule) -> str:
    """``escalating (start=10, step=5, ...)``: a schedule's kind and its set rules."""
    rules = ", ".join(f"{k}={v}" for k, v in attrs.asdict(schedule).items() if v is not None)
    return f"{schedule.kind} ({rules})"


def _target_lines(target: cmrewards.Target) -> list[str]:
    """A target's schedule, or each of its phases with its weeks, samples a week and whether
    escalation carries in or starts again; extra samples when they do not follow the default."""
    if not target.phases:
        lines = [f"  {target.id}: {_schedule_words(target.schedule)}, {target.per_week}/week"]
    else:
        lines = [f"  {target.id}: {plural(len(target.phases), 'phase')}"]
        for number, phase in enumerate(target.phases):
            escalation = (
                ""
                if number == 0
                else "; escalation carries on"
                if phase.escalation is cmrewards.Escalation.CARRY
                else "; escalation starts again"
            )
            lines.append(
                f"    weeks {phase.first}-{phase.last}: {_schedule_words(phase.schedule)},"
                f" {phase.per_week}/week{escalation}"
            )
    if target.extra_samples is not cmrewards.ExtraSamples.IGNORE:
        lines.append(
            f"    extra samples: {target.extra_samples} (each pays and moves the schedule)"
        )
    return lines


def _redemption_rules(shown: cmrewards.Program) -> list[str]:
    """Approval, holds, separation of duties, the bowl and trades, as staff meet them."""
    lines = [
        "redemptions: "
        + ("a clinician approves each request" if shown.require_approval else "no approval step")
        + f"; holds expire after {plural(shown.hold_days, 'day')}"
        + ("; whoever requested or approved may not hand it over" if shown.separate_duties else "")
    ]
    if shown.bowl:
        slips = sum(c.slips for c in shown.bowl)
        lines.append(
            f"bowl of {plural(slips, 'slip')}: "
            + ", ".join(f"{c.slips} {c.category} ({money(c.value_cents)})" for c in shown.bowl)
        )
    lines += [f"trade {t.count} {t.give} for 1 {t.get}" for t in shown.trades]
    return lines


# --- enrolment -------------------------------------------------------------


@cli.command()
@click.argument("participant", type=PARTICIPANT)
@click.option("--program", "program_id", required=True, type=PROGRAM, help="Program id.")
@click.option("--start", help="Enrolment date YYYY-MM-DD (default: today in the clinic's zone).")
@actor_option()
@pass_settings
def enroll(
    settings: Settings, participant: str, program_id: str, start: str | None, actor: str
) -> None:
    """Enrol a participant (pseudonymous id) in a program."""
    day = cmrewards.parse_date(start, "--start") if start is not None else None
    record = settings.clinic().enroll(participant, program_id, start=day, actor=actor)
    seen = Recorded(f"the enrolment of {record.id}", f"cmrewards statement {record.id}")
    again = f" (episode {record.episode})" if record.episode > 1 else ""
    emit(
        settings,
        record,
        f"enrolled {record.id} in {record.program_id} from {record.start}{again}",
        recorded=seen,
    )


@cli.group()
def participant() -> None:
    """Participants and their episodes (enrolments)."""


PARTICIPANT_COLUMNS: list[Column[cmrewards.Participant]] = [
    Column("participant", lambda p: p.id),
    Column("episode", lambda p: p.episode, right=True),
    Column("program", lambda p: p.program_id),
    Column("since", lambda p: p.start),
    Column("status", lambda p: p.status),
]


@participant.command("list")
@click.option("--program", "program_id", help="Only those whose current episode is in it.")
@csv_option()
@pass_settings
def participant_list(settings: Settings, program_id: str | None) -> None:
    """Every participant with their current episode."""
    clinic = settings.clinic()
    if program_id is not None:
        clinic.program(program_id)  # an unknown program is NotFound, not an empty list
    people = [p for p in clinic.participants() if program_id in (None, p.program_id)]
    emit_list(settings, people, PARTICIPANT_COLUMNS, people, empty="no participants")


@participant.command("show")
@click.argument("participant", type=PARTICIPANT)
@pass_settings
def participant_show(settings: Settings, participant: str) -> None:
    """One participant's episodes: program, start, status, who enrolled and ended each."""
    clinic = settings.clinic()
    episodes = clinic.episodes(participant)

    def text() -> str:
        lines = [f"{participant}: {plural(len(episodes), 'episode')}"]
        for e in episodes:
            end = ""
            if e.ended_at is not None:
                zone = clinic.program(e.program_id).timezone
                end = f", ended {cmrewards.local_date(e.ended_at, zone)} by {e.ended_by}"
            lines.append(
                f"  episode {e.number}  {e.program_id}  from {e.start}  {e.status}"
                f" (enrolled by {e.enrolled_by}{end})"
            )
        return "\n".join(lines)

    emit(settings, episodes, text)


def _end_command(name: str, verb: str, doc: str) -> None:
    @cli.command(name, help=f"{doc} Asks first (or --yes).")
    @click.argument("participant", type=PARTICIPANT)
    @click.option(
        "--on",
        "on",
        metavar="DATE",
        help="The day it ended, YYYY-MM-DD (default: now); not before their last result.",
    )
    @actor_option()
    @yes_option()
    @pass_settings
    def end(settings: Settings, participant: str, on: str | None, actor: str, yes: bool) -> None:
        day = cmrewards.parse_date(on, "--on") if on is not None else None
        clinic = settings.clinic()
        confirm(
            yes,
            lambda: (
                f"mark {participant} {verb}{'' if day is None else f' on {day}'} in"
                f" {clinic.participant(participant).program_id}:"
                " no more outcomes can be recorded until they are enrolled again"
                " (a new episode)"
            ),
        )
        record = getattr(clinic, name)(participant, on=day, actor=actor)
        seen = Recorded(f"{record.id} {verb}", f"cmrewards statement {record.id}")

        def said() -> str:
            # Always the day, as --on says it: without it, today in the program's zone.
            ended = day
            if ended is None and record.ended_at is not None:
                zone = clinic.program(record.program_id).timezone
                ended = cmrewards.local_date(record.ended_at, zone)
            return f"{record.id} {verb}" + ("" if ended is None else f" on {ended}")

        emit(settings, record, said, recorded=seen)


_end_command(
    "withdraw",
    "withdrawn",
    "Withdraw a participant; no more outcomes are recorded until they are enrolled again.",
)
_end_command("complete", "completed", "Mark a participant's incentive phase complete.")
