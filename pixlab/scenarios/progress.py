"""Progress in the database: one row per attempt, updated safely by any number of workers.

An update reads the row, lets the engine change it in memory, and writes it
back only if nobody else wrote in between (`version` unchanged); otherwise it
reads again and replays the change. No lock is held while the engine works,
and nothing assumes a single process.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, bindparam, insert, select, update

from pixlab.db import DriverStatement, ScenarioAttempt

T = TypeVar("T")

PLAYING, COMPLETED, GIVEN_UP, REPLACED = "playing", "completed", "given-up", "replaced"
STATUSES = (PLAYING, COMPLETED, GIVEN_UP, REPLACED)
JOURNAL_LENGTH = 60  # the latest operations kept for the player and the trainer


class ConcurrentUpdate(RuntimeError):
    """An attempt changed under us too many times in a row."""


@dataclass
class AttemptState:
    """What the engine keeps about an attempt while it lives (stored as JSON)."""

    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # settings per device
    met: dict[str, float] = field(default_factory=dict)  # objective id -> when
    mistakes: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> first_at, count…
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # matcher key -> device -> n
    arrivals: dict[str, dict[str, Any]] = field(default_factory=dict)  # index -> status, due_at…
    connections: dict[str, list[Any]] = field(default_factory=dict)  # id -> [device, last event]
    quiz: dict[str, dict[str, Any]] = field(default_factory=dict)  # question id -> answer
    proofs: dict[str, dict[str, Any]] = field(default_factory=dict)  # objective id -> its proof
    journal: list[dict[str, Any]] = field(default_factory=list)  # the latest facts, newest last
    # A device's own storage as last reported: device -> local folder -> subjects.
    storage: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    downloaded: dict[str, list[str]] = field(default_factory=dict)  # device -> POP3 UIDs fetched
    forgotten: dict[str, list[str]] = field(default_factory=dict)  # device -> UIDs it forgot
    programs_seen: int = 0  # the last login event looked at for real programs
    # The password before a trainer's « password changed » fault, given back when it ends.
    password_before_fault: str = ""

    def to_json(self) -> str:
        """The JSON document stored in the row.

        The same document `asdict` would give, without its deep copy of every
        nested dict and list first (ten times the cost of the dump itself, and
        every update of an attempt dumps it three times).
        """
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return json.dumps(fields, ensure_ascii=False, default=_plain)

    @classmethod
    def from_json(cls, text: str) -> AttemptState:
        """Read the stored document (unknown keys from a newer PixLab are ignored)."""
        data = json.loads(text or "{}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _plain(value: Any) -> Any:
    """What `asdict` then `default=str` made of a value JSON cannot write."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return str(value)


@dataclass
class AttemptRecord:
    """An attempt as read from the database; the engine changes it inside `update`."""

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
    version: int
    state: AttemptState

    @property
    def playing(self) -> bool:
        """Whether the attempt still counts what the learner does."""
        return self.status == PLAYING


def _record(row: Sequence[Any]) -> AttemptRecord:
    """An attempt from a row of `_COLUMNS`, in their order."""
    (attempt_id, learner, slug, lang, status, address, password, started_at, ended_at,
     hints_used, version, state) = row
    return AttemptRecord(attempt_id, learner, slug, lang, status, address, password,
                         started_at, ended_at, hints_used, version,
                         AttemptState.from_json(state))


_COLUMNS = (
    ScenarioAttempt.id, ScenarioAttempt.learner, ScenarioAttempt.slug, ScenarioAttempt.lang,
    ScenarioAttempt.status, ScenarioAttempt.address, ScenarioAttempt.password,
    ScenarioAttempt.started_at, ScenarioAttempt.ended_at, ScenarioAttempt.hints_used,
    ScenarioAttempt.version, ScenarioAttempt.state,
)
# An attempt is read a dozen times for each page of the player and each « Tester » (the
# engine reads it afresh before each step, to see what another request wrote): on the
# driver's cursor, a read costs a tenth of the same read through a Core connection.
_READ_BY_ID = DriverStatement(select(*_COLUMNS).where(ScenarioAttempt.id == bindparam("b_id")))
_READ_LATEST = DriverStatement(
    select(*_COLUMNS)
    .where(ScenarioAttempt.learner == bindparam("b_learner"),
           ScenarioAttempt.slug == bindparam("b_slug"))
    .order_by(ScenarioAttempt.id.desc())
    .limit(1)
)


# The attempts' rows read during the current web request (None outside one): see `one_request`.
_READ_IN_REQUEST: ContextVar[dict[int, Sequence[Any]] | None] = ContextVar(
    "pixlab_attempts_read_in_request", default=None)


def begin_request() -> None:
    """From here until `end_request`, an attempt read once is not read again unless written.

    The player's page asks the engine a dozen questions (its devices, its
    hints, its quiz, …), and each helper read the attempt afresh: on
    PostgreSQL, sixteen round trips for the same row. A page is one view of
    the attempt. What this request writes through `AttemptStore.update` is read
    back. A write never rests on a stale row: `update` writes only if the
    attempt's `version` is still the one it read, and after a conflict it
    reads the row from the database (what another request or process wrote).
    """
    _READ_IN_REQUEST.set({})


def end_request() -> None:
    """The request is over: the next read goes to the database again."""
    _READ_IN_REQUEST.set(None)


def _fingerprint(record: AttemptRecord) -> tuple[Any, ...]:
    return (record.status, record.ended_at, record.hints_used, record.password,
            record.state.to_json())


class AttemptStore:
    """Attempts in the PixLab database."""

    MAX_RETRIES = 20

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def retire(self, address: str, at: float) -> None:
        """End every live attempt on an address: a new one is about to reset its mailbox."""
        with self.engine.begin() as conn:
            self._retire(conn, address, at)

    @staticmethod
    def _retire(conn: Any, address: str, at: float) -> None:
        if _READ_IN_REQUEST.get() is not None:
            _READ_IN_REQUEST.set({})  # attempts on that address end: read them again
        conn.execute(
            update(ScenarioAttempt)
            .where(ScenarioAttempt.address == address, ScenarioAttempt.status == PLAYING)
            .values(status=REPLACED, ended_at=at, version=ScenarioAttempt.version + 1)
        )

    def create(self, record: AttemptRecord, objectives_total: int) -> AttemptRecord:
        """Store a new attempt; any other live attempt on the same address is replaced."""
        with self.engine.begin() as conn:
            self._retire(conn, record.address, record.started_at)
            attempt_id = conn.execute(
                insert(ScenarioAttempt).returning(ScenarioAttempt.id).values(
                    learner=record.learner, slug=record.slug, lang=record.lang,
                    status=record.status, address=record.address, password=record.password,
                    started_at=record.started_at, ended_at=None, objectives_met=0,
                    objectives_total=objectives_total, mistakes_made=0, hints_used=0,
                    quiz_correct=0, quiz_answered=0, version=0, state=record.state.to_json(),
                )
            ).scalar_one()
        created = self.get(attempt_id)
        assert created is not None
        return created

    def get(self, attempt_id: int) -> AttemptRecord | None:
        """An attempt by id (read once per web request, see `begin_request`)."""
        read = _READ_IN_REQUEST.get()
        row = read.get(attempt_id) if read is not None else None
        if row is None:
            row = self._read(attempt_id)
        return _record(row) if row is not None else None

    def _fresh(self, attempt_id: int) -> AttemptRecord | None:
        row = self._read(attempt_id)
        return _record(row) if row is not None else None

    def _read(self, attempt_id: int) -> Sequence[Any] | None:
        # From the database; kept for the rest of the request, if in one.
        rows = _READ_BY_ID.rows(self.engine, b_id=attempt_id)
        read = _READ_IN_REQUEST.get()
        if read is not None:
            if rows:
                read[attempt_id] = rows[0]
            else:
                read.pop(attempt_id, None)
        return rows[0] if rows else None

    def latest(self, learner: str, slug: str) -> AttemptRecord | None:
        """A learner's latest attempt at a scenario."""
        rows = _READ_LATEST.rows(self.engine, b_learner=learner, b_slug=slug)
        return _record(rows[0]) if rows else None

    def summaries(self, learner: str | None = None, slug: str | None = None,
                  learners: Collection[str] | None = None) -> list[Any]:
        """The counted columns of attempts (for catalogues and trainers), oldest first.

        `learners` gives several learners' attempts in one query (a class view).
        """
        query = select(ScenarioAttempt.__table__).order_by(ScenarioAttempt.id)  # type: ignore[arg-type]
        if learner is not None:
            query = query.where(ScenarioAttempt.learner == learner)
        if learners is not None:
            if not learners:
                return []
            query = query.where(ScenarioAttempt.learner.in_(sorted(learners)))
        if slug is not None:
            query = query.where(ScenarioAttempt.slug == slug)
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    def update(self, attempt_id: int, change: Callable[[AttemptRecord], T]) -> T:
        """Apply `change` to the attempt and store it, replaying it if someone wrote meanwhile.

        Raises:
            KeyError: no such attempt.
            ConcurrentUpdate: the attempt kept changing under us.
        """
        for retry in range(self.MAX_RETRIES):
            # What this request read, first; after a conflict, the row as it is now.
            record = self.get(attempt_id) if not retry else self._fresh(attempt_id)
            if record is None:
                raise KeyError(attempt_id)
            before = _fingerprint(record)
            result = change(record)
            if _fingerprint(record) == before:
                return result  # nothing to write: a poll that found nothing new costs one read
            state = record.state
            with self.engine.begin() as conn:
                written = conn.execute(
                    update(ScenarioAttempt)
                    .where(ScenarioAttempt.id == attempt_id,
                           ScenarioAttempt.version == record.version)
                    .values(
                        status=record.status,
                        password=record.password,
                        ended_at=record.ended_at,
                        hints_used=record.hints_used,
                        objectives_met=len(state.met),
                        mistakes_made=sum(m["count"] for m in state.mistakes.values()),
                        quiz_answered=len(state.quiz),
                        quiz_correct=sum(1 for a in state.quiz.values() if a["correct"]),
                        version=record.version + 1,
                        state=state.to_json(),
                    )
                ).rowcount
            read = _READ_IN_REQUEST.get()
            if read is not None:
                read.pop(attempt_id, None)  # the next read sees what was just written
            if written:
                return result
        raise ConcurrentUpdate(f"attempt {attempt_id} kept changing")
