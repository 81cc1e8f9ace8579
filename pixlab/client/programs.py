"""The mail programs a device imitates: their choices, their behaviours and their words.

A program is a skin over the one mail client, not a second client: the same
connections, traces and judging behind every one. What changes is what its
form offers (its own labels, choices and order), and a few behaviours that
change the lesson:

- Thunderbird warns before any server without encryption ("Je comprends les
  risques"); the other programs imitated here do not, so their client never
  asks for that confirmation.
- Mail on iPhone tries SSL and, when it fails, offers to go on without it: the
  dangerous "yes" (`ssl_fallback`) switches SSL off, moves to the port without
  encryption and connects again, the password then in clear.
- K-9 Mail, now Thunderbird for Android, offered "SSL/TLS (si disponible)" and
  "STARTTLS (si disponible)", which accepted every certificate; the second one
  also went on in clear when the server offered no STARTTLS (the security
  values "tls-any-cert" and "starttls-any-cert", see `Security`).
- Outlook's "Automatique" uses STARTTLS when the server offers it and goes on
  without encryption otherwise ("auto"; PixLab's model of that choice).

Each program's words are data: a TOML file beside this module per program
(Thunderbird's are `thunderbird.toml`, with its own module). An entry either
quotes the program, with the `source` it was copied from, or says
`quoted = false`: the real text was not found in a public source, and the
French and English are PixLab's own words, shown as such.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib.resources import files
from typing import Any

from pixlab.client.settings import AccountSettings, Security
from pixlab.typography import LANGUAGES


@dataclass(frozen=True)
class Program:
    """A mail program a device can imitate."""

    id: str
    kinds: tuple[str, ...]  # the devices it runs on ("computer", "phone")
    securities: tuple[str, ...]  # the security choices its form offers, in its order
    warns_before_cleartext: bool = False  # Thunderbird's "Je comprends les risques"
    offers_ssl_fallback: bool = False  # iPhone: "go on without SSL?" once SSL failed
    strings_file: str | None = None  # its words (Thunderbird's have their own module)
    # The security a new account starts with ("": left for the learner to choose). iPhone's
    # form is a switch, which is never blank: SSL starts on.
    first_security: str = ""


S = Security
PROGRAMS: dict[str, Program] = {
    "thunderbird": Program("thunderbird", ("computer", "phone"),
                           (S.NONE, S.STARTTLS, S.TLS), warns_before_cleartext=True),
    "outlook": Program("outlook", ("computer",), (S.NONE, S.TLS, S.STARTTLS, S.AUTOMATIC),
                       strings_file="outlook.toml"),
    "iphone": Program("iphone", ("phone",), (S.TLS, S.NONE), offers_ssl_fallback=True,
                      strings_file="iphone.toml", first_security=S.TLS.value),
    "android": Program("android", ("phone",), (S.NONE, S.TLS_ANY_CERTIFICATE, S.TLS,
                                               S.STARTTLS_ANY_CERTIFICATE, S.STARTTLS),
                       strings_file="android.toml"),
}
DEFAULT_PROGRAM = "thunderbird"  # a device stored before programs ("") is Thunderbird
# What a learner may choose when adding a device of each kind, the first one proposed.
CHOICES: dict[str, tuple[str, ...]] = {"computer": ("thunderbird", "outlook"),
                                       "phone": ("iphone", "android")}
# iPhone's "yes, without SSL": the port each protocol uses without encryption.
PLAIN_PORTS = {"imap": 143, "pop3": 110, "smtp": 587}


def program_of(name: str | None) -> Program:
    """The program a device names ("" or None: Thunderbird). Raises KeyError when unknown."""
    return PROGRAMS[name or DEFAULT_PROGRAM]


def may_run_on(program: str, kind: str) -> bool:
    """Whether a program can be installed on a kind of device."""
    return program in PROGRAMS and kind in PROGRAMS[program].kinds


def with_program(settings: AccountSettings, program: Program) -> AccountSettings:
    """The client's settings as this program uses them.

    A program that never warns before a server without encryption connects
    without asking: the confirmation is as good as given.
    """
    if program.warns_before_cleartext or settings.accepted_cleartext:
        return settings
    return replace(settings, accepted_cleartext=True)


def ssl_fallback(settings: Mapping[str, Any], side: str) -> dict[str, Any]:
    """What iPhone's "yes" to "go on without SSL?" changes in one side's settings.

    SSL off, the port without encryption of the side's protocol: the next
    connection sends the user name and the password in clear.
    """
    protocol = "smtp" if side == "outgoing" else str(settings.get("incoming.protocol") or "imap")
    return {f"{side}.security": Security.NONE.value, f"{side}.port": PLAIN_PORTS[protocol],
            "accepted_cleartext": True}


def offers_ssl_fallback(program: Program, trace: Mapping[str, Any]) -> bool:
    """Whether the program now asks "go on without SSL?": SSL was on and failed to connect."""
    error = trace.get("error") or {}
    return (program.offers_ssl_fallback and trace.get("security") == Security.TLS.value
            and error.get("step") in ("tcp", "tls", "greeting"))


# -- the programs' words ----------------------------------------------------------------


@dataclass(frozen=True)
class ProgramString:
    """One text of a program: French, English, and where it was copied from (None: ours)."""

    fr: str
    en: str
    source: str | None
    note: str = ""

    @property
    def quoted(self) -> bool:
        """Whether this is the program's own text (else PixLab's words, the real one unknown)."""
        return self.source is not None


def _load(name: str) -> dict[str, ProgramString]:
    data = tomllib.loads(files(__package__).joinpath(name).read_text("utf-8"))
    strings = {}
    for key, entry in data["strings"].items():
        quoted = entry.get("quoted", True)
        if quoted == ("source" not in entry):
            raise ValueError(f"{name}: {key} needs a source, or quoted = false without one")
        strings[key] = ProgramString(entry["fr"], entry["en"], entry.get("source"),
                                     entry.get("note", ""))
    return strings


STRINGS: dict[str, dict[str, ProgramString]] = {
    p.id: _load(p.strings_file) for p in PROGRAMS.values() if p.strings_file
}
_PLACEHOLDER = re.compile(r"%%|%(?:(?P<index>\d+)\$)?[sSd]")


def program_string(program: str, key: str) -> ProgramString:
    """One entry of a program's words. Raises KeyError for an unknown program or key."""
    try:
        return STRINGS[program][key]
    except KeyError:
        raise KeyError(f"no string {key!r} for the program {program!r}") from None


def program_words(program: str, key: str, lang: str, *args: str) -> str:
    """The text of `key` in `lang`, its %s (or %1$s) placeholders filled in order.

    Raises KeyError for an unknown key, ValueError for an unknown language or
    a missing argument.
    """
    entry = program_string(program, key)
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: the programs' words are in fr and en")
    position = 0

    def fill(match: re.Match[str]) -> str:
        nonlocal position
        if match.group(0) == "%%":
            return "%"
        if match.group("index"):
            index = int(match.group("index")) - 1
        else:
            index, position = position, position + 1
        if index >= len(args):
            raise ValueError(f"{program}:{key} needs argument {index + 1}")
        return args[index]

    return _PLACEHOLDER.sub(fill, entry.fr if lang == "fr" else entry.en)
