"""IMAP4rev1 syntax (RFC 3501 section 9): commands, strings, sequence sets, dates, mailbox names.

A command arrives as one byte string in which every literal is already inline
(`{n}` CRLF and its n bytes), so parsing never waits on the network. The
tokenizer turns it into atoms, strings and nested lists; each verb then reads
the arguments it expects from that list and raises `ImapSyntaxError` otherwise.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

MAX_DEPTH = 16  # nested parentheses; real clients use 3 at most
DELIMITER = "/"  # the hierarchy delimiter the lab announces in LIST and NAMESPACE

# RFC 3501 section 2.3.2: the system flags. Any other flag is a keyword.
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
_SYSTEM_BY_LOWER = {f.lower(): f for f in SYSTEM_FLAGS}
RECENT = "\\Recent"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {m.lower(): i for i, m in enumerate(_MONTHS, 1)}
# atom-specials (RFC 3501 section 9) other than the CTLs and SP, checked separately.
_ATOM_SPECIALS = frozenset(b'(){"\\')
_LITERAL = re.compile(rb"\{(\d{1,20})(\+?)\}")
_TAG = re.compile(r"[\x21-\x7e]+")


class ImapSyntaxError(ValueError):
    """The client's command does not follow the grammar: answered with BAD."""


class Atom(str):
    """An atom as sent (case kept); strings are `bytes`, lists are `list`."""


Token = Atom | bytes | list  # type: ignore[type-arg]


@dataclass(frozen=True)
class Command:
    """One parsed command: its tag, its name in upper case, its arguments."""

    tag: str
    name: str
    args: list[Token]
    uid: bool = False


def literal_at_end(line: bytes) -> tuple[int, bool] | None:
    """The size of the literal a line announces (`{n}` or `{n+}` at its end), and if it is `+`."""
    if not line.endswith(b"}"):
        return None
    start = line.rfind(b"{")
    match = _LITERAL.fullmatch(line, start) if start >= 0 else None
    if match is None:
        return None
    return int(match[1]), match[2] == b"+"


def tag_of(line: bytes) -> str:
    """The tag a line starts with, or "*" when there is no usable one (for BAD replies)."""
    first = line.split(b" ", 1)[0].decode("ascii", "replace")
    if _TAG.fullmatch(first) and not any(c in first for c in '+(){%*"\\'):
        return first
    return "*"


def parse_command(data: bytes) -> Command:
    """Split a complete command into tag, name and tokens.

    Raises:
        ImapSyntaxError: no tag, no command name, or arguments that do not tokenize.
    """
    tag = tag_of(data)
    if tag == "*":
        raise ImapSyntaxError("Error in IMAP command received by server.")
    rest = data[len(tag) + 1 :] if data[len(tag) : len(tag) + 1] == b" " else b""
    name, _, rest = rest.partition(b" ")
    if not re.fullmatch(rb"[A-Za-z]{1,20}", name):
        raise ImapSyntaxError("Error in IMAP command received by server.")
    verb = name.decode("ascii").upper()
    uid = False
    if verb == "UID":
        name, _, rest = rest.partition(b" ")
        if not re.fullmatch(rb"[A-Za-z]{1,20}", name):
            raise ImapSyntaxError("Error in IMAP command UID: Missing command name.")
        verb, uid = name.decode("ascii").upper(), True
    return Command(tag, verb, tokenize(rest), uid)


def tokenize(data: bytes) -> list[Token]:
    """Atoms, quoted strings, literals and parenthesised lists, as nested Python lists."""
    stack: list[list[Token]] = [[]]
    pos, end = 0, len(data)
    while pos < end:
        byte = data[pos]
        if byte == 0x20:
            pos += 1
        elif byte == 0x28:  # (
            if len(stack) > MAX_DEPTH:
                raise ImapSyntaxError("Too deeply nested lists.")
            inner: list[Token] = []
            stack[-1].append(inner)
            stack.append(inner)
            pos += 1
        elif byte == 0x29:  # )
            if len(stack) == 1:
                raise ImapSyntaxError("Unexpected ')'.")
            stack.pop()
            pos += 1
        elif byte == 0x22:  # "
            text, pos = _quoted(data, pos + 1)
            stack[-1].append(text)
        elif byte == 0x7B:  # {
            match = _LITERAL.match(data, pos)
            if match is None or data[match.end() : match.end() + 2] != b"\r\n":
                raise ImapSyntaxError("Invalid literal.")
            start = match.end() + 2
            size = int(match[1])
            if start + size > end:
                raise ImapSyntaxError("Literal is shorter than announced.")
            stack[-1].append(data[start : start + size])
            pos = start + size
        else:
            atom, pos = _atom(data, pos)
            stack[-1].append(Atom(atom))
    if len(stack) != 1:
        raise ImapSyntaxError("Missing ')'.")
    return stack[0]


def _quoted(data: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while pos < len(data):
        byte = data[pos]
        if byte == 0x22:
            return bytes(out), pos + 1
        if byte == 0x5C:  # RFC 3501 section 9: only \" and \\ are escapes.
            if pos + 1 >= len(data) or data[pos + 1] not in b'"\\':
                raise ImapSyntaxError("Invalid escape in quoted string.")
            out.append(data[pos + 1])
            pos += 2
            continue
        if byte in b"\r\n\0":
            raise ImapSyntaxError("Invalid character in quoted string.")
        out.append(byte)
        pos += 1
    raise ImapSyntaxError("Missing '\"'.")


def _atom(data: bytes, pos: int) -> tuple[str, int]:
    # A FETCH attribute such as BODY[HEADER.FIELDS (From To)]<0.100> is one token:
    # what is between the brackets may hold spaces and parentheses.
    start = pos
    while pos < len(data):
        byte = data[pos]
        if byte == 0x5B:  # [
            close = data.find(b"]", pos)
            if close < 0:
                raise ImapSyntaxError("Missing ']'.")
            if any(b < 0x20 or b > 0x7E for b in data[pos:close]):
                raise ImapSyntaxError("Invalid characters in section.")
            pos = close + 1
            continue
        if byte == 0x20 or byte in b"()":
            break
        if byte < 0x21 or byte > 0x7E or (byte in _ATOM_SPECIALS and not _flag_start(data, pos)):
            raise ImapSyntaxError("Invalid characters in atom.")
        pos += 1
    return data[start:pos].decode("ascii"), pos


def _flag_start(data: bytes, pos: int) -> bool:
    # The backslash of a flag (\Seen) or of the wildcard flag \* starts an atom-like token.
    return data[pos] == 0x5C and (pos == 0 or data[pos - 1] in b" (")


# -- reading arguments ---------------------------------------------------------


def text(token: Token, what: str = "argument") -> str:
    """An astring (atom, quoted or literal) as text; UTF-8 is accepted, as RFC 6855 allows."""
    if isinstance(token, Atom):
        return str(token)
    if isinstance(token, bytes):
        try:
            return token.decode("utf-8")
        except UnicodeDecodeError:
            raise ImapSyntaxError(f"Invalid {what}: not UTF-8.") from None
    raise ImapSyntaxError(f"Invalid {what}: a list where a string was expected.")


def atom(token: Token, what: str = "argument") -> str:
    """An atom in upper case."""
    if not isinstance(token, Atom):
        raise ImapSyntaxError(f"Invalid {what}.")
    return token.upper()


def expect(args: Sequence[Token], count: int | tuple[int, int], usage: str) -> None:
    """Check the number of arguments; `usage` says what was expected."""
    low, high = (count, count) if isinstance(count, int) else count
    if not low <= len(args) <= high:
        raise ImapSyntaxError(f"Invalid arguments: {usage}")


def parse_flags(tokens: Iterable[Token], allow_recent: bool = False) -> frozenset[str]:
    """System flags in their canonical case, keywords as sent (RFC 3501 section 2.3.2)."""
    flags: set[str] = set()
    for token in tokens:
        if not isinstance(token, Atom) or not token:
            raise ImapSyntaxError("Invalid flag.")
        if token.startswith("\\"):
            system = _SYSTEM_BY_LOWER.get(token.lower())
            if system is None:
                if token.lower() == RECENT.lower() and allow_recent:
                    continue
                raise ImapSyntaxError(f"Invalid system flag {token[:40]}")
            flags.add(system)
        elif any(c in token for c in "*%]["):
            raise ImapSyntaxError(f"Invalid keyword {token[:40]}")
        else:
            flags.add(str(token))
    return frozenset(flags)


# -- sequence sets (RFC 3501 section 9, seq-set) --------------------------------

_SEQ_NUMBER = r"(?:[1-9][0-9]{0,9}|\*)"
_SEQ_SET = re.compile(rf"{_SEQ_NUMBER}(?::{_SEQ_NUMBER})?(?:,{_SEQ_NUMBER}(?::{_SEQ_NUMBER})?)*")
SequenceSet = list[tuple[int | None, int | None]]  # None stands for "*"
MAX_NUMBER = 4_294_967_295  # nz-number: UIDs and sequence numbers are 32-bit


def is_sequence_set(token: Token) -> bool:
    """Whether a token is a sequence set such as `1:4,7,9:*`."""
    return isinstance(token, Atom) and _SEQ_SET.fullmatch(token) is not None


def parse_sequence_set(token: Token) -> SequenceSet:
    """Ranges of numbers; `*` is None until the mailbox gives it a value."""
    if not is_sequence_set(token):
        raise ImapSyntaxError("Invalid messageset")
    ranges: SequenceSet = []
    for item in str(token).split(","):
        first, _, last = item.partition(":")
        low = None if first == "*" else int(first)
        high = low if not last else (None if last == "*" else int(last))
        if any(n is not None and n > MAX_NUMBER for n in (low, high)):
            raise ImapSyntaxError("Invalid messageset")
        ranges.append((low, high))
    return ranges


def resolve_sequence_set(ranges: SequenceSet, largest: int) -> list[tuple[int, int]]:
    """Ranges as ordered (low, high) pairs, `*` being the largest number in use."""
    out = []
    for low, high in ranges:
        a = largest if low is None else low
        b = largest if high is None else high
        out.append((min(a, b), max(a, b)))
    return out


# -- dates (RFC 3501 section 9, date and date-time) ------------------------------

_DATE_TIME = re.compile(r"([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")
_DATE = re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})")


def parse_date_time(value: str) -> int:
    """An APPEND date-time such as `17-Jul-1996 02:44:25 -0700` as Unix seconds."""
    match = _DATE_TIME.fullmatch(value)
    month = _MONTH_NUMBER.get(match[2].lower()) if match else None
    if match is None or month is None:
        raise ImapSyntaxError("Invalid date-time.")
    try:
        offset = timedelta(hours=int(match[8]), minutes=int(match[9]))
        zone = timezone(offset if match[7] == "+" else -offset)
        when = datetime(
            int(match[3]),
            month,
            int(match[1]),
            int(match[4]),
            int(match[5]),
            int(match[6]),
            tzinfo=zone,
        )
    except ValueError:
        raise ImapSyntaxError("Invalid date-time.") from None
    return int(when.timestamp())


def parse_date(token: Token) -> date:
    """A SEARCH date such as `1-Feb-1994`."""
    match = _DATE.fullmatch(text(token, "date"))
    month = _MONTH_NUMBER.get(match[2].lower()) if match else None
    if match is None or month is None:
        raise ImapSyntaxError("Invalid search date.")
    try:
        return date(int(match[3]), month, int(match[1]))
    except ValueError:
        raise ImapSyntaxError("Invalid search date.") from None


def format_date_time(seconds: int) -> str:
    """INTERNALDATE as `17-Jul-1996 09:44:25 +0000` (the lab keeps UTC)."""
    when = datetime.fromtimestamp(seconds, UTC)
    return f"{when.day:02d}-{_MONTHS[when.month - 1]}-{when:%Y %H:%M:%S} +0000"


def utc_date(seconds: int) -> date:
    """The calendar day of a Unix time, in UTC (how SINCE/BEFORE/ON read INTERNALDATE)."""
    return datetime.fromtimestamp(seconds, UTC).date()


def day_start(day: date) -> int:
    """Unix seconds at midnight UTC of a day."""
    return calendar.timegm(day.timetuple())


# -- mailbox names: modified UTF-7 (RFC 3501 section 5.1.3) ---------------------


def encode_mailbox(name: str) -> str:
    """A Unicode folder name in modified UTF-7, as it travels on the wire."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ","))
            out.append("-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode_mailbox(wire: str) -> str:
    """A folder name from modified UTF-7; raises ImapSyntaxError if it is not valid mUTF-7."""
    out: list[str] = []
    pos = 0
    while pos < len(wire):
        char = wire[pos]
        if not 0x20 <= ord(char) <= 0x7E:
            raise ImapSyntaxError("Mailbox name is not valid mUTF-7")
        if char != "&":
            out.append(char)
            pos += 1
            continue
        end = wire.find("-", pos)
        if end < 0:
            raise ImapSyntaxError("Mailbox name is not valid mUTF-7")
        chunk = wire[pos + 1 : end]
        if not chunk:
            out.append("&")
        else:
            try:
                padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
                raw = base64.b64decode(padded, validate=True)
                out.append(raw.decode("utf-16-be"))
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise ImapSyntaxError("Mailbox name is not valid mUTF-7") from None
        pos = end + 1
    name = "".join(out)
    # Only the shortest encoding is valid: round-tripping catches "&AGE-" for "a".
    if encode_mailbox(name) != wire:
        raise ImapSyntaxError("Mailbox name is not valid mUTF-7")
    return name


def mailbox_name(token: Token) -> str:
    """A mailbox argument as a Unicode folder name (INBOX in any case becomes INBOX)."""
    if isinstance(token, list):
        raise ImapSyntaxError("Invalid mailbox name.")
    try:
        wire = token.decode("ascii") if isinstance(token, bytes) else str(token)
    except UnicodeDecodeError:
        # RFC 6855 (UTF8=ACCEPT) is not offered, but some clients send raw UTF-8 anyway.
        wire = encode_mailbox(token.decode("utf-8", "replace"))  # type: ignore[union-attr]
    name = decode_mailbox(wire)
    # INBOX is case-insensitive (RFC 3501 section 5.1); its children follow it.
    if name[:5].upper() == "INBOX" and name[5:6] in ("", DELIMITER):
        return "INBOX" + name[5:]
    return name


def list_pattern(reference: str, pattern: str) -> re.Pattern[str]:
    """A LIST pattern as a regular expression: `*` matches anything, `%` stops at the delimiter."""
    if reference.endswith(DELIMITER) and pattern.startswith(DELIMITER):
        pattern = pattern[1:]
    full = reference + pattern
    # INBOX is case-insensitive (RFC 3501 section 5.1); the store always spells it INBOX.
    if full[:5].upper() == "INBOX" and full[5:6] in ("", DELIMITER, "*", "%"):
        full = "INBOX" + full[5:]
    parts = []
    for char in full:
        if char == "*":
            parts.append(".*")
        elif char == "%":
            parts.append(f"[^{re.escape(DELIMITER)}]*")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


# -- writing -----------------------------------------------------------------------


def quote(value: str | bytes | None) -> bytes:
    """An nstring for a reply: NIL, a quoted string, or a literal when quoting cannot carry it."""
    if value is None:
        return b"NIL"
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if any(b > 0x7E or b < 0x20 for b in data) or len(data) > 1024:
        return b"{%d}\r\n" % len(data) + data
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal(data: bytes) -> bytes:
    """Bytes as an IMAP literal (message bodies always go this way)."""
    return b"{%d}\r\n" % len(data) + data


def quote_mailbox(name: str) -> bytes:
    """A folder name as a quoted mUTF-7 string."""
    return quote(encode_mailbox(name))


def flag_list(flags: Iterable[str]) -> str:
    """Flags as a parenthesised list, system flags first."""
    flags = set(flags)
    ordered = [f for f in (RECENT, *SYSTEM_FLAGS) if f in flags]
    ordered += sorted(flags.difference(ordered))
    return "(" + " ".join(ordered) + ")"
