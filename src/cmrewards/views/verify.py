"""``verify``: recompute everything the database claims and report every mismatch.

Checks the hash chains of outcomes and transfers, every cached balance against
the sum of its transfers, the ledger invariants, every schedule state and award
against a replay of the outcome history, every prize against a redraw from its
outcome's seed, and the cap usage against the awards that still stand.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable

import attrs

from ..domain.bowl import draw
from ..domain.caps import cap_period
from ..domain.chain import GENESIS, broken_links
from ..domain.clock import program_week
from ..domain.earning import earn, value_cents
from ..domain.journal import Journaled, ProgramAdded, journal_problems
from ..domain.ledger import Movement, Transfer, ledger_problems
from ..domain.programs import Program
from ..domain.records import OutcomeRecord, Participant, Prize, PrizeStatus
from ..domain.redemption import RedemptionStatus
from ..domain.refs import Ref, RefKind, id_of
from ..domain.results import VerifyReport
from ..domain.schedules import ScheduleState
from ..errors import CMRewardsError
from ..store.port import StateKey, Tx


def verify_store(tx: Tx, engine_problems: list[str]) -> VerifyReport:
    outcomes = tx.outcomes()
    transfers = tx.transfers()
    participants = tx.participants()
    history = _History(
        programs={p.id: p for p in tx.programs()},
        people={p.id: p for p in participants},
        outcomes=outcomes,
        transfers=transfers,
        prizes=tx.prizes(),
    )
    problems = list(engine_problems)
    journal = tx.journal()
    checks: list[tuple[str, Callable[[], Iterable[str]]]] = [
        ("the outcome chain", lambda: broken_links(
            ((o.id, o.prev_hash, o.hash, o.hash_fields()) for o in outcomes), "outcome")),
        ("the transfer chain", lambda: broken_links(
            ((t.id, t.prev_hash, t.hash, t.hash_fields()) for t in transfers), "transfer")),
        ("the ledger", lambda: ledger_problems(transfers, tx.balances())),
        ("the schedules", lambda: history.replay_problems(tx.schedule_states())),
        ("the caps", lambda: history.cap_problems(tx.cap_usages())),
        ("the redemptions", lambda: redemption_problems(tx, transfers)),
        ("the journal chain", lambda: broken_links(
            ((e.id, e.prev_hash, e.hash, e.hash_fields()) for e in journal), "journal entry")),
        ("the journal", lambda: journal_problems(journal, _journaled_records(tx))),
        ("the programs", lambda: _program_rows(tx)),
    ]  # fmt: skip
    for name, check in checks:
        problems += _guarded(name, check)
    return VerifyReport(
        ok=not problems,
        problems=tuple(problems),
        outcomes=len(outcomes),
        transfers=len(transfers),
        participants=len(participants),
        transfer_chain_head=transfers[-1].hash if transfers else GENESIS,
        outcome_chain_head=outcomes[-1].hash if outcomes else GENESIS,
    )


def _guarded(name: str, check: Callable[[], Iterable[str]]) -> list[str]:
    """The check's problems; records that contradict each other so badly that the check
    cannot even run (a participant with no program, a target the program lacks) are a
    problem too, never a crash."""
    try:
        return list(check())
    except (KeyError, AssertionError, CMRewardsError, ValueError, TypeError) as error:
        detail = error.args[0] if error.args else type(error).__name__
        return [f"{name} could not be checked: the records contradict each other ({detail})"]


def _program_rows(tx: Tx) -> Iterable[str]:
    """Each stored program row holds the program its id names, once."""
    ids = [p.id for p in tx.programs()]
    if sorted(ids) != sorted(tx.program_origins()) or len(set(ids)) != len(ids):
        yield "a program row does not hold the program its id names"


def _journaled_records(tx: Tx) -> Iterable[Journaled]:
    yield from tx.all_staff()
    origins = tx.program_origins()
    yield from (ProgramAdded(p, *origins[p.id]) for p in tx.programs())
    yield from tx.participants()
    yield from tx.prizes()
    yield from tx.prize_fulfilments()
    yield from tx.prize_trades()
    yield from tx.items()
    yield from tx.stock_movements()
    yield from tx.redemptions()
    yield from tx.idempotency_records()


@attrs.frozen
class _History:
    programs: dict[str, Program]
    people: dict[str, Participant]
    outcomes: list[OutcomeRecord]
    transfers: list[Transfer]
    prizes: list[Prize]

    def replay_problems(self, cached: dict[StateKey, ScheduleState]) -> Iterable[str]:
        """Replay each participant's outcomes; compare states, points and prizes."""
        paid: dict[str, dict[Movement, int]] = defaultdict(lambda: defaultdict(int))
        for transfer in self.transfers:
            if transfer.cause is not None and id_of(transfer.cause, RefKind.OUTCOME) is not None:
                paid[transfer.cause][transfer.kind] += transfer.amount
        won: dict[int, list[Prize]] = defaultdict(list)
        for prize in self.prizes:
            if prize.outcome_id is not None:
                won[prize.outcome_id].append(prize)
        by_participant: dict[str, list[OutcomeRecord]] = defaultdict(list)
        for record in self.outcomes:
            by_participant[record.participant].append(record)
        replayed: dict[StateKey, ScheduleState] = {}
        for participant_id, history in sorted(by_participant.items()):
            person = self.people.get(participant_id)
            if person is None:
                yield f"outcomes of unknown participant {participant_id!r}"
                continue
            program = self.programs[person.program_id]
            visits: dict[dt.datetime, list[OutcomeRecord]] = defaultdict(list)
            for record in history:
                key = (participant_id, record.target)
                earning = earn(
                    program.target(record.target),
                    replayed.get(key, ScheduleState()),
                    record.outcome,
                    week=program_week(person.start, record.occurred_at, program.timezone),
                    visit=list(visits[record.occurred_at]),
                )
                visits[record.occurred_at].append(record)
                replayed[key] = earning.step.state
                got = paid.get(Ref.to(RefKind.OUTCOME, record.id), {})
                capped = program.cap_cents is not None
                for movement, expected in (
                    (Movement.AWARD, earning.points),
                    (Movement.BONUS, earning.bonus_points),
                ):
                    actual = got.get(movement, 0)
                    if actual != expected and not (capped and actual < expected):
                        yield (
                            f"outcome {record.id} ({participant_id} {record.target}) paid"
                            f" {actual} {movement} points; its schedule says {expected}"
                        )
                yield from _prize_problems(program, record, earning.draws, won.get(record.id, []))
        for key in sorted(set(replayed) | set(cached)):
            if replayed.get(key) != cached.get(key):
                yield (
                    f"schedule state of {key[0]} {key[1]} is {cached.get(key)} but replaying its"
                    f" outcomes gives {replayed.get(key)}"
                )

    def cap_problems(self, cached: dict[tuple[str, str], int]) -> Iterable[str]:
        """Cap usage is the value of awards that still stand plus prizes won, per period.

        It is kept only for programs with a cap.
        """
        reversed_ids = {t.reverses for t in self.transfers if t.reverses is not None}
        used: dict[tuple[str, str], int] = defaultdict(int)
        for transfer in self.transfers:
            if (
                transfer.kind in (Movement.AWARD, Movement.BONUS)
                and transfer.id not in reversed_ids
            ):
                assert transfer.participant is not None
                person = self.people[transfer.participant]
                program = self.programs[person.program_id]
                if program.cap_cents is not None:
                    period = cap_period(program, person.start, transfer.occurred_at)
                    used[person.id, period] += value_cents(program, transfer.amount)
        for prize in self.prizes:
            person = self.people[prize.participant]
            program = self.programs[person.program_id]
            # A prize received in a trade was paid for by the prizes traded for it.
            if program.cap_cents is not None and prize.outcome_id is not None:
                used[person.id, cap_period(program, person.start, prize.won_at)] += (
                    prize.value_cents
                )
        for key in sorted(set(used) | {k for k, v in cached.items() if v}):
            if used.get(key, 0) != cached.get(key, 0):
                yield (
                    f"cap usage of {key[0]} in {key[1]} is {cached.get(key, 0)} cents but its"
                    f" awards add up to {used.get(key, 0)}"
                )
            cap = self.programs[self.people[key[0]].program_id].cap_cents
            if cap is not None and used.get(key, 0) > cap:
                yield f"{key[0]} was awarded {used[key]} cents in {key[1]}, over the cap of {cap}"


def _prize_problems(
    program: Program, record: OutcomeRecord, draws: int, prizes: list[Prize]
) -> Iterable[str]:
    """Each stored prize is the slip its seed draws (or, under a cap, a cheaper one)."""
    where = f"outcome {record.id} ({record.participant} {record.target})"
    if draws and record.seed is None:
        yield f"{where} earned {draws} draws but has no seed"
        return
    slips = draw(program.bowl, record.seed, draws) if record.seed is not None else []
    expected = {i: s for i, s in enumerate(slips) if s.value_cents}
    stored = {p.draw: p for p in prizes if p.draw is not None}
    worth = {c.category: c.value_cents for c in program.bowl}
    for index, prize in sorted(stored.items()):
        if worth.get(prize.category) != prize.value_cents:
            yield f"{where} prize {prize.id} is {prize.category} but its value is not the bowl's"
        slip = slips[index] if index < len(slips) else None
        if slip is None or prize.value_cents > slip.value_cents:
            yield f"{where} has prize {prize.id} ({prize.category}) that its seed did not draw"
        elif prize.category != slip.category and program.cap_cents is None:
            yield f"{where} draw {index} is {slip.category}; prize {prize.id} says {prize.category}"
    if program.cap_cents is None:
        for index, slip in sorted(expected.items()):
            if index not in stored:
                yield f"{where} draw {index} won {slip.category} but no prize was recorded"


_EXPECTED_MOVEMENTS = {
    RedemptionStatus.REQUESTED: [Movement.HOLD],
    RedemptionStatus.APPROVED: [Movement.HOLD],
    RedemptionStatus.FULFILLED: [Movement.HOLD, Movement.SPEND],
    RedemptionStatus.CANCELLED: [Movement.HOLD, Movement.RELEASE],
    RedemptionStatus.REVERSED: [Movement.HOLD, Movement.SPEND, Movement.RELEASE],
}
"""The transfers a redemption in each state has caused (a reversal links to its spend)."""


def redemption_problems(tx: Tx, transfers: list[Transfer]) -> Iterable[str]:
    """Holds equal open requests, each redemption's transfers match its state, stock adds up."""
    redemptions = tx.redemptions()
    caused: dict[str, list[Transfer]] = defaultdict(list)
    for transfer in transfers:
        if transfer.cause and transfer.cause.startswith("redemption:"):
            caused[transfer.cause].append(transfer)
    open_cost: dict[tuple[str, str], int] = defaultdict(int)
    for redemption in redemptions:
        cause = Ref.to(RefKind.REDEMPTION, redemption.id)
        kinds = [t.kind for t in caused.get(cause, [])]
        if kinds != _EXPECTED_MOVEMENTS[redemption.status]:
            yield (
                f"redemption {redemption.id} is {redemption.status} but its transfers are"
                f" {', '.join(kinds) or 'none'}"
            )
        if any(t.amount != redemption.cost for t in caused.get(cause, [])):
            yield f"redemption {redemption.id} moved an amount other than its cost"
        if redemption.status.is_open:
            open_cost[redemption.program_id, redemption.participant] += redemption.cost
    held = {
        (program_id, account.removeprefix("held:")): points
        for (program_id, account), points in tx.balances().items()
        if account.startswith("held:")
    }
    for key in sorted(set(held) | set(open_cost)):
        if held.get(key, 0) != open_cost.get(key, 0):
            yield (
                f"{key[1]} has {held.get(key, 0)} points held but open redemptions cost"
                f" {open_cost.get(key, 0)}"
            )
    counted: dict[str, int] = defaultdict(int)
    for movement in tx.stock_movements():
        counted[movement.sku] += movement.change
    for item in tx.items():
        if item.stock is None and counted.get(item.sku):
            yield f"{item.sku} is bought on demand but has stock movements"
        elif item.stock is not None and item.stock != counted.get(item.sku, 0):
            total = counted.get(item.sku, 0)
            yield f"{item.sku} has stock {item.stock} but its movements add up to {total}"
    yield from _prize_record_problems(tx)


def _prize_record_problems(tx: Tx) -> Iterable[str]:
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
        if (prize.status is PrizeStatus.FULFILLED) != (prize.id in fulfilled):
            yield f"prize {prize.id} is {prize.status} but its hand-over record disagrees"
        if (prize.status is PrizeStatus.TRADED) != (prize.id in traded):
            yield f"prize {prize.id} is {prize.status} but its trade record disagrees"
        if prize.outcome_id is not None:
            continue
        given = [prizes[i] for i in given_for.get(prize.id, []) if i in prizes]
        categories = {p.category for p in given}
        rules = programs[prize.program_id].trades
        if not any(
            (r.get, r.count) == (prize.category, len(given)) and categories == {r.give}
            for r in rules
        ):
            yield f"prize {prize.id} was won by no draw and no trade the program allows"
