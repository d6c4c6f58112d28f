"""Commands for managers and auditors: reports, statements, export, simulation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

import cmrewards
from cmrewards.errors import InvalidInput

from ._shell import Settings, cap_note, cli, emit, money, pass_settings

if TYPE_CHECKING:
    from cmrewards import OverCapGrant, ProgramReport, Statement

# --- reports ---------------------------------------------------------------------


@cli.command()
@click.option("--program", "program_id", help="One program (default: every program).")
@click.option("--since", help="First clinical date, YYYY-MM-DD.")
@click.option("--until", help="Last clinical date, YYYY-MM-DD.")
@pass_settings
def report(
    settings: Settings, program_id: str | None, since: str | None, until: str | None
) -> None:
    """Abstinence, cost, liability, budget, caps and stock for each program."""
    first = cmrewards.parse_date(since, "--since") if since is not None else None
    last = cmrewards.parse_date(until, "--until") if until is not None else None
    reports = settings.clinic().report(program_id, since=first, until=last)
    emit(settings, reports, lambda: "\n\n".join(_describe_report(r) for r in reports))


def _describe_report(r: ProgramReport) -> str:
    period = f"{r.since or 'start'} to {r.until or 'today'}"
    lines = [
        f"{r.program_id}: {r.name} ({period})",
        f"  participants  {r.enrolled} enrolled: {r.active} active, {r.completed} completed,"
        f" {r.withdrawn} withdrawn",
    ]
    for t in r.targets:
        lines.append(
            f"  {t.target:<22} {t.opportunities} recorded, {t.met} met"
            f" ({t.met_per_mille / 10:.1f} %)"
        )
    lines += [
        f"  abstinence    longest run mean {r.lda_mean_tenths / 10:.1f},"
        f" median {r.lda_median_tenths / 10:.1f} samples",
        f"  points        {r.points_awarded} awarded, {r.points_held} held,"
        f" {r.points_redeemed} redeemed, {r.points_outstanding} outstanding",
        f"  cost          {money(r.awarded_cents)} awarded, {money(r.outstanding_cents)}"
        f" outstanding, {money(r.cost_per_participant_cents)} per participant",
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
            f"  written off   {r.written_off_points} points, {money(r.written_off_cents)}"
            " (corrected awards already spent or handed over)"
        )
    lines.append(f"  caps          {r.cap_hits} participant-periods reached the cap")
    if r.over_cap_grants:
        lines.append(
            f"  over the cap  {r.over_cap_points} points granted by admins,"
            f" {money(r.over_cap_cents)} past the cap:"
        )
        lines += [f"    {_describe_grant(g)}" for g in r.over_cap_grants]
    if r.low_stock:
        lines.append(f"  low stock     {', '.join(r.low_stock)}")
    return "\n".join(lines)


def _describe_grant(g: OverCapGrant) -> str:
    """``P-1001 +40 points ($40.00, $30.00 past the cap), transfer 7, by admin-1 at
    2026-05-01 14:03 UTC: make-up for the lab outage``."""
    undone = " (reversed)" if g.reversed else ""
    return (
        f"{g.participant} +{g.points} points ({money(g.cents)}, {money(g.over_cents)} past the"
        f" cap), transfer {g.transfer_id}, by {g.actor} at {g.at.astimezone(dt.UTC):%Y-%m-%d %H:%M}"
        f" UTC: {g.reason}{undone}"
    )


@cli.command()
@click.argument("participant")
@click.option("--html", "html_file", help="Also write a printable page with a chart here.")
@pass_settings
def statement(settings: Settings, participant: str, html_file: str | None) -> None:
    """A participant's statement: each result, streaks, resets, redemptions."""
    made = settings.clinic().statement(participant)
    if html_file is not None:
        _refuse_to_overwrite_a_database(html_file, settings.db)
        try:
            page = cmrewards.statement_html(made)
            Path(html_file).write_text(page, encoding="utf-8")
        except OSError as error:
            raise InvalidInput(f"cannot write {html_file!r}: {error.strerror}") from None
    emit(settings, made, lambda: _describe_statement(made, html_file))


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


def _describe_statement(made: Statement, html_file: str | None) -> str:
    lines = [
        f"{made.participant} in {made.program_id} since {made.start} ({made.status})",
        f"{'date':<10}  {'target':<20} {'result':<8} {'paid':>10} {'streak':>6}  total",
    ]
    for line in made.lines:
        paid = (
            f"{line.points} pts" if line.points else (f"{line.draws} draws" if line.draws else "")
        )
        mark = " reset" if line.reset else (" recovered" if line.recovered else "")
        mark += " (corrected)" if line.corrected else ""
        lines.append(
            f"{cmrewards.local_date(line.occurred_at, made.timezone)}  {line.target:<20}"
            f" {line.outcome:<8} {paid:>10}"
            f" {line.streak:>6}  {money(line.cumulative_cents)}{mark}"
        )
    lines.append(
        f"longest streak {made.longest_streak}, {made.resets} resets, {made.recoveries}"
        f" recoveries; earned {money(made.earned_cents)}; balance {made.balance.points} points"
    )
    for c in made.corrections:
        what = "voided" if c.outcome is None else f"corrected to {c.outcome}"
        lines.append(f"correction #{c.id}: outcome {c.outcome_id} {what} by {c.actor}: {c.reason}")
    if made.write_offs:
        lines.append(
            f"written off {made.written_off_points} points ({money(made.written_off_cents)}):"
            " corrected awards already spent or handed over"
        )
    for g in made.over_cap_grants:
        lines.append(f"granted over the cap: {_describe_grant(g)}")
    for r in made.redemptions:
        lines.append(f"redemption #{r.id}: {r.sku} for {r.cost} points, {r.status}")
    if html_file:
        lines.append(f"wrote {html_file}")
    return "\n".join(lines)


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
            [f"{name:<20} {count:>8} rows" for name, count in manifest.tables.items()]
            + [
                f"transfer chain head {manifest.transfer_chain_head}",
                f"checkpoint {manifest.checkpoint.statement}",
                f"written to {out}",
            ]
        ),
    )


@cli.command()
@click.option("--program", "program_id", help="A program in the database.")
@click.option("--preset", "preset_name", help="A shipped preset (no database needed).")
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
            f"{result.program_id}: {result.participants:,} participants, p(met) {result.p_met},"
            f" persistence {result.persistence}, seed {result.seed}\n"
            f"  per participant: mean {money(result.mean_cents)}, median"
            f" {money(result.median_cents)}, 95th percentile {money(result.p95_cents)};"
            f" expected at full attendance {money(result.maximum_cents)}{full}\n"
            f"  chance of reaching the cap {100 * result.cap_hit_share:.1f} %;"
            f" total budget {money(result.total_cents)}"
        ),
    )
