"""A test's story, kept and shown: the steps, the exchange, what a spy saw, the server's state.

`snapshot` turns the client's `Trace` into plain data right after the
operation (the tap keeps wire captures in memory only, so what a spy saw is
copied now); `present` turns that data into what the result templates show, in
the learner's language.
"""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import re
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from pixlab.client.errors import CATALOGUE
from pixlab.client.programs import DEFAULT_PROGRAM, offers_ssl_fallback, program_of
from pixlab.client.settings import SECURITIES, AccountSettings, Security, ServerSettings
from pixlab.client.trace import Trace
from pixlab.web.labels import SECURITY_LABELS
from pixlab.web.program_messages import ProgramMessage, what_program_shows

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab

TEXT_SHOWN = 4000  # characters of readable wire bytes shown per block
HEX_SHOWN = 48  # bytes of an encrypted block shown in hexadecimal
REAL_PROGRAM_WAIT = 100  # seconds: Thunderbird's connection timeout

STEP_LABELS = {
    "resolve": _l("Trouver le serveur"),
    "tcp": _l("Ouvrir la connexion"),
    "tls": _l("Chiffrer la connexion"),
    "greeting": _l("Accueil du serveur"),
    "capabilities": _l("Ce que propose le serveur"),
    "auth": _l("S'identifier"),
    "mailbox": _l("Ouvrir la boîte aux lettres"),
    "send": _l("Envoyer le message"),
}
STEP_HELP = {
    "resolve": _l("Le nom du serveur est transformé en adresse."),
    "tcp": _l("Le logiciel frappe à la porte du serveur (le port)."),
    "tls": _l("Le logiciel et le serveur se mettent d'accord pour tout chiffrer."),
    "greeting": _l("Le serveur dit bonjour."),
    "capabilities": _l("Le serveur dit ce qu'il sait faire."),
    "auth": _l("Le logiciel donne le nom d'utilisateur et le mot de passe."),
    "mailbox": _l("Le logiciel regarde les dossiers et les messages."),
    "send": _l("Le message part vers le serveur."),
}
SIDE_LABELS = {
    "imap": _l("Serveur entrant (IMAP)"),
    "pop3": _l("Serveur entrant (POP3)"),
    "smtp": _l("Serveur sortant (SMTP)"),
}
FOLDER_LABELS = {
    "INBOX": _l("Boîte de réception"),
    "Sent": _l("Envoyés"),
    "Drafts": _l("Brouillons"),
    "Trash": _l("Corbeille"),
    "Archives": _l("Archives"),
    "Junk": _l("Indésirables"),
}
TLS_RECORD_TYPES = (20, 21, 22, 23)  # change_cipher_spec, alert, handshake, application_data
TIMEOUT_KEYS = ("connection_timeout", "plaintext_on_tls_port")


FOLDER_ORDER = ("INBOX", "Drafts", "Sent", "Archives", "Junk", "Trash")


def ordered_folders(names: list[str]) -> list[str]:
    """Folders in a mail program's order: the special ones first, then the others by name."""
    known = [n for n in FOLDER_ORDER if n in names]
    return known + sorted(n for n in names if n not in FOLDER_ORDER)


def short_sender(sender: str) -> str:
    """A sender as a list shows it: the name when there is one, else the address."""
    name, address = parseaddr(sender)
    return name or address or sender


def folder_label(name: str) -> str:
    """A folder's name as a mail program shows it."""
    label = FOLDER_LABELS.get("INBOX" if name.upper() == "INBOX" else name)
    return str(label) if label else name


# -- snapshot: the client's Trace as plain data ----------------------------------------


def snapshot(
    trace: Trace, lab: Lab, settings: AccountSettings, server: ServerSettings, timeout: float
) -> dict[str, Any]:
    """Everything the result shows, copied now (the tap forgets old captures)."""
    secrets = _secret_forms(server.username, settings.password)
    replies = [line.text for line in trace.transcript if line.direction == "S"]
    send = trace.step_named("send")
    return {
        "operation": trace.operation,
        "protocol": trace.protocol,
        "host": trace.host,
        "port": trace.port,
        "security": trace.security,
        "auth": str(server.auth),
        "username": server.username,
        "address": settings.address,
        "timeout": timeout,
        "started_at": trace.started_at,
        "steps": [dataclasses.asdict(step) for step in trace.steps],
        "transcript": [dataclasses.asdict(line) for line in trace.transcript],
        "error": dataclasses.asdict(trace.error) if trace.error else None,
        "warnings": list(trace.warnings),
        "result": _plain(trace.result),
        "server_reply": _refusal(replies) if trace.error else "",
        "recipients": list(send.details.get("recipients", [])) if send else [],
        "wire": [
            {"id": cid, "blocks": _wire_blocks(lab, cid, secrets, trace.host)}
            for cid in trace.connection_ids
        ],
    }


_REFUSAL = re.compile(r"^(?:[45]\d\d[ -]|-ERR\b|\S+ (?:NO|BAD)\b)")


def _refusal(replies: list[str]) -> str:
    """The server's last refusal (SMTP 4xx/5xx, POP3 -ERR, IMAP NO/BAD), not its goodbye."""
    refusals = [r for r in replies if _REFUSAL.match(r)]
    return refusals[-1] if refusals else ""


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not isinstance(v, bytes)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _secret_forms(username: str, password: str) -> list[tuple[bytes, str]]:
    """How the password can look on the wire: as typed, or in base64 (AUTH PLAIN, LOGIN)."""
    if not password:
        return []
    raw = password.encode()
    forms = [
        (base64.b64encode(f"\0{username}\0{password}".encode()), "base64"),
        (base64.b64encode(f"{username}\0{username}\0{password}".encode()), "base64"),
        (base64.b64encode(raw), "base64"),
        (raw, "password"),
    ]
    return sorted(forms, key=lambda f: -len(f[0]))


def _is_tls(data: bytes) -> bool:
    return len(data) >= 5 and data[0] in TLS_RECORD_TYPES and data[1] == 3 and data[2] <= 4


def _wire_blocks(
    lab: Lab, connection_id: str, secrets: list[tuple[bytes, str]], host: str
) -> list[dict[str, Any]]:
    capture = lab.tap.capture(connection_id)
    if capture is None:
        return []
    merged: list[tuple[str, bool, bytearray]] = []
    encrypting: set[str] = set()  # once a side sends a TLS record, all it sends is TLS
    for chunk in list(capture.chunks):
        if _is_tls(chunk.data):
            encrypting.add(chunk.direction)
        tls = chunk.direction in encrypting
        if merged and merged[-1][0] == chunk.direction and merged[-1][1] == tls:
            merged[-1][2].extend(chunk.data)
        else:
            merged.append((chunk.direction, tls, bytearray(chunk.data)))
    return [
        _tls_block(direction, bytes(data), host) if tls
        else _text_block(direction, bytes(data), secrets)
        for direction, tls, data in merged
    ]


def _tls_block(direction: str, data: bytes, host: str) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    offset = 0
    while offset + 5 <= len(data):
        kind, length = data[offset], int.from_bytes(data[offset + 3 : offset + 5], "big")
        hello = kind == 22 and offset + 5 < len(data) and data[offset + 5] == 1
        records.append({"type": kind, "size": length, "client_hello": hello})
        offset += 5 + length
    return {
        "direction": direction,
        "kind": "tls",
        "size": len(data),
        "records": records,
        "hex": data[:HEX_SHOWN].hex(" "),
        "sni": host.encode() in data,
    }


def _text_block(direction: str, data: bytes, secrets: list[tuple[bytes, str]]) -> dict[str, Any]:
    shown, rest = data[: TEXT_SHOWN], max(0, len(data) - TEXT_SHOWN)
    segments: list[dict[str, str]] = []
    position = 0
    while position < len(shown):
        found = [(shown.find(form, position), form, kind) for form, kind in secrets]
        found = [f for f in found if f[0] >= 0]
        if not found:
            segments.append({"text": _decode(shown[position:]), "secret": ""})
            break
        start, form, kind = min(found, key=lambda f: (f[0], -len(f[1])))
        if start > position:
            segments.append({"text": _decode(shown[position:start]), "secret": ""})
        segment = {"text": _decode(form), "secret": kind}
        if kind == "base64":
            segment["decoded"] = base64.b64decode(form).decode("utf-8", "replace")
        segments.append(segment)
        position = start + len(form)
    return {"direction": direction, "kind": "text", "size": len(data), "segments": segments,
            "truncated": rest}


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


# -- present: plain data as the templates show it ---------------------------------------


@dataclass
class StepView:
    """One step of the timeline."""

    name: str
    label: str
    help: str
    status: str  # "ok", "failed" or "skipped" (not reached)
    duration_ms: float | None
    details: list[str] = field(default_factory=list)


@dataclass
class TraceView:
    """One trace, ready for the result templates."""

    data: dict[str, Any]
    title: str
    target: str
    ok: bool
    steps: list[StepView]
    program: ProgramMessage | None
    explanation: str
    hint: str
    timeout_note: str
    warnings: list[str]
    exception: str
    failed_step: str
    summary: list[str]
    transcript: list[dict[str, Any]]
    wire: list[dict[str, Any]]
    secret_in_clear: bool
    encrypted: bool
    program_name: str = DEFAULT_PROGRAM  # the device's program ("thunderbird", "iphone" …)
    offers_ssl_fallback: bool = False  # iPhone now asks "go on without SSL?"

    @property
    def protocol(self) -> str:
        """"imap", "pop3" or "smtp"."""
        return str(self.data["protocol"])


def expected_steps(data: dict[str, Any]) -> list[str]:
    """The steps a connection goes through with these settings, in order."""
    security = Security(data["security"]) if data["security"] in SECURITIES else None
    steps = ["resolve", "tcp"]
    if security is not None and security.implicit_tls:
        steps.append("tls")
    steps += ["greeting", "capabilities"]
    if security is not None and security.starttls:
        steps.append("tls")
    if data.get("auth") != "none":
        steps.append("auth")
    operation = data["operation"]
    if operation == "send":
        steps.append("send")
    elif data["protocol"] != "smtp" and (operation != "test" or data["protocol"] == "imap"):
        steps.append("mailbox")
    return steps


def present(data: dict[str, Any], lang: str, program: str = DEFAULT_PROGRAM) -> TraceView:
    """A stored trace, as the result shows it in `lang`, with what the device's program says."""
    error = data.get("error")
    key = error["key"] if error else ""
    entry = CATALOGUE.get(key)
    steps = [_step_view(s) for s in data["steps"]]
    if error:
        reached = {s.name for s in steps}
        tail = [n for n in expected_steps(data) if n not in reached]
        steps += [StepView(n, str(STEP_LABELS[n]), str(STEP_HELP[n]), "skipped", None)
                  for n in tail]
    failed = next((s for s in steps if s.status == "failed"), None)
    wire = data.get("wire", [])
    return TraceView(
        data=data,
        title=str(SIDE_LABELS.get(data["protocol"], data["protocol"])),
        target=_target(data),
        ok=not error,
        steps=steps,
        program=what_program_shows(data, lang, program),
        program_name=program,
        offers_ssl_fallback=offers_ssl_fallback(program_of(program), data),
        explanation=entry.explanation.get(lang, entry.explanation["fr"]) if entry else "",
        hint=entry.hint.get(lang, entry.hint["fr"]) if entry else "",
        timeout_note=_timeout_note(data) if key in TIMEOUT_KEYS else "",
        warnings=[_warning_text(w) for w in data.get("warnings", [])],
        exception=error["exception"] if error else "",
        failed_step=failed.label if failed else "",
        summary=_summary(data) if not error else [],
        transcript=_transcript(data),
        wire=wire,
        secret_in_clear=any(
            seg["secret"] for conn in wire for block in conn["blocks"]
            if block["kind"] == "text" and block["direction"] == "client"
            for seg in block["segments"]
        ),
        encrypted=data["security"] != "none" and "cleartext_fallback" not in data.get(
            "warnings", []),
    )


def _target(data: dict[str, Any]) -> str:
    security = SECURITY_LABELS.get(data["security"], data["security"])
    return f"{data['host']} · {_('port')} {data['port']} · {security}"


def _step_view(step: dict[str, Any]) -> StepView:
    name = step["name"]
    return StepView(
        name,
        str(STEP_LABELS.get(name, name)),
        str(STEP_HELP.get(name, "")),
        "ok" if step["status"] == "ok" else "failed",
        step["duration_ms"],
        _step_details(name, step["details"]) if step["status"] == "ok" else [],
    )


def _step_details(name: str, details: dict[str, Any]) -> list[str]:
    if name == "resolve":
        return [_("« %(host)s » existe dans le réseau du labo.", host=details.get("host", ""))]
    if name == "tcp":
        return [_("Le port %(port)s a répondu.", port=details.get("port", ""))]
    if name == "tls":
        return _tls_details(details)
    if name == "greeting":
        return [details.get("text", "")]
    if name == "capabilities":
        return [", ".join(details.get("list", []))]
    if name == "auth":
        if details.get("mechanism"):
            return [_("Méthode utilisée : %(mechanism)s", mechanism=details["mechanism"])]
        return []
    if name == "mailbox" and "folders" in details:
        return [_("%(count)s dossiers", count=len(details["folders"]))]
    if name == "mailbox" and "downloaded" in details:
        return [
            _("%(count)s message(s) téléchargé(s)", count=len(details["downloaded"])),
            _("%(count)s message(s) effacé(s) du serveur",
              count=len(details.get("deleted_on_server", []))),
        ]
    if name == "send":
        return [_("Destinataires : %(to)s", to=", ".join(details.get("recipients", [])))]
    return []


def _tls_details(details: dict[str, Any]) -> list[str]:
    lines = [_("%(version)s, chiffrement %(cipher)s",
               version=details.get("version", "?"), cipher=details.get("cipher", "?"))]
    if details.get("subject"):
        lines.append(_("Certificat de « %(subject)s », délivré par « %(issuer)s »",
                       subject=details["subject"], issuer=details.get("issuer", "?")))
    if details.get("names"):
        lines.append(_("Noms couverts : %(names)s", names=", ".join(details["names"])))
    if details.get("checked") is False:
        lines.append(_("Ton logiciel n'a pas vérifié ce certificat. Il est bien signé par "
                       "l'autorité du labo, mais rien ne l'a contrôlé.")
                     if details.get("signed_by_lab") else
                     _("Ton logiciel n'a pas vérifié ce certificat. Il n'est pas signé par "
                       "l'autorité du labo : c'est celui d'un faux serveur, qui lit tout."))
    if details.get("not_after"):
        try:
            until = datetime.fromtimestamp(ssl.cert_time_to_seconds(details["not_after"]), UTC)
            lines.append(_("Valable jusqu'au %(date)s", date=format_date(until, "long")))
        except ValueError:
            pass
    return lines


def _timeout_note(data: dict[str, Any]) -> str:
    return _(
        "Ici, PixLab a abandonné au bout de %(timeout)s secondes pour ne pas te faire attendre. "
        "Un vrai logiciel comme Thunderbird attend beaucoup plus longtemps (jusqu'à "
        "%(real)s secondes) avant d'afficher ce message : pendant ce temps, il semble "
        "simplement bloqué.",
        timeout=f"{data.get('timeout', 3):g}", real=REAL_PROGRAM_WAIT,
    )


def _warning_text(key: str) -> str:
    if key == "certificate_risk_accepted":
        return _(
            "Tu as accepté le risque pour ce certificat : ton logiciel ne vérifie plus l'identité "
            "de ce serveur. Un faux serveur pourrait maintenant lire ton mot de passe."
        )
    if key == "certificate_not_checked":
        return _(
            "Ton logiciel n'a pas vérifié le certificat (« accepter tous les certificats ») : "
            "il a donné ton mot de passe à ce serveur sans savoir si c'était le vrai."
        )
    if key == "cleartext_fallback":
        return _(
            "Le serveur ne proposait pas STARTTLS, et ton logiciel a continué sans chiffrement, "
            "sans te prévenir : ton mot de passe est passé en clair."
        )
    return key


def _summary(data: dict[str, Any]) -> list[str]:
    lines = []
    tls = next((s for s in data["steps"] if s["name"] == "tls" and s["status"] == "ok"), None)
    if tls:
        # The spy view shows what encryption leaves visible: the server's name, the sizes,
        # and with STARTTLS the exchange before it.
        version = tls["details"].get("version", "TLS")
        if data.get("security") == "starttls":
            lines.append(_("La connexion a été chiffrée avec STARTTLS (%(version)s) : un espion "
                           "lit le début de l'échange, en clair, puis voit seulement combien "
                           "d'octets passent.", version=version))
        else:
            lines.append(_("La connexion était chiffrée dès le début (%(version)s) : un espion "
                           "voit à quel serveur tu parles et combien d'octets passent, mais pas "
                           "ce qu'ils disent.", version=version))
    else:
        lines.append(_("La connexion n'était pas chiffrée : tout ce qui a été échangé peut être "
                       "lu par un espion sur le réseau."))
    if data.get("auth") == "none":
        lines.append(_("Ton logiciel ne s'est pas identifié."))
    result = data.get("result", {})
    if data["operation"] == "send" and result.get("sent_copy"):
        lines.append(
            _("Une copie du message a été rangée dans le dossier Envoyés, sur le serveur.")
        )
    return lines


_TLS_COMMAND = re.compile(r"^(\S+ )?(STARTTLS|STLS)\s*$", re.I)


def _transcript(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The exchange, with a mark where encryption starts after STARTTLS."""
    lines: list[dict[str, Any]] = []
    waiting_for_ok = False
    for line in data["transcript"]:
        lines.append(dict(line))
        if line["direction"] == "C" and _TLS_COMMAND.match(line["text"]):
            waiting_for_ok = True
        elif waiting_for_ok and line["direction"] == "S":
            waiting_for_ok = False
            if re.search(r"(^\S+ OK|^\+OK|^220)", line["text"]):
                lines.append({"divider": True})
    return lines


# -- the server's side: the mailbox as the lab holds it now -------------------------


@dataclass
class ServerMessage:
    """A message as the server holds it."""

    uid: int
    sender: str
    subject: str
    seen: bool


@dataclass
class ServerFolder:
    """A folder as the server holds it."""

    name: str
    label: str
    total: int
    messages: list[ServerMessage]


def mailbox_on_server(lab: Lab, address: str, per_folder: int = 10) -> list[ServerFolder]:
    """The account's folders and their newest messages, straight from the lab's database.

    Two read-only queries whatever the mailbox's size: the count of each
    folder, and the first bytes (the headers) of each folder's newest messages.
    """
    account = lab.store.account(address)
    if account is None:
        return []
    newest = lab.store.newest(account.id, per_folder, HEADER_BYTES)
    folders = {f.name: f for f in lab.store.folders(account.id)}
    result = []
    for folder in (folders[name] for name in ordered_folders(list(folders))):
        found = newest.get(folder.id)
        messages = []
        for uid, flags, head in found.messages if found else ():
            headers = _HEADERS.parsebytes(head.split(b"\r\n\r\n", 1)[0])
            messages.append(ServerMessage(uid, short_sender(_header(headers.get("From"))),
                                          _header(headers.get("Subject")), "\\Seen" in flags))
        result.append(ServerFolder(folder.name, folder_label(folder.name),
                                   found.total if found else 0, messages))
    return result


HEADER_BYTES = 4096
_HEADERS = BytesHeaderParser(policy=email.policy.compat32)


def _header(value: Any) -> str:
    """A header as text, its encoded words (=?utf-8?…?=) decoded."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, ValueError, UnicodeError):
        return str(value)


def when(timestamp: float) -> str:
    """A moment, as the pages show it."""
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), "short")
