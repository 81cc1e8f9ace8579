"""Thunderbird's own words, in French and English, for the learner's mail client.

The texts are data: `thunderbird.toml`, beside this module, holds each one in
both languages with the file and string id it was copied from (see its
header). `thunderbird(key, lang, ...)` gives one, its placeholders filled; an
unknown key is an error, never a silent fallback.

How Thunderbird puts the pieces together, so that the lab shows the same thing:

- POP3: an alert titled ``pop3.error_title`` (with the account name) reading
  the message, then, when the server gave a reason, a space,
  ``pop3.server_said`` (with the host name), a space and the server's text. A
  refused, timed-out or unknown host is reported with the ``pop3.server_not_found``,
  ``pop3.connection_refused`` and ``pop3.connection_timeout`` texts, which come
  from messenger.properties.
- Wrong password (IMAP, POP3 and SMTP alike): the dialog titled
  ``login.failed_title`` (account name) with ``login.failed`` (host name, user
  name) and the buttons ``login.retry_button``, Cancel and
  ``login.new_password_button``. For SMTP, Cancel then leads to its
  "authentication failed" alert (not quoted here).
- SMTP: an alert titled ``smtp.error_title`` reading ``smtp.send_failed``, a line
  break, then the specific message. A refused recipient (unknown user, relay
  denied, full mailbox) is always ``smtp.recipient_refused``, with the server's
  reply and the address; a refused MAIL FROM (which is also where a server
  that wants a login says so) is ``smtp.sender_refused``, except a 552 reply
  (message too big) and 451 or 452 (too many recipients), which have their own.
- Certificate: a notification titled with the brand name ("Thunderbird")
  reading one of the ``cert.*`` texts; a click opens the exception dialog
  (``exception.*``).
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files

from pixlab.typography import LANGUAGES

DATA_FILE = "thunderbird.toml"


def _load() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """The strings by key ({"fr", "en", "source"}) and the brand terms, from the data file."""
    data = tomllib.loads(files(__package__).joinpath(DATA_FILE).read_text("utf-8"))
    strings: dict[str, dict[str, str]] = data["strings"]
    for key, entry in strings.items():
        if "same_as" in entry:  # one text that Thunderbird shows for two errors
            strings[key] = strings[entry["same_as"]]
    return strings, data["terms"]


STRINGS, _TERMS = _load()

_PLACEHOLDER = re.compile(
    r"%%|%(?:(?P<index>\d+)\$)?[SsdX]|\{\s*(?P<sigil>[$-])(?P<name>[A-Za-z][\w-]*)\s*\}"
)


def thunderbird(key: str, lang: str, *args: str, **kwargs: str) -> str:
    """The text of `key` in `lang` ("fr" or "en"), its placeholders filled.

    ``%S``, ``%s``, ``%d`` and ``%X`` take the positional arguments in order and
    ``%2$S`` the second one; ``{ $name }`` takes the keyword argument ``name``
    (underscores stand for the hyphens of Fluent names); ``{ -brand-short-name }``
    and the other brand terms become "Thunderbird". Raises KeyError for an
    unknown key and ValueError for an unknown language or a missing argument.
    """
    entry = STRINGS.get(key)
    if entry is None:
        raise KeyError(f"no Thunderbird string {key!r} in {DATA_FILE}")
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: Thunderbird's strings here are in fr and en")
    text = entry[lang]
    position = 0

    def fill(match: re.Match[str]) -> str:
        nonlocal position
        if match.group(0) == "%%":
            return "%"
        name = match.group("name")
        if name is None:
            if match.group("index"):
                index = int(match.group("index")) - 1
            else:
                index = position
                position += 1
            if index >= len(args):
                raise ValueError(f"{key} needs argument {index + 1} for {match.group(0)}")
            return args[index]
        if match.group("sigil") == "-":
            if name not in _TERMS:
                raise ValueError(f"{key}: unknown Fluent term -{name}")
            return _TERMS[name]
        for candidate in (name, name.replace("-", "_")):
            if candidate in kwargs:
                return kwargs[candidate]
        raise ValueError(f"{key} needs the keyword argument {name.replace('-', '_')}")

    return _PLACEHOLDER.sub(fill, text)
