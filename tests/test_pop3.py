"""POP3 on 110 and 995 with the stdlib's poplib: every verb, every mistake, and the one store.

poplib has no AUTH command: the AUTH tests send it with poplib's own
`_shortcmd`/`_longcmd`, which is what a subclass adding AUTH would do.
"""

from __future__ import annotations

import base64
import json
import poplib
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress

import pytest
from conftest import ADDRESS, DOMAIN, PASSWORD
from lab_clients import EventTrail, ResolvedPOP3, ResolvedPOP3_SSL, address, bad_certificates, inbox
from sqlalchemy import select

from pixlab.db import EventRow
from pixlab.lab import replies as R
from pixlab.lab.certs import CertificateKind
from pixlab.lab.runner import Lab
from pixlab.lab.store import MessageInfo
from pixlab.lab.tap import CLIENT, SERVER

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases

HOST = f"pop.{DOMAIN}"
STRANGER = f"inconnu@{DOMAIN}"
MESSAGES = (
    b"From: prof@lycee-exemple.test\r\nSubject: Premier\r\n\r\nBonjour.\r\n",
    # Lines that start with a dot travel dot-stuffed (RFC 1939 section 3).
    b"Subject: Points\r\n\r\n.signature\r\n.\r\n..\r\nfin\r\n",
    b"Subject: Long\r\nX-Classe: 2nde B\r\n\r\nligne 1\r\nligne 2\r\nligne 3\r\nligne 4\r\n",
)


def err(constant: str, **values: object) -> bytes:
    """A reply constant as poplib puts it in `error_proto`."""
    return constant.format(**values).encode()


def plain_token(user: str = ADDRESS, password: str = PASSWORD) -> str:
    """The AUTH PLAIN response (RFC 4616): no authzid, user, password."""
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


@pytest.fixture
def trail(lab: Lab) -> Iterator[EventTrail]:
    trail = EventTrail(lab)
    yield trail
    trail.close()


@pytest.fixture
def seeded(lab: Lab) -> list[MessageInfo]:
    """The three MESSAGES in the account's INBOX, in order."""
    account = lab.store.account(ADDRESS)
    assert account is not None
    return [lab.store.append(account, "INBOX", raw) for raw in MESSAGES]


@contextmanager
def pop3(
    lab: Lab, listener: str, context: ssl.SSLContext, stls: bool = True, host: str = HOST
) -> Iterator[poplib.POP3]:
    """A POP3 client, with TLS on (STLS done unless told not to); closed without QUIT at the end."""
    if lab.listener(listener).spec.implicit_tls:
        client: poplib.POP3 = ResolvedPOP3_SSL(address(lab, listener), host, context)
    else:
        client = ResolvedPOP3(address(lab, listener), host)
    try:
        if stls and not lab.listener(listener).spec.implicit_tls:
            client.stls(context)
        yield client
    finally:
        # After a failed STLS poplib's socket is already gone, and close() says so.
        with suppress(OSError):
            client.close()


@contextmanager
def logged_in(lab: Lab, listener: str, context: ssl.SSLContext) -> Iterator[poplib.POP3]:
    with pop3(lab, listener, context) as client:
        client.user(ADDRESS)
        client.pass_(PASSWORD)
        yield client


def mailbox_size(lab: Lab) -> int:
    return len(inbox(lab, ADDRESS))


# -- authorization state ----------------------------------------------------------


@pytest.mark.parametrize("listener", ("pop3", "pop3s"))
def test_greeting(lab: Lab, tls_context: ssl.SSLContext, listener: str) -> None:
    with pop3(lab, listener, tls_context, stls=False) as client:
        assert client.getwelcome() == R.POP3_GREETING.encode()


BASE_CAPABILITIES = {"CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"}


@pytest.mark.parametrize(
    ("listener", "stls", "expected"),
    (
        ("pop3", False, BASE_CAPABILITIES | {"STLS"}),
        ("pop3", True, BASE_CAPABILITIES | {"USER", "SASL"}),
        ("pop3s", False, BASE_CAPABILITIES | {"USER", "SASL"}),
    ),
)
def test_capa_offers_login_only_over_tls(
    lab: Lab, tls_context: ssl.SSLContext, listener: str, stls: bool, expected: set[str]
) -> None:
    with pop3(lab, listener, tls_context, stls=stls) as client:
        capabilities = client.capa()
        assert set(capabilities) == expected
        if "SASL" in expected:
            assert capabilities["SASL"] == ["PLAIN"]
            client.user(ADDRESS)
            client.pass_(PASSWORD)
            # Once logged in, nothing about logging in is offered any more.
            assert set(client.capa()) == BASE_CAPABILITIES


def test_stls_upgrades_the_connection(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail
) -> None:
    with pop3(lab, "pop3", tls_context, stls=False) as client:
        assert client.stls(tls_context) == err(R.POP3_BEGIN_TLS)
        assert isinstance(client.sock, ssl.SSLSocket)
        established = trail.wait_for("tls.established")
        assert established.data["sni"] == HOST
        assert established.data["certificate"]["kind"] == "valid"
        assert established.data["version"] in ("TLSv1.2", "TLSv1.3")
        # poplib will not send STLS twice; a program that does is told why.
        with pytest.raises(poplib.error_proto) as refused:
            client._shortcmd("STLS")
        assert refused.value.args == (err(R.POP3_TLS_ACTIVE),)


def test_stls_on_the_implicit_tls_port_is_refused(lab: Lab, tls_context: ssl.SSLContext) -> None:
    with pop3(lab, "pop3s", tls_context) as client, pytest.raises(poplib.error_proto) as refused:
        client._shortcmd("STLS")
    assert refused.value.args == (err(R.POP3_TLS_ACTIVE),)


@pytest.mark.parametrize("listener", ("pop3", "pop3s"))
def test_user_and_pass(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail, listener: str
) -> None:
    with pop3(lab, listener, tls_context) as client:
        assert client.user(ADDRESS) == b"+OK"
        assert client.pass_(PASSWORD) == err(R.POP3_LOGGED_IN)
        login = trail.wait_for("auth.succeeded")
        assert login.account == ADDRESS and login.tls is True
        assert login.data == {"mechanism": "USER", "cleartext": False}


@pytest.mark.parametrize("style", ("initial response", "continuation"))
def test_auth_plain(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail, style: str
) -> None:
    with pop3(lab, "pop3s", tls_context) as client:
        if style == "initial response":
            assert client._shortcmd(f"AUTH PLAIN {plain_token()}") == err(R.POP3_LOGGED_IN)
        else:
            assert client._shortcmd("AUTH PLAIN") == b"+ "
            assert client._shortcmd(plain_token()) == err(R.POP3_LOGGED_IN)
        assert client.stat() == (0, 0)
        assert trail.wait_for("auth.succeeded").data["mechanism"] == "PLAIN"


def test_auth_lists_its_mechanisms_and_refuses_others(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    with pop3(lab, "pop3s", tls_context) as client:
        assert client._longcmd("AUTH")[:2] == (b"+OK", [b"PLAIN"])
        with pytest.raises(poplib.error_proto) as refused:
            client._shortcmd("AUTH LOGIN")
        assert refused.value.args == (err(R.POP3_AUTH_UNSUPPORTED),)
        assert client._shortcmd("AUTH PLAIN") == b"+ "
        with pytest.raises(poplib.error_proto) as aborted:
            client._shortcmd("*")
        assert aborted.value.args == (err(R.POP3_AUTH_ABORTED),)
        with pytest.raises(poplib.error_proto) as malformed:
            client._shortcmd("AUTH PLAIN pas-du-base64!")
        assert malformed.value.args == (err(R.POP3_AUTH_FAILED),)
        # None of it counted as a login: the session still works.
        assert client._shortcmd(f"AUTH PLAIN {plain_token()}") == err(R.POP3_LOGGED_IN)


def test_commands_wait_for_the_right_state(lab: Lab, tls_context: ssl.SSLContext) -> None:
    with pop3(lab, "pop3s", tls_context) as client:
        for command in ("STAT", "LIST", "RETR 1", "DELE 1", "UIDL", "TOP 1 0", "RSET", "NOOP"):
            with pytest.raises(poplib.error_proto) as refused:
                client._shortcmd(command)
            assert refused.value.args == (err(R.POP3_NOT_LOGGED_IN),), command
        with pytest.raises(poplib.error_proto) as no_user:
            client.pass_(PASSWORD)
        assert no_user.value.args == (err(R.POP3_NO_USERNAME),)
    # Ten bad commands end a session (see test_robustness): start a new one.
    with logged_in(lab, "pop3s", tls_context) as client:
        for command in (f"USER {ADDRESS}", f"PASS {PASSWORD}", "AUTH PLAIN", "STLS"):
            with pytest.raises(poplib.error_proto) as refused:
                client._shortcmd(command)
            assert refused.value.args == (err(R.POP3_ALREADY_LOGGED_IN),), command


# -- transaction state ------------------------------------------------------------


def test_stat_and_list(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo]
) -> None:
    sizes = [len(raw) for raw in MESSAGES]
    assert [m.size for m in seeded] == sizes
    with logged_in(lab, "pop3s", tls_context) as client:
        assert client.stat() == (3, sum(sizes))
        response, lines, _ = client.list()
        assert response == b"+OK 3 messages:"
        assert lines == [f"{n} {size}".encode() for n, size in enumerate(sizes, 1)]
        assert client.list(2) == f"+OK 2 {sizes[1]}".encode()
        with pytest.raises(poplib.error_proto) as refused:
            client.list(9)
        assert refused.value.args == (err(R.POP3_NO_MESSAGE, number=9),)
        with pytest.raises(poplib.error_proto) as bad:
            client._shortcmd("LIST deux")
        assert bad.value.args == (err(R.POP3_BAD_SYNTAX, usage="a message number"),)


def test_uidl_ids_are_stable_and_match_imap(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo]
) -> None:
    account = lab.store.account(ADDRESS)
    assert account is not None
    inbox_folder = lab.store.folder(account.id, "INBOX")
    assert inbox_folder is not None
    # Dovecot's default format: IMAP UID then UIDVALIDITY, 8 hex digits each.
    expected = [f"{m.uid:08x}{inbox_folder.uidvalidity:08x}".encode() for m in seeded]
    with logged_in(lab, "pop3s", tls_context) as client:
        response, lines, _ = client.uidl()
        assert response == b"+OK"
        assert lines == [b"%d %s" % (n, uid) for n, uid in enumerate(expected, 1)]
        assert client.uidl(3) == b"+OK 3 " + expected[2]
    with logged_in(lab, "pop3s", tls_context) as client:
        assert client.uidl()[1] == lines


def test_retr_returns_the_message_exactly(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo], trail: EventTrail
) -> None:
    with logged_in(lab, "pop3s", tls_context) as client:
        for number, raw in enumerate(MESSAGES, 1):
            response, lines, _ = client.retr(number)
            assert response == f"+OK {len(raw)} octets".encode()
            # poplib removes the dot-stuffing; what is left is the stored message.
            assert b"\r\n".join(lines) + b"\r\n" == raw
        with pytest.raises(poplib.error_proto) as refused:
            client.retr(4)
        assert refused.value.args == (err(R.POP3_NO_MESSAGE, number=4),)
    retrieved = trail.of("message.retrieved")
    assert [e.data["uid"] for e in retrieved] == [m.uid for m in seeded]
    assert retrieved[1].data == {"folder": "INBOX", "uid": seeded[1].uid, "size": len(MESSAGES[1])}


def test_retr_sends_dot_stuffed_lines(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo]
) -> None:
    with logged_in(lab, "pop3s", tls_context) as client:
        client._putcmd("RETR 2")
        wire = b""
        while not wire.endswith(b"\r\n.\r\n"):
            wire += client.sock.recv(4096)
    body = wire.partition(b"\r\n\r\n")[2]
    assert body == b"..signature\r\n..\r\n...\r\nfin\r\n.\r\n"


@pytest.mark.parametrize("lines", (0, 2, 10))
def test_top_sends_the_header_and_some_lines(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo], trail: EventTrail,
    lines: int,
) -> None:
    head, _, body = MESSAGES[2].partition(b"\r\n\r\n")
    expected = [*head.split(b"\r\n"), b"", *body.split(b"\r\n")[:-1][:lines]]
    with logged_in(lab, "pop3s", tls_context) as client:
        response, received, _ = client.top(3, lines)
        assert response == b"+OK"
        assert received == expected
        with pytest.raises(poplib.error_proto) as bad:
            client._shortcmd("TOP 3")
        assert bad.value.args == (err(R.POP3_BAD_SYNTAX, usage="TOP <message> <lines>"),)
    # A peek is not a download; the whole message is one, however it was asked for.
    retrieved = [e.data for e in trail.of("message.retrieved")]
    whole = {"folder": "INBOX", "uid": seeded[2].uid, "size": len(MESSAGES[2])}
    assert retrieved == ([whole] if lines >= 4 else [])


def test_dele_marks_rset_unmarks_noop_keeps_alive(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo]
) -> None:
    with logged_in(lab, "pop3s", tls_context) as client:
        assert client.dele(1) == err(R.POP3_MARKED_DELETED)
        assert client.stat() == (2, len(MESSAGES[1]) + len(MESSAGES[2]))
        assert [line.split()[0] for line in client.list()[1]] == [b"2", b"3"]
        assert [line.split()[0] for line in client.uidl()[1]] == [b"2", b"3"]
        for marked in (lambda: client.retr(1), lambda: client.dele(1), lambda: client.top(1, 0)):
            with pytest.raises(poplib.error_proto) as refused:
                marked()
            assert refused.value.args == (err(R.POP3_DELETED_MESSAGE),)
        assert client.rset() == b"+OK"
        assert client.stat()[0] == 3
        assert client.noop() == b"+OK"
        assert mailbox_size(lab) == 3


def test_quit_deletes_what_was_marked(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo], trail: EventTrail
) -> None:
    with logged_in(lab, "pop3s", tls_context) as client:
        client.dele(1)
        client.dele(3)
        assert mailbox_size(lab) == 3  # only marks so far
        assert client.quit() == err(R.POP3_LOGOUT_DELETED)
    assert inbox(lab, ADDRESS) == [MESSAGES[1]]
    assert [e.data["uid"] for e in trail.of("message.deleted")] == [seeded[0].uid, seeded[2].uid]
    with logged_in(lab, "pop3s", tls_context) as client:
        assert client.stat() == (1, len(MESSAGES[1]))
        assert client.quit() == err(R.POP3_LOGOUT)


def test_a_message_expunged_by_another_session_is_refused_and_the_session_goes_on(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo]
) -> None:
    """No maildrop lock: an IMAP client (or another process) may expunge what POP3 listed."""
    with logged_in(lab, "pop3s", tls_context) as client:
        assert client.stat()[0] == 3
        lab.store.delete_messages([seeded[0].id])
        for gone in (lambda: client.retr(1), lambda: client.top(1, 0)):
            with pytest.raises(poplib.error_proto) as refused:
                gone()
            assert refused.value.args == (err(R.POP3_EXPUNGED_MESSAGE),)
        assert client.retr(2)[1][-1] == MESSAGES[1].rstrip(b"\r\n").split(b"\r\n")[-1]
        client.dele(1)
        assert client.quit() == err(R.POP3_LOGOUT_DELETED)
    assert mailbox_size(lab) == 2


def test_quit_before_login_just_says_goodbye(lab: Lab, tls_context: ssl.SSLContext) -> None:
    with pop3(lab, "pop3s", tls_context) as client:
        assert client.quit() == err(R.POP3_LOGOUT)


def test_a_dropped_connection_deletes_nothing(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo], trail: EventTrail
) -> None:
    with logged_in(lab, "pop3s", tls_context) as client:
        connection_id = trail.connection_id(client.sock)
        client.dele(1)
        client.dele(2)
    # The client vanished without QUIT (closed its socket, as a crash or a lost Wi-Fi would).
    trail.wait_for("connection.closed", lambda e: e.connection_id == connection_id)
    assert inbox(lab, ADDRESS) == list(MESSAGES)
    assert trail.of("message.deleted") == []
    with logged_in(lab, "pop3s", tls_context) as client:
        assert client.stat()[0] == 3


# -- a learner's misconfigurations -------------------------------------------------


def test_tls_on_the_plaintext_port_is_a_wrong_version_number(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    with pytest.raises(ssl.SSLError, match=r"\[SSL: WRONG_VERSION_NUMBER\] wrong version number"):
        ResolvedPOP3_SSL(address(lab, "pop3"), HOST, tls_context)


def test_plaintext_on_the_implicit_tls_port_never_gets_a_greeting(lab: Lab) -> None:
    assert lab.config.tls_handshake_timeout > 1.0
    with pytest.raises(TimeoutError, match="^timed out$"):
        ResolvedPOP3(address(lab, "pop3s"), HOST, timeout=1.0)


@pytest.mark.parametrize(
    ("command", "mechanism"),
    ((f"USER {ADDRESS}", "USER"), (f"PASS {PASSWORD}", "USER"), ("AUTH PLAIN", "PLAIN")),
)
def test_login_before_stls_is_refused(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail, command: str, mechanism: str
) -> None:
    with pop3(lab, "pop3", tls_context, stls=False) as client:
        with pytest.raises(poplib.error_proto) as refused:
            client._shortcmd(command)
        assert refused.value.args == (err(R.POP3_PLAINTEXT_DISALLOWED),)
        failed = trail.wait_for("auth.failed")
        assert failed.tls is False
        assert failed.data["mechanism"] == mechanism and failed.data["cleartext"] is True
        assert failed.data["reason"] == "cleartext login refused before TLS"
        # The right order still works on the same connection.
        client.stls(tls_context)
        client.user(ADDRESS)
        assert client.pass_(PASSWORD) == err(R.POP3_LOGGED_IN)


@pytest.mark.parametrize("mechanism", ("USER", "PLAIN"))
def test_cleartext_login_works_when_the_lab_allows_it(
    make_lab, mechanism: str  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(allow_cleartext=True)
    lab.store.create_account(ADDRESS, PASSWORD)
    trail = EventTrail(lab)
    client = ResolvedPOP3(address(lab, "pop3"), HOST)
    try:
        assert {"USER", "SASL", "STLS"} <= set(client.capa())
        if mechanism == "USER":
            client.user(ADDRESS)
            assert client.pass_(PASSWORD) == err(R.POP3_LOGGED_IN)
        else:
            assert client._shortcmd(f"AUTH PLAIN {plain_token()}") == err(R.POP3_LOGGED_IN)
        client.quit()
    finally:
        client.close()
    login = trail.wait_for("auth.succeeded")
    assert login.tls is False
    assert login.data == {"mechanism": mechanism, "cleartext": True}


@pytest.mark.parametrize(("user", "password"), ((ADDRESS, "cahier-2026"), (STRANGER, PASSWORD)))
@pytest.mark.parametrize("mechanism", ("USER", "PLAIN"))
def test_wrong_password_or_unknown_user(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail, user: str, password: str,
    mechanism: str,
) -> None:
    with pop3(lab, "pop3s", tls_context) as client:
        with pytest.raises(poplib.error_proto) as refused:
            if mechanism == "USER":
                client.user(user)
                client.pass_(password)
            else:
                client._shortcmd(f"AUTH PLAIN {plain_token(user, password)}")
        assert refused.value.args == (err(R.POP3_AUTH_FAILED),)
        failed = trail.wait_for("auth.failed")
        assert failed.data == {
            "mechanism": mechanism, "cleartext": False,
            "reason": "wrong user name or password", "user": user,
        }
        # The learner may correct it in the same session.
        assert client._shortcmd(f"AUTH PLAIN {plain_token()}") == err(R.POP3_LOGGED_IN)


@pytest.mark.parametrize(
    ("listener", "kind", "verify_code", "verify_message"),
    bad_certificates(("pop3", "pop3s"), HOST),
)
def test_each_bad_certificate_fails_verification_with_its_reason(
    make_lab,  # type: ignore[no-untyped-def]
    listener: str,
    kind: CertificateKind,
    verify_code: int,
    verify_message: str,
) -> None:
    lab = make_lab(certificates={HOST: kind})
    lab.store.create_account(ADDRESS, PASSWORD)
    trail = EventTrail(lab)
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    with pytest.raises(ssl.SSLCertVerificationError) as failed, pop3(lab, listener, context):
        pass
    assert failed.value.reason == "CERTIFICATE_VERIFY_FAILED"
    assert (failed.value.verify_code, failed.value.verify_message) == (verify_code, verify_message)
    assert f"certificate verify failed: {verify_message}" in str(failed.value)
    # The trainer sees which certificate the lab showed, and that the client turned it down.
    refused = trail.wait_for("tls.failed")
    assert refused.listener == listener and refused.data["reason"]
    assert trail.of("auth.succeeded") == []
    # Another name of the same lab still gets the valid certificate.
    with pop3(lab, listener, context, host=f"mail.{DOMAIN}") as client:
        client.user(ADDRESS)
        assert client.pass_(PASSWORD) == err(R.POP3_LOGGED_IN)


# -- one store, restarts, the wire, secrets, limits --------------------------------


def test_mail_sent_by_smtp_is_read_by_pop3(lab: Lab, tls_context: ssl.SSLContext) -> None:
    message = f"From: {ADDRESS}\r\nTo: {ADDRESS}\r\nSubject: Aller-retour\r\n\r\nCoucou.\r\n"
    with smtplib.SMTP_SSL(*address(lab, "smtps"), context=tls_context, timeout=5) as smtp:
        smtp.login(ADDRESS, PASSWORD)
        smtp.sendmail(ADDRESS, [ADDRESS], message)
    with logged_in(lab, "pop3s", tls_context) as client:
        assert client.stat()[0] == 1
        _, lines, _ = client.retr(1)
    assert b"\r\n".join(lines).endswith(message.encode().rstrip(b"\r\n"))
    assert any(line.startswith(b"Received: from ") for line in lines)


def test_what_was_acknowledged_survives_a_restart(make_lab) -> None:  # type: ignore[no-untyped-def]
    first = make_lab()
    account = first.store.create_account(ADDRESS, PASSWORD)
    for raw in MESSAGES[:2]:
        first.store.append(account, "INBOX", raw)
    context = ssl.create_default_context(cafile=str(first.ca.ca_path))
    sent = b"Subject: Avant la panne\r\n\r\nAccuse de reception 250.\r\n"
    with smtplib.SMTP_SSL(*address(first, "smtps"), context=context, timeout=5) as smtp:
        smtp.login(ADDRESS, PASSWORD)
        assert smtp.sendmail(ADDRESS, [ADDRESS], sent) == {}
    with logged_in(first, "pop3s", context) as client:
        client.dele(1)
        assert client.quit() == err(R.POP3_LOGOUT_DELETED)
    with logged_in(first, "pop3s", context) as client:
        before = client.uidl()[1]
    first.stop()

    second = make_lab(data_dir=first.data_dir)
    context = ssl.create_default_context(cafile=str(second.ca.ca_path))
    with logged_in(second, "pop3s", context) as client:
        assert client.uidl()[1] == before
        assert client.stat()[0] == 2
        assert b"\r\n".join(client.retr(1)[1]) + b"\r\n" == MESSAGES[1]
        assert b"\r\n".join(client.retr(2)[1]).endswith(sent.rstrip(b"\r\n"))


def test_the_tap_shows_the_password_in_clear_on_110(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(allow_cleartext=True)
    lab.store.create_account(ADDRESS, PASSWORD)
    trail = EventTrail(lab)
    client = ResolvedPOP3(address(lab, "pop3"), HOST)
    try:
        connection_id = trail.connection_id(client.sock)
        client.user(ADDRESS)
        client.pass_(PASSWORD)
        client.quit()
    finally:
        client.close()
    trail.wait_for("connection.closed", lambda e: e.connection_id == connection_id)
    capture = lab.tap.capture(connection_id)
    assert capture is not None
    assert capture.sent_by(CLIENT) == f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\nQUIT\r\n".encode()
    assert capture.sent_by(SERVER).startswith(R.POP3_GREETING.encode() + b"\r\n")


def tls_records(stream: bytes) -> list[int]:
    """The content types of the TLS records a byte stream is made of (fails if it is not)."""
    types, at = [], 0
    while at < len(stream):
        assert stream[at] in (20, 21, 22, 23), f"no TLS record at byte {at}: {stream[at:][:9]!r}"
        assert stream[at + 1] == 3, "TLS records carry version 3.x"
        length = int.from_bytes(stream[at + 3 : at + 5], "big")
        types.append(stream[at])
        at += 5 + length
    assert at == len(stream)
    return types


def test_the_tap_shows_only_tls_records_on_995(
    lab: Lab, tls_context: ssl.SSLContext, seeded: list[MessageInfo], trail: EventTrail
) -> None:
    with logged_in(lab, "pop3s", tls_context) as client:
        connection_id = trail.connection_id(client.sock)
        client.retr(1)
        client.quit()
    trail.wait_for("connection.closed", lambda e: e.connection_id == connection_id)
    capture = lab.tap.capture(connection_id)
    assert capture is not None and not capture.truncated
    sent, received = capture.sent_by(CLIENT), capture.sent_by(SERVER)
    assert sent[0] == received[0] == 0x16  # both sides open with a TLS handshake record
    assert 23 in tls_records(sent) and 23 in tls_records(received)  # application data
    for secret in (PASSWORD.encode(), ADDRESS.encode(), b"Bonjour", b"USER", b"+OK"):
        assert secret not in sent + received


def test_no_password_in_any_event(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(allow_cleartext=True)
    lab.store.create_account(ADDRESS, PASSWORD)
    wrong = "Mauvais-Secret-99"
    for password in (PASSWORD, wrong):
        client = ResolvedPOP3(address(lab, "pop3"), HOST)
        try:
            for command in (
                f"PASS {password}",  # before USER: a protocol error
                f"USER {ADDRESS}",
                f"PASS {password}",
                f"AUTH PLAIN {plain_token(ADDRESS, password)}",
                "AUTH PLAIN",
                plain_token(ADDRESS, password),
                f"PASS {password}",  # logged in by now, with the right password
            ):
                try:
                    client._shortcmd(command)
                except poplib.error_proto:
                    pass
            client.quit()
        finally:
            client.close()
    lab.stop()

    with lab.engine.connect() as db:
        rows = db.execute(select(EventRow)).all()
    kinds = {row.kind for row in rows}
    assert {"auth.failed", "auth.succeeded", "protocol.error"} <= kinds
    stored = "\n".join(json.dumps([row.kind, row.account, row.data]) for row in rows)
    for password in (PASSWORD, wrong):
        assert password not in stored
        assert plain_token(ADDRESS, password) not in stored


def test_one_account_may_hold_many_sessions_but_not_more(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail
) -> None:
    limit = lab.config.max_connections_per_account
    assert limit >= 10  # a real program opens several at once
    with ExitStack() as sessions:
        clients = [
            sessions.enter_context(logged_in(lab, "pop3s", tls_context)) for _ in range(limit)
        ]
        with pop3(lab, "pop3s", tls_context) as extra:
            extra.user(ADDRESS)
            with pytest.raises(poplib.error_proto) as refused:
                extra.pass_(PASSWORD)
            assert refused.value.args == (err(R.POP3_IN_USE),)
        failed = trail.wait_for("auth.failed")
        assert failed.data["reason"] == "too many connections for this account"
        assert all(client.noop() == b"+OK" for client in clients)

        # Once one session ends, its place is free again.
        first = trail.connection_id(clients[0].sock)
        clients[0].quit()
        trail.wait_for("connection.closed", lambda e: e.connection_id == first)
        with logged_in(lab, "pop3s", tls_context) as again:
            assert again.noop() == b"+OK"
