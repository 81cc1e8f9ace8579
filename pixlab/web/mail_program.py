"""The mail program of each device: folders, messages, reading, writing, archiving, deleting.

An IMAP device asks the lab's server at every view; a POP3 device shows what
it downloaded into its own storage. Every refused operation is kept as a
record the page links to.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC
from email.message import EmailMessage
from email.utils import formatdate, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask_babel import format_datetime
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from pixlab.client.client import DEFAULT_TIMEOUT
from pixlab.sandbox.local import LocalMailbox
from pixlab.sandbox.store import (
    DeviceInfo,
    LearnerInfo,
)
from pixlab.web.context import current_lab
from pixlab.web.labels import lang
from pixlab.web.program_messages import program_text
from pixlab.web.traces import (
    TraceView,
    folder_label,
    ordered_folders,
    present,
    short_sender,
    snapshot,
)

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab
from pixlab.web.learners import devices, local_archives, storage_changed
from pixlab.web.testing import client_for

LOCAL_FOLDERS = ("INBOX", "Archives", "Sent")


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
        view.error_trace_id = failed.id
        view.error = present(failed.data["traces"][-1], lang(), device.program)
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
    view.error = present(data, lang(), device.program)
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
    # "De" as typed (blank: the account's address) and "Répondre à" (blank: none).
    sender: str = ""
    reply_to: str = ""


def read_draft(form: MultiDict[str, str]) -> Draft:
    """The compose form, checked only for what cannot be sent at all."""
    draft = Draft(form.get("to", "").strip(), form.get("subject", "").strip(),
                  form.get("body", ""), sender=form.get("sender", "").strip(),
                  reply_to=form.get("reply_to", "").strip())
    for name in ("sender", "reply_to"):
        typed = getattr(draft, name)
        if typed and (len(typed) > 320 or "@" not in parseaddr(typed)[1]
                      or any(c in typed for c in "\r\n")):
            draft.errors[name] = _("Écris une seule adresse, par exemple nom@exemple.fr.")
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
    trace = client.send(to, draft.subject, draft.body, draft.sender, draft.reply_to)
    data = snapshot(trace, lab, client.settings, client.settings.outgoing, client.timeout)
    if trace.ok and device.incoming.protocol == "pop3":
        copy = EmailMessage()
        copy["From"] = draft.sender or learner.address
        copy["To"], copy["Subject"] = ", ".join(to), draft.subject
        if draft.reply_to:
            copy["Reply-To"] = draft.reply_to
        copy["Date"] = formatdate()
        copy["Message-ID"] = trace.result.get("message_id", "")
        copy.set_content(draft.body)
        local = LocalMailbox(lab.engine, device.id)
        local.keep_copy("Sent", copy.as_bytes())
        storage_changed(device, local)
    return devices().record_trace(learner.id, device.id, "send", trace.ok,
                                  {"traces": [data], "to": to, "subject": draft.subject})
