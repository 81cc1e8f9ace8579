"""The scenario format: one TOML file per scenario, typed and documented one line per field.

`docs/scenarios.md` explains each field with an example; `pixlab scenarios
check` applies the rules. Texts are tables `{ fr = "…", en = "…" }`: French is
required, English beside it. Texts and settings may use the placeholders of
`PLACEHOLDERS`, which the engine fills for each learner.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pixlab.client.settings import Auth, LeaveOnServer, Protocol, Security, Side
from pixlab.scenarios.fields import doc
from pixlab.typography import APOSTROPHE, CURLY_APOSTROPHE, french

FORMAT_VERSION = 1

# Pix's levels, from the framework's own words.
LEVELS = ("novice", "indépendant", "avancé", "expert")

# The Pix framework's competences (code: French and English name).
COMPETENCES: dict[str, tuple[str, str]] = {
    "1.1": ("Mener une recherche et une veille d'information", "Information and data literacy"),
    "1.2": ("Gérer des données", "Managing data"),
    "1.3": ("Traiter des données", "Processing data"),
    "2.1": ("Interagir", "Interacting"),
    "2.2": ("Partager et publier", "Sharing and publishing"),
    "2.3": ("Collaborer", "Collaborating"),
    "2.4": ("S'insérer dans le monde numérique", "Taking part in the digital world"),
    "3.1": ("Développer des documents textuels", "Developing text documents"),
    "3.2": ("Développer des documents multimédia", "Developing multimedia documents"),
    "3.3": ("Adapter les documents à leur finalité", "Adapting documents to their purpose"),
    "3.4": ("Programmer", "Programming"),
    "4.1": ("Sécuriser l'environnement numérique", "Securing the digital environment"),
    "4.2": ("Protéger les données personnelles et la vie privée",
            "Protecting personal data and privacy"),
    "4.3": ("Protéger la santé, le bien-être et l'environnement",
            "Protecting health, well-being and the environment"),
    "5.1": ("Résoudre des problèmes techniques", "Solving technical problems"),
    "5.2": ("Construire un environnement numérique", "Building a digital environment"),
}

# What the engine fills in texts, settings and matchers, for each learner.
PLACEHOLDERS: dict[str, str] = {
    "learner": "the learner's own local part, unique to them (renard-4821)",
    "address": "the learner's own address in this scenario",
    "password": "the learner's password, made for each attempt",
    "domain": "the scenario's first domain",
}
# Only in a walkthrough's steps: what the account's page showed once, as the learner copies it.
WALKTHROUGH_PLACEHOLDERS: dict[str, str] = {
    "app_password": "the application password the latest create_app_password step made",
}
PLACEHOLDER_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
DEVICE_ID_RE = SLUG_RE
LAB_DEVICE = "lab"  # the lab's own deliveries (messages arriving), as a matcher's `device`
# A real mail program (Thunderbird, a phone) logged in to the attempt's account, as a `device`.
PROGRAM_DEVICE = "logiciel"
# The scenario's stranger (`[lab] intruder = true`), a real client from another address.
INTRUDER_DEVICE = "inconnu"

# A server's protocol, security, authentication and the POP3 leave-on-server choices are the
# client's vocabulary (`pixlab.client.settings`): a file says them with the same words.
IncomingProtocol = Literal["imap", "pop3"]
PortStateName = Literal["open", "closed", "filtered"]
CertificateName = Literal["valid", "other-name", "expired", "self-signed"]
LevelName = Literal["novice", "indépendant", "avancé", "expert"]
QuestionKind = Literal["single", "multiple"]

# The operations of a device's mail program (the client's `Trace.operation`).
OPERATIONS = ("test", "fetch", "list", "read", "move", "delete", "send")
# What a walkthrough step may `do`: the client's operations, and the IT service's reset page.
# A walkthrough's answer "yes" to iPhone's "go on without SSL?", by the side it tests again.
FALLBACK_STEPS = {"ssl_fallback_incoming": "incoming", "ssl_fallback_outgoing": "outgoing"}
STEP_ACTIONS = ("test_incoming", "test_outgoing", "fetch", "list", "read", "move", "delete",
                "send", "reset_password", "archive", "reinstall", "create_folder",
                "create_app_password", *FALLBACK_STEPS)


Identified = TypeVar("Identified", "DeviceSpec", "Objective", "Mistake", "Question")


def _by_id(items: tuple[Identified, ...], wanted: str) -> Identified:
    for item in items:
        if item.id == wanted:
            return item
    raise KeyError(wanted)


def fill(text: str, values: dict[str, str]) -> str:
    """Replace the known {placeholders} of a text; others stay as they are."""
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True)
class Text:
    """A text in French and English: `{ fr = "…", en = "…" }`."""

    fr: str = field(metadata=doc(
        "the French text (required; typography is fixed on loading)",
        missing='missing French text — add fr = "…" (French comes first)',
    ))
    en: str | None = field(default=None, metadata=doc("the English text (shown in English)"))

    def __post_init__(self) -> None:
        # Trainers type ordinary spaces; the learner sees no-break ones before : ; ? ! and in « ».
        # Both languages get the project's straight apostrophe (see pixlab.typography).
        object.__setattr__(self, "fr", french(self.fr))
        if self.en:
            object.__setattr__(self, "en", self.en.replace(CURLY_APOSTROPHE, APOSTROPHE))

    def get(self, lang: str) -> str:
        """The text in a language, French when English is missing."""
        return self.en if lang == "en" and self.en else self.fr


LocalText = str | Text  # one text for both languages, or a Text


def local(text: LocalText | None, lang: str) -> str:
    """A `LocalText` in a language ("" for None)."""
    if text is None:
        return ""
    return text if isinstance(text, str) else text.get(lang)


@dataclass(frozen=True)
class SheetServer:
    """One line of the connection sheet."""

    role: Side = field(metadata=doc("reception or sending"))
    protocol: Protocol = field(metadata=doc("the protocol"))
    host: str = field(metadata=doc("the server's host name"))
    port: int = field(metadata=doc("the port to type"))
    security: Security = field(metadata=doc("the connection security to choose"))


@dataclass(frozen=True)
class Sheet:
    """The "fiche de connexion" the fictional IT service hands out."""

    servers: tuple[SheetServer, ...] = field(metadata=doc("the servers, one line each"))
    intro: Text | None = field(default=None, metadata=doc("a sentence from the IT service"))
    address: str = field(default="{address}", metadata=doc("the address shown"))
    username: str = field(default="{address}", metadata=doc("the user name shown"))
    password: str = field(default="{password}", metadata=doc("the password shown"))
    note: Text | None = field(default=None, metadata=doc("a remark under the servers"))


@dataclass(frozen=True)
class HostSpec:
    """A host name of the scenario's network: which ports answer, which certificate."""

    name: str = field(metadata=doc("the host name (mail., imap., pop. or smtp. + a lab domain)"))
    ports: dict[str, PortStateName] = field(default_factory=dict, metadata=doc(
        "canonical port = open, closed or filtered; merged over the name's usual ports"))
    certificate: CertificateName = field(default="valid", metadata=doc(
        "what this name presents over TLS"))


@dataclass(frozen=True)
class MessageSpec:
    """A message: RFC 822 text in `raw`, or fields from which the engine writes one."""

    folder: str = field(default="INBOX", metadata=doc("the learner's folder it lands in"))
    sender: str | None = field(default=None, metadata=doc(
        "From: 'Name <address>'", key="from"))
    to: str = field(default="{address}", metadata=doc("To:, the learner by default"))
    subject: LocalText | None = field(default=None, metadata=doc("Subject:"))
    body: LocalText | None = field(default=None, metadata=doc("the text of the message"))
    date: dt.datetime | None = field(default=None, metadata=doc(
        "Date:, when it was sent (default: a little before the attempt starts)"))
    seen: bool = field(default=False, metadata=doc("already read"))
    attachment_kb: int = field(default=0, metadata=doc(
        "attach a file of this many kilobytes (to fill a mailbox)"))
    raw: str | None = field(default=None, metadata=doc(
        "the whole message as RFC 822 text, instead of the fields above"))


@dataclass(frozen=True)
class Matcher:
    """What must happen: an `event` of the lab, a `trace` of the client, or a `mailbox` state."""

    event: str | None = field(default=None, metadata=doc(
        "a lab event name (auth.succeeded, message.delivered, …)"))
    trace: str | None = field(default=None, metadata=doc(
        "a client operation: test, fetch, list, read, move, delete, send, or any"))
    mailbox: str | None = field(default=None, metadata=doc(
        "a folder of the learner's mailbox, checked as it is now (INBOX, Sent, …)"))
    storage: str | None = field(default=None, metadata=doc(
        "a folder of one device's own storage (what POP3 downloaded, local folders), as it is"))
    device: str | None = field(default=None, metadata=doc(
        "only this device ('lab' for the lab's own deliveries)"))
    devices: tuple[str, ...] = field(default=(), metadata=doc(
        "every one of these devices must do it"))
    times: int = field(default=1, metadata=doc("how many times it must happen (per device)"))
    after: tuple[str, ...] = field(default=(), metadata=doc(
        "only counts once these objectives are met"))
    protocol: Protocol | None = field(default=None, metadata=doc(
        "event or trace: the protocol"))
    port: int | None = field(default=None, metadata=doc(
        "event or trace: the canonical port (993, 587, …)"))
    listener: str | None = field(default=None, metadata=doc(
        "event: the lab's listener (imaps, submission, …)"))
    tls: bool | None = field(default=None, metadata=doc("event: whether TLS was on"))
    account: str | None = field(default=None, metadata=doc(
        "event or mailbox: the account ({address} by default for a mailbox)"))
    data: dict[str, Any] = field(default_factory=dict, metadata=doc(
        "event: values its data must have (recipient, via, mechanism, …)"))
    ok: bool | None = field(default=None, metadata=doc("trace: whether it succeeded"))
    error: str | tuple[str, ...] | None = field(default=None, metadata=doc(
        "trace: the error's catalogue key (or a list of keys)"))
    warning: str | None = field(default=None, metadata=doc(
        "trace: a warning it carries (certificate_risk_accepted, certificate_not_checked, "
        "cleartext_fallback)"))
    security: Security | None = field(default=None, metadata=doc(
        "trace: the connection security used"))
    host: str | None = field(default=None, metadata=doc("trace: the host name typed"))
    to: str | None = field(default=None, metadata=doc("trace (send): one of the recipients"))
    inbox_at_least: int | None = field(default=None, metadata=doc(
        "trace (fetch, list): at least this many messages were on the server"))
    inbox_at_most: int | None = field(default=None, metadata=doc(
        "trace (fetch, list): at most this many messages were on the server"))
    deleted_at_least: int | None = field(default=None, metadata=doc(
        "trace: at least this many messages were deleted from the server"))
    deleted_at_most: int | None = field(default=None, metadata=doc(
        "trace: at most this many messages were deleted from the server"))
    downloaded_at_least: int | None = field(default=None, metadata=doc(
        "trace (fetch): POP3 downloaded at least this many messages"))
    downloaded_at_most: int | None = field(default=None, metadata=doc(
        "trace (fetch): POP3 downloaded at most this many messages"))
    duplicates_at_least: int | None = field(default=None, metadata=doc(
        "trace (fetch): at least this many were downloaded again by the same device (doubles)"))
    duplicates_at_most: int | None = field(default=None, metadata=doc(
        "trace (fetch): at most this many were downloaded again by the same device"))
    at_least: int | None = field(default=None, metadata=doc(
        "mailbox or storage: at least this many messages in the folder"))
    at_most: int | None = field(default=None, metadata=doc(
        "mailbox or storage: at most this many messages in the folder"))
    subject: LocalText | None = field(default=None, metadata=doc(
        "mailbox, storage or trace (read, fetch, list): a message whose subject contains this "
        "text"))

    @property
    def kind(self) -> str:
        """"event", "trace", "mailbox" or "storage" (the first one set)."""
        if self.event is not None:
            return "event"
        if self.trace is not None:
            return "trace"
        if self.mailbox is None and self.storage is not None:
            return "storage"
        return "mailbox"


@dataclass(frozen=True)
class ArrivalSpec(MessageSpec):
    """A message that arrives during the attempt, after a delay or after something happened."""

    after_seconds: int = field(default=0, metadata=doc(
        "seconds to wait, from the start or from `after`"))
    after: Matcher | None = field(default=None, metadata=doc(
        "the event or trace that starts the countdown (default: the start)"))
    via: Literal["smtp", "store"] = field(default="smtp", metadata=doc(
        "smtp: delivered by the lab's port 25, as from outside; store: put straight in"))
    retry_every: int = field(default=10, metadata=doc(
        "smtp: seconds before trying again when the mailbox refused it (full)"))


@dataclass(frozen=True)
class LabSpec:
    """The lab as this scenario's learner meets it (for their connections only)."""

    domains: tuple[str, ...] = field(metadata=doc("the mail domains; the first names the school"))
    address: str | None = field(default=None, metadata=doc(
        "the learner's address; must contain {learner} (default: {learner}@first domain)"))
    quota_kb: int = field(default=20480, metadata=doc(
        "the learner's mailbox size, in kilobytes"))
    allow_cleartext: bool = field(default=False, metadata=doc(
        "accept logins without encryption (143, 110, 587)"))
    starttls: bool = field(default=True, metadata=doc("offer STARTTLS on 25, 587, 143 and 110"))
    lockout_after: int = field(default=0, metadata=doc(
        "lock the learner's account after this many failed logins (0: never)"))
    standard_hosts: bool = field(default=True, metadata=doc(
        "mail., imap., pop. and smtp. of each domain exist with their usual ports"))
    hosts: tuple[HostSpec, ...] = field(default=(), metadata=doc(
        "host names to add or change"))
    folders: tuple[str, ...] = field(default=(), metadata=doc(
        "extra folders of the learner's mailbox"))
    contacts: tuple[str, ...] = field(default=(), metadata=doc(
        "other people's addresses that accept mail (shared by everyone)"))
    messages: tuple[MessageSpec, ...] = field(default=(), metadata=doc(
        "messages already in the learner's mailbox"))
    arrivals: tuple[ArrivalSpec, ...] = field(default=(), metadata=doc(
        "messages that arrive during the attempt"))
    intruder: bool = field(default=False, metadata=doc(
        "a stranger who knows the learner's password logs in from another address at the "
        "start and stays (its connections are the device `inconnu`)"))
    two_step: bool = field(default=False, metadata=doc(
        "the learner's account has two-step verification: mail programs must log in with an "
        "application password, made on the account's page"))

    @property
    def address_template(self) -> str:
        """The learner's address, with {learner} still in it."""
        return self.address or "{learner}@" + self.domains[0]


@dataclass(frozen=True)
class ServerSpec:
    """A device's server, as its settings start (blank fields: left for the learner)."""

    host: str = field(default="", metadata=doc("the server's name"))
    port: int | None = field(default=None, metadata=doc("the port"))
    security: Security | None = field(default=None, metadata=doc("none, starttls or tls"))
    auth: Auth = field(default=Auth.NORMAL, metadata=doc("normal, encrypted or none"))
    username: str = field(default="", metadata=doc("the user name"))


@dataclass(frozen=True)
class IncomingSpec(ServerSpec):
    """A device's incoming server: its protocol too."""

    protocol: IncomingProtocol | None = field(default=None, metadata=doc("imap or pop3"))


@dataclass(frozen=True)
class OutgoingSpec(ServerSpec):
    """A device's outgoing server (SMTP)."""


@dataclass(frozen=True)
class DeviceSpec:
    """A device of the learner and its mail program's starting settings."""

    id: str = field(metadata=doc("a short name used by matchers (ordinateur, telephone)"))
    kind: Literal["computer", "phone"] = field(metadata=doc("computer or phone"))
    name: Text = field(metadata=doc("what the player calls it"))
    program: str = field(default="", metadata=doc(
        "the mail program it imitates: thunderbird (the default), outlook (computer), "
        "iphone or android (phone)"))
    incoming: IncomingSpec = field(default_factory=IncomingSpec, metadata=doc(
        "the incoming server's settings"))
    outgoing: OutgoingSpec = field(default_factory=OutgoingSpec, metadata=doc(
        "the outgoing server's settings"))
    password: str = field(default="", metadata=doc(
        "the password typed ({password}: the right one)"))
    leave_on_server: LeaveOnServer = field(default=LeaveOnServer.NO, metadata=doc(
        "POP3: no, forever, days or until-deleted"))
    leave_days: int = field(default=14, metadata=doc("POP3: days, for leave_on_server = days"))
    accepted_cleartext: bool = field(default=False, metadata=doc(
        "the learner already accepted to connect without encryption"))
    accepted_risks: tuple[str, ...] = field(default=(), metadata=doc(
        "host names whose bad certificate was already accepted"))
    editable: tuple[str, ...] = field(default=(), metadata=doc(
        "the settings the learner may change (incoming.port, password, incoming, all, …)"))
    reinstall: bool = field(default=False, metadata=doc(
        "the player offers to reinstall its mail program: it keeps its messages but forgets "
        "which ones it downloaded"))


@dataclass(frozen=True)
class Objective:
    """Something the learner must achieve, judged from what the lab and the client saw."""

    id: str = field(metadata=doc("a short name (other objectives' `after` use it)"))
    text: Text = field(metadata=doc("what the learner reads in the list of objectives"))
    when: Matcher = field(metadata=doc("what proves it"))


@dataclass(frozen=True)
class Mistake:
    """A mistake the scenario watches for, and what to tell the learner when it happens."""

    id: str = field(metadata=doc("a short name"))
    text: Text = field(metadata=doc("the mistake in a few words"))
    explanation: Text = field(metadata=doc("why it matters and what to do instead"))
    when: Matcher = field(metadata=doc("what proves it happened"))
    trainer: bool = field(default=True, metadata=doc("show it on the trainer's view"))


@dataclass(frozen=True)
class Choice:
    """One answer of a quiz question."""

    text: Text = field(metadata=doc("the answer"))
    correct: bool = field(default=False, metadata=doc("whether it is a right answer"))


@dataclass(frozen=True)
class Question:
    """A quiz question of the debrief."""

    id: str = field(metadata=doc("a short name"))
    question: Text = field(metadata=doc("the question"))
    choices: tuple[Choice, ...] = field(metadata=doc("2 to 6 answers"))
    explanation: Text = field(metadata=doc("the reason, shown once answered"))
    kind: QuestionKind = field(default="single", metadata=doc(
        "single (one right answer) or multiple (tick every right one)"))


@dataclass(frozen=True)
class Step:
    """One step of a walkthrough: change settings, run an operation, or let time pass."""

    device: str | None = field(default=None, metadata=doc("the device that acts"))
    set: dict[str, Any] = field(default_factory=dict, metadata=doc(
        "settings to change, as the learner would ({ \"incoming.port\" = 993 })"))
    do: str | None = field(default=None, metadata=doc(
        "test_incoming, test_outgoing, fetch, list, read, move, delete, send, reset_password, "
        "archive, reinstall, create_folder, create_app_password, ssl_fallback_incoming or "
        "ssl_fallback_outgoing (iPhone's \"yes, without SSL\")"))
    wait: int | None = field(default=None, metadata=doc("seconds that pass (for arrivals)"))
    folder: str = field(default="INBOX", metadata=doc("list, read, move, delete: the folder"))
    message: LocalText | None = field(default=None, metadata=doc(
        "read, move, delete: part of the message's subject"))
    target: str | None = field(default=None, metadata=doc(
        "move: the folder to move it to; archive: the device's local folder; "
        "create_folder: the server folder to create; create_app_password: the program's name"))
    to: tuple[str, ...] = field(default=(), metadata=doc("send: the recipients"))
    subject: str = field(default="Test", metadata=doc("send: the subject"))
    body: str = field(default="Bonjour.", metadata=doc("send: the text"))
    sender: str = field(default="", metadata=doc(
        "send: the \"De\" address typed in the compose window (the account's by default)"))
    reply_to: str = field(default="", metadata=doc("send: the \"Répondre à\" address"))
    expect_ok: bool | None = field(default=None, metadata=doc(
        "the operation must succeed (true) or fail (false)"))
    expect_error: str | None = field(default=None, metadata=doc(
        "the operation must fail with this catalogue key"))


@dataclass(frozen=True)
class Walkthrough:
    """How the tests play this scenario: the right solution, and the typical mistake."""

    solution: tuple[Step, ...] = field(metadata=doc(
        "steps that end with every objective met and no mistake"))
    mistake: tuple[Step, ...] = field(default=(), metadata=doc(
        "steps that make the typical mistake"))
    expected_mistakes: tuple[str, ...] = field(default=(), metadata=doc(
        "the mistakes the `mistake` steps must record"))


# The answers an embedded scenario posts to its course page when it ends (Pix's embed protocol).
DEFAULT_ANSWER_COMPLETED = "completed"
DEFAULT_ANSWER_ENDED = "ended"
MAX_ANSWER_LENGTH = 100


@dataclass(frozen=True)
class EmbedSpec:
    """What the scenario answers the course page that embeds it, when it ends."""

    completed: str = field(default=DEFAULT_ANSWER_COMPLETED, metadata=doc(
        "the answer posted when every objective is met"))
    ended: str = field(default=DEFAULT_ANSWER_ENDED, metadata=doc(
        "the answer posted when the learner stopped before meeting them all"))

    def problems(self) -> list[tuple[str, str]]:
        """(key, what to do) for each answer a course page could not use."""
        found = []
        for key, answer in (("completed", self.completed), ("ended", self.ended)):
            if not answer.strip():
                found.append((key, "give a word or a short sentence, or leave the key out for "
                                   "the default"))
            elif len(answer) > MAX_ANSWER_LENGTH or not answer.isprintable():
                found.append((key, f"keep it on one line, at most {MAX_ANSWER_LENGTH} "
                                   "characters: the course page compares it as it is"))
        if self.completed == self.ended:
            found.append(("ended", "must differ from embed.completed: otherwise the course page "
                                   "cannot tell a completed scenario from one the learner stopped"))
        return found


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file."""

    format_version: int = field(metadata=doc(f"the format of the file: {FORMAT_VERSION}"))
    slug: str = field(metadata=doc("the file's name without .toml (letters, digits, dashes)"))
    title: Text = field(metadata=doc("the title"))
    summary: Text = field(metadata=doc("one or two sentences for the catalogue"))
    story: Text = field(metadata=doc("the situation and the mission (paragraphs: blank lines)"))
    debrief: Text = field(metadata=doc("what to remember, shown at the end"))
    level: LevelName = field(metadata=doc("Pix level: novice, indépendant, avancé or expert"))
    minutes: int = field(metadata=doc("about how long it takes"))
    competences: tuple[str, ...] = field(metadata=doc("the Pix competences it trains (2.1, 4.1)"))
    sheet: Sheet = field(metadata=doc("the connection sheet"))
    lab: LabSpec = field(metadata=doc("the lab for this scenario"))
    devices: tuple[DeviceSpec, ...] = field(metadata=doc("the learner's devices (1 to 3)"))
    objectives: tuple[Objective, ...] = field(metadata=doc("what the learner must achieve"))
    tags: tuple[str, ...] = field(default=(), metadata=doc("keywords for the catalogue"))
    order: int = field(default=1000, metadata=doc(
        "its place in the catalogue, lower first (the eighteen shipped: 1 to 18)"))
    mistakes: tuple[Mistake, ...] = field(default=(), metadata=doc("the mistakes watched for"))
    hints: tuple[Text, ...] = field(default=(), metadata=doc(
        "hints revealed one by one; the last nearly gives the answer"))
    quiz: tuple[Question, ...] = field(default=(), metadata=doc("the debrief's questions"))
    walkthrough: Walkthrough | None = field(default=None, metadata=doc(
        "the automated walkthroughs the tests play"))
    embed: EmbedSpec = field(default_factory=EmbedSpec, metadata=doc(
        "the answers an embedded scenario gives its course page (Pix's embed protocol)"))

    def device(self, device_id: str) -> DeviceSpec:
        """A device by id (KeyError if none)."""
        return _by_id(self.devices, device_id)

    def objective(self, objective_id: str) -> Objective:
        """An objective by id (KeyError if none)."""
        return _by_id(self.objectives, objective_id)

    def mistake(self, mistake_id: str) -> Mistake:
        """A mistake by id (KeyError if none)."""
        return _by_id(self.mistakes, mistake_id)

    def question(self, question_id: str) -> Question:
        """A quiz question by id (KeyError if none)."""
        return _by_id(self.quiz, question_id)

    def competence_names(self, lang: str) -> list[tuple[str, str]]:
        """(code, name) of each competence, in a language."""
        return [(c, COMPETENCES[c][0 if lang == "fr" else 1]) for c in self.competences]
