"""Thunderbird's quoted strings: the helper fills their real placeholders, nothing is lost."""

from __future__ import annotations

import re

import pytest

from pixlab.client.thunderbird import STRINGS, thunderbird

NBSP = "\u00a0"


def test_sequential_placeholder_in_both_languages() -> None:
    assert thunderbird("imap.connection_refused", "fr", "imap.example.test") == (
        f"Impossible de se connecter au serveur de courrier imap.example.test{NBSP}: "
        "la connexion a été refusée."
    )
    assert thunderbird("imap.connection_refused", "en", "imap.example.test") == (
        "Could not connect to mail server imap.example.test; the connection was refused."
    )
    assert thunderbird("pop3.connection_refused", "fr", "pop.example.test") == (
        f"Impossible de se connecter au serveur pop.example.test{NBSP}; la connexion a été refusée."
    )


def test_numbered_placeholders_follow_their_numbers() -> None:
    assert thunderbird("login.failed", "en", "imap.example.test", "alice") == (
        "Login to server imap.example.test with username alice failed."
    )
    # The French SMTP prompt names the user before the host: %2$S ... %1$S.
    assert thunderbird("smtp.password_prompt", "fr", "smtp.example.test", "alice") == (
        f"Saisissez votre mot de passe pour alice sur smtp.example.test{NBSP}:"
    )
    assert thunderbird(
        "smtp.recipient_refused", "en", "550 5.1.1 No such user", "bob@example.test"
    ) == (
        "An error occurred while sending mail. The mail server responded:\n"
        "550 5.1.1 No such user.\n"
        'Please check the message recipient "bob@example.test" and try again.'
    )


def test_fluent_variables_and_brand() -> None:
    assert thunderbird(
        "cert.expired", "fr", hostname="mail.example.test", not_after="01/02/2025"
    ) == ("Le certificat de mail.example.test a expiré le 01/02/2025.")
    assert thunderbird("setup.insecure.no_encryption", "en", server="mail.example.test") == (
        "<b>mail.example.test</b> does not use encryption."
    )
    assert thunderbird("setup.settings_not_found", "en") == (
        "Thunderbird failed to find the settings for your email account"
    )
    assert thunderbird("setup.insecure.checkbox", "fr") == "Je comprends les risques"


def test_an_argument_is_never_read_as_a_placeholder() -> None:
    assert thunderbird("net.connection_timeout", "en", "%S{ $hostname }") == (
        "Connection to server %S{ $hostname } timed out."
    )


def test_missing_arguments_and_unknown_languages_are_errors() -> None:
    with pytest.raises(ValueError):
        thunderbird("login.failed", "fr", "imap.example.test")
    with pytest.raises(ValueError):
        thunderbird("cert.expired", "en", hostname="mail.example.test")
    with pytest.raises(ValueError):
        thunderbird("smtp.send_failed", "de")
    with pytest.raises(KeyError):
        thunderbird("smtp.no_such_key", "en")


PLACEHOLDER = re.compile(r"%(?:\d+\$)?[SsdX]|\{ [$-][\w-]+ \}")
SOURCE = re.compile(
    r"^(thunderbird/thunderbird-l10n|mozilla-l10n/firefox-l10n):fr/[\w/.-]+\.(ftl|properties|dtd)"
    r"#[\w.-]+$"
)


@pytest.mark.parametrize("key", sorted(STRINGS))
def test_each_entry_has_both_languages_the_same_placeholders_and_a_source(key: str) -> None:
    entry = STRINGS[key]
    assert entry["fr"].strip() and entry["en"].strip()
    assert sorted(PLACEHOLDER.findall(entry["fr"])) == sorted(PLACEHOLDER.findall(entry["en"]))
    assert SOURCE.match(entry["source"]), entry["source"]
