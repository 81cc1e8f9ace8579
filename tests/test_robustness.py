"""Bad input to SMTP and POP3: always a protocol answer or a clean close, never a crash or a hang.

The first part drives each kind of bad input by hand and asserts the exact
answer; the second throws arbitrary bytes and command sequences (hypothesis)
at one lab and checks, after every line, that a well-formed reply or a clean
close came, and after every example, that a fresh client is still served.
"""

from __future__ import annotations

import base64
import poplib
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ADDRESS, DOMAIN, PASSWORD, lab_config
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lab_clients import EventTrail, address, inbox

from pixlab.lab import replies as R
from pixlab.lab.runner import Lab

EOF = None  # what Wire.line gives once the server has closed
READ_TIMEOUT = 5.0


class Wire:
    """A raw client connection that reads CRLF lines, and sees a close as EOF."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(READ_TIMEOUT)
        self.buffer = b""

    @classmethod
    def to(cls, lab: Lab, listener: str, context: ssl.SSLContext | None = None) -> Wire:
        sock = socket.create_connection(address(lab, listener), READ_TIMEOUT)
        if context is not None:
            sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
        return cls(sock)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server already closed; the next read says how

    def line(self) -> bytes | None:
        """The next line without its CRLF, or EOF (None) once the server has closed."""
        while b"\r\n" not in self.buffer:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                assert not self.buffer, f"the server closed in the middle of {self.buffer!r}"
                return EOF
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def closed(self) -> bool:
        """Whether the server has closed (nothing more comes, the socket reads EOF)."""
        return self.line() is EOF

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def wires() -> Iterator[list[Wire]]:
    opened: list[Wire] = []
    yield opened
    for wire in opened:
        wire.close()


def open_wire(wires: list[Wire], lab: Lab, listener: str, context: ssl.SSLContext | None = None):  # type: ignore[no-untyped-def]
    wire = Wire.to(lab, listener, context)
    wires.append(wire)
    return wire


def pop3_session(wires: list[Wire], lab: Lab, context: ssl.SSLContext, login: bool) -> Wire:
    """A POP3S session past its greeting (and logged in, if asked)."""
    wire = open_wire(wires, lab, "pop3s", context)
    assert wire.line() == R.POP3_GREETING.encode()
    if login:
        wire.send(f"USER {ADDRESS}\r\nPASS {PASSWORD}\r\n".encode())
        assert (wire.line(), wire.line()) == (b"+OK", R.POP3_LOGGED_IN.encode())
    return wire


def smtp_session(wires: list[Wire], lab: Lab, listener: str = "smtp") -> Wire:
    """An SMTP session past its greeting and EHLO."""
    wire = open_wire(wires, lab, listener)
    assert wire.line() == f"220 mail.{DOMAIN} {R.SMTP_IDENT}".encode()
    wire.send(b"EHLO poste-eleve\r\n")
    while wire.line().startswith(b"250-"):
        pass
    return wire


def served_by_pop3(lab: Lab, context: ssl.SSLContext) -> None:
    client = poplib.POP3_SSL(*address(lab, "pop3s"), context=context, timeout=READ_TIMEOUT)
    try:
        client.user(ADDRESS)
        assert client.pass_(PASSWORD) == R.POP3_LOGGED_IN.encode()
        client.stat()
        client.quit()
    finally:
        client.close()


def served_by_smtp(lab: Lab) -> None:
    with smtplib.SMTP(*address(lab, "smtp"), timeout=READ_TIMEOUT) as client:
        assert client.ehlo()[0] == 250
        assert client.noop() == (250, b"OK")


# -- POP3, by hand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "reply"),
    (
        (b"FOO", R.POP3_UNKNOWN_COMMAND.format(verb="FOO")),
        (b"retrieve 1", R.POP3_UNKNOWN_COMMAND.format(verb="RETRIEVE")),
        (b"", R.POP3_UNKNOWN_COMMAND.format(verb="")),
        # Control characters and bytes that are not text come back as "?".
        (b"\x00\xff\xfe\x1b[31mX", R.POP3_UNKNOWN_COMMAND.format(verb="????[31MX")),
        (b"USER", R.POP3_BAD_SYNTAX.format(usage="USER <name>")),
        (b"PASS x", R.POP3_NO_USERNAME),
        (b"AUTH CRAM-MD5", R.POP3_AUTH_UNSUPPORTED),
        (b"STAT", R.POP3_NOT_LOGGED_IN),
    ),
)
def test_pop3_answers_bad_commands_before_login(
    lab: Lab, tls_context: ssl.SSLContext, wires: list[Wire], command: bytes, reply: str
) -> None:
    wire = pop3_session(wires, lab, tls_context, login=False)
    wire.send(command + b"\r\n")
    assert wire.line() == reply.encode()
    wire.send(b"NOOP\r\n")  # still alive, still in the AUTHORIZATION state
    assert wire.line() == R.POP3_NOT_LOGGED_IN.encode()


@pytest.mark.parametrize(
    ("command", "reply"),
    (
        (b"RETR abc", R.POP3_BAD_SYNTAX.format(usage="a message number")),
        (b"RETR", R.POP3_BAD_SYNTAX.format(usage="a message number")),
        (b"DELE 1.5", R.POP3_BAD_SYNTAX.format(usage="a message number")),
        (b"RETR 0", R.POP3_NO_MESSAGE.format(number=0)),
        (b"RETR -1", R.POP3_NO_MESSAGE.format(number=-1)),
        (b"LIST 99999999999999999999999", R.POP3_NO_MESSAGE.format(number=10**23 - 1)),
        (b"TOP 1", R.POP3_BAD_SYNTAX.format(usage="TOP <message> <lines>")),
        (b"TOP 1 -2", R.POP3_BAD_SYNTAX.format(usage="TOP <message> <lines>")),
        (b"TOP 1 2 3", R.POP3_BAD_SYNTAX.format(usage="TOP <message> <lines>")),
        (b"USER x", R.POP3_ALREADY_LOGGED_IN),
    ),
)
def test_pop3_answers_bad_syntax_when_logged_in(
    lab: Lab, tls_context: ssl.SSLContext, wires: list[Wire], command: bytes, reply: str
) -> None:
    wire = pop3_session(wires, lab, tls_context, login=True)
    wire.send(command + b"\r\n")
    assert wire.line() == reply.encode()
    wire.send(b"STAT\r\n")
    assert wire.line() == b"+OK 0 0"


@pytest.mark.parametrize("terminated", (True, False))
def test_pop3_answers_an_over_long_line_then_closes(
    lab: Lab, tls_context: ssl.SSLContext, wires: list[Wire], terminated: bool
) -> None:
    trail = EventTrail(lab)
    wire = pop3_session(wires, lab, tls_context, login=False)
    wire.send(b"USER " + b"a" * 5000 + (b"\r\n" if terminated else b""))
    assert wire.line() == R.POP3_LINE_TOO_LONG.encode()
    assert wire.closed()
    assert trail.wait_for("protocol.error").data["reason"] == "line too long"
    served_by_pop3(lab, tls_context)


def test_pop3_closes_after_ten_bad_commands(
    lab: Lab, tls_context: ssl.SSLContext, wires: list[Wire]
) -> None:
    wire = pop3_session(wires, lab, tls_context, login=True)
    wire.send(b"BOGUS\r\n" * 9)
    for _ in range(9):
        assert wire.line() == R.POP3_UNKNOWN_COMMAND.format(verb="BOGUS").encode()
    wire.send(b"RETR 7\r\n")
    assert wire.line() == R.POP3_NO_MESSAGE.format(number=7).encode()
    assert wire.line() == R.POP3_TOO_MANY_ERRORS.encode()
    assert wire.closed()


def test_pop3_wrong_passwords_are_not_bad_commands(
    lab: Lab, tls_context: ssl.SSLContext, wires: list[Wire]
) -> None:
    wire = pop3_session(wires, lab, tls_context, login=False)
    for _ in range(3):
        wire.send(b"USER " + ADDRESS.encode() + b"\r\nPASS faux\r\n")
        assert (wire.line(), wire.line()) == (b"+OK", R.POP3_AUTH_FAILED.encode())
    for _ in range(9):
        wire.send(b"BOGUS\r\n")
        assert wire.line().startswith(b"-ERR Unknown command")
    wire.send(b"USER " + ADDRESS.encode() + b"\r\nPASS " + PASSWORD.encode() + b"\r\n")
    assert (wire.line(), wire.line()) == (b"+OK", R.POP3_LOGGED_IN.encode())


@pytest.mark.parametrize(("listener", "greeting"), (("pop3", b"+OK "), ("smtp", b"220 ")))
def test_a_silent_peer_is_disconnected_before_login(
    make_lab, wires: list[Wire], listener: str, greeting: bytes  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(preauth_timeout=0.5)
    wire = open_wire(wires, lab, listener)
    started = time.monotonic()
    assert wire.line().startswith(greeting)
    # Each says why before it closes (RFC 5321 section 4.5.3.2 for SMTP).
    goodbye = R.POP3_INACTIVITY if listener == "pop3" else R.SMTP_TIMEOUT.format(
        hostname=lab.world.server_name)
    assert wire.line() == goodbye.encode()
    assert wire.closed()
    assert 0.4 < time.monotonic() - started < 3


@pytest.mark.parametrize("listener", ("pop3s", "smtps"))
def test_a_tls_handshake_that_never_comes_is_dropped(
    make_lab, wires: list[Wire], listener: str  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(tls_handshake_timeout=0.5)
    trail = EventTrail(lab)
    wire = open_wire(wires, lab, listener)
    started = time.monotonic()
    assert wire.closed()  # not a byte: the server waited for a ClientHello
    assert 0.4 < time.monotonic() - started < 3
    failed = trail.wait_for("tls.failed")
    assert failed.listener == listener
    assert failed.data["reason"] == "timeout: no TLS handshake came"


@pytest.mark.parametrize(
    ("listener", "command", "go_ahead"),
    (("pop3", b"STLS", R.POP3_BEGIN_TLS.encode()), ("submission", b"STARTTLS", b"220 Ready")),
)
def test_a_handshake_that_never_follows_starttls_is_dropped(
    make_lab, wires: list[Wire], listener: str, command: bytes, go_ahead: bytes  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(tls_handshake_timeout=0.5)
    trail = EventTrail(lab)
    wire = open_wire(wires, lab, listener)
    wire.line()
    wire.send(command + b"\r\n")
    assert wire.line().startswith(go_ahead)
    started = time.monotonic()
    assert wire.closed()
    assert time.monotonic() - started < 3
    failed = trail.wait_for("tls.failed")
    assert failed.listener == listener
    assert failed.data["reason"] == "timeout: no TLS handshake came"


def test_too_many_connections_from_one_peer_are_refused(make_lab, wires: list[Wire]) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(max_connections_per_peer=3)
    trail = EventTrail(lab)
    first = [open_wire(wires, lab, name) for name in ("smtp", "pop3", "smtp")]
    for wire in first:
        assert wire.line()  # each got its greeting
    refused = open_wire(wires, lab, "pop3")
    assert refused.closed()
    assert trail.wait_for("connection.refused").data["reason"] == (
        "too many connections from this address"
    )
    first[0].close()
    deadline = time.monotonic() + 5
    while True:
        again = open_wire(wires, lab, "pop3")
        if again.line() == R.POP3_GREETING.encode():
            break
        assert time.monotonic() < deadline, "a closed connection's place was never freed"
        time.sleep(0.05)


# -- SMTP, by hand ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "reply"),
    (
        (b"FOO", b'500 Error: command "FOO" not recognized'),
        (b"\x00\x1b[31mX", b'500 Error: command "??[31MX" not recognized'),
        (b"\xff\xfe", b"500 Error: bad syntax"),
        (b"", b"500 Error: bad syntax"),
        (b"MAIL FROM:", b"501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]"),
        (b"RCPT TO:<eleve@lycee-exemple.test>", b"503 Error: need MAIL command"),
        (b"DATA", b"503 Error: need RCPT command"),
        (b"HELO", b"501 Syntax: HELO hostname"),
        (b"AUTH PLAIN", R.SMTP_AUTH_NOT_ENABLED.encode()),
        (b"STARTTLS now", b"501 Syntax: STARTTLS"),
    ),
)
def test_smtp_answers_bad_commands(
    lab: Lab, wires: list[Wire], command: bytes, reply: bytes
) -> None:
    wire = smtp_session(wires, lab)
    wire.send(command + b"\r\n")
    assert wire.line() == reply
    wire.send(b"NOOP\r\n")
    assert wire.line() == b"250 OK"


MALFORMED = b"553 5.1.3 Error: malformed address"  # aiosmtpd's own answer


@pytest.mark.parametrize(
    ("recipient", "reply"),
    (
        ("eleve", R.SMTP_BAD_ADDRESS.encode()),
        ("eleve.lycee-exemple.test", R.SMTP_BAD_ADDRESS.encode()),
        ("@", MALFORMED),
        ("eleve@", MALFORMED),
        ("@lycee-exemple.test", MALFORMED),
    ),
)
def test_smtp_refuses_a_recipient_that_is_not_an_address(
    lab: Lab, wires: list[Wire], recipient: str, reply: bytes
) -> None:
    trail = EventTrail(lab)
    wire = smtp_session(wires, lab)
    wire.send(f"MAIL FROM:<prof@{DOMAIN}>\r\nRCPT TO:<{recipient}>\r\n".encode())
    assert wire.line() == R.SMTP_SENDER_OK.encode()
    assert wire.line() == reply
    # A typo is not an attempt to relay: no relay.denied for the trainer to misread.
    wire.send(b"QUIT\r\n")
    assert wire.line() == b"221 Bye"
    assert trail.of("relay.denied") == []


@pytest.mark.parametrize("size", (600, 5000, 100_000))
def test_smtp_answers_an_over_long_line_then_closes(
    lab: Lab, wires: list[Wire], size: int
) -> None:
    trail = EventTrail(lab)
    wire = smtp_session(wires, lab)
    wire.send(b"NOOP " + b"x" * size + b"\r\nNOOP\r\n")
    assert wire.line() == b"500 Command line too long"
    assert wire.closed()
    assert trail.wait_for("protocol.error").data["reason"] == "command line too long"
    served_by_smtp(lab)


def test_smtp_closes_after_too_many_unknown_commands(lab: Lab, wires: list[Wire]) -> None:
    wire = smtp_session(wires, lab)
    wire.send(b"BOGUS\r\n" * 5)
    for _ in range(4):
        assert wire.line() == b'500 Error: command "BOGUS" not recognized'
    assert wire.line() == b"502 5.5.1 Too many unrecognized commands, goodbye."
    assert wire.closed()
    served_by_smtp(lab)


def test_smtp_binary_message_body_is_delivered_intact(lab: Lab, wires: list[Wire]) -> None:
    body = bytes(range(1, 256)).replace(b"\n", b"").replace(b"\r", b"")
    wire = smtp_session(wires, lab)
    wire.send(f"MAIL FROM:<prof@{DOMAIN}>\r\nRCPT TO:<{ADDRESS}>\r\nDATA\r\n".encode())
    assert wire.line() == R.SMTP_SENDER_OK.encode()
    assert wire.line() == R.SMTP_RECIPIENT_OK.encode()
    assert wire.line().startswith(b"354 ")
    wire.send(b"Subject: octets\r\n\r\n" + body + b"\r\n.\r\n")
    assert wire.line().startswith(b"250 2.0.0 Ok: queued as ")
    [raw] = inbox(lab, ADDRESS)
    assert raw.endswith(b"\r\n\r\n" + body + b"\r\n")


# -- property tests ---------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PRINTABLE = re.compile(rb"^[\x20-\x7e]*$")


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory: pytest.TempPathFactory, ca_dir: Path) -> Iterator[Lab]:
    """One lab for every example: cleartext allowed, so that garbage can reach every state."""
    data_dir = tmp_path_factory.mktemp("robust")
    if (ca_dir / "tls").exists():
        import shutil

        shutil.copytree(ca_dir / "tls", data_dir / "tls")
    lab = Lab(lab_config(allow_cleartext=True), data_dir).start()
    lab.store.create_account(ADDRESS, PASSWORD)
    yield lab
    lab.stop()


@pytest.fixture(scope="module")
def shared_context(shared_lab: Lab) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(shared_lab.ca.ca_path))


SEED = (
    b"Subject: un\r\n\r\nBonjour.\r\n",
    b"Subject: deux\r\n\r\n.point\r\n.\r\n",
    b"Subject: trois\r\n\r\nA\r\nB\r\nC\r\n",
)


def reseed(lab: Lab) -> None:
    """Put the mailbox back to a few messages, whatever the last example deleted."""
    account = lab.store.account(ADDRESS)
    assert account is not None
    for raw in SEED[len(inbox(lab, ADDRESS)) :]:
        lab.store.append(account, "INBOX", raw)


PLAIN_TOKEN = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode()).decode()
garbage = st.binary(max_size=120).map(lambda b: b.replace(b"\n", b""))
word = st.sampled_from(["", "1", "2", "3", "0", "-1", "99", "x", "1 0", "2 1", "1 99999999"])
pop3_command = st.one_of(
    st.sampled_from([
        f"USER {ADDRESS}", f"PASS {PASSWORD}", "PASS faux", "USER", "CAPA", "NOOP", "RSET",
        "STAT", "QUIT", "AUTH", "AUTH PLAIN", f"AUTH PLAIN {PLAIN_TOKEN}", "AUTH PLAIN ====",
        "AUTH LOGIN", "*", "STLS",
    ]).map(str.encode),
    st.tuples(st.sampled_from(["LIST", "UIDL", "RETR", "TOP", "DELE", "list", "Top"]), word).map(
        lambda pair: f"{pair[0]} {pair[1]}".rstrip(" ").encode()
    ),
    garbage,
)
# An over-long line ends a session: it comes, when it does, last.
over_long = st.one_of(
    st.none(), st.none(), st.none(), st.integers(1100, 3000).map(lambda n: b"X" * n)
)
LOGIN = [f"USER {ADDRESS}".encode(), f"PASS {PASSWORD}".encode()]


def pop3_reply(wire: Wire, line: bytes, continuation: bool) -> list[bytes]:
    """Read the whole reply to one line: its status line, and its body when it has one."""
    status = wire.line()
    if status is EOF:
        return []
    assert status.startswith((b"+OK", b"-ERR", b"+ ")), status
    assert PRINTABLE.match(status), status
    # The server splits a command as it does: first word, then the rest.
    verb, _, argument = line.rstrip(b"\r\n").decode("utf-8", "replace").partition(" ")
    verb = verb.upper()
    multi_line = not continuation and status.startswith(b"+OK") and (
        verb in ("CAPA", "RETR", "TOP")
        or (verb in ("LIST", "UIDL", "AUTH") and not argument.strip())
    )
    lines = [status]
    while multi_line:
        body_line = wire.line()
        assert body_line is not EOF, "closed in the middle of a multi-line reply"
        lines.append(body_line)
        if body_line == b".":
            break
    return lines


@PROPERTY_SETTINGS
@given(st.booleans(), st.lists(pop3_command, max_size=14), over_long)
def test_pop3_answers_any_sequence_or_closes_cleanly(
    shared_lab: Lab,
    shared_context: ssl.SSLContext,
    login: bool,
    commands: list[bytes],
    ending: bytes | None,
) -> None:
    # Half the sessions log in first, so that garbage reaches the TRANSACTION state too.
    commands = (LOGIN if login else []) + commands + ([ending] if ending else [])
    reseed(shared_lab)
    wire = Wire.to(shared_lab, "pop3")
    try:
        assert wire.line() == R.POP3_GREETING.encode()
        continuation, errors = False, 0
        for line in commands:
            wire.send(line + b"\r\n")
            reply = pop3_reply(wire, line, continuation)
            assert reply, f"no reply to {line!r}"
            status = reply[0]
            if status == R.POP3_LOGGED_IN.encode():
                event("pop3: logged in")
            if len(line) + 2 > 1024:
                assert status == R.POP3_LINE_TOO_LONG.encode()
                assert wire.closed()
                event("pop3: closed after an over-long line")
                break
            if status.startswith(b"-ERR") and not status.startswith(b"-ERR [AUTH]"):
                errors += 1
                if errors == 10:
                    assert wire.line() == R.POP3_TOO_MANY_ERRORS.encode()
                    assert wire.closed()
                    event("pop3: closed after ten bad commands")
                    break
            if status == R.POP3_BEGIN_TLS.encode():
                # Whatever comes next is no TLS handshake: the server gives up and closes.
                wire.send(b"pas du TLS\r\n" * 3)
                assert wire.closed()
                event("pop3: closed after a failed STLS handshake")
                break
            verb = line.decode("utf-8", "replace").partition(" ")[0].upper()
            if status.startswith(b"+OK") and verb == "QUIT" and not continuation:
                assert wire.closed()
                event("pop3: closed after QUIT")
                break
            continuation = status == b"+ "
    finally:
        wire.close()
    served_by_pop3(shared_lab, shared_context)


smtp_command = st.one_of(
    st.sampled_from([
        "EHLO poste", "HELO poste", "MAIL FROM:<prof@lycee-exemple.test>", "MAIL FROM:<>",
        f"RCPT TO:<{ADDRESS}>", "RCPT TO:<ami@exemple.org>", "RCPT TO:<inconnu@lycee-exemple.test>",
        "RCPT TO:<>", "DATA", "RSET", "NOOP", "VRFY eleve", "HELP", "QUIT", "STARTTLS",
        "AUTH PLAIN", "AUTH LOGIN", f"AUTH PLAIN {PLAIN_TOKEN}", "AUTH PLAIN ====", "*",
        "MAIL FROM:<prof@lycee-exemple.test> SIZE=99999999999",
    ]).map(str.encode),
    garbage,
)
body_line = st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"").replace(b"\r", b""))
SMTP_STATUS = re.compile(rb"^[2-5][0-9][0-9]([ -]|$)")


def smtp_reply(wire: Wire) -> list[bytes]:
    """Every line of one reply, up to the one without a hyphen after the code."""
    lines: list[bytes] = []
    while True:
        line = wire.line()
        if line is EOF:
            assert not lines, f"closed in the middle of a reply: {lines}"
            return lines
        assert SMTP_STATUS.match(line), line
        assert PRINTABLE.match(line), line
        lines.append(line)
        if line[3:4] != b"-":
            return lines


ENVELOPE = [
    b"EHLO poste", f"MAIL FROM:<prof@{DOMAIN}>".encode(), f"RCPT TO:<{ADDRESS}>".encode(), b"DATA"
]


@PROPERTY_SETTINGS
@given(
    st.sampled_from(["smtp", "submission"]),
    st.sampled_from([0, 3, 4]),
    st.lists(body_line, max_size=4),
    st.lists(st.tuples(smtp_command, st.lists(body_line, max_size=4)), max_size=14),
    over_long,
)
def test_smtp_answers_any_sequence_or_closes_cleanly(
    shared_lab: Lab,
    listener: str,
    envelope: int,
    body: list[bytes],
    commands: list[tuple[bytes, list[bytes]]],
    ending: bytes | None,
) -> None:
    # Most sessions start a message (up to its DATA), so that garbage reaches every state.
    start = [(line, body) for line in ENVELOPE[:envelope]]
    commands = start + commands + ([(ending, [])] if ending else [])
    wire = Wire.to(shared_lab, listener)
    try:
        assert smtp_reply(wire) == [f"220 mail.{DOMAIN} {R.SMTP_IDENT}".encode()]
        for line, lines in commands:
            wire.send(line + b"\r\n")
            reply = smtp_reply(wire)
            assert reply, f"no reply to {line!r}"
            code = reply[-1][:3]
            if code == b"354":
                # DATA accepted: a body (dots doubled at line starts), its end, and a reply.
                stuffed = b"".join(
                    (b"." + part if part.startswith(b".") else part) + b"\r\n" for part in lines
                )
                wire.send(stuffed + b".\r\n")
                reply = smtp_reply(wire)
                assert reply and reply[-1][:1] in (b"2", b"4", b"5"), reply
                event(f"smtp: DATA answered {reply[-1][:3].decode()}")
            elif code == b"220" and line.upper() == b"STARTTLS":
                wire.send(b"pas du TLS\r\n" * 3)
                assert wire.closed()
                event("smtp: closed after a failed STARTTLS handshake")
                break
            elif code in (b"221", b"421") or reply[-1] in (
                b"502 5.5.1 Too many unrecognized commands, goodbye.",
                b"500 Command line too long",
            ):
                assert wire.closed()
                event(f"smtp: closed after {reply[-1][:3].decode()}")
                break
    finally:
        wire.close()
    served_by_smtp(shared_lab)
