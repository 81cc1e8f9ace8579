"""The words the pages show for the settings vocabulary's values, and the page's language.

One dictionary per vocabulary (`pixlab.client.settings`), lazy so that each
page says them in its own language (Flask-Babel).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import format_datetime, format_time, get_locale
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from pixlab.client.settings import Security
from pixlab.typography import LANGUAGES

# "Sécurité de la connexion", on a connection sheet and in a test's result.
SECURITY_LABELS: dict[str, LazyString] = {
    Security.NONE: _l("Aucun chiffrement"),
    Security.STARTTLS: _l("STARTTLS"),
    Security.TLS: _l("SSL/TLS"),
    Security.TLS_ANY_CERTIFICATE: _l("SSL/TLS, sans vérifier le certificat"),
    Security.STARTTLS_ANY_CERTIFICATE: _l(
        "STARTTLS s'il est proposé (sinon en clair), sans vérifier le certificat"),
    Security.AUTOMATIC: _l("Automatique : STARTTLS s'il est proposé, sinon en clair"),
}


# The mail programs a device can imitate (pixlab.client.programs), as the pages name them.
PROGRAM_NAMES: dict[str, LazyString] = {
    "thunderbird": _l("Thunderbird"),
    "outlook": _l("Outlook"),
    "iphone": _l("Mail sur iPhone"),
    "android": _l("Thunderbird pour Android"),
}


# What each program does that changes the lesson, as the debrief recalls it.
PROGRAM_BEHAVIOURS: dict[str, LazyString] = {
    "thunderbird": _l("Thunderbird avertit avant de se connecter sans chiffrement : il faut "
                      "cocher « Je comprends les risques »."),
    "outlook": _l("Outlook propose un chiffrement « Automatique » : STARTTLS si le serveur le "
                  "propose, sinon il continue en clair sans te prévenir."),
    "iphone": _l("Quand SSL échoue, l'iPhone propose de continuer sans SSL. Répondre oui "
                 "enlève le chiffrement : le mot de passe passe en clair."),
    "android": _l("L'ancien K-9 Mail (Thunderbird pour Android) proposait « SSL/TLS (si "
                  "disponible) » : ce choix accepte tous les certificats, même celui d'un faux "
                  "serveur."),
}


def program_behaviour(program: str) -> str:
    """What a program does that changes the lesson, in the page's language."""
    return str(PROGRAM_BEHAVIOURS[program or "thunderbird"])


def program_name(program: str) -> str:
    """A program's name in the page's language ("" or unknown: Thunderbird)."""
    return str(PROGRAM_NAMES.get(program or "thunderbird", PROGRAM_NAMES["thunderbird"]))


def lang() -> str:
    """The interface's language, "fr" or "en"."""
    found = get_locale()
    language = found.language if found else LANGUAGES[0]
    return language if language in LANGUAGES else LANGUAGES[0]


def moment(timestamp: float) -> str:
    """A stored moment, as the pages show it."""
    return format_datetime(datetime.fromtimestamp(timestamp, UTC), "short")


def time_of_day(timestamp: float) -> str:
    """A moment of today (the hour, minutes and seconds), as the pages show it."""
    return format_time(datetime.fromtimestamp(timestamp, UTC), "medium")
