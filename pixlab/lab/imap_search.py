"""SEARCH (RFC 3501 section 6.4.4): search keys parsed into tests, run over a mailbox's messages.

Flag, size, date and number keys use only the mailbox listing; the message is
read and parsed (by the `email` package) only for the keys that look inside it.
"""

from __future__ import annotations

import email.header
import email.utils
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

from pixlab.lab.imap_fetch import ParsedMessage, as_bytes
from pixlab.lab.imap_parser import (
    Atom,
    ImapSyntaxError,
    Token,
    parse_date,
    parse_flags,
    parse_sequence_set,
    resolve_sequence_set,
    text,
    utc_date,
)
from pixlab.lab.store import MessageInfo

MAX_NESTING = 64  # NOT NOT NOT … must not exhaust the interpreter's stack
CHARSETS = ("US-ASCII", "UTF-8")


class BadCharset(Exception):
    """SEARCH CHARSET named a charset the server does not know (answered NO [BADCHARSET])."""


@dataclass
class Candidate:
    """One message as SEARCH sees it; the content is loaded on first use."""

    seq: int
    info: MessageInfo
    recent: bool
    load: Callable[[], ParsedMessage]
    _parsed: ParsedMessage | None = field(default=None, repr=False)

    @property
    def parsed(self) -> ParsedMessage:
        """The message, parsed once."""
        if self._parsed is None:
            self._parsed = self.load()
        return self._parsed


Test = Callable[[Candidate], bool]


@dataclass
class SearchProgram:
    """A parsed SEARCH: its test, and whether any key needs the message content."""

    test: Test
    needs_content: bool


def parse_search(args: list[Token], largest_seq: int, largest_uid: int) -> SearchProgram:
    """Parse `[CHARSET name] key...`.

    Raises:
        ImapSyntaxError: unknown or malformed search keys.
        BadCharset: a charset other than US-ASCII or UTF-8.
    """
    tokens = list(args)
    charset = "utf-8"
    if len(tokens) >= 2 and isinstance(tokens[0], Atom) and tokens[0].upper() == "CHARSET":
        charset = text(tokens[1], "charset").upper()
        if charset not in CHARSETS:
            raise BadCharset(charset)
        tokens = tokens[2:]
    if not tokens:
        raise ImapSyntaxError("Missing search parameters")
    reader = _KeyReader(iter(tokens), charset, largest_seq, largest_uid)
    tests = []
    while (token := next(reader.tokens, None)) is not None:
        tests.append(reader.key(token, 0))
    return SearchProgram(_all_of(tests), reader.needs_content)


def _all_of(tests: list[Test]) -> Test:
    return tests[0] if len(tests) == 1 else (lambda c: all(t(c) for t in tests))


_FLAG_KEYS: dict[str, tuple[str, bool]] = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
}
_HEADER_KEYS = ("BCC", "CC", "FROM", "SUBJECT", "TO")
_DATE_KEYS = ("BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE")


class _KeyReader:
    def __init__(
        self, tokens: Iterator[Token], charset: str, largest_seq: int, largest_uid: int
    ) -> None:
        self.tokens = tokens
        self.charset = charset
        self.largest_seq = largest_seq
        self.largest_uid = largest_uid
        self.needs_content = False

    def _next(self, what: str) -> Token:
        token = next(self.tokens, None)
        if token is None:
            raise ImapSyntaxError(f"Missing argument for {what}")
        return token

    def _string(self, what: str) -> str:
        token = self._next(what)
        if isinstance(token, bytes):
            try:
                return token.decode(self.charset)
            except UnicodeDecodeError:
                raise ImapSyntaxError(f"Invalid {self.charset} string for {what}") from None
        return text(token, what)

    def key(self, token: Token, depth: int) -> Test:  # noqa: C901 - one branch per key
        if depth > MAX_NESTING:
            raise ImapSyntaxError("Search keys nested too deeply")
        if isinstance(token, list):
            if not token:
                raise ImapSyntaxError("Empty search key list")
            inner = _KeyReader(iter(token), self.charset, self.largest_seq, self.largest_uid)
            tests = []
            while (sub := next(inner.tokens, None)) is not None:
                tests.append(inner.key(sub, depth + 1))
            self.needs_content |= inner.needs_content
            return _all_of(tests)
        if isinstance(token, bytes):
            raise ImapSyntaxError("Unknown search key (a string)")
        name = token.upper()
        if name == "ALL":
            return lambda c: True
        if name in _FLAG_KEYS:
            flag, present = _FLAG_KEYS[name]
            return lambda c: (flag in c.info.flags) == present
        if name in ("KEYWORD", "UNKEYWORD"):
            (keyword,) = parse_flags([self._next(name)])
            present = name == "KEYWORD"
            return lambda c: (keyword in c.info.flags) == present
        if name == "RECENT":
            return lambda c: c.recent
        if name == "OLD":
            return lambda c: not c.recent
        if name == "NEW":
            return lambda c: c.recent and "\\Seen" not in c.info.flags
        if name in ("LARGER", "SMALLER"):
            size = self._number(name)
            if name == "LARGER":
                return lambda c: c.info.size > size
            return lambda c: c.info.size < size
        if name in _DATE_KEYS:
            return self._date_key(name, parse_date(self._next(name)))
        if name == "NOT":
            test = self.key(self._next(name), depth + 1)
            return lambda c: not test(c)
        if name == "OR":
            first = self.key(self._next(name), depth + 1)
            second = self.key(self._next(name), depth + 1)
            return lambda c: first(c) or second(c)
        if name == "UID":
            ranges = resolve_sequence_set(parse_sequence_set(self._next(name)), self.largest_uid)
            return lambda c: any(low <= c.info.uid <= high for low, high in ranges)
        if name in _HEADER_KEYS:
            needle = self._string(name).casefold()
            self.needs_content = True
            return lambda c: _header_has(c.parsed, name, needle)
        if name == "HEADER":
            field_name = self._string(name)
            needle = self._string(name).casefold()
            self.needs_content = True
            return lambda c: _header_has(c.parsed, field_name, needle)
        if name in ("BODY", "TEXT"):
            needle = self._string(name).casefold()
            self.needs_content = True
            if name == "BODY":
                return lambda c: needle in _body_text(c.parsed)
            return lambda c: needle in _body_text(c.parsed) or needle in _all_headers(c.parsed)
        try:
            ranges = resolve_sequence_set(parse_sequence_set(token), self.largest_seq)
        except ImapSyntaxError:
            raise ImapSyntaxError(f"Unknown argument {token[:40]}") from None
        return lambda c: any(low <= c.seq <= high for low, high in ranges)

    def _number(self, what: str) -> int:
        token = self._next(what)
        if not isinstance(token, Atom) or not token.isdigit() or len(token) > 20:
            raise ImapSyntaxError(f"Invalid number for {what}")
        return int(token)

    def _date_key(self, name: str, day: date) -> Test:
        if name.startswith("SENT"):
            self.needs_content = True
            get_day: Callable[[Candidate], date] = _sent_day
            name = name[4:]
        else:
            get_day = _internal_day
        # RFC 3501: dates disregard time and time zone.
        if name == "BEFORE":
            return lambda c: get_day(c) < day
        if name == "ON":
            return lambda c: get_day(c) == day
        return lambda c: get_day(c) >= day


def _internal_day(candidate: Candidate) -> date:
    return utc_date(candidate.info.internal_date)


def _sent_day(candidate: Candidate) -> date:
    value = candidate.parsed.message.get("Date")
    try:
        return email.utils.parsedate_to_datetime(str(value)).date()
    except (TypeError, ValueError, IndexError):
        # No usable Date: header; Dovecot falls back to the arrival date, so do we.
        return _internal_day(candidate)


def decoded(value: str) -> str:
    """A header value with RFC 2047 encoded words decoded and raw 8-bit read as UTF-8."""
    value = as_bytes(value).decode("utf-8", "replace")
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _header_has(parsed: ParsedMessage, name: str, needle: str) -> bool:
    wanted = name.lower()
    for key, value in parsed.message.raw_items():
        if key.lower() == wanted and needle in decoded(value).casefold():
            return True
    return False


def _all_headers(parsed: ParsedMessage) -> str:
    return "\n".join(f"{k}: {decoded(v)}" for k, v in parsed.message.raw_items()).casefold()


def _body_text(parsed: ParsedMessage) -> str:
    texts = []
    for part in parsed.message.walk():
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            texts.append(payload.decode(charset, "replace"))
        except LookupError:
            texts.append(payload.decode("utf-8", "replace"))
    return "\n".join(texts).casefold()
