"""The scenario engine: attempts, a fresh world each, objectives judged live, progress kept.

A page (or a test) drives one attempt like this:

    attempt = engine.start("renard-4821", "mon-scenario", lang="fr")
    engine.change_settings(attempt.id, "ordinateur", {"incoming.port": 993})
    outcome = engine.run(attempt.id, "ordinateur", "test_incoming")
    outcome.newly_met, outcome.new_mistakes, outcome.trace      # what to show now
    engine.refresh(attempt.id)       # on a poll: arrivals, late events, mailbox states
    engine.reveal_hint(attempt.id); engine.answer(attempt.id, "q1", [2]); engine.give_up(…)

Every judgement comes from what the lab and the client really saw: the
events the lab recorded on the connections of the learner's devices (and of
the lab's own deliveries), the traces of the client's operations, and the
learner's mailbox as it is now. The engine never branches on a scenario's
name: everything it does is read from the scenario's file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import email.utils
import json
import re
import secrets
import smtplib
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select

from pixlab.client.client import DEFAULT_TIMEOUT, LocalMail, MailClient
from pixlab.client.network import LabNetwork
from pixlab.client.trace import Trace
from pixlab.db import EventRow
from pixlab.lab.events import Event
from pixlab.lab.runner import Lab
from pixlab.lab.store import DEFAULT_FOLDERS, StoreError
from pixlab.lab.world import World
from pixlab.scenarios.loader import Catalogue
from pixlab.scenarios.matchers import (
    EventFact,
    Fact,
    TraceFact,
    describe,
    downloaded_uids,
    matches,
    matches_storage,
)
from pixlab.scenarios.progress import (
    COMPLETED,
    GIVEN_UP,
    JOURNAL_LENGTH,
    PLAYING,
    AttemptRecord,
    AttemptState,
    AttemptStore,
)
from pixlab.scenarios.schema import (
    LAB_DEVICE,
    PROGRAM_DEVICE,
    ArrivalSpec,
    DeviceSpec,
    Matcher,
    Question,
    Scenario,
    Text,
    fill,
    local,
)
from pixlab.scenarios.settings import (
    SettingError,
    Settings,
    account_settings,
    coerce,
    expand_editable,
    missing,
    starting_settings,
)
from pixlab.scenarios.world import build_message, names_of, world_of

LEARNER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,38}[a-z0-9])?$")
UNLIMITED_QUOTA = 2**31 - 1  # while seeding: a scenario may start with a mailbox over its quota
CONTACT_KEEPS = 200  # messages kept in a shared contact's inbox; older ones go
ACTIONS = ("test_incoming", "test_outgoing", "fetch", "list", "read", "move", "delete", "send",
           "archive", "create_folder")
STORAGE_KEEPS = 200  # subjects kept per local folder of a device, to judge storage matchers
_WORDS = ("Cartable", "Trousse", "Compas", "Cahier", "Classeur", "Agenda", "Crayon", "Gomme")
_TAIL = "abcdefghjkmnpqrstuvwxyz23456789"


class UnknownScenario(KeyError):
    """No playable scenario has that slug."""


class IncompleteSettings(ValueError):
    """A device's settings miss what an operation needs."""

    def __init__(self, device: str, side: str, fields: list[str]) -> None:
        super().__init__(f"{device}: {side} needs {', '.join(fields)}")
        self.device, self.side, self.fields = device, side, fields


def new_password() -> str:
    """A lab password easy to copy from a sheet: "Trousse-k7qm4x"."""
    return secrets.choice(_WORDS) + "-" + "".join(secrets.choice(_TAIL) for _ in range(6))


# -- what the pages get ----------------------------------------------------------------


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


class MemoryLocalMail:
    """A device's storage in memory (the walkthroughs' devices; pages keep theirs in the DB).

    `messages` holds the latest download of each server UID; `folders` every copy
    kept on the device, by local folder, doubles included.
    """

    def __init__(self) -> None:
        self.messages: dict[str, bytes] = {}
        self.when: dict[str, float] = {}
        self.deleted: set[str] = set()
        self.folders: dict[str, list[bytes]] = {}

    def known_uids(self) -> set[str]:
        """The server UIDs already downloaded."""
        return set(self.messages)

    def keep(self, uid: str, raw: bytes) -> None:
        """Store a downloaded message."""
        self.messages[uid] = raw
        self.when.setdefault(uid, time.time())
        self.folders.setdefault("INBOX", []).append(raw)

    def keep_copy(self, folder: str, raw: bytes) -> None:
        """Keep a message in a local folder (an archive on this device)."""
        self.folders.setdefault(folder, []).append(raw)

    def local_folders(self) -> dict[str, list[bytes]]:
        """Every local folder and the messages it holds."""
        return {name: list(raws) for name, raws in self.folders.items()}

    def downloaded_at(self, uid: str) -> float | None:
        """When a message was downloaded."""
        return self.when.get(uid)

    def deleted_here(self) -> set[str]:
        """UIDs deleted on this device."""
        return set(self.deleted)


class _Forgetful:
    """A device's storage as its reinstalled mail program sees it: some UIDs forgotten."""

    def __init__(self, local: LocalMail, forgotten: set[str]) -> None:
        self.local = local
        self.forgotten = forgotten

    def known_uids(self) -> set[str]:
        return self.local.known_uids() - self.forgotten

    def keep(self, uid: str, raw: bytes) -> None:
        self.local.keep(uid, raw)

    def downloaded_at(self, uid: str) -> float | None:
        return None if uid in self.forgotten else self.local.downloaded_at(uid)

    def deleted_here(self) -> set[str]:
        return self.local.deleted_here() - self.forgotten


def storage_subjects(local: Any) -> dict[str, list[str]]:
    """A device's storage as storage matchers see it: local folder -> subjects of its messages.

    The storage gives `local_folders()` (folder -> raw messages), or, as the pages'
    `LocalMailbox` does, `counts()` and `messages(folder)` (items with `raw`).
    """
    if hasattr(local, "local_folders"):
        folders: dict[str, list[bytes]] = local.local_folders()
    elif hasattr(local, "counts") and hasattr(local, "messages"):
        folders = {name: [m.raw for m in local.messages(name)] for name in local.counts()}
    else:
        return {}
    return {name: [_subject(raw) for raw in raws[-STORAGE_KEEPS:]]
            for name, raws in folders.items()}


class _DeliverySMTP(smtplib.SMTP):
    """smtplib on a socket already connected to the lab's port 25."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.sock = sock
        code, message = self.getreply()
        if code != 220:
            raise smtplib.SMTPConnectError(code, message)


# -- the engine ------------------------------------------------------------------------


class ScenarioEngine:
    """Plays scenarios on a running lab and keeps every learner's progress."""

    def __init__(
        self,
        lab: Lab,
        catalogue: Catalogue,
        *,
        engine: Engine | None = None,
        clock: Callable[[], float] = time.time,
        client_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.lab = lab
        self.catalogue = catalogue
        self.attempts = AttemptStore(engine or lab.engine)
        self.clock = clock
        self.client_timeout = client_timeout

    # -- scenarios and attempts ------------------------------------------------------

    def scenario(self, slug: str) -> Scenario:
        """A playable scenario.

        Raises:
            UnknownScenario: none with that slug (or it is broken).
        """
        scenario = self.catalogue.get(slug)
        if scenario is None:
            raise UnknownScenario(slug)
        return scenario

    def start(self, learner: str, slug: str, lang: str = "fr") -> Attempt:
        """A fresh attempt: the learner's mailbox reset to the seed, devices as the file says.

        `learner` is the learner's own local part, unique to them and different
        from any other account of theirs (a sandbox address's local part is not).

        Raises:
            UnknownScenario: no playable scenario has that slug.
            ValueError: `learner` cannot be a mail local part.
        """
        scenario = self.scenario(slug)
        if not LEARNER_RE.match(learner):
            raise ValueError(f"not a local part for a learner: {learner!r}")
        values = {"learner": learner, "domain": scenario.lab.domains[0].lower()}
        values["address"] = fill(scenario.lab.address_template, values).lower()
        values["password"] = new_password()
        now = self.clock()
        # An older attempt on this address stops first, so nothing of it lands in the new one.
        self.attempts.retire(values["address"], now)
        self._reset_mailbox(scenario, values, lang, now)
        self._prepare_contacts(scenario)
        self.lab.lockouts.unlock(values["address"])
        state = AttemptState(
            devices={d.id: starting_settings(d, values) for d in scenario.devices},
            arrivals={
                str(n): {"status": "waiting", "tries": 0,
                         "due_at": None if a.after is not None else now + a.after_seconds}
                for n, a in enumerate(scenario.lab.arrivals, 1)
            },
        )
        record = AttemptRecord(0, learner, slug, lang, PLAYING, values["address"],
                               values["password"], now, None, 0, 0, state)
        created = self.attempts.create(record, len(scenario.objectives))
        return self.refresh(created.id).attempt

    def retry(self, attempt_id: int) -> Attempt:
        """Start the same scenario afresh for the same learner."""
        record = self._record(attempt_id)
        return self.start(record.learner, record.slug, record.lang)

    def get(self, attempt_id: int) -> Attempt:
        """An attempt by id.

        Raises:
            KeyError: no such attempt.
        """
        return self._view(self._record(attempt_id))

    def latest(self, learner: str, slug: str) -> Attempt | None:
        """A learner's latest attempt at a scenario, if any."""
        record = self.attempts.latest(learner, slug)
        return self._view(record) if record else None

    def give_up(self, attempt_id: int) -> Attempt:
        """The learner stops; what they achieved stays recorded."""
        now = self.clock()

        def change(record: AttemptRecord) -> None:
            if record.playing:
                record.status, record.ended_at = GIVEN_UP, now

        self.attempts.update(attempt_id, change)
        return self.get(attempt_id)

    def progress(self, learner: str) -> dict[str, ScenarioProgress]:
        """A learner's progress at every scenario they tried, by slug."""
        rows = self.attempts.summaries(learner=learner)
        result: dict[str, ScenarioProgress] = {}
        for slug in dict.fromkeys(r.slug for r in rows):
            mine = [r for r in rows if r.slug == slug]
            done = [r.ended_at - r.started_at for r in mine if r.status == COMPLETED]
            last = mine[-1]
            result[slug] = ScenarioProgress(
                slug, len(mine), bool(done), last.status, last.objectives_met,
                last.objectives_total, min(done) if done else None,
            )
        return result

    # -- devices ---------------------------------------------------------------------

    def devices(self, attempt_id: int) -> list[DeviceView]:
        """The attempt's devices, their settings now and what the learner may change."""
        record = self._record(attempt_id)
        scenario = self.scenario(record.slug)
        return [self._device_view(spec, record.state.devices[spec.id])
                for spec in scenario.devices]

    def device(self, attempt_id: int, device_id: str) -> DeviceView:
        """One device of an attempt.

        Raises:
            KeyError: no such device.
        """
        for view in self.devices(attempt_id):
            if view.id == device_id:
                return view
        raise KeyError(device_id)

    def change_settings(
        self, attempt_id: int, device_id: str, changes: Mapping[str, Any]
    ) -> DeviceView:
        """Change some settings of a device, as the learner does in the form.

        Raises:
            SettingError: an unknown setting, one the learner may not change, or a bad value.
            KeyError: no such device.
        """
        scenario = self.scenario(self._record(attempt_id).slug)
        spec = scenario.device(device_id)
        editable = expand_editable(spec.editable)
        values = {}
        for key, value in changes.items():
            coerced = coerce(key, value)
            if key not in editable:
                raise SettingError(key, "the learner may not change this setting here")
            values[key] = coerced

        def change(record: AttemptRecord) -> Settings:
            settings = record.state.devices[device_id]
            settings.update(values)
            return dict(settings)

        return self._device_view(spec, self.attempts.update(attempt_id, change))

    def client(self, attempt_id: int, device_id: str) -> MailClient:
        """The device's mail program, on this scenario's network and world."""
        record = self._record(attempt_id)
        scenario = self.scenario(record.slug)
        settings = account_settings(record.state.devices[device_id], record.address)
        return MailClient(self.lab, settings, self.network(scenario), self.client_timeout)

    def network(self, scenario: Scenario) -> LabNetwork:
        """The network a device of this scenario sees: its names, its ports, its world."""
        return LabNetwork(self.lab, names_of(scenario.lab), world_of(scenario.lab))

    def run(
        self,
        attempt_id: int,
        device_id: str,
        action: str,
        *,
        local: LocalMail | None = None,
        folder: str = "INBOX",
        uid: int | None = None,
        target: str | None = None,
        to: Sequence[str] = (),
        subject: str = "",
        body: str = "",
    ) -> Outcome:
        """Run one operation of a device's mail program and judge what it did.

        Raises:
            IncompleteSettings: the side the operation needs is not filled in.
            ValueError: an unknown action, or POP3 without the device's storage.
        """
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        record = self._record(attempt_id)
        settings = record.state.devices[device_id]
        side = "outgoing" if action in ("test_outgoing", "send") else "incoming"
        gaps = missing(settings, side)
        if gaps:
            raise IncompleteSettings(device_id, side, gaps)
        client = self.client(attempt_id, device_id)
        if action == "archive":
            return self._archive(attempt_id, device_id, client, local, folder, uid, target)
        forgotten = set(record.state.forgotten.get(device_id, ()))
        storage = _Forgetful(local, forgotten) if local is not None and forgotten else local
        operations: dict[str, Callable[[], Trace]] = {
            "test_incoming": client.test_incoming,
            "test_outgoing": client.test_outgoing,
            "fetch": lambda: client.fetch(storage),
            "list": lambda: client.list_folder(folder),
            "read": lambda: client.read(folder, uid or 0),
            "move": lambda: client.move(folder, uid or 0, target or ""),
            "delete": lambda: client.delete(folder, uid or 0),
            "create_folder": lambda: client.create_folder(target or ""),
            "send": lambda: client.send(list(to), subject, body),
        }
        if action == "fetch" and local is None and settings["incoming.protocol"] == "pop3":
            raise ValueError("POP3 downloads into the device's storage: pass `local`")
        return self.observe(attempt_id, operations[action](), device_id, local=local)

    def _archive(
        self, attempt_id: int, device_id: str, client: MailClient, local: LocalMail | None,
        folder: str, uid: int | None, target: str | None,
    ) -> Outcome:
        """Archive on the device, as "move to a local folder" does: read, keep here, delete there.

        The server sees the message read, then deleted for good: its room is free
        again, and the device's storage holds the copy in `target`.
        """
        if local is None or not hasattr(local, "keep_copy") or not target:
            raise ValueError("archiving needs the device's storage (`local`) and a local `target`")
        read = self.observe(attempt_id, client.read(folder, uid or 0), device_id)
        raw = read.trace.result.get("raw") if read.trace is not None else None
        if read.trace is None or not read.trace.ok or not raw:
            return read
        local.keep_copy(target, bytes(raw))
        deleted = self.observe(attempt_id, client.delete(folder, uid or 0), device_id, local=local)
        return Outcome(deleted.attempt, tuple(dict.fromkeys(read.newly_met + deleted.newly_met)),
                       tuple(dict.fromkeys(read.new_mistakes + deleted.new_mistakes)),
                       read.arrived + deleted.arrived, deleted.trace)

    def reinstall(self, attempt_id: int, device_id: str, local: LocalMail) -> Outcome:
        """The device's mail program is reinstalled: it keeps its messages, forgets their UIDs.

        Its next POP3 fetch downloads again every message still on the server: doubles.
        """
        self.scenario(self._record(attempt_id).slug).device(device_id)  # KeyError if unknown
        known = sorted(local.known_uids())

        def change(record: AttemptRecord) -> None:
            record.state.forgotten[device_id] = known
            _journal(record.state, {"at": self.clock(), "device": device_id,
                                    "operation": "reinstall", "ok": True})

        self.attempts.update(attempt_id, change)
        return self.storage_changed(attempt_id, device_id, local)

    def storage(self, attempt_id: int, device_id: str, local: LocalMail) -> LocalMail:
        """The device's storage as its mail program sees it (after a reinstall: UIDs forgotten).

        Pages that fetch with their own client pass this to `fetch`, as `run` does.
        """
        forgotten = set(self._record(attempt_id).state.forgotten.get(device_id, ()))
        return _Forgetful(local, forgotten) if forgotten else local

    def storage_changed(self, attempt_id: int, device_id: str, local: Any) -> Outcome:
        """Judge a device's own storage again, after a change made on the device alone.

        Pages call it after a local move or deletion (nothing reaches the server);
        operations run through `run` with `local` are judged without it.
        """
        return self._advance(attempt_id, None, (device_id, storage_subjects(local)))

    # -- the IT service's reset page, hints and quiz --------------------------------

    def reset_password(self, attempt_id: int) -> Attempt:
        """What the IT service's reset page does: a new password, the account unlocked."""
        password = new_password()
        record = self._record(attempt_id)
        self.lab.store.create_account(record.address, password)
        self.lab.lockouts.unlock(record.address)

        def change(record: AttemptRecord) -> None:
            record.password = password

        self.attempts.update(attempt_id, change)
        return self.get(attempt_id)

    def hints(self, attempt_id: int) -> list[Text]:
        """The hints revealed so far, in order."""
        record = self._record(attempt_id)
        return list(self.scenario(record.slug).hints[: record.hints_used])

    def reveal_hint(self, attempt_id: int) -> list[Text]:
        """Reveal one more hint (if any is left); returns the hints revealed so far."""
        count = len(self.scenario(self._record(attempt_id).slug).hints)

        def change(record: AttemptRecord) -> None:
            record.hints_used = min(count, record.hints_used + 1)

        self.attempts.update(attempt_id, change)
        return self.hints(attempt_id)

    def answer(self, attempt_id: int, question_id: str, choices: Sequence[int]) -> QuizAnswer:
        """Answer a quiz question (choices counted from 1); the first answer is the one kept.

        Raises:
            KeyError: no such question.
        """
        scenario = self.scenario(self._record(attempt_id).slug)
        question = scenario.question(question_id)
        right = tuple(n for n, c in enumerate(question.choices, 1) if c.correct)
        chosen = tuple(sorted({int(c) for c in choices if 1 <= int(c) <= len(question.choices)}))
        now = self.clock()

        def change(record: AttemptRecord) -> dict[str, Any]:
            return record.state.quiz.setdefault(
                question_id, {"choices": list(chosen), "correct": chosen == right, "at": now}
            )

        kept = self.attempts.update(attempt_id, change)
        return _answer(question, kept, right)

    def answers(self, attempt_id: int) -> dict[str, QuizAnswer]:
        """The quiz answers given so far, by question id."""
        record = self._record(attempt_id)
        scenario = self.scenario(record.slug)
        result = {}
        for question in scenario.quiz:
            kept = record.state.quiz.get(question.id)
            if kept is not None:
                right = tuple(n for n, c in enumerate(question.choices, 1) if c.correct)
                result[question.id] = _answer(question, kept, right)
        return result

    # -- judging -------------------------------------------------------------------

    def observe(
        self, attempt_id: int, trace: Trace, device_id: str, *, local: Any = None
    ) -> Outcome:
        """Judge what one operation of a device did: its trace, the lab's events, its storage."""
        fact = TraceFact(trace, device_id, self.clock())
        storage = (device_id, storage_subjects(local)) if local is not None else None
        outcome = self._advance(attempt_id, fact, storage)
        return Outcome(outcome.attempt, outcome.newly_met, outcome.new_mistakes,
                       outcome.arrived, trace)

    def refresh(self, attempt_id: int) -> Outcome:
        """Deliver the arrivals that are due, and judge the events and mailboxes since last time."""
        return self._advance(attempt_id, None)

    def _advance(
        self, attempt_id: int, trace_fact: TraceFact | None,
        storage: tuple[str, dict[str, list[str]]] | None = None,
    ) -> Outcome:
        scenario = self.scenario(self._record(attempt_id).slug)
        newly: list[str] = []
        mistakes: list[str] = []

        def judge(fact: TraceFact | None) -> None:
            found: tuple[list[str], list[str]] = ([], [])

            def change(record: AttemptRecord) -> None:
                # Replayed from scratch when another worker wrote first: start afresh.
                found[0].clear()
                found[1].clear()
                if storage is not None:
                    record.state.storage[storage[0]] = storage[1]
                self._judge(scenario, record, fact, *found)

            self.attempts.update(attempt_id, change)
            newly.extend(found[0])
            mistakes.extend(found[1])

        arrived = self._deliver_due(attempt_id, scenario)
        judge(trace_fact)
        # An arrival that something just triggered with no delay goes out at once.
        for _ in range(3):
            more = self._deliver_due(attempt_id, scenario)
            if not more:
                break
            arrived += more
            judge(None)
        return Outcome(self.get(attempt_id), tuple(dict.fromkeys(newly)),
                       tuple(dict.fromkeys(mistakes)), tuple(arrived))

    def _judge(
        self,
        scenario: Scenario,
        record: AttemptRecord,
        trace_fact: TraceFact | None,
        newly: list[str],
        mistakes: list[str],
    ) -> None:
        state = record.state
        if trace_fact is not None:
            trace_fact = _with_duplicates(state, trace_fact)
            trace = trace_fact.trace
            # Sending over IMAP also keeps a copy in Sent, on a connection of its own.
            copies = trace.result.get("sent_copy_connection_ids", [])
            for connection_id in [*trace.connection_ids, *copies]:
                state.connections.setdefault(connection_id, [trace_fact.device, 0, False])
            _journal(state, _trace_entry(trace_fact))
        if not record.playing:
            return
        self._follow_programs(record)
        facts: list[Fact] = list(self._new_events(state))
        if trace_fact is not None:
            facts.append(trace_fact)
        values = self._values(record, scenario)
        now = self.clock()
        for fact in facts:
            self._apply(scenario, record, fact, values, now, newly, mistakes)
        self._check_states(scenario, record, values, now, newly, mistakes)
        if all(o.id in state.met for o in scenario.objectives):
            record.status, record.ended_at = COMPLETED, now

    def _apply(
        self,
        scenario: Scenario,
        record: AttemptRecord,
        fact: Fact,
        values: dict[str, str],
        now: float,
        newly: list[str],
        mistakes: list[str],
    ) -> None:
        state = record.state
        for objective in scenario.objectives:
            if objective.id not in state.met and _counted(
                record, f"objective:{objective.id}", objective.when, fact, values
            ):
                state.met[objective.id] = now
                state.proofs[objective.id] = describe(fact)
                newly.append(objective.id)
        for mistake in scenario.mistakes:
            if _counted(record, f"mistake:{mistake.id}", mistake.when, fact, values):
                _record_mistake(state, mistake.id, now, describe(fact))
                mistakes.append(mistake.id)
        for n, arrival in enumerate(scenario.lab.arrivals, 1):
            slot = state.arrivals[str(n)]
            if (arrival.after is not None and slot["due_at"] is None
                    and _counted(record, f"arrival:{n}", arrival.after, fact, values)):
                slot["due_at"] = now + arrival.after_seconds

    def _check_states(
        self,
        scenario: Scenario,
        record: AttemptRecord,
        values: dict[str, str],
        now: float,
        newly: list[str],
        mistakes: list[str],
    ) -> None:
        """Mailbox and storage matchers, judged on what the server or a device holds now."""
        state = record.state
        judges = {
            "mailbox": lambda matcher: self._mailbox_proof(matcher, values, record.lang),
            "storage": lambda matcher: _storage_proof(state, matcher, values, record.lang, now),
        }

        def proof(matcher: Matcher) -> dict[str, Any] | None:
            judge = judges.get(matcher.kind)
            if judge is None or not _after_met(state, matcher):
                return None
            return judge(matcher)

        for objective in scenario.objectives:
            if objective.id not in state.met:
                found = proof(objective.when)
                if found is not None:
                    state.met[objective.id] = now
                    state.proofs[objective.id] = found
                    newly.append(objective.id)
        for mistake in scenario.mistakes:
            if mistake.id not in state.mistakes:
                found = proof(mistake.when)
                if found is not None:
                    _record_mistake(state, mistake.id, now, found)
                    mistakes.append(mistake.id)

    def _mailbox_proof(
        self, matcher: Matcher, values: dict[str, str], lang: str
    ) -> dict[str, Any] | None:
        """The folder's state if it is what the matcher asks for, else None."""
        store = self.lab.store
        address = fill(matcher.account or "{address}", values)
        account = store.account(address)
        folder = store.folder(account.id, matcher.mailbox or "INBOX") if account else None
        if folder is None:
            return None
        messages = store.messages(folder.id)
        if matcher.subject is not None:
            raws = store.raws(m.id for m in messages)
            wanted = fill(local(matcher.subject, lang), values).lower()
            messages = [m for m in messages if wanted in _subject(raws.get(m.id, b"")).lower()]
            if not messages:
                return None
        count = len(messages)
        if matcher.at_least is not None and count < matcher.at_least:
            return None
        if matcher.at_most is not None and count > matcher.at_most:
            return None
        return {"source": "mailbox", "account": address, "folder": folder.name, "messages": count,
                "at": time.time()}

    def _follow_programs(self, record: AttemptRecord) -> None:
        """Follow the connections on which a real mail program logged in to the attempt's account.

        Thunderbird or a phone on the class network registers nothing with the
        lab: its connections are found by their login, and then counted from
        their first event (the TLS handshake before the login included), as
        PixLab's own client's are.
        """
        state = record.state
        self.lab.events.flush()
        with self.lab.events.engine.connect() as conn:
            logins = conn.execute(
                select(EventRow.id, EventRow.connection_id)
                .where(EventRow.account == record.address.lower(),
                       EventRow.kind == "auth.succeeded",
                       EventRow.id > state.programs_seen,
                       EventRow.at >= record.started_at)
                .order_by(EventRow.id)
            ).all()
            if not logins:
                return
            state.programs_seen = logins[-1].id
            new = [row.connection_id for row in logins
                   if row.connection_id and row.connection_id not in state.connections]
            if not new:
                return
            opened = conn.execute(
                select(EventRow.connection_id, EventRow.data)
                .where(EventRow.connection_id.in_(new), EventRow.kind == "connection.opened")
            ).all()
        for connection_id, data in opened:
            if connection_id and _json(data).get("program"):
                state.connections[connection_id] = [PROGRAM_DEVICE, 0, False]

    def _new_events(self, state: AttemptState) -> list[EventFact]:
        """Events recorded since last time on the connections the attempt follows."""
        following = {cid: c for cid, c in state.connections.items() if not c[2]}
        if not following:
            return []
        self.lab.events.flush()
        floor = min(c[1] for c in following.values())
        with self.lab.events.engine.connect() as conn:
            rows = conn.execute(
                select(EventRow)
                .where(EventRow.connection_id.in_(list(following)), EventRow.id > floor)
                .order_by(EventRow.id)
            ).all()
        facts = []
        for row in rows:
            entry = following[row.connection_id]
            if row.id <= entry[1]:
                continue
            entry[1] = row.id
            if row.kind in ("connection.closed", "connection.refused"):
                entry[2] = True  # nothing more will come from it
            event = Event(row.kind, row.at, row.connection_id, row.account, row.listener, row.tls,
                          _json(row.data))
            facts.append(EventFact(event, entry[0], row.id))
        return facts

    # -- arrivals --------------------------------------------------------------------

    def _deliver_due(self, attempt_id: int, scenario: Scenario) -> list[int]:
        """Deliver the arrivals whose time has come; returns those that went in."""
        now = self.clock()

        def claim(record: AttemptRecord) -> tuple[list[int], dict[str, str]]:
            claimed = []
            if record.playing:
                for key, slot in record.state.arrivals.items():
                    due = slot["due_at"] is not None and slot["due_at"] <= now
                    stale = slot["status"] == "sending" and now - slot.get("claimed_at", now) > 60
                    if (due and slot["status"] in ("waiting", "refused")) or stale:
                        slot["status"], slot["claimed_at"] = "sending", now
                        claimed.append(int(key))
            return claimed, self._values(record, scenario)

        claimed, values = self.attempts.update(attempt_id, claim)
        if not claimed:
            return []
        record = self._record(attempt_id)
        results = {
            n: self._deliver(scenario, scenario.lab.arrivals[n - 1], record, values, now)
            for n in claimed
        }

        def settle(record: AttemptRecord) -> None:
            for n, (why, connection_id) in results.items():
                slot = record.state.arrivals[str(n)]
                slot["tries"] += 1
                if why is None:
                    slot["status"], slot["delivered_at"] = "delivered", now
                else:
                    slot["status"], slot["why"] = "refused", why
                    slot["due_at"] = now + scenario.lab.arrivals[n - 1].retry_every
                if connection_id:
                    record.state.connections.setdefault(connection_id, [LAB_DEVICE, 0, False])
                _journal(record.state, {"at": now, "arrival": n, "ok": why is None, "why": why})

        self.attempts.update(attempt_id, settle)
        return [n for n, (why, _) in results.items() if why is None]

    def _deliver(
        self, scenario: Scenario, arrival: ArrivalSpec, record: AttemptRecord,
        values: dict[str, str], now: float,
    ) -> tuple[str | None, str | None]:
        """Deliver one arrival; returns (why it was refused or None, the SMTP connection's id).

        By SMTP on port 25, as a server outside the school would: the message gets
        its Received: line, the quota applies (a full mailbox refuses it, and the
        engine tries again later), and the lab records the events a trainer sees.
        `via = "store"` puts it straight into a folder, for what SMTP cannot do.
        """
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        raw = build_message(arrival, values, record.lang, when)
        if arrival.via == "store":
            account = self.lab.store.account(record.address)
            if account is None:
                return "no such account", None
            try:
                self.lab.store.append(account, arrival.folder, raw)
            except StoreError as exc:
                return str(exc), None
            return None, None
        sender = email.utils.parseaddr(fill(arrival.sender or "", values))[1] or (
            f"postmaster@{values['domain']}"
        )
        return self._deliver_smtp(world_of(scenario.lab), sender, record.address, raw)

    def _deliver_smtp(
        self, world: World, sender: str, recipient: str, raw: bytes
    ) -> tuple[str | None, str | None]:
        info = self.lab.listener("smtp")
        host = "127.0.0.1" if info.host in ("0.0.0.0", "::") else info.host
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        why: str | None = None
        port: int | None = None
        try:
            sock.settimeout(self.client_timeout)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            # The lab must know this connection plays in the scenario's world before it arrives.
            self.lab.enter_world(port, world)
            sock.connect((host, info.port))
            smtp = _DeliverySMTP(sock, self.client_timeout)
            try:
                smtp.ehlo("mx.expediteur.test")
                smtp.sendmail(sender, [recipient], raw)
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPRecipientsRefused as exc:
            code, refused = next(iter(exc.recipients.values()))
            why = f"{code} {refused.decode('utf-8', 'replace')}"
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error
            text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
            why = f"{exc.smtp_code} {text}"
        except (smtplib.SMTPException, OSError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        finally:
            sock.close()
        return why, self._connection_of(port) if port is not None else None

    def _connection_of(self, port: int) -> str | None:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            connection_id = self.lab.tap.connection_for_peer(port)
            if connection_id:
                return connection_id
            time.sleep(0.005)
        return None

    # -- the learner's accounts --------------------------------------------------------

    def _reset_mailbox(
        self, scenario: Scenario, values: dict[str, str], lang: str, now: float
    ) -> None:
        """The learner's mailbox as the scenario starts it: seeded, nothing else, its quota."""
        store = self.lab.store
        account = store.create_account(values["address"], values["password"], UNLIMITED_QUOTA)
        wanted = {name for name, _ in DEFAULT_FOLDERS} | set(scenario.lab.folders)
        for folder in store.folders(account.id):
            if folder.name in wanted:
                store.delete_messages(m.id for m in store.messages(folder.id))
            else:
                store.delete_folder(folder.id)
        existing = {f.name for f in store.folders(account.id)}
        special = dict(DEFAULT_FOLDERS)
        for name in [n for n, _ in DEFAULT_FOLDERS] + list(scenario.lab.folders):
            if name not in existing:
                store.create_folder(account.id, name, special.get(name))
                existing.add(name)
        seeds = scenario.lab.messages
        for n, message in enumerate(seeds):
            # Unless a date is given, the seed arrived over the last hours, oldest first.
            arrived = message.date or dt.datetime.fromtimestamp(
                now - (len(seeds) - n) * 1800, dt.UTC
            )
            raw = build_message(message, values, lang, arrived)
            store.append(account, message.folder, raw, {"\\Seen"} if message.seen else (),
                         internal_date=int(arrived.timestamp()))
        store.set_quota(account.id, scenario.lab.quota_kb * 1024)

    def _prepare_contacts(self, scenario: Scenario) -> None:
        """Other people's addresses exist and have room; nobody ever logs into them."""
        store = self.lab.store
        for address in scenario.lab.contacts:
            account = store.account(address)
            if account is None:
                account = store.create_account(address, secrets.token_urlsafe(24))
            inbox = store.folder(account.id, "INBOX")
            if inbox is not None:
                messages = store.messages(inbox.id)
                if len(messages) > CONTACT_KEEPS:
                    store.delete_messages(m.id for m in messages[: len(messages) - CONTACT_KEEPS])

    # -- helpers -----------------------------------------------------------------------

    def _record(self, attempt_id: int) -> AttemptRecord:
        record = self.attempts.get(attempt_id)
        if record is None:
            raise KeyError(attempt_id)
        return record

    def _values(self, record: AttemptRecord, scenario: Scenario) -> dict[str, str]:
        return {"learner": record.learner, "address": record.address,
                "password": record.password, "domain": scenario.lab.domains[0].lower()}

    def _view(self, record: AttemptRecord) -> Attempt:
        state = record.state
        scenario = self.catalogue.get(record.slug)
        domain = scenario.lab.domains[0].lower() if scenario else record.address.partition("@")[2]
        values = {"learner": record.learner, "address": record.address,
                  "password": record.password, "domain": domain}
        return Attempt(
            record.id, record.learner, record.slug, record.lang, record.status, record.address,
            record.password, record.started_at, record.ended_at, record.hints_used,
            dict(state.met), dict(state.proofs),
            tuple(MistakeSeen(k, v["first_at"], v["count"], v["proof"])
                  for k, v in state.mistakes.items()),
            dict(state.quiz), tuple(state.journal), values,
        )

    @staticmethod
    def _device_view(spec: DeviceSpec, settings: Mapping[str, Any]) -> DeviceView:
        return DeviceView(spec.id, spec.kind, spec.name, dict(settings),
                          expand_editable(spec.editable))


def _after_met(state: AttemptState, matcher: Matcher) -> bool:
    return all(other in state.met for other in matcher.after)


def _counted(
    record: AttemptRecord, key: str, matcher: Matcher, fact: Fact, values: dict[str, str]
) -> bool:
    """Count a fact that matches; True once the matcher has seen enough of them."""
    state = record.state
    if not _after_met(state, matcher) or not matches(matcher, fact, values, record.lang):
        return False
    per_device = state.counts.setdefault(key, {})
    device = fact.device or "?"
    per_device[device] = per_device.get(device, 0) + 1
    if matcher.devices:
        return all(per_device.get(d, 0) >= matcher.times for d in matcher.devices)
    return sum(per_device.values()) >= matcher.times


def _with_duplicates(state: AttemptState, fact: TraceFact) -> TraceFact:
    """The fact with how many of its downloads the device had downloaded before (doubles).

    Every UID a device downloads is remembered for the attempt; a UID it downloads
    again was forgotten by its mail program, and is no longer forgotten.
    """
    uids = downloaded_uids(fact.trace)
    if not uids:
        return fact
    before = state.downloaded.setdefault(fact.device, [])
    again = sum(1 for uid in uids if uid in before)
    before.extend(uid for uid in uids if uid not in before)
    if fact.device in state.forgotten:
        state.forgotten[fact.device] = [u for u in state.forgotten[fact.device] if u not in uids]
    return dataclasses.replace(fact, duplicates=again)


def _storage_proof(
    state: AttemptState, matcher: Matcher, values: dict[str, str], lang: str, now: float
) -> dict[str, Any] | None:
    """What a device's storage held when last reported, if it is what the matcher asks for."""
    device = matcher.device or ""
    folders = state.storage.get(device)
    if folders is None or not matches_storage(matcher, folders, values, lang):
        return None
    return {"source": "storage", "device": device, "folder": matcher.storage,
            "messages": len(folders.get(matcher.storage or "INBOX", [])), "at": now}


def _record_mistake(state: AttemptState, mistake_id: str, now: float,
                    proof: dict[str, Any]) -> None:
    seen = state.mistakes.get(mistake_id)
    if seen is None:
        state.mistakes[mistake_id] = {"first_at": now, "count": 1, "proof": proof}
    else:
        seen["count"] += 1


def _journal(state: AttemptState, entry: dict[str, Any]) -> None:
    state.journal.append(entry)
    del state.journal[:-JOURNAL_LENGTH]


def _trace_entry(fact: TraceFact) -> dict[str, Any]:
    trace = fact.trace
    return {
        "at": fact.at, "device": fact.device, "operation": trace.operation,
        "protocol": trace.protocol, "host": trace.host, "port": trace.port,
        "security": trace.security, "ok": trace.ok,
        "error": trace.error.key if trace.error else None,
    }


def _answer(question: Question, kept: dict[str, Any], right: tuple[int, ...]) -> QuizAnswer:
    return QuizAnswer(question.id, tuple(kept["choices"]), bool(kept["correct"]), right,
                      question.explanation)


def _subject(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n", 1)[0]
    parsed = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.default)
    return str(parsed.get("Subject", ""))


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
