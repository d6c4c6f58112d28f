"""Commands for managers and auditors: reports, statements, export, simulation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

import cmrewards
from cmrewards.errors import InvalidInput

from ._ids import PARTICIPANT, PRESET, PROGRAM
from ._output import Column, dollars, plural, table, when
from ._shell import Settings, cap_note, cli, emit, money, pass_settings
from .signin import describe_sign_ins

if TYPE_CHECKING:
    from cmrewards import EpisodeSummary, OverCapGrant, ProgramReport, Statement, StatementLine

# --- reports ---------------------------------------------------------------------


@cli.command()
@click.option("--program", "program_id", type=PROGRAM, help="One program (default: every program).")
@click.option(
    "--since", metavar="DATE", help="First clinical date, YYYY-MM-DD (results and awards)."
)
@click.option(
    "--until", metavar="DATE", help="Last clinical date, YYYY-MM-DD (results and awards)."
)
@pass_settings
def report(
    settings: Settings, program_id: str | None, since: str | None, until: str | None
) -> None:
    """Abstinence, cost, liability, budget, caps and stock for each program; sign-ins.

    With --since/--until, results, awards, adjustments and prizes are the range's; the
    rest (participants, points held, redeemed and outstanding, caps reached, stock) is as
    of now, and says so."""
    first = cmrewards.parse_date(since, "--since") if since is not None else None
    last = cmrewards.parse_date(until, "--until") if until is not None else None
    clinic = settings.clinic()
    reports = clinic.report(program_id, since=first, until=last)
    zones = {p.id: p.timezone for p in clinic.programs()}

    def text() -> str:
        parts = [_describe_report(r, zones[r.program_id]) for r in reports]
        if program_id is None:  # sign-ins are the clinic's, not one program's
            parts.append(describe_sign_ins(clinic.sign_ins(), first, last))
        return "\n\n".join(part for part in parts if part)

    emit(settings, reports, text)


def _describe_report(r: ProgramReport, timezone: str) -> str:
    period = f"{r.since or 'start'} to {r.until or 'today'}"
    # With a range, the figures that are the record as it stands say so (r.as_of_now).
    ranged = r.since is not None or r.until is not None
    now = " (as of now)" if ranged else ""
    lines = [
        f"{r.program_id}: {r.name} ({period})",
        f"  participants  {r.enrolled:,} enrolled: {r.active:,} active, {r.completed:,} completed,"
        f" {r.withdrawn:,} withdrawn{now}",
    ]
    if r.episodes > r.enrolled or r.returning:
        people = "participant" if r.returning == 1 else "participants"
        lines.append(
            f"  episodes      {r.episodes} enrolments; {r.returning} {people} on a later"
            " episode (re-enrolled)"
        )
    for t in r.targets:
        lines.append(
            f"  {t.target:<22} {t.opportunities:,} recorded, {t.met:,} met"
            f" ({t.met_per_mille / 10:.1f} %)"
        )
    lines += [
        f"  abstinence    longest run mean {r.lda_mean_tenths / 10:.1f},"
        f" median {r.lda_median_tenths / 10:.1f} samples",
        f"  points        {r.points_awarded:,} awarded, {r.adjusted_points:+,} adjusted"
        + ("; as of now " if ranged else ", ")
        + f"{r.points_held:,} held, {r.points_redeemed:,} redeemed,"
        f" {r.points_outstanding:,} outstanding",
        f"  cost          {money(r.awarded_cents)} awarded, {money(r.adjusted_cents)} adjusted"
        + ("; as of now " if ranged else ", ")
        + f"{money(r.outstanding_cents)} outstanding;"
        f" {money(r.cost_per_participant_cents)} awarded per participant",
    ]
    if r.prizes_won:
        won = ", ".join(f"{n} {c}" for c, n in r.prizes_won.items())
        given = ", ".join(f"{n} {c}" for c, n in r.prizes_handed_over.items()) or "none"
        lines.append(f"  prizes        won {won}; handed over {given}")
    if r.budget_cents is not None:
        lines.append(
            f"  budget        {money(r.budget_cents)}: {money(r.budget_committed_cents)} committed"
            f" to date, {money(r.budget_remaining_cents)} remaining"
        )
    if r.written_off_cents:
        lines.append(
            f"  written off   {plural(r.written_off_points, 'point')}, {money(r.written_off_cents)}"
            " (corrected awards already spent or handed over)"
        )
    lines.append(
        f"  caps          {plural(r.cap_hits, 'participant-period')} reached the cap{now}"
        if r.cap_hits
        else f"  caps          no participant reached the cap{now}"
    )
    if r.over_cap_grants:
        lines.append(
            f"  over the cap  {plural(r.over_cap_points, 'point')} granted by admins,"
            f" {money(r.over_cap_cents)} past the cap:"
        )
        lines += [f"    {_describe_grant(g, timezone)}" for g in r.over_cap_grants]
    if r.low_stock:
        lines.append(f"  low stock     {', '.join(r.low_stock)}{now}")
    return "\n".join(lines)


def _describe_grant(g: OverCapGrant, timezone: str) -> str:
    """``P-1001 +40 points ($40.00, $30.00 past the cap), transfer 7, by admin-1 at
    2026-05-01 09:03 CDT: make-up for the lab outage`` (the time in the program's zone)."""
    undone = " (reversed)" if g.reversed else ""
    return (
        f"{g.participant} +{plural(g.points, 'point')} ({money(g.cents)}, {money(g.over_cents)}"
        f" past the cap), transfer {g.transfer_id}, by {g.actor} at {when(g.at, timezone)}:"
        f" {g.reason}{undone}"
    )


@cli.command()
@click.argument("participant", type=PARTICIPANT)
@click.option(
    "--html", "html_file", help="Also write a printable page with a chart here (owner-only)."
)
@pass_settings
def statement(settings: Settings, participant: str, html_file: str | None) -> None:
    """A participant's statement: each result, streaks, resets, prizes, adjustments and
    redemptions."""
    clinic = settings.clinic()
    made = clinic.statement(participant)
    if html_file is not None:
        _refuse_to_overwrite_a_database(html_file, settings.db)
        try:
            page = cmrewards.statement_html(made)
            _write_owner_only(Path(html_file), page)
        except OSError as error:
            raise InvalidInput(f"cannot write {html_file!r}: {error.strerror}") from None
    emit(settings, made, lambda: _describe_statement(made, html_file))


def _write_owner_only(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (0600), as the database and the export are:
    a statement is a 42 CFR Part 2 record. A page written before is made 0600 too."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _refuse_to_overwrite_a_database(target: str, database: str) -> None:
    """The page may replace an earlier page, never a database (this one or any other)."""
    try:
        with open(target, "rb") as existing:
            header = existing.read(16)
    except FileNotFoundError:
        return
    except OSError:
        return  # writing will say what is wrong with the path
    if header == b"SQLite format 3\x00" or Path(target).resolve() == Path(database).resolve():
        raise InvalidInput(f"{target} is a database; write the statement page somewhere else")


def _statement_columns(timezone: str, notes: bool = False) -> list[Column[StatementLine]]:
    """The statement's table; with ``notes``, a last column saying why a result was not
    paid or was cut (``StatementLine.note``)."""

    def paid(line: StatementLine) -> str:
        if line.points:
            return plural(line.points, "point")
        return plural(line.draws, "draw") if line.draws else ""

    def mark(line: StatementLine) -> str:
        said = "reset" if line.reset else ("recovered" if line.recovered else "")
        return f"{said} (corrected)".strip() if line.corrected else said

    return [
        Column("date", lambda line: cmrewards.local_date(line.occurred_at, timezone)),
        Column("target", lambda line: line.target),
        Column("result", lambda line: line.outcome),
        Column("paid", paid, right=True, csv=lambda line: line.points or line.draws),
        Column("streak", lambda line: line.streak, right=True),
        Column(
            "total",
            lambda line: money(line.cumulative_cents),
            right=True,
            csv=lambda line: dollars(line.cumulative_cents),
        ),
        Column("", mark),
        *([Column("note", lambda line: line.note)] if notes else []),
    ]


ADJUSTMENTS = ("adjustment-up", "adjustment-down", "reversal")
"""Movements made by hand, listed on the statement with their reasons (spending and holds
are the redemptions')."""


def _describe_statement(made: Statement, html_file: str | None) -> str:
    episode = f", episode {made.episode}" if made.episode > 1 else ""
    lines = [f"{made.participant} in {made.program_id} since {made.start} ({made.status}{episode})"]
    columns = _statement_columns(made.timezone, any(line.note for line in made.lines))
    if len(made.episodes) > 1:
        # A person enrolled more than once: each episode's results under its summary.
        for summary in made.episodes:
            lines.append(_describe_episode(summary))
            mine = [line for line in made.lines if line.episode == summary.number]
            if mine:
                lines.append(table(columns, mine))
    elif made.lines:
        lines.append(table(columns, made.lines))
    lines.append(
        f"longest streak {made.longest_streak}, {plural(made.resets, 'reset')},"
        f" {plural(made.recoveries, 'recovery')}; earned {money(made.earned_cents)};"
        f" balance {plural(made.balance.points, 'point')}"
    )
    for p in made.prizes:
        won = when(p.won_at, made.timezone)
        lines.append(f"prize #{p.id}: {p.category} ({money(p.value_cents)}) won {won}, {p.status}")
    for e in made.history:
        if e.kind in ADJUSTMENTS:
            sign = "+" if e.points > 0 else "-"
            lines.append(
                f"{e.kind} {sign}{plural(abs(e.points), 'point')} on"
                f" {when(e.occurred_at, made.timezone)} by {e.actor}: {e.detail}"
            )
        elif e.kind == "taken-back":
            # Not a hand adjustment: the settlement of someone's write took it back. When
            # it was written and whose write it settled, beside the result's time.
            lines.append(
                f"taken back -{plural(abs(e.points), 'point')} for"
                f" {when(e.occurred_at, made.timezone)}, written"
                f" {when(e.recorded_at, made.timezone)} ({e.actor} ran the write): {e.detail}"
            )
    for c in made.corrections:
        what = "voided" if c.outcome is None else f"corrected to {c.outcome}"
        lines.append(f"correction #{c.id}: outcome {c.outcome_id} {what} by {c.actor}: {c.reason}")
    if made.write_offs:
        lines.append(
            f"written off {plural(made.written_off_points, 'point')}"
            f" ({money(made.written_off_cents)}): corrected awards already spent or handed over"
        )
    for g in made.over_cap_grants:
        lines.append(f"granted over the cap: {_describe_grant(g, made.timezone)}")
    for r in made.redemptions:
        item = made.item_names.get(r.sku, r.sku)
        lines.append(
            f"redemption #{r.id}: {item} ({r.sku}) for {plural(r.cost, 'point')},"
            f" requested {when(r.requested_at, made.timezone)}, {r.status}"
        )
    if html_file:
        lines.append(f"wrote {html_file}")
    return "\n".join(lines)


def _describe_episode(e: EpisodeSummary) -> str:
    return (
        f"-- episode {e.number}: {e.program_id} from {e.start}, {e.status};"
        f" {plural(e.results, 'result')}, earned {money(e.earned_cents)},"
        f" longest streak {e.longest_streak}"
    )


EXPORT_COLUMNS: list[Column[tuple[str, int]]] = [
    Column("table", lambda counted: counted[0]),
    Column("rows", lambda counted: f"{counted[1]:,}", right=True, csv=lambda counted: counted[1]),
]


@cli.command()
@click.option("--out", required=True, help="A new or empty directory.")
@pass_settings
def export(settings: Settings, out: str) -> None:
    """Every table as CSV and JSON (owner-only files), with a manifest of row counts, chain
    heads and a checkpoint."""
    manifest = settings.clinic().export(out)
    emit(
        settings,
        manifest,
        lambda: "\n".join(
            [
                table(EXPORT_COLUMNS, list(manifest.tables.items())),
                f"transfer chain head {manifest.transfer_chain_head}",
                f"checkpoint {manifest.checkpoint.statement}",
                f"written to {out}",
            ]
        ),
    )


@cli.command()
@click.option("--program", "program_id", type=PROGRAM, help="A program in the database.")
@click.option("--preset", "preset_name", type=PRESET, help="A shipped preset (no database needed).")
@click.option("--participants", required=True, type=click.IntRange(1, 1_000_000), help="How many.")
@click.option("--p-met", required=True, type=click.FloatRange(0, 1), help="Chance of met, 0-1.")
@click.option(
    "--persistence",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Chance a result repeats the previous one.",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Same seed, same forecast.")
@pass_settings
def simulate(
    settings: Settings,
    program_id: str | None,
    preset_name: str | None,
    participants: int,
    p_met: float,
    persistence: float,
    seed: int,
) -> None:
    """Monte Carlo budget forecast for a program or preset."""
    if (program_id is None) == (preset_name is None):
        raise click.UsageError("give exactly one of --program ID or --preset NAME")
    if preset_name:
        chosen = cmrewards.load_preset(preset_name)
    else:  # also ``--preset ''`` without --program: "no program None", as it always said
        chosen = settings.clinic().program(program_id)  # type: ignore[arg-type]
    result = cmrewards.simulate(
        chosen, participants=participants, p_met=p_met, seed=seed, persistence=persistence
    )
    most = cmrewards.capped_maximum(chosen, cmrewards.maximum_earnings(chosen))
    note = cap_note(most)
    full = "" if note is None else f" ({note})"
    emit(
        settings,
        result,
        lambda: (
            f"{result.program_id}: {plural(result.participants, 'participant')},"
            f" p(met) {result.p_met},"
            f" persistence {result.persistence}, seed {result.seed}\n"
            f"  per participant: mean {money(result.mean_cents)}, median"
            f" {money(result.median_cents)}, 95th percentile {money(result.p95_cents)};"
            f" expected at full attendance {money(result.maximum_cents)}{full}\n"
            f"  chance of reaching the cap {100 * result.cap_hit_share:.1f} %;"
            f" total budget {money(result.total_cents)}"
        ),
    )
