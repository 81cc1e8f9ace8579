"""An attempt as the pages see it, its devices, and what one operation did.

The engine makes these from an attempt's record; pages and tests read them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pixlab.client.settings import missing
from pixlab.client.trace import Trace
from pixlab.scenarios.progress import COMPLETED, PLAYING
from pixlab.scenarios.schema import Text, fill


@dataclass(frozen=True)
class MistakeSeen:
    """A mistake the learner made: first when, how often, and what proved it."""

    id: str
    first_at: float
    count: int
    proof: dict[str, Any]


@dataclass(frozen=True)
class QuizAnswer:
    """A learner's answer to a quiz question."""

    question: str
    choices: tuple[int, ...]
    correct: bool
    right_choices: tuple[int, ...]
    explanation: Text


@dataclass(frozen=True)
class Attempt:
    """An attempt as the pages show it."""

    id: int
    learner: str
    slug: str
    lang: str
    status: str
    address: str
    password: str
    started_at: float
    ended_at: float | None
    hints_used: int
    met: Mapping[str, float]
    proofs: Mapping[str, dict[str, Any]]
    mistakes: tuple[MistakeSeen, ...]
    quiz: Mapping[str, dict[str, Any]]
    journal: tuple[dict[str, Any], ...]
    values: Mapping[str, str] = field(repr=False)

    @property
    def playing(self) -> bool:
        """Whether the learner is still at it."""
        return self.status == PLAYING

    @property
    def completed(self) -> bool:
        """Whether every objective was met."""
        return self.status == COMPLETED

    def seconds(self, now: float | None = None) -> float:
        """How long the attempt took (so far)."""
        end = self.ended_at if self.ended_at is not None else (now or time.time())
        return max(0.0, end - self.started_at)

    def fill(self, text: str) -> str:
        """A text of the scenario with this learner's {address}, {password}, … filled in."""
        return fill(text, dict(self.values))


@dataclass(frozen=True)
class DeviceView:
    """A device of an attempt: its settings now, and which ones the learner may change."""

    id: str
    kind: str
    name: Text
    settings: Mapping[str, Any]
    editable: frozenset[str]
    program: str = ""  # the mail program it imitates ("": Thunderbird)

    def missing(self, side: str) -> list[str]:
        """The settings one side ("incoming", "outgoing") still needs."""
        return missing(self.settings, side)


@dataclass(frozen=True)
class Outcome:
    """What an operation or a refresh changed."""

    attempt: Attempt
    newly_met: tuple[str, ...] = ()
    new_mistakes: tuple[str, ...] = ()  # mistakes seen now, new or made again
    arrived: tuple[int, ...] = ()  # arrivals delivered now (their index, from 1)
    trace: Trace | None = None


@dataclass(frozen=True)
class ScenarioProgress:
    """A learner's progress at one scenario, for the catalogue."""

    slug: str
    attempts: int
    completed: bool  # at least once
    status: str  # of the latest attempt
    objectives_met: int  # in the latest attempt
    objectives_total: int
    best_seconds: float | None  # the quickest completed attempt
