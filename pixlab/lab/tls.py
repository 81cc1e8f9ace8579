"""TLS for the lab's listeners: the certificate chosen by SNI, and what a handshake gave."""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from typing import TYPE_CHECKING, Any

from pixlab.lab.certs import CertificateAuthority, CertificateKind, ServedCertificate
from pixlab.lab.world import World

if TYPE_CHECKING:
    from pixlab.lab.tap import Connection


class LabTls:
    """Chooses the certificate a listener presents, from the host name the client asked for."""

    def __init__(
        self, ca: CertificateAuthority, world: World, address: str | None = None,
        machine: tuple[str, ...] = (),
    ) -> None:
        self.ca = ca
        self.world = world
        # The address the lab listens on (None: every address, or loopback only), and
        # this machine's names: what a real program on the class network types.
        self.address = address
        self.machine = machine
        # STARTTLS (on 587, 25, 143, 110) and implicit TLS (465, 993, 995) differ in
        # one thing: the TLS 1.3 session tickets sent after the handshake.
        # Making them costs the lab a tenth of a POP3S or IMAPS session (and one
        # more write), for a resumption no lesson needs, so implicit TLS sends
        # none. STARTTLS keeps them: after its Finished a client sends its next
        # command at once, and one without TCP_NODELAY (smtplib) would wait
        # 40 ms for the server's delayed ACK if the tickets did not carry it.
        self.context = self._context(tickets=True)
        self.implicit_context = self._context(tickets=False)

    def _context(self, tickets: bool) -> ssl.SSLContext:
        context = self.ca.server_context(self.valid_certificate(), shared=False)
        if not tickets:
            context.num_tickets = 0
        context.sni_callback = self._choose
        return context

    def valid_certificate(self) -> ServedCertificate:
        """The CA-signed certificate naming every host of every lab domain."""
        names = ["localhost", "127.0.0.1"]
        for name in (self.address, *self.machine):
            if name and name not in names:
                names.append(name)
        for domain in self.world.domains:
            names += [f"{prefix}.{domain}" for prefix in ("mail", "imap", "pop", "smtp")]
        # The common name is the lab's main server name: put it first.
        names.remove(self.world.server_name)
        return ServedCertificate(CertificateKind.VALID, (self.world.server_name, *names))

    def certificate_for(self, host: str | None) -> ServedCertificate:
        """What a client asking for `host` (the SNI; None without it) is shown.

        A program that types an IP address sends no SNI (RFC 6066 section 3
        forbids literal addresses there): it asked for the address the lab
        listens on, so a lesson set on that address applies to it.
        """
        if host is None:
            host = self.address
        kind = self.world.certificate_kind(host or "")
        if host is None or kind is CertificateKind.VALID:
            return self.valid_certificate()
        if kind is CertificateKind.OTHER_NAME:
            if _is_ip(host):
                return ServedCertificate(kind, (self.world.server_name,))
            return ServedCertificate(kind, (other_name_for(host),))
        return ServedCertificate(kind, (host,))

    def _choose(self, ssl_object: Any, server_name: str | None, _context: Any) -> None:
        ssl_object.pixlab_sni = server_name
        served = self.certificate_for(server_name.lower() if server_name else None)
        if served.kind is not CertificateKind.VALID:
            ssl_object.context = self.ca.server_context(served)
        return None

    def established(self, conn: Connection, ssl_object: Any) -> None:
        """Note on the connection that TLS is active, and record it."""
        conn.tls = True
        served = self.ca.served_by(ssl_object.context)
        conn.record(
            "tls.established",
            version=ssl_object.version(),
            cipher=(ssl_object.cipher() or ("",))[0],
            sni=getattr(ssl_object, "pixlab_sni", None),
            certificate=served.describe() if served else None,
        )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def specific_address(host: str) -> str | None:
    """The address a listener bound to `host` names in its certificate (None for a wildcard)."""
    if not _is_ip(host) or ipaddress.ip_address(host).is_unspecified:
        return None
    return str(ipaddress.ip_address(host))


_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def machine_names(hostname: str | None = None) -> tuple[str, ...]:
    """This machine's host name and its mDNS name (`HOSTNAME.local`), as a phone may type them.

    A name that is not a valid DNS name (an underscore, a space) is left out:
    no program could match it against a certificate.
    """
    full = (hostname if hostname is not None else socket.gethostname()).strip().lower()
    full = full.rstrip(".")
    labels = full.split(".") if full else []
    if not labels or not all(_LABEL.match(label) for label in labels) or full == "localhost":
        return ()
    names = [full, f"{labels[0]}.local"]
    return tuple(dict.fromkeys(names))


def other_name_for(host: str) -> str:
    """The name an "other name" certificate carries instead of `host`."""
    first, _, domain = host.partition(".")
    if not domain:
        return f"autre-serveur.{host}"
    return f"mail.{domain}" if first != "mail" else f"webmail.{domain}"


def ssl_object_of(transport: Any) -> ssl.SSLObject | None:
    """The SSL object of an asyncio transport, or None in clear."""
    return transport.get_extra_info("ssl_object") if transport is not None else None
