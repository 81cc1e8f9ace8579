"""Property-based tests: the IMAP parser, the MIME code and live sessions fed arbitrary input.

Whatever a client sends, the server answers (tagged or untagged) or closes the
connection cleanly, no exception escapes a session, and the next client is
served. Example counts stay modest so that the file runs in well under a minute.
"""

from __future__ import annotations

import logging
import re
import socket
import string
from typing import Any

import pytest
from conftest import ADDRESS, PASSWORD
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pixlab.lab import replies as R
from pixlab.lab.imap_fetch import ParsedMessage, Section, parse_fetch_items
from pixlab.lab.imap_parser import (
    Atom,
    ImapSyntaxError,
    decode_mailbox,
    encode_mailbox,
    parse_command,
    parse_sequence_set,
    tokenize,
)
from pixlab.lab.imap_search import BadCharset, Candidate, parse_search
from pixlab.lab.runner import Lab
from pixlab.lab.store import MessageInfo, crlf

SAMPLE = (
    b"From: Mme Martin <prof@lycee-exemple.test>\r\nTo: eleve@lycee-exemple.test\r\n"
    b"Subject: =?utf-8?q?R=C3=A9sultats?=\r\nDate: Mon, 12 Jan 2026 09:30:00 +0100\r\n"
    b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour\r\n--B\r\n"
    b"Content-Type: message/rfc822\r\n\r\nSubject: dedans\r\n\r\ncorps\r\n--B--\r\n"
)
BROKEN = b"Content-Type: multipart/mixed\r\nSubject: pas de boundary\r\n\r\n--x\r\nrien\r\n"

# -- the parser and the MIME code, without a network ----------------------------------


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_any_bytes_parse_to_a_command_or_a_syntax_error(data: bytes) -> None:
    try:
        command = parse_command(data)
    except ImapSyntaxError:
        return
    assert command.tag and command.name.isalpha() and command.name.isupper()


# Command-like text, so that the parser gets past the tag and the verb often.
_PIECES = st.sampled_from(
    [
        '"',
        "\\",
        "(",
        ")",
        "[",
        "]",
        "<",
        ">",
        "{",
        "}",
        "{3}\r\nabc",
        "{2+}\r\nxy",
        "{9}\r\n",
        "*",
        "%",
        ":",
        ",",
        "1",
        "0",
        "NIL",
        "BODY[",
        "BODY.PEEK[1.2.HEADER.FIELDS (From)]<0.5>",
        "\\Seen",
        "\r",
        "\n",
        " ",
        '"é"',
        "\x00",
        "\xff",
    ]
)


@given(st.lists(_PIECES, max_size=20).map("".join))
@settings(max_examples=300)
def test_command_like_text_parses_or_is_refused(text: str) -> None:
    data = ("a FETCH " + text).encode("utf-8", "surrogatepass")
    try:
        parse_command(data)
    except ImapSyntaxError:
        pass


@given(st.text(max_size=40))
@settings(max_examples=200)
def test_modified_utf7_round_trips_every_name(name: str) -> None:
    wire = encode_mailbox(name)
    assert all(" " <= c <= "~" for c in wire)
    assert decode_mailbox(wire) == name


@given(st.text(alphabet=string.printable, max_size=30))
@settings(max_examples=200)
def test_decoding_any_ascii_name_succeeds_or_says_it_is_not_mutf7(wire: str) -> None:
    try:
        name = decode_mailbox(wire)
    except ImapSyntaxError as refused:
        assert "mUTF-7" in str(refused)
    else:
        assert encode_mailbox(name) == wire


_SEQUENCE_SET = re.compile(r"([1-9]\d*|\*)(:([1-9]\d*|\*))?(,([1-9]\d*|\*)(:([1-9]\d*|\*))?)*")


@given(st.text(alphabet="0123456789:,*", max_size=20))
@settings(max_examples=200)
def test_sequence_sets(text: str) -> None:
    valid = _SEQUENCE_SET.fullmatch(text) is not None and all(
        int(n) < 2**32 for n in re.findall(r"\d+", text)
    )
    try:
        ranges = parse_sequence_set(Atom(text))
    except ImapSyntaxError:
        assert not valid
        return
    assert valid and len(ranges) == text.count(",") + 1


def _tokens() -> st.SearchStrategy[Any]:
    words = st.sampled_from(
        [
            "ALL",
            "SEEN",
            "UNSEEN",
            "NOT",
            "OR",
            "FROM",
            "SUBJECT",
            "BODY",
            "TEXT",
            "HEADER",
            "SINCE",
            "BEFORE",
            "ON",
            "SENTON",
            "LARGER",
            "SMALLER",
            "UID",
            "KEYWORD",
            "NEW",
            "1:*",
            "2,3",
            "*",
            "1-Jan-2026",
            "32-Foo-2026",
            "10",
            "-1",
            "CHARSET",
            "UTF-8",
            "KOI8-R",
            "FLAGS",
            "UID",
            "BODY[]",
            "BODY[1.MIME]",
            "BODY.PEEK[TEXT]<0.10>",
            "BODY[HEADER.FIELDS (SUBJECT)]",
            "ENVELOPE",
            "BODYSTRUCTURE",
            "FAST",
            "\\Seen",
        ]
    )
    leaves = st.one_of(words.map(lambda w: tokenize(w.encode())[0]), st.binary(max_size=8))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


def _candidate(raw: bytes, seq: int = 1) -> Candidate:
    info = MessageInfo(seq, 1, seq, frozenset({"\\Seen"}), 1_768_176_000, len(raw))
    return Candidate(seq, info, recent=True, load=lambda: ParsedMessage(raw))


@given(st.lists(_tokens(), max_size=6))
@settings(max_examples=300)
def test_search_programs_parse_and_run_or_are_refused(tokens: list[Any]) -> None:
    try:
        program = parse_search(tokens, largest_seq=3, largest_uid=3)
    except (ImapSyntaxError, BadCharset):
        return
    for raw in (SAMPLE, BROKEN, b""):
        assert program.test(_candidate(raw)) in (True, False)


@given(_tokens())
@settings(max_examples=300)
def test_fetch_attributes_parse_or_are_refused(token: Any) -> None:
    try:
        items = parse_fetch_items(token)
    except ImapSyntaxError:
        return
    assert items


_HEADERS = st.sampled_from(
    [
        b"Content-Type: multipart/mixed; boundary=B",
        b"Content-Type: multipart/alternative",
        b"Content-Type: message/rfc822",
        b'Content-Type: text/plain; charset="x"',
        b"Content-Type: application/pdf; name*=utf-8''%C3%A9.pdf",
        b"Content-Disposition: attachment; filename*0=a; filename*1=b",
        b"Content-Transfer-Encoding: base64",
        b"Subject: =?utf-8?q?=C3=A9?=",
        b"From: <>",
        b'From: "a, b" <a@b>, group: c@d;',
        b"To: \xc3\xa9l\xc3\xa8ve@x",
        b"Date: hier",
        b"Content-Language: fr, en",
        b'Content-Type: text/html; charset="',
        b"Subject:",
        b"\tfolded",
        b"--B",
        b"--B--",
        b"",
        b'Content-Type: multipart/mixed; boundary=""',
    ]
)


@given(st.lists(st.one_of(_HEADERS, st.binary(max_size=20)), max_size=20))
@settings(max_examples=200)
def test_any_message_gives_a_structure_an_envelope_and_its_sections(lines: list[bytes]) -> None:
    parsed = ParsedMessage(crlf(b"\r\n".join(lines)))
    assert parsed.bodystructure().startswith(b"(")
    assert parsed.bodystructure(extensible=False).startswith(b"(")
    assert parsed.envelope().startswith(b"(")
    for section in (
        Section(),
        Section((1,)),
        Section((1, 1), "MIME"),
        Section((2,), "HEADER"),
        Section((1,), "TEXT"),
        Section((), "HEADER.FIELDS", ("SUBJECT",)),
        Section((3, 2, 1)),
    ):
        data = parsed.section(section)
        assert data is None or isinstance(data, bytes)


# -- live sessions -----------------------------------------------------------------------------


@pytest.fixture
def fuzz_lab(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    """A lab that allows cleartext on 143 (no TLS to slow the examples), with a few messages."""
    lab = make_lab(allow_cleartext=True, preauth_timeout=5.0, imap_idle_timeout=5.0)
    account = lab.store.create_account(ADDRESS, PASSWORD)
    for raw in (SAMPLE, BROKEN, b"Subject: court\r\n\r\n.\r\n"):
        lab.store.append(account, "INBOX", raw)
    return lab


@pytest.fixture
def escaped(fuzz_lab: Lab, caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """What escaped the sessions: the loop's unhandled errors and our own error logs."""
    seen: list[dict[str, Any]] = []
    assert fuzz_lab.loop is not None
    fuzz_lab.loop.set_exception_handler(lambda _loop, context: seen.append(context))
    caplog.set_level(logging.ERROR, logger="pixlab")
    return seen


_VERBS = st.sampled_from(
    [
        "CAPABILITY",
        "NOOP",
        "LOGOUT",
        "STARTTLS",
        "AUTHENTICATE PLAIN",
        "LOGIN",
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "STATUS",
        "APPEND",
        "CHECK",
        "CLOSE",
        "UNSELECT",
        "EXPUNGE",
        "SEARCH",
        "FETCH",
        "STORE",
        "COPY",
        "MOVE",
        "UID FETCH",
        "UID STORE",
        "UID SEARCH",
        "UID COPY",
        "UID MOVE",
        "UID EXPUNGE",
        "IDLE",
        "DONE",
        "NAMESPACE",
        "ID",
        "ENABLE",
        "GETQUOTAROOT",
        "GETQUOTA",
        "SETQUOTA",
        "FROBNICATE",
    ]
)
_ARGS = st.sampled_from(
    [
        "INBOX",
        "Sent",
        "Archives",
        '"Nulle part"',
        '"Archiv&AOk- 2026"',
        "&Jjo-",
        "Fuzz/Sous",
        '""',
        "*",
        "%",
        "NIL",
        "()",
        "(\\Seen)",
        "(\\Deleted $Todo)",
        "(\\Recent)",
        "1",
        "1:*",
        "*:2",
        "2,4:5",
        "0",
        "99999999999",
        "FLAGS",
        "+FLAGS.SILENT",
        "-FLAGS",
        "BODY[]",
        "BODY.PEEK[HEADER.FIELDS (From Subject)]",
        "BODY[1.2.MIME]",
        "BODY[2.TEXT]<0.10>",
        "(FLAGS UID ENVELOPE BODYSTRUCTURE BODY)",
        "ALL",
        "FAST",
        "RFC822",
        "SEEN",
        "OR SEEN NEW",
        "NOT (FROM x)",
        "SINCE 1-Jan-2026",
        "CHARSET UTF-8",
        "HEADER Subject r",
        "TEXT dedans",
        "(MESSAGES UNSEEN UIDNEXT RECENT)",
        "RETURN (SPECIAL-USE CHILDREN)",
        "(SUBSCRIBED)",
        '"17-Jul-1996 02:44:25 -0700"',
        "{3}\r\nabc",
        "{14+}\r\nSubject: x\r\n\r\n",
        "{0}\r\n",
        "=",
        "AGVsZXZl",
        '("name" "fuzz")',
        '"User quota"',
        "(STORAGE 1)",
    ]
)
_COMMAND = st.builds(
    lambda tag, verb, args: f"{tag} {verb} {' '.join(args)}".rstrip().encode(),
    st.sampled_from(["a", "b1", "T.2", "*", "+", ""]),
    _VERBS,
    st.lists(_ARGS, max_size=4),
)
_NOISE = st.binary(max_size=60)


def _converse(lab: Lab, payload: bytes, timeout: float = 15.0) -> bytes:
    """Send everything, say we are done writing, and read until the server closes."""
    with socket.create_connection(
        ("127.0.0.1", lab.listener("imap").port), timeout=timeout
    ) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := sock.recv(65536):  # a timeout here fails the test: no clean close
            received += chunk
    return bytes(received)


def _check_next_client_is_served(lab: Lab) -> None:
    reply = _converse(lab, b"n NOOP\r\nl LOGOUT\r\n")
    assert reply.startswith(b"* OK [CAPABILITY ") and b"n OK NOOP completed.\r\n" in reply


@given(
    login=st.booleans(),
    select=st.booleans(),
    lines=st.lists(st.one_of(_COMMAND, _COMMAND, _NOISE), max_size=12),
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_sessions_answer_any_command_sequence_or_close_cleanly(
    fuzz_lab: Lab,
    escaped: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    login: bool,
    select: bool,
    lines: list[bytes],
) -> None:
    opening = [f'a LOGIN "{ADDRESS}" "{PASSWORD}"'.encode()] if login else []
    opening += [b"s SELECT INBOX"] if login and select else []
    payload = b"\r\n".join([*opening, *lines, b"z LOGOUT"]) + b"\r\n"
    reply = _converse(fuzz_lab, payload)
    assert reply.startswith(b"* OK [CAPABILITY ")
    assert b"[SERVERBUG]" not in reply, reply
    # Without literals, IDLE, SASL exchanges or TLS to swallow the lines that follow them, the
    # final LOGOUT is answered, unless the server said BYE first (too many bad commands).
    predictable = not any(w in payload for w in (b"{", b"IDLE", b"AUTHENTICATE", b"STARTTLS"))
    if predictable and b"* BYE" not in reply.replace(R.IMAP_BYE_LOGOUT.encode(), b""):
        assert R.IMAP_BYE_LOGOUT.encode() + b"\r\n" in reply
    assert escaped == [] and not [r for r in caplog.records if r.levelno >= logging.ERROR]
    _check_next_client_is_served(fuzz_lab)


@given(st.lists(_NOISE, min_size=1, max_size=8))
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_sessions_survive_raw_bytes_before_and_after_login(
    fuzz_lab: Lab, escaped: list[dict[str, Any]], chunks: list[bytes]
) -> None:
    assume(any(chunks))
    login = f'a LOGIN "{ADDRESS}" "{PASSWORD}"\r\nb SELECT INBOX\r\n'.encode()
    for payload in (b"".join(chunks), login + b"".join(chunks)):
        reply = _converse(fuzz_lab, payload)
        assert reply.startswith(b"* OK [CAPABILITY ") and b"[SERVERBUG]" not in reply
    assert escaped == []
    _check_next_client_is_served(fuzz_lab)
