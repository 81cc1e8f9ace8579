"""Account settings as a real mail program asks for them. Nothing is corrected for the learner."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Security(StrEnum):
    """"Sécurité de la connexion"."""

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class Auth(StrEnum):
    """"Méthode d'authentification"."""

    NORMAL = "normal"  # "Mot de passe normal": the password itself, protected only by TLS
    ENCRYPTED = "encrypted"  # "Mot de passe chiffré": a challenge-response (CRAM-MD5)
    NONE = "none"  # "Pas d'authentification"


class LeaveOnServer(StrEnum):
    """POP3: "Laisser les messages sur le serveur"."""

    NO = "no"  # download, then delete from the server
    FOREVER = "forever"
    DAYS = "days"  # at most `leave_days` days
    UNTIL_DELETED = "until-deleted"  # until I delete them here


@dataclass(frozen=True)
class ServerSettings:
    """One server of an account: incoming (IMAP or POP3) or outgoing (SMTP)."""

    protocol: str  # "imap", "pop3" or "smtp"
    host: str
    port: int
    security: Security
    auth: Auth
    username: str

    def changed(self, **changes: Any) -> ServerSettings:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class AccountSettings:
    """What a device knows of an account."""

    address: str
    incoming: ServerSettings
    outgoing: ServerSettings
    password: str = field(repr=False)
    leave_on_server: LeaveOnServer = LeaveOnServer.NO
    leave_days: int = 14
    # Hosts whose certificate the learner accepted anyway ("Confirmer l'exception de sécurité").
    accepted_risks: frozenset[str] = frozenset()
    # "Je comprends les risques": the warning shown before a test without encryption.
    accepted_cleartext: bool = False
