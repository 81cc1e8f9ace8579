"""The lab's IMAP server, driven over real sockets by the stdlib imaplib and by raw exchanges."""

from __future__ import annotations

import base64
import email
import imaplib
import poplib
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from conftest import ADDRESS, PASSWORD

from pixlab.lab import replies as R
from pixlab.lab.events import Event
from pixlab.lab.runner import Lab

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases

OTHER = "prof@lycee-exemple.test"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


# -- helpers -------------------------------------------------------------------------


def text_message(
    subject: str = "Bonjour", body: str = "Texte du message.\r\n", **headers: str
) -> bytes:
    """A plain-text message as a mail program would send it."""
    fields = {
        "From": f"Mme Martin <{OTHER}>",
        "To": ADDRESS,
        "Subject": subject,
        "Date": "Mon, 12 Jan 2026 09:30:00 +0100",
        "Message-ID": f"<{subject}@lycee>",
    }
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return (head + "\r\n" + body).encode()


def bulletin() -> bytes:
    """multipart/mixed: a multipart/alternative (text and HTML), then a PDF attachment."""
    message = EmailMessage()
    message["From"] = f"Mme Martin <{OTHER}>"
    message["To"] = ADDRESS
    message["Subject"] = "Bulletin du trimestre"
    message["Date"] = "Mon, 12 Jan 2026 09:30:00 +0100"
    message["Message-ID"] = "<bulletin-1@lycee-exemple.test>"
    message.set_content("Bonjour,\nvoici le bulletin du trimestre.\n")
    message.add_alternative("<p>Bonjour,<br>voici le bulletin du trimestre.</p>\n", subtype="html")
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="bulletin.pdf")
    return message.as_bytes(policy=SMTP)


def put(
    lab: Lab,
    raw: bytes,
    folder: str = "INBOX",
    flags: tuple[str, ...] = (),
    when: int | None = None,
) -> int:
    """Store a message directly (as a delivery would); returns its UID."""
    account = lab.store.account(ADDRESS)
    assert account is not None
    return lab.store.append(account, folder, raw, flags, when).uid


def sexp(data: bytes) -> list:  # type: ignore[type-arg]
    """Parse a parenthesised IMAP structure (quoted strings, NIL, numbers, lists)."""
    tokens = re.findall(rb'\(|\)|"(?:[^"\\]|\\.)*"|[^\s()"]+', data)
    stack: list[list] = [[]]  # type: ignore[type-arg]
    for token in tokens:
        if token == b"(":
            stack.append([])
        elif token == b")":
            inner = stack.pop()
            stack[-1].append(inner)
        elif token.startswith(b'"'):
            stack[-1].append(token[1:-1].decode())
        elif token == b"NIL":
            stack[-1].append(None)
        else:
            stack[-1].append(int(token) if token.isdigit() else token.decode())
    return stack[0]


def fetched(data: list, item: str) -> bytes:  # type: ignore[type-arg]
    """The literal that follows `item` in an imaplib FETCH answer."""
    pattern = rb"(?:^|[ (])" + re.escape(item.encode()) + rb" \{\d+\}$"
    for part in data:
        if isinstance(part, tuple) and re.search(pattern, part[0]):
            return part[1]
    raise AssertionError(f"{item} not in {data!r}")


class Wire:
    """A raw IMAP connection, for the exchanges imaplib hides (greeting, IDLE, SASL-IR, …)."""

    opened: list[Wire] = []  # closed after each test by the `close_wires` fixture

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")
        Wire.opened.append(self)
        self.greeting = self.line()

    @classmethod
    def imaps(cls, lab: Lab, context: ssl.SSLContext) -> Wire:
        raw = socket.create_connection(("127.0.0.1", lab.listener("imaps").port), timeout=5)
        return cls(context.wrap_socket(raw, server_hostname="localhost"))

    @classmethod
    def plain(cls, lab: Lab) -> Wire:
        return cls(socket.create_connection(("127.0.0.1", lab.listener("imap").port), timeout=5))

    def line(self) -> bytes:
        """One response line, literals included."""
        data = self.reader.readline()
        if not data:
            raise EOFError("the server closed the connection")
        while match := re.search(rb"\{(\d+)\}\r\n$", data):
            data += self.reader.read(int(match[1]))
            data += self.reader.readline()
        return data

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def command(self, tag: str, text: str | bytes) -> list[bytes]:
        """Send `tag text` and return every line up to the tagged one."""
        self.send(
            (tag + " ").encode() + (text.encode() if isinstance(text, str) else text) + b"\r\n"
        )
        return self.until(tag)

    def until(self, tag: str) -> list[bytes]:
        lines = []
        while True:
            lines.append(self.line())
            if lines[-1].startswith(tag.encode() + b" "):
                return lines

    def rest(self) -> list[bytes]:
        """Every line until the server closes the connection."""
        lines = []
        try:
            while True:
                lines.append(self.line())
        except (EOFError, ConnectionError):
            return lines

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


@pytest.fixture(autouse=True)
def close_wires(make_lab) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Close the raw connections a test opened, whatever happened to it, before its labs stop."""
    yield
    while Wire.opened:
        Wire.opened.pop().close()


@pytest.fixture
def events(lab: Lab) -> list[Event]:
    """Every event the lab records from now on."""
    seen: list[Event] = []
    lab.events.subscribe(seen.append)
    return seen


@pytest.fixture
def connect(lab: Lab, tls_context: ssl.SSLContext) -> Iterator:
    """Open logged-in IMAPS sessions; they are logged out after the test."""
    opened: list[imaplib.IMAP4_SSL] = []

    def open_session(login: bool = True) -> imaplib.IMAP4_SSL:
        client = imaplib.IMAP4_SSL(
            "127.0.0.1", lab.listener("imaps").port, ssl_context=tls_context, timeout=10
        )
        if login:
            client.login(ADDRESS, PASSWORD)
        opened.append(client)
        return client

    yield open_session
    for client in opened:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


@pytest.fixture
def imap(connect) -> imaplib.IMAP4_SSL:  # type: ignore[no-untyped-def]
    """One logged-in IMAPS session."""
    return connect()


@pytest.fixture
def wire(lab: Lab, tls_context: ssl.SSLContext) -> Iterator[Wire]:
    """One logged-in raw IMAPS connection."""
    connection = Wire.imaps(lab, tls_context)
    assert connection.command("w0", f'LOGIN "{ADDRESS}" "{PASSWORD}"')[-1].startswith(b"w0 OK")
    yield connection
    connection.close()


def error_of(call) -> str:  # type: ignore[no-untyped-def]
    """The status and words of a refused command (imaplib raises on BAD, returns NO)."""
    try:
        typ, data = call()
    except imaplib.IMAP4.error as error:
        return f"BAD {error}"
    assert typ != "OK", data
    return f"{typ} {data[-1].decode()}"


# -- greeting, capabilities, TLS and logins ---------------------------------------------


def test_greeting_lists_capabilities_as_dovecot_does(lab: Lab, tls_context: ssl.SSLContext) -> None:
    wire = Wire.imaps(lab, tls_context)
    assert re.fullmatch(
        rb"\* OK \[CAPABILITY IMAP4rev1 [^\]]*AUTH=PLAIN[^\]]*\] PixLab ready\.\r\n", wire.greeting
    )
    assert b"STARTTLS" not in wire.greeting  # already TLS on 993
    wire.close()


def test_capabilities_grow_after_login(connect) -> None:  # type: ignore[no-untyped-def]
    client = connect(login=False)
    assert "AUTH=PLAIN" in client.capabilities and "UIDPLUS" not in client.capabilities
    typ, data = client.login(ADDRESS, PASSWORD)
    assert typ == "OK" and data[0].endswith(b"] Logged in")
    caps = client.capability()[1][-1]  # the greeting's list came first
    for extension in (
        b"IDLE",
        b"UIDPLUS",
        b"MOVE",
        b"NAMESPACE",
        b"ID",
        b"SPECIAL-USE",
        b"LITERAL+",
        b"UNSELECT",
        b"ENABLE",
        b"QUOTA",
        b"LIST-EXTENDED",
        b"CHILDREN",
        b"SASL-IR",
    ):
        assert extension in caps.split()


def test_cleartext_login_is_refused_on_143_until_starttls(
    lab: Lab, tls_context: ssl.SSLContext, events: list[Event]
) -> None:
    client = imaplib.IMAP4("127.0.0.1", lab.listener("imap").port, timeout=10)
    assert "LOGINDISABLED" in client.capabilities and "STARTTLS" in client.capabilities
    assert not any(c.startswith("AUTH=") for c in client.capabilities)
    assert "[PRIVACYREQUIRED]" in error_of(lambda: client.login(ADDRESS, PASSWORD))
    refused = [e for e in events if e.kind == "auth.failed"]
    assert refused[-1].data["cleartext"] is True and refused[-1].data["mechanism"] == "LOGIN"

    client.starttls(ssl_context=tls_context)
    assert "AUTH=PLAIN" in client.capabilities and "LOGINDISABLED" not in client.capabilities
    assert client.login(ADDRESS, PASSWORD)[0] == "OK"
    logged = [e for e in events if e.kind == "auth.succeeded"]
    assert logged[-1].data["cleartext"] is False and logged[-1].tls is True
    assert client.select("INBOX")[0] == "OK"
    client.logout()


def test_cleartext_login_works_when_the_scenario_allows_it(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(allow_cleartext=True)
    lab.store.create_account(ADDRESS, PASSWORD)
    seen: list[Event] = []
    lab.events.subscribe(seen.append)
    client = imaplib.IMAP4("127.0.0.1", lab.listener("imap").port, timeout=10)
    assert "AUTH=PLAIN" in client.capabilities and "LOGINDISABLED" not in client.capabilities
    assert client.login(ADDRESS, PASSWORD)[0] == "OK"
    client.logout()
    login = next(e for e in seen if e.kind == "auth.succeeded")
    assert login.data["cleartext"] is True and login.account == ADDRESS
    # The lesson shows the password on the wire, never in the event log.
    assert all(PASSWORD not in repr(e) for e in seen)


def test_starttls_when_tls_is_already_on_is_bad(lab: Lab, tls_context: ssl.SSLContext) -> None:
    wire = Wire.imaps(lab, tls_context)
    assert wire.command("a", "STARTTLS")[-1] == f"a {R.IMAP_TLS_ACTIVE}\r\n".encode()
    wire.close()


def test_starttls_is_not_offered_when_the_lab_has_it_off(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(starttls=False)
    wire = Wire.plain(lab)
    assert b"STARTTLS" not in wire.greeting and b"LOGINDISABLED" in wire.greeting
    assert wire.command("a", "STARTTLS")[-1] == f"a {R.IMAP_TLS_UNAVAILABLE}\r\n".encode()
    wire.close()


def test_wrong_password_is_refused_and_the_session_goes_on(
    connect,
    events: list[Event],  # type: ignore[no-untyped-def]
) -> None:
    client = connect(login=False)
    assert "[AUTHENTICATIONFAILED]" in error_of(lambda: client.login(ADDRESS, "mauvais"))
    assert client.login(ADDRESS, PASSWORD)[0] == "OK"
    failed = next(e for e in events if e.kind == "auth.failed")
    assert failed.data["reason"] == "wrong user name or password"
    assert "mauvais" not in repr(failed)


def test_authenticate_plain_with_a_continuation_as_thunderbird_does(connect) -> None:  # type: ignore[no-untyped-def]
    client = connect(login=False)
    typ, _ = client.authenticate("PLAIN", lambda _: f"\0{ADDRESS}\0{PASSWORD}".encode())
    assert typ == "OK" and client.state == "AUTH"


def test_authenticate_with_an_initial_response_sasl_ir(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    wire = Wire.imaps(lab, tls_context)
    plain = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode()).decode()
    assert wire.command("a", f"AUTHENTICATE PLAIN {plain}")[-1].startswith(b"a OK [CAPABILITY")
    wire.close()


def test_authenticate_login_mechanism_and_cancel(lab: Lab, tls_context: ssl.SSLContext) -> None:
    wire = Wire.imaps(lab, tls_context)
    wire.send("a AUTHENTICATE LOGIN\r\n")
    assert wire.line() == b"+ VXNlcm5hbWU6\r\n"  # "Username:"
    wire.send("*\r\n")
    assert wire.line() == f"a {R.IMAP_AUTH_ABORTED}\r\n".encode()
    wire.send("b AUTHENTICATE LOGIN " + base64.b64encode(ADDRESS.encode()).decode() + "\r\n")
    assert wire.line() == b"+ UGFzc3dvcmQ6\r\n"  # "Password:"
    wire.send(base64.b64encode(PASSWORD.encode()) + b"\r\n")
    assert wire.line().startswith(b"b OK [CAPABILITY")
    assert wire.command("c", "AUTHENTICATE CRAM-MD5")[-1].startswith(b"c BAD")
    wire.close()


def test_authenticate_plain_with_bad_credentials_or_base64(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    wire = Wire.imaps(lab, tls_context)
    wrong = base64.b64encode(f"\0{ADDRESS}\0mauvais".encode()).decode()
    assert wire.command("a", f"AUTHENTICATE PLAIN {wrong}")[-1] == (
        f"a {R.IMAP_AUTH_FAILED}\r\n".encode()
    )
    assert wire.command("b", "AUTHENTICATE PLAIN !!!")[-1].startswith(b"b BAD")
    assert wire.command("c", "AUTHENTICATE DIGEST-MD5")[-1] == (
        f"c {R.IMAP_AUTH_UNSUPPORTED}\r\n".encode()
    )
    wire.close()


def test_too_many_connections_for_one_account(make_lab, tls_context: ssl.SSLContext) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(max_connections_per_account=2)
    lab.store.create_account(ADDRESS, PASSWORD)
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    port = lab.listener("imaps").port
    first, second, third = (
        imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context) for _ in range(3)
    )
    first.login(ADDRESS, PASSWORD)
    second.login(ADDRESS, PASSWORD)
    assert "[UNAVAILABLE]" in error_of(lambda: third.login(ADDRESS, PASSWORD))
    # Thunderbird often drops a connection without LOGOUT: the place is freed all the same.
    first.shutdown()
    deadline = time.monotonic() + 5
    while third.state != "AUTH":
        try:
            third.login(ADDRESS, PASSWORD)
        except imaplib.IMAP4.error:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    second.logout()
    third.logout()


# -- states and bad input -------------------------------------------------------------------


def test_commands_in_the_wrong_state(lab: Lab, tls_context: ssl.SSLContext) -> None:
    wire = Wire.imaps(lab, tls_context)
    assert (
        wire.command("a", "SELECT INBOX")[-1]
        == ("a " + R.IMAP_NOT_AUTHENTICATED.format(command="SELECT") + "\r\n").encode()
    )
    wire.command("b", f'LOGIN "{ADDRESS}" "{PASSWORD}"')
    assert (
        wire.command("c", "FETCH 1 FLAGS")[-1]
        == ("c " + R.IMAP_NO_MAILBOX_SELECTED.format(command="FETCH") + "\r\n").encode()
    )
    assert (
        wire.command("d", "LOGIN x y")[-1]
        == ("d " + R.IMAP_ALREADY_AUTHENTICATED.format(command="LOGIN") + "\r\n").encode()
    )
    assert wire.command("e", "UID LIST 1")[-1].startswith(b"e BAD")
    assert wire.command("f", "NOOP")[-1] == b"f OK NOOP completed.\r\n"
    wire.close()


def test_bad_commands_are_answered_and_the_tenth_closes_the_session(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    wire = Wire.imaps(lab, tls_context)
    garbage = [
        "FROBNICATE",
        'LOGIN "unterminated',
        "LIST (",
        "",
        "a b c",
        "FETCH",
        "\x01",
        "UID",
        "STATUS",
    ]
    for n, command in enumerate(garbage):
        wire.send(f"t{n} {command}\r\n" if command else "\r\n")
        assert b" BAD " in wire.line()
    assert wire.command("ok", "NOOP")[-1] == b"ok OK NOOP completed.\r\n"
    wire.send("t10 FROBNICATE\r\n")
    assert wire.rest() == [
        b"t10 " + R.IMAP_UNKNOWN_COMMAND.format(command="FROBNICATE").encode() + b"\r\n",
        R.IMAP_BYE_TOO_MANY_ERRORS.encode() + b"\r\n",
    ]


def test_an_over_long_line_is_refused_then_the_connection_closed(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    wire = Wire.imaps(lab, tls_context)
    wire.send(b"a NOOP " + b"x" * (lab.config.max_line_length + 100) + b"\r\n")
    assert wire.rest() == [R.IMAP_BYE_LINE_TOO_LONG.encode() + b"\r\n"]


def test_an_over_long_literal_is_refused_then_the_connection_closed(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    wire = Wire.imaps(lab, tls_context)
    wire.send("a LOGIN {99999999}\r\n")
    reply = R.IMAP_LITERAL_TOO_LONG.format(limit=lab.config.max_line_length)
    assert wire.rest() == [f"a {reply}\r\n".encode(), R.IMAP_BYE_LINE_TOO_LONG.encode() + b"\r\n"]


def test_a_message_over_the_size_limit_is_refused(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(max_message_size=2000, max_line_length=1024)
    lab.store.create_account(ADDRESS, PASSWORD)
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    wire = Wire.imaps(lab, context)
    wire.command("a", f'LOGIN "{ADDRESS}" "{PASSWORD}"')
    # A message may be longer than a command line: APPEND (in any case) has its own limit.
    wire.send("b Append INBOX {1500}\r\n")
    assert wire.line() == b"+ OK\r\n"  # under the limit: the server asks for it
    wire.send(b"Subject: x\r\n\r\n" + b"y" * 1486 + b"\r\n")
    assert wire.line().startswith(b"b OK [APPENDUID ")
    wire.send("c APPEND INBOX {2500+}\r\n")
    assert wire.rest()[0] == ("c " + R.IMAP_LITERAL_TOO_LONG.format(limit=2000) + "\r\n").encode()


def test_autologout_before_login(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(preauth_timeout=0.3, imap_idle_timeout=60)
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    wire = Wire.imaps(lab, context)
    assert wire.rest() == [R.IMAP_BYE_INACTIVITY.encode() + b"\r\n"]


def test_autologout_after_login_uses_the_imap_timeout(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(preauth_timeout=0.3, imap_idle_timeout=1.2)
    lab.store.create_account(ADDRESS, PASSWORD)
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    wire = Wire.imaps(lab, context)
    wire.command("a", f'LOGIN "{ADDRESS}" "{PASSWORD}"')
    started = time.monotonic()
    assert wire.rest() == [R.IMAP_BYE_INACTIVITY.encode() + b"\r\n"]
    assert time.monotonic() - started > 1.0  # not the pre-login 0.3 s any more


def test_rfc3501_default_autologout_is_thirty_minutes() -> None:
    from pixlab.lab.config import LabConfig

    assert LabConfig().imap_idle_timeout >= 30 * 60


# -- folders ------------------------------------------------------------------------------


def test_list_as_thunderbird_asks_returns_special_use_and_subscriptions(
    imap: imaplib.IMAP4_SSL, wire: Wire
) -> None:
    lines = wire.command("a", 'LIST (SUBSCRIBED) "" "*" RETURN (SPECIAL-USE)')
    assert lines == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed \\Archive) "/" "Archives"\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed \\Drafts) "/" "Drafts"\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed \\Junk) "/" "Junk"\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed \\Sent) "/" "Sent"\r\n',
        b'* LIST (\\HasNoChildren \\Subscribed \\Trash) "/" "Trash"\r\n',
        b"a OK List completed.\r\n",
    ]
    _, inbox = imap.list(pattern="INBOX")
    assert inbox == [b'(\\HasNoChildren) "/" "INBOX"']
    _, delimiter = imap.list(pattern='""')
    assert delimiter == [b'(\\Noselect) "/" ""']


def test_list_selection_special_use_and_bad_options(wire: Wire) -> None:
    lines = wire.command("a", 'LIST (SPECIAL-USE) "" "*"')
    names = sorted(line.rsplit(b" ", 1)[1] for line in lines[:-1])
    assert names == [
        b'"Archives"\r\n',
        b'"Drafts"\r\n',
        b'"Junk"\r\n',
        b'"Sent"\r\n',
        b'"Trash"\r\n',
    ]
    assert wire.command("b", 'LIST (BOGUS) "" "*"')[-1].startswith(b"b BAD")
    assert wire.command("c", 'LIST "" "*" RETURN (BOGUS)')[-1].startswith(b"c BAD")
    assert wire.command("d", 'LIST (RECURSIVEMATCH) "" "*"')[-1].startswith(b"d BAD")
    assert wire.command("e", 'LIST "" ("INBOX" "Sent")')[:2] == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"\r\n',
    ]


def test_list_wildcards_and_hierarchy(imap: imaplib.IMAP4_SSL) -> None:
    assert imap.create("Projets/Maths")[0] == "OK"  # the parent is created too
    _, top = imap.list(pattern="%")
    assert b'(\\HasChildren) "/" "Projets"' in top
    assert not any(b"Maths" in line for line in top)
    _, under = imap.list("Projets/", "*")
    assert under == [b'(\\HasNoChildren) "/" "Projets/Maths"']
    _, inbox = imap.list(pattern="inbox")
    assert inbox == [b'(\\HasNoChildren) "/" "INBOX"']  # INBOX in any case


def test_recursivematch_lists_parents_of_subscribed_children(wire: Wire) -> None:
    wire.command("a", "CREATE Club/Echecs")
    wire.command("b", "UNSUBSCRIBE Club")
    lines = wire.command("c", 'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    assert b'* LIST (\\HasChildren) "/" "Club" ("CHILDINFO" ("SUBSCRIBED"))\r\n' in lines
    assert not any(b"Echecs" in line for line in lines)
    plain = wire.command("d", 'LIST (SUBSCRIBED) "" "%"')
    assert not any(b"Club" in line for line in plain)


def test_create_a_french_name_in_modified_utf7(lab: Lab, imap: imaplib.IMAP4_SSL) -> None:
    wire_name = '"Archiv&AOk- 2026"'  # "Archivé 2026": é is U+00E9, "AOk" in modified base64
    assert imap.create(wire_name)[0] == "OK"
    account = lab.store.account(ADDRESS)
    assert account is not None
    assert lab.store.folder(account.id, "Archivé 2026") is not None
    _, listed = imap.list(pattern='"Archiv&AOk- *"')
    assert listed == [b'(\\HasNoChildren) "/" "Archiv&AOk- 2026"']
    assert "[ALREADYEXISTS]" in error_of(lambda: imap.create(wire_name))
    assert "mUTF-7" in error_of(lambda: imap.create('"Archiv&AOk 2026"'))  # no closing "-"
    assert "mUTF-7" in error_of(lambda: imap.create('"&AGE-"'))  # "a" must not be encoded
    assert imap.select(wire_name)[0] == "OK"


def test_create_refuses_bad_names(imap: imaplib.IMAP4_SSL) -> None:
    for name in ('"a//b"', '"/a"', '"a*"', '""'):
        assert "NO" in error_of(lambda name=name: imap.create(name))


def test_delete(lab: Lab, imap: imaplib.IMAP4_SSL, events: list[Event]) -> None:
    imap.create("Vieux")
    put(lab, text_message(), "Vieux")
    assert imap.delete("Vieux")[0] == "OK"
    assert ("mailbox.deleted", "Vieux", 1) in [
        (e.kind, e.data.get("folder"), e.data.get("messages")) for e in events
    ]
    assert imap.list(pattern="Vieux")[1] == [None]
    assert "[NONEXISTENT]" in error_of(lambda: imap.delete("Vieux"))
    assert "[CANNOT]" in error_of(lambda: imap.delete("INBOX"))
    imap.create("Parent/Enfant")
    assert "children" in error_of(lambda: imap.delete("Parent"))


def test_rename_moves_the_children_and_keeps_the_messages(
    lab: Lab, imap: imaplib.IMAP4_SSL
) -> None:
    imap.create("Cours/Maths")
    put(lab, text_message(), "Cours/Maths")
    assert imap.rename("Cours", "Classe")[0] == "OK"
    _, listed = imap.list(pattern="Classe*")
    assert listed == [b'(\\HasChildren) "/" "Classe"', b'(\\HasNoChildren) "/" "Classe/Maths"']
    assert imap.select("Classe/Maths") == ("OK", [b"1"])
    assert "[NONEXISTENT]" in error_of(lambda: imap.rename("Cours", "Autre"))
    assert "[ALREADYEXISTS]" in error_of(lambda: imap.rename("Classe", "Sent"))
    assert "[CANNOT]" in error_of(lambda: imap.rename("Classe", "Classe/Sous"))


def test_rename_inbox_moves_its_messages_and_leaves_it_empty(
    lab: Lab, imap: imaplib.IMAP4_SSL
) -> None:
    put(lab, text_message("un"))
    put(lab, text_message("deux"))
    assert imap.rename("INBOX", "Ancienne_boite")[0] == "OK"
    assert imap.select("INBOX") == ("OK", [b"0"])
    assert imap.select("Ancienne_boite") == ("OK", [b"2"])


def test_subscribe_unsubscribe_and_lsub(imap: imaplib.IMAP4_SSL) -> None:
    assert imap.unsubscribe("Junk")[0] == "OK"
    _, subscribed = imap.lsub()
    assert b'() "/" "Junk"' not in subscribed and b'() "/" "INBOX"' in subscribed
    assert imap.subscribe("Junk")[0] == "OK"
    assert b'() "/" "Junk"' in imap.lsub()[1]
    assert "[NONEXISTENT]" in error_of(lambda: imap.subscribe("Nulle-part"))


def test_status(lab: Lab, imap: imaplib.IMAP4_SSL, connect) -> None:  # type: ignore[no-untyped-def]
    put(lab, text_message("lu"), flags=("\\Seen",))
    put(lab, text_message("pas lu"))
    folder = lab.store.folder(lab.store.account(ADDRESS).id, "INBOX")  # type: ignore[union-attr]
    assert folder is not None
    _, (line,) = imap.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert (
        line
        == (
            f'"INBOX" (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY {folder.uidvalidity} UNSEEN 1)'
        ).encode()
    )
    imap.select("INBOX")  # this session now owns \Recent: nobody else sees it as recent
    assert imap.status("INBOX", "(RECENT)")[1] == [b'"INBOX" (RECENT 2)']
    assert connect().status("INBOX", "(RECENT)")[1] == [b'"INBOX" (RECENT 0)']
    assert "BAD" in error_of(lambda: imap.status("INBOX", "(SIZE)"))
    assert "[NONEXISTENT]" in error_of(lambda: imap.status("Nulle-part", "(MESSAGES)"))


def test_select_and_examine_give_the_response_codes(lab: Lab, wire: Wire) -> None:
    put(lab, text_message("lu"), flags=("\\Seen", "$Important"))
    put(lab, text_message("pas lu"))
    folder = lab.store.folder(lab.store.account(ADDRESS).id, "INBOX")  # type: ignore[union-attr]
    assert folder is not None
    assert wire.command("a", "SELECT INBOX") == [
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important)\r\n",
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important \\*)]"
        b" Flags permitted.\r\n",
        b"* 2 EXISTS\r\n",
        b"* 2 RECENT\r\n",
        b"* OK [UNSEEN 2] First unseen.\r\n",
        f"* OK [UIDVALIDITY {folder.uidvalidity}] UIDs valid\r\n".encode(),
        b"* OK [UIDNEXT 3] Predicted next UID\r\n",
        b"a OK [READ-WRITE] Select completed.\r\n",
    ]
    examined = wire.command("b", "EXAMINE INBOX")
    assert b"* OK [PERMANENTFLAGS ()] Flags permitted.\r\n" in examined
    assert examined[-1] == b"b OK [READ-ONLY] Examine completed.\r\n"
    assert wire.command("c", "SELECT Nulle-part")[-1].startswith(b"c NO [NONEXISTENT]")
    # A failed SELECT leaves no mailbox selected (RFC 3501 section 6.3.1).
    assert wire.command("d", "FETCH 1 FLAGS")[-1].startswith(b"d BAD")


def test_namespace_id_and_enable(
    lab: Lab, imap: imaplib.IMAP4_SSL, tls_context: ssl.SSLContext
) -> None:
    assert imap.namespace() == ("OK", [b'(("" "/")) NIL NIL'])
    assert imap.enable("CONDSTORE")[0] == "OK"  # nothing to enable: ENABLED lists nothing
    wire = Wire.imaps(lab, tls_context)
    reply = wire.command("a", 'ID ("name" "Thunderbird" "version" "153.0")')
    assert reply == [b'* ID ("name" "PixLab" "vendor" "PixLab")\r\n', b"a OK ID completed.\r\n"]
    assert wire.command("b", "ID NIL")[-1] == b"b OK ID completed.\r\n"
    assert wire.command("c", 'ID ("name")')[-1].startswith(b"c BAD")
    wire.close()


def test_quota_shows_real_figures_and_setquota_is_refused(
    lab: Lab, imap: imaplib.IMAP4_SSL
) -> None:
    raw = b"Subject: x\r\n\r\n" + b"a" * 5000 + b"\r\n"
    put(lab, raw)
    quota_kb = lab.store.account(ADDRESS).quota_bytes // 1024  # type: ignore[union-attr]
    typ, (roots, quotas) = imap.getquotaroot("INBOX")
    assert roots == [b'"INBOX" "User quota"']
    assert quotas == [f'"User quota" (STORAGE {len(raw) // 1024} {quota_kb})'.encode()]
    assert imap.getquota('"User quota"')[1] == quotas
    assert "NO" in error_of(lambda: imap.getquota('"autre"'))
    assert "NO" in error_of(lambda: imap.setquota('"User quota"', "(STORAGE 1)"))


def test_quota_alert_at_login_when_the_mailbox_is_nearly_full(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab()
    lab.store.create_account(ADDRESS, PASSWORD, quota_bytes=10_000)
    put(lab, b"Subject: gros\r\n\r\n" + b"a" * 9300 + b"\r\n")
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    wire = Wire.imaps(lab, context)
    lines = wire.command("a", f'LOGIN "{ADDRESS}" "{PASSWORD}"')
    assert lines[0].startswith(b"* OK [ALERT] Your mailbox is 93% full")
    wire.close()


# -- APPEND ----------------------------------------------------------------------------------


def test_append_with_flags_and_date(lab: Lab, imap: imaplib.IMAP4_SSL, events: list[Event]) -> None:
    raw = text_message("brouillon")
    when = imaplib.Time2Internaldate(time.mktime((2026, 1, 12, 9, 30, 0, 0, 0, -1)))
    typ, (reply,) = imap.append("Drafts", "(\\Draft $Todo)", when, raw)
    folder = lab.store.folder(lab.store.account(ADDRESS).id, "Drafts")  # type: ignore[union-attr]
    assert folder is not None
    assert reply == f"[APPENDUID {folder.uidvalidity} 1] Append completed.".encode()
    imap.select("Drafts")
    _, data = imap.fetch("1", "(FLAGS INTERNALDATE RFC822.SIZE)")
    assert b"FLAGS (\\Recent \\Draft $Todo)" in data[0]
    assert f"RFC822.SIZE {len(raw)}".encode() in data[0]
    stamp = imaplib.Internaldate2tuple(data[0])
    assert stamp is not None and time.mktime(stamp) == time.mktime(
        (2026, 1, 12, 9, 30, 0, 0, 0, -1)
    )
    appended = next(e for e in events if e.kind == "message.appended")
    assert appended.data == {
        "folder": "Drafts",
        "uid": 1,
        "size": len(raw),
        "flags": ["$Todo", "\\Draft"],
    }


def test_append_errors(imap: imaplib.IMAP4_SSL) -> None:
    assert "[TRYCREATE]" in error_of(
        lambda: imap.append("Nulle-part", None, None, b"Subject: x\r\n\r\n.")
    )
    assert "zero byte" in error_of(lambda: imap.append("INBOX", None, None, b""))
    assert "BAD" in error_of(
        lambda: imap.append("INBOX", "(\\Bogus)", None, b"Subject: x\r\n\r\n.")
    )
    assert "BAD" in error_of(
        lambda: imap.append("INBOX", None, '"32-Foo-2026 00:00:00 +0000"', b"Subject: x\r\n\r\n.")
    )


def test_append_over_quota_says_overquota(make_lab, events: list[Event] | None = None) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab()
    lab.store.create_account(ADDRESS, PASSWORD, quota_bytes=3000)
    seen: list[Event] = []
    lab.events.subscribe(seen.append)
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    client = imaplib.IMAP4_SSL("127.0.0.1", lab.listener("imaps").port, ssl_context=context)
    client.login(ADDRESS, PASSWORD)
    client.append("Sent", None, None, b"Subject: petit\r\n\r\n" + b"a" * 1000)
    assert "[OVERQUOTA]" in error_of(
        lambda: client.append("Sent", None, None, b"Subject: gros\r\n\r\n" + b"a" * 2500)
    )
    full = next(e for e in seen if e.kind == "quota.exceeded")
    assert full.data["quota"] == 3000 and full.data["folder"] == "Sent"
    # COPY needs room too.
    client.select("Sent")
    client.copy("1", "Archives")
    assert "[OVERQUOTA]" in error_of(lambda: client.copy("1", "Archives"))
    client.logout()


def test_append_with_a_non_synchronising_literal(lab: Lab, tls_context: ssl.SSLContext) -> None:
    wire = Wire.imaps(lab, tls_context)
    wire.command("a", f'LOGIN "{ADDRESS}" "{PASSWORD}"')
    raw = text_message("envoyé", body="x" * 200 + "\r\n")
    wire.send(f'b APPEND "Sent" (\\Seen) {{{len(raw)}+}}\r\n'.encode() + raw + b"\r\n")
    assert wire.line().startswith(b"b OK [APPENDUID ")  # no "+" was needed
    account = lab.store.account(ADDRESS)
    assert account is not None
    sent = lab.store.folder(account.id, "Sent")
    assert sent is not None
    (stored,) = lab.store.messages(sent.id)
    assert lab.store.raw(stored.id) == raw and stored.flags == {"\\Seen"}
    wire.close()


def test_literals_in_login_and_select(lab: Lab, tls_context: ssl.SSLContext) -> None:
    wire = Wire.imaps(lab, tls_context)
    wire.send(f"a LOGIN {{{len(ADDRESS)}}}\r\n")
    assert wire.line() == b"+ OK\r\n"
    wire.send(f"{ADDRESS} {{{len(PASSWORD)}+}}\r\n{PASSWORD}\r\n")
    assert wire.line().startswith(b"a OK [CAPABILITY")
    assert wire.command("b", 'SELECT "IN\\"BOX"')[-1].startswith(b"b NO [NONEXISTENT]")
    assert wire.command("c", 'SELECT "inbox"')[-1] == f"c {R.IMAP_SELECTED}\r\n".encode()
    wire.close()


# -- FETCH ---------------------------------------------------------------------------------


def test_bodystructure_of_alternative_with_a_pdf_and_its_sections(
    lab: Lab, imap: imaplib.IMAP4_SSL, events: list[Event]
) -> None:
    raw = bulletin()
    put(lab, raw)
    imap.select("INBOX")
    _, data = imap.fetch("1", "(BODYSTRUCTURE)")
    (structure,) = sexp(data[0].split(b" ", 1)[1])
    (_, bs) = structure
    alternative, pdf, subtype = bs[0], bs[1], bs[2]
    assert subtype == "MIXED" and bs[3][0] == "boundary"
    plain, html, alt_subtype = alternative[0], alternative[1], alternative[2]
    assert alt_subtype == "ALTERNATIVE"
    assert plain[:3] == ["TEXT", "PLAIN", ["charset", "utf-8"]]
    assert html[:2] == ["TEXT", "HTML"]
    assert pdf[:2] == ["APPLICATION", "PDF"] and pdf[5] == "BASE64"
    assert pdf[8] == ["attachment", ["filename", "bulletin.pdf"]]

    _, data = imap.fetch("1", "(BODY.PEEK[1.1] BODY.PEEK[1.2] BODY.PEEK[2] BODY.PEEK[2.MIME])")
    text, page, attachment = (
        fetched(data, "BODY[1.1]"),
        fetched(data, "BODY[1.2]"),
        fetched(data, "BODY[2]"),
    )
    # The sizes and line counts the client was given are those of what it then receives.
    assert (plain[6], plain[7]) == (len(text), 2)
    assert html[6] == len(page) and pdf[6] == len(attachment)
    assert text == b"Bonjour,\r\nvoici le bulletin du trimestre.\r\n"
    assert base64.b64decode(attachment) == PDF
    assert b"Content-Disposition: attachment" in fetched(data, "BODY[2.MIME]")

    _, data = imap.fetch("1", "(BODY.PEEK[2]<4.10> BODY.PEEK[TEXT]<0.2048> BODY.PEEK[99])")
    assert fetched(data, "BODY[2]<4>") == attachment[4:14]
    assert fetched(data, "BODY[TEXT]<0>") == raw.split(b"\r\n\r\n", 1)[1][:2048]
    assert data[-1] == b" BODY[99] NIL)"
    retrieved = [e.data["section"] for e in events if e.kind == "message.retrieved"]
    assert retrieved == ["1.1", "1.2", "2", "2", "TEXT"]  # no event for a part that is not there


def test_body_structure_of_a_forwarded_message(lab: Lab, imap: imaplib.IMAP4_SSL) -> None:
    inner = email.message_from_bytes(text_message("original", body="Le message transfere.\r\n"))
    outer = EmailMessage()
    outer["Subject"] = "Tr: original"
    outer["From"] = ADDRESS
    outer.set_content("Voir ci-dessous.\n")
    outer.add_attachment(inner)
    put(lab, outer.as_bytes(policy=SMTP))
    imap.select("INBOX")
    _, data = imap.fetch("1", "(BODY BODY.PEEK[2.HEADER.FIELDS (SUBJECT)] BODY.PEEK[2.TEXT])")
    assert fetched(data, "BODY[2.HEADER.FIELDS (SUBJECT)]") == b"Subject: original\r\n\r\n"
    assert fetched(data, "BODY[2.TEXT]") == b"Le message transfere.\r\n"
    (item,) = sexp(data[0][0].split(b" ", 1)[1].rsplit(b" BODY[", 1)[0] + b")")
    body = item[1]
    message_part = body[1]
    assert message_part[:2] == ["MESSAGE", "RFC822"]
    assert message_part[7][1] == "original"  # the envelope of the embedded message
    assert message_part[8][:2] == ["TEXT", "PLAIN"]  # and its own structure


def test_envelope_and_the_simple_items(lab: Lab, imap: imaplib.IMAP4_SSL) -> None:
    raw = text_message(
        "Reunion",
        Cc="Le CPE <cpe@lycee-exemple.test>, vie@lycee-exemple.test",
        Reply_To="secretariat@lycee-exemple.test",
    )
    put(lab, raw, when=1_768_206_600)
    imap.select("INBOX")
    _, data = imap.fetch("1", "(UID RFC822.SIZE INTERNALDATE ENVELOPE)")
    line = data[0] if isinstance(data[0], bytes) else data[0][0] + data[0][1] + data[1]
    assert b"UID 1 " in line and f"RFC822.SIZE {len(raw)}".encode() in line
    assert b'INTERNALDATE "12-Jan-2026 08:30:00 +0000"' in line
    envelope = sexp(line.split(b"ENVELOPE ", 1)[1].removesuffix(b")"))[0]
    assert envelope[0] == "Mon, 12 Jan 2026 09:30:00 +0100"
    assert envelope[2] == [["Mme Martin", None, "prof", "lycee-exemple.test"]]
    assert envelope[3] == envelope[2]  # Sender defaults to From
    assert envelope[4] == [[None, None, "secretariat", "lycee-exemple.test"]]
    assert envelope[6] == [
        ["Le CPE", None, "cpe", "lycee-exemple.test"],
        [None, None, "vie", "lycee-exemple.test"],
    ]
    assert envelope[1] == "Reunion" and envelope[5] == [[None, None, "eleve", "lycee-exemple.test"]]
    assert (envelope[7], envelope[8], envelope[9]) == (None, None, "<Reunion@lycee>")


def test_rfc822_items_and_macros(lab: Lab, imap: imaplib.IMAP4_SSL) -> None:
    raw = text_message("macro")
    put(lab, raw, flags=("\\Seen",))
    imap.select("INBOX")
    _, data = imap.fetch("1", "(RFC822.HEADER RFC822.TEXT)")
    assert fetched(data, "RFC822.HEADER") + fetched(data, "RFC822.TEXT") == raw
    _, data = imap.fetch("1", "RFC822")
    assert fetched(data, "RFC822") == raw
    _, data = imap.fetch("1", "FAST")
    assert re.fullmatch(
        rb'1 \(FLAGS \(\\Recent \\Seen\) INTERNALDATE "[^"]+" RFC822.SIZE \d+\)', data[0]
    )
    _, data = imap.fetch("1", "ALL")
    assert b"ENVELOPE (" in data[0] and b"BODY" not in data[0]
    _, data = imap.fetch("1", "FULL")
    assert b'BODY ("TEXT" "PLAIN"' in data[0]


def test_seen_is_set_by_body_but_not_by_body_peek(
    lab: Lab, imap: imaplib.IMAP4_SSL, events: list[Event]
) -> None:
    put(lab, text_message())
    imap.select("INBOX")
    _, data = imap.fetch("1", "(BODY.PEEK[])")
    assert b"FLAGS" not in data[0][0]
    assert imap.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS (\\Recent))"]
    _, data = imap.fetch("1", "(BODY[])")
    assert b"FLAGS (\\Recent \\Seen)" in b"".join(p if isinstance(p, bytes) else p[0] for p in data)
    assert imap.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS (\\Recent \\Seen))"]
    flagged = [e for e in events if e.kind == "message.flagged"]
    assert [(e.data["uid"], e.data["added"], e.data["via"]) for e in flagged] == [
        (1, ["\\Seen"], "FETCH")
    ]


def test_examine_never_sets_seen(lab: Lab, imap: imaplib.IMAP4_SSL) -> None:
    put(lab, text_message())
    imap.select("INBOX", readonly=True)
    imap.fetch("1", "(RFC822)")
    assert imap.fetch("1", "(FLAGS)")[1] == [b"1 (FLAGS ())"]


def test_fetch_errors(lab: Lab, imap: imaplib.IMAP4_SSL) -> None:
    put(lab, text_message())
    imap.select("INBOX")
    assert "Invalid messageset" in error_of(lambda: imap.fetch("2", "(FLAGS)"))
    assert "BAD" in error_of(lambda: imap.fetch("0", "(FLAGS)"))
    assert "Unknown FETCH attribute" in error_of(lambda: imap.fetch("1", "(FLAGS BOGUS)"))
    assert "BAD" in error_of(lambda: imap.fetch("1", "(BODY[1.BOGUS])"))
    assert "BAD" in error_of(lambda: imap.fetch("1", "(BODY[]<0.0>)"))
    assert imap.uid("FETCH", "99", "(FLAGS)") == ("OK", [None])  # UIDs that are not there: no error
    assert imap.uid("FETCH", "5:*", "(FLAGS)")[1] == [b"1 (UID 1 FLAGS (\\Recent))"]


# -- STORE, SEARCH, COPY, MOVE, EXPUNGE -----------------------------------------------------


def test_store_flags(lab: Lab, imap: imaplib.IMAP4_SSL, events: list[Event]) -> None:
    for n in range(3):
        put(lab, text_message(f"m{n}"))
    imap.select("INBOX")
    assert imap.store("1:2", "+FLAGS", "(\\Flagged $Todo)")[1] == [
        b"1 (FLAGS (\\Recent \\Flagged $Todo))",
        b"2 (FLAGS (\\Recent \\Flagged $Todo))",
    ]
    assert imap.store("2", "-FLAGS", "($Todo)")[1] == [b"2 (FLAGS (\\Recent \\Flagged))"]
    assert imap.store("3", "FLAGS.SILENT", "(\\Answered)")[1] == [None]
    assert imap.uid("STORE", "3", "+FLAGS", "(\\Seen)")[1] == [
        b"3 (UID 3 FLAGS (\\Recent \\Answered \\Seen))"
    ]
    assert "BAD" in error_of(lambda: imap.store("1", "+FLAGS", "(\\Recent)"))
    assert "BAD" in error_of(lambda: imap.store("1", "BOGUS", "(\\Seen)"))
    changes = [
        (e.data["uid"], e.data["added"], e.data["removed"])
        for e in events
        if e.kind == "message.flagged"
    ]
    assert changes == [
        (1, ["$Todo", "\\Flagged"], []),
        (2, ["$Todo", "\\Flagged"], []),
        (2, [], ["$Todo"]),
        (3, ["\\Answered"], []),
        (3, ["\\Seen"], []),
    ]
    imap.select("INBOX", readonly=True)
    assert "read-only" in error_of(lambda: imap.store("1", "+FLAGS", "(\\Seen)"))


def test_search_keys(lab: Lab, imap: imaplib.IMAP4_SSL) -> None:
    day = 86_400
    jan12 = 1_768_176_000  # 2026-01-12 00:00 UTC
    put(
        lab,
        text_message("Devoir de maths", body="Exercice 3 page 42\r\n"),
        flags=("\\Seen",),
        when=jan12 + 3600,
    )
    put(
        lab,
        text_message(
            "Sortie scolaire",
            body="Rendez-vous à 8 h\r\n",
            From="Le CPE <cpe@lycee-exemple.test>",
            Date="Tue, 13 Jan 2026 10:00:00 +0100",
            X_Classe="2nde B",
        ),
        flags=("\\Flagged", "\\Answered"),
        when=jan12 + day + 3600,
    )
    put(
        lab,
        text_message(
            "=?utf-8?q?R=C3=A9sultats?=", body="x" * 3000 + "\r\n", To="parents@lycee-exemple.test"
        ),
        flags=("\\Deleted",),
        when=jan12 + 2 * day + 3600,
    )
    imap.select("INBOX")
    cases = {
        "ALL": "1 2 3",
        "SEEN": "1",
        "UNSEEN": "2 3",
        "FLAGGED": "2",
        "UNFLAGGED": "1 3",
        "DELETED": "3",
        "UNDELETED": "1 2",
        "ANSWERED": "2",
        "UNANSWERED": "1 3",
        "NEW": "2 3",
        "OLD": "",
        "RECENT": "1 2 3",
        'FROM "cpe@"': "2",
        'FROM "martin"': "1 3",
        'TO "parents"': "3",
        'SUBJECT "maths"': "1",
        'SUBJECT "résultats"': "3",  # RFC 2047 words are decoded before matching
        'BODY "page 42"': "1",
        'TEXT "sortie"': "2",
        'TEXT "rendez-vous"': "2",
        'HEADER X-Classe "2nde"': "2",
        'HEADER X-Classe ""': "2",
        "SINCE 13-Jan-2026": "2 3",
        "BEFORE 13-Jan-2026": "1",
        "ON 13-Jan-2026": "2",
        "SENTON 13-Jan-2026": "2",
        "SENTBEFORE 13-Jan-2026": "1 3",
        "LARGER 1000": "3",
        "SMALLER 1000": "1 2",
        "UID 2:3": "2 3",
        "UID 3:*": "3",
        "2:*": "2 3",
        "1,3": "1 3",
        "NOT SEEN": "2 3",
        "OR SEEN FLAGGED": "1 2",
        "OR (SEEN) (FLAGGED ANSWERED)": "1 2",
        "(UNSEEN UNDELETED)": "2",
        "UNSEEN NOT (DELETED)": "2",
        "KEYWORD $Todo": "",
        "UNKEYWORD $Todo": "1 2 3",
    }
    wrong = {}
    for criteria, expected in cases.items():
        typ, data = imap.search(
            "UTF-8" if "é" in criteria else None, criteria.encode() if "é" in criteria else criteria
        )
        if typ != "OK" or data[0].decode() != expected:
            wrong[criteria] = (typ, data, expected)
    assert wrong == {}
    assert imap.uid("SEARCH", "FLAGGED") == ("OK", [b"2"])


def test_search_errors(lab: Lab, imap: imaplib.IMAP4_SSL) -> None:
    put(lab, text_message())
    imap.select("INBOX")
    assert "[BADCHARSET" in error_of(lambda: imap.search("KOI8-R", "ALL"))
    assert "BAD" in error_of(lambda: imap.search(None, "BOGUS"))
    assert "BAD" in error_of(lambda: imap.search(None, "SINCE 32-Jan-2026"))
    assert "BAD" in error_of(lambda: imap.search(None, "LARGER"))
    assert "BAD" in error_of(lambda: imap.search(None, "NOT " * 100 + "ALL"))


def test_copy_gives_copyuid_and_trycreate(
    lab: Lab, imap: imaplib.IMAP4_SSL, events: list[Event]
) -> None:
    for n in range(3):
        put(lab, text_message(f"m{n}"), flags=("\\Flagged",))
    put(lab, text_message("déjà"), "Archives")
    archives = lab.store.folder(lab.store.account(ADDRESS).id, "Archives")  # type: ignore[union-attr]
    assert archives is not None
    imap.select("INBOX")
    typ, (reply,) = imap.copy("1,3", "Archives")
    assert reply == f"[COPYUID {archives.uidvalidity} 1,3 2:3] Copy completed.".encode()
    assert imap.select("INBOX") == ("OK", [b"3"])  # the originals stay
    imap.select("Archives")
    assert imap.fetch("2:3", "(FLAGS)")[1] == [
        b"2 (FLAGS (\\Recent \\Flagged))",
        b"3 (FLAGS (\\Recent \\Flagged))",
    ]
    imap.select("INBOX")
    assert "[TRYCREATE]" in error_of(lambda: imap.copy("1", "Nulle-part"))
    assert imap.uid("COPY", "99", "Archives")[0] == "OK"  # no such UID: nothing to copy
    copies = [
        (e.data["uid"], e.data["to"], e.data["new_uid"])
        for e in events
        if e.kind == "message.copied"
    ]
    assert copies == [(1, "Archives", 2), (3, "Archives", 3)]


def test_uid_move_answers_copyuid_then_expunges(
    lab: Lab, imap: imaplib.IMAP4_SSL, events: list[Event]
) -> None:
    for n in range(3):
        put(lab, text_message(f"m{n}"))
    archives = lab.store.folder(lab.store.account(ADDRESS).id, "Archives")  # type: ignore[union-attr]
    assert archives is not None
    imap.select("INBOX")
    typ, data = imap.uid("MOVE", "2:3", "Archives")
    assert typ == "OK"
    assert imap.untagged_responses.pop("OK")[-1] == (
        f"[COPYUID {archives.uidvalidity} 2:3 1:2] Moved UIDs.".encode()
    )
    assert imap.untagged_responses.pop("EXPUNGE") == [b"2", b"2"]
    assert imap.uid("SEARCH", "ALL") == ("OK", [b"1"])
    assert imap.select("Archives") == ("OK", [b"2"])
    moved = [
        (e.data["uid"], e.data["to"], e.data["new_uid"])
        for e in events
        if e.kind == "message.moved"
    ]
    assert moved == [(2, "Archives", 1), (3, "Archives", 2)]
    imap.select("INBOX")
    assert "[CANNOT]" in error_of(lambda: imap.uid("MOVE", "1", "INBOX"))


def test_expunge_uid_expunge_close_and_unselect(
    lab: Lab, imap: imaplib.IMAP4_SSL, events: list[Event]
) -> None:
    for n in range(6):
        put(lab, text_message(f"m{n}"), flags=("\\Deleted",) if n in (1, 2, 4, 5) else ())
    imap.select("INBOX")
    assert imap.uid("EXPUNGE", "1:3")[0] == "OK"
    assert imap.untagged_responses.pop("EXPUNGE") == [b"2", b"2"]  # UIDs 2 and 3
    assert imap.uid("SEARCH", "ALL") == ("OK", [b"1 4 5 6"])
    assert imap.expunge() == ("OK", [b"3", b"3"])  # UIDs 5 and 6, numbered as they go
    assert imap.uid("SEARCH", "ALL") == ("OK", [b"1 4"])
    imap.store("1", "+FLAGS", "(\\Deleted)")
    assert imap.unselect()[0] == "OK"  # UNSELECT expunges nothing
    assert imap.select("INBOX") == ("OK", [b"2"])
    assert imap.close()[0] == "OK"  # CLOSE does, silently
    assert imap.select("INBOX", readonly=True) == ("OK", [b"1"])
    assert "read-only" in error_of(imap.expunge)
    deleted = sorted(e.data["uid"] for e in events if e.kind == "message.deleted")
    assert deleted == [1, 2, 3, 5, 6]


def test_other_sessions_get_untagged_updates(lab: Lab, connect) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        put(lab, text_message(f"m{n}"))
    phone, laptop = connect(), connect()
    phone.select("INBOX")
    laptop.select("INBOX")
    laptop.store("2", "+FLAGS", "(\\Seen \\Deleted)")
    put(lab, text_message("nouveau"))
    phone.noop()
    assert phone.untagged_responses.pop("FETCH") == [
        b"2 (UID 2 FLAGS (\\Recent \\Deleted \\Seen))"  # \\Recent: the phone saw it first
    ]
    assert phone.untagged_responses.pop("EXISTS")[-1] == b"4"  # after SELECT's 3
    laptop.expunge()
    # RFC 3501 section 7.4.1: a FETCH must not shift the numbers under the client's feet…
    phone.fetch("3", "(UID)")
    assert "EXPUNGE" not in phone.untagged_responses
    # …NOOP can.
    phone.noop()
    assert phone.untagged_responses.pop("EXPUNGE") == [b"2"]
    assert phone.uid("SEARCH", "ALL") == ("OK", [b"1 3 4"])


def test_deleting_the_selected_mailbox_in_another_session_ends_the_session(
    lab: Lab,
    connect,  # type: ignore[no-untyped-def]
) -> None:
    first, second = connect(), connect()
    first.create("Temporaire")
    first.select("Temporaire")
    second.delete("Temporaire")
    with pytest.raises(imaplib.IMAP4.abort):
        first.noop()
    assert first.untagged_responses["BYE"] == [R.IMAP_BYE_MAILBOX_DELETED[6:].encode()]


# -- one store for every protocol -------------------------------------------------------------


def idle_until(wire: Wire, pattern: bytes, timeout: float) -> list[bytes]:
    """Read IDLE updates until one matches `pattern`; fail after `timeout` seconds."""
    wire.sock.settimeout(timeout)
    lines = []
    while not re.search(pattern, lines[-1] if lines else b""):
        lines.append(wire.line())
    wire.sock.settimeout(5)
    return lines


def test_smtp_delivery_shows_up_in_an_idle_session_within_a_second(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    wire = Wire.imaps(lab, tls_context)
    wire.command("a", f'LOGIN "{ADDRESS}" "{PASSWORD}"')
    wire.command("b", "SELECT INBOX")
    wire.send("c IDLE\r\n")
    assert wire.line() == b"+ idling\r\n"
    started = time.monotonic()
    with smtplib.SMTP("127.0.0.1", lab.listener("smtp").port, timeout=5) as smtp:
        smtp.sendmail(OTHER, [ADDRESS], text_message("Arrivé par SMTP"))
    idle_until(wire, rb"^\* 1 EXISTS\r\n$", timeout=1.0)
    assert time.monotonic() - started < 1.0 + 0.5  # the SMTP exchange itself takes some time
    wire.send("DONE\r\n")
    assert wire.until("c")[-1] == b"c OK Idle completed.\r\n"
    lines = wire.command("d", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert "Subject: Arrivé par SMTP\r\n".encode() in lines[0]
    wire.close()


def test_a_change_made_from_another_thread_wakes_idle(
    lab: Lab, tls_context: ssl.SSLContext
) -> None:
    """The web views change the store from their own threads; IDLE must hear of it too."""
    put(lab, text_message("premier"))
    wire = Wire.imaps(lab, tls_context)
    wire.command("a", f'LOGIN "{ADDRESS}" "{PASSWORD}"')
    wire.command("b", "SELECT INBOX")
    wire.send("c IDLE\r\n")
    wire.line()
    account = lab.store.account(ADDRESS)
    assert account is not None
    (message,) = lab.store.messages(lab.store.folder(account.id, "INBOX").id)  # type: ignore[union-attr]
    threading.Thread(target=lab.store.set_flags, args=([message.id], ["\\Seen"])).start()
    assert idle_until(wire, rb"FETCH", timeout=1.0)[-1] == (
        b"* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen))\r\n"
    )
    wire.send("DONE\r\n")
    wire.until("c")
    wire.close()


def test_pop3_dele_and_quit_expunges_in_imap(lab: Lab, tls_context: ssl.SSLContext) -> None:
    put(lab, text_message("un"))
    put(lab, text_message("deux"))
    wire = Wire.imaps(lab, tls_context)
    wire.command("a", f'LOGIN "{ADDRESS}" "{PASSWORD}"')
    wire.command("b", "SELECT INBOX")
    wire.send("c IDLE\r\n")
    wire.line()
    pop = poplib.POP3_SSL("127.0.0.1", lab.listener("pop3s").port, context=tls_context, timeout=5)
    pop.user(ADDRESS)
    pop.pass_(PASSWORD)
    pop.dele(1)
    pop.quit()
    assert idle_until(wire, rb"EXPUNGE", timeout=1.0)[-1] == b"* 1 EXPUNGE\r\n"
    wire.send("DONE\r\n")
    wire.until("c")
    assert wire.command("d", "UID SEARCH ALL")[0] == b"* SEARCH 2\r\n"
    wire.close()


def test_imap_move_to_archives_disappears_from_pop3(
    lab: Lab, imap: imaplib.IMAP4_SSL, tls_context: ssl.SSLContext
) -> None:
    put(lab, text_message("à garder"))
    put(lab, text_message("à archiver"))
    imap.select("INBOX")
    imap.uid("MOVE", "2", "Archives")
    pop = poplib.POP3_SSL("127.0.0.1", lab.listener("pop3s").port, context=tls_context, timeout=5)
    pop.user(ADDRESS)
    pop.pass_(PASSWORD)
    _, listing, _ = pop.list()
    assert len(listing) == 1
    assert "Subject: à garder".encode() in pop.retr(1)[1]
    pop.quit()


# -- Thunderbird, as measured against Dovecot --------------------------------------------------


def test_thunderbird_session_transcript(lab: Lab, tls_context: ssl.SSLContext) -> None:
    put(lab, text_message("Premier"), flags=("\\Seen",))
    raw = bulletin()
    put(lab, raw)
    wire = Wire.imaps(lab, tls_context)
    assert wire.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
    wire.send("1 authenticate PLAIN\r\n")
    assert wire.line() == b"+ \r\n"
    wire.send(base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode()) + b"\r\n")
    assert re.fullmatch(rb"1 OK \[CAPABILITY IMAP4rev1 .*\bMOVE\b.*\] Logged in\r\n", wire.line())
    assert wire.command("2", "namespace")[0] == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
    assert wire.command("3", 'ID ("name" "Thunderbird" "version" "153.0")')[-1] == (
        b"3 OK ID completed.\r\n"
    )
    listing = wire.command("4", 'list (subscribed) "" "*" return (special-use)')
    assert b'* LIST (\\HasNoChildren \\Subscribed \\Sent) "/" "Sent"\r\n' in listing
    assert wire.command("5", 'list "" "INBOX"')[0] == b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n'
    selected = wire.command("6", 'select "INBOX"')
    assert (
        b"* 2 EXISTS\r\n" in selected and selected[-1] == b"6 OK [READ-WRITE] Select completed.\r\n"
    )
    assert b"* OK [UNSEEN 2] First unseen.\r\n" in selected
    status = wire.command("7", 'STATUS "INBOX" (UIDNEXT MESSAGES UNSEEN RECENT)')
    assert status[0] == b'* STATUS "INBOX" (UIDNEXT 3 MESSAGES 2 UNSEEN 1 RECENT 2)\r\n'
    assert wire.command("8", "UID fetch 1:* (FLAGS)")[:2] == [
        b"* 1 FETCH (UID 1 FLAGS (\\Recent \\Seen))\r\n",
        b"* 2 FETCH (UID 2 FLAGS (\\Recent))\r\n",
    ]
    headers = wire.command(
        "9",
        "UID fetch 1:2 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc "
        "Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To "
        "Content-Type Reply-To Received)])",
    )
    assert len(headers) == 3 and b"Subject: Bulletin du trimestre\r\n" in headers[1]
    assert b"Content-Type: multipart/mixed;" in headers[1]
    whole = wire.command("10", "UID fetch 2 (UID RFC822.SIZE BODY.PEEK[])")
    assert whole[0].endswith(b" BODY[] {%d}\r\n" % len(raw) + raw + b")\r\n")
    preview = wire.command("11", "UID fetch 2 (UID RFC822.SIZE BODY.PEEK[TEXT]<0.2048>)")
    assert preview[0].startswith(b"* 2 FETCH (UID 2 RFC822.SIZE ")
    assert b" BODY[TEXT]<0> {" in preview[0]

    wire.send("12 IDLE\r\n")
    assert wire.line() == b"+ idling\r\n"
    put(lab, text_message("Pendant IDLE"))
    assert idle_until(wire, rb"EXISTS", timeout=1.0)[0] == b"* 3 EXISTS\r\n"
    wire.send("DONE\r\n")
    assert wire.until("12")[-1] == b"12 OK Idle completed.\r\n"
    assert wire.command("13", "noop")[-1] == b"13 OK NOOP completed.\r\n"
    assert wire.command("14", "UID store 2 +Flags (\\Seen)")[0] == (
        b"* 2 FETCH (UID 2 FLAGS (\\Recent \\Seen))\r\n"
    )
    moved = wire.command("15", 'UID move 1 "Archives"')
    assert moved[0].startswith(b"* OK [COPYUID ") and moved[1] == b"* 1 EXPUNGE\r\n"
    sent = text_message("Réponse", body="y" * (404 - len(text_message("Réponse", body=""))))
    assert len(sent) == 404
    wire.send(b'16 APPEND "Sent" (\\Seen) {404+}\r\n' + sent + b"\r\n")
    assert re.fullmatch(rb"16 OK \[APPENDUID \d+ 1\] Append completed\.\r\n", wire.line())
    # Thunderbird often just drops the connection; the lab must not mind.
    wire.close()
    again = Wire.imaps(lab, tls_context)
    assert again.command("a", f'LOGIN "{ADDRESS}" "{PASSWORD}"')[-1].startswith(b"a OK")
    again.close()


def test_five_connections_at_once_like_thunderbird(lab: Lab, connect) -> None:  # type: ignore[no-untyped-def]
    put(lab, text_message())
    sessions = [connect() for _ in range(5)]
    for n, session in enumerate(sessions):
        assert session.select("INBOX" if n % 2 else "Sent")[0] == "OK"
    for session in sessions:
        session.shutdown()  # no LOGOUT, as Thunderbird does when it quits
    sessions.clear()
    assert connect().select("INBOX") == ("OK", [b"1"])


def test_events_follow_a_session(lab: Lab, imap: imaplib.IMAP4_SSL, events: list[Event]) -> None:
    put(lab, text_message())
    imap.select("INBOX")
    imap.fetch("1", "(BODY[])")
    imap.create("Dossier")
    imap.rename("Dossier", "Classeur")
    kinds = [e.kind for e in events if e.account == ADDRESS]
    assert kinds[:4] == [
        "mailbox.selected",
        "message.flagged",
        "message.retrieved",
        "mailbox.created",
    ]
    assert "mailbox.renamed" in kinds
    selected = next(e for e in events if e.kind == "mailbox.selected")
    assert selected.data == {"folder": "INBOX", "read_only": False, "messages": 1}
    assert selected.listener == "imaps" and selected.tls is True
