"""The class in the room: one row per learner, one cell per scenario, the class's mistakes,
and the export.

Everything comes from the scenario engine's attempts: the objectives met, the
mistakes the engine matched (the very list the learner's own feedback shows),
and the journal of their operations with the error catalogue's key of each
failure. One source.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from pixlab.client.errors import CATALOGUE
from pixlab.db import EventRow
from pixlab.scenarios.engine import ScenarioEngine, UnknownScenario
from pixlab.scenarios.progress import COMPLETED, GIVEN_UP, PLAYING, AttemptState
from pixlab.scenarios.schema import Scenario, local
from pixlab.workshops.service import Member, WorkshopInfo, members, pseudonym_key

STUCK_FAILURES = 5  # failed tests in a row that make a learner "stuck"
# Learner-level states, in the order the class view sorts them: the stuck first.
STUCK, PLAYING_STATE, NEW, DONE, GAVE_UP = "stuck", "playing", "new", "done", "given-up"
ORDER = {STUCK: 0, PLAYING_STATE: 1, GAVE_UP: 2, NEW: 3, DONE: 4}

@dataclass
class Cell:
    """One learner at one scenario."""

    slug: str
    state: str = NEW  # new, playing, stuck, done, given-up
    attempts: int = 0
    met: int = 0
    total: int = 0
    hints: int = 0
    seconds: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    mistakes: list[str] = field(default_factory=list)  # the engine's mistake ids
    errors: list[str] = field(default_factory=list)  # the error catalogue's keys seen
    attempt_id: int | None = None


@dataclass
class Row:
    """A learner's line in the class view."""

    member: Member
    cells: list[Cell]
    real_program: bool = False

    @property
    def state(self) -> str:
        """The learner's state as a whole: stuck anywhere, else playing, … done everywhere."""
        states = {c.state for c in self.cells}
        for state in (STUCK, PLAYING_STATE):
            if state in states:
                return state
        if self.cells and states == {DONE}:
            return DONE
        if states - {NEW}:
            return GAVE_UP if GAVE_UP in states and DONE not in states else PLAYING_STATE
        return NEW


@dataclass(frozen=True)
class ClassMistake:
    """A kind of mistake in one scenario, how many learners made it, and what to say."""

    slug: str
    kind: str  # "mistake" (the scenario's) or "error" (the error catalogue's)
    key: str
    text: str
    explanation: str
    learners: int


@dataclass
class ClassView:
    """Everything the class view shows."""

    workshop: WorkshopInfo
    scenarios: list[Scenario]
    rows: list[Row]
    mistakes: dict[str, list[ClassMistake]]

    @property
    def counts(self) -> dict[str, int]:
        """Joined, playing, done, stuck."""
        states = [r.state for r in self.rows]
        return {"joined": len(self.rows), "playing": states.count(PLAYING_STATE),
                "done": states.count(DONE), "stuck": states.count(STUCK)}


def scenarios_of(scenario_engine: ScenarioEngine, workshop: WorkshopInfo) -> list[Scenario]:
    """The workshop's scenarios that are still playable, in order."""
    found = []
    for slug in workshop.slugs:
        try:
            found.append(scenario_engine.scenario(slug))
        except UnknownScenario:
            continue
    return found


def _failed_in_a_row(journal: Iterable[dict[str, Any]]) -> int:
    count = 0
    for entry in reversed(list(journal)):
        if not str(entry.get("operation", "")).startswith("test"):
            continue
        if entry.get("ok"):
            break
        count += 1
    return count


def _cell(slug: str, attempts: list[Any], stuck_seconds: float, now: float) -> Cell:
    cell = Cell(slug)
    if not attempts:
        return cell
    latest = attempts[-1]
    kept_states = [AttemptState.from_json(row.state) for row in attempts]  # read once each
    state = kept_states[-1]
    cell.attempts, cell.attempt_id = len(attempts), latest.id
    cell.met, cell.total = latest.objectives_met, latest.objectives_total
    cell.hints, cell.started_at = latest.hints_used, latest.started_at
    cell.ended_at = latest.ended_at
    cell.seconds = max(0.0, (latest.ended_at or now) - latest.started_at)
    for kept in kept_states:  # every attempt's mistakes count: they made them
        cell.mistakes.extend(m for m in kept.mistakes if m not in cell.mistakes)
        cell.errors.extend(e["error"] for e in kept.journal
                           if e.get("error") and e["error"] not in cell.errors)
    if any(r.status == COMPLETED for r in attempts):
        cell.state = DONE
    elif latest.status == PLAYING:
        progress = max([latest.started_at, *state.met.values()])
        stuck = now - progress >= stuck_seconds or _failed_in_a_row(state.journal) >= STUCK_FAILURES
        cell.state = STUCK if stuck else PLAYING_STATE
    elif latest.status == GIVEN_UP:
        cell.state = GAVE_UP
    return cell


def class_view(engine: Engine, scenario_engine: ScenarioEngine, workshop: WorkshopInfo,
               key_of: Callable[[str], str], lang: str = "fr",
               now: float | None = None) -> ClassView:
    """The class as it is now; `key_of(address)` is a learner's key in the scenario engine.

    A constant number of queries whatever the class's size: the members, every
    member's attempts at once, and the real programs' logins. A trainer's screen
    polls it every few seconds while 60 pupils test.
    """
    now = time.time() if now is None else now
    scenarios = scenarios_of(scenario_engine, workshop)
    people = members(engine, workshop.id)
    attempts = attempts_of(scenario_engine, people, key_of)
    real = real_program_learners(engine, people, attempts)
    rows = []
    for member in people:
        mine = attempts.get(member.learner_id, [])
        cells = [_cell(s.slug, [a for a in mine if a.slug == s.slug],
                       workshop.stuck_minutes * 60, now) for s in scenarios]
        rows.append(Row(member, cells, member.learner_id in real))
    return ClassView(workshop, scenarios, rows, class_mistakes(scenarios, rows, lang))


def attempts_of(scenario_engine: ScenarioEngine, people: list[Member],
                key_of: Callable[[str], str]) -> dict[int, list[Any]]:
    """Each member's attempts (oldest first), by learner id, in one query."""
    owner = {key_of(m.address): m.learner_id for m in people}
    found: dict[int, list[Any]] = {m.learner_id: [] for m in people}
    for row in scenario_engine.attempts.summaries(learners=list(owner)):
        found[owner[row.learner]].append(row)
    return found


def sort_rows(rows: list[Row], by: str) -> list[Row]:
    """The rows sorted by state (the stuck first) or by pseudonym."""
    if by == "pseudonyme":
        return sorted(rows, key=lambda r: pseudonym_key(r.member.pseudonym))
    return sorted(rows, key=lambda r: (ORDER.get(r.state, 9), pseudonym_key(r.member.pseudonym)))


def class_mistakes(scenarios: list[Scenario], rows: list[Row],
                   lang: str) -> dict[str, list[ClassMistake]]:
    """Per scenario: each kind of mistake, how many learners made it, most frequent first."""
    result: dict[str, list[ClassMistake]] = {}
    for index, scenario in enumerate(scenarios):
        known = {m.id: m for m in scenario.mistakes}
        counts: dict[tuple[str, str], int] = {}
        for row in rows:
            cell = row.cells[index]
            for mistake_id in cell.mistakes:
                if mistake_id in known:
                    counts[("mistake", mistake_id)] = counts.get(("mistake", mistake_id), 0) + 1
            for key in cell.errors:
                if key in CATALOGUE:
                    counts[("error", key)] = counts.get(("error", key), 0) + 1
        found = []
        for (kind, key), learners in counts.items():
            if kind == "mistake":
                mistake = known[key]
                found.append(ClassMistake(scenario.slug, kind, key, local(mistake.text, lang),
                                          local(mistake.explanation, lang), learners))
            else:
                entry = CATALOGUE[key]
                found.append(ClassMistake(
                    scenario.slug, kind, key, entry.explanation.get(lang, entry.explanation["fr"]),
                    entry.hint.get(lang, entry.hint["fr"]), learners))
        found.sort(key=lambda m: (-m.learners, m.kind != "mistake", m.text))
        result[scenario.slug] = found
    return result


def real_program_learners(engine: Engine, people: list[Member],
                          attempts: dict[int, list[Any]]) -> set[int]:
    """The learners whose account a real mail program logged into (not PixLab's client).

    The tap marks each connection it accepts: `program` unless PixLab's own client
    announced it (`tap.expect_own_client`). A login on such a connection came from
    a real program. One query: the logins to the learners' addresses (their
    sandbox one and each attempt's) on connections opened by a program.
    """
    by_address: dict[str, int] = {}
    for member in people:
        by_address[member.address.lower()] = member.learner_id
        for row in attempts.get(member.learner_id, []):
            by_address[row.address.lower()] = member.learner_id
    if not by_address:
        return set()
    opened = aliased(EventRow)
    with engine.connect() as conn:
        logins = conn.execute(
            select(EventRow.account).distinct()
            .join(opened, opened.connection_id == EventRow.connection_id)
            .where(EventRow.kind == "auth.succeeded", EventRow.account.in_(list(by_address)),
                   opened.kind == "connection.opened",
                   opened.data.contains('"program": true'))
        ).scalars().all()
    return {by_address[a] for a in logins if a in by_address}


# -- the export ---------------------------------------------------------------------------------

EXPORT_COLUMNS = ("pseudonyme", "scénario", "statut", "objectifs", "erreurs", "indices",
                  "tentatives", "durée", "début", "fin")
STATE_WORDS = {NEW: "pas commencé", PLAYING_STATE: "en cours", STUCK: "bloqué",
               DONE: "terminé", GAVE_UP: "abandonné"}
_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def _local_time(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    total = int(round(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def export_rows(view: ClassView) -> list[dict[str, Any]]:
    """One record per learner × scenario, as the CSV and the JSON give them."""
    records = []
    for row in view.rows:
        for scenario, cell in zip(view.scenarios, row.cells, strict=True):
            records.append({
                "pseudonyme": row.member.pseudonym, "scénario": scenario.slug,
                "statut": STATE_WORDS.get(cell.state, cell.state),
                "objectifs": f"{cell.met} / {cell.total or len(scenario.objectives)}",
                "erreurs": ", ".join([*cell.mistakes, *cell.errors]),
                "indices": cell.hints, "tentatives": cell.attempts,
                "durée": _duration(cell.seconds) if cell.attempts else "",
                "début": _local_time(cell.started_at), "fin": _local_time(cell.ended_at),
            })
    return records


def neutralise(value: Any) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    text = str(value)
    return "'" + text if text.startswith(_DANGEROUS) else text


def export_csv(view: ClassView) -> bytes:
    """The export for a French spreadsheet: `;`, UTF-8 with BOM, CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for record in export_rows(view):
        writer.writerow([neutralise(record[c]) for c in EXPORT_COLUMNS])
    return out.getvalue().encode("utf-8-sig")


def export_json(view: ClassView) -> dict[str, Any]:
    """The same data as JSON, with the workshop's name and when it was exported."""
    return {"atelier": view.workshop.name, "exporté": _local_time(time.time()),
            "lignes": export_rows(view)}

