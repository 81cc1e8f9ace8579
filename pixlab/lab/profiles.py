"""The lab as real mail programs reach it: its servers, Thunderbird's autoconfig, Apple's profile.

A real program (Thunderbird, a phone's Mail app) reaches the lab on the
address it listens on, on its real ports. These builders describe exactly
that, from the running listeners, so that what a pupil is told is what the
lab serves:

- `served_servers`: the incoming and outgoing servers, in the order a
  program's manual configuration lists them;
- `autoconfig_xml`: Thunderbird's `clientConfig` version 1.1
  (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat);
- `apple_profile`: an Apple configuration profile with one mail account and
  the lab's CA (Apple's "Configuration Profile Reference": the
  `com.apple.mail.managed` and `com.apple.security.root` payloads).
"""

from __future__ import annotations

import plistlib
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pixlab.typography import french

if TYPE_CHECKING:
    from pixlab.lab.runner import ListenerInfo

# The listeners a mail program uses, best first: TLS from the start, then STARTTLS.
# Port 25 is for other servers, never for a pupil's program.
PROGRAM_LISTENERS = ("imaps", "imap", "pop3s", "pop3", "smtps", "submission")
# What Thunderbird's autoconfig calls each security.
SOCKET_TYPES = {"tls": "SSL", "starttls": "STARTTLS", "none": "plain"}
PROFILE_MIME_TYPE = "application/x-apple-aspen-config"
_PROFILE_NAMESPACE = uuid.UUID("6f1d2a4e-4f1b-4c55-9a53-0c6b1f7d9e21")


@dataclass(frozen=True)
class ServedServer:
    """One server of the lab as a real program types it."""

    listener: str  # "imaps", "submission", …
    protocol: str  # "imap", "pop3" or "smtp"
    host: str
    port: int
    canonical: int  # the usual port of this service (993)
    security: str  # "tls", "starttls" or "none", the client's words

    @property
    def incoming(self) -> bool:
        """Whether it is a server to receive from (IMAP, POP3)."""
        return self.protocol != "smtp"

    @property
    def usual(self) -> bool:
        """Whether the lab serves it on its usual port."""
        return self.port == self.canonical


def served_servers(listeners: Iterable[ListenerInfo], host: str) -> list[ServedServer]:
    """The servers a real program may use, reached at `host`, best first."""
    by_name = {info.name: info for info in listeners}
    return [
        ServedServer(name, info.spec.protocol, host, info.port, info.spec.port_canonical,
                     info.security)
        for name in PROGRAM_LISTENERS
        if (info := by_name.get(name)) is not None
    ]


def autoconfig_xml(servers: Sequence[ServedServer], domains: Sequence[str]) -> bytes:
    """Thunderbird's `clientConfig` 1.1 for the lab's domains; the user name is the address."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domains[0])
    for domain in domains:
        ET.SubElement(provider, "domain").text = domain
    ET.SubElement(provider, "displayName").text = f"PixLab ({domains[0]})"
    ET.SubElement(provider, "displayShortName").text = "PixLab"
    for server in servers:
        tag = "incomingServer" if server.incoming else "outgoingServer"
        element = ET.SubElement(provider, tag, type=server.protocol)
        for name, value in (
            ("hostname", server.host),
            ("port", str(server.port)),
            ("socketType", SOCKET_TYPES[server.security]),
            ("authentication", "password-cleartext"),
            ("username", "%EMAILADDRESS%"),
        ):
            ET.SubElement(element, name).text = value
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _profile_server(servers: Sequence[ServedServer], names: Sequence[str]) -> ServedServer | None:
    for name in names:
        for server in servers:
            if server.listener == name:
                return server
    return None


def apple_profile(
    servers: Sequence[ServedServer], address: str, ca_der: bytes, lab_name: str
) -> bytes:
    """An Apple configuration profile: an IMAP account (SSL/TLS), its SMTP, and the lab's CA.

    No password is in it: the phone asks for it while installing, so the pupil
    types it from the sheet. Sending goes through 587 (STARTTLS), which Apple's
    Mail uses with "SSL" on any port; 465 when the lab runs no 587.

    Raises:
        ValueError: the lab runs no IMAPS listener, or no submission listener.
    """
    incoming = _profile_server(servers, ("imaps",))
    outgoing = _profile_server(servers, ("submission", "smtps"))
    if incoming is None or outgoing is None:
        raise ValueError("the lab serves no IMAPS or no submission port")
    slug = re.sub(r"[^a-z0-9]+", "-", address.lower()).strip("-")
    identifier = f"fr.pixlab.labo.{slug}"

    def uuid_of(part: str) -> str:
        # The same learner gets the same UUIDs: a new download replaces the old profile.
        return str(uuid.uuid5(_PROFILE_NAMESPACE, f"{identifier}/{part}/{lab_name}")).upper()

    account = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.compte",
        "PayloadUUID": uuid_of("compte"),
        "PayloadDisplayName": f"Courrier du labo ({address})",
        "EmailAccountDescription": f"PixLab {address}",
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": address,
        "IncomingMailServerHostName": incoming.host,
        "IncomingMailServerPortNumber": incoming.port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": address,
        "OutgoingMailServerHostName": outgoing.host,
        "OutgoingMailServerPortNumber": outgoing.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    certificate = {
        "PayloadType": "com.apple.security.root",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.autorite",
        "PayloadUUID": uuid_of("autorite"),
        "PayloadDisplayName": "Autorité de certification du labo PixLab",
        "PayloadCertificateFileName": "pixlab-ca.crt",
        "PayloadContent": ca_der,
    }
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": uuid_of("profil"),
        "PayloadDisplayName": french(f"PixLab : {address}"),
        "PayloadDescription": (
            "Le compte de messagerie du labo PixLab et son autorité de certification. "
            "Le mot de passe est sur ta fiche de connexion."
        ),
        "PayloadOrganization": "PixLab",
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [account, certificate],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)
