"""TLS for the lab's listeners: the certificate chosen by SNI, and what a handshake gave."""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from pixlab.lab.certs import CertificateAuthority, CertificateKind, ServedCertificate
from pixlab.lab.world import World

if TYPE_CHECKING:
    from pixlab.lab.tap import Connection


class LabTls:
    """Chooses the certificate a listener presents, from the host name the client asked for."""

    def __init__(self, ca: CertificateAuthority, world: World) -> None:
        self.ca = ca
        self.world = world
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
        for domain in self.world.domains:
            names += [f"{prefix}.{domain}" for prefix in ("mail", "imap", "pop", "smtp")]
        # The common name is the lab's main server name: put it first.
        names.remove(self.world.server_name)
        return ServedCertificate(CertificateKind.VALID, (self.world.server_name, *names))

    def certificate_for(self, host: str | None) -> ServedCertificate:
        """What a client asking for `host` (the SNI; None without it) is shown."""
        kind = self.world.certificate_kind(host or "")
        if host is None or kind is CertificateKind.VALID:
            return self.valid_certificate()
        if kind is CertificateKind.OTHER_NAME:
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


def other_name_for(host: str) -> str:
    """The name an "other name" certificate carries instead of `host`."""
    first, _, domain = host.partition(".")
    if not domain:
        return f"autre-serveur.{host}"
    return f"mail.{domain}" if first != "mail" else f"webmail.{domain}"


def ssl_object_of(transport: Any) -> ssl.SSLObject | None:
    """The SSL object of an asyncio transport, or None in clear."""
    return transport.get_extra_info("ssl_object") if transport is not None else None
