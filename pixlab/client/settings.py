"""Account settings as a real mail program asks for them: the one vocabulary of server settings.

Every other shape of a device's settings is derived from here: the scenario
files' `[devices.incoming]` tables, the flat keys a scenario and a settings
form use ("incoming.host", "password"), and the sandbox's device rows. Nothing
is corrected for the learner: a blank stays blank until a test needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal


class Protocol(StrEnum):
    """The protocol of a server: IMAP or POP3 to receive, SMTP to send."""

    IMAP = "imap"
    POP3 = "pop3"
    SMTP = "smtp"


class Security(StrEnum):
    """"Sécurité de la connexion", with the variants some programs offer besides the three.

    The variants are behaviours of real programs (see `pixlab.client.programs`):
    K-9 Mail, now Thunderbird for Android, offered "SSL/TLS (si disponible)" and
    "STARTTLS (si disponible)", which accepted every certificate, the second
    one also going on in clear when the server offered no STARTTLS; Outlook's
    "Automatique" uses STARTTLS when it is offered and goes on without it
    otherwise (PixLab's model of it).
    """

    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"
    TLS_ANY_CERTIFICATE = "tls-any-cert"
    STARTTLS_ANY_CERTIFICATE = "starttls-any-cert"
    AUTOMATIC = "auto"

    @property
    def implicit_tls(self) -> bool:
        """TLS from the first byte (ports 993, 995, 465)."""
        return self in (Security.TLS, Security.TLS_ANY_CERTIFICATE)

    @property
    def starttls(self) -> bool:
        """TLS asked for after connecting (STARTTLS, STLS)."""
        return self in (Security.STARTTLS, Security.STARTTLS_ANY_CERTIFICATE, Security.AUTOMATIC)

    @property
    def checks_certificate(self) -> bool:
        """Whether the program checks the server's certificate (name, date, signature)."""
        return self not in (Security.TLS_ANY_CERTIFICATE, Security.STARTTLS_ANY_CERTIFICATE)

    @property
    def falls_back_to_cleartext(self) -> bool:
        """Whether the program goes on in clear when the server offers no STARTTLS."""
        return self in (Security.STARTTLS_ANY_CERTIFICATE, Security.AUTOMATIC)


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


INCOMING_PROTOCOLS = (Protocol.IMAP.value, Protocol.POP3.value)
SECURITIES = tuple(s.value for s in Security)
AUTHS = tuple(a.value for a in Auth)
LEAVES = tuple(option.value for option in LeaveOnServer)
DEFAULT_LEAVE_DAYS = 14

Side = Literal["incoming", "outgoing"]
SIDES: tuple[Side, ...] = ("incoming", "outgoing")
# The fields of one server; the incoming side also has its protocol (the outgoing one is SMTP).
SERVER_FIELDS = ("host", "port", "security", "auth", "username")
# What a test of each side needs filled in.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "incoming": ("protocol", "host", "port", "security", "auth"),
    "outgoing": ("host", "port", "security", "auth"),
}


def side_fields(side: str) -> tuple[str, ...]:
    """The fields of one side's server, in the order a form shows them."""
    return ("protocol", *SERVER_FIELDS) if side == "incoming" else SERVER_FIELDS


_SERVER_KINDS: dict[str, tuple[str, ...] | type] = {
    "protocol": INCOMING_PROTOCOLS, "host": str, "port": int, "security": SECURITIES,
    "auth": AUTHS, "username": str,
}
# Every setting of a device by its flat key ("incoming.port", "password"): its values, or its type.
SETTING_KINDS: dict[str, tuple[str, ...] | type] = {
    **{f"{side}.{name}": _SERVER_KINDS[name] for side in SIDES for name in side_fields(side)},
    "password": str,
    "leave_on_server": LEAVES,
    "leave_days": int,
    "accepted_cleartext": bool,
    "accepted_risks": list,
}


def missing(settings: Mapping[str, Any], side: str) -> list[str]:
    """The flat keys a test of one side ("incoming", "outgoing") needs and that are blank."""
    return [f"{side}.{name}" for name in REQUIRED_FIELDS[side]
            if settings.get(f"{side}.{name}") in (None, "")]


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


# A side a test cannot use: never connects anywhere (port 0).
UNUSABLE_SERVER = ServerSettings("pop3", "", 0, Security.NONE, Auth.NONE, "")


@dataclass(frozen=True)
class AccountSettings:
    """What a device knows of an account."""

    address: str
    incoming: ServerSettings
    outgoing: ServerSettings
    password: str = field(repr=False)
    leave_on_server: LeaveOnServer = LeaveOnServer.NO
    leave_days: int = DEFAULT_LEAVE_DAYS
    # Hosts whose certificate the learner accepted anyway ("Confirmer l'exception de sécurité").
    accepted_risks: frozenset[str] = frozenset()
    # "Je comprends les risques": the warning shown before a test without encryption.
    accepted_cleartext: bool = False


Incomplete = Literal["as-typed", "unusable"]


def server_settings(settings: Mapping[str, Any], side: str,
                    incomplete: Incomplete = "as-typed") -> ServerSettings:
    """One side's server from flat settings; the learner's typos are kept as they are.

    A side that `missing()` reports is either kept "as-typed", its blanks made
    harmless (port 0 never connects, the security and method a program picks
    first), or made "unusable" whole. Either way, callers check `missing()`
    before an operation uses that side.
    """
    if incomplete == "unusable" and missing(settings, side):
        return UNUSABLE_SERVER
    security = settings.get(f"{side}.security")
    auth = settings.get(f"{side}.auth")
    return ServerSettings(
        Protocol.SMTP.value if side == "outgoing" else settings.get("incoming.protocol") or "",
        settings.get(f"{side}.host") or "",
        int(settings.get(f"{side}.port") or 0),
        Security(security) if security else Security.TLS,
        Auth(auth) if auth else Auth.NORMAL,
        settings.get(f"{side}.username") or "",
    )


def account_settings(settings: Mapping[str, Any], address: str,
                     incomplete: Incomplete = "as-typed") -> AccountSettings:
    """What the simulated mail client gets from flat settings ("incoming.host" …)."""
    return AccountSettings(
        address=address,
        incoming=server_settings(settings, "incoming", incomplete),
        outgoing=server_settings(settings, "outgoing", incomplete),
        password=settings.get("password") or "",
        leave_on_server=LeaveOnServer(settings.get("leave_on_server") or LeaveOnServer.NO),
        leave_days=int(settings.get("leave_days") or 0),
        accepted_risks=frozenset(settings.get("accepted_risks") or ()),
        accepted_cleartext=bool(settings.get("accepted_cleartext")),
    )
