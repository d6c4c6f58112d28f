"""Commands that set a clinic up: the database, staff, programs, enrolment."""

from __future__ import annotations

import attrs
import click

import cmrewards

from ._shell import Recorded, Settings, actor_option, at_most, cli, emit, money, pass_settings

# --- setup -----------------------------------------------------------------


@cli.command()
@click.option("--admin", required=True, help="Staff id of the first admin.")
@pass_settings
def init(settings: Settings, admin: str) -> None:
    """Create the database and its first admin."""
    cmrewards.check_id(admin, "staff id")  # before a file is created for it
    clinic = settings.clinic(create=True)
    try:
        staff = clinic.init(admin)
    except cmrewards.AlreadyExists as error:
        raise cmrewards.AlreadyExists(f"{error}; use 'cmrewards staff add'") from None
    emit(
        settings,
        staff,
        f"created {clinic.location} with admin {admin}",
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
        copied = ", ".join(f"{n} {table}" for table, n in report.rows.items() if n)
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
    """Manage staff: recorders, clinicians, admins."""


@staff.command("add")
@click.argument("staff_id")
@click.option(
    "--role", required=True, type=click.Choice(["recorder", "clinician", "admin"]), help="Role."
)
@actor_option()
@pass_settings
def staff_add(settings: Settings, staff_id: str, role: str, actor: str) -> None:
    """Add a staff member."""
    member = settings.clinic().add_staff(staff_id, role, actor=actor)
    seen = Recorded(f"staff member {member.id}", "cmrewards staff list")
    emit(settings, member, f"added {member.role} {member.id}", recorded=seen)


@staff.command("deactivate")
@click.argument("staff_id")
@actor_option()
@pass_settings
def staff_deactivate(settings: Settings, staff_id: str, actor: str) -> None:
    """Stop a staff member from acting; their history stays."""
    member = settings.clinic().deactivate_staff(staff_id, actor=actor)
    seen = Recorded(f"the deactivation of {member.id}", "cmrewards staff list")
    emit(settings, member, f"deactivated {member.id}", recorded=seen)


@staff.command("list")
@pass_settings
def staff_list(settings: Settings) -> None:
    """List staff and their roles."""
    members = settings.clinic().staff()
    emit(
        settings,
        members,
        lambda: "\n".join(
            f"{m.id:<20} {m.role:<10} {'active' if m.active else 'inactive'}" for m in members
        ),
    )


# --- programs --------------------------------------------------------------


@cli.command()
@pass_settings
def presets(settings: Settings) -> None:
    """List the shipped programs and what each can pay one participant."""
    shipped = [(name, cmrewards.load_preset(name)) for name in cmrewards.preset_names()]
    maxima = {name: cmrewards.maximum_earnings(program) for name, program in shipped}
    capped = {name: cmrewards.capped_maximum(p, maxima[name]) for name, p in shipped}

    def text() -> str:
        lines = []
        for name, program in shipped:
            most = maxima[name]
            paid = f"{most.points} points" if most.points else f"{most.draws} draws"
            lines.append(
                f"{name:<16} {program.name}\n{'':<16} at most {paid},"
                f" {money(most.value_cents)} expected with every sample negative"
            )
            if program.cap_cents is not None:
                lines.append(f"{'':<16} {at_most(capped[name])}")
        return "\n".join(lines)

    rows = [
        {"preset": name, "name": program.name, "description": program.description}
        | {"maximum": maxima[name], "maximum_with_cap": capped[name]}
        for name, program in shipped
    ]
    emit(settings, rows, text)


@cli.group()
def program() -> None:
    """Define programs (CM protocols)."""


@program.command("add")
@click.option("--preset", "preset_name", help="A shipped preset (see 'cmrewards presets').")
@click.option("--file", "file_path", help="A program TOML file.")
@click.option("--id", "program_id", help="Store under this id instead of the file's.")
@click.option("--timezone", help="The clinic's IANA time zone, e.g. America/Chicago.")
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
    """Add a program from a preset or a TOML file."""
    if (preset_name is None) == (file_path is None):
        raise click.UsageError("give exactly one of --preset NAME or --file PATH")
    loaded = (
        cmrewards.load_preset(preset_name)
        if preset_name
        else cmrewards.load_program_file(str(file_path))
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
    emit(settings, stored.to_dict(), f"added program {stored.id}: {stored.name}", recorded=seen)


@program.command("list")
@pass_settings
def program_list(settings: Settings) -> None:
    """List programs."""
    programs = settings.clinic().programs()
    emit(
        settings,
        [p.to_dict() for p in programs],
        lambda: "\n".join(f"{p.id:<20} {p.name}" for p in programs) or "no programs yet",
    )


@program.command("show")
@click.argument("program_id")
@pass_settings
def program_show(settings: Settings, program_id: str) -> None:
    """Show one program's rules."""
    shown = settings.clinic().program(program_id)
    most = cmrewards.maximum_earnings(shown)
    with_cap = cmrewards.capped_maximum(shown, most)

    def text() -> str:
        lines = [f"{shown.id}: {shown.name}", shown.description, ""]
        lines.append(
            f"point value {money(shown.point_value_cents)}, {shown.weeks} weeks,"
            f" time zone {shown.timezone}, cap {money(shown.cap_cents)}"
        )
        for target in shown.targets:
            rules = ", ".join(
                f"{k}={v}" for k, v in attrs.asdict(target.schedule).items() if v is not None
            )
            lines.append(f"  {target.id}: {target.schedule.kind} ({rules}), {target.per_week}/week")
        lines.append(at_most(with_cap))
        return "\n".join(lines)

    emit(settings, shown.to_dict() | {"maximum": most, "maximum_with_cap": with_cap}, text)


# --- enrolment -------------------------------------------------------------


@cli.command()
@click.argument("participant")
@click.option("--program", "program_id", required=True, help="Program id.")
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
    emit(
        settings,
        record,
        f"enrolled {record.id} in {record.program_id} from {record.start}",
        recorded=seen,
    )


def _end_command(name: str, verb: str, doc: str) -> None:
    @cli.command(name, help=doc)
    @click.argument("participant")
    @actor_option()
    @pass_settings
    def end(settings: Settings, participant: str, actor: str) -> None:
        clinic = settings.clinic()
        record = getattr(clinic, name)(participant, actor=actor)
        seen = Recorded(f"{record.id} {verb}", f"cmrewards statement {record.id}")
        emit(settings, record, f"{record.id} {verb}", recorded=seen)


_end_command("withdraw", "withdrawn", "Withdraw a participant; no more outcomes are recorded.")
_end_command("complete", "completed", "Mark a participant's incentive phase complete.")
