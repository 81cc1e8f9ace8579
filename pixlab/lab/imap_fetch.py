"""FETCH data (RFC 3501 sections 6.4.5 and 7.4.2): attributes, ENVELOPE, BODYSTRUCTURE, sections.

The MIME structure always comes from the standard `email` package. Bytes that
a client may compare with sizes it was given (a part's body, whose length is in
BODYSTRUCTURE) are taken from the same place both times: the message exactly as
stored for the whole message, its header and its text; the parser's own payload
for a leaf part; the generator's output for an embedded message or a nested
multipart.
"""

from __future__ import annotations

import email
import email.utils
import io
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32

from pixlab.lab.imap_parser import Atom, ImapSyntaxError, Token, quote, tokenize

# compat32 keeps header values as received; no re-folding, CRLF on output.
_POLICY = compat32.clone(linesep="\r\n", max_line_length=None)
_FOLD = re.compile(r"\r?\n(?=[ \t])")

# RFC 3501 section 6.4.5: the macros.
MACROS = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
SIMPLE = frozenset(
    {
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
        "UID",
        "ENVELOPE",
        "BODYSTRUCTURE",
        "BODY",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
    }
)
# The items that need the message's bytes (everything else comes from the listing).
NEEDS_CONTENT = frozenset(
    {"ENVELOPE", "BODYSTRUCTURE", "BODY", "SECTION", "RFC822", "RFC822.HEADER", "RFC822.TEXT"}
)
_SECTION_ITEM = re.compile(r"(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d{1,10})\.(\d{1,10})>)?", re.I)
_SECTION_TEXTS = ("", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME")


@dataclass(frozen=True)
class Section:
    """A body section (RFC 3501 section 6.4.5): part numbers, then HEADER, TEXT, MIME…"""

    part: tuple[int, ...] = ()
    text: str = ""
    fields: tuple[str, ...] = ()

    def label(self) -> str:
        """The section as echoed in the reply: `1.2.HEADER.FIELDS (FROM TO)`."""
        spec = ".".join([*map(str, self.part), *([self.text] if self.text else [])])
        if self.fields:
            spec += " (" + " ".join(self.fields) + ")"
        return spec


@dataclass(frozen=True)
class FetchItem:
    """One thing a FETCH asked for."""

    name: str  # one of SIMPLE, or "SECTION" for BODY[...] and BODY.PEEK[...]
    section: Section | None = None
    peek: bool = True
    partial: tuple[int, int] | None = None

    @property
    def sets_seen(self) -> bool:
        """Whether fetching this marks the message \\Seen (RFC 3501 section 6.4.5)."""
        return self.name in ("RFC822", "RFC822.TEXT") or (self.name == "SECTION" and not self.peek)

    @property
    def is_body(self) -> bool:
        """Whether this downloads some of the message's body (for the event log)."""
        return self.name in ("RFC822", "RFC822.TEXT") or (
            self.name == "SECTION"
            and self.section is not None
            and self.section.text not in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "MIME")
        )


def parse_fetch_items(token: Token) -> list[FetchItem]:
    """The attribute list of a FETCH: a macro, one attribute, or a parenthesised list."""
    if isinstance(token, Atom) and token.upper() in MACROS:
        return [FetchItem(name) for name in MACROS[token.upper()]]
    tokens = token if isinstance(token, list) else [token]
    if not tokens:
        raise ImapSyntaxError("Invalid arguments: empty fetch attribute list.")
    return [_fetch_item(t) for t in tokens]


def _fetch_item(token: Token) -> FetchItem:
    if not isinstance(token, Atom):
        raise ImapSyntaxError("Invalid fetch attribute.")
    name = token.upper()
    if name in SIMPLE:
        return FetchItem(name)
    match = _SECTION_ITEM.fullmatch(token)
    if match is None:
        raise ImapSyntaxError(f"Unknown FETCH attribute '{token[:40]}'")
    partial = None
    if match[3] is not None:
        if int(match[4]) == 0:
            raise ImapSyntaxError("Invalid partial: the length must not be 0.")
        partial = (int(match[3]), int(match[4]))
    peek = match[1].upper() == "BODY.PEEK"
    return FetchItem("SECTION", parse_section(match[2]), peek, partial)


def parse_section(spec: str) -> Section:
    """The text between the brackets of BODY[...]."""
    head, _, rest = spec.partition(" ")
    names = head.split(".") if head else []
    numbers: list[int] = []
    while names and names[0].isdigit():
        number = int(names.pop(0))
        if number == 0:
            raise ImapSyntaxError("Invalid section: part numbers start at 1.")
        numbers.append(number)
    text = ".".join(names).upper()
    if text not in _SECTION_TEXTS or (text == "MIME" and not numbers):
        raise ImapSyntaxError(f"Invalid section '{spec[:60]}'")
    fields: tuple[str, ...] = ()
    if text.startswith("HEADER.FIELDS"):
        tokens = tokenize(rest.encode("ascii"))
        if len(tokens) != 1 or not isinstance(tokens[0], list) or not tokens[0]:
            raise ImapSyntaxError("Invalid section: HEADER.FIELDS needs a list of names.")
        fields = tuple(_field_name(t) for t in tokens[0])
    elif rest:
        raise ImapSyntaxError(f"Invalid section '{spec[:60]}'")
    return Section(tuple(numbers), text, fields)


def _field_name(token: Token) -> str:
    name = token.decode("ascii", "replace") if isinstance(token, bytes) else token
    if isinstance(name, list) or not re.fullmatch(r"[!-9;-~]+", name):
        raise ImapSyntaxError("Invalid header field name.")
    return name.upper()


# -- the message, parsed once ------------------------------------------------------


class ParsedMessage:
    """A stored message with its MIME tree, ready to answer any FETCH attribute."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._message: Message | None = None
        self._headers: Message | None = None
        if raw.startswith(b"\r\n"):
            self.header, self.text = b"\r\n", raw[2:]
        else:
            end = raw.find(b"\r\n\r\n")
            self.header, self.text = (raw, b"") if end < 0 else (raw[: end + 4], raw[end + 4 :])

    @property
    def message(self) -> Message:
        """The whole MIME tree, parsed on first use."""
        if self._message is None:
            self._message = email.message_from_bytes(self.raw, policy=compat32)
        return self._message

    @property
    def headers(self) -> Message:
        """The top-level header fields only: listing a mailbox needs no more than that."""
        if self._message is not None:
            return self._message
        if self._headers is None:
            self._headers = email.message_from_bytes(self.header, policy=compat32)
        return self._headers

    # -- sections ----------------------------------------------------------

    def section(self, section: Section) -> bytes | None:
        """The bytes of a section, or None when the message has no such part."""
        if not section.part and section.text != "MIME":
            # The top level's header and text are split already: no MIME tree to
            # build for BODY[], BODY[HEADER], BODY[TEXT] or the header fields.
            return self._select(lambda: self.headers, self.header, self.text, section)
        entity = self._entity(section.part)
        if entity is None:
            return None
        if section.text == "MIME":
            return _header_lines(entity.raw_items()) + b"\r\n"
        if section.text == "":
            return self._body(entity)
        # HEADER and TEXT of a part refer to the message it encapsulates.
        inner = _embedded(entity)
        if inner is None:
            return None
        header, text = _split(_generate(inner))
        return self._select(lambda: inner, header, text, section)

    def _select(
        self, message: Callable[[], Message], header: bytes, text: bytes, section: Section
    ) -> bytes:
        if section.text == "":
            return header + text
        if section.text == "TEXT":
            return text
        if section.text == "HEADER":
            return header
        wanted = {f.lower() for f in section.fields}
        keep = section.text == "HEADER.FIELDS"
        items = [(n, v) for n, v in message().raw_items() if (n.lower() in wanted) == keep]
        return _header_lines(items) + b"\r\n"

    def _entity(self, numbers: tuple[int, ...]) -> Message | None:
        entity = self.message
        for number in numbers:
            inner = _embedded(entity) if entity is not self.message else None
            entity = inner or entity
            if _is_multipart(entity):
                parts = _parts(entity)
                if not 1 <= number <= len(parts):
                    return None
                entity = parts[number - 1]
            elif number != 1:
                return None
        return entity

    def _body(self, entity: Message) -> bytes:
        """A part's body as transferred: what BODY[n] returns and BODYSTRUCTURE measures."""
        if entity is self.message:
            return self.text
        inner = _embedded(entity)
        if inner is not None:
            return _generate(inner)
        if isinstance(entity.get_payload(), str):
            return _raw_payload(entity)
        return _split(_generate(entity))[1]

    # -- ENVELOPE and BODYSTRUCTURE -----------------------------------------

    def envelope(self) -> bytes:
        """The ENVELOPE of the message (RFC 3501 section 7.4.2)."""
        return envelope(self.headers)

    def bodystructure(self, extensible: bool = True) -> bytes:
        """BODYSTRUCTURE (extensible) or BODY (basic) of the message."""
        return self._structure(self.message, extensible)

    def _structure(self, part: Message, extensible: bool) -> bytes:
        if _is_multipart(part):
            children = b"".join(self._structure(p, extensible) for p in _parts(part))
            out = children + b" " + quote(part.get_content_subtype().upper())
            if extensible:
                out += b" " + b" ".join(
                    (_params(part), _disposition(part), _language(part), _location(part))
                )
            return b"(" + out + b")"
        maintype, subtype = part.get_content_maintype(), part.get_content_subtype()
        inner = _embedded(part)
        if maintype == "multipart" or (maintype == "message" and subtype == "rfc822" and not inner):
            # A multipart without parts or an unparsable embedded message: Dovecot's
            # choice, read it as plain text rather than describe what is not there.
            maintype, subtype = "text", "plain"
        body = self._body(part)
        fields = [
            quote(maintype.upper()),
            quote(subtype.upper()),
            _params(part, default_charset=maintype == "text"),
            quote(_raw_header(part, "Content-ID")),
            quote(_raw_header(part, "Content-Description")),
            quote((_raw_header(part, "Content-Transfer-Encoding") or "7BIT").strip().upper()),
            str(len(body)).encode(),
        ]
        if inner is not None:
            fields += [envelope(inner), self._structure(inner, extensible), _lines(body)]
        elif maintype == "text":
            fields.append(_lines(body))
        if extensible:
            fields += [
                quote(_raw_header(part, "Content-MD5")),
                _disposition(part),
                _language(part),
                _location(part),
            ]
        return b"(" + b" ".join(fields) + b")"


def envelope(message: Message) -> bytes:
    """date subject from sender reply-to to cc bcc in-reply-to message-id, as raw header text."""
    sender = _addresses(message, "From")
    fields = [
        quote(_raw_header(message, "Date")),
        quote(_raw_header(message, "Subject")),
        sender,
        # RFC 3501 section 7.4.2: Sender and Reply-To default to From.
        _addresses(message, "Sender") if message.get("Sender") else sender,
        _addresses(message, "Reply-To") if message.get("Reply-To") else sender,
        _addresses(message, "To"),
        _addresses(message, "Cc"),
        _addresses(message, "Bcc"),
        quote(_raw_header(message, "In-Reply-To")),
        quote(_raw_header(message, "Message-ID")),
    ]
    return b"(" + b" ".join(fields) + b")"


def _addresses(message: Message, name: str) -> bytes:
    value = _raw_header(message, name)
    if not value:
        return b"NIL"
    out = []
    for display, address in email.utils.getaddresses([value]):
        if not address:
            continue
        mailbox, at, host = address.rpartition("@")
        if not at:
            mailbox, host = address, ""
        out.append(
            b"("
            + b" ".join((quote(display or None), b"NIL", quote(mailbox), quote(host or None)))
            + b")"
        )
    return b"(" + b"".join(out) + b")" if out else b"NIL"


def _raw_header(message: Message, name: str) -> str | None:
    wanted = name.lower()
    for key, value in message.raw_items():
        if key.lower() == wanted:
            return _FOLD.sub("", value).strip()
    return None


def _header_lines(items: object) -> bytes:
    lines = [f"{name}: {value}\r\n" for name, value in items]  # type: ignore[attr-defined]
    return as_bytes("".join(lines))


def _parts(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def as_bytes(text: str) -> bytes:
    """Text from the compat32 parser back to the bytes it was read from.

    The parser keeps undecodable bytes as surrogates; a part it decoded itself
    (an embedded message) may also hold real non-ASCII characters, sent as UTF-8.
    """
    return text.encode("utf-8", "surrogateescape")


def _is_multipart(part: Message) -> bool:
    return part.get_content_maintype() == "multipart" and bool(_parts(part))


def _embedded(part: Message) -> Message | None:
    if part.get_content_type() not in ("message/rfc822", "message/global"):
        return None
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    return None


def _raw_payload(part: Message) -> bytes:
    # compat32's get_payload() decodes 8-bit text with the part's charset and
    # replaces what does not decode; the bytes as received are only in _payload.
    payload = part._payload  # type: ignore[attr-defined]
    return as_bytes(payload) if isinstance(payload, str) else b""


def _generate(part: Message) -> bytes:
    out = io.BytesIO()
    try:
        BytesGenerator(out, mangle_from_=False, policy=_POLICY).flatten(part, unixfrom=False)
    except (UnicodeError, LookupError, ValueError, TypeError):
        # A broken structure the stdlib cannot write back (8-bit text where a
        # multipart should be): give its header and its body as they came.
        return _header_lines(part.raw_items()) + b"\r\n" + _raw_payload(part)
    return out.getvalue()


def _split(data: bytes) -> tuple[bytes, bytes]:
    end = data.find(b"\r\n\r\n")
    return (data, b"") if end < 0 else (data[: end + 4], data[end + 4 :])


def _lines(body: bytes) -> bytes:
    count = body.count(b"\n") + (1 if body and not body.endswith(b"\n") else 0)
    return str(count).encode()


def _param_pairs(part: Message, header: str) -> list[tuple[str, str]]:
    params = part.get_params(header=header) or []
    pairs = []
    for key, value in params[1:]:
        if isinstance(value, tuple):
            # RFC 2231 parameter: give it back encoded, as it came (filename*=utf-8''…).
            charset, language, text = value
            encoded = urllib.parse.quote(text.encode("latin-1", "replace"), safe="")
            pairs.append((key + "*", f"{charset or ''}'{language or ''}'{encoded}"))
        else:
            pairs.append((key, value))
    return pairs


def _params(part: Message, default_charset: bool = False) -> bytes:
    pairs = _param_pairs(part, "content-type")
    if default_charset and not any(k.lower() == "charset" for k, _ in pairs):
        pairs.append(("charset", "us-ascii"))  # RFC 2045 section 5.2: the default
    if not pairs:
        return b"NIL"
    return b"(" + b" ".join(quote(k.lower()) + b" " + quote(v) for k, v in pairs) + b")"


def _disposition(part: Message) -> bytes:
    if part.get("Content-Disposition") is None:
        return b"NIL"
    params = part.get_params(header="content-disposition") or [("", "")]
    kind = params[0][0] or "attachment"
    pairs = _param_pairs(part, "content-disposition")
    inner = b"(" + b" ".join(quote(k.lower()) + b" " + quote(v) for k, v in pairs) + b")"
    return b"(" + quote(kind.lower()) + b" " + (inner if pairs else b"NIL") + b")"


def _language(part: Message) -> bytes:
    value = _raw_header(part, "Content-Language")
    if not value:
        return b"NIL"
    tags = [t.strip() for t in value.split(",") if t.strip()]
    return b"(" + b" ".join(quote(t) for t in tags) + b")" if tags else b"NIL"


def _location(part: Message) -> bytes:
    return quote(_raw_header(part, "Content-Location"))
