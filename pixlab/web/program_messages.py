"""What a real mail program shows for a failure, in Thunderbird's own words.

The error catalogue names, for each failure, what kind of message a real
program gives; Thunderbird words it per protocol (imapMsgs.properties for IMAP,
localMsgs.properties for POP3, composeMsgs.properties for SMTP) and puts it in
a dialog with a title. This module puts the same pieces together the way
Thunderbird does (see `pixlab.client.thunderbird`). When Thunderbird shows
nothing for a case, it returns None and the page shows our explanation only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from pixlab.client.errors import program_message, program_quote
from pixlab.client.programs import DEFAULT_PROGRAM, program_string, program_words
from pixlab.client.thunderbird import STRINGS, thunderbird


@dataclass(frozen=True)
class ProgramMessage:
    """A dialog of the mail program: its title, its text, its buttons."""

    title: str
    lines: list[str]
    buttons: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    program: str = DEFAULT_PROGRAM
    note: str = ""  # PixLab's words on what this dialog means, where the program is terse


def program_text(key: str, lang: str, *args: str, **kwargs: str) -> str | None:
    """Thunderbird's text for a key, or None when the values its placeholders need are missing.

    Raises:
        KeyError: the key is not one of Thunderbird's strings (a mistake of ours).
    """
    try:
        return thunderbird(key, lang, *args, **kwargs)
    except ValueError:
        return None


def program_source(key: str) -> str:
    """Where Thunderbird's text for a key comes from (repository:path#id)."""
    return STRINGS[key]["source"]


def program_label(key: str, lang: str, fallback: str) -> str:
    """A label of the settings form in Thunderbird's words, or our own text."""
    return program_text(key, lang) or fallback


def program_markup(key: str, lang: str, **kwargs: str) -> Markup | None:
    """A Thunderbird text that holds its own markup (<b>…</b>); the arguments are escaped."""
    text = program_text(key, lang, **{k: str(escape(v)) for k, v in kwargs.items()})
    return Markup(text) if text is not None else None  # noqa: S704 - Thunderbird's own markup


_LOGIN_FAILED = ("wrong_credentials", "account_locked", "app_password_required")


def words(program: str, key: str, lang: str) -> str:
    """A label of a program's form, in its words (or PixLab's, where its own are unknown)."""
    if program == DEFAULT_PROGRAM:
        return program_label(key, lang, key)
    return program_words(program, key, lang)


def quoted(program: str, key: str) -> bool:
    """Whether a label of a program's form is the program's own text."""
    return program == DEFAULT_PROGRAM or program_string(program, key).quoted


# Where each program's form sets the sheet's security: the label of the control, then the
# choice, by the vocabulary's value (None: the program has no such choice).
_SECURITY_CONTROLS = {
    "android": ("security", {"none": "security.none", "starttls": "security.starttls",
                             "tls": "security.tls"}),
    "outlook": ("encryption", {"none": "security.none", "starttls": "security.starttls",
                               "tls": "security.tls"}),
}


def how_to_fill(program: str, security: str, lang: str) -> str:
    """How the sheet's security is set in a program's form, in its words."""
    if program == "iphone" and security in ("none", "starttls", "tls"):
        if security == "starttls":
            return _("L'iPhone n'a pas de choix STARTTLS : demande le port SSL/TLS.")
        state = _("activé") if security == "tls" else _("désactivé")
        return f"{program_words('iphone', 'use_ssl', lang)}\u00a0: {state}"
    control, choices = _SECURITY_CONTROLS.get(program, ("", {}))
    if security not in choices:
        return ""
    return (f"{program_words(program, control, lang)}\u00a0: "
            f"«\u00a0{program_words(program, choices[security], lang)}\u00a0»")


def what_program_shows(trace: dict[str, Any], lang: str,
                       program: str = DEFAULT_PROGRAM) -> ProgramMessage | None:
    """The dialog the device's program would show for a stored trace, or None.

    None where the program shows nothing, or where its exact words are not
    known here: the page then gives PixLab's explanation only.
    """
    if program == "android":
        return _android(trace, lang)
    if program != DEFAULT_PROGRAM:
        return None
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
    quote = program_quote(key, protocol)
    text = program_message(key, protocol, lang, values)
    if quote is None or text is None:
        return None
    sources = [program_source(quote.string)]
    if quote.string.startswith("cert."):
        return ProgramMessage("Thunderbird", [text], sources=sources)
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
    return ProgramMessage(title, [text], sources=[program_source(key)])


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
    sources = [program_source("login.failed")]
    return ProgramMessage(title, [text], buttons, sources)


def _success(trace: dict[str, Any], lang: str) -> ProgramMessage | None:
    if trace.get("operation") == "send":
        return _simple("Thunderbird", "smtp.sent", lang)
    return _simple("Thunderbird", "hub.config_valid", lang)


# K-9 Mail (Thunderbird for Android) at its set-up: which dialog a failure leads to.
_ANDROID_SERVER = {"server_not_found", "connection_refused", "connection_timeout",
                   "plaintext_on_tls_port", "tls_on_plaintext_port", "starttls_not_offered",
                   "server_disconnected", "protocol_error", "tls_failed"}


# What K-9 Mail's dialogs mean, in PixLab's words (the dialogs themselves say little).
_ANDROID_NOTES = {
    "failed.auth": _l("Entre parenthèses : la réponse exacte du serveur. « Modifier les "
                      "détails » ramène au formulaire pour corriger l'identifiant ou le mot de "
                      "passe."),
    "failed.server": _l("Entre parenthèses : l'erreur que l'application a reçue. Le serveur n'a "
                        "pas pu être joint : vérifie son nom, le port et la sécurité."),
    "failed.certificate": _l("« Accepter le certificat » ferait confiance à ce serveur pour "
                             "toujours, même si c'est un faux. La bonne réponse est de le "
                             "rejeter, puis de vérifier le nom du serveur."),
}


def _android(trace: dict[str, Any], lang: str) -> ProgramMessage | None:
    error = trace.get("error")
    if not error:
        return None
    key = error["key"]
    # K-9 Mail puts the reason it got between brackets: the server's reply, else the error.
    reason = trace.get("server_reply") or error.get("exception", "")
    if key.startswith("certificate_"):
        message = "failed.certificate"
        title = program_words("android", "certificate.title", lang)
        buttons = ["certificate.accept", "certificate.reject"]
    elif key in _LOGIN_FAILED:
        message, buttons = "failed.auth", ["failed.edit_details"]
        title = program_words("android", "failed.title", lang)
    elif key in _ANDROID_SERVER:
        message, buttons = "failed.server", ["failed.edit_details"]
        title = program_words("android", "failed.title", lang)
    else:
        return None
    text = program_words("android", message, lang, reason)
    return ProgramMessage(title, text.split("\n"),
                          [program_words("android", b, lang) for b in buttons],
                          [str(program_string("android", message).source)], "android",
                          str(_ANDROID_NOTES[message]))
