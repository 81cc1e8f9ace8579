"""The learner's client against a real lab: each mistake gives the real error and its lesson."""

from __future__ import annotations

import smtplib
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from unittest.mock import ANY

import pytest
from conftest import ADDRESS, DOMAIN, PASSWORD

from pixlab.client.client import MailClient
from pixlab.client.errors import CATALOGUE, program_message
from pixlab.client.network import LabNetwork, NameNotFound, NameTable, PortState
from pixlab.client.settings import AccountSettings, Auth, LeaveOnServer, Security, ServerSettings
from pixlab.client.spy import Credential, reveal
from pixlab.client.trace import Trace
from pixlab.lab.certs import CertificateKind
from pixlab.lab.runner import Lab

POP3S = ServerSettings("pop3", f"pop.{DOMAIN}", 995, Security.TLS, Auth.NORMAL, ADDRESS)
IMAPS = ServerSettings("imap", f"imap.{DOMAIN}", 993, Security.TLS, Auth.NORMAL, ADDRESS)
SUBMISSION = ServerSettings("smtp", f"smtp.{DOMAIN}", 587, Security.STARTTLS, Auth.NORMAL, ADDRESS)


def account(incoming: ServerSettings = POP3S, outgoing: ServerSettings = SUBMISSION,
            **changes: object) -> AccountSettings:
    settings = AccountSettings(ADDRESS, incoming, outgoing, PASSWORD)
    return replace(settings, **changes)  # type: ignore[arg-type]


class Local:
    """A device's storage, in memory."""

    def __init__(self) -> None:
        self.messages: dict[str, bytes] = {}

    def known_uids(self) -> set[str]:
        return set(self.messages)

    def keep(self, uid: str, raw: bytes) -> None:
        self.messages[uid] = raw

    def downloaded_at(self, uid: str) -> float | None:
        return time.time()

    def deleted_here(self) -> set[str]:
        return set()


def test_good_pop3s_and_submission_settings_work_and_are_traced(lab: Lab) -> None:
    client = MailClient(lab, account())
    trace = client.test_incoming()
    assert trace.ok, trace.error
    assert [s.name for s in trace.steps] == [
        "resolve", "tcp", "tls", "greeting", "capabilities", "auth"
    ]
    tls = trace.step_named("tls")
    assert tls is not None and tls.details["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls.details["subject"] == f"mail.{DOMAIN}"
    assert tls.details["issuer"].startswith("PixLab")
    secret_lines = [line for line in trace.transcript if line.secret]
    assert secret_lines and not any(line.cleartext for line in secret_lines)
    assert all(PASSWORD not in line.text for line in trace.transcript)
    (connection_id,) = trace.connection_ids
    kinds = [e.kind for e in lab.events.for_connection(connection_id)]
    assert "auth.succeeded" in kinds and "tls.established" in kinds

    sent = client.send([ADDRESS], "Devoirs", "Le cahier de textes est à jour.")
    assert sent.ok, sent.error
    local = Local()
    fetched = client.fetch(local)
    assert fetched.ok and fetched.result["downloaded"] and len(local.messages) == 1
    assert b"Subject: Devoirs" in next(iter(local.messages.values()))
    # POP3 without "leave on the server": the server's inbox is now empty.
    inbox = lab.store.folder(lab.store.account(ADDRESS).id, "INBOX")  # type: ignore[union-attr]
    assert inbox is not None and lab.store.messages(inbox.id) == []


def test_pop3_leaving_messages_on_the_server_downloads_each_only_once(lab: Lab) -> None:
    client = MailClient(lab, account(leave_on_server=LeaveOnServer.FOREVER))
    assert client.send([ADDRESS], "Un", "1").ok
    local = Local()
    assert client.fetch(local).result["downloaded"]
    again = client.fetch(local)
    assert again.result["downloaded"] == [] and again.result["on_server"] == 1


@dataclass(frozen=True)
class Case:
    """A misconfiguration, the lab it meets, and what the learner must see."""

    key: str
    step: str
    exception: str
    operation: Callable[[Lab], Trace]
    lab: dict[str, object] = field(default_factory=dict)


def incoming(server: ServerSettings, **changes: object) -> Callable[[Lab], Trace]:
    return lambda lab: MailClient(lab, account(server, **changes), timeout=1.0).test_incoming()


def sending(server: ServerSettings, to: str, **changes: object) -> Callable[[Lab], Trace]:
    return lambda lab: MailClient(lab, account(outgoing=server, **changes)).send(
        [to], "Sortie", "Rendez-vous à 8 h."
    )


def full_mailbox(lab: Lab) -> Trace:
    lab.store.set_quota(lab.store.account(ADDRESS).id, 10)  # type: ignore[union-attr]
    return MailClient(lab, account()).send([ADDRESS], "Photos", "Trop lourd.")


def too_big(lab: Lab) -> Trace:
    return MailClient(lab, account()).send([ADDRESS], "Photos", "x" * 5000)


def as_someone_else(lab: Lab) -> Trace:
    lab.store.create_account(f"prof@{DOMAIN}", "Craie-42")
    settings = replace(account(outgoing=SUBMISSION.changed(username=f"prof@{DOMAIN}")),
                       password="Craie-42")
    return MailClient(lab, settings).send([ADDRESS], "Note", "…")


def filtered_port(lab: Lab) -> Trace:
    names = NameTable.for_domains([DOMAIN], {f"smtp.{DOMAIN}": {25: PortState.FILTERED}})
    settings = account(outgoing=SUBMISSION.changed(port=25))
    return MailClient(lab, settings, LabNetwork(lab, names), timeout=0.5).test_outgoing()


def locked_out(lab: Lab) -> Trace:
    wrong = replace(account(), password="cahier-2026")
    for _ in range(lab.config.lockout_after):
        assert MailClient(lab, wrong).test_incoming().error.key == "wrong_credentials"  # type: ignore[union-attr]
    return MailClient(lab, account()).test_incoming()  # the right password, too late


def with_two_step(lab: Lab) -> Trace:
    lab.app_passwords.set_two_step(ADDRESS, True)
    return MailClient(lab, account()).test_incoming()  # the account's own password


def with_certificate(kind: CertificateKind) -> dict[str, object]:
    return {"certificates": {f"pop.{DOMAIN}": kind}}


IN_CLEAR = POP3S.changed(port=110, security=Security.NONE)

# One row per catalogue entry: a test below checks that none is missing.
CASES = (
    Case("server_not_found", "resolve", "NameNotFound", incoming(POP3S.changed(host="pop.lycee"))),
    Case("connection_refused", "tcp", "ConnectionRefusedError", incoming(POP3S.changed(port=8080))),
    Case("connection_timeout", "tcp", "TimeoutError", filtered_port),
    Case("tls_on_plaintext_port", "tls", "WRONG_VERSION_NUMBER", incoming(POP3S.changed(port=110))),
    Case("plaintext_on_tls_port", "greeting", "TimeoutError",
         incoming(POP3S.changed(security=Security.STARTTLS))),
    Case("starttls_not_offered", "tls", "ClientError",
         incoming(POP3S.changed(port=110, security=Security.STARTTLS)), {"starttls": False}),
    Case("login_refused_before_tls", "auth", "Plaintext authentication disallowed",
         incoming(IN_CLEAR, accepted_cleartext=True)),
    Case("cleartext_not_confirmed", "", "ClientError", incoming(IN_CLEAR)),
    Case("wrong_credentials", "auth", "-ERR [AUTH] Authentication failed.",
         incoming(POP3S.changed(username="eleve"))),
    Case("account_locked", "auth", "Account locked", locked_out, {"lockout_after": 3}),
    Case("app_password_required", "auth", "-ERR [AUTH] Application-specific password required",
         with_two_step),
    Case("encrypted_password_unsupported", "auth", "ClientError",
         incoming(POP3S.changed(auth=Auth.ENCRYPTED))),
    Case("authentication_missing", "mailbox", "Log in first",
         lambda lab: MailClient(lab, account(POP3S.changed(auth=Auth.NONE))).fetch(Local())),
    Case("certificate_wrong_name", "tls", "Hostname mismatch", incoming(POP3S),
         with_certificate(CertificateKind.OTHER_NAME)),
    Case("certificate_expired", "tls", "certificate has expired", incoming(POP3S),
         with_certificate(CertificateKind.EXPIRED)),
    Case("certificate_self_signed", "tls", "self-signed certificate", incoming(POP3S),
         with_certificate(CertificateKind.SELF_SIGNED)),
    Case("relay_refused", "send", "Relay access denied",
         sending(SUBMISSION.changed(port=25, auth=Auth.NONE), "ami@ailleurs.test")),
    Case("auth_required_to_send", "send", "530, b'5.7.0 Authentication required'",
         sending(SUBMISSION.changed(auth=Auth.NONE), ADDRESS)),
    Case("recipient_unknown", "send", "User unknown", sending(SUBMISSION, f"personne@{DOMAIN}")),
    Case("mailbox_full", "send", "552", full_mailbox),
    Case("message_too_big", "send", "552", too_big, {"max_message_size": 2000}),
    Case("sender_refused", "send", "553", as_someone_else),
    Case("server_disconnected", "greeting", "SMTPServerDisconnected",
         lambda lab: MailClient(lab, account()).test_outgoing(), {"max_connections_per_peer": 0}),
)


def test_every_catalogue_entry_has_a_misconfiguration_that_reaches_it() -> None:
    # protocol_error is the catch-all for what no lesson foresaw.
    assert {case.key for case in CASES} == set(CATALOGUE) - {"protocol_error"}
    for entry in CATALOGUE.values():
        assert entry.explanation["fr"] and entry.explanation["en"]
        assert entry.hint["fr"] and entry.hint["en"]


@pytest.mark.parametrize(
    ("reply", "key"),
    (
        ("552 5.2.2 <ami@lycee-exemple.test>: Mailbox is full", "mailbox_full"),
        ("552 5.3.4 Message size exceeds fixed limit", "message_too_big"),
        ("552 Error: Too much mail data", "message_too_big"),
        # A bare 552 says neither: it is not read as "mailbox full".
        ("552 Requested mail action aborted", "protocol_error"),
    ),
)
def test_a_552_reply_is_told_apart_by_its_enhanced_code_or_its_text(reply: str, key: str) -> None:
    from pixlab.client.errors import classify

    code, _, text = reply.partition(" ")
    error = smtplib.SMTPDataError(int(code), text.encode())
    assert classify(error, "send", SUBMISSION, None).key == key


@pytest.mark.parametrize("case", CASES, ids=[case.key for case in CASES])
def test_misconfiguration_gives_the_real_error_and_its_lesson(make_lab, case: Case) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(**case.lab)
    lab.store.create_account(ADDRESS, PASSWORD)
    trace = case.operation(lab)
    assert trace.error is not None, "the operation should have failed"
    assert (trace.error.key, trace.error.step) == (case.key, case.step), trace.error
    assert case.exception in trace.error.exception
    if case.step:
        failed = trace.failed_step
        assert failed is not None and failed.name == case.step
    else:  # refused by the client itself: the warning comes before any connection
        assert trace.steps == []


def test_the_reset_page_unlocks_a_locked_account(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(lockout_after=3)
    lab.store.create_account(ADDRESS, PASSWORD)
    assert locked_out(lab).error.key == "account_locked"  # type: ignore[union-attr]
    lab.lockouts.unlock(ADDRESS.upper())
    assert MailClient(lab, account()).test_incoming().ok


def test_login_in_clear_is_refused_and_the_password_never_leaves(lab: Lab) -> None:
    trace = MailClient(lab, account(IN_CLEAR, accepted_cleartext=True)).test_incoming()
    assert trace.error is not None and trace.error.key == "login_refused_before_tls"
    capture = lab.tap.capture(trace.connection_ids[0])
    assert capture is not None
    revealed = reveal(capture.sent_by("client"))
    assert [c.kind for c in revealed] == ["user"]  # the name went out in clear, not the password


def test_login_in_clear_where_allowed_shows_the_password_to_a_spy(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(allow_cleartext=True)
    lab.store.create_account(ADDRESS, PASSWORD)
    trace = MailClient(lab, account(IN_CLEAR, accepted_cleartext=True)).test_incoming()
    assert trace.ok, trace.error
    assert any(line.secret and line.cleartext for line in trace.transcript)
    capture = lab.tap.capture(trace.connection_ids[0])
    assert capture is not None
    assert Credential("password", PASSWORD, ANY) in reveal(capture.sent_by("client"))


def test_filtered_port_waits_exactly_the_configured_timeout(lab: Lab) -> None:
    started = time.monotonic()
    trace = filtered_port(lab)
    assert trace.error is not None and trace.error.key == "connection_timeout"
    assert 0.5 <= time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    "kind", (CertificateKind.OTHER_NAME, CertificateKind.EXPIRED, CertificateKind.SELF_SIGNED)
)
def test_accepting_the_risk_connects_and_is_recorded(make_lab, kind: CertificateKind) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(**with_certificate(kind))
    lab.store.create_account(ADDRESS, PASSWORD)
    risky = MailClient(lab, account(accepted_risks=frozenset({f"pop.{DOMAIN}"}))).test_incoming()
    assert risky.ok and risky.warnings == ["certificate_risk_accepted"]


# -- no way out: whatever is typed, sockets only reach the lab -------------

_opened: list[tuple[object, ...]] = []
_watching = threading.local()


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.connect" and getattr(_watching, "on", False):
        _opened.append(args[1] if isinstance(args[1], tuple) else (args[1],))


sys.addaudithook(_audit)


@pytest.fixture
def sockets_opened() -> Iterator[list[tuple[object, ...]]]:
    """Every address this thread's sockets connect to during the test (from the audit hook)."""
    _opened.clear()
    _watching.on = True
    yield _opened
    _watching.on = False


@pytest.mark.parametrize(
    "host",
    ("127.0.0.1", "localhost", "::1", "169.254.169.254", f"imap.{DOMAIN}.evil.test",
     "[::1]", "0.0.0.0", "mail.lycee-exemple.test@evil.test", "", " "),
)
def test_typed_hosts_never_open_a_socket_outside_the_lab(
    lab: Lab, sockets_opened: list[tuple[object, ...]], host: str
) -> None:
    for incoming in (POP3S.changed(host=host), IMAPS.changed(host=host)):
        trace = MailClient(lab, account(incoming)).test_incoming()
        assert trace.error is not None and trace.error.key == "server_not_found"
    trace = MailClient(lab, account(outgoing=SUBMISSION.changed(host=host))).test_outgoing()
    assert trace.error is not None and trace.error.key == "server_not_found"
    assert sockets_opened == []


def test_every_port_typed_reaches_only_lab_listeners_or_the_lab_sinks(
    lab: Lab, sockets_opened: list[tuple[object, ...]]
) -> None:
    web_port = 5000
    for port in (25, 110, 143, 465, 587, 993, 995, 80, 443, web_port, 10995, 22, 0, 65535):
        MailClient(lab, account(POP3S.changed(port=port)), timeout=0.3).test_incoming()
    lab_ports = {info.port for info in lab.listeners}
    network = LabNetwork(lab)
    from pixlab.client.network import _Sinks

    sinks = {_Sinks.get().closed.getsockname()[1], _Sinks.get().hole.getsockname()[1]}
    assert sockets_opened, "the audit hook saw nothing: the test would prove nothing"
    for address in sockets_opened:
        assert address[0] == "127.0.0.1" and address[1] in lab_ports | sinks, address
    with pytest.raises(NameNotFound):
        network.route("127.0.0.1", 995)


def test_unknown_names_fail_like_a_real_resolver() -> None:
    error = NameNotFound("imap.exemple.tst")
    assert isinstance(error, socket.gaierror) and error.errno == socket.EAI_NONAME


@pytest.mark.parametrize(
    ("wire", "expected"),
    (
        (b"USER eleve\r\nPASS Cahier-2026\r\n", [("user", "eleve"), ("password", "Cahier-2026")]),
        (b"a1 LOGIN eleve \"Ca\\\"hier\"\r\n", [("user", "eleve"), ("password", 'Ca"hier')]),
        (b"AUTH PLAIN AGVsZXZlAENhaGllci0yMDI2\r\n",
         [("user", "eleve"), ("password", "Cahier-2026")]),
        (b"a2 AUTHENTICATE PLAIN\r\nAGVsZXZlAENhaGllci0yMDI2\r\n",
         [("user", "eleve"), ("password", "Cahier-2026")]),
        (b"AUTH LOGIN\r\nZWxldmU=\r\nQ2FoaWVyLTIwMjY=\r\n",
         [("user", "eleve"), ("password", "Cahier-2026")]),
        (b"EHLO poste\r\nSTARTTLS\r\n\x16\x03\x01\x02\x00", []),
    ),
)
def test_a_spy_decodes_what_base64_only_disguises(
    wire: bytes, expected: list[tuple[str, str]]
) -> None:
    assert [(c.kind, c.value) for c in reveal(wire)] == expected


@pytest.mark.parametrize("protocol", ("imap", "pop3", "smtp"))
@pytest.mark.parametrize("lang", ("fr", "en"))
def test_every_failure_quotes_what_thunderbird_shows(protocol: str, lang: str) -> None:
    values = {"host": f"mail.{DOMAIN}", "user": ADDRESS, "reply": "550 5.7.1 refus",
              "recipient": f"ami@{DOMAIN}", "not_after": "1 janv. 2026"}
    for key in CATALOGUE:
        message = program_message(key, protocol, lang, values)
        assert message, f"{protocol}/{key}: no Thunderbird text"
        assert "%S" not in message and "{ $" not in message
    refused = program_message("connection_refused", "pop3", "fr", {"host": f"pop.{DOMAIN}"})
    assert refused == (
        f"Impossible de se connecter au serveur pop.{DOMAIN}\u00a0; la connexion a été refusée."
    )
    # A text whose values are unknown is not shown half-filled.
    assert program_message("certificate_expired", protocol, lang, {"host": "h"}) is None


def test_each_learner_meets_the_lab_of_their_own_world(lab: Lab) -> None:
    """One lab, one set of ports: a scenario's world changes the lab for its player only."""
    from pixlab.lab.world import World

    scenario = World(domains=(DOMAIN,), allow_cleartext=True,
                     certificates=((f"imap.{DOMAIN}", CertificateKind.EXPIRED),))
    in_clear = account(IN_CLEAR, accepted_cleartext=True)
    player = MailClient(lab, in_clear, LabNetwork(lab, world=scenario)).test_incoming()
    other = MailClient(lab, in_clear).test_incoming()
    assert player.ok, player.error
    assert other.error is not None and other.error.key == "login_refused_before_tls"
    (connection_id,) = player.connection_ids
    assert lab.events.for_connection(connection_id)[-2].data["cleartext"] is True

    imaps = account(IMAPS)
    player = MailClient(lab, imaps, LabNetwork(lab, world=scenario)).test_incoming()
    assert player.error is not None and player.error.key == "certificate_expired"
    assert MailClient(lab, imaps).test_incoming().ok


def test_a_folder_created_over_imap_is_on_the_server(lab: Lab) -> None:
    """CREATE puts the folder on the server; creating it twice gets the server's NO, classified."""
    client = MailClient(lab, account(IMAPS))
    created = client.create_folder("Sorties scolaires")
    assert created.ok, created.error
    assert created.operation == "create_folder" and created.result["created"] == "Sorties scolaires"
    (connection_id,) = created.connection_ids
    assert [e.data["folder"] for e in lab.events.for_connection(connection_id)
            if e.kind == "mailbox.created"] == ["Sorties scolaires"]
    names = [f["name"] for f in client.fetch().result["folders"]]
    assert "Sorties scolaires" in names

    again = client.create_folder("Sorties scolaires")
    assert again.error is not None and again.error.step == "mailbox"
    assert again.error.key == "protocol_error" and "ALREADYEXISTS" in again.error.exception

    # imaplib sends ASCII only: a French name travels in modified UTF-7 and comes back whole.
    accented = client.create_folder("Séjour à Madrid & Tolède")
    assert accented.ok, accented.error
    names = [f["name"] for f in client.fetch().result["folders"]]
    assert "Séjour à Madrid & Tolède" in names
    assert client.list_folder("Séjour à Madrid & Tolède").ok
