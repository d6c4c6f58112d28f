"""Recording outcomes, one at a time or in bulk from a lab file: outcomes in, awards out."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from ..domain import ledger
from ..domain.chain import link, position_after
from ..domain.clock import local_date, parse_when, program_week, require_aware, to_utc_text
from ..domain.closing import check_not_reserved, to_replace
from ..domain.earning import earn
from ..domain.json_form import from_json
from ..domain.programs import Program, Target
from ..domain.recordable import check_recordable
from ..domain.records import Correction, OutcomeRecord, Participant, Prize
from ..domain.refs import Ref, RefKind
from ..domain.results import PrizeWon, RecordResult, Settlement, VisitResult
from ..domain.schedules import AwardKind, Outcome, ScheduleState
from ..domain.settlement import (
    Effective,
    Paid,
    Plan,
    Replayed,
    by_id,
    effective_history,
    paid_by_outcome,
    plan,
    replay_episodes,
)
from ..domain.staff import Action
from ..domain.validation import (
    check_chunk_size,
    check_id,
    check_text,
    choice,
    is_pseudonymous_id,
)
from ..domain.visits import check_specimen, check_visit_id, visit_key, visit_of
from ..errors import AlreadyExists, CMRewardsError, InvalidInput
from ..store.buffered import BufferedTx
from ..store.lookup import find_episodes, find_participant, find_program
from ..store.port import LedgerPosting, ParticipantLookup, RecordTx
from ..views.attendance import attendance_before, read_from
from ..views.balance import balance_of
from .corrections import add_correction
from .lab_file import BadRow, ImportReport, ImportRow
from .settling import award_of, settle, settle_in_order
from .unit_of_work import UnitOfWork


def record(
    work: UnitOfWork,
    participant: str,
    target: str,
    outcome: Outcome | str,
    *,
    actor: str,
    at: dt.datetime | None = None,
    key: str | None = None,
    note: str | None = None,
    visit: str | None = None,
    specimen: str | None = None,
) -> RecordResult:
    """Record one verified outcome and settle what it changes (see ``Clinic.record``)."""
    result: Outcome = choice(Outcome, outcome, "outcome")
    if at is not None:
        require_aware(at, "at")
    note = check_text(note, "note")
    details = Details(check_visit_id(visit), check_specimen(specimen), note)
    request = record_request(participant, target, result, at, note, details)
    with work.write(
        actor, Action.RECORD, lambda tx: read_participants(tx, [participant])
    ) as direct:
        # Written as the import writes a chunk: every write held back to one batch at the
        # end, so the reads before it can all be read ahead (on PostgreSQL, a record is a
        # few round trips instead of twenty: issue 16).
        tx = BufferedTx(direct)
        person = find_participant(tx, participant)
        tx.read_ahead(lambda ahead: reads_of_a_record(ahead, person, target, key))

        def perform() -> RecordResult:
            written = write_outcome(work, tx, person, target, result, at, actor, key, details)
            return result_of(tx, person, written)

        try:
            recorded = work.idempotent(
                tx,
                person.program_id,
                key,
                request,
                lambda data: _replayed(work, tx, person, data),
                perform,
            )
        except _SameResult as same:
            recorded = same.result
        tx.flush()
        return recorded


def reads_of_a_record(tx: RecordTx, person: Participant, target: str, key: str | None) -> None:
    """What recording an in-order result of ``target`` reads once the participant is known
    (``write_outcome``, ``settle_in_order``, ``balance_of``): read ahead by ``record``."""
    program_id = person.program_id
    tx.program(program_id)
    tx.corrections(person.id)
    tx.write_offs(person.id)
    if sendable(target):
        tx.last_outcome_for(person.id, target)
        tx.schedule_state(person.id, target)
    tx.last_outcome()
    tx.last_transfer()
    tx.balance(program_id, ledger.available(person.id))
    tx.balance(program_id, ledger.held(person.id))
    if key is not None and sendable(key):
        tx.idempotency(program_id, key)


def read_participants(tx: ParticipantLookup, ids: Iterable[str]) -> None:
    """Read each participant, of the ids that can be one (``find_participant`` looks up
    no other: a NUL must be "no participant", not a value PostgreSQL refuses)."""
    for participant in ids:
        if is_pseudonymous_id(participant):
            tx.participant(participant)


def sendable(text: str) -> bool:
    """Whether ``text`` can be read ahead: what a server refuses (a NUL, text that is not
    UTF-8) is left to the write's own checks, which refuse it with a clear error."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _replayed(work: UnitOfWork, tx: RecordTx, person: Participant, data: Any) -> RecordResult:
    """The result a key's stored result replays as: what the first call returned, or, for
    a key a file's result was applied under (``imported``: only the outcome), where that
    outcome stands now."""
    if "award" in data:
        return attrs.evolve(from_json(RecordResult, data), replayed=True)
    program = find_program(tx, person.program_id)
    history = effective_history(tx.outcomes(person.id), tx.corrections(person.id))
    return _result_of(tx, work, person, program, history, data["outcome_id"])


def record_visit(
    work: UnitOfWork,
    participant: str,
    results: Mapping[str, Outcome | str],
    *,
    actor: str,
    at: dt.datetime | None = None,
    visit: str | None = None,
    key: str | None = None,
    note: str | None = None,
) -> VisitResult:
    """Record several targets of one visit in one unit of work (see ``Clinic.record_visit``)."""
    if not results:
        raise InvalidInput("a visit needs at least one target's result")
    outcomes = {t: choice(Outcome, o, "outcome") for t, o in results.items()}
    if at is not None:
        require_aware(at, "at")
    note = check_text(note, "note")
    details = Details(check_visit_id(visit), None, note)
    request = {
        "op": "record-visit",
        "participant": participant,
        "results": {t: str(o) for t, o in outcomes.items()},
        "at": None if at is None else to_utc_text(at),
        "note": note,
        "visit": details.visit,
    }
    with work.write(actor, Action.RECORD) as tx:
        person = find_participant(tx, participant)

        def perform() -> VisitResult:
            # One clinical time for the whole visit, even without ``at``.
            when = work.clock() if at is None else at
            return write_visit(work, tx, person, outcomes, when, actor, details)

        return work.idempotent(
            tx,
            person.program_id,
            key,
            request,
            lambda data: from_json(VisitResult, data),
            perform,
        )


def write_visit(
    work: UnitOfWork,
    tx: RecordTx,
    person: Participant,
    outcomes: Mapping[str, Outcome],
    when: dt.datetime,
    actor: str,
    details: Details,
) -> VisitResult:
    """Write each target's result of one visit at clinical time ``when`` (``write_outcome``,
    in the order given); a result the visit has already is returned marked ``replayed``."""
    recorded = []
    for target_id, result in outcomes.items():
        try:
            written = write_outcome(work, tx, person, target_id, result, when, actor, None, details)
            recorded.append(result_of(tx, person, written))
        except _SameResult as same:
            recorded.append(same.result)
    program = find_program(tx, person.program_id)
    return VisitResult(
        participant=person.id,
        visit=visit_key(when, details.visit, program.timezone),
        results=tuple(recorded),
        balance=balance_of(tx, person, program, work.clock()),
    )


def import_outcomes(
    work: UnitOfWork,
    rows: Iterable[ImportRow | BadRow],
    *,
    actor: str,
    chunk_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Record many outcomes in order, one transaction per chunk (see ``Clinic.import_outcomes``)."""
    check_chunk_size(chunk_size)
    pending = iter(rows)
    applied = replayed = 0
    last_day: dt.date | None = None
    while chunk := list(itertools.islice(pending, chunk_size)):
        failure: tuple[int, CMRewardsError] | None = None
        with work.write(actor, Action.RECORD) as direct:
            tx = BufferedTx(direct)
            _read_chunk_ahead(tx, chunk)
            for row in chunk:
                try:
                    new, day = _import_row(work, tx, row, actor)
                    if new:
                        applied += 1
                    else:
                        replayed += 1
                    last_day = day if last_day is None else max(last_day, day)
                except CMRewardsError as error:
                    # Rows are checked before anything is written for them, so the
                    # rows before this one are whole and are committed.
                    failure = (row.line, error)
                    break
            tx.flush()
        if progress is not None:
            progress(len(chunk))
        if failure is not None:
            line, refusal = failure
            return ImportReport(
                rows=applied + replayed,
                applied=applied,
                replayed=replayed,
                failed_line=line,
                error=f"line {line}: {refusal}",
                error_type=type(refusal).__name__,
                exit_code=refusal.exit_code,
                last_day=last_day,
            )
    return ImportReport(
        rows=applied + replayed, applied=applied, replayed=replayed, last_day=last_day
    )


@attrs.frozen
class Details:
    """What a caller may add to a result besides its time: the visit, the specimen, a note."""

    visit: str | None = None
    specimen: str | None = None
    note: str | None = None


@attrs.frozen
class Written:
    """What ``write_outcome`` wrote and settled: what ``result_of`` makes the caller's
    ``RecordResult`` of. A file's row keeps only its outcome (``imported``), so the import
    builds no award, prizes or balance for it (issue 16)."""

    record: OutcomeRecord
    program: Program
    """The participant's current program (the balance's)."""
    plan: Plan
    """The outcome's own settlement: its award."""
    prizes: tuple[Prize, ...]
    """The prizes it won."""
    visit: str
    settlement: Settlement | None = None
    """What it paid or took back for other outcomes, if anything."""
    replaced: tuple[int, ...] = ()
    """The close placeholders it replaced."""


def result_of(tx: LedgerPosting, person: Participant, written: Written) -> RecordResult:
    """The ``RecordResult`` of what ``write_outcome`` wrote, made at once: its balance is
    the one the write left (read at its recording time)."""
    record = written.record
    return RecordResult(
        outcome_id=record.id,
        participant=person.id,
        target=record.target,
        outcome=record.outcome,
        occurred_at=record.occurred_at,
        award=award_of(written.plan),
        prizes=tuple(PrizeWon(p.id, p.category, p.value_cents) for p in written.prizes),
        balance=balance_of(tx, person, written.program, record.recorded_at),
        settlement=written.settlement,
        visit=written.visit,
        replaced=written.replaced,
    )


class _SameResult(Exception):
    """The visit already has this result: the call is a replay and writes nothing."""

    def __init__(self, result: RecordResult) -> None:
        self.result = result


def write_outcome(
    work: UnitOfWork,
    tx: RecordTx,
    person: Participant,
    target_id: str,
    outcome: Outcome,
    at: dt.datetime | None,
    actor: str,
    key: str | None,
    details: Details,
) -> Written:
    """Check and store one outcome, then settle the participant: its own award, and what
    it changes for the outcomes after it (a late result) or at its visit (``requires``).
    A result for a week the calendar was closed for replaces a ``missed`` placeholder
    (``_replace_placeholders``). The same result for the same visit raises ``_SameResult``;
    another is ``AlreadyExists``; a key or visit id starting ``close:`` is ``InvalidInput``."""
    check_not_reserved(key, details.visit)
    now = work.clock()
    # Stored and returned in UTC whatever zone the caller used, on every store.
    at = now if at is None else at.astimezone(dt.UTC)
    program = find_program(tx, person.program_id)
    target = program.target(target_id)
    check_recordable(person, program.timezone, at, now)
    visit = visit_key(at, details.visit, program.timezone)
    quick = in_order(tx, person, program, target_id, outcome, at, visit, details.visit)
    if isinstance(quick, OutcomeRecord):
        # The last result of this target is at this visit already.
        if quick.outcome is outcome:
            history = effective_history(tx.outcomes(person.id), [])
            raise _SameResult(_result_of(tx, work, person, program, history, quick.id))
        raise AlreadyExists(already_recorded(quick, quick.outcome, visit, details.visit))
    if isinstance(quick, InOrder):
        return _record_in_order(work, tx, person, program, target_id, outcome, at, now, visit,
                                actor, key, details, quick)  # fmt: skip
    recorded = tx.outcomes(person.id)
    corrections = tx.corrections(person.id)
    history = effective_history(recorded, corrections)
    for entry in history:
        same_visit = visit_of(entry.record, program.timezone) == visit
        if entry.outcome is None or entry.record.target != target_id or not same_visit:
            continue
        if entry.outcome is outcome:
            raise _SameResult(_result_of(tx, work, person, program, history, entry.record.id))
        raise AlreadyExists(already_recorded(entry.record, entry.outcome, visit, details.visit))
    episodes = find_episodes(tx, person, program)
    before = replay_episodes(episodes, history)
    replaced = _replace_placeholders(work, tx, person, program, history, target, at, actor)

    draws = target.schedule.award is AwardKind.DRAWS and outcome is Outcome.MET
    seed = work.seeds() if draws else None
    record = sealed_outcome(tx, program, person, target_id, outcome, at, now, actor, key,
                            seed, details)  # fmt: skip
    outcome_id = record.id
    tx.append_outcomes([record])
    settled = settle(
        tx,
        now,
        episodes,
        before,
        effective_history([*recorded, record], [*corrections, *replaced]),
        cause=Ref.to(RefKind.OUTCOME, outcome_id),
        actor=actor,
        own=outcome_id,
    )
    return Written(
        record,
        program,
        settled.plans[outcome_id],
        settled.prizes[outcome_id],
        visit,
        settled.settlement if settled.settlement.outcomes else None,
        tuple(c.outcome_id for c in replaced),
    )


REPLACED = "replaced by a late result"
"""The reason of the void of a close placeholder that a result arriving for its week replaces."""


def _replace_placeholders(
    work: UnitOfWork,
    tx: RecordTx,
    person: Participant,
    program: Program,
    history: list[Effective],
    target: Target,
    at: dt.datetime,
    actor: str,
) -> list[Correction]:
    """Void the close placeholders a result at ``at`` replaces (``closing.to_replace``:
    usually the newest of its week, when placeholders fill the week) through the correction
    path, in the result's unit of work and settled with it, so that the money is what it
    would have been had the result come before the calendar was closed (docs/design.md
    section 3.9). The in-order fast path never meets a placeholder of its week: one is
    later in clinical time and has a visit id."""
    return [
        add_correction(tx, e.record, None, seed=None, reason=REPLACED, actor=actor, at=work.clock())
        for e in to_replace(program, person.start, history, target, at)
    ]


@attrs.frozen
class InOrder:
    """A result is an ordinary in-order record: what ``in_order`` read on the way."""

    last: Mapping[str, OutcomeRecord]
    """Each target's latest outcome in clinical order, for the targets that have one."""


def in_order(
    tx: RecordTx,
    person: Participant,
    program: Program,
    target_id: str,
    outcome: Outcome,
    at: dt.datetime,
    visit: str,
    named: str | None,
) -> InOrder | OutcomeRecord | bool:
    """Whether a result is an ordinary in-order record, settled by its own award alone
    (``settling.settle_in_order``): ``InOrder`` when so; the target's last outcome when
    that is at this visit already (a replay or a conflict); False when the whole history
    must be replayed — a correction in it, an outcome later in clinical time, a visit id the
    caller named (ids may repeat across days), or a result at this visit waiting for this
    one."""
    if named is not None or tx.corrections(person.id):
        return False
    last: dict[str, OutcomeRecord] = {}
    for target in program.targets:
        found = tx.last_outcome_for(person.id, target.id)
        if found is not None:
            if found.occurred_at > at or found.visit is not None:
                return False
            last[target.id] = found
    here = {t: o for t, o in last.items() if visit_of(o, program.timezone) == visit}
    if target_id in here:
        return here[target_id]
    if outcome is Outcome.MET:
        waiting = [t.id for t in program.targets if target_id in t.requires and t.id in here]
        if any(here[t].outcome is Outcome.MET for t in waiting):
            return False
    return InOrder(last)


def _record_in_order(
    work: UnitOfWork,
    tx: RecordTx,
    person: Participant,
    program: Program,
    target_id: str,
    outcome: Outcome,
    at: dt.datetime,
    now: dt.datetime,
    visit: str,
    actor: str,
    key: str | None,
    details: Details,
    read: InOrder,
) -> Written:
    """Record an outcome ``in_order`` says nothing else depends on: its earning follows from
    the target's cached state and the few results the calendar asks about
    (``views.attendance``), as the replay would give it. ``now`` is the write's time
    (``write_outcome`` read the clock once)."""
    target = program.target(target_id)
    same_visit = {
        o.target
        for t in target.requires
        if (o := read.last.get(t)) is not None
        and o.outcome is Outcome.MET
        and visit_of(o, program.timezone) == visit
    }
    state = tx.schedule_state(person.id, target_id) or ScheduleState()
    week = program_week(person.start, at, program.timezone)
    last = read.last.get(target_id)
    earning = earn(
        program,
        target,
        state,
        outcome,
        week=week,
        attendance=attendance_before(tx, person, program, target, state, last, week),
        assume_required=all(r in same_visit for r in target.requires),
    )
    draws = target.schedule.award is AwardKind.DRAWS and outcome is Outcome.MET
    seed = work.seeds() if draws else None
    record = sealed_outcome(tx, program, person, target_id, outcome, at, now, actor, key,
                            seed, details)  # fmt: skip
    tx.append_outcomes([record])
    own, prizes = settle_in_order(
        tx, now, person, program, Replayed(record, outcome, seed, earning, visit), actor=actor
    )
    return Written(record, program, own, prizes, visit)


def sealed_outcome(
    tx: RecordTx,
    program: Program,
    person: Participant,
    target_id: str,
    outcome: Outcome,
    at: dt.datetime,
    now: dt.datetime,
    actor: str,
    key: str | None,
    seed: int | None,
    details: Details,
) -> OutcomeRecord:
    """The next outcome of the chain, sealed with its hash (not yet appended)."""
    outcome_id, prev_hash = position_after(tx.last_outcome())
    fields: dict[str, Any] = {
        "id": outcome_id,
        "program_id": program.id,
        "participant": person.id,
        "target": target_id,
        "outcome": outcome,
        "occurred_at": at,
        "recorded_at": now,
        "actor": actor,
        "key": key,
        "note": details.note,
        "seed": seed,
        "prev_hash": prev_hash,
        "visit": details.visit,
        "specimen": details.specimen,
    }
    # Built again with its hash rather than ``chain.sealed``'s ``attrs.evolve``, which reads
    # every field back one by one (twice the cost: issue 16's import, a row each).
    unsealed = OutcomeRecord(**fields, hash="")
    return OutcomeRecord(**fields, hash=link(prev_hash, unsealed.hash_fields()))


def already_recorded(record: OutcomeRecord, outcome: Outcome, visit: str, named: str | None) -> str:
    """The refusal of a second, different result for one target and visit."""
    which = f"visit {visit}" if named is not None else f"the visit of {visit}"
    return (
        f"{record.participant} {record.target} for {which} is already recorded as {outcome}"
        f" (outcome {record.id}); correct outcome {record.id} to change it"
    )


def _result_of(
    tx: RecordTx,
    work: UnitOfWork,
    person: Participant,
    program: Program,
    history: list[Effective],
    outcome_id: int,
) -> RecordResult:
    """The result an outcome stands at now, for a replay of it that wrote nothing."""
    episodes = find_episodes(tx, person, program)
    replayed = by_id(replay_episodes(episodes, history))
    entry = next(e for e in history if e.record.id == outcome_id)
    program = episodes.of_outcome(entry.record).program
    paid = paid_by_outcome(
        tx.transfers(person.id), tx.write_offs(person.id), tx.prizes(person.id)
    ).get(outcome_id, Paid())
    standing = plan(program, outcome_id, replayed.get(outcome_id), paid, None)
    return RecordResult(
        outcome_id=outcome_id,
        participant=person.id,
        target=entry.record.target,
        # A voided outcome (a replayed key whose outcome was voided since) says what it was.
        outcome=entry.record.outcome if entry.outcome is None else entry.outcome,
        occurred_at=entry.record.occurred_at,
        award=attrs.evolve(
            award_of(standing),
            points=paid.award - paid.taken,
            bonus_points=paid.bonus,
            value_cents=paid.value_cents(program),
        ),
        prizes=tuple(PrizeWon(p.id, p.category, p.value_cents) for p in paid.standing().values()),
        balance=balance_of(tx, person, program, work.clock()),
        replayed=True,
        visit=visit_of(entry.record, program.timezone),
    )


def _import_row(
    work: UnitOfWork, tx: RecordTx, row: ImportRow | BadRow, actor: str
) -> tuple[bool, dt.date]:
    """Apply one row; False when its key shows it was applied before. With its clinical
    date in the program's zone."""
    if isinstance(row, BadRow):
        raise InvalidInput(row.problem)
    person = find_participant(tx, row.participant)
    program = find_program(tx, person.program_id)
    at = parse_when(row.at, program.timezone, "at")
    outcome: Outcome = choice(Outcome, row.outcome, "outcome")
    note = check_text(row.note, "note")
    details = Details(note=note)
    applied = apply_result(work, tx, person, row.target, outcome, at, actor, row.key, details)
    return applied, local_date(at, program.timezone)


def apply_result(
    work: UnitOfWork,
    tx: RecordTx,
    person: Participant,
    target: str,
    outcome: Outcome,
    at: dt.datetime,
    actor: str,
    key: str,
    details: Details,
) -> bool:
    """Record one result a file brings (a lab-file row, a decided specimen) under ``key``;
    False when it was applied before: its key was used, or its visit has this result."""
    request = record_request(person.id, target, outcome, at, details.note, details)
    try:
        result = work.idempotent(
            tx,
            person.program_id,
            key,
            request,
            lambda _: None,
            lambda: write_outcome(work, tx, person, target, outcome, at, actor, key, details),
            imported,
        )
    except _SameResult:
        return False  # the visit has this result already: applied before
    return result is not None


def imported(written: Written | None) -> dict[str, Any]:
    """What the key of a result a file brought remembers: the outcome it wrote, as
    ``belongs_to`` names it. A file's replay returns nothing, so the whole result (a
    fifth of the import's time in issue 16's profile, and of its journal's digests) is
    not kept; ``record`` under such a key replays the outcome as it stands."""
    assert written is not None  # perform writes; None is only what replay gives
    record = written.record
    return {
        "outcome_id": record.id,
        "participant": record.participant,
        "target": record.target,
        "outcome": str(record.outcome),
    }


def _read_chunk_ahead(tx: BufferedTx, chunk: list[ImportRow | BadRow]) -> None:
    """Read what a chunk's rows will read: its participants, then its keys (one query),
    then ``reads_of_a_record`` for each row whose participant exists (on PostgreSQL, three
    round trips a chunk instead of several a row: issue 16)."""
    named = sorted({row.participant for row in chunk if isinstance(row, ImportRow)})
    named = [p for p in named if is_pseudonymous_id(p)]
    tx.read_ahead(lambda ahead: read_participants(ahead, named))
    people = {p: tx.participant(p) for p in named}  # read here, not while reading ahead
    tx.prefetch_keys(_chunk_keys(tx, chunk))

    def reads(ahead: RecordTx) -> None:
        for row in chunk:
            if isinstance(row, ImportRow) and (person := people.get(row.participant)):
                reads_of_a_record(ahead, person, row.target, None)

    tx.read_ahead(reads)
    read_recent_ahead(tx, [(r.participant, r.at) for r in chunk if isinstance(r, ImportRow)])


def read_recent_ahead(tx: BufferedTx, visits: Sequence[tuple[str, str]]) -> None:
    """Read at once the stored outcomes the calendar's attendance of a chunk's results
    will ask about (``BufferedTx.prefetch_recent``): each participant's from the earliest
    time any result's own week is read from (``attendance.read_from``). ``visits`` are
    (participant, clinical time as ``parse_when`` reads it); one that names no participant
    or no time fails in its turn, and a question further back (after an empty week) is
    read when asked."""
    earliest: dict[str, tuple[dt.datetime, Participant, Program]] = {}
    for participant, when in visits:
        if not is_pseudonymous_id(participant):
            continue
        person = tx.participant(participant)
        program = None if person is None else tx.program(person.program_id)
        if person is None or program is None or not program.calendar:
            continue
        try:
            at = parse_when(when, program.timezone, "at")
        except InvalidInput:
            continue
        if participant not in earliest or at < earliest[participant][0]:
            earliest[participant] = at, person, program
    # A participant's earliest result has the earliest week.
    times = [
        read_from(person, program, program_week(person.start, at, program.timezone))
        for at, person, program in earliest.values()
    ]
    if times:
        tx.prefetch_recent(sorted(earliest), min(times))


def _chunk_keys(tx: RecordTx, chunk: list[ImportRow | BadRow]) -> list[tuple[str, str]]:
    """The (program, key) of each well-formed row whose participant exists: what the
    replay checks will look up. Other rows fail in their turn, with their line number."""
    keys = []
    for row in chunk:
        if not isinstance(row, ImportRow):
            continue
        try:
            check_id(row.participant, "participant id")
            check_text(row.key, "key", required=True)
        except InvalidInput:
            continue
        if person := tx.participant(row.participant):
            keys.append((person.program_id, row.key))
    return keys


def record_request(
    participant: str,
    target: str,
    outcome: Outcome,
    at: dt.datetime | None,
    note: str | None,
    details: Details,
) -> dict[str, Any]:
    """A recording as its idempotency fingerprint sees it: as the caller gave it. The visit
    and specimen are in it only when given, so keys stored before them still match."""
    optional = {"visit": details.visit, "specimen": details.specimen}
    return {
        "op": "record",
        "participant": participant,
        "target": target,
        "outcome": str(outcome),
        "at": None if at is None else to_utc_text(at),
        "note": note,
    } | {name: value for name, value in optional.items() if value is not None}
