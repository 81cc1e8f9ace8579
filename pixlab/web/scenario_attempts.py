"""The scenario pages' engine, catalogue and attempts, and what an attempt shows.

A learner plays scenarios as the sandbox's learner (same session, same resume
code), under a local part of their own (`renard-4821-sc`) so that a scenario
never touches their sandbox mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import abort, current_app
from flask_babel import lazy_gettext as _l

from pixlab.client.client import DEFAULT_TIMEOUT
from pixlab.sandbox.store import LearnerInfo
from pixlab.scenarios.attempt import Attempt, QuizAnswer, ScenarioProgress
from pixlab.scenarios.engine import ScenarioEngine, UnknownScenario
from pixlab.scenarios.loader import BrokenScenario, Catalogue, configured_dirs, load_catalogue
from pixlab.scenarios.progress import COMPLETED, GIVEN_UP, PLAYING
from pixlab.scenarios.schema import Question, Scenario, local
from pixlab.web.context import current_lab, required_lab
from pixlab.web.labels import lang
from pixlab.web.learners import current_learner, start_learner

if TYPE_CHECKING:
    pass

ENGINE_KEY = "pixlab.scenario_engine"
LEARNER_SUFFIX = "-sc"  # a scenario's local part: never a sandbox address (animal-1234)
LEVELS = {"novice": _l("Novice"), "indépendant": _l("Indépendant"), "avancé": _l("Avancé"),
          "expert": _l("Expert")}
COMPETENCES = {"1.2": _l("Gérer des données"), "2.1": _l("Interagir"),
               "2.2": _l("Partager et publier"),
               "4.1": _l("Sécuriser l'environnement numérique"),
               "4.2": _l("Protéger les données personnelles et la vie privée"),
               "5.1": _l("Résoudre des problèmes techniques"),
               "5.2": _l("Construire un environnement numérique")}
STATUS_LABELS = {"new": _l("Pas commencé"), PLAYING: _l("En cours"), COMPLETED: _l("Terminé"),
                 GIVEN_UP: _l("Abandonné")}

# -- the engine and the catalogue -----------------------------------------------------


def engine() -> ScenarioEngine:
    """This app's scenario engine, made on first use (the catalogue is read then)."""
    found = current_app.extensions.get(ENGINE_KEY)
    lab = current_lab()
    if found is None:
        if lab is None:
            abort(503)
        dirs = configured_dirs(current_app.config.get("SCENARIOS_DIRS", ()))
        timeout = float(current_app.config.get("SANDBOX_CLIENT_TIMEOUT", DEFAULT_TIMEOUT))
        found = ScenarioEngine(lab, load_catalogue(dirs), client_timeout=timeout)
        found.faults = current_app.extensions.get("pixlab.scenario_faults")  # a workshop's
        current_app.extensions[ENGINE_KEY] = found
    assert isinstance(found, ScenarioEngine)
    return found


def catalogue() -> Catalogue:
    """Every scenario found, playable and broken."""
    return engine().catalogue


def text(value: Any, attempt: Attempt | None = None) -> str:
    """A scenario text in the page's language, the learner's values filled in."""
    result = local(value, lang())
    return attempt.fill(result) if attempt else result


def paragraphs(value: Any, attempt: Attempt | None = None) -> list[str]:
    """A long text cut into its paragraphs (blank lines)."""
    return [p.strip() for p in text(value, attempt).split("\n\n") if p.strip()]


def learner_key(learner: LearnerInfo) -> str:
    """The learner's own local part in scenarios, different from their sandbox address."""
    return learner.address.partition("@")[0] + LEARNER_SUFFIX


def ensure_learner() -> LearnerInfo:
    """The session's learner, started (as in the sandbox) when there is none yet."""
    lab = required_lab()
    return current_learner() or start_learner(lab)


def scenario_or_404(slug: str) -> Scenario:
    """A playable scenario, or 404 (a broken one is for the trainer's view only)."""
    try:
        return engine().scenario(slug)
    except UnknownScenario:
        abort(404)


@dataclass(frozen=True)
class Card:
    """A scenario on the catalogue, with this learner's progress."""

    scenario: Scenario
    status: str  # "new", playing, completed, given-up
    met: int
    total: int
    done_once: bool

    @property
    def status_label(self) -> str:
        """"Pas commencé", "En cours", "Terminé"…"""
        return str(STATUS_LABELS.get(self.status, self.status))


def cards(learner: LearnerInfo | None) -> list[Card]:
    """The playable scenarios in order, each with the learner's progress."""
    progress: Mapping[str, ScenarioProgress] = (
        engine().progress(learner_key(learner)) if learner else {}
    )
    result = []
    for scenario in catalogue().scenarios:
        mine = progress.get(scenario.slug)
        if mine is None:
            result.append(Card(scenario, "new", 0, len(scenario.objectives), False))
        else:
            status = mine.status if mine.status in STATUS_LABELS else "new"
            result.append(Card(scenario, status, mine.objectives_met, mine.objectives_total,
                               mine.completed))
    return result


def level_label(level: str) -> str:
    """A Pix level as the pages say it."""
    return str(LEVELS.get(level, level))


def competence_label(code: str) -> str:
    """"2.1 Interagir"."""
    name = COMPETENCES.get(code)
    return f"{code} {name}" if name else code


def competences_text(scenario: Scenario) -> str:
    """"2.1 Interagir, 4.1 Sécuriser l'environnement numérique"."""
    return ", ".join(competence_label(code) for code in scenario.competences)


# -- the trainer's view ----------------------------------------------------------------


@dataclass(frozen=True)
class FlaggedMistake:
    """A mistake a scenario shows to trainers, and how many attempts made it."""

    scenario: Scenario
    id: str
    text: str
    explanation: str
    attempts: int


def broken_scenarios() -> list[BrokenScenario]:
    """The files that cannot be played, with their problems."""
    return list(catalogue().broken)


def problem_file(broken: BrokenScenario) -> str:
    """The broken file's name as a trainer finds it in their folder."""
    return broken.path.name


def flagged_mistakes(limit: int = 500) -> list[FlaggedMistake]:
    """The mistakes flagged for trainers, with how many recent attempts made each."""
    eng = engine()
    counts: dict[tuple[str, str], int] = {}
    for row in eng.attempts.summaries()[-limit:]:
        record = eng.attempts.get(row.id)
        for mistake_id in record.state.mistakes if record else ():
            counts[(row.slug, mistake_id)] = counts.get((row.slug, mistake_id), 0) + 1
    return [
        FlaggedMistake(s, m.id, text(m.text), text(m.explanation), counts.get((s.slug, m.id), 0))
        for s in catalogue().scenarios for m in s.mistakes if m.trainer
    ]


# -- attempts ---------------------------------------------------------------------------


def latest_attempt(learner: LearnerInfo | None, slug: str) -> Attempt | None:
    """The learner's latest attempt at a scenario, if any."""
    return engine().latest(learner_key(learner), slug) if learner else None


def current_attempt(slug: str) -> tuple[LearnerInfo, Attempt]:
    """The session learner's latest attempt at a scenario, or 404 when they have none."""
    scenario_or_404(slug)
    learner = current_learner()
    attempt = latest_attempt(learner, slug)
    if learner is None or attempt is None:
        abort(404)
    return learner, attempt


def refresh(attempt: Attempt) -> tuple[Attempt, tuple[str, ...]]:
    """Arrivals and late events judged now; the attempt and the objectives newly met."""
    outcome = engine().refresh(attempt.id)
    return outcome.attempt, outcome.newly_met


# -- objectives, hints, quiz ---------------------------------------------------------------


@dataclass(frozen=True)
class ObjectiveRow:
    """An objective and whether it is met."""

    id: str
    text: str
    met: bool


@dataclass(frozen=True)
class MistakeRow:
    """A mistake the learner made, with why it matters."""

    text: str
    explanation: str
    count: int


def objectives(scenario: Scenario, attempt: Attempt) -> list[ObjectiveRow]:
    """The scenario's objectives, met or not yet."""
    return [ObjectiveRow(o.id, text(o.text, attempt), o.id in attempt.met)
            for o in scenario.objectives]


def mistakes(scenario: Scenario, attempt: Attempt) -> list[MistakeRow]:
    """The mistakes the learner made in this attempt."""
    known = {m.id: m for m in scenario.mistakes}
    return [MistakeRow(text(known[m.id].text, attempt), text(known[m.id].explanation, attempt),
                       m.count) for m in attempt.mistakes if m.id in known]


def hints(attempt: Attempt) -> list[str]:
    """The hints revealed so far."""
    return [text(h, attempt) for h in engine().hints(attempt.id)]


@dataclass
class QuizItem:
    """A question of the quiz, and the learner's answer once given."""

    question: Question
    text: str
    choices: list[tuple[int, str, bool]]  # number from 1, text, correct
    answer: QuizAnswer | None
    explanation: str
    errors: list[str] = field(default_factory=list)

    @property
    def multiple(self) -> bool:
        """Whether several answers may be ticked."""
        return self.question.kind == "multiple"


def quiz(scenario: Scenario, attempt: Attempt) -> list[QuizItem]:
    """The debrief's quiz with the answers given so far."""
    given = engine().answers(attempt.id)
    return [QuizItem(q, text(q.question, attempt),
                     [(n, text(c.text, attempt), c.correct) for n, c in enumerate(q.choices, 1)],
                     given.get(q.id), text(q.explanation, attempt))
            for q in scenario.quiz]


def answer(attempt: Attempt, question_id: str, chosen: list[str]) -> bool:
    """Keep an answer; False when nothing valid was chosen (or no such question)."""
    numbers = [int(c) for c in chosen if c.isdigit()]
    if not numbers:
        return False
    try:
        engine().answer(attempt.id, question_id, numbers)
    except KeyError:
        abort(404)
    return True


def finished(attempt: Attempt) -> bool:
    """Whether the debrief and the quiz are shown (completed or given up)."""
    return attempt.status in (COMPLETED, GIVEN_UP)


def minutes(attempt: Attempt) -> int:
    """How many minutes the attempt took, at least one."""
    return max(1, round(attempt.seconds() / 60))
