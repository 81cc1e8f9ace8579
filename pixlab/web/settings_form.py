"""The settings form of a device, read as typed, and what pressing one of its buttons does.

Nothing the learner typed is corrected: only impossible values are refused.
"Tester" runs the test the button asks for, after the fields it needs, the
cleartext warning and the per-learner limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from pixlab.client.programs import DEFAULT_PROGRAM, program_of, ssl_fallback
from pixlab.client.settings import (
    AUTHS,
    INCOMING_PROTOCOLS,
    LEAVES,
    SETTING_KINDS,
    SIDES,
)
from pixlab.sandbox.store import (
    DeviceInfo,
    LearnerInfo,
    column,
)
from pixlab.web.labels import lang
from pixlab.web.program_messages import program_text

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab
from pixlab.web.learners import devices
from pixlab.web.testing import needs_cleartext_confirmation, run_test, seconds_to_wait

TEST_ACTIONS = {"test": ("incoming", "outgoing"), "test-incoming": ("incoming",),
                "test-outgoing": ("outgoing",)}


@dataclass
class SettingsForm:
    """What the settings form sent: the values to keep, the errors, the button pressed."""

    values: dict[str, Any]
    typed: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    action: str = "save"

    @property
    def sides(self) -> tuple[str, ...]:
        """The servers the pressed button tests."""
        return TEST_ACTIONS.get(self.action, ())


def form_from_device(device: DeviceInfo) -> SettingsForm:
    """The form as the device's stored settings fill it."""
    typed = {column(key): "" if value is None else str(value)
             for key, value in device.settings().items() if column(key) in _TYPED_FIELDS}
    typed["accepted_cleartext"] = "1" if device.accepted_cleartext else ""
    return SettingsForm({}, typed)


def program_action(form: MultiDict[str, str], device: DeviceInfo) -> MultiDict[str, str]:
    """The form a program's own button amounts to: iPhone's "yes, without SSL" changes the
    stored settings (`ssl_fallback`) and tests that side again; any other form is kept."""
    side = FALLBACK_ACTIONS.get(form.get("action", ""))
    if side is None or not program_of(device.program).offers_ssl_fallback:
        return form
    typed = MultiDict(form_from_device(device).typed)
    for key, value in ssl_fallback(device.settings(), side).items():
        typed[column(key)] = "1" if value is True else str(value)
    typed["action"] = f"test-{side}"
    return typed


FALLBACK_ACTIONS = {"ssl-fallback-incoming": "incoming", "ssl-fallback-outgoing": "outgoing"}


def read_settings_form(form: MultiDict[str, str], program: str = DEFAULT_PROGRAM) -> SettingsForm:
    """Read the form as typed: nothing is corrected, only impossible values are refused.

    The security must be one of the choices the device's program offers.
    """
    securities = tuple(str(s) for s in program_of(program).securities)
    typed = {key: form.get(key, "").strip() for key in _TYPED_FIELDS}
    typed["accepted_cleartext"] = "1" if form.get("accepted_cleartext") else ""
    result = SettingsForm({}, typed, action=form.get("action", "save"))
    values, errors = result.values, result.errors
    _choice(values, errors, typed, "incoming_protocol", INCOMING_PROTOCOLS, required=True)
    for side in SIDES:
        _text(values, errors, typed, f"{side}_host", 255)
        _port(values, errors, typed, f"{side}_port")
        _choice(values, errors, typed, f"{side}_security", securities, required=False)
        _choice(values, errors, typed, f"{side}_auth", AUTHS, required=True)
        _text(values, errors, typed, f"{side}_username", 320)
    _choice(values, errors, typed, "leave_on_server", LEAVES, required=True)
    _number(values, errors, typed, "leave_days", 1, 999)
    password = form.get("password", "")  # never stripped: spaces are characters too
    if len(password) > 200:
        errors["password"] = _("Le mot de passe est trop long.")
    elif password:
        values["password"] = password
    values["accepted_cleartext"] = bool(typed["accepted_cleartext"])
    return result


# The form's fields that are read as typed (stripped): every setting but the password, the
# cleartext box and the accepted certificates, which have their own rules.
_TYPED_FIELDS = tuple(column(key) for key in SETTING_KINDS
                      if key not in ("password", "accepted_cleartext", "accepted_risks"))


def _text(values: dict[str, Any], errors: dict[str, str], typed: dict[str, str], name: str,
          limit: int) -> None:
    if len(typed[name]) > limit:
        errors[name] = _("C'est trop long (%(limit)s caractères au plus).", limit=limit)
    else:
        values[name] = typed[name]


def _port(values: dict[str, Any], errors: dict[str, str], typed: dict[str, str],
          name: str) -> None:
    text = typed[name]
    if not text:
        values[name] = None
    elif text.isdigit() and 1 <= int(text) <= 65535:
        values[name] = int(text)
    else:
        errors[name] = program_text("hub.port_invalid", lang()) or _(
            "Le port doit être compris entre 1 et 65535"
        )


def _number(values: dict[str, Any], errors: dict[str, str], typed: dict[str, str], name: str,
            low: int, high: int) -> None:
    text = typed[name] or str(low)
    if text.isdigit() and low <= int(text) <= high:
        values[name] = int(text)
    else:
        errors[name] = _("Un nombre entre %(low)s et %(high)s.", low=low, high=high)


def _choice(values: dict[str, Any], errors: dict[str, str], typed: dict[str, str], name: str,
            choices: tuple[str, ...], required: bool) -> None:
    if typed[name] in choices or (not required and typed[name] == ""):
        values[name] = typed[name]
    else:
        errors[name] = _("Choisis une des propositions.")


def missing_for_test(device: DeviceInfo, sides: tuple[str, ...]) -> dict[str, str]:
    """The fields a test of these servers needs and the learner left empty."""
    messages = {
        "protocol": _("Choisis une des propositions."),
        "host": _("Indique le nom d'hôte du serveur."),
        "port": _("Indique le port."),
        "security": _("Choisis la sécurité de la connexion."),
        "auth": _("Choisis la méthode d'authentification."),
    }
    errors = {}
    for side in sides:
        for name in getattr(device, side).missing():
            errors[f"{side}_{name}"] = str(messages[name])
    return errors


@dataclass
class SettingsOutcome:
    """What pressing a button of the settings form did."""

    status: str  # "invalid", "saved", "confirm", "limited" or "tested"
    form: SettingsForm
    device: DeviceInfo
    trace_id: int | None = None
    wait: int = 0
    unconfirmed: list[str] = field(default_factory=list)


STATUS_CODES = {"invalid": 422, "limited": 429}


def save_and_test(lab: Lab, learner: LearnerInfo, device: DeviceInfo,
                  form: MultiDict[str, str]) -> SettingsOutcome:
    """Keep what the learner typed, then run the test the pressed button asks for."""
    settings = read_settings_form(program_action(form, device), device.program)
    if settings.errors:
        return SettingsOutcome("invalid", settings, device)
    store = devices()
    store.save_settings(device.id, settings.values)
    device = store.device(learner.id, device.id) or device
    if not settings.sides:
        return SettingsOutcome("saved", settings, device)
    return pressed_test(lab, learner, device, settings)


def pressed_test(lab: Lab, learner: LearnerInfo, device: DeviceInfo, settings: SettingsForm,
                 may_confirm: bool = True) -> SettingsOutcome:
    """The test a pressed button asks for, once the settings are kept.

    `may_confirm`: ask before a test without encryption ("Je comprends les
    risques"); where the learner may not tick it, the test runs and the program
    refuses, as a real one set up this way does.
    """
    sides = settings.sides
    if settings.action == "test" and device.outgoing.missing():
        sides = ("incoming",)  # "Tester" tries what is filled in; the sheet comes in order
    settings.errors = missing_for_test(device, sides)
    if settings.errors:
        return SettingsOutcome("invalid", settings, device)
    unconfirmed = needs_cleartext_confirmation(device, sides) if may_confirm else []
    if unconfirmed:
        return SettingsOutcome("confirm", settings, device, unconfirmed=unconfirmed)
    wait = seconds_to_wait(learner)
    if wait:
        return SettingsOutcome("limited", settings, device, wait=wait)
    trace_id = run_test(lab, learner, device, sides)
    return SettingsOutcome("tested", settings, device, trace_id=trace_id)
