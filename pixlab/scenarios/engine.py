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

import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine

from pixlab.client.client import DEFAULT_TIMEOUT, LocalMail, MailClient
from pixlab.client.network import LabNetwork
from pixlab.client.programs import program_of, ssl_fallback, with_program
from pixlab.client.settings import missing
from pixlab.client.trace import Trace
from pixlab.lab.runner import Lab
from pixlab.scenarios.account import AccountPages, new_password
from pixlab.scenarios.attempt import (
    Attempt,
    DeviceView,
    MistakeSeen,
    Outcome,
    QuizAnswer,
    ScenarioProgress,
)
from pixlab.scenarios.delivery import Delivery, prepare_contacts, reset_mailbox
from pixlab.scenarios.intruder import Intruders
from pixlab.scenarios.judging import Judge, journal
from pixlab.scenarios.loader import Catalogue
from pixlab.scenarios.matchers import (
    TraceFact,
)
from pixlab.scenarios.progress import (
    COMPLETED,
    GIVEN_UP,
    PLAYING,
    AttemptRecord,
    AttemptState,
    AttemptStore,
)
from pixlab.scenarios.schema import (
    LAB_DEVICE,
    DeviceSpec,
    Question,
    Scenario,
    Text,
    fill,
)
from pixlab.scenarios.settings import (
    SettingError,
    Settings,
    account_settings,
    coerce,
    expand_editable,
    starting_settings,
)
from pixlab.scenarios.storage import Forgetful, storage_subjects
from pixlab.scenarios.world import names_of, with_faults, world_of

LEARNER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,38}[a-z0-9])?$")
ACTIONS = ("test_incoming", "test_outgoing", "fetch", "list", "read", "move", "delete", "send",
           "archive", "create_folder")


class UnknownScenario(KeyError):
    """No playable scenario has that slug."""


class IncompleteSettings(ValueError):
    """A device's settings miss what an operation needs."""

    def __init__(self, device: str, side: str, fields: list[str]) -> None:
        super().__init__(f"{device}: {side} needs {', '.join(fields)}")
        self.device, self.side, self.fields = device, side, fields


# -- the engine ------------------------------------------------------------------------


class ScenarioEngine(AccountPages):
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
        self.judge = Judge(lab, clock)
        self.delivery = Delivery(lab, client_timeout)
        self.intruders = Intruders(lab, client_timeout)
        # The faults a trainer switched on for a learner (by their key): see `with_faults`.
        self.faults: Callable[[str], Collection[str]] | None = None

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
        reset_mailbox(self.lab.store, scenario, values, lang, now)
        prepare_contacts(self.lab.store, scenario)
        self.lab.lockouts.unlock(values["address"])
        self.lab.app_passwords.set_two_step(values["address"], scenario.lab.two_step)
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
        self.stranger_arrives(created.id)
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

    def ssl_fallback(self, attempt_id: int, device_id: str, side: str) -> Outcome:
        """iPhone's "yes" to "go on without SSL?": SSL off, the port in clear, test again.

        Raises:
            ValueError: the device's program never asks that.
            SettingError: the scenario does not let the learner change those settings.
        """
        record = self._record(attempt_id)
        spec = self.scenario(record.slug).device(device_id)
        if not program_of(spec.program).offers_ssl_fallback:
            raise ValueError(f"{device_id}: its program never offers to go on without SSL")
        self.change_settings(attempt_id, device_id,
                             ssl_fallback(record.state.devices[device_id], side))
        return self.run(attempt_id, device_id, f"test_{side}")

    def client(self, attempt_id: int, device_id: str) -> MailClient:
        """The device's mail program, on this scenario's network and world."""
        record = self._record(attempt_id)
        scenario = self.scenario(record.slug)
        settings = with_program(
            account_settings(record.state.devices[device_id], record.address),
            program_of(scenario.device(device_id).program))
        network = self.network(scenario, record.learner)
        return MailClient(self.lab, settings, network, self.client_timeout)

    def network(self, scenario: Scenario, learner: str | None = None) -> LabNetwork:
        """The network a device of this scenario sees: its names, its ports, its world.

        With a learner, the faults switched on for them (a trainer's) are in it.
        """
        world, names = world_of(scenario.lab), names_of(scenario.lab)
        faults = self.faults(learner) if self.faults and learner else ()
        if faults:
            world, names = with_faults(world, names, faults)
        return LabNetwork(self.lab, names, world)

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
        sender: str = "",
        reply_to: str = "",
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
        storage = Forgetful(local, forgotten) if local is not None and forgotten else local
        operations: dict[str, Callable[[], Trace]] = {
            "test_incoming": client.test_incoming,
            "test_outgoing": client.test_outgoing,
            "fetch": lambda: client.fetch(storage),
            "list": lambda: client.list_folder(folder),
            "read": lambda: client.read(folder, uid or 0),
            "move": lambda: client.move(folder, uid or 0, target or ""),
            "delete": lambda: client.delete(folder, uid or 0),
            "create_folder": lambda: client.create_folder(target or ""),
            "send": lambda: client.send(list(to), subject, body, sender, reply_to),
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
            journal(record.state, {"at": self.clock(), "device": device_id,
                                    "operation": "reinstall", "ok": True})

        self.attempts.update(attempt_id, change)
        return self.storage_changed(attempt_id, device_id, local)

    def storage(self, attempt_id: int, device_id: str, local: LocalMail) -> LocalMail:
        """The device's storage as its mail program sees it (after a reinstall: UIDs forgotten).

        Pages that fetch with their own client pass this to `fetch`, as `run` does.
        """
        forgotten = set(self._record(attempt_id).state.forgotten.get(device_id, ()))
        return Forgetful(local, forgotten) if forgotten else local

    def storage_changed(self, attempt_id: int, device_id: str, local: Any) -> Outcome:
        """Judge a device's own storage again, after a change made on the device alone.

        Pages call it after a local move or deletion (nothing reaches the server);
        operations run through `run` with `local` are judged without it.
        """
        return self._advance(attempt_id, None, (device_id, storage_subjects(local)))

    # -- hints and quiz (the account's pages: see AccountPages) ------------------------

    def password_fault(self, attempt_id: int, on: bool) -> None:
        """A trainer's « password changed by the IT service » fault, on or off.

        On: a new password, shown on the sheet, and the one the devices remember is
        refused. Off: the password from before comes back, on the account and the
        sheet, so the fault leaves nothing behind. Switching twice changes nothing.
        """
        record = self._record(attempt_id)
        kept = record.state.password_before_fault
        if on == bool(kept):
            return
        password = new_password() if on else kept
        self.lab.store.create_account(record.address, password)
        self.lab.lockouts.unlock(record.address)

        def change(record: AttemptRecord) -> None:
            record.state.password_before_fault = record.password if on else ""
            record.password = password

        self.attempts.update(attempt_id, change)

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
                self.judge.judge(scenario, record, fact, self._values(record, scenario), *found)

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
            n: self.delivery.deliver(scenario, scenario.lab.arrivals[n - 1], record.address,
                                     record.lang, values, now)
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
                journal(record.state, {"at": now, "arrival": n, "ok": why is None, "why": why})

        self.attempts.update(attempt_id, settle)
        return [n for n, (why, _) in results.items() if why is None]

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
                          expand_editable(spec.editable), spec.program)


def _answer(question: Question, kept: dict[str, Any], right: tuple[int, ...]) -> QuizAnswer:
    return QuizAnswer(question.id, tuple(kept["choices"]), bool(kept["correct"]), right,
                      question.explanation)
