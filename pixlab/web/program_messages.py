"""What a real mail program shows for a failure, in Thunderbird's own words.

The error catalogue names, for each failure, what kind of message a real
program gives; Thunderbird words it per protocol (imapMsgs.properties for IMAP,
localMsgs.properties for POP3, composeMsgs.properties for SMTP) and puts it in
a dialog with a title. This module puts the same pieces together the way
Thunderbird does (see `pixlab.client.thunderbird`). When Thunderbird has no
text for a case, it returns None and the page shows our explanation only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape


@dataclass(frozen=True)
class ProgramMessage:
    """A dialog of the mail program: its title, its text, its buttons."""

    title: str
    lines: list[str]
    buttons: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def program_text(key: str, lang: str, *args: str, **kwargs: str) -> str | None:
    """Thunderbird's text for a key, or None when it does not exist (yet) or cannot be filled."""
    try:
        from pixlab.client.thunderbird import thunderbird
    except ImportError:  # the strings module is optional for the pages
        return None
    try:
        return thunderbird(key, lang, *args, **kwargs)
    except (KeyError, ValueError):
        return None


def program_source(key: str) -> str | None:
    """Where Thunderbird's text for a key comes from (repository:path#id)."""
    try:
        from pixlab.client.thunderbird import STRINGS
    except ImportError:
        return None
    entry = STRINGS.get(key)
    return entry.get("source") if entry else None


def program_label(key: str, lang: str, fallback: str) -> str:
    """A label of the settings form in Thunderbird's words, or our own text."""
    return program_text(key, lang) or fallback


def program_markup(key: str, lang: str, **kwargs: str) -> Markup | None:
    """A Thunderbird text that holds its own markup (<b>…</b>); the arguments are escaped."""
    text = program_text(key, lang, **{k: str(escape(v)) for k, v in kwargs.items()})
    return Markup(text) if text is not None else None  # noqa: S704 - Thunderbird's own markup


# For each catalogue key: the Thunderbird text per protocol, and what fills it.
# "host", "user", "reply" and "recipient" are filled from the trace.
_BY_PROTOCOL: dict[str, tuple[str, tuple[str, ...]]] = {
    "server_not_found": ("{p}.server_not_found", ("host",)),
    "connection_refused": ("{p}.connection_refused", ("host",)),
    "connection_timeout": ("{p}.connection_timeout", ("host",)),
    "plaintext_on_tls_port": ("{p}.connection_timeout", ("host",)),
    "tls_on_plaintext_port": ("{p}.tls_failed", ("host",)),
    "starttls_not_offered": ("{p}.starttls_not_offered", ("host",)),
    "login_refused_before_tls": ("{p}.plain_password_refused", ("host",)),
    "encrypted_password_unsupported": ("{p}.encrypted_password_unsupported", ("host",)),
    "server_disconnected": ("{p}.server_disconnected", ("host",)),
    "relay_refused": ("smtp.recipient_refused", ("reply", "recipient")),
    "recipient_unknown": ("smtp.recipient_refused", ("reply", "recipient")),
    "mailbox_full": ("smtp.recipient_refused", ("reply", "recipient")),
    "auth_required_to_send": ("smtp.sender_refused", ("reply",)),
    "sender_refused": ("smtp.sender_refused", ("reply",)),
}
# Where Thunderbird words a failure its own way (POP3 and SMTP "interrupted").
_ALIASES = {
    ("server_disconnected", "pop3"): "pop3.connection_interrupted",
    ("server_disconnected", "smtp"): "smtp.connection_interrupted",
}
_CERTIFICATES = {
    "certificate_wrong_name": "cert.domain_mismatch",
    "certificate_expired": "cert.expired",
    "certificate_self_signed": "cert.untrusted",
    "certificate_untrusted": "cert.untrusted",
}
_LOGIN_FAILED = ("wrong_credentials", "account_locked")


def what_program_shows(trace: dict[str, Any], lang: str) -> ProgramMessage | None:
    """The dialog Thunderbird would show for a stored trace's failure, or None."""
    error = trace.get("error")
    if not error:
        return _success(trace, lang)
    key, protocol = error["key"], trace["protocol"]
    values = {
        "host": trace["host"],
        "user": trace.get("username", ""),
        "reply": trace.get("server_reply") or "",
        "recipient": ", ".join(trace.get("recipients") or []),
    }
    if key in _LOGIN_FAILED:
        return _login_failed(trace, lang)
    if key in _CERTIFICATES:
        return _simple("Thunderbird", _CERTIFICATES[key], lang, hostname=trace["host"])
    if key not in _BY_PROTOCOL:
        return None
    pattern, needs = _BY_PROTOCOL[key]
    text_key = _ALIASES.get((key, protocol), pattern.format(p=protocol))
    text = program_text(text_key, lang, *(values[n] for n in needs))
    if text is None or any(not values[n] for n in needs if n != "host"):
        return None
    sources = [s for s in (program_source(text_key),) if s]
    address = trace.get("address", "")
    if protocol == "smtp":
        title = program_text("smtp.error_title", lang) or ""
        first = program_text("smtp.send_failed", lang)
        lines = [first, text] if first else [text]
        return ProgramMessage(title, lines, sources=sources)
    title_key = "pop3.error_title" if protocol == "pop3" else "imap.alert_title"
    title = program_text(title_key, lang, address) or ""
    lines = [text]
    said = program_text("pop3.server_said", lang, trace["host"])
    if protocol == "pop3" and values["reply"].startswith("-ERR") and said:
        lines.append(f"{said} {values['reply'][4:].strip()}")
    return ProgramMessage(title, lines, sources=sources)


def _simple(title: str, key: str, lang: str, **kwargs: str) -> ProgramMessage | None:
    text = program_text(key, lang, **kwargs)
    if text is None:
        return None
    return ProgramMessage(title, [text], sources=[s for s in (program_source(key),) if s])


def _login_failed(trace: dict[str, Any], lang: str) -> ProgramMessage | None:
    title = program_text("login.failed_title", lang, trace.get("address", ""))
    text = program_text("login.failed", lang, trace["host"], trace.get("username", ""))
    if title is None or text is None:
        return None
    buttons = [
        b
        for b in (
            program_text("login.retry_button", lang),
            program_text("hub.button.cancel", lang),
            program_text("login.new_password_button", lang),
        )
        if b
    ]
    sources = [s for s in (program_source("login.failed"),) if s]
    return ProgramMessage(title, [text], buttons, sources)


def _success(trace: dict[str, Any], lang: str) -> ProgramMessage | None:
    if trace.get("operation") == "send":
        return _simple("Thunderbird", "smtp.sent", lang)
    return _simple("Thunderbird", "hub.config_valid", lang)
