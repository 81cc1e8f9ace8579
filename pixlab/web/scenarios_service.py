"""The scenario pages' work: the engine per app, the learner's attempts, and their devices.

A learner plays scenarios as the sandbox's learner (same session, same resume
code), under a local part of their own (`renard-4821-sc`) so that a scenario
never touches their sandbox mailbox. Each device of an attempt is also a row
of the sandbox's device table (at a position above the sandbox's two), so the
sandbox's settings form, Tester, mail client, traces and rate limit work for
it unchanged; its client plays in the scenario's world and every operation is
judged by the engine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update
from werkzeug.datastructures import MultiDict

from pixlab.client.client import DEFAULT_TIMEOUT, LocalMail, MailClient
from pixlab.client.trace import Trace
from pixlab.db import Device
from pixlab.devices import DeviceInfo, LearnerInfo
from pixlab.scenarios.engine import (
    Attempt,
    DeviceView,
    QuizAnswer,
    ScenarioEngine,
    ScenarioProgress,
    UnknownScenario,
)
from pixlab.scenarios.loader import BrokenScenario, Catalogue, configured_dirs, load_catalogue
from pixlab.scenarios.progress import COMPLETED, GIVEN_UP, PLAYING
from pixlab.scenarios.schema import DeviceSpec, Question, Scenario, local
from pixlab.scenarios.settings import SettingError
from pixlab.web import current_lab
from pixlab.web import sandbox_service as sandbox

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab

ENGINE_KEY = "pixlab.scenario_engine"
LEARNER_SUFFIX = "-sc"  # a scenario's local part: never a sandbox address (animal-1234)
FIRST_POSITION = 100  # device rows of attempts start here, above the sandbox's devices
PER_ATTEMPT = 4  # positions kept for one attempt's devices (a scenario has 1 to 3)
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


def init_app(app: Any) -> None:
    """Give the scenarios' devices their own world in the sandbox's mail client."""
    app.extensions.setdefault("pixlab.client_factories", []).append(scenario_client)
    app.extensions.setdefault("pixlab.device_pages", []).append(device_page)
    app.extensions.setdefault("pixlab.device_labels", []).append(device_name)
    app.extensions.setdefault("pixlab.device_local_archives", []).append(local_archives)
    app.extensions.setdefault("pixlab.device_storage_changed", []).append(storage_changed)


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
    result = local(value, sandbox.lang())
    return attempt.fill(result) if attempt else result


def paragraphs(value: Any, attempt: Attempt | None = None) -> list[str]:
    """A long text cut into its paragraphs (blank lines)."""
    return [p.strip() for p in text(value, attempt).split("\n\n") if p.strip()]


def learner_key(learner: LearnerInfo) -> str:
    """The learner's own local part in scenarios, different from their sandbox address."""
    return learner.address.partition("@")[0] + LEARNER_SUFFIX


def ensure_learner() -> LearnerInfo:
    """The session's learner, started (as in the sandbox) when there is none yet."""
    lab = current_lab()
    if lab is None:
        abort(503)
    return sandbox.current_learner() or sandbox.start_learner(lab)


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
    learner = sandbox.current_learner()
    attempt = latest_attempt(learner, slug)
    if learner is None or attempt is None:
        abort(404)
    return learner, attempt


def start(slug: str) -> Attempt:
    """A fresh attempt for the session's learner (started if needed), its devices ready."""
    scenario_or_404(slug)
    learner = ensure_learner()
    attempt = engine().start(learner_key(learner), slug, sandbox.lang())
    device_rows(learner, attempt)
    return attempt


def refresh(attempt: Attempt) -> tuple[Attempt, tuple[str, ...]]:
    """Arrivals and late events judged now; the attempt and the objectives newly met."""
    outcome = engine().refresh(attempt.id)
    return outcome.attempt, outcome.newly_met


# -- the devices of an attempt ------------------------------------------------------------

_COLUMNS = {
    "incoming.protocol": "incoming_protocol", "incoming.host": "incoming_host",
    "incoming.port": "incoming_port", "incoming.security": "incoming_security",
    "incoming.auth": "incoming_auth", "incoming.username": "incoming_username",
    "outgoing.host": "outgoing_host", "outgoing.port": "outgoing_port",
    "outgoing.security": "outgoing_security", "outgoing.auth": "outgoing_auth",
    "outgoing.username": "outgoing_username", "password": "password",
    "leave_on_server": "leave_on_server", "leave_days": "leave_days",
    "accepted_cleartext": "accepted_cleartext",
}
_DEFAULTS = {"incoming_protocol": "", "incoming_auth": "normal", "outgoing_auth": "normal",
             "leave_on_server": "no", "leave_days": 14, "accepted_cleartext": False}
_PORTS = ("incoming_port", "outgoing_port")


def _position(attempt: Attempt, index: int) -> int:
    return FIRST_POSITION + attempt.id * PER_ATTEMPT + index


def _columns(view: DeviceView) -> dict[str, Any]:
    """The engine's settings of a device as the sandbox's device row stores them."""
    values: dict[str, Any] = {}
    for key, column in _COLUMNS.items():
        value = view.settings.get(key)
        if value is None:
            value = None if column in _PORTS else _DEFAULTS.get(column, "")
        values[column] = value
    values["accepted_risks"] = "\n".join(view.settings.get("accepted_risks") or ())
    return values


def device_rows(learner: LearnerInfo, attempt: Attempt) -> dict[str, DeviceInfo]:
    """The attempt's devices as sandbox devices (made on first use), by the scenario's id."""
    lab = current_lab()
    assert lab is not None
    views = engine().devices(attempt.id)
    positions = {_position(attempt, n): view for n, view in enumerate(views)}
    with lab.engine.begin() as conn:
        existing = {row.position: row.id for row in conn.execute(
            select(Device.position, Device.id).where(
                Device.learner_id == learner.id, Device.position.in_(list(positions)))
        )}
        for position, view in positions.items():
            values = {**_columns(view), "updated_at": time.time()}
            if position in existing:
                conn.execute(update(Device).where(Device.id == existing[position]).values(values))
            else:
                conn.execute(insert(Device).values(learner_id=learner.id, position=position,
                                                   kind=view.kind, **values))
    rows = {d.position: d for d in store_devices(learner, list(positions))}
    return {view.id: rows[position] for position, view in positions.items() if position in rows}


def store_devices(learner: LearnerInfo, positions: list[int]) -> list[DeviceInfo]:
    """The learner's device rows at some positions."""
    lab = current_lab()
    assert lab is not None
    with lab.engine.connect() as conn:
        ids = conn.execute(select(Device.id).where(
            Device.learner_id == learner.id, Device.position.in_(positions))).scalars().all()
    store = sandbox.devices()
    return [d for d in (store.device(learner.id, i) for i in ids) if d is not None]


def attempt_of_device(device: DeviceInfo) -> tuple[int, int] | None:
    """(attempt id, index of the device in the scenario) for a scenario's device row."""
    if device.position < FIRST_POSITION:
        return None
    return divmod(device.position - FIRST_POSITION, PER_ATTEMPT)


class ObservedClient(MailClient):
    """A scenario device's mail program: the scenario's world, every operation judged."""

    def __init__(self, eng: ScenarioEngine, attempt_id: int, device_id: str) -> None:
        base = eng.client(attempt_id, device_id)
        super().__init__(base.lab, base.settings, base.network, base.timeout)
        self._engine, self._attempt_id, self._device_id = eng, attempt_id, device_id

    def _seen(self, trace: Trace) -> Trace:
        self._engine.observe(self._attempt_id, trace, self._device_id)
        return trace

    def test_incoming(self) -> Trace:
        """Test the incoming server, judged."""
        return self._seen(super().test_incoming())

    def test_outgoing(self) -> Trace:
        """Test the outgoing server, judged."""
        return self._seen(super().test_outgoing())

    def fetch(self, local: LocalMail | None = None) -> Trace:
        """Fetch the mail, judged with the device's storage (a reinstalled program forgets)."""
        if local is None:
            return self._seen(super().fetch(None))
        storage = self._engine.storage(self._attempt_id, self._device_id, local)
        trace = super().fetch(storage)
        self._engine.observe(self._attempt_id, trace, self._device_id, local=local)
        return trace

    def list_folder(self, folder: str) -> Trace:
        """List a folder, judged."""
        return self._seen(super().list_folder(folder))

    def read(self, folder: str, uid: int) -> Trace:
        """Read a message, judged."""
        return self._seen(super().read(folder, uid))

    def move(self, folder: str, uid: int, target: str) -> Trace:
        """Move a message, judged."""
        return self._seen(super().move(folder, uid, target))

    def delete(self, folder: str, uid: int) -> Trace:
        """Delete a message, judged."""
        return self._seen(super().delete(folder, uid))

    def create_folder(self, name: str) -> Trace:
        """Create a folder on the server, judged."""
        return self._seen(super().create_folder(name))

    def send(self, to: list[str], subject: str, body: str) -> Trace:
        """Send a message, judged."""
        return self._seen(super().send(to, subject, body))


def _spec_of(device: DeviceInfo) -> tuple[Attempt, DeviceSpec] | None:
    """The attempt and the scenario's device that a device row plays, if it is one."""
    where = attempt_of_device(device)
    if where is None:
        return None
    try:
        attempt = engine().get(where[0])
        return attempt, engine().scenario(attempt.slug).devices[where[1]]
    except (KeyError, IndexError, UnknownScenario):
        return None


def device_page(device: DeviceInfo, page: str) -> str | None:
    """The player's page for a scenario's device: its settings, writing, or the player itself."""
    found = _spec_of(device)
    if found is None:
        return None
    attempt, spec = found
    if page == "settings":
        return url_for("scenarios.play", slug=attempt.slug, reglages=spec.id, _anchor="reglages")
    if page == "compose":
        return url_for("scenarios.play", slug=attempt.slug, ecrire=spec.id, _anchor="ecrire")
    return url_for("scenarios.play", slug=attempt.slug)


def device_name(device: DeviceInfo) -> str | None:
    """The name the scenario gives its device ("Ordinateur du CDI")."""
    found = _spec_of(device)
    return text(found[1].name, found[0]) if found else None


def local_archives(device: DeviceInfo) -> tuple[str, ...] | None:
    """The device's own folders that the scenario's objectives and mistakes look at."""
    found = _spec_of(device)
    if found is None:
        return None
    attempt, spec = found
    scenario = engine().scenario(attempt.slug)
    matchers = [o.when for o in scenario.objectives] + [m.when for m in scenario.mistakes]
    names = [w.storage for w in matchers if w.kind == "storage" and w.device == spec.id]
    return tuple(dict.fromkeys(n for n in names if n and n != "INBOX"))


def storage_changed(device: DeviceInfo, local: LocalMail) -> bool | None:
    """A device's storage changed on the device alone: the scenario judges it again."""
    found = _spec_of(device)
    if found is None:
        return None
    engine().storage_changed(found[0].id, found[1].id, local)
    return True


def scenario_client(lab: Lab, learner: LearnerInfo, device: DeviceInfo) -> MailClient | None:
    """The client of a scenario's device (None for the sandbox's own devices)."""
    where = attempt_of_device(device)
    if where is None:
        return None
    eng = engine()
    attempt_id, index = where
    try:
        attempt = eng.get(attempt_id)
        spec = eng.scenario(attempt.slug).devices[index]
    except (KeyError, IndexError):
        abort(404)
    if attempt.learner != learner_key(learner):
        abort(404)  # nobody plays in another learner's world
    return ObservedClient(eng, attempt_id, spec.id)


# -- the player ---------------------------------------------------------------------------


@dataclass
class PlayerDevice:
    """A device on the player: its settings form and its mail program."""

    spec_id: str
    name: str
    info: DeviceInfo
    editable: frozenset[str]
    outcome: sandbox.SettingsOutcome
    mail: sandbox.MailView | None = None
    reinstall: bool = False  # the player offers "Réinstaller le logiciel"

    @property
    def locked_fields(self) -> list[str]:
        """The form's fields the learner may not change here."""
        return [name for key, name in _FORM_NAMES.items() if key not in self.editable]


_FORM_NAMES = {key: column for key, column in _COLUMNS.items()}


def player_devices(learner: LearnerInfo, attempt: Attempt,
                   with_mail: bool = True) -> list[PlayerDevice]:
    """The attempt's devices, each with its form as stored and (maybe) its mailbox."""
    lab = current_lab()
    assert lab is not None
    rows = device_rows(learner, attempt)
    result = []
    specs = {spec.id: spec for spec in engine().scenario(attempt.slug).devices}
    for view in engine().devices(attempt.id):
        info = rows[view.id]
        outcome = sandbox.SettingsOutcome("shown", sandbox.form_from_device(info), info)
        mail = None
        if with_mail and attempt.playing:
            mail = sandbox.mail_view(lab, learner, info, "INBOX", None)
        result.append(PlayerDevice(view.id, text(view.name), info, view.editable, outcome, mail,
                                   specs[view.id].reinstall))
    return result


def player_device(learner: LearnerInfo, attempt: Attempt, spec_id: str) -> PlayerDevice:
    """One device of the attempt, or 404."""
    for device in player_devices(learner, attempt, with_mail=False):
        if device.spec_id == spec_id:
            return device
    abort(404)


def _engine_changes(form: sandbox.SettingsForm, editable: frozenset[str]) -> dict[str, Any]:
    values = form.values
    changes = {key: values[name] for key, name in _FORM_NAMES.items()
               if key in editable and name in values}
    if "password" in editable and "password" not in values:
        changes.pop("password", None)  # left blank: the stored one is kept
    return changes


def save_and_test(learner: LearnerInfo, attempt: Attempt, device: PlayerDevice,
                  form: MultiDict[str, str]) -> sandbox.SettingsOutcome:
    """The sandbox's form flow for a scenario's device: only the editable fields change."""
    lab = current_lab()
    assert lab is not None
    merged = MultiDict(sandbox.form_from_device(device.info).typed)
    for name in (n for k, n in _FORM_NAMES.items() if k in device.editable):
        # Locked fields are disabled, so the browser leaves them out; a ticked box is there.
        if name in form or name == "accepted_cleartext":
            merged.setlist(name, form.getlist(name))
    merged["action"] = form.get("action", "save")
    settings = sandbox.read_settings_form(merged)
    if settings.errors:
        return sandbox.SettingsOutcome("invalid", settings, device.info)
    try:
        engine().change_settings(attempt.id, device.spec_id,
                                 _engine_changes(settings, device.editable))
    except SettingError as exc:
        settings.errors[_COLUMNS.get(exc.field, exc.field)] = _("Valeur refusée.")
        return sandbox.SettingsOutcome("invalid", settings, device.info)
    info = device_rows(learner, attempt)[device.spec_id]
    if not settings.sides:
        return sandbox.SettingsOutcome("saved", settings, info)
    return _test(lab, learner, info, settings, "accepted_cleartext" in device.editable)


def _test(lab: Lab, learner: LearnerInfo, info: DeviceInfo, settings: sandbox.SettingsForm,
          may_confirm: bool) -> sandbox.SettingsOutcome:
    sides = settings.sides
    if settings.action == "test" and info.outgoing.missing():
        sides = ("incoming",)
    settings.errors = sandbox.missing_for_test(info, sides)
    if settings.errors:
        return sandbox.SettingsOutcome("invalid", settings, info)
    # Where the scenario lets the learner tick "Je comprends les risques", ask first; else
    # the test runs and the program refuses, as a real one set up this way does.
    unconfirmed = sandbox.needs_cleartext_confirmation(info, sides) if may_confirm else []
    if unconfirmed:
        return sandbox.SettingsOutcome("confirm", settings, info, unconfirmed=unconfirmed)
    wait = sandbox.seconds_to_wait(learner)
    if wait:
        return sandbox.SettingsOutcome("limited", settings, info, wait=wait)
    trace_id = sandbox.run_test(lab, learner, info, sides)
    return sandbox.SettingsOutcome("tested", settings, info, trace_id=trace_id)


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


# -- what the templates get -----------------------------------------------------------------

_SECURITY_WORDS = {"tls": "SSL/TLS", "starttls": "STARTTLS", "none": _l("Aucune")}


def sheet(scenario: Scenario, attempt: Attempt) -> sandbox.ConnectionSheet:
    """The scenario's "fiche de connexion" in the sandbox's shape, the learner's values in."""
    lines = {"incoming": [], "outgoing": []}  # type: dict[str, list[sandbox.SheetLine]]
    for server in scenario.sheet.servers:
        lines[server.role].append(sandbox.SheetLine(
            server.protocol.upper(), attempt.fill(server.host), server.port,
            str(_SECURITY_WORDS.get(server.security, server.security))))
    return sandbox.ConnectionSheet(attempt.fill(scenario.sheet.address),
                                   attempt.fill(scenario.sheet.username),
                                   attempt.fill(scenario.sheet.password),
                                   lines["incoming"], lines["outgoing"])


def player_context(scenario: Scenario, learner: LearnerInfo, attempt: Attempt,
                   chosen: str | None,
                   outcome: sandbox.SettingsOutcome | None = None,
                   writing: str | Writing | None = None) -> dict[str, Any]:
    """Everything the player page shows (with the settings form as a post left it).

    `writing` opens a device's compose form: its id, or what a sending left.
    """
    devices = player_devices(learner, attempt)
    selected = next((d for d in devices if d.spec_id == chosen), devices[0] if devices else None)
    if selected and outcome:
        selected.outcome = outcome
    if isinstance(writing, str):
        writer = next((d for d in devices if d.spec_id == writing), None)
        writing = Writing(writer, sandbox.Draft()) if writer and attempt.playing else None
    compose = compose_context(learner, attempt, writing) if writing else {}
    return {
        "offers_reset": offers_reset(attempt), **compose,
        "scenario": scenario, "attempt": attempt, "learner": learner,
        "sheet": sheet(scenario, attempt), "objectives": objectives(scenario, attempt),
        "mistakes": mistakes(scenario, attempt), "hints": hints(attempt),
        "devices": devices, "selected": selected, "quiz": quiz(scenario, attempt),
        "finished": finished(attempt), "newly": (), "minutes": minutes(attempt),
        **(settings_context(learner, attempt, selected, selected.outcome) if selected else {}),
    }


def settings_context(learner: LearnerInfo, attempt: Attempt, device: PlayerDevice,
                     outcome: sandbox.SettingsOutcome) -> dict[str, Any]:
    """What the sandbox's settings form needs to serve a scenario's device."""
    record = sandbox.trace_record(learner, outcome.trace_id) if outcome.trace_id else None
    return {
        "device": outcome.device, "form": outcome.form, "selected": device,
        "settings_action": url_for("scenarios.device_settings", slug=attempt.slug,
                                   device_id=device.spec_id),
        "risk_url": url_for("scenarios.accept_risk", slug=attempt.slug,
                            device_id=device.spec_id),
        "account_address": attempt.address, "locked_fields": device.locked_fields,
        "settings_outcome": outcome, "settings_record": record,
    }


def offers_reset(attempt: Attempt) -> bool:
    """Whether the IT service's reset page is in the player: a device takes a typed password."""
    return any("password" in view.editable for view in engine().devices(attempt.id))


def reset_password(attempt: Attempt) -> None:
    """The IT service's reset page: a new password (the sheet shows it), the account unlocked."""
    if attempt.playing and offers_reset(attempt):
        engine().reset_password(attempt.id)


def reinstall(learner: LearnerInfo, attempt: Attempt, spec_id: str) -> None:
    """"Réinstaller le logiciel": it keeps its messages and forgets which ones it downloaded."""
    device = player_device(learner, attempt, spec_id)
    if not attempt.playing or not device.reinstall:
        return
    engine().reinstall(attempt.id, spec_id, sandbox.devices().local(device.info.id))


@dataclass
class Writing:
    """The compose form of a device in the player, and what the last sending did."""

    device: PlayerDevice
    draft: sandbox.Draft
    trace_id: int | None = None
    wait: int = 0

    @property
    def status(self) -> int:
        """The HTTP status of the answer to the form."""
        return 429 if self.wait else 422 if self.draft.errors else 200


def write(learner: LearnerInfo, attempt: Attempt, spec_id: str,
          form: MultiDict[str, str]) -> Writing:
    """Send the compose form with the device's outgoing settings (the engine judges it)."""
    lab = current_lab()
    assert lab is not None
    device = player_device(learner, attempt, spec_id)
    draft = sandbox.read_draft(form)
    if not attempt.playing:
        return Writing(device, draft)
    wait = 0 if draft.errors else sandbox.seconds_to_wait(learner)
    if draft.errors or wait or device.info.outgoing.missing():
        return Writing(device, draft, wait=wait)
    trace_id = sandbox.send_draft(lab, learner, device.info, draft)
    return Writing(device, sandbox.Draft(), trace_id)


def compose_context(learner: LearnerInfo, attempt: Attempt, writing: Writing) -> dict[str, Any]:
    """What the sandbox's compose partial needs to write from a scenario's device."""
    spec_id = writing.device.spec_id
    record = sandbox.trace_record(learner, writing.trace_id) if writing.trace_id else None
    return {
        "writing": writing, "draft": writing.draft, "wait": writing.wait, "compose_record": record,
        "compose_device": writing.device.info, "from_address": attempt.address,
        "compose_action": url_for("scenarios.compose", slug=attempt.slug, device_id=spec_id),
        "compose_back": url_for("scenarios.play", slug=attempt.slug),
        "compose_settings": url_for("scenarios.play", slug=attempt.slug, reglages=spec_id,
                                    _anchor="reglages"),
        "lab_domains": sandbox.lab_domains(),
        "outside_lab": sandbox.outside_lab(record.details.get("to", [])) if record else [],
    }


def accept_risk(learner: LearnerInfo, attempt: Attempt, spec_id: str, host: str) -> None:
    """Trust a doubtful certificate on a device, as a real program lets you (it is recorded)."""
    device = player_device(learner, attempt, spec_id)
    host = host.strip().lower()
    if not host or "accepted_risks" not in device.editable or not attempt.playing:
        return
    hosts = sorted(device.info.accepted_risks | {host})
    engine().change_settings(attempt.id, spec_id, {"accepted_risks": hosts})
    device_rows(learner, attempt)
