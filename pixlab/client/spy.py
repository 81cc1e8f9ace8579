"""What a spy on the network learns from captured bytes: credentials sent in clear.

Base64 is not encryption: `AUTH PLAIN` and `AUTH LOGIN` hide nothing from
someone who reads the wire, so they are decoded here just as a spy would.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Credential:
    """A user name or password read off the wire, and the line it was in."""

    kind: str  # "user" or "password"
    value: str
    line: bytes


_IMAP_LOGIN = re.compile(rb'^\S+ LOGIN ("(?:[^"\\]|\\.)*"|\S+) ("(?:[^"\\]|\\.)*"|\S+)$', re.I)


def reveal(client_bytes: bytes) -> list[Credential]:
    """The credentials readable in what a client sent, in order."""
    found: list[Credential] = []
    expecting: str | None = None  # the next line is a SASL response
    for line in client_bytes.split(b"\r\n"):
        words = line.split()
        verb = words[0].upper() if words else b""
        if expecting is not None and line:
            found += _sasl(expecting, line)
            expecting = "LOGIN-PASSWORD" if expecting == "LOGIN-USER" else None
            continue
        if verb in (b"USER", b"PASS") and len(words) > 1:
            kind = "user" if verb == b"USER" else "password"
            found.append(Credential(kind, _text(line.split(b" ", 1)[1]), line))
        elif (match := _IMAP_LOGIN.match(line)) is not None:
            found.append(Credential("user", _unquote(match.group(1)), line))
            found.append(Credential("password", _unquote(match.group(2)), line))
        elif b"AUTH" in verb or (len(words) > 1 and words[1].upper() == b"AUTHENTICATE"):
            mechanism_at = 1 if verb.startswith(b"AUTH") else 2
            mechanism = words[mechanism_at].upper() if len(words) > mechanism_at else b""
            initial = words[mechanism_at + 1] if len(words) > mechanism_at + 1 else None
            if mechanism == b"PLAIN":
                if initial:
                    found += _sasl("PLAIN", initial, line)
                else:
                    expecting = "PLAIN"
            elif mechanism == b"LOGIN":
                if initial:
                    found += _sasl("LOGIN-USER", initial, line)
                    expecting = "LOGIN-PASSWORD"
                else:
                    expecting = "LOGIN-USER"
    return found


def _sasl(mechanism: str, token: bytes, line: bytes | None = None) -> list[Credential]:
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return []
    line = line if line is not None else token
    if mechanism == "PLAIN":
        parts = decoded.split(b"\0")
        if len(parts) == 3:
            return [Credential("user", _text(parts[1]), line),
                    Credential("password", _text(parts[2]), line)]
        return []
    kind = "user" if mechanism == "LOGIN-USER" else "password"
    return [Credential(kind, _text(decoded), line)]


def _unquote(token: bytes) -> str:
    if token.startswith(b'"') and token.endswith(b'"'):
        token = re.sub(rb"\\(.)", rb"\1", token[1:-1])
    return _text(token)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
