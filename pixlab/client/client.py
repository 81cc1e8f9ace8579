"""The simulated mail client: real connections to the lab, one `Trace` per operation."""

from __future__ import annotations

import base64
import email
import email.policy
import imaplib
import poplib
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any, Protocol

from pixlab.client.certificates import unchecked_certificate
from pixlab.client.errors import ClientError, classify
from pixlab.client.network import Hop, LabNetwork
from pixlab.client.protocols import LabIMAP, LabPOP3, LabSMTP, Recorder
from pixlab.client.settings import AccountSettings, Auth, LeaveOnServer, Security, ServerSettings
from pixlab.client.trace import Trace
from pixlab.lab.imap_parser import ImapSyntaxError, decode_mailbox, encode_mailbox

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab

DEFAULT_TIMEOUT = 3.0  # seconds; a real program waits much longer (Thunderbird: 100 s)
SUMMARY_FIELDS = "FROM TO SUBJECT DATE MESSAGE-ID"


class LocalMail(Protocol):
    """A device's own storage, for what POP3 downloads."""

    def known_uids(self) -> set[str]:
        """The server UIDs already downloaded."""
        ...

    def keep(self, uid: str, raw: bytes) -> None:
        """Store a downloaded message."""
        ...

    def downloaded_at(self, uid: str) -> float | None:
        """When a message was downloaded (Unix time), for "leave for N days"."""
        ...

    def deleted_here(self) -> set[str]:
        """UIDs the learner deleted on this device (for "until I delete them")."""
        ...


@dataclass(frozen=True)
class Summary:
    """A message as a list shows it."""

    uid: int
    sender: str
    to: str
    subject: str
    date: str
    flags: tuple[str, ...]
    size: int


class MailClient:
    """A device's mail program: settings in, real connections out, traces back."""

    def __init__(
        self,
        lab: Lab,
        settings: AccountSettings,
        network: LabNetwork | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.lab = lab
        self.settings = settings
        self.network = network or LabNetwork(lab)
        self.timeout = timeout
        self._last_hop: Hop | None = None
        self._ports: list[int] = []
        self._trace_ports: list[int] = []

    # -- operations ---------------------------------------------------------

    def test_incoming(self) -> Trace:
        """Connect and log in to the incoming server, as "Retester" does."""
        with self._operation("test", self.settings.incoming) as (trace, _):
            with self._incoming(trace) as client:
                trace.result["logged_in"] = True
                if isinstance(client, LabIMAP):
                    with trace.step("mailbox") as step:
                        step.details["folders"] = self._imap_folders(client)
        return self._finished(trace)

    def test_outgoing(self) -> Trace:
        """Connect and log in to the outgoing server."""
        with self._operation("test", self.settings.outgoing) as (trace, _):
            with self._smtp(trace):
                trace.result["logged_in"] = self.settings.outgoing.auth is not Auth.NONE
        return self._finished(trace)

    def fetch(self, local: LocalMail | None = None) -> Trace:
        """IMAP: the folders and the inbox's messages; POP3: download what is new."""
        with self._operation("fetch", self.settings.incoming) as (trace, _):
            with self._incoming(trace) as client:
                with trace.step("mailbox") as step:
                    if isinstance(client, LabIMAP):
                        trace.result["folders"] = self._imap_folders(client)
                        trace.result["messages"] = self._imap_summaries(client, "INBOX")
                    else:
                        assert local is not None, "POP3 downloads into the device's storage"
                        trace.result.update(self._pop3_download(client, local))
                    step.details.update(
                        {k: v for k, v in trace.result.items() if k != "messages"}
                    )
        return self._finished(trace)

    def list_folder(self, folder: str) -> Trace:
        """IMAP: the messages of one folder."""
        with self._operation("list", self.settings.incoming) as (trace, _):
            with self._incoming(trace) as client, trace.step("mailbox"):
                assert isinstance(client, LabIMAP)
                trace.result["messages"] = self._imap_summaries(client, folder)
        return self._finished(trace)

    def read(self, folder: str, uid: int) -> Trace:
        """IMAP: one message's bytes (which marks it \\Seen on the server)."""
        with self._operation("read", self.settings.incoming) as (trace, _):
            with self._incoming(trace) as client, trace.step("mailbox"):
                assert isinstance(client, LabIMAP)
                _check(client.select(_quote(folder)))
                typ, data = client.uid("FETCH", str(uid), "(BODY[])")
                _check((typ, data))
                trace.result["raw"] = _literal(data)
        return self._finished(trace)

    def move(self, folder: str, uid: int, target: str) -> Trace:
        """IMAP: move a message to another folder (Archives, Trash, …)."""
        with self._operation("move", self.settings.incoming) as (trace, _):
            with self._incoming(trace) as client, trace.step("mailbox"):
                assert isinstance(client, LabIMAP)
                _check(client.select(_quote(folder)))
                _check(client.uid("MOVE", str(uid), _quote(target)))
                trace.result["moved"] = {"uid": uid, "to": target}
        return self._finished(trace)

    def create_folder(self, name: str) -> Trace:
        """IMAP: create a folder on the server, where every IMAP device will see it."""
        with self._operation("create_folder", self.settings.incoming) as (trace, _):
            with self._incoming(trace) as client, trace.step("mailbox"):
                assert isinstance(client, LabIMAP)
                _check(client.create(_quote(name)))
                trace.result["created"] = name
        return self._finished(trace)

    def delete(self, folder: str, uid: int) -> Trace:
        """IMAP: delete a message for good (\\Deleted, then EXPUNGE)."""
        with self._operation("delete", self.settings.incoming) as (trace, _):
            with self._incoming(trace) as client, trace.step("mailbox"):
                assert isinstance(client, LabIMAP)
                _check(client.select(_quote(folder)))
                _check(client.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)"))
                _check(client.expunge())
                trace.result["deleted"] = uid
        return self._finished(trace)

    def send(self, to: list[str], subject: str, body: str, sender: str = "",
             reply_to: str = "") -> Trace:
        """Send a message by SMTP, then keep a copy in Sent when the incoming server is IMAP.

        `sender` is the "De" address typed in the compose window (the account's by
        default): like Thunderbird, the program gives it both as the From header and
        as the envelope's MAIL FROM. `reply_to` fills "Répondre à".
        """
        message = self._compose(to, subject, body, sender, reply_to)
        raw = message.as_bytes(policy=email.policy.SMTP)
        envelope_from = parseaddr(sender)[1] if sender else ""
        with self._operation("send", self.settings.outgoing) as (trace, _):
            with self._smtp(trace) as smtp, trace.step("send", recipients=list(to)):
                refused = smtp.sendmail(envelope_from or self.settings.address, to, raw)
                trace.result["refused"] = {k: list(v) for k, v in refused.items()}
        trace = self._finished(trace)
        if trace.ok and self.settings.incoming.protocol == "imap":
            copy = self._append_sent(raw)
            trace.result["sent_copy"] = copy is not None and copy.ok
            # The copy's own IMAP connection, for whoever judges what the sending did.
            trace.result["sent_copy_connection_ids"] = copy.connection_ids if copy else []
        trace.result["message_id"] = message["Message-ID"]
        return trace

    # -- connections --------------------------------------------------------

    @contextmanager
    def _operation(
        self, name: str, server: ServerSettings
    ) -> Iterator[tuple[Trace, ServerSettings]]:
        trace = Trace(name, server.protocol, server.host, server.port, str(server.security))
        self._ports = []
        try:
            yield trace, server
        except Exception as exc:  # every failure becomes a lesson, never a crash
            failed = trace.failed_step
            trace.error = classify(exc, failed.name if failed else "", server, self._last_hop)
        self._trace_ports = list(self._ports)

    def _finished(self, trace: Trace) -> Trace:
        # The tap knows each connection by the client's port: name them in the trace.
        deadline = time.monotonic() + 0.5
        for port in self._trace_ports:
            connection_id = None
            while connection_id is None and time.monotonic() < deadline:
                connection_id = self.lab.tap.connection_for_peer(port)
                if connection_id is None:
                    time.sleep(0.005)
            if connection_id:
                trace.connection_ids.append(connection_id)
        return trace

    def _connect(self, trace: Trace, server: ServerSettings) -> tuple[socket.socket, Recorder]:
        self._last_hop = None
        with trace.step("resolve", host=server.host) as step:
            hop = self.network.route(server.host, server.port)
            self._last_hop = hop
            step.details["address"] = "lab" if hop.address else None
        with trace.step("tcp", port=server.port) as step:
            sock = self.network.connect(hop, self.timeout)
            self._ports.append(sock.getsockname()[1])
        secrets = _secrets(server.username, self.settings.password)
        recorder = Recorder(trace, secrets)
        if server.security.implicit_tls:
            sock = self._handshake(trace, sock, server)
            recorder.tls = True
        return sock, recorder

    def _tls_context(self, trace: Trace, server: ServerSettings) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.lab.ca.ca_path))
        if not server.security.checks_certificate:
            # "SSL/TLS (si disponible)": the program takes whatever certificate comes.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            trace.warnings.append("certificate_not_checked")
        elif server.host.lower() in self.settings.accepted_risks:
            # What "Confirmer l'exception de sécurité" does: no more checks for this host.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            trace.warnings.append("certificate_risk_accepted")
        return context

    def _handshake(
        self, trace: Trace, sock: socket.socket, server: ServerSettings
    ) -> ssl.SSLSocket:
        with trace.step("tls") as step:
            try:
                tls = self._tls_context(trace, server).wrap_socket(
                    sock, server_hostname=server.host)
            except BaseException:
                sock.close()
                raise
            step.details.update(_tls_details(tls, self.lab))
        return tls

    def _upgrade(self, trace: Trace, client: Any, offered: bool, server: ServerSettings) -> bool:
        """STARTTLS/STLS; whether it happened.

        Refused when the server does not offer it (as Thunderbird does), unless
        the program goes on in clear then ("STARTTLS (si disponible)",
        "Automatique"): the password then travels in clear, without a warning.
        """
        if not offered and server.security.falls_back_to_cleartext:
            trace.warnings.append("cleartext_fallback")
            return False
        with trace.step("tls", starttls=True) as step:
            if not offered:
                raise ClientError("starttls_not_offered")
            client.upgrade(self._tls_context(trace, server))
            step.details.update(_tls_details(client.sock, self.lab))
        return True

    @contextmanager
    def _incoming(self, trace: Trace) -> Iterator[LabIMAP | LabPOP3]:
        server = self.settings.incoming
        self._refuse_cleartext_unconfirmed(server)
        sock, recorder = self._connect(trace, server)
        if server.protocol == "imap":
            client: LabIMAP | LabPOP3 = self._imap_session(trace, sock, recorder, server)
        else:
            client = self._pop3_session(trace, sock, recorder, server)
        try:
            yield client
        finally:
            _quietly(client.logout if isinstance(client, LabIMAP) else client.quit)
            _close(client)

    def _imap_session(
        self, trace: Trace, sock: socket.socket, recorder: Recorder, server: ServerSettings
    ) -> LabIMAP:
        greeting = trace.step("greeting")
        step = greeting.__enter__()
        caps_step: list[Any] = []

        def greeted(client: LabIMAP) -> None:
            step.details["text"] = client.welcome.decode("utf-8", "replace")
            greeting.__exit__(None, None, None)
            caps_step.append(trace.step("capabilities"))
            caps_step[0].__enter__()

        try:
            client = LabIMAP(sock, server.host, recorder, greeted)
        except BaseException as exc:
            (caps_step[0] if caps_step else greeting).__exit__(type(exc), exc, None)
            _quietly(sock.close)
            raise
        caps_step[0].__exit__(None, None, None)
        trace.step_named("capabilities").details["list"] = sorted(client.capabilities)  # type: ignore[union-attr]
        try:
            if server.security.starttls and self._upgrade(
                    trace, client, "STARTTLS" in client.capabilities, server):
                client.refresh_capabilities()
            self._imap_login(trace, client, server)
        except BaseException:
            _close(client)
            raise
        return client

    def _imap_login(self, trace: Trace, client: LabIMAP, server: ServerSettings) -> None:
        if server.auth is Auth.NONE:
            return  # the server will say what it thinks of that at the first command
        with trace.step("auth", method=str(server.auth)) as step:
            caps = set(client.capabilities)
            if server.auth is Auth.ENCRYPTED:
                if "AUTH=CRAM-MD5" not in caps:
                    raise ClientError("encrypted_password_unsupported")
                _check(client.login_cram_md5(server.username, self.settings.password))
                return
            if "LOGINDISABLED" in caps:
                # A careful program does not send the password where the server forbids it.
                raise ClientError("login_refused_before_tls")
            if "AUTH=PLAIN" in caps:
                step.details["mechanism"] = "PLAIN"
                user, password = server.username, self.settings.password
                _check(client.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode()))
            else:
                step.details["mechanism"] = "LOGIN"
                _check(client.login(server.username, self.settings.password))

    def _pop3_session(
        self, trace: Trace, sock: socket.socket, recorder: Recorder, server: ServerSettings
    ) -> LabPOP3:
        with trace.step("greeting") as step:
            try:
                client = LabPOP3(sock, server.host, recorder)
            except BaseException:
                _quietly(sock.close)
                raise
            step.details["text"] = client.welcome.decode("utf-8", "replace")
        try:
            with trace.step("capabilities") as step:
                caps = client.capa()
                step.details["list"] = sorted(caps)
            if server.security.starttls and self._upgrade(trace, client, "STLS" in caps, server):
                caps = client.capa()
            self._pop3_login(trace, client, server, caps)
        except BaseException:
            _close(client)
            raise
        return client

    def _pop3_login(
        self, trace: Trace, client: LabPOP3, server: ServerSettings, caps: dict[str, Any]
    ) -> None:
        if server.auth is Auth.NONE:
            return
        with trace.step("auth", method=str(server.auth)) as step:
            mechanisms = set(caps.get("SASL", []))
            challenge_based = {"CRAM-MD5", "APOP"} & (mechanisms | set(caps))
            if server.auth is Auth.ENCRYPTED and not challenge_based:
                raise ClientError("encrypted_password_unsupported")
            if "PLAIN" in mechanisms:
                step.details["mechanism"] = "PLAIN"
                blob = base64.b64encode(
                    f"\0{server.username}\0{self.settings.password}".encode()
                ).decode()
                client._shortcmd(f"AUTH PLAIN {blob}")  # type: ignore[attr-defined]
            else:
                step.details["mechanism"] = "USER"
                client.user(server.username)
                client.pass_(self.settings.password)

    @contextmanager
    def _smtp(self, trace: Trace) -> Iterator[LabSMTP]:
        server = self.settings.outgoing
        self._refuse_cleartext_unconfirmed(server)
        sock, recorder = self._connect(trace, server)
        with trace.step("greeting") as step:
            smtp = LabSMTP(sock, server.host, recorder, self.timeout)
            try:
                code, text = smtp.connect(server.host, server.port)
            except BaseException:
                _quietly(sock.close)
                raise
            step.details["text"] = f"{code} {text.decode('utf-8', 'replace')}"
        try:
            with trace.step("capabilities") as step:
                smtp.ehlo()
                step.details["list"] = sorted(smtp.esmtp_features)
            if server.security.starttls and self._upgrade(
                    trace, smtp, smtp.has_extn("starttls"), server):
                smtp.ehlo()
            if server.auth is not Auth.NONE:
                with trace.step("auth", method=str(server.auth)):
                    offered = smtp.esmtp_features.get("auth", "").upper().split()
                    if server.auth is Auth.ENCRYPTED and "CRAM-MD5" not in offered:
                        raise ClientError("encrypted_password_unsupported")
                    if not smtp.has_extn("auth") and not recorder.tls:
                        raise ClientError("login_refused_before_tls")
                    smtp.login(server.username, self.settings.password)
            yield smtp
        finally:
            _quietly(smtp.quit)
            _quietly(smtp.close)

    def _refuse_cleartext_unconfirmed(self, server: ServerSettings) -> None:
        if server.security is Security.NONE and not self.settings.accepted_cleartext:
            raise ClientError("cleartext_not_confirmed")

    # -- IMAP and POP3 details ----------------------------------------------

    def _imap_folders(self, client: LabIMAP) -> list[dict[str, Any]]:
        typ, data = client.list()
        _check((typ, data))
        folders = []
        for line in data:
            if not isinstance(line, bytes):
                continue
            match = re.match(rb'\((?P<flags>[^)]*)\) (?P<sep>"[^"]*"|NIL) (?P<name>.+)$', line)
            if match:
                name = _folder_name(match.group("name").decode("utf-8", "replace").strip('"'))
                flags = match.group("flags").decode().split()
                folders.append({"name": name, "flags": flags})
        return folders

    def _imap_summaries(self, client: LabIMAP, folder: str) -> list[Summary]:
        _check(client.select(_quote(folder), readonly=True))
        typ, data = client.uid(
            "FETCH", "1:*", f"(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({SUMMARY_FIELDS})])"
        )
        _check((typ, data))
        summaries = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, header = item
            uid = re.search(rb"UID (\d+)", meta)
            size = re.search(rb"RFC822\.SIZE (\d+)", meta)
            flags = re.search(rb"FLAGS \(([^)]*)\)", meta)
            parsed = email.message_from_bytes(header, policy=email.policy.default)
            summaries.append(
                Summary(
                    int(uid.group(1)) if uid else 0,
                    str(parsed.get("From", "")),
                    str(parsed.get("To", "")),
                    str(parsed.get("Subject", "")),
                    str(parsed.get("Date", "")),
                    tuple(flags.group(1).decode().split()) if flags else (),
                    int(size.group(1)) if size else 0,
                )
            )
        return summaries

    def _pop3_download(self, client: LabPOP3, local: LocalMail) -> dict[str, Any]:
        _, listing, _ = client.uidl()
        known = local.known_uids()
        downloaded, deleted = [], []
        now = time.time()
        for entry in listing:
            number, uid = entry.decode().split()
            if uid not in known:
                _, lines, _ = client.retr(int(number))
                local.keep(uid, b"\r\n".join(lines) + b"\r\n")
                downloaded.append(uid)
            if self._pop3_should_delete(uid, local, now):
                client.dele(int(number))
                deleted.append(uid)
        return {"downloaded": downloaded, "deleted_on_server": deleted, "on_server": len(listing)}

    def _pop3_should_delete(self, uid: str, local: LocalMail, now: float) -> bool:
        leave = self.settings.leave_on_server
        if leave is LeaveOnServer.NO:
            return True
        if leave is LeaveOnServer.DAYS:
            when = local.downloaded_at(uid)
            return when is not None and now - when > self.settings.leave_days * 86400
        if leave is LeaveOnServer.UNTIL_DELETED:
            return uid in local.deleted_here()
        return False

    def _append_sent(self, raw: bytes) -> Trace | None:
        """Keep a copy in Sent, as mail programs do over IMAP; its trace (None if it broke)."""
        try:
            with self._operation("append", self.settings.incoming) as (trace, _):
                with self._incoming(trace) as client:
                    assert isinstance(client, LabIMAP)
                    _check(client.append("Sent", "(\\Seen)", None, raw))
            return self._finished(trace)
        except Exception:
            return None

    def _compose(self, to: list[str], subject: str, body: str, sender: str = "",
                 reply_to: str = "") -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender or self.settings.address
        message["To"] = ", ".join(to)
        if reply_to:
            message["Reply-To"] = reply_to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.settings.address.rpartition("@")[2])
        message.set_content(body)
        return message


def _secrets(username: str, password: str) -> list[bytes]:
    """Every form the password can take on the wire, to mask it in transcripts."""
    raw = password.encode()
    forms = [raw, base64.b64encode(raw)]
    forms.append(base64.b64encode(f"\0{username}\0{password}".encode()))
    return forms


def _tls_details(tls: Any, lab: Lab) -> dict[str, Any]:
    cert = tls.getpeercert() or {}
    if not cert:  # not checked ("accept every certificate"): read it anyway, for the lesson
        return {"version": tls.version(), "cipher": (tls.cipher() or ("",))[0],
                **unchecked_certificate(tls.getpeercert(binary_form=True), lab.ca.ca_path)}
    alt_names = cert.get("subjectAltName", ())
    names = [value for kind, value in alt_names if kind in ("DNS", "IP Address")]
    return {
        "version": tls.version(),
        "cipher": (tls.cipher() or ("",))[0],
        "subject": dict(x[0] for x in cert.get("subject", ())).get("commonName"),
        "names": names,
        "issuer": dict(x[0] for x in cert.get("issuer", ())).get("commonName"),
        "not_before": cert.get("notBefore"),
        "not_after": cert.get("notAfter"),
    }


def _check(response: tuple[str, Any]) -> None:
    typ, data = response
    if typ != "OK":
        text = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise imaplib.IMAP4.error(f"{typ} {text}".strip())


def _literal(data: list[Any]) -> bytes:
    for item in data:
        if isinstance(item, tuple):
            return bytes(item[1])
    return b""


def _quote(name: str) -> str:
    """A folder name as a quoted string, in modified UTF-7 (imaplib sends ASCII only)."""
    wire = encode_mailbox(name)
    return '"' + wire.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _folder_name(wire: str) -> str:
    """A folder name from LIST, decoded from modified UTF-7 (as it came when it is not)."""
    try:
        return decode_mailbox(wire)
    except ImapSyntaxError:
        return wire


def _close(client: LabIMAP | LabPOP3) -> None:
    """Close a client's socket if quitting did not already."""
    if client.sock is not None:
        _quietly(client.sock.close)


def _quietly(action: Callable[[], Any]) -> None:
    try:
        action()
    except (OSError, imaplib.IMAP4.error, poplib.error_proto, smtplib.SMTPException, ValueError,
            AttributeError):
        pass

