"""The scenario player: an attempt's devices, their settings form, their mail program.

Each device of an attempt is also a device of the sandbox's store (at a
position above the sandbox's two), so the sandbox's settings form, Tester,
mail program, traces and rate limit work for it unchanged; its client plays
in the scenario's world and every operation is judged by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import abort, g, has_app_context, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from pixlab.client.client import LocalMail, MailClient
from pixlab.client.settings import SETTING_KINDS
from pixlab.client.trace import Trace
from pixlab.sandbox.store import DeviceInfo, LearnerInfo, column
from pixlab.scenarios import progress
from pixlab.scenarios.attempt import Attempt
from pixlab.scenarios.engine import ScenarioEngine, UnknownScenario
from pixlab.scenarios.schema import INTRUDER_DEVICE, DeviceSpec, Scenario, local
from pixlab.scenarios.settings import SettingError
from pixlab.web.context import current_lab
from pixlab.web.embed import player_endpoint
from pixlab.web.labels import SECURITY_LABELS, lang, time_of_day
from pixlab.web.learners import ConnectionSheet, SheetLine, devices, other_programs
from pixlab.web.mail_program import (
    Draft,
    MailView,
    lab_domains,
    mail_view,
    outside_lab,
    read_draft,
    send_draft,
)
from pixlab.web.settings_form import (
    SettingsForm,
    SettingsOutcome,
    form_from_device,
    pressed_test,
    program_action,
    read_settings_form,
)
from pixlab.web.testing import seconds_to_wait, trace_record

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab
from pixlab.web.scenario_attempts import (
    engine,
    ensure_learner,
    finished,
    hints,
    learner_key,
    minutes,
    mistakes,
    objectives,
    quiz,
    scenario_or_404,
    text,
)

FIRST_POSITION = 100  # device rows of attempts start here, above the sandbox's devices
PER_ATTEMPT = 4  # positions kept for one attempt's devices (a scenario has 1 to 3)


def init_app(app: Any) -> None:
    """Give the scenarios' devices their own world in the sandbox's mail client."""
    app.extensions.setdefault("pixlab.client_factories", []).append(scenario_client)
    app.extensions.setdefault("pixlab.device_pages", []).append(device_page)
    app.extensions.setdefault("pixlab.device_labels", []).append(device_name)
    app.extensions.setdefault("pixlab.device_local_archives", []).append(local_archives)
    app.extensions.setdefault("pixlab.device_storage_changed", []).append(storage_changed)
    # A page is one view of an attempt: its row is read once per request, not once per
    # question the page asks the engine (pixlab.scenarios.progress.begin_request).
    app.before_request(progress.begin_request)
    app.teardown_request(_end_request)


def _end_request(_error: BaseException | None) -> None:
    progress.end_request()


def start(slug: str) -> Attempt:
    """A fresh attempt for the session's learner (started if needed), its devices ready."""
    scenario_or_404(slug)
    learner = ensure_learner()
    attempt = engine().start(learner_key(learner), slug, lang())
    device_rows(learner, attempt)
    return attempt


# -- the devices of an attempt ------------------------------------------------------------

def _position(attempt: Attempt, index: int) -> int:
    return FIRST_POSITION + attempt.id * PER_ATTEMPT + index


def device_rows(learner: LearnerInfo, attempt: Attempt) -> dict[str, DeviceInfo]:
    """The attempt's devices as sandbox devices (made on first use), by the scenario's id."""
    views = engine().devices(attempt.id)
    positions = {_position(attempt, n): view for n, view in enumerate(views)}
    rows = devices().keep_devices(
        learner.id, {position: (view.kind, view.settings, view.program)
                     for position, view in positions.items()})
    return {view.id: rows[position] for position, view in positions.items() if position in rows}


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

    def send(self, to: list[str], subject: str, body: str, sender: str = "",
             reply_to: str = "") -> Trace:
        """Send a message, judged."""
        return self._seen(super().send(to, subject, body, sender, reply_to))


def _spec_of(device: DeviceInfo) -> tuple[Attempt, DeviceSpec] | None:
    """The attempt and the scenario's device that a device row plays, if it is one."""
    where = attempt_of_device(device)
    if where is None:
        return None
    # A page names each device several times (its label, its links, its folders): one read
    # of the attempt per request is enough, for what its callers use of it never changes
    # while the attempt lives (its id, its scenario, its learner's address).
    known: dict[int, Attempt] = (g.setdefault("pixlab_device_attempts", {})
                                 if has_app_context() else {})
    try:
        attempt = known.get(where[0]) or engine().get(where[0])
        known[where[0]] = attempt
        return attempt, engine().scenario(attempt.slug).devices[where[1]]
    except (KeyError, IndexError, UnknownScenario):
        return None


def device_page(device: DeviceInfo, page: str) -> str | None:
    """The player's page for a scenario's device: its settings, writing, or the player itself."""
    found = _spec_of(device)
    if found is None:
        return None
    attempt, spec = found
    play = player_endpoint("play")
    if page == "settings":
        return url_for(play, slug=attempt.slug, reglages=spec.id, _anchor="reglages")
    if page == "compose":
        return url_for(play, slug=attempt.slug, ecrire=spec.id, _anchor="ecrire")
    return url_for(play, slug=attempt.slug)


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
    outcome: SettingsOutcome
    mail: MailView | None = None
    reinstall: bool = False  # the player offers "Réinstaller le logiciel"

    @property
    def locked_fields(self) -> list[str]:
        """The form's fields the learner may not change here."""
        return [name for key, name in _FORM_NAMES.items() if key not in self.editable]


# A scenario's settings (flat keys) by the settings form's field names.
_FORM_NAMES = {key: column(key) for key in SETTING_KINDS if key != "accepted_risks"}


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
        outcome = SettingsOutcome("shown", form_from_device(info), info)
        mail = None
        if with_mail and attempt.playing:
            mail = mail_view(lab, learner, info, "INBOX", None)
        result.append(PlayerDevice(view.id, text(view.name), info, view.editable, outcome, mail,
                                   specs[view.id].reinstall))
    return result


def player_device(learner: LearnerInfo, attempt: Attempt, spec_id: str) -> PlayerDevice:
    """One device of the attempt, or 404."""
    for device in player_devices(learner, attempt, with_mail=False):
        if device.spec_id == spec_id:
            return device
    abort(404)


def _engine_changes(form: SettingsForm, editable: frozenset[str]) -> dict[str, Any]:
    values = form.values
    changes = {key: values[name] for key, name in _FORM_NAMES.items()
               if key in editable and name in values}
    if "password" in editable and "password" not in values:
        changes.pop("password", None)  # left blank: the stored one is kept
    return changes


def save_and_test(learner: LearnerInfo, attempt: Attempt, device: PlayerDevice,
                  form: MultiDict[str, str]) -> SettingsOutcome:
    """The sandbox's form flow for a scenario's device: only the editable fields change."""
    lab = current_lab()
    assert lab is not None
    form = program_action(form, device.info)
    merged = MultiDict(form_from_device(device.info).typed)
    for name in (n for k, n in _FORM_NAMES.items() if k in device.editable):
        # Locked fields are disabled, so the browser leaves them out; a ticked box is there.
        if name in form or name == "accepted_cleartext":
            merged.setlist(name, form.getlist(name))
    merged["action"] = form.get("action", "save")
    settings = read_settings_form(merged, device.info.program)
    if settings.errors:
        return SettingsOutcome("invalid", settings, device.info)
    try:
        engine().change_settings(attempt.id, device.spec_id,
                                 _engine_changes(settings, device.editable))
    except SettingError as exc:
        settings.errors[_FORM_NAMES.get(exc.field, exc.field)] = _("Valeur refusée.")
        return SettingsOutcome("invalid", settings, device.info)
    info = device_rows(learner, attempt)[device.spec_id]
    if not settings.sides:
        return SettingsOutcome("saved", settings, info)
    # Where the scenario lets the learner tick "Je comprends les risques", ask first; else
    # the test runs and the program refuses, as a real one set up this way does.
    return pressed_test(lab, learner, info, settings, "accepted_cleartext" in device.editable)


# -- what the templates get -----------------------------------------------------------------


def sheet(scenario: Scenario, attempt: Attempt) -> ConnectionSheet:
    """The scenario's "fiche de connexion" in the sandbox's shape, the learner's values in."""
    lines = {"incoming": [], "outgoing": []}  # type: dict[str, list[SheetLine]]
    for server in scenario.sheet.servers:
        lines[server.role].append(SheetLine(
            server.protocol.upper(), attempt.fill(server.host), server.port,
            str(SECURITY_LABELS[server.security]), str(server.security)))
    return ConnectionSheet(attempt.fill(scenario.sheet.address),
                                   attempt.fill(scenario.sheet.username),
                                   attempt.fill(scenario.sheet.password),
                                   lines["incoming"], lines["outgoing"],
                                   other_programs(d.program for d in scenario.devices))


def player_context(scenario: Scenario, learner: LearnerInfo, attempt: Attempt,
                   chosen: str | None,
                   outcome: SettingsOutcome | None = None,
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
        writing = Writing(writer, Draft()) if writer and attempt.playing else None
    compose = compose_context(learner, attempt, writing) if writing else {}
    return {
        "offers_reset": offers_reset(attempt), **compose, **account_page(scenario, attempt),
        "scenario": scenario, "attempt": attempt, "learner": learner,
        "sheet": sheet(scenario, attempt), "objectives": objectives(scenario, attempt),
        "mistakes": mistakes(scenario, attempt), "hints": hints(attempt),
        "devices": devices, "selected": selected, "quiz": quiz(scenario, attempt),
        "finished": finished(attempt), "newly": (), "minutes": minutes(attempt),
        **(settings_context(learner, attempt, selected, selected.outcome) if selected else {}),
    }


def settings_context(learner: LearnerInfo, attempt: Attempt, device: PlayerDevice,
                     outcome: SettingsOutcome) -> dict[str, Any]:
    """What the sandbox's settings form needs to serve a scenario's device."""
    record = trace_record(learner, outcome.trace_id) if outcome.trace_id else None
    return {
        "device": outcome.device, "form": outcome.form, "selected": device,
        "settings_action": url_for(player_endpoint("device_settings"), slug=attempt.slug,
                                   device_id=device.spec_id),
        "risk_url": url_for(player_endpoint("accept_risk"), slug=attempt.slug,
                            device_id=device.spec_id),
        "account_address": attempt.address, "locked_fields": device.locked_fields,
        "settings_outcome": outcome, "settings_record": record,
    }


def offers_reset(attempt: Attempt) -> bool:
    """Whether the IT service's reset page is in the player: a device takes a typed password."""
    lab = engine().scenario(attempt.slug).lab
    if lab.two_step or lab.intruder:
        return False  # the account's own page stands for the provider (see account_page)
    return any("password" in view.editable for view in engine().devices(attempt.id))


def reset_password(attempt: Attempt) -> None:
    """The IT service's reset page: a new password (the sheet shows it), the account unlocked."""
    if attempt.playing and offers_reset(attempt):
        engine().reset_password(attempt.id)


def account_page(scenario: Scenario, attempt: Attempt) -> dict[str, Any]:
    """The account's own page at its provider, when the scenario's account has one.

    With two-step verification, it makes application passwords; with a stranger, it
    changes the password. Both list the account's last connections, from the lab's log.
    """
    lab = scenario.lab
    if not (lab.two_step or lab.intruder):
        return {}
    names = {d.id: local(d.name, lang()) for d in scenario.devices}
    names[INTRUDER_DEVICE] = _("Inconnu")
    logins = [{"when": time_of_day(login.at), "protocol": login.protocol.upper(),
               "program": names.get(login.device or "", _("Un autre logiciel")),
               "peer": login.peer, "encrypted": login.encrypted}
              for login in engine().recent_logins(attempt.id)]
    return {"account_page": True, "two_step": lab.two_step, "changes_password": lab.intruder,
            "app_passwords": engine().app_passwords(attempt.id) if lab.two_step else [],
            "logins": logins}


def change_password(attempt: Attempt) -> bool:
    """The account's page changes the password: the old sessions are cut (see reset_password)."""
    if not attempt.playing or not engine().scenario(attempt.slug).lab.intruder:
        return False
    engine().reset_password(attempt.id)
    return True


def create_app_password(attempt: Attempt, label: str) -> tuple[str, str] | None:
    """The account's page makes an application password: (its program, the password) to show once.

    None when the scenario's account has no such page or the attempt has ended.
    """
    if not attempt.playing:
        return None
    label = " ".join(label.split())[:60] or _("Logiciel de messagerie")
    try:
        return label, engine().create_app_password(attempt.id, label)
    except ValueError:
        return None


def reinstall(learner: LearnerInfo, attempt: Attempt, spec_id: str) -> None:
    """"Réinstaller le logiciel": it keeps its messages and forgets which ones it downloaded."""
    device = player_device(learner, attempt, spec_id)
    if not attempt.playing or not device.reinstall:
        return
    engine().reinstall(attempt.id, spec_id, devices().local(device.info.id))


@dataclass
class Writing:
    """The compose form of a device in the player, and what the last sending did."""

    device: PlayerDevice
    draft: Draft
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
    draft = read_draft(form)
    if not attempt.playing:
        return Writing(device, draft)
    wait = 0 if draft.errors else seconds_to_wait(learner)
    if draft.errors or wait or device.info.outgoing.missing():
        return Writing(device, draft, wait=wait)
    trace_id = send_draft(lab, learner, device.info, draft)
    return Writing(device, Draft(), trace_id)


def compose_context(learner: LearnerInfo, attempt: Attempt, writing: Writing) -> dict[str, Any]:
    """What the sandbox's compose partial needs to write from a scenario's device."""
    spec_id = writing.device.spec_id
    record = trace_record(learner, writing.trace_id) if writing.trace_id else None
    return {
        "writing": writing, "draft": writing.draft, "wait": writing.wait, "compose_record": record,
        "compose_device": writing.device.info, "from_address": attempt.address,
        "compose_action": url_for(player_endpoint("compose"), slug=attempt.slug, device_id=spec_id),
        "compose_back": url_for(player_endpoint("play"), slug=attempt.slug),
        "compose_settings": url_for(player_endpoint("play"), slug=attempt.slug, reglages=spec_id,
                                    _anchor="reglages"),
        "lab_domains": lab_domains(),
        "outside_lab": outside_lab(record.details.get("to", [])) if record else [],
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
