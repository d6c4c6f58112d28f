"""Monte Carlo budget forecast: what a program is likely to cost per participant.

The model (docs/design.md section 3 for the rules, section 3.4 for ``simulate``):

- Every simulated participant has the samples the calendar owes for each target: each
  paid week of each phase (``calendar.weeks_of``) brings its phase's ``per_week``
  opportunities, in week order (a legacy program: ``per_week`` in each of its ``weeks``).
  Opportunity ``k`` of every target is the same visit, and targets are recorded in
  program order at a visit (so a required target, always listed earlier, is recorded first).
- Results are ``met`` or ``not_met`` only (no missed or excused samples). Each target has
  its own sequence: the first result is ``met`` with probability ``p_met``; every later
  result repeats the previous one with probability ``persistence`` (ρ) and is otherwise
  drawn fresh with ``p_met``. That is a two-state Markov chain whose share of ``met`` is
  ``p_met`` at every opportunity, so ρ changes how results cluster into runs and not how
  many there are; ρ = 0 gives independent results. Targets are independent of each other.
- What each result earns comes from the real rules, ``earning.earn`` (which calls
  ``schedules.advance``): a ``not_met`` applies the target's ``reset_on``, and a ``met`` of
  a target with ``requires`` pays only when every required target was ``met`` at the same
  visit (otherwise it is neutral, exactly as when recording).
- Draws are drawn from the program's bowl, with replacement, weighted by slips.
- The program's ``cap_cents`` limits each participant's total over the simulated period,
  which counts as one cap period (a 12-week phase sits within one calendar or enrolment
  year for most participants). Awards are cut in visit order by ``caps.pay_within_cap``,
  as recording does, so a prize that does not fit is downgraded.
- Cost is what the clinic pays: points at ``point_value_cents`` plus the value of the prizes
  actually won, after the cap. Median and 95th percentile are nearest-rank values (the cost
  of an actual simulated participant); the mean is rounded to the cent.

Everything is drawn from one ``random.Random(seed)``, so the same inputs give the same
report. Speed comes from two caches that do not change the rules: each target's schedule is
a table of ``earn`` answers keyed by (state, result, week), filled the first time a
combination occurs, and the bowl's cumulative weights are computed once.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from operator import attrgetter

import attrs

from ..errors import InvalidInput
from .calendar import Attendance, weeks_of
from .caps import pay_within_cap
from .earning import earn
from .programs import BowlCategory, Program, Target, maximum_earnings
from .schedules import Outcome, ScheduleState

MAX_PARTICIPANTS = 1_000_000

# The three results a target can have at a visit, as far as its schedule is concerned.
_NOT_MET = 0
_MET = 1
_MET_UNPAID = 2
"""``met``, but a required target was not met at the visit: neutral, nothing paid."""

_slip_value = attrgetter("value_cents")


@attrs.frozen
class SimulationReport:
    """The forecast for one program, one set of assumptions and one seed."""

    program_id: str
    """The simulated program."""
    participants: int
    """How many participants were simulated."""
    p_met: float
    """Probability that a result is ``met``."""
    persistence: float
    """Probability that a result repeats the previous one (0 = independent results)."""
    seed: int
    """Seed of the random generator; the same inputs and seed give the same report."""
    weeks: int
    """Length of the simulated incentive phase, the program's ``weeks``."""
    mean_cents: int
    """Mean cost per participant (points at their value plus prizes won), rounded."""
    median_cents: int
    """Median cost per participant (nearest rank)."""
    p95_cents: int
    """95th percentile of the cost per participant (nearest rank)."""
    maximum_cents: int
    """The protocol's maximum per participant, ``maximum_earnings(program).capped_cents``.

    Prize draws count at their expected value there, so without a cap a lucky participant
    of a prize program can cost more than this."""
    cap_hit_share: float
    """Share of participants whose earnings reached the cap (0.0 without a cap)."""
    total_cents: int
    """Total cost of all simulated participants: the budget for that many participants."""
    mean_draws: float
    """Mean prize draws earned per participant (0.0 for points programs)."""


def simulate(
    program: Program,
    *,
    participants: int,
    p_met: float,
    seed: int,
    persistence: float = 0.0,
) -> SimulationReport:
    """Simulate ``participants`` participants through ``program`` (see the module docstring).

    ``p_met`` is the probability that any one result is ``met``; ``persistence`` (ρ, in
    [0, 1)) is the probability that a result repeats the previous result of the same target,
    otherwise it is drawn fresh with ``p_met``, so the share met stays ``p_met`` while ρ > 0
    makes longer runs of negatives and of positives. Raises ``InvalidInput`` for a value out
    of range.
    """
    _check_inputs(participants, p_met, seed, persistence)
    rng = random.Random(seed)
    simulator = _Simulator(program, rng, float(p_met), float(persistence))
    costs = []
    draws = 0
    hits = 0
    for _ in range(participants):
        cost, participant_draws, hit = simulator.participant()
        costs.append(cost)
        draws += participant_draws
        hits += hit
    costs.sort()
    total = sum(costs)
    return SimulationReport(
        program_id=program.id,
        participants=participants,
        p_met=float(p_met),
        persistence=float(persistence),
        seed=seed,
        weeks=program.weeks,
        mean_cents=(2 * total + participants) // (2 * participants),  # half-up
        median_cents=_nearest_rank(costs, 50),
        p95_cents=_nearest_rank(costs, 95),
        maximum_cents=maximum_earnings(program).capped_cents,
        cap_hit_share=hits / participants,
        total_cents=total,
        mean_draws=draws / participants,
    )


def _check_inputs(participants: int, p_met: float, seed: int, persistence: float) -> None:
    if isinstance(participants, bool) or not isinstance(participants, int):
        raise InvalidInput(f"participants must be a whole number, not {participants!r}")
    if not 1 <= participants <= MAX_PARTICIPANTS:
        raise InvalidInput(f"participants must be 1 to {MAX_PARTICIPANTS:,}, not {participants}")
    for name, value in (("p_met", p_met), ("persistence", persistence)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"{name} must be a number, not {value!r}")
    # Written so that NaN fails too.
    if not 0 <= p_met <= 1:
        raise InvalidInput(f"p_met must be between 0 and 1, not {p_met}")
    if not 0 <= persistence < 1:
        raise InvalidInput(f"persistence must be at least 0 and below 1, not {persistence}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInput(f"seed must be a whole number, not {seed!r}")


def _nearest_rank(ordered: Sequence[int], percent: int) -> int:
    """The smallest value with at least ``percent`` % of the values at or below it."""
    rank = (percent * len(ordered) + 99) // 100  # ceil without floats
    return ordered[max(rank, 1) - 1]


_Standing = tuple[ScheduleState, Attendance]
"""A target's schedule state and what its results so far say about the calendar."""


class _Schedule:
    """One target's schedule as a lookup table of ``earn`` answers.

    Standings (schedule state and attendance) are interned as small integers; an entry
    maps (standing, result, week) to (next standing, points, bonus points, draws) and is
    computed by ``earn`` the first time that combination occurs, so the rules are exactly
    the recorded ones. Attendance keeps only what later results can still ask of it (the
    weeks after the run's last ``met``), and nothing for a legacy program, which ignores it.
    """

    def __init__(self, program: Program, target: Target) -> None:
        self.program = program
        self.target = target
        start: _Standing = (ScheduleState(), Attendance())
        self._states = [start]
        self._ids = {start: 0}
        self.stride = program.weeks + 1
        """Keys are ``(state * 3 + result) * stride + week``: one int, a fast dict key."""
        self.table: dict[int, tuple[int, int, int, int]] = {}

    def compute(self, state: int, result: int, week: int) -> tuple[int, int, int, int]:
        before, attendance = self._states[state]
        outcome = Outcome.NOT_MET if result == _NOT_MET else Outcome.MET
        # _MET_UNPAID is an empty visit: the required target has no ``met`` there, so
        # ``earn`` pays nothing.
        earning = earn(
            self.program,
            self.target,
            before,
            outcome,
            week=week,
            attendance=attendance,
            assume_required=result == _MET,
        )
        after = earning.step.state
        standing = (after, self._kept(after, attendance.after(outcome, week)))
        if standing not in self._ids:
            self._ids[standing] = len(self._states)
            self._states.append(standing)
        entry = (self._ids[standing], earning.points, earning.bonus_points, earning.draws)
        self.table[(state * 3 + result) * self.stride + week] = entry
        return entry

    def _kept(self, state: ScheduleState, attendance: Attendance) -> Attendance:
        if not self.program.calendar:
            return Attendance()
        since = state.last_week
        kept = frozenset() if since is None else frozenset(w for w in attendance.kept if w > since)
        return attrs.evolve(attendance, kept=kept)


class _Simulator:
    """Simulates one participant at a time, drawing from a shared generator."""

    def __init__(self, program: Program, rng: random.Random, p_met: float, rho: float) -> None:
        self.program = program
        self.rng = rng
        self.rho = rho
        # A fresh result is met when a uniform in [rho, 1) lands in the first p_met of that
        # interval: one uniform decides both "repeat?" and the fresh result. p_met = 1 is
        # special-cased so that float rounding can never turn a certain ``met`` into a miss.
        self.fresh_cut = 2.0 if p_met >= 1 else rho + p_met * (1 - rho)
        self.first_cut = 2.0 if p_met >= 1 else p_met
        self.schedules = [_Schedule(program, target) for target in program.targets]
        self.weeks_of = [
            [week for week, phase in weeks_of(program, t) for _ in range(phase.per_week)]
            for t in program.targets
        ]
        self.opportunities = [len(weeks) for weeks in self.weeks_of]
        self.visits = max(self.opportunities)
        index = {t.id: i for i, t in enumerate(program.targets)}
        self.required = [[index[r] for r in t.requires] for t in program.targets]
        self.bowl: tuple[BowlCategory, ...] = program.bowl
        self.cum_weights = list(itertools.accumulate(c.slips for c in program.bowl))
        self.cap = program.cap_cents
        self.point_value = program.point_value_cents
        # The least the cap can let through in one piece: a point or the cheapest prize.
        self.smallest_payment = min(
            [v for v in (self.point_value, *(c.value_cents for c in self.bowl)) if v > 0],
            default=0,  # nothing has value, so no award ever exceeds what remains
        )

    def results(self, count: int) -> list[bool]:
        """One target's results, padded with ``not_met`` to the number of visits."""
        uniform = self.rng.random
        rho, fresh_cut = self.rho, self.fresh_cut
        padding = [False] * (self.visits - count)
        if not rho:
            return [uniform() < fresh_cut for _ in range(count)] + padding
        previous = uniform() < self.first_cut
        met = [previous]
        append = met.append
        for _ in range(count - 1):
            u = uniform()
            if u >= rho:
                previous = u < fresh_cut
            append(previous)
        return met + padding

    def participant(self) -> tuple[int, int, bool]:
        """(cost in cents after the cap, draws earned, whether the cap was reached)."""
        met_by_target = [self.results(n) for n in self.opportunities]
        keep_awards = self.cap is not None
        awards_by_target = []
        points = draws = 0
        for index, schedule in enumerate(self.schedules):
            met = met_by_target[index]
            required = self.required[index]
            # Whether every required target was met at each visit (trivially so without any).
            if not required:
                required_met = met
            elif len(required) == 1:
                required_met = met_by_target[required[0]]
            else:
                every = zip(*(met_by_target[r] for r in required), strict=True)
                required_met = list(map(all, every))
            table = schedule.table
            stride = schedule.stride
            state = 0
            awards = []
            # Results are padded to the longest target; this target stops at its own count.
            visits = zip(met, required_met, self.weeks_of[index], strict=False)
            for met_k, required_k, week in visits:
                result = (_MET if required_k else _MET_UNPAID) if met_k else _NOT_MET
                entry = table.get((state * 3 + result) * stride + week)
                if entry is None:
                    entry = schedule.compute(state, result, week)
                state = entry[0]
                points += entry[1] + entry[2]
                draws += entry[3]
                if keep_awards:
                    awards.append(entry)
            awards_by_target.append(awards)

        slips: list[BowlCategory] = []
        if draws:
            if not self.bowl:
                raise InvalidInput(f"program {self.program.id} awards draws but has no bowl")
            slips = self.rng.choices(self.bowl, cum_weights=self.cum_weights, k=draws)
        if self.cap is None:
            return points * self.point_value + sum(map(_slip_value, slips)), draws, False
        cost, reached = self._within_cap(self.cap, awards_by_target, slips)
        return cost, draws, reached

    def _within_cap(
        self,
        cap: int,
        awards_by_target: list[list[tuple[int, int, int, int]]],
        slips: list[BowlCategory],
    ) -> tuple[int, bool]:
        """Pay the awards in visit order against one cap period: (cost, cap reached)."""
        remaining = cap
        capped = False
        next_slip = 0
        for k in range(self.visits):
            for awards in awards_by_target:
                if k >= len(awards):
                    continue
                _, points, bonus, draws = awards[k]
                if not (points or bonus or draws):
                    continue
                won = slips[next_slip : next_slip + draws]
                next_slip += draws
                value = (points + bonus) * self.point_value + sum(map(_slip_value, won))
                if value > remaining:
                    # Only an award that does not fit needs cutting; one that fits is paid
                    # whole, which is what pay_within_cap returns for it anyway.
                    if remaining < self.smallest_payment:
                        # Nothing of value fits any more: pay_within_cap would pay 0 for
                        # this award and every later one.
                        return cap - remaining, True
                    payout = pay_within_cap(self.program, remaining, points, bonus, won)
                    value = payout.value_cents
                    capped |= payout.capped
                remaining -= value
        cost = cap - remaining
        return cost, capped or cost >= cap
