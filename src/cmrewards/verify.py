"""``verify``: recompute everything the database claims and report every mismatch.

Checks the hash chains of outcomes and transfers, every cached balance against
the sum of its transfers, the ledger invariants, and every schedule state and
award against a replay of the outcome history under the program's rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from .chain import GENESIS, broken_links
from .clock import program_week
from .earning import earn
from .ledger import Movement, Transfer, ledger_problems
from .programs import Program
from .records import OutcomeRecord, Participant
from .results import VerifyReport
from .schedules import ScheduleState
from .store.port import StateKey, Tx


def verify_store(tx: Tx, engine_problems: list[str]) -> VerifyReport:
    outcomes = tx.outcomes()
    transfers = tx.transfers()
    participants = tx.participants()
    programs = {p.id: p for p in tx.programs()}
    problems = list(engine_problems)
    problems += broken_links(
        ((o.id, o.prev_hash, o.hash, o.hash_fields()) for o in outcomes), "outcome"
    )
    problems += broken_links(
        ((t.id, t.prev_hash, t.hash, t.hash_fields()) for t in transfers), "transfer"
    )
    problems += ledger_problems(transfers, tx.balances())
    problems += replay_problems(participants, programs, outcomes, transfers, tx.schedule_states())
    return VerifyReport(
        ok=not problems,
        problems=tuple(problems),
        outcomes=len(outcomes),
        transfers=len(transfers),
        participants=len(participants),
        transfer_chain_head=transfers[-1].hash if transfers else GENESIS,
        outcome_chain_head=outcomes[-1].hash if outcomes else GENESIS,
    )


def replay_problems(
    participants: list[Participant],
    programs: dict[str, Program],
    outcomes: list[OutcomeRecord],
    transfers: list[Transfer],
    cached: dict[StateKey, ScheduleState],
) -> Iterable[str]:
    """Replay each participant's outcomes; compare states and the points each outcome paid."""
    paid: dict[str, dict[Movement, int]] = defaultdict(lambda: defaultdict(int))
    for transfer in transfers:
        if transfer.cause and transfer.cause.startswith("outcome:"):
            paid[transfer.cause][transfer.kind] += transfer.amount
    by_participant: dict[str, list[OutcomeRecord]] = defaultdict(list)
    for record in outcomes:
        by_participant[record.participant].append(record)
    replayed: dict[StateKey, ScheduleState] = {}
    people = {p.id: p for p in participants}
    for participant_id, history in sorted(by_participant.items()):
        person = people.get(participant_id)
        if person is None:
            yield f"outcomes of unknown participant {participant_id!r}"
            continue
        program = programs[person.program_id]
        visits: dict[object, list[OutcomeRecord]] = defaultdict(list)
        for record in history:
            key = (participant_id, record.target)
            target = program.target(record.target)
            visit = list(visits[record.occurred_at])
            visits[record.occurred_at].append(record)
            earning = earn(
                target,
                replayed.get(key, ScheduleState()),
                record.outcome,
                week=program_week(person.start, record.occurred_at, program.timezone),
                visit=visit,
            )
            replayed[key] = earning.step.state
            got = paid.get(f"outcome:{record.id}", {})
            for movement, expected in (
                (Movement.AWARD, earning.points),
                (Movement.BONUS, earning.bonus_points),
            ):
                if got.get(movement, 0) != expected:
                    yield (
                        f"outcome {record.id} ({participant_id} {record.target}) paid"
                        f" {got.get(movement, 0)} {movement} points; its schedule says {expected}"
                    )
    for key in sorted(set(replayed) | set(cached)):
        if replayed.get(key) != cached.get(key):
            yield (
                f"schedule state of {key[0]} {key[1]} is {cached.get(key)} but replaying its"
                f" outcomes gives {replayed.get(key)}"
            )
