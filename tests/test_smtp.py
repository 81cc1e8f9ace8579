"""SMTP on 25, 587 and 465 with the stdlib's smtplib: every verb, and every mistake a learner makes.

Each mistake is asserted as the learner's program meets it: the exception
type and its text, and the event a trainer sees.
"""

from __future__ import annotations

import base64
import json
import logging
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from aiosmtpd.smtp import SMTP
from conftest import ADDRESS, DOMAIN, PASSWORD
from hypothesis import given, settings
from hypothesis import strategies as st
from lab_clients import (
    EventTrail,
    ResolvedSMTP,
    ResolvedSMTP_SSL,
    address,
    bad_certificates,
    inbox,
    smtp_reply,
)
from sqlalchemy import select

from pixlab.db import EventRow
from pixlab.lab import replies as R
from pixlab.lab.certs import CertificateKind
from pixlab.lab.runner import Lab
from pixlab.lab.smtp import LabSMTP

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases

HOST = f"smtp.{DOMAIN}"
OUTSIDER = "ami@exemple.org"
STRANGER = f"inconnu@{DOMAIN}"
MESSAGE = (
    f"From: {ADDRESS}\r\nTo: {ADDRESS}\r\nSubject: Devoir de maths\r\n\r\n"
    "Bonjour,\r\nvoici mon devoir.\r\n"
).encode()


@pytest.fixture
def trail(lab: Lab) -> Iterator[EventTrail]:
    trail = EventTrail(lab)
    yield trail
    trail.close()


def connect(
    lab: Lab, listener: str, context: ssl.SSLContext, starttls: bool = True
) -> smtplib.SMTP:
    """A client on a listener, with TLS when the port has it (STARTTLS done unless told not to)."""
    if lab.listener(listener).spec.implicit_tls:
        return ResolvedSMTP_SSL(address(lab, listener), HOST, context)
    client = ResolvedSMTP(address(lab, listener), HOST)
    if starttls:
        try:
            client.starttls(context=context)
        except BaseException:
            client.close()
            raise
    return client


def logged_in(lab: Lab, listener: str, context: ssl.SSLContext) -> smtplib.SMTP:
    client = connect(lab, listener, context)
    try:
        client.login(ADDRESS, PASSWORD)
    except BaseException:
        client.close()
        raise
    return client


# -- the good paths --------------------------------------------------------------


@pytest.mark.parametrize("listener", ("smtp", "submission", "smtps"))
def test_greeting_names_the_server(lab: Lab, tls_context: ssl.SSLContext, listener: str) -> None:
    with connect(lab, listener, tls_context, starttls=False) as client:
        assert client.greeting == (220, f"mail.{DOMAIN} {R.SMTP_IDENT}".encode())


@pytest.mark.parametrize(
    ("listener", "starttls", "offers_starttls", "auth"),
    (
        ("smtp", False, True, None),
        ("smtp", True, False, None),
        ("submission", False, True, None),
        ("submission", True, False, "LOGIN PLAIN"),
        ("smtps", False, False, "LOGIN PLAIN"),
    ),
)
def test_ehlo_offers_login_only_where_it_may_happen(
    lab: Lab,
    tls_context: ssl.SSLContext,
    listener: str,
    starttls: bool,
    offers_starttls: bool,
    auth: str | None,
) -> None:
    with connect(lab, listener, tls_context, starttls=starttls) as client:
        code, text = client.ehlo("poste-eleve")
        assert code == 250 and text.splitlines()[0] == f"mail.{DOMAIN}".encode()
        assert client.has_extn("starttls") is offers_starttls
        # smtplib joins every AUTH line it saw, each after a space.
        assert client.esmtp_features.get("auth", "").split() == (auth.split() if auth else [])
        assert client.esmtp_features["size"] == str(lab.config.max_message_size)


def test_helo_answers_with_the_server_name(lab: Lab) -> None:
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        assert client.helo("poste-eleve") == (250, f"mail.{DOMAIN}".encode())
        assert client.noop() == (250, b"OK")


@pytest.mark.parametrize(("listener", "security"), (("submission", "starttls"), ("smtps", "tls")))
def test_submission_delivers_into_the_store(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail, listener: str, security: str
) -> None:
    assert lab.listener(listener).security == security
    with logged_in(lab, listener, tls_context) as client:
        assert client.mail(ADDRESS) == smtp_reply(R.SMTP_SENDER_OK)
        assert client.rcpt(ADDRESS) == smtp_reply(R.SMTP_RECIPIENT_OK)
        code, text = client.data(MESSAGE)

    assert code == 250 and text.startswith(b"2.0.0 Ok: queued as ")
    queue_id = text.rpartition(b" ")[2].decode()
    [raw] = inbox(lab, ADDRESS)
    assert raw.endswith(MESSAGE)
    # RFC 3848: ESMTPSA says "over TLS, logged in"; the queue id ties it to the 250 reply.
    assert f"by mail.{DOMAIN} (PixLab) with ESMTPSA id {queue_id};" in raw.decode()
    delivered = trail.wait_for("message.delivered")
    assert delivered.account == ADDRESS and delivered.tls is True
    assert delivered.data["via"] == "submission" and delivered.data["authenticated"] is True
    assert delivered.data["recipient"] == ADDRESS and delivered.data["size"] == len(raw)
    login = trail.wait_for("auth.succeeded")
    assert login.data == {"mechanism": "PLAIN", "cleartext": False}
    established = trail.wait_for("tls.established")
    assert established.data["sni"] == HOST
    assert established.data["certificate"]["kind"] == "valid"


@pytest.mark.parametrize("mechanism", ("PLAIN", "LOGIN"))
def test_auth_mechanisms(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail, mechanism: str
) -> None:
    with connect(lab, "submission", tls_context) as client:
        client.ehlo()
        client.user, client.password = ADDRESS, PASSWORD
        authobject = getattr(client, f"auth_{mechanism.lower()}")
        assert client.auth(mechanism, authobject) == (235, b"2.7.0 Authentication successful")
        assert trail.wait_for("auth.succeeded").data["mechanism"] == mechanism


@pytest.mark.parametrize(("starttls", "protocol"), ((False, "ESMTP"), (True, "ESMTPS")))
def test_port_25_takes_mail_for_the_lab_without_login(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail, starttls: bool, protocol: str
) -> None:
    with connect(lab, "smtp", tls_context, starttls=starttls) as client:
        assert client.sendmail(OUTSIDER, [ADDRESS], MESSAGE) == {}

    [raw] = inbox(lab, ADDRESS)
    assert f"with {protocol} id " in raw.decode()
    assert raw.startswith(f"Return-Path: <{OUTSIDER}>\r\n".encode())
    delivered = trail.wait_for("message.delivered")
    assert delivered.tls is starttls
    assert delivered.data["via"] == "mx" and delivered.data["authenticated"] is False


def test_rset_forgets_the_envelope(lab: Lab) -> None:
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        client.ehlo()
        assert client.mail(OUTSIDER) == smtp_reply(R.SMTP_SENDER_OK)
        assert client.rset() == (250, b"OK")
        assert client.rcpt(ADDRESS) == (503, b"Error: need MAIL command")


def test_data_needs_a_recipient(lab: Lab) -> None:
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        client.ehlo()
        client.mail(OUTSIDER)
        assert client.docmd("DATA") == (503, b"Error: need RCPT command")
    assert inbox(lab, ADDRESS) == []


def test_vrfy_does_not_tell_who_has_an_account(lab: Lab) -> None:
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        known, unknown = client.verify(ADDRESS), client.verify(STRANGER)
        assert known == unknown
        assert known[0] == 252


def test_quit_says_bye_and_closes(lab: Lab, trail: EventTrail) -> None:
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        connection_id = trail.connection_id(client.sock)
        assert client.docmd("QUIT") == (221, b"Bye")
        assert client.sock.recv(1) == b""
    closed = trail.wait_for("connection.closed", lambda e: e.connection_id == connection_id)
    assert closed.data["bytes_from_client"] == len(b"QUIT\r\n")


# -- a learner's misconfigurations -------------------------------------------------


@pytest.mark.parametrize("listener", ("smtp", "submission"))
def test_tls_on_a_plaintext_port_is_a_wrong_version_number(
    lab: Lab, tls_context: ssl.SSLContext, listener: str
) -> None:
    # The client reads the server's "220 …" greeting as if it were a TLS record.
    with pytest.raises(ssl.SSLError, match=r"\[SSL: WRONG_VERSION_NUMBER\] wrong version number"):
        ResolvedSMTP_SSL(address(lab, listener), HOST, tls_context)


def test_plaintext_on_the_implicit_tls_port_never_gets_a_greeting(lab: Lab) -> None:
    # The server waits for a TLS ClientHello, the client for a "220": smtplib's
    # timeout ends it (the lab's own handshake timeout is longer).
    assert lab.config.tls_handshake_timeout > 1.0
    started = time.monotonic()
    with pytest.raises(
        smtplib.SMTPServerDisconnected, match="^Connection unexpectedly closed: timed out$"
    ):
        ResolvedSMTP(address(lab, "smtps"), HOST, timeout=1.0)
    assert time.monotonic() - started >= 1.0


def test_login_before_starttls_is_refused(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail
) -> None:
    with connect(lab, "submission", tls_context, starttls=False) as client:
        client.ehlo()
        # smtplib gives up by itself: the server does not even offer AUTH in clear.
        with pytest.raises(smtplib.SMTPNotSupportedError, match="AUTH extension not supported"):
            client.login(ADDRESS, PASSWORD)
        # A program that tries anyway gets Postfix's answer, and nothing is logged in.
        token = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode()).decode()
        assert client.docmd("AUTH", f"PLAIN {token}") == smtp_reply(R.SMTP_MUST_STARTTLS)
        failed = trail.wait_for("auth.failed")
        assert failed.tls is False
        assert failed.data == {
            "mechanism": "PLAIN", "cleartext": True, "reason": "cleartext login refused before TLS"
        }
        assert trail.of("auth.succeeded") == []
        # The same session may still do the right thing.
        client.starttls(context=tls_context)
        client.login(ADDRESS, PASSWORD)


def test_mail_before_starttls_on_submission_is_refused(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    with connect(lab, "submission", tls_context, starttls=False) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(ADDRESS, [ADDRESS], MESSAGE)
    assert (refused.value.smtp_code, refused.value.smtp_error) == smtp_reply(R.SMTP_MUST_STARTTLS)
    assert refused.value.sender == ADDRESS
    assert inbox(lab, ADDRESS) == []


def test_cleartext_login_works_when_the_lab_allows_it(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(allow_cleartext=True)
    lab.store.create_account(ADDRESS, PASSWORD)
    trail = EventTrail(lab)
    with ResolvedSMTP(address(lab, "submission"), HOST) as client:
        client.ehlo()
        assert client.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]
        client.login(ADDRESS, PASSWORD)
        assert client.sendmail(ADDRESS, [ADDRESS], MESSAGE) == {}

    login = trail.wait_for("auth.succeeded")
    assert login.tls is False and login.data["cleartext"] is True
    [raw] = inbox(lab, ADDRESS)
    assert " with ESMTPA id " in raw.decode()


@pytest.mark.parametrize(("user", "password"), ((ADDRESS, "cahier-2026"), (STRANGER, PASSWORD)))
def test_wrong_password_or_unknown_user_is_535(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail, user: str, password: str
) -> None:
    with connect(lab, "submission", tls_context) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login(user, password)
        assert (refused.value.smtp_code, refused.value.smtp_error) == smtp_reply(R.SMTP_AUTH_FAILED)
        failed = trail.wait_for("auth.failed")
        assert failed.data["reason"] == "wrong user name or password"
        assert failed.data["user"] == user and failed.data["cleartext"] is False


@pytest.mark.parametrize(
    ("listener", "kind", "verify_code", "verify_message"),
    bad_certificates(("submission", "smtps"), HOST),
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
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    with pytest.raises(ssl.SSLCertVerificationError) as failed:
        connect(lab, listener, context)
    assert failed.value.reason == "CERTIFICATE_VERIFY_FAILED"
    assert (failed.value.verify_code, failed.value.verify_message) == (verify_code, verify_message)
    assert f"certificate verify failed: {verify_message}" in str(failed.value)
    # Another name of the same lab still gets the valid certificate.
    with ResolvedSMTP_SSL(address(lab, "smtps"), f"mail.{DOMAIN}", context) as other:
        other.login(ADDRESS, PASSWORD)


def test_the_valid_certificate_names_the_server(lab: Lab, tls_context: ssl.SSLContext) -> None:
    with connect(lab, "smtps", tls_context) as client:
        certificate = client.sock.getpeercert()
        assert certificate is not None
        assert dict(entry[0] for entry in certificate["subject"])["commonName"] == f"mail.{DOMAIN}"
        names = {value for _, value in certificate["subjectAltName"]}
        assert {f"{p}.{DOMAIN}" for p in ("mail", "imap", "pop", "smtp")} <= names
        assert {"localhost", "127.0.0.1"} <= names


@pytest.mark.parametrize("listener", ("smtp", "submission"))
def test_the_lab_never_relays_mail_out(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail, listener: str
) -> None:
    with connect(lab, listener, tls_context) as client:
        if listener == "submission":
            client.login(ADDRESS, PASSWORD)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(ADDRESS, [OUTSIDER], MESSAGE)
        assert refused.value.recipients == {
            OUTSIDER: smtp_reply(R.SMTP_RELAY_DENIED, address=OUTSIDER)
        }
        denied = trail.wait_for("relay.denied")
        assert denied.data == {"recipient": OUTSIDER} and denied.listener == listener
        assert trail.of("message.delivered") == []


def test_unknown_user_of_the_lab_is_550_5_1_1(lab: Lab, trail: EventTrail) -> None:
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(OUTSIDER, [STRANGER], MESSAGE)
        assert refused.value.recipients == {
            STRANGER: smtp_reply(R.SMTP_USER_UNKNOWN, address=STRANGER)
        }
        rejected = trail.wait_for("message.rejected")
        assert rejected.data == {"recipient": STRANGER, "reason": "unknown user"}
        assert trail.of("relay.denied") == []


def test_a_message_that_does_not_fit_is_552_after_data(lab: Lab, trail: EventTrail) -> None:
    account = lab.store.account(ADDRESS)
    assert account is not None
    lab.store.set_quota(account.id, 100)
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(OUTSIDER, [ADDRESS], MESSAGE)
        assert (refused.value.smtp_code, refused.value.smtp_error) == smtp_reply(
            R.SMTP_MAILBOX_FULL, address=ADDRESS
        )
        exceeded = trail.wait_for("quota.exceeded")
        assert exceeded.data["quota"] == 100 and exceeded.data["usage"] == 0
        assert exceeded.data["size"] > 100
        assert trail.wait_for("message.rejected").data["reason"] == "mailbox full"
        assert inbox(lab, ADDRESS) == []


def test_a_full_mailbox_refuses_the_recipient(lab: Lab, trail: EventTrail) -> None:
    account = lab.store.account(ADDRESS)
    assert account is not None
    lab.store.append(account, "INBOX", MESSAGE)
    lab.store.set_quota(account.id, len(MESSAGE))
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.sendmail(OUTSIDER, [ADDRESS], b"Subject: encore\r\n\r\nx\r\n")
        assert refused.value.recipients == {
            ADDRESS: smtp_reply(R.SMTP_MAILBOX_FULL, address=ADDRESS)
        }
        assert trail.wait_for("quota.exceeded").data["usage"] == len(MESSAGE)
        assert len(inbox(lab, ADDRESS)) == 1


@pytest.mark.parametrize("listener", ("submission", "smtps"))
def test_submission_needs_a_login_before_mail(
    lab: Lab, tls_context: ssl.SSLContext, listener: str
) -> None:
    with connect(lab, listener, tls_context) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(ADDRESS, [ADDRESS], MESSAGE)
        assert (refused.value.smtp_code, refused.value.smtp_error) == smtp_reply(
            R.SMTP_AUTH_REQUIRED
        )
        assert inbox(lab, ADDRESS) == []


def test_a_user_sends_only_as_themselves(lab: Lab, tls_context: ssl.SSLContext) -> None:
    lab.store.create_account(f"directeur@{DOMAIN}", "Bureau-2026")
    with logged_in(lab, "submission", tls_context) as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(f"directeur@{DOMAIN}", [ADDRESS], MESSAGE)
        assert (refused.value.smtp_code, refused.value.smtp_error) == smtp_reply(
            R.SMTP_SENDER_NOT_OWNED, address=f"directeur@{DOMAIN}", login=ADDRESS
        )
        # Case does not make an address someone else's.
        assert client.sendmail(ADDRESS.upper(), [ADDRESS], MESSAGE) == {}


# -- limits and secrets ----------------------------------------------------------


def test_one_account_may_hold_many_sessions_but_not_more(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail
) -> None:
    limit = lab.config.max_connections_per_account
    assert limit >= 10  # a real program opens several at once
    with ExitStack() as sessions:
        clients = [
            sessions.enter_context(logged_in(lab, "smtps", tls_context)) for _ in range(limit)
        ]
        with connect(lab, "smtps", tls_context) as extra:
            extra.ehlo()
            extra.user, extra.password = ADDRESS, PASSWORD
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                extra.auth("PLAIN", extra.auth_plain)
            assert (refused.value.smtp_code, refused.value.smtp_error) == smtp_reply(
                R.SMTP_AUTH_TOO_MANY
            )
            # RFC 5321 section 3.8: a server that answers 421 closes the channel.
            with pytest.raises(smtplib.SMTPServerDisconnected):
                extra.noop()
        failed = trail.wait_for("auth.failed")
        assert failed.data["reason"] == "too many connections for this account"

        # Once one session ends, its place is free again.
        clients[0].quit()
        deadline = time.monotonic() + 5
        while True:
            with connect(lab, "smtps", tls_context) as retry:
                try:
                    retry.login(ADDRESS, PASSWORD)
                    break
                except smtplib.SMTPException:
                    assert time.monotonic() < deadline, "the ended session's place stayed taken"
            time.sleep(0.05)


def test_no_password_in_events_or_logs(
    make_lab, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level(logging.DEBUG)
    lab = make_lab(allow_cleartext=True)
    lab.store.create_account(ADDRESS, PASSWORD)
    wrong = "Mauvais-Secret-99"
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    for mechanism in ("PLAIN", "LOGIN"):
        for password in (PASSWORD, wrong):
            for listener in ("submission", "smtps"):
                with connect(lab, listener, context, starttls=False) as client:
                    client.ehlo()
                    client.user, client.password = ADDRESS, password
                    try:
                        client.auth(mechanism, getattr(client, f"auth_{mechanism.lower()}"))
                    except smtplib.SMTPAuthenticationError:
                        assert password == wrong
    lab.stop()

    with lab.engine.connect() as db:
        rows = db.execute(select(EventRow)).all()
    assert any(row.kind == "auth.failed" for row in rows)
    stored = "\n".join(json.dumps([row.kind, row.account, row.data]) for row in rows)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (PASSWORD, wrong):
        forms = {
            secret,
            base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"\0{ADDRESS}\0{secret}".encode()).decode(),
        }
        for form in forms:
            assert form not in stored
            assert form not in logged


ADDRESS_TEXT = st.text(alphabet="ab.@<>[]:\"\\ \t-+=éZ9,;()", max_size=30)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        ADDRESS_TEXT,
        st.builds(
            "{}<{}@{}>{}{}".format,
            st.sampled_from(("", " ", "\t", "  ")),
            st.from_regex(r"[a-z0-9.+_-]{0,8}", fullmatch=True),
            st.from_regex(r"[a-z0-9.-]{0,8}", fullmatch=True),
            st.sampled_from(("", " ", "  ", "\t", " \t")),
            st.sampled_from(("", "SIZE=2048", "BODY=8BITMIME SIZE=1 ", "x", " y ")),
        ),
    )
)
def test_the_quick_address_reading_agrees_with_aiosmtpd(arg: str) -> None:
    # The lab reads the usual <local@domain> itself and leaves the rest to aiosmtpd:
    # whatever a client sends, both must read the same address and parameters.
    session = LabSMTP.__new__(LabSMTP)
    try:
        expected = SMTP._getaddr(session, arg)
    except Exception:  # aiosmtpd's own reading crashes on "<" or "a@[": the lab says malformed
        expected = (None, None)
    assert session._getaddr(arg) == expected


@pytest.mark.parametrize("sender", ("<", "a@[", "<a@[>"))
def test_an_address_the_parser_trips_on_is_malformed(lab: Lab, sender: str) -> None:
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        client.ehlo()
        assert client.docmd(f"MAIL FROM:{sender}") == (553, b"5.1.3 Error: malformed address")
        assert client.mail(OUTSIDER) == smtp_reply(R.SMTP_SENDER_OK)


# -- RFC 5321's corners: a silent client, the postmaster ----------------------------


@pytest.mark.parametrize("listener", ("smtp", "submission", "smtps"))
def test_a_silent_client_is_answered_421_before_the_server_closes(
    make_lab, tls_context: ssl.SSLContext, listener: str  # type: ignore[no-untyped-def]
) -> None:
    # RFC 5321 section 4.5.3.2: the server may give up on a silent client, and then
    # says so with a 421 before it closes. The timeout is the lab's preauth_timeout.
    lab = make_lab(preauth_timeout=0.5)
    with connect(lab, listener, tls_context, starttls=False) as client:
        client.ehlo()
        started = time.monotonic()
        code, text = client.getreply()
        assert time.monotonic() - started >= 0.4
        assert (code, text) == (421, b"4.4.2 mail.lycee-exemple.test Error: timeout exceeded")
        assert client.sock.recv(1) == b""  # and then it closed


def test_a_silent_client_during_starttls_gets_no_line_in_clear(
    make_lab, tls_context: ssl.SSLContext  # type: ignore[no-untyped-def]
) -> None:
    # In the middle of a TLS handshake a 421 in clear would be garbage to the client.
    lab = make_lab(preauth_timeout=5.0, tls_handshake_timeout=0.5)
    with ResolvedSMTP(address(lab, "smtp"), HOST, timeout=5) as client:
        client.ehlo()
        assert client.docmd("STARTTLS")[0] == 220
        assert client.sock.recv(100) == b""  # closed without a word


@pytest.mark.parametrize(
    "recipient",
    ("postmaster", "POSTMASTER", f"postmaster@{DOMAIN}", f"PostMaster@{DOMAIN.upper()}",
     "postmaster@college-exemple.test"),
)
def test_postmaster_is_accepted_and_delivered_to_the_lab_postmaster(
    make_lab, recipient: str  # type: ignore[no-untyped-def]
) -> None:
    # RFC 5321 section 4.5.1: <postmaster> without a domain, and postmaster@ each
    # domain the server receives mail for, must be accepted.
    lab = make_lab(domains=(DOMAIN, "college-exemple.test"))
    message = f"From: {OUTSIDER}\r\nSubject: Un souci\r\n\r\nBonjour\r\n".encode()
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        client.ehlo()
        assert client.mail(OUTSIDER) == smtp_reply(R.SMTP_SENDER_OK)
        assert client.docmd(f"RCPT TO:<{recipient}>") == smtp_reply(R.SMTP_RECIPIENT_OK)
        assert client.data(message)[0] == 250
    [raw] = inbox(lab, f"postmaster@{DOMAIN}")
    assert raw.endswith(message)


def test_postmaster_of_a_domain_outside_the_lab_is_still_relaying(lab: Lab) -> None:
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        client.ehlo()
        client.mail(OUTSIDER)
        refused = client.rcpt("postmaster@exemple.org")
        assert refused == smtp_reply(R.SMTP_RELAY_DENIED.format(address="postmaster@exemple.org"))


def test_the_trainer_reads_the_postmaster_mailbox_with_the_password_kept_for_them(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    import poplib

    path = lab.postmaster_password_path
    assert path.stat().st_mode & 0o777 == 0o600  # the trainer's, nobody else's
    password = path.read_text().strip()
    with ResolvedSMTP(address(lab, "smtp"), HOST) as client:
        client.sendmail(OUTSIDER, ["postmaster"], b"Subject: Pour le postmaster\r\n\r\nCoucou\r\n")
    host, port = address(lab, "pop3s")
    pop = poplib.POP3_SSL(host, port, context=ssl.create_default_context(
        cafile=str(lab.ca.ca_path)), timeout=5)
    # The certificate names the lab's servers, 127.0.0.1 among them.
    try:
        pop.user(f"postmaster@{DOMAIN}")
        pop.pass_(password)
        count, _ = pop.stat()
        assert count == 1
        assert b"Subject: Pour le postmaster" in b"\r\n".join(pop.retr(1)[1])
    finally:
        pop.quit()
    # A restart keeps the same password, and the mail.
    lab.stop()
    restarted = Lab(lab.config, lab.data_dir).start()
    try:
        assert restarted.ensure_postmaster() == password
        assert len(inbox(restarted, f"postmaster@{DOMAIN}")) == 1
    finally:
        restarted.stop()
