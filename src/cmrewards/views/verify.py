"""``verify``: recompute everything the database claims and report every mismatch.

Checks the hash chains of outcomes and transfers, every cached balance against
the sum of its transfers, the ledger invariants, every schedule state and award
against a replay of the outcome history, every prize against a redraw from its
outcome's seed, the cap usage against the awards that still stand, the
redemptions, stock and prize records against each other, and every journaled
record against its journal entry. Each problem is a ``Problem`` record
(``domain/problems.py``): the check that found it, the record it is about, and
the line the CLI prints.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

import attrs

from ..domain import ledger
from ..domain.bowl import draw
from ..domain.caps import adjustment_charges, cap_period
from ..domain.chain import GENESIS, ChainLink, broken_links
from ..domain.checkpoint import Checkpoint, checkpoint_problems
from ..domain.counts import plural
from ..domain.earning import value_cents
from ..domain.episodes import Episodes, episode_problems
from ..domain.journal import Journaled, ProgramAdded, journal_problems, latest_digests
from ..domain.ledger import Movement, Transfer, ledger_problems
from ..domain.problems import Check, Problem
from ..domain.programs import Program
from ..domain.records import (
    Correction,
    Episode,
    OutcomeRecord,
    Participant,
    Prize,
    PrizeStatus,
    WriteOff,
)
from ..domain.redemption import RedemptionStatus
from ..domain.refs import Ref, RefKind, account_ref, id_of
from ..domain.schedules import ScheduleState
from ..domain.settlement import (
    Effective,
    Paid,
    current_states,
    effective_history,
    paid_by_outcome,
    replay_episodes,
)
from ..domain.verify_report import VerifyReport
from ..errors import CMRewardsError
from ..store.port import (
    Catalog,
    Corrections,
    Enrolment,
    IdempotencyKeys,
    Ledger,
    Prizes,
    Programs,
    Redemptions,
    Settlements,
    SignIns,
    Specimens,
    Staffing,
    StateKey,
    Tx,
)
from .chains import CHAINS, ChainSpec, heads_of
from .collector import collector_paused
from .replay import Awards, reversed_ids

R = TypeVar("R")


class JournaledReads(
    Staffing,
    SignIns,
    Programs,
    Enrolment,
    Prizes,
    Catalog,
    Redemptions,
    IdempotencyKeys,
    Specimens,
    Corrections,
    Settlements,
    Protocol,
):
    """Every kind of record the journal covers: those that are not hash-chained themselves."""


class PrizeRecordReads(Prizes, Programs, Protocol):
    """The prizes, their hand-overs and trades, and the trade rules of their programs."""


class RedemptionReads(Redemptions, Ledger, Catalog, PrizeRecordReads, Protocol):
    """The redemptions with the held balances, the catalog's stock and its movements, and
    the prize records (handed over from the same cabinet)."""


def verify_store(
    tx: Tx, engine_problems: Iterable[str], against: Checkpoint | None = None
) -> VerifyReport:
    """Every check on the records of ``tx``, after the problems the database engine found,
    and, given a checkpoint, whether every chain still extends it.

    ``engine_problems`` are the store's ``integrity_problems()``. A check that cannot
    run because the records contradict each other is one problem, never a crash. The
    cyclic garbage collector is paused meanwhile (``collector.collector_paused``).
    """
    with collector_paused():
        return _verified(tx, engine_problems, against)


def _verified(tx: Tx, engine_problems: Iterable[str], against: Checkpoint | None) -> VerifyReport:
    # The chains are read once, as links, and hashed without records (issue 16); the
    # outcomes and transfers are then made records from the same links, for the checks
    # that read their meaning.
    chains = {spec.name: spec.links(tx) for spec in CHAINS}
    outcomes, unread_outcomes = _records_of(chains["outcomes"], OutcomeRecord.of_link, CHAINS[0])
    transfers, unread_transfers = _records_of(chains["transfers"], Transfer.of_link, CHAINS[1])
    participants = tx.participants()
    past: dict[str, list[Episode]] = defaultdict(list)
    for episode in tx.past_episodes():
        past[episode.participant].append(episode)
    history = _History(
        programs={p.id: p for p in tx.programs()},
        people={p.id: p for p in participants},
        past=past,
        outcomes=outcomes,
        corrections=tx.corrections(),
        transfers=transfers,
        awards=Awards.among(transfers),
        write_offs=tx.write_offs(),
        prizes=tx.prizes(),
    )
    problems = [Problem(Check.ENGINE, None, message) for message in engine_problems]
    problems += unread_outcomes + unread_transfers
    checks: list[tuple[Check, str, Callable[[], Iterable[Problem]]]] = [
        *(_chain_check(spec, chains[spec.name]) for spec in CHAINS),
        (Check.LEDGER, "the ledger", lambda: ledger_problems(transfers, tx.balances())),
        (Check.SCHEDULE_REPLAY, "the schedules",
            lambda: history.replay_problems(tx.schedule_states())),
        (Check.CAP, "the caps", lambda: history.cap_problems(tx.cap_usages())),
        (Check.EPISODES, "the episodes", history.episode_problems),
        (Check.SETTLEMENT, "the settlements", history.settlement_problems),
        (Check.REDEMPTION, "the redemptions", lambda: redemption_problems(tx, transfers)),
        (Check.JOURNAL, "the journal", lambda: journal_problems(
            latest_digests(chains["journal"]), _journaled_records(tx), tx.stored_keys())),
        (Check.PROGRAM_ROWS, "the programs", lambda: _program_rows(tx)),
    ]  # fmt: skip
    if against is not None:
        rows = {name: [(r[0], r[2]) for r in chain] for name, chain in chains.items()}
        checks.append((Check.CHECKPOINT, "the checkpoint",
                       lambda: checkpoint_problems(against, rows)))  # fmt: skip
    for check, name, find in checks:
        problems += _guarded(check, name, find)
    return VerifyReport(
        ok=not problems,
        problems=tuple(problems),
        outcomes=len(outcomes),
        transfers=len(transfers),
        participants=len(participants),
        transfer_chain_head=transfers[-1].hash if transfers else GENESIS,
        outcome_chain_head=outcomes[-1].hash if outcomes else GENESIS,
        chains=heads_of(chains),
        against=against,
    )


def _guarded(check: Check, name: str, find: Callable[[], Iterable[Problem]]) -> list[Problem]:
    """The check's problems; records that contradict each other so badly that the check
    cannot even run (a participant with no program, a target the program lacks) are a
    problem too, never a crash."""
    try:
        return list(find())
    except (KeyError, AssertionError, CMRewardsError, ValueError, TypeError) as error:
        detail = error.args[0] if error.args else type(error).__name__
        message = f"{name} could not be checked: the records contradict each other ({detail})"
        return [Problem(check, None, message)]


def _records_of(
    links: Sequence[ChainLink], make: Callable[[ChainLink], R], spec: ChainSpec
) -> tuple[list[R], list[Problem]]:
    """The records the chain's rows hold, and a problem for each row whose fields are no
    record (an outcome no outcome, a time no time): reported, never a crash."""
    try:
        return [make(link) for link in links], []  # the common case, at full speed
    except (KeyError, ValueError, TypeError):
        pass
    records: list[R] = []
    problems: list[Problem] = []
    for link in links:
        try:
            records.append(make(link))
        except (KeyError, ValueError, TypeError) as error:
            detail = error.args[0] if error.args else type(error).__name__
            where = Ref(spec.kind, link[0])
            message = f"{spec.kind.value} {link[0]} cannot be read ({detail})"
            problems.append(Problem(spec.check, where, message))
    return records, problems


def _chain_check(
    spec: ChainSpec, links: Sequence[ChainLink]
) -> tuple[Check, str, Callable[[], Iterable[Problem]]]:
    return (
        spec.check,
        f"the {spec.name} chain",
        lambda: broken_links(links, spec.kind, spec.check, spec.spell),
    )


def _program_rows(tx: Programs) -> Iterable[Problem]:
    """Each stored program row holds the program its id names, once."""
    ids = [p.id for p in tx.programs()]
    if sorted(ids) != sorted(tx.program_origins()) or len(set(ids)) != len(ids):
        yield Problem(
            Check.PROGRAM_ROWS, None, "a program row does not hold the program its id names"
        )


def _journaled_records(tx: JournaledReads) -> Iterable[Journaled]:
    """Every journaled record but the idempotency keys (read as rows: ``StoredKey``)."""
    yield from tx.all_staff()
    yield from tx.staff_secrets()
    yield from tx.sign_ins()
    origins = tx.program_origins()
    yield from (ProgramAdded(p, *origins[p.id]) for p in tx.programs())
    yield from tx.participants()
    yield from tx.past_episodes()
    yield from tx.prizes()
    yield from tx.prize_fulfilments()
    yield from tx.prize_trades()
    yield from tx.items()
    yield from tx.stock_movements()
    yield from tx.redemptions()
    yield from tx.analyte_results()
    yield from tx.analyte_revisions()
    yield from tx.corrections()
    yield from tx.write_offs()
    yield from tx.prize_withdrawals()


@attrs.define
class _Own:
    """One participant's records."""

    outcomes: list[OutcomeRecord] = attrs.Factory(list)
    corrections: list[Correction] = attrs.Factory(list)
    transfers: list[Transfer] = attrs.Factory(list)
    write_offs: list[WriteOff] = attrs.Factory(list)
    prizes: list[Prize] = attrs.Factory(list)


@attrs.frozen
class _History:
    programs: dict[str, Program]
    people: dict[str, Participant]
    past: dict[str, list[Episode]]
    """Each person's episodes before their current one."""
    outcomes: list[OutcomeRecord]
    corrections: list[Correction]
    transfers: list[Transfer]
    awards: Awards
    write_offs: list[WriteOff]
    prizes: list[Prize]

    @functools.cached_property
    def _by_participant(self) -> dict[str, _Own]:
        """Each person's records, gathered once for the replay, the caps and the episodes."""
        own: dict[str, _Own] = defaultdict(_Own)
        for record in self.outcomes:
            own[record.participant].outcomes.append(record)
        for correction in self.corrections:
            own[correction.participant].corrections.append(correction)
        for transfer in self.transfers:
            if transfer.participant is not None:
                own[transfer.participant].transfers.append(transfer)
        for write_off in self.write_offs:
            own[write_off.participant].write_offs.append(write_off)
        for prize in self.prizes:
            own[prize.participant].prizes.append(prize)
        return own

    def _episodes(self, person: Participant) -> Episodes:
        return Episodes.of(person, self.past.get(person.id, []), self.programs)

    def episode_problems(self) -> Iterable[Problem]:
        """Each person's episodes follow each other, and each outcome is under its
        episode's program."""
        own = self._by_participant
        for person_id, person in sorted(self.people.items()):
            outcomes = own[person_id].outcomes if person_id in own else []
            yield from episode_problems(self._episodes(person), outcomes)
        for person_id in sorted(set(self.past) - set(self.people)):
            yield Problem(
                Check.EPISODES,
                Ref(RefKind.PARTICIPANT, person_id),
                f"episodes of unknown participant {person_id!r}",
            )

    def replay_problems(self, cached: dict[StateKey, ScheduleState]) -> Iterable[Problem]:
        """Replay each participant's corrected history; each outcome's payment (its awards,
        settlements and write-offs) must be what it earns, its prizes what its seed draws,
        and each target's cached state the replay's."""
        replayed: dict[StateKey, ScheduleState] = {}
        for participant_id, own in sorted(self._by_participant.items()):
            if not own.outcomes:
                continue
            person = self.people.get(participant_id)
            if person is None:
                yield Problem(
                    Check.SCHEDULE_REPLAY,
                    Ref(RefKind.PARTICIPANT, participant_id),
                    f"outcomes of unknown participant {participant_id!r}",
                )
                continue
            episodes = self._episodes(person)
            history = effective_history(own.outcomes, own.corrections)
            steps = replay_episodes(episodes, history)
            paid = paid_by_outcome(own.transfers, own.write_offs, own.prizes)
            # One episode (most people): one program, not looked up by each result's time.
            only = episodes.current.program if len(episodes.all) == 1 else None
            for step in steps:
                record, earning = step.record, step.earning
                program = only if only is not None else episodes.of_outcome(record).program
                capped = program.cap_cents is not None
                stands = paid.get(record.id, _UNPAID)
                expected = earning.points + earning.bonus_points
                if not _stands_right(stands, expected, capped):
                    reversed_note = f" ({stands.reversed} reversed)" if stands.reversed else ""
                    yield Problem(
                        Check.SCHEDULE_REPLAY,
                        Ref(RefKind.OUTCOME, record.id),
                        f"outcome {record.id} ({participant_id} {record.target}) stands at"
                        f" {plural(stands.points, 'point')}{reversed_note}; its schedule says"
                        f" {expected:,}",
                    )
                if earning.draws or stands.prizes:
                    yield from _prize_problems(
                        program,
                        record,
                        step.seed,
                        earning.draws,
                        list(stands.standing().values()),
                        list(stands.prizes),
                    )
            for entry in history:
                if entry.voided:
                    yield from _voided_problems(entry, episodes, paid.get(entry.record.id, _UNPAID))
            for target, state in current_states(episodes, history, steps).items():
                replayed[participant_id, target] = state
        for key in sorted(set(replayed) | set(cached)):
            if replayed.get(key) != cached.get(key):
                yield Problem(
                    Check.SCHEDULE_REPLAY,
                    Ref(RefKind.PARTICIPANT, key[0]),
                    f"schedule state of {key[0]} {key[1]} is {cached.get(key)} but replaying its"
                    f" outcomes gives {replayed.get(key)}",
                )

    def settlement_problems(self) -> Iterable[Problem]:
        """Each correction, settlement transfer and write-off is about an outcome of its own
        participant, and was caused by a record that exists."""
        outcomes = {o.id: o for o in self.outcomes}
        corrections = {c.id for c in self.corrections}
        for correction in self.corrections:
            record = outcomes.get(correction.outcome_id)
            if record is None or (record.participant, record.program_id) != (
                correction.participant,
                correction.program_id,
            ):
                yield Problem(
                    Check.SETTLEMENT,
                    Ref(RefKind.CORRECTION, correction.id),
                    f"correction {correction.id} is about outcome {correction.outcome_id}"
                    f" of someone other than {correction.participant}",
                )
        about: list[tuple[Ref, int, str, str | None]] = [
            (Ref(RefKind.TRANSFER, t.id), t.settles, t.participant or "", t.cause)
            for t in self.transfers
            if t.settles is not None
        ]
        about += [
            (Ref(RefKind.WRITE_OFF, w.id), w.outcome_id, w.participant, w.cause)
            for w in self.write_offs
        ]
        for ref, outcome_id, participant, cause in about:
            record = outcomes.get(outcome_id)
            what = f"{ref.kind.replace('-', ' ')} {ref.id}"
            if record is None or record.participant != participant:
                message = f"{what} settles outcome {outcome_id}, not one of {participant}'s"
                yield Problem(Check.SETTLEMENT, ref, message)
            caused_by = Ref.parse(cause)
            known = caused_by is not None and (
                (caused_by.kind is RefKind.OUTCOME and caused_by.id in outcomes)
                or (caused_by.kind is RefKind.CORRECTION and caused_by.id in corrections)
            )
            if not known:
                message = f"{what} was caused by {cause}, which is no outcome or correction"
                yield Problem(Check.SETTLEMENT, ref, message)

    def cap_problems(self, cached: dict[tuple[str, str], int]) -> Iterable[Problem]:
        """Cap usage is the value of awards that still stand plus prizes won, plus what
        counted adjustments hold, per period; no period is past the cap by more than what
        admins granted over it (and did not reverse).

        It is kept only for programs with a cap.
        """
        used: dict[tuple[str, str], int] = defaultdict(int)
        granted: dict[tuple[str, str], int] = defaultdict(int)
        yield from self._adjustment_problems(used, granted)
        undone = reversed_ids(self.transfers)
        taken_back = [
            t
            for t in self.transfers
            if t.kind is Movement.ADJUSTMENT_DOWN and t.settles is not None and t.id not in undone
        ]
        # Each record counts under its own program (an earlier episode's, maybe) in the
        # person's periods, which count from their first episode's start.
        caps: dict[tuple[str, str], int] = {}

        def count(person_id: str, program_id: str, at: dt.datetime, cents: int) -> None:
            person, program = self.people[person_id], self.programs[program_id]
            if program.cap_cents is not None:
                key = person.id, cap_period(program, person.cap_start, at)
                used[key] += cents
                caps[key] = max(caps.get(key, 0), program.cap_cents)

        for transfer, sign in [(t, 1) for t in self.awards.standing] + [
            (t, -1) for t in taken_back
        ]:
            assert transfer.participant is not None
            program = self.programs[transfer.program_id]
            cents = sign * value_cents(program, transfer.amount)
            count(transfer.participant, program.id, transfer.occurred_at, cents)
        outcomes = {o.id: o for o in self.outcomes}
        for write_off in self.write_offs:
            at = outcomes[write_off.outcome_id].occurred_at
            count(write_off.participant, write_off.program_id, at, -write_off.value_cents)
        for prize in self.prizes:
            # A prize received in a trade was paid for by the prizes traded for it.
            drawn = prize.outcome_id is not None and prize.status is not PrizeStatus.WITHDRAWN
            if drawn:
                count(prize.participant, prize.program_id, prize.won_at, prize.value_cents)
        for key in sorted(set(used) | {k for k, v in cached.items() if v}):
            participant = Ref(RefKind.PARTICIPANT, key[0])
            if used.get(key, 0) != cached.get(key, 0):
                yield Problem(
                    Check.CAP,
                    participant,
                    f"cap usage of {key[0]} in {key[1]} is {cached.get(key, 0)} cents but its"
                    f" awards add up to {used.get(key, 0)}",
                )
            cap = caps.get(key)
            if cap is not None and used.get(key, 0) > cap + granted.get(key, 0):
                over = f" and the {granted[key]} granted over it" if granted.get(key) else ""
                yield Problem(
                    Check.CAP,
                    participant,
                    f"{key[0]} was awarded {used[key]} cents in {key[1]}, over the cap of"
                    f" {cap}{over}",
                )

    def _adjustment_problems(
        self, used: dict[tuple[str, str], int], granted: dict[tuple[str, str], int]
    ) -> Iterable[Problem]:
        """Add what counted adjustments hold to ``used``, and each admin's grant over the
        cap that stands to ``granted``; each adjustment's recorded cap change must be the
        one the rules give it (``caps.adjustment_charges``), replayed in order."""
        undone = reversed_ids(self.transfers)
        for participant_id, own in sorted(self._by_participant.items()):
            person = self.people.get(participant_id)
            if person is None:
                continue
            program = self.programs[person.program_id]
            charges = adjustment_charges(program, person.cap_start, own.transfers)
            for charge in charges:
                transfer = charge.transfer
                used[person.id, charge.period] += charge.cents
                if transfer.cap_change_cents != charge.cents:
                    yield Problem(
                        Check.CAP,
                        Ref(RefKind.TRANSFER, transfer.id),
                        f"transfer {transfer.id} says it changed the cap usage of {person.id}"
                        f" in {charge.period} by {transfer.cap_change_cents} cents; the rules"
                        f" give {charge.cents}",
                    )
                if transfer.over_cap_cents is not None and transfer.id not in undone:
                    granted[person.id, charge.period] += transfer.over_cap_cents
            counted = {c.transfer.id for c in charges}
            for transfer in own.transfers:
                over = transfer.over_cap_cents
                grant = transfer.kind is Movement.ADJUSTMENT_UP and transfer.id in counted
                if (transfer.cap_change_cents is not None and transfer.id not in counted) or (
                    over is not None
                    and not (grant and 0 < over <= value_cents(program, transfer.amount))
                ):
                    yield Problem(
                        Check.CAP,
                        Ref(RefKind.TRANSFER, transfer.id),
                        f"transfer {transfer.id} ({transfer.kind}) carries a cap change"
                        " that no adjustment of a capped program can have",
                    )


_UNPAID = Paid()
"""What the ledger holds for an outcome it has nothing for (built once: verify asks for
it once per outcome of a program that pays most results nothing)."""


def _voided_problems(entry: Effective, episodes: Episodes, stands: Paid) -> Iterable[Problem]:
    """A voided outcome gives nothing: no points beyond what settlement leaves it, and
    none of the prizes its draws once won."""
    record = entry.record
    program = episodes.of_outcome(record).program
    standing = list(stands.standing().values())
    yield from _prize_problems(program, record, entry.seed, 0, standing, list(stands.prizes))
    if not _stands_right(stands, 0, program.cap_cents is not None) or standing:
        yield Problem(
            Check.SCHEDULE_REPLAY,
            Ref(RefKind.OUTCOME, record.id),
            f"outcome {record.id} was voided but still gives"
            f" {plural(stands.standing_points, 'point')} and {plural(len(standing), 'prize')}",
        )


def _stands_right(stands: Paid, earned: int, capped: bool) -> bool:
    """An outcome that earns ``earned`` points is credited what settlement leaves it:
    ``max(earned, reversed)`` (it gives what it earns less what an admin reversed of it,
    ``domain/settlement.plan``), or, under a cap, no more. A file written before
    settlements were bounded by reversals may hold exactly ``earned`` instead: the
    take-back of points a reversal had already given back, written off at the time."""
    owed = max(earned, stands.reversed)
    if capped:
        return stands.points <= owed
    return stands.points in (owed, earned)


def _prize_problems(
    program: Program,
    record: OutcomeRecord,
    seed: int | None,
    draws: int,
    standing: list[Prize],
    won: list[Prize],
) -> Iterable[Problem]:
    """Each prize its draws ever won is the slip its seed draws at that index (or, under a
    cap, a cheaper one); the prizes it still gives (``standing``) are within the draws it
    earns now, and without a cap every winning slip it earns is one of them. ``seed`` is its
    effective seed (a correction may have given one); the stream is the same for any count."""
    where = f"outcome {record.id} ({record.participant} {record.target})"
    outcome = Ref(RefKind.OUTCOME, record.id)
    if draws and seed is None:
        yield Problem(
            Check.PRIZE_DRAW, outcome, f"{where} earned {plural(draws, 'draw')} but has no seed"
        )
        return
    drawn = max([draws, *((p.draw or 0) + 1 for p in won)])
    slips = draw(program.bowl, seed, drawn) if seed is not None else []
    still = {p.id for p in standing}
    worth = {c.category: c.value_cents for c in program.bowl}
    for prize in sorted(won, key=lambda p: p.id):
        if prize.draw is None:
            continue
        index = prize.draw
        ref = Ref(RefKind.PRIZE, prize.id)
        if worth.get(prize.category) != prize.value_cents:
            message = (
                f"{where} prize {prize.id} is {prize.category} but its value is not the bowl's"
            )
            yield Problem(Check.PRIZE_DRAW, ref, message)
        slip = slips[index] if index < len(slips) else None
        beyond = prize.id in still and index >= draws
        if slip is None or beyond or prize.value_cents > slip.value_cents:
            message = f"{where} has prize {prize.id} ({prize.category}) that its seed did not draw"
            yield Problem(Check.PRIZE_DRAW, ref, message)
        elif prize.category != slip.category and program.cap_cents is None:
            message = (
                f"{where} draw {index} is {slip.category}; prize {prize.id} says {prize.category}"
            )
            yield Problem(Check.PRIZE_DRAW, ref, message)
    if program.cap_cents is None:
        given = {p.draw for p in standing}
        for index, slip in enumerate(slips[:draws]):
            if slip.value_cents and index not in given:
                message = f"{where} draw {index} won {slip.category} but no prize was recorded"
                yield Problem(Check.PRIZE_DRAW, outcome, message)


_EXPECTED_MOVEMENTS = {
    RedemptionStatus.REQUESTED: [Movement.HOLD],
    RedemptionStatus.APPROVED: [Movement.HOLD],
    RedemptionStatus.FULFILLED: [Movement.HOLD, Movement.SPEND],
    RedemptionStatus.CANCELLED: [Movement.HOLD, Movement.RELEASE],
    RedemptionStatus.REVERSED: [Movement.HOLD, Movement.SPEND, Movement.RELEASE],
}
"""The transfers a redemption in each state has caused (a reversal links to its spend)."""


def redemption_problems(tx: RedemptionReads, transfers: list[Transfer]) -> Iterable[Problem]:
    """Holds equal open requests, each redemption's transfers match its state, stock adds up."""
    redemptions = tx.redemptions()
    caused: dict[int, list[Transfer]] = defaultdict(list)
    for transfer in transfers:
        redemption_id = id_of(transfer.cause, RefKind.REDEMPTION)
        if redemption_id is not None:
            caused[redemption_id].append(transfer)
    open_cost: dict[tuple[str, str], int] = defaultdict(int)
    for redemption in redemptions:
        ref = Ref(RefKind.REDEMPTION, redemption.id)
        kinds = [t.kind for t in caused.get(redemption.id, [])]
        if kinds != _EXPECTED_MOVEMENTS[redemption.status]:
            yield Problem(
                Check.REDEMPTION,
                ref,
                f"redemption {redemption.id} is {redemption.status} but its transfers are"
                f" {', '.join(kinds) or 'none'}",
            )
        if any(t.amount != redemption.cost for t in caused.get(redemption.id, [])):
            message = f"redemption {redemption.id} moved an amount other than its cost"
            yield Problem(Check.REDEMPTION, ref, message)
        if redemption.status.is_open:
            open_cost[redemption.program_id, redemption.participant] += redemption.cost
    held = {
        (program_id, account.removeprefix("held:")): points
        for (program_id, account), points in tx.balances().items()
        if account.startswith("held:")
    }
    for key in sorted(set(held) | set(open_cost)):
        if held.get(key, 0) != open_cost.get(key, 0):
            yield Problem(
                Check.REDEMPTION,
                account_ref(key[0], ledger.held(key[1])),
                f"{key[1]} has {plural(held.get(key, 0), 'point')} held but open redemptions cost"
                f" {open_cost.get(key, 0):,}",
            )
    counted: dict[str, int] = defaultdict(int)
    for movement in tx.stock_movements():
        counted[movement.sku] += movement.change
    for item in tx.items():
        ref = Ref(RefKind.CATALOG_ITEM, item.sku)
        if item.stock is None and counted.get(item.sku):
            message = f"{item.sku} is bought on demand but has stock movements"
            yield Problem(Check.STOCK, ref, message)
        elif item.stock is not None and item.stock != counted.get(item.sku, 0):
            total = counted.get(item.sku, 0)
            message = f"{item.sku} has stock {item.stock} but its movements add up to {total}"
            yield Problem(Check.STOCK, ref, message)
    yield from _prize_record_problems(tx)


def _prize_record_problems(tx: PrizeRecordReads) -> Iterable[Problem]:
    """Each prize's status matches its hand-over or trade, and each trade follows a rule."""
    fulfilled = {f.prize_id for f in tx.prize_fulfilments()}
    trades = tx.prize_trades()
    traded = {t.traded_prize for t in trades}
    given_for: dict[int, list[int]] = defaultdict(list)
    for trade in trades:
        given_for[trade.new_prize].append(trade.traded_prize)
    prizes = {p.id: p for p in tx.prizes()}
    programs = {p.id: p for p in tx.programs()}
    for prize in prizes.values():
        ref = Ref(RefKind.PRIZE, prize.id)
        if (prize.status is PrizeStatus.FULFILLED) != (prize.id in fulfilled):
            message = f"prize {prize.id} is {prize.status} but its hand-over record disagrees"
            yield Problem(Check.PRIZE_RECORD, ref, message)
        if (prize.status is PrizeStatus.TRADED) != (prize.id in traded):
            message = f"prize {prize.id} is {prize.status} but its trade record disagrees"
            yield Problem(Check.PRIZE_RECORD, ref, message)
        if prize.outcome_id is not None:
            continue
        given = [prizes[i] for i in given_for.get(prize.id, []) if i in prizes]
        categories = {p.category for p in given}
        rules = programs[prize.program_id].trades
        if not any(
            (r.get, r.count) == (prize.category, len(given)) and categories == {r.give}
            for r in rules
        ):
            message = f"prize {prize.id} was won by no draw and no trade the program allows"
            yield Problem(Check.PRIZE_RECORD, ref, message)
