"""Commands of the front desk: record, import, balances, history, corrections, verify and
checkpoints."""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import click

import cmrewards
from cmrewards.errors import InvalidInput

from ._confirm import confirm, yes_option
from ._ids import PARTICIPANT, TARGET, with_participant_hint
from ._output import Column, csv_option, emit_list, plural, when, when_iso
from ._shell import (
    Recorded,
    Settings,
    _reading,
    actor_option,
    cli,
    emit,
    key_option,
    money,
    pass_settings,
    typed_text,
)

if TYPE_CHECKING:
    from cmrewards import (
        Balance,
        Clinic,
        CorrectionResult,
        HistoryEntry,
        ImportReport,
        LabImportReport,
        Prize,
        RecordResult,
        Refusal,
        TransferResult,
        VerifyReport,
        VisitResult,
    )

# --- outcomes and balances ---------------------------------------------------


OUTCOMES = ["met", "not_met", "missed", "excused", "invalid"]


def _visit_option(outcome: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--met T``, ``--not-met T`` ...: several targets of one visit in one call."""
    return click.option(
        "--" + outcome.replace("_", "-"),
        outcome,
        multiple=True,
        type=TARGET,
        metavar="TARGET",
        help=f"A target whose result at this visit is {outcome} (repeatable).",
    )


@cli.command()
@click.argument("participant", type=PARTICIPANT)
@click.option(
    "--target",
    type=TARGET,
    help="Target id, e.g. stimulant-negative (with --outcome; optional when the program has one).",
)
@click.option(
    "--outcome",
    type=click.Choice(OUTCOMES),
    help="met = negative/attended; not_met = positive; missed = no sample.",
)
@_visit_option("met")
@_visit_option("not_met")
@_visit_option("missed")
@_visit_option("excused")
@_visit_option("invalid")
@click.option("--at", help="Clinical time, ISO 8601 (default: now); no offset = clinic's zone.")
@click.option("--visit", help="Visit id (default: the clinical day in the clinic's zone).")
@click.option("--specimen", help="The lab accession of the sample (with --target).")
@actor_option()
@key_option()
@click.option("--note", callback=typed_text, help="A short note (no names or other personal data).")
@pass_settings
def record(
    settings: Settings,
    participant: str,
    target: str | None,
    outcome: str | None,
    at: str | None,
    visit: str | None,
    specimen: str | None,
    actor: str,
    key: str | None,
    note: str | None,
    met: tuple[str, ...],
    not_met: tuple[str, ...],
    missed: tuple[str, ...],
    excused: tuple[str, ...],
    invalid: tuple[str, ...],
) -> None:
    """Record a verified outcome (--target T --outcome O), or several targets of one visit
    (--met T --not-met T ...), and pay what the schedule says.

    One result per target and visit: the same result again writes nothing; a different
    one is refused with the outcome to correct. A late result takes its place in clinical
    order and settles the awards after it.
    """
    by_outcome = {
        "met": met,
        "not_met": not_met,
        "missed": missed,
        "excused": excused,
        "invalid": invalid,
    }
    results = {t: o for o, targets in by_outcome.items() for t in targets}
    single = target is not None or outcome is not None
    if single and results:
        raise InvalidInput("give either --target with --outcome, or --met/--not-met/... targets")
    if target is not None and outcome is None:
        raise InvalidInput("--target and --outcome go together")
    if not single and not results:
        raise InvalidInput("say what to record: --target T --outcome O, or --met T ...")
    if len(results) < sum(len(targets) for targets in by_outcome.values()):
        raise InvalidInput("a target has one result per visit: it is given twice")
    if specimen is not None and not single:
        raise InvalidInput("--specimen goes with --target: one specimen, one target")
    clinic = settings.clinic()
    if single and target is None:
        target = _the_only_target(clinic, participant)
    when = None
    if at is not None:
        # A time without an offset is the clinic's: one read learns the participant's zone.
        when = cmrewards.parse_when(at, clinic.timezone(participant), "--at")
    if not single:
        visited = clinic.record_visit(
            participant, results, at=when, visit=visit, actor=actor, key=key, note=note
        )
        seen = Recorded(f"the visit of {visited.visit}", f"cmrewards history {participant}")
        emit(settings, visited, lambda: _describe_visit(visited, clinic), recorded=seen)
        return
    assert target is not None
    assert outcome is not None
    result = clinic.record(
        participant,
        target,
        outcome,
        at=when,
        actor=actor,
        key=key,
        note=note,
        visit=visit,
        specimen=specimen,
    )
    seen = Recorded(f"outcome {result.outcome_id}", f"cmrewards history {result.participant}")
    emit(settings, result, lambda: _describe_record(result, clinic), recorded=seen)


def _the_only_target(clinic: Clinic, participant: str) -> str:
    """``--target`` may be left out when the participant's program has one target."""
    program = clinic.program(clinic.participant(participant).program_id)
    if len(program.targets) != 1:
        known = ", ".join(t.id for t in program.targets)
        raise InvalidInput(f"give --target: program {program.id} has targets {known}")
    return program.targets[0].id


def _describe_visit(visited: VisitResult, clinic: Clinic) -> str:
    lines = [f"{visited.participant} visit {visited.visit}:"]
    for r in visited.results:
        lines += ["  " + line for line in _describe_result(r)]
    lines.append(describe_balance(visited.balance, _owed(clinic, visited.participant)))
    return "\n".join(lines)


def describe_balance(balance: Balance, owed: list[Prize]) -> str:
    """``balance 10 points ($2.50), 10 available``, with held points and owed prizes when
    there are any: what a participant asks at the desk. A prize program's participant
    without points hears about the prizes: ``balance 2 prizes owed (...); no points``."""
    if owed and not balance.points:
        return f"balance {_owed_prizes(owed)}; no points"
    text = (
        f"balance {plural(balance.points, 'point')} ({money(balance.value_cents)}),"
        f" {balance.available_points:,} available"
    )
    if balance.held_points:
        text += f", {balance.held_points:,} held"
    if owed:
        text += f"; {_owed_prizes(owed)}"
    return text


def _owed_prizes(owed: list[Prize]) -> str:
    """``3 prizes owed (2 small, 1 large; $22.00)``."""
    counts: dict[str, int] = {}
    for prize in owed:
        counts[prize.category] = counts.get(prize.category, 0) + 1
    kinds = ", ".join(f"{n} {category}" for category, n in counts.items())
    total = money(sum(p.value_cents for p in owed))
    return f"{plural(len(owed), 'prize')} owed ({kinds}; {total})"


def _owed(clinic: Clinic, participant: str) -> list[Prize]:
    return [p for p in clinic.prizes(participant) if p.status == "owed"]


def _describe_record(result: RecordResult, clinic: Clinic) -> str:
    lines = _describe_result(result)
    lines.append(describe_balance(result.balance, _owed(clinic, result.participant)))
    return "\n".join(lines)


def _describe_result(result: RecordResult) -> list[str]:
    """What one result paid (and what its recording settled), without the balance."""
    award = result.award
    head = f"{result.participant} {result.target}: {result.outcome}"
    if result.replayed:
        head += " (already recorded; nothing written)"
    if result.replaced:
        head += f" (replaces missed outcome {', '.join(str(i) for i in result.replaced)})"
    parts = []
    if award.points:
        parts.append(f"+{plural(award.points, 'point')}")
    if award.bonus_points:
        parts.append(f"+{award.bonus_points:,} bonus")
    nothing = award.capped and not (award.points or award.bonus_points or award.slips)
    if award.draws and not nothing:
        parts.append(_describe_draws(result))
    if award.recovered:
        parts.append("streak restored")
    if award.reset:
        parts.append("schedule reset")
    if not award.paid:
        parts.append(f"not paid: {award.note}")
    elif award.note:
        parts.append(award.note)
    if nothing:
        from ._settled import CAP_USED_UP  # not on balance's path (issue 16)

        parts.append(CAP_USED_UP)
    elif award.capped and len(award.slips) == award.draws:  # else the draws say it
        parts.append("cut to the annual cap")
    earned = ", ".join(parts) or "no award"
    lines = [f"{head} — {earned}"]
    if result.settlement is not None:
        from ._settled import describe_settlement  # not on balance's path (issue 16)

        lines.append(describe_settlement(result.settlement))
    return lines


def _describe_draws(result: RecordResult) -> str:
    """What one result's draws won (``_settled.drawn``)."""
    from ._settled import drawn

    return drawn(result.award.draws, result.award.slips, result.prizes)


@cli.command()
@click.argument("participant", type=PARTICIPANT)
@pass_settings
def balance(settings: Settings, participant: str) -> None:
    """A participant's points (total, held, available), the prizes they are owed, and the
    specimens awaiting final results (a preliminary result is shown, not paid)."""
    result = settings.clinic().balance(participant)
    owed = list(result.prizes_owed or ())
    waiting = result.awaiting_final or ()
    emit(
        settings,
        result,
        lambda: (
            f"{result.participant}: {describe_balance(result, owed).removeprefix('balance ')};"
            + (
                " no cap"
                if result.cap_remaining_cents is None
                else f" {money(result.cap_remaining_cents)} left under the cap"
            )
            + (f"; {plural(len(waiting), 'specimen')} awaiting final results" if waiting else "")
        ),
    )


@cli.command()
@click.argument("participant", type=PARTICIPANT)
@pass_settings
def preview(settings: Settings, participant: str) -> None:
    """What each target pays next if met, the streak, and what a miss resets it to."""
    previews = settings.clinic().preview(participant)
    emit(settings, previews, lambda: "\n".join(p.sentence for p in previews))


@cli.command("import")
@click.argument("csv_file", metavar="FILE")
@click.option(
    "--map",
    "map_file",
    metavar="MAP.toml",
    help="A lab's mapping file: the columns of its CSV export, or for HL7 v2 messages and"
    " FHIR resources which identifier is the participant.",
)
@actor_option()
@click.option(
    "--chunk-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, cmrewards.MAX_CHUNK_SIZE),
    help="Rows per transaction.",
)
@click.option(
    "--close",
    "close_after",
    is_flag=True,
    help="Then close the calendar through the file's last day (see 'cmrewards close').",
)
@pass_settings
def import_(
    settings: Settings,
    csv_file: str,
    map_file: str | None,
    actor: str,
    chunk_size: int,
    close_after: bool,
) -> None:
    """Record a file of results, its format told from its content: a CSV of outcomes
    (participant,target,outcome,at,key,note), with --map a lab export of analyte results,
    HL7 v2 ORU^R01 messages or FHIR R4 JSON / NDJSON (Observations, DiagnosticReports, a
    Bundle); safe to rerun. With --close, once every row is in, record `missed` for the
    owed samples without a result through the file's last day.

    A lab file (--map) goes on past a unit it refuses (a specimen or message: nothing of
    it written), says each on stderr and exits non-zero; fix it and import again, and the
    rest is skipped as already applied. A CSV of outcomes stops at its first bad row."""
    from .calendar import describe_close, stopped  # --close's words: not every command's

    clinic = settings.clinic()
    lab_map = cmrewards.load_lab_map(map_file) if map_file is not None else None
    with _reading(csv_file), open(csv_file, encoding="utf-8-sig", newline="") as file:
        found = cmrewards.lab_file_format(file.read(4096))
        file.seek(0)
        if found.messages and lab_map is None:
            raise click.UsageError(
                f"{csv_file[:80]} holds {found.name} messages: give --map MAP.toml, whose"
                " [identity] says which identifier is the participant"
            )
        show_bar = not settings.json and sys.stderr.isatty()
        total = (_count_messages if found.messages else _count_rows)(csv_file) if show_bar else 0
        with click.progressbar(
            length=total, label="importing", file=sys.stderr, hidden=not show_bar
        ) as bar:
            if lab_map is not None and found.messages:
                report: ImportReport | LabImportReport = clinic.import_lab_messages(
                    cmrewards.read_lab_messages(file, lab_map, csv_file),
                    actor=actor,
                    targets=lab_map.targets,
                    chunk_size=chunk_size,
                    progress=bar.update,
                )
            elif lab_map is None:
                report = clinic.import_outcomes(
                    cmrewards.read_rows(file, csv_file),
                    actor=actor,
                    chunk_size=chunk_size,
                    progress=bar.update,
                )
            else:
                report = clinic.import_lab_results(
                    cmrewards.read_lab_file(file, lab_map, csv_file),
                    actor=actor,
                    targets=lab_map.targets,
                    chunk_size=chunk_size,
                    progress=bar.update,
                )

    # Only a whole file closes: the rows after a stop may hold the weeks' results.
    closed = None
    if close_after and report.complete and report.last_day is not None:
        closed = clinic.close_calendar(report.last_day, actor=actor)

    def text() -> str:
        if isinstance(report, cmrewards.LabImportReport):
            done = lab_import_summary(report, messages=found.messages)
        else:
            done = (
                f"imported {plural(report.applied, 'row')},"
                f" skipped {report.replayed:,} already applied"
            )
            if not report.complete:
                return f"{done}; stopped at {report.error}"
        return done if closed is None else f"{done}\n{describe_close(closed)}"

    # Running it again is safe: it skips every row applied and says how many.
    seen = Recorded(f"the import of {plural(report.rows, 'row')}", f"cmrewards import {csv_file}")
    data = report if closed is None else {"import": report, "close": closed}
    emit(settings, data, text, recorded=seen if report.rows else None)
    if isinstance(report, cmrewards.LabImportReport) and report.refused:
        # Each refused unit on its own line, where cron mails it; the rest was applied.
        ids = functools.cache(lambda: [p.id for p in clinic.participants()])
        for refusal in report.refused:
            click.echo(f"cmrewards: refused {with_participant_hint(refusal.error, ids)}", err=True)
        unit = "message" if found.messages else "specimen"
        click.echo(
            f"cmrewards: {plural(len(report.refused), unit)} refused, nothing of"
            f" {'it' if len(report.refused) == 1 else 'them'} written;"
            f" {_retry(report.refused, unit)}"
            f"{' (the calendar was not closed)' if close_after else ''}",
            err=True,
        )
        sys.exit(report.exit_code)
    if not report.complete:
        click.echo(f"cmrewards: import stopped at {report.error}", err=True)
        sys.exit(report.exit_code)
    if closed is not None:
        stopped(closed)


def lab_import_summary(report: LabImportReport, *, messages: bool) -> str:
    """One line on a lab file's import: its units (messages; a lab export's specimens)
    applied, already applied and refused, the specimens not in CM it skipped, then what
    the units wrote."""
    units = (
        f"{'messages' if messages else 'specimens'}: {report.applied:,} applied,"
        f" {report.replayed_units:,} already applied, {len(report.refused):,} refused"
    )
    if messages:
        return (
            f"{units}; {plural(report.specimens, 'specimen')},"
            f" {report.not_in_cm:,} not in CM (skipped);"
            f" {plural(report.stored, 'analyte result')} stored"
            f" ({report.preliminary:,} preliminary), {report.replayed:,} already stored;"
            f" {plural(report.outcomes, 'outcome')} recorded, {report.corrected:,} corrected,"
            f" {report.voided:,} voided, {plural(report.pending, 'specimen')} pending"
        )
    return (
        f"{units}, {report.not_in_cm:,} not in CM (skipped);"
        f" {plural(report.stored, 'analyte result')} stored, {report.replayed:,} already stored;"
        f" {plural(report.outcomes, 'outcome')} recorded,"
        f" {plural(report.pending, 'specimen')} pending"
    )


def _count_rows(path: str) -> int:
    with open(path, "rb") as file:
        return max(sum(1 for _ in file) - 1, 0)


def _count_messages(path: str) -> int:
    """HL7 messages: the segments that start one (a FHIR file's bar stays empty)."""
    with open(path, "rb") as file:
        return len(re.findall(rb"(?:^|[\r\n\x0b])MSH", file.read()))


def history_columns(timezone: str, *, episodes: bool = False) -> list[Column[HistoryEntry]]:
    """History as staff read it: clinical time in the program's zone, the running balance
    (blank where a late entry is among the lines so far);
    with ``episodes``, the episode of each result."""
    episode: list[Column[HistoryEntry]] = (
        [Column("episode", lambda e: e.episode or "", right=True)] if episodes else []
    )
    return [
        Column(
            "when",
            lambda e: when(e.occurred_at, timezone),
            csv=lambda e: when_iso(e.occurred_at, timezone),
        ),
        Column("what", lambda e: e.kind),
        *episode,
        Column(
            "points",
            lambda e: f"{e.points:+,}" if e.points else "",
            right=True,
            csv=lambda e: e.points if e.points else "",
        ),
        Column(
            "balance",
            lambda e: "" if (total := _balance(e)) is None else f"{total:,}",
            right=True,
            csv=lambda e: "" if (total := _balance(e)) is None else total,
        ),
        Column("detail", lambda e: e.detail),
        Column("ref", lambda e: e.ref),
        Column("by", lambda e: e.actor),
    ]


def _balance(entry: HistoryEntry) -> int | None:
    """Available plus held after the lines so far; None where a late entry is among them
    (``HistoryEntry.available_points``)."""
    if entry.available_points is None or entry.held_points is None:
        return None
    return entry.available_points + entry.held_points


@cli.command()
@click.argument("participant", type=PARTICIPANT)
@csv_option()
@pass_settings
def history(settings: Settings, participant: str) -> None:
    """Every outcome and transfer by clinical time, with the balance after the lines so far
    (blank where a late entry is among them; times in the program's zone)."""
    clinic = settings.clinic()
    entries = clinic.history(participant)
    # A person enrolled more than once: each result says which episode it is in.
    several = any((e.episode or 1) > 1 for e in entries)
    columns = history_columns(clinic.timezone(participant), episodes=several)
    emit_list(settings, entries, columns, entries, empty=f"{participant} has no history yet")


@cli.command()
@click.argument("participant", type=PARTICIPANT)
@click.option("--points", required=True, type=int, help="Points to add (+N) or remove (-N).")
@click.option("--reason", required=True, callback=typed_text, help="Why: kept in the audit trail.")
@click.option(
    "--over-cap",
    is_flag=True,
    help="Grant it even past the program's cap (admin); the reason should say why.",
)
@actor_option(sensitive=True)
@key_option()
@pass_settings
def adjust(
    settings: Settings,
    participant: str,
    points: int,
    reason: str,
    over_cap: bool,
    actor: str,
    key: str | None,
) -> None:
    """Add or remove points by hand (admin), with a reason. In a capped program it counts
    toward the cap; past it only with --over-cap."""
    result = settings.clinic().adjust(
        participant, points, reason=reason, actor=actor, key=key, over_cap=over_cap
    )
    emit(settings, result, lambda: _describe_transfer(result), recorded=_seen(result))


@cli.command()
@click.argument("transfer_id", type=int)
@click.option("--reason", required=True, callback=typed_text, help="Why: kept in the audit trail.")
@click.option("--returned", is_flag=True, help="Reversing a hand-over: the item came back.")
@actor_option(sensitive=True)
@key_option()
@yes_option()
@pass_settings
def reverse(
    settings: Settings,
    transfer_id: int,
    reason: str,
    returned: bool,
    actor: str,
    key: str | None,
    yes: bool,
) -> None:
    """Undo one transfer with a mirror transfer (admin); the original stays. Asks first
    (or --yes): a transfer is reversed once, for good."""
    confirm(yes, f"reverse transfer {transfer_id} with a mirror transfer, for good")
    result = settings.clinic().reverse(
        transfer_id, reason=reason, actor=actor, key=key, returned=returned
    )
    emit(settings, result, lambda: _describe_transfer(result), recorded=_seen(result))


def _seen(result: TransferResult) -> Recorded:
    return Recorded(
        f"transfer {result.transfer.id}", f"cmrewards history {result.balance.participant}"
    )


@cli.command()
@click.argument("outcome_id", metavar="OUTCOME", type=int)
@click.option("--outcome", required=True, type=click.Choice(OUTCOMES), help="The right result.")
@click.option("--reason", required=True, help="Why: kept in the audit trail.")
@actor_option(sensitive=True)
@key_option()
@yes_option()
@pass_settings
def correct(
    settings: Settings,
    outcome_id: int,
    outcome: str,
    reason: str,
    actor: str,
    key: str | None,
    yes: bool,
) -> None:
    """Correct a recorded outcome (clinician or admin): the record stays, a correction points
    at it, and every award it changes is settled. Asks first (or --yes)."""
    confirm(yes, f"correct outcome {outcome_id} to {outcome} and settle every award it changes")
    result = settings.clinic().correct(outcome_id, outcome, reason=reason, actor=actor, key=key)
    emit(settings, result, lambda: _describe_correction(result, settings.clinic()))


@cli.command()
@click.argument("outcome_id", metavar="OUTCOME", type=int)
@click.option("--reason", required=True, help="Why: kept in the audit trail.")
@actor_option(sensitive=True)
@key_option()
@yes_option()
@pass_settings
def void(
    settings: Settings, outcome_id: int, reason: str, actor: str, key: str | None, yes: bool
) -> None:
    """Void an outcome entered in error (admin): it counts for nothing; awards are settled.
    Asks first (or --yes)."""
    confirm(yes, f"void outcome {outcome_id}: it will count for nothing, awards settled")
    result = settings.clinic().void(outcome_id, reason=reason, actor=actor, key=key)
    emit(settings, result, lambda: _describe_correction(result, settings.clinic()))


def _retry(refused: Sequence[Refusal], unit: str) -> str:
    """What to do about refused units: a permission refusal is not mended by editing the
    file but by importing it as someone who may apply it (decisions.md)."""
    denied = sum(1 for r in refused if r.error_type == "PermissionDenied")
    if denied == len(refused):
        return f"import {'it' if denied == 1 else 'them'} again as an admin or a lab-feed account"
    if not denied:
        return "fix and import again"
    return (
        "fix and import again, as an admin or a lab-feed account for the"
        f" {plural(denied, unit)} not permitted"
    )


def _describe_correction(result: CorrectionResult, clinic: Clinic) -> str:
    from ._settled import describe_settlement

    # The settlement carries the withdrawn prizes' ids: name them, as the prizes won are.
    participant = result.balance.participant
    withdrawn = clinic.prizes(participant) if result.settlement.prizes_withdrawn else []

    c = result.correction
    what = "voided" if c.outcome is None else f"corrected to {c.outcome}"
    note = " (already done with this key; nothing written)" if result.replayed else ""
    return (
        f"outcome {c.outcome_id} {what} (correction {c.id}){note}\n"
        f"{describe_settlement(result.settlement, withdrawn)}\n"
        f"{participant}:"
        f" {describe_balance(result.balance, list(result.balance.prizes_owed or ()))}"
    )


def _describe_transfer(result: TransferResult) -> str:
    t = result.transfer
    note = " (already done with this key; nothing written)" if result.replayed else ""
    if t.over_cap_cents is not None:
        note += f"\ngranted over the cap by {money(t.over_cap_cents)} ({t.actor}: {t.reason})"
    left = result.balance.cap_remaining_cents
    cap = "" if left is None else f"; {money(left)} left under the cap"
    return (
        f"transfer {t.id}: {t.kind} of {plural(t.amount, 'point')}"
        f" {t.from_account} -> {t.to_account}{note}\n"
        f"{result.balance.participant}: {describe_balance(result.balance, [])}{cap}"
    )


@cli.command()
@click.option(
    "--against",
    metavar="FILE_OR_TEXT",
    help="A checkpoint (its statement, or a file holding it, its JSON or an export manifest):"
    " also prove every chain still extends it.",
)
@pass_settings
def verify(settings: Settings, against: str | None) -> None:
    """Recompute hash chains, balances and schedule states; exit 3 on any mismatch."""
    checkpoint = None if against is None else checkpoint_text(against)
    report = settings.clinic().verify(against=checkpoint)
    emit(settings, report, lambda: verify_text(report))
    if not report.ok:
        click.echo(f"cmrewards: verify found {plural(len(report.problems), 'problem')}", err=True)
        sys.exit(3)


def verify_text(report: VerifyReport) -> str:
    """What verify found, for a person: every problem, then the verdict."""
    lines = [problem.message for problem in report.problems]
    lines.append(
        f"{'OK' if report.ok else 'PROBLEMS FOUND'}: {plural(report.outcomes, 'outcome')},"
        f" {plural(report.transfers, 'transfer')},"
        f" {plural(report.participants, 'participant')} checked;"
        f" chain head {report.transfer_chain_head[:16]}"
    )
    if report.against is not None and report.ok:
        grown = ", ".join(
            f"{then.chain} {then.length} -> {now.length}"
            for then in report.against.chains
            for now in report.chains
            if now.chain == then.chain
        )
        lines.append(f"extends the checkpoint of {when(report.against.at, 'UTC')}: {grown}")
    return "\n".join(lines)


def checkpoint_text(value: str) -> str:
    """The checkpoint itself, or the text of the file that holds it."""
    if value.lstrip().startswith(("cmrewards-checkpoint/", "{")):
        return value
    with _reading(value), open(value, encoding="utf-8") as file:
        return file.read(1_000_000)


@cli.command()
@pass_settings
def checkpoint(settings: Settings) -> None:
    """Every hash chain's length and head now: keep the line where the clinic cannot edit it."""
    made = settings.clinic().checkpoint()
    emit(settings, made, made.statement)


@cli.command()
@click.option(
    "--db",
    "demo_db",
    help="Fresh file for the demo (default: the top-level --db, else a temporary file).",
)
@pass_settings
def demo(settings: Settings, demo_db: str | None) -> None:
    """Build a sample clinic on a fresh file and walk through three weeks of it."""
    from .demo import run_demo

    source = click.get_current_context().find_root().get_parameter_source("db")
    if demo_db is None and source is not click.core.ParameterSource.DEFAULT:
        demo_db = settings.db
    if demo_db is not None and demo_db.startswith(cmrewards.POSTGRES_SCHEMES):
        raise InvalidInput(
            "the demo builds a fresh SQLite file: give --db a file path"
            " (then 'cmrewards migrate' can copy it to PostgreSQL)"
        )
    if demo_db is None:
        import tempfile

        demo_db = os.path.join(tempfile.mkdtemp(prefix="cmrewards-demo-"), "demo.db")
    from pathlib import Path

    run_demo(Path(demo_db), dt.datetime.now(dt.UTC), as_json=settings.json)
