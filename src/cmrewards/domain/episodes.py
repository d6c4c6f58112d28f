"""Episodes: a person enrolled again after an enrolment ended, and which episode a result is in.

Each enrolment of a pseudonymous id is an *episode* with its own program, start date
and schedule state (docs/design.md section 2, "Episodes"). A new episode starts after
the local date of every result already recorded for the person, so a result's
clinical date alone says which episode it belongs to: the last one whose start is on
or before that date, in the episode's program's zone. No column on the outcomes
records it, and every outcome written before episodes stays in episode 1.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence

import attrs

from .clock import local_date
from .problems import Check, Problem
from .programs import Program
from .records import Episode, OutcomeRecord, Participant
from .refs import Ref, RefKind


@attrs.frozen
class Enrolled:
    """One episode as the rules read it: the person as enrolled then, and its program."""

    person: Participant
    """``number``, ``start`` and ``program_id`` are the episode's (``Episode.as_enrolled``)."""
    program: Program

    @property
    def number(self) -> int:
        return self.person.episode

    def holds(self, at: dt.datetime) -> bool:
        """``at`` is on or after this episode's start, in its program's zone."""
        return local_date(at, self.program.timezone) >= self.person.start


@attrs.frozen
class Episodes:
    """Every episode of one person, in order, each with its program; the last is current."""

    all: tuple[Enrolled, ...]

    @classmethod
    def of(
        cls, person: Participant, past: Sequence[Episode], programs: Mapping[str, Program]
    ) -> Episodes:
        """``person`` (the current episode) after their ``past`` episodes; ``programs`` holds
        each episode's program (``KeyError`` for a missing one)."""
        earlier = [
            Enrolled(e.as_enrolled(person), programs[e.program_id])
            for e in sorted(past, key=lambda e: e.number)
        ]
        return cls((*earlier, Enrolled(person, programs[person.program_id])))

    @classmethod
    def single(cls, person: Participant, program: Program) -> Episodes:
        """A person with one episode: what every first enrolment is."""
        return cls((Enrolled(person, program),))

    @property
    def current(self) -> Enrolled:
        return self.all[-1]

    @property
    def person(self) -> Participant:
        return self.current.person

    def containing(self, at: dt.datetime) -> Enrolled:
        """The episode a result at clinical time ``at`` belongs to: the latest that had
        started (the first, for a time before every start, which recording refuses)."""
        if len(self.all) == 1:  # most people: verify asks for each of their results
            return self.all[0]
        for episode in reversed(self.all[1:]):
            if episode.holds(at):
                return episode
        return self.all[0]

    def of_outcome(self, record: OutcomeRecord) -> Enrolled:
        """The episode ``record`` belongs to, by its clinical time."""
        return self.containing(record.occurred_at)


def episode_problems(episodes: Episodes, outcomes: Iterable[OutcomeRecord]) -> Iterable[Problem]:
    """What contradicts the episode rules in one person's records: episodes numbered 1, 2,
    ... with the current one last, each starting after the one before, the first start
    kept with the current episode, and each outcome recorded under the program of the
    episode its clinical date falls in."""
    person = episodes.person
    who = Ref(RefKind.PARTICIPANT, person.id)
    numbers = [e.number for e in episodes.all]
    if numbers != list(range(1, len(numbers) + 1)):
        yield Problem(
            Check.EPISODES, who, f"{person.id}'s episodes are numbered {numbers}, not 1, 2, ..."
        )
    starts = [e.person.start for e in episodes.all]
    if any(later <= earlier for earlier, later in itertools.pairwise(starts)):
        yield Problem(Check.EPISODES, who, f"{person.id}'s episodes do not start one after another")
    first = starts[0] if len(starts) > 1 else None
    if person.first_start != first:
        yield Problem(
            Check.EPISODES,
            who,
            f"{person.id}'s first start is recorded as {person.first_start}, but their first"
            f" episode started on {first or person.start}",
        )
    for record in outcomes:
        episode = episodes.of_outcome(record)
        if record.program_id != episode.program.id:
            yield Problem(
                Check.EPISODES,
                Ref(RefKind.OUTCOME, record.id),
                f"outcome {record.id} ({person.id} {record.target}) was recorded under"
                f" {record.program_id}, but its date is in episode {episode.number}, in"
                f" {episode.program.id}",
            )
