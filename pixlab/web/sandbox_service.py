"""The sandbox's work, between the views and the domain: learners, settings, tests, mail.

Views gather input and render; everything they need done is here: starting a
learner with a lab account and welcome messages, reading the settings form
without correcting anything, running a test under the per-learner limit,
and the mail client's operations for each device.
"""

from __future__ import annotations

import email
import email.policy
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, session
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from pixlab.client.client import DEFAULT_TIMEOUT, MailClient
from pixlab.client.network import LabNetwork, NameTable, PortState
from pixlab.client.settings import Auth, LeaveOnServer, Security
from pixlab.devices import (
    MAX_DEVICES,
    DeviceInfo,
    DeviceStore,
    LearnerInfo,
    LocalMailbox,
    new_lab_address,
    new_lab_password,
)
from pixlab.web.context import current_lab
from pixlab.web.program_messages import program_text
from pixlab.web.traces import (
    ServerFolder,
    TraceView,
    folder_label,
    mailbox_on_server,
    ordered_folders,
    present,
    short_sender,
    snapshot,
)
from pixlab.web.welcome import welcome_messages

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab

SESSION_KEY = "sandbox_learner"
LIMITED_KINDS = ("test", "send", "fetch")
LOCAL_FOLDERS = ("INBOX", "Archives", "Sent")
DEVICE_LABELS = {"computer": _l("Ordinateur"), "phone": _l("Téléphone")}


def lang() -> str:
    """The interface's language, "fr" or "en"."""
    return get_locale().language if get_locale() else "fr"  # type: ignore[union-attr]


def device_label(device: DeviceInfo) -> str:
    """"Ordinateur" or "Téléphone", or the name another feature gives its device."""
    named = _ask("pixlab.device_labels", device)
    return str(named) if named else str(DEVICE_LABELS.get(device.kind, device.kind))


def _ask(hook: str, device: DeviceInfo, *args: Any) -> Any:
    """The first answer of the resolvers another feature registered for its devices, or None.

    A feature whose devices live elsewhere (a scenario's) registers
    `resolver(device, *args)` in `app.extensions[hook]`; it answers None for others.
    """
    for resolver in current_app.extensions.get(hook, ()):
        found = resolver(device, *args)
        if found is not None:
            return found
    return None


def local_archives(device: DeviceInfo) -> tuple[str, ...]:
    """The device's own folders that "Archiver sur l'appareil" offers (none in the sandbox)."""
    found = _ask("pixlab.device_local_archives", device)
    return tuple(found) if found else ()


def storage_changed(device: DeviceInfo, local: LocalMailbox) -> None:
    """Tell the feature that follows the device (a scenario) that its own storage changed."""
    _ask("pixlab.device_storage_changed", device, local)


def device_page(device: DeviceInfo, page: str) -> str | None:
    """Where another feature shows one of its devices ("settings" or "home"), if it does.

    A feature registers `resolver(device, page) -> url | None` in
    `app.extensions["pixlab.device_pages"]`; the sandbox's own devices have none.
    """
    for resolver in current_app.extensions.get("pixlab.device_pages", ()):
        url = resolver(device, page)
        if url:
            return str(url)
    return None


def devices() -> DeviceStore:
    """The store of learners and devices, on the lab's database."""
    lab = current_lab()
    assert lab is not None
    return DeviceStore(lab.engine)


# -- the learner ------------------------------------------------------------------------


def current_learner() -> LearnerInfo | None:
    """The learner of this browser session, if they started or resumed one."""
    learner_id = session.get(SESSION_KEY)
    if current_lab() is None or not isinstance(learner_id, int):
        return None
    return devices().learner(learner_id)


def start_learner(lab: Lab) -> LearnerInfo:
    """A new learner: a lab account with welcome messages, and a first device (a computer)."""
    store = DeviceStore(lab.engine)
    domain = lab.world.primary_domain
    for _attempt in range(50):
        address = new_lab_address(domain)
        if lab.store.account(address) is None and not store.address_taken(address):
            break
    password = new_lab_password()
    # The learner row reserves the address (it is unique) before the lab account exists.
    learner = store.create_learner(address, password)
    account = lab.store.create_account(address, password)
    for raw, arrived in welcome_messages(address, domain):
        lab.store.append(account, "INBOX", raw, internal_date=arrived)
    store.add_device(learner.id, username=address)
    session[SESSION_KEY] = learner.id
    return learner


def resume_learner(code: str) -> LearnerInfo | None:
    """Continue with a resume code; None when no learner has it."""
    learner = devices().learner_by_code(code)
    if learner is not None:
        session[SESSION_KEY] = learner.id
    return learner


def forget_learner() -> None:
    """Leave the sandbox on this browser (the learner can come back with the code)."""
    session.pop(SESSION_KEY, None)


def owned_device(learner: LearnerInfo | None, device_id: int) -> DeviceInfo | None:
    """One of this learner's devices; None for anybody else's (the views answer 404)."""
    return devices().device(learner.id, device_id) if learner else None


def require_device(device_id: int) -> tuple[Lab, LearnerInfo, DeviceInfo]:
    """The lab, the learner and their device, or 404: nobody sees another learner's device."""
    lab, learner = current_lab(), current_learner()
    device = owned_device(learner, device_id)
    if lab is None or learner is None or device is None:
        abort(404)
    return lab, learner, device


@dataclass(frozen=True)
class SheetLine:
    """One line of the connection sheet: a server, its port and its security."""

    protocol: str
    host: str
    port: int
    security: str


@dataclass(frozen=True)
class ConnectionSheet:
    """The "fiche de connexion" an IT service hands out."""

    address: str
    username: str
    password: str
    incoming: list[SheetLine]
    outgoing: list[SheetLine]


_SHEET_HOSTS = {"imap": "imap", "imaps": "imap", "pop3": "pop", "pop3s": "pop",
                "submission": "smtp", "smtps": "smtp"}
_SHEET_SECURITY = {"tls": _l("SSL/TLS"), "starttls": _l("STARTTLS"), "plain": _l("Aucune")}


def connection_sheet(lab: Lab, learner: LearnerInfo) -> ConnectionSheet:
    """The organisation's servers as the lab really runs them, with the learner's account."""
    domain = lab.world.primary_domain
    lines = [
        SheetLine(
            info.spec.protocol.upper(),
            f"{_SHEET_HOSTS[info.name]}.{domain}",
            info.spec.port_canonical,
            str(_SHEET_SECURITY[info.security]),
        )
        for info in lab.listeners
        if info.name in _SHEET_HOSTS
    ]
    order = {"IMAP": 0, "POP3": 1, "SMTP": 2}
    lines.sort(key=lambda line: (order.get(line.protocol, 3), line.port))
    return ConnectionSheet(
        learner.address,
        learner.address,
        learner.password,
        [line for line in lines if line.protocol != "SMTP"],
        [line for line in lines if line.protocol == "SMTP"],
    )


def add_device(learner: LearnerInfo) -> DeviceInfo | None:
    """Add the second device (a phone); None when the learner already has two."""
    from pixlab.devices import DeviceLimitReached

    try:
        return devices().add_device(learner.id, username=learner.address)
    except DeviceLimitReached:
        return None


def can_add_device(device_list: list[DeviceInfo]) -> bool:
    """Whether the learner may add another device."""
    return len(device_list) < MAX_DEVICES


# -- the settings form ---------------------------------------------------------------------

PROTOCOLS = ("imap", "pop3")
SECURITIES = tuple(s.value for s in Security)
AUTHS = tuple(a.value for a in Auth)
LEAVES = tuple(option.value for option in LeaveOnServer)
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
    typed = {}
    for side in ("incoming", "outgoing"):
        server = getattr(device, side)
        typed.update({
            f"{side}_host": server.host,
            f"{side}_port": "" if server.port is None else str(server.port),
            f"{side}_security": server.security,
            f"{side}_auth": server.auth,
            f"{side}_username": server.username,
        })
    typed["incoming_protocol"] = device.incoming.protocol
    typed["leave_on_server"] = device.leave_on_server
    typed["leave_days"] = str(device.leave_days)
    typed["accepted_cleartext"] = "1" if device.accepted_cleartext else ""
    return SettingsForm({}, typed)


def read_settings_form(form: MultiDict[str, str]) -> SettingsForm:
    """Read the form as typed: nothing is corrected, only impossible values are refused."""
    typed = {key: form.get(key, "").strip() for key in _TYPED_FIELDS}
    typed["accepted_cleartext"] = "1" if form.get("accepted_cleartext") else ""
    result = SettingsForm({}, typed, action=form.get("action", "save"))
    values, errors = result.values, result.errors
    _choice(values, errors, typed, "incoming_protocol", PROTOCOLS, required=True)
    for side in ("incoming", "outgoing"):
        _text(values, errors, typed, f"{side}_host", 255)
        _port(values, errors, typed, f"{side}_port")
        _choice(values, errors, typed, f"{side}_security", SECURITIES, required=False)
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


_TYPED_FIELDS = (
    "incoming_protocol", "incoming_host", "incoming_port", "incoming_security", "incoming_auth",
    "incoming_username", "outgoing_host", "outgoing_port", "outgoing_security", "outgoing_auth",
    "outgoing_username", "leave_on_server", "leave_days",
)


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
    settings = read_settings_form(form)
    if settings.errors:
        return SettingsOutcome("invalid", settings, device)
    store = devices()
    store.save_settings(device.id, settings.values)
    device = store.device(learner.id, device.id) or device
    if not settings.sides:
        return SettingsOutcome("saved", settings, device)
    sides = settings.sides
    if settings.action == "test" and device.outgoing.missing():
        sides = ("incoming",)  # "Tester" tries what is filled in; the sheet comes in order
    settings.errors = missing_for_test(device, sides)
    if settings.errors:
        return SettingsOutcome("invalid", settings, device)
    unconfirmed = needs_cleartext_confirmation(device, sides)
    if unconfirmed:
        return SettingsOutcome("confirm", settings, device, unconfirmed=unconfirmed)
    wait = seconds_to_wait(learner)
    if wait:
        return SettingsOutcome("limited", settings, device, wait=wait)
    trace_id = run_test(lab, learner, device, sides)
    return SettingsOutcome("tested", settings, device, trace_id=trace_id)


# -- tests ---------------------------------------------------------------------------------


def sandbox_network(lab: Lab) -> LabNetwork:
    """The organisation's network: its names, and port 25 filtered as many networks do."""
    filtered = current_app.config.get("SANDBOX_FILTERED_PORTS", (25,))
    overrides = {
        f"{prefix}.{domain}": {port: PortState.FILTERED for port in filtered}
        for domain in lab.config.domains
        for prefix in ("mail", "smtp")
    }
    return LabNetwork(lab, NameTable.for_domains(lab.config.domains, overrides))


def client_for(lab: Lab, learner: LearnerInfo, device: DeviceInfo) -> MailClient:
    """The device's mail program, on the organisation's network.

    A feature that gives devices another world (a scenario's names, ports and
    accounts) registers a factory in `app.extensions["pixlab.client_factories"]`;
    the first one that answers for a device makes its client.
    """
    for factory in current_app.extensions.get("pixlab.client_factories", ()):
        client = factory(lab, learner, device)
        if client is not None:
            return client
    timeout = float(current_app.config.get("SANDBOX_CLIENT_TIMEOUT", DEFAULT_TIMEOUT))
    return MailClient(lab, device.account_settings(learner.address), sandbox_network(lab),
                      timeout)


def seconds_to_wait(learner: LearnerInfo) -> int:
    """0 when the learner may run another test or send now; else how long to wait."""
    limit = int(current_app.config.get("SANDBOX_TESTS_PER_MINUTE", 20))
    now = time.time()
    recent = devices().operations_since(learner.id, LIMITED_KINDS, now - 60)
    if len(recent) < limit:
        return 0
    return max(1, int(recent[-limit] + 60 - now) + 1)


def needs_cleartext_confirmation(device: DeviceInfo, sides: tuple[str, ...]) -> list[str]:
    """The sides without encryption that the learner has not accepted yet."""
    if device.accepted_cleartext:
        return []
    return [side for side in sides if getattr(device, side).security == Security.NONE.value]


def run_test(lab: Lab, learner: LearnerInfo, device: DeviceInfo, sides: tuple[str, ...]) -> int:
    """Test the servers (as "Retester" does), keep the traces; returns the record's id."""
    client = client_for(lab, learner, device)
    traces = []
    for side in sides:
        trace = client.test_incoming() if side == "incoming" else client.test_outgoing()
        server = getattr(client.settings, side)
        traces.append(snapshot(trace, lab, client.settings, server, client.timeout))
    ok = all(t["error"] is None for t in traces)
    return devices().record_trace(learner.id, device.id, "test", ok, {"traces": traces})


@dataclass
class TraceRecordView:
    """A stored operation, ready to show."""

    id: int
    kind: str
    ok: bool
    device: DeviceInfo
    created_at: float
    traces: list[TraceView]
    details: dict[str, Any]
    server: list[ServerFolder]


def trace_record(learner: LearnerInfo | None, trace_id: int) -> TraceRecordView | None:
    """One of the learner's stored operations; None for anybody else's."""
    if learner is None:
        return None
    store = devices()
    record = store.trace(learner.id, trace_id)
    if record is None:
        return None
    device = store.device(learner.id, record.device_id)
    assert device is not None
    views = [present(t, lang()) for t in record.data.get("traces", [])]
    lab = current_lab()
    # The account the operation used: a scenario's devices have an address of their own.
    address = next((t.get("address") for t in record.data.get("traces", [])
                    if t.get("address")), learner.address)
    server = mailbox_on_server(lab, address) if lab else []
    return TraceRecordView(record.id, record.kind, record.ok, device, record.created_at, views,
                           record.data, server)


def latest_tests(learner: LearnerInfo) -> dict[int, tuple[int, bool]]:
    """Each device's latest test: (record id, ok)."""
    return devices().latest_traces(learner.id, "test")


# -- the mail client -----------------------------------------------------------------------


@dataclass
class MessageRow:
    """A message in a list."""

    ref: str  # IMAP UID or local message id
    sender: str
    subject: str
    date: str
    seen: bool


@dataclass
class ReadMessage:
    """The message in the reading pane."""

    ref: str
    sender: str
    to: str
    subject: str
    date: str
    body: str
    html_only: bool


@dataclass
class FolderRow:
    """A folder in the list."""

    name: str
    label: str
    count: int | None


@dataclass
class MailView:
    """What one device's mail program shows."""

    device: DeviceInfo
    mode: str  # "imap", "pop3" or "unconfigured"
    folder: str
    folders: list[FolderRow] = field(default_factory=list)
    messages: list[MessageRow] = field(default_factory=list)
    message: ReadMessage | None = None
    error: TraceView | None = None
    error_trace_id: int | None = None
    here: bool = False  # the folder shown is one of the device's own (IMAP: not the server's)
    local_folders: list[FolderRow] = field(default_factory=list)  # IMAP: the device's own
    archive_targets: tuple[str, ...] = ()  # "Archiver sur l'appareil" into these

    @property
    def move_targets(self) -> list[FolderRow]:
        """IMAP: the server's folders a message of this folder can be moved to."""
        if self.mode != "imap" or self.here:
            return []
        return [f for f in self.folders if f.name != self.folder]


def mail_view(lab: Lab, learner: LearnerInfo, device: DeviceInfo, folder: str,
              ref: str | None, here: bool = False) -> MailView:
    """A device's mailbox: IMAP asks the server now; POP3 shows what the device downloaded.

    `here` shows one of an IMAP device's own folders (a local archive) instead.
    """
    folder = folder or "INBOX"
    if not device.configured:
        return MailView(device, "unconfigured", folder)
    if device.incoming.protocol == "pop3":
        return _local_view(device, folder, ref)
    targets = local_archives(device)
    local = devices().local(device.id)
    counts = local.counts()
    kept = dict.fromkeys((*targets, *(n for n in counts if n not in ("INBOX", "Sent"))))
    own = [FolderRow(name, name, counts.get(name, 0)) for name in kept]
    if here and any(f.name == folder for f in own):
        view = MailView(device, "imap", folder, here=True)
        _fill_local(view, local, folder, ref)
        overview = client_for(lab, learner, device).fetch()
        names = [f["name"] for f in overview.result.get("folders", [])]
        view.folders = [FolderRow(n, folder_label(n), None) for n in ordered_folders(names)]
    else:
        view = _imap_view(lab, learner, device, folder, ref)
    view.local_folders, view.archive_targets = own, targets
    return view


def _local_view(device: DeviceInfo, folder: str, ref: str | None) -> MailView:
    local = devices().local(device.id)
    counts = local.counts()
    folder = folder if folder in LOCAL_FOLDERS else "INBOX"
    view = MailView(device, "pop3", folder,
                    [FolderRow(f, folder_label(f), counts.get(f, 0)) for f in LOCAL_FOLDERS])
    _fill_local(view, local, folder, ref)
    return view


def _fill_local(view: MailView, local: LocalMailbox, folder: str, ref: str | None) -> None:
    """A folder of the device's own storage: its messages, and the one opened."""
    for info in local.messages(folder):
        view.messages.append(_row(str(info.id), info.raw, info.seen))
    if ref and ref.isdigit():
        opened = local.message(int(ref))
        if opened is not None and opened.folder == folder:
            local.mark_seen(opened.id)
            view.message = read_message(ref, opened.raw)
            for row in view.messages:
                row.seen = row.seen or row.ref == ref


def _imap_view(lab: Lab, learner: LearnerInfo, device: DeviceInfo, folder: str,
               ref: str | None) -> MailView:
    view = MailView(device, "imap", folder)
    failed = devices().failure_since(device.id, device.updated_at)
    if failed is not None and failed.data.get("traces"):
        # Nothing changed since the last failure: showing it again beats making the
        # learner wait for the same timeout at every view (and storing it once more).
        view.error_trace_id, view.error = failed.id, present(failed.data["traces"][-1], lang())
        return view
    client = client_for(lab, learner, device)
    overview = client.fetch()
    if overview.error:
        return _failed(lab, learner, device, view, overview, "view")
    names = [f["name"] for f in overview.result.get("folders", [])]
    view.folders = [FolderRow(n, folder_label(n), None) for n in ordered_folders(names)]
    summaries = overview.result.get("messages", [])
    if folder.upper() != "INBOX":
        listing = client.list_folder(folder)
        if listing.error:
            return _failed(lab, learner, device, view, listing, "view")
        summaries = listing.result.get("messages", [])
    if ref and ref.isdigit():
        reading = client.read(folder, int(ref))
        if reading.error:
            return _failed(lab, learner, device, view, reading, "view")
        view.message = read_message(ref, reading.result.get("raw", b""))
    for summary in sorted(summaries, key=lambda s: -s.uid):
        seen = "\\Seen" in summary.flags or str(summary.uid) == ref
        view.messages.append(MessageRow(str(summary.uid), short_sender(summary.sender),
                                        summary.subject, _date(summary.date), seen))
    return view


def _failed(lab: Lab, learner: LearnerInfo, device: DeviceInfo, view: MailView, trace: Any,
            kind: str) -> MailView:
    client_settings = device.account_settings(learner.address)
    data = snapshot(trace, lab, client_settings, client_settings.incoming,
                    float(current_app.config.get("SANDBOX_CLIENT_TIMEOUT", DEFAULT_TIMEOUT)))
    view.error_trace_id = devices().record_trace(learner.id, device.id, kind, False,
                                                 {"traces": [data]})
    view.error = present(data, lang())
    return view


def _row(ref: str, raw: bytes, seen: bool) -> MessageRow:
    headers = email.message_from_bytes(raw.split(b"\r\n\r\n", 1)[0], policy=email.policy.default)
    return MessageRow(ref, short_sender(str(headers.get("From", ""))),
                      str(headers.get("Subject", "")), _date(str(headers.get("Date", ""))), seen)


def _date(text: str) -> str:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment, "short")


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def read_message(ref: str, raw: bytes) -> ReadMessage:
    """A message's headers and text, parsed with the standard email package."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body_part = message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
    body, html_only = "", False
    if body_part is not None:
        try:
            body = body_part.get_content()
        except (LookupError, ValueError):  # an unknown charset: show what can be shown
            payload = body_part.get_payload(decode=True)
            body = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
        if body_part.get_content_subtype() == "html":
            parser = _TextOnly()
            parser.feed(body)
            body, html_only = re.sub(r"\n{3,}", "\n\n", "".join(parser.parts)).strip(), True
    return ReadMessage(ref, str(message.get("From", "")), str(message.get("To", "")),
                       str(message.get("Subject", "")), _date(str(message.get("Date", ""))),
                       body, html_only)


@dataclass
class FetchOutcome:
    """What "Relever le courrier" did."""

    trace_id: int
    ok: bool
    downloaded: int
    deleted_on_server: int


def fetch_mail(lab: Lab, learner: LearnerInfo, device: DeviceInfo) -> FetchOutcome:
    """Check for new mail: POP3 downloads into the device (and maybe deletes on the server)."""
    client = client_for(lab, learner, device)
    local = devices().local(device.id)
    trace = client.fetch(local if device.incoming.protocol == "pop3" else None)
    data = snapshot(trace, lab, client.settings, client.settings.incoming, client.timeout)
    trace_id = devices().record_trace(learner.id, device.id, "fetch", trace.ok,
                                      {"traces": [data]})
    return FetchOutcome(trace_id, trace.ok, len(trace.result.get("downloaded", [])),
                        len(trace.result.get("deleted_on_server", [])))


def archive_message(lab: Lab, learner: LearnerInfo, device: DeviceInfo, folder: str,
                    ref: str) -> int | None:
    """Move a message to Archives; returns a trace id when the server refused."""
    return _change(lab, learner, device, folder, ref, "Archives")


def delete_message(lab: Lab, learner: LearnerInfo, device: DeviceInfo, folder: str,
                   ref: str) -> int | None:
    """Delete a message: to the Trash first (IMAP), for good from the Trash or on a device."""
    return _change(lab, learner, device, folder, ref, None)


def delete_here(device: DeviceInfo, ref: str) -> None:
    """Delete a message of the device's own storage (nothing reaches the server)."""
    local = devices().local(device.id)
    if ref.isdigit() and local.delete(int(ref)):
        storage_changed(device, local)


def move_message(lab: Lab, learner: LearnerInfo, device: DeviceInfo, folder: str, ref: str,
                 target: str) -> int | None:
    """IMAP: move a message to another folder of the server; a trace id when refused."""
    if not target or target == folder or device.incoming.protocol == "pop3":
        return None
    return _change(lab, learner, device, folder, ref, target)


def create_folder(lab: Lab, learner: LearnerInfo, device: DeviceInfo, name: str) -> int | None:
    """IMAP: create a folder on the server; a trace id when refused.

    A POP3 device has its own folders only: nothing reaches the server.
    """
    name = name.strip()
    if not name or not device.configured or device.incoming.protocol != "imap":
        return None
    client = client_for(lab, learner, device)
    trace = client.create_folder(name)
    if trace.ok:
        return None
    data = snapshot(trace, lab, client.settings, client.settings.incoming, client.timeout)
    return devices().record_trace(learner.id, device.id, "change", False, {"traces": [data]})


def archive_here(lab: Lab, learner: LearnerInfo, device: DeviceInfo, folder: str, ref: str,
                 target: str) -> int | None:
    """IMAP: copy a message into one of the device's own folders, then delete it on the server.

    It frees room on the server and keeps the message on this device only, as
    "Archiver dans un dossier local" does in a real mail program.
    """
    if not ref.isdigit() or target not in local_archives(device):
        return None
    client = client_for(lab, learner, device)
    local = devices().local(device.id)
    trace = client.read(folder, int(ref))
    raw = trace.result.get("raw") if trace.ok else None
    if raw:
        local.keep_copy(target, bytes(raw))
        storage_changed(device, local)
        trace = client.delete(folder, int(ref))
    if trace.ok and raw:
        return None
    data = snapshot(trace, lab, client.settings, client.settings.incoming, client.timeout)
    return devices().record_trace(learner.id, device.id, "change", False, {"traces": [data]})


def _change(lab: Lab, learner: LearnerInfo, device: DeviceInfo, folder: str, ref: str,
            target: str | None) -> int | None:
    if not ref.isdigit():
        return None
    if device.incoming.protocol == "pop3":
        local = devices().local(device.id)
        changed = local.move(int(ref), target) if target else local.delete(int(ref))
        if changed:
            storage_changed(device, local)
        return None
    client = client_for(lab, learner, device)
    if target is None and folder != "Trash":
        target = "Trash"
    trace = client.move(folder, int(ref), target) if target else client.delete(folder, int(ref))
    if trace.ok:
        return None
    data = snapshot(trace, lab, client.settings, client.settings.incoming, client.timeout)
    return devices().record_trace(learner.id, device.id, "change", False, {"traces": [data]})


@dataclass
class Draft:
    """A message being written."""

    to: str = ""
    subject: str = ""
    body: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def read_draft(form: MultiDict[str, str]) -> Draft:
    """The compose form, checked only for what cannot be sent at all."""
    draft = Draft(form.get("to", "").strip(), form.get("subject", "").strip(),
                  form.get("body", ""))
    if not draft.to:
        draft.errors["to"] = program_text("smtp.no_recipients", lang()) or _(
            "Indique au moins un destinataire."
        )
    elif len(draft.to) > 1000:
        draft.errors["to"] = _("C'est trop long (%(limit)s caractères au plus).", limit=1000)
    if len(draft.subject) > 200:
        draft.errors["subject"] = _("C'est trop long (%(limit)s caractères au plus).", limit=200)
    if len(draft.body) > 20000:
        draft.errors["body"] = _("C'est trop long (%(limit)s caractères au plus).", limit=20000)
    return draft


def lab_domains() -> tuple[str, ...]:
    """The domains the lab receives mail for: nothing else ever leaves it."""
    lab = current_lab()
    return lab.config.domains if lab else ()


def outside_lab(addresses: list[str]) -> list[str]:
    """The addresses on no domain of the lab (the lab never relays mail out)."""
    suffixes = tuple("@" + domain.lower() for domain in lab_domains())
    return [a for a in addresses if not a.lower().endswith(suffixes)]


def recipients(draft: Draft) -> list[str]:
    """The addresses typed in "À", separated by commas, semicolons or spaces."""
    return [a for a in re.split(r"[,;\s]+", draft.to) if a]


def send_draft(lab: Lab, learner: LearnerInfo, device: DeviceInfo, draft: Draft) -> int:
    """Send by SMTP; a POP3 device keeps its own copy in its Sent folder. Returns the trace id."""
    client = client_for(lab, learner, device)
    to = recipients(draft)
    trace = client.send(to, draft.subject, draft.body)
    data = snapshot(trace, lab, client.settings, client.settings.outgoing, client.timeout)
    if trace.ok and device.incoming.protocol == "pop3":
        copy = EmailMessage()
        copy["From"], copy["To"], copy["Subject"] = learner.address, ", ".join(to), draft.subject
        copy["Date"] = formatdate()
        copy["Message-ID"] = trace.result.get("message_id", "")
        copy.set_content(draft.body)
        local = LocalMailbox(lab.engine, device.id)
        local.keep_copy("Sent", copy.as_bytes())
        storage_changed(device, local)
    return devices().record_trace(learner.id, device.id, "send", trace.ok,
                                  {"traces": [data], "to": to, "subject": draft.subject})


def moment(timestamp: float) -> str:
    """A stored moment, as the pages show it."""
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), "short")
