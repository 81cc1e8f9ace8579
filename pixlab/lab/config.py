"""What a lab is made of: its listeners and the knobs scenarios turn."""

from __future__ import annotations

from dataclasses import dataclass, field

from pixlab.lab.certs import CertificateKind


@dataclass(frozen=True)
class ListenerSpec:
    """One service of the lab, on its canonical port."""

    name: str
    protocol: str  # "smtp", "imap" or "pop3"
    implicit_tls: bool
    port_canonical: int
    submission: bool = False  # SMTP: a submission port (AUTH) rather than MX-style port 25


# The lab's services, as a school's mail server would offer them.
LISTENERS: tuple[ListenerSpec, ...] = (
    ListenerSpec("smtp", "smtp", False, 25),
    ListenerSpec("submission", "smtp", False, 587, submission=True),
    ListenerSpec("smtps", "smtp", True, 465, submission=True),
    ListenerSpec("imap", "imap", False, 143),
    ListenerSpec("imaps", "imap", True, 993),
    ListenerSpec("pop3", "pop3", False, 110),
    ListenerSpec("pop3s", "pop3", True, 995),
)
LISTENERS_BY_NAME = {spec.name: spec for spec in LISTENERS}

DEFAULT_DOMAIN = "lycee-exemple.test"


@dataclass
class LabConfig:
    """How a lab is set up. The defaults are the secure ones a real school would choose."""

    host: str = "127.0.0.1"
    port_base: int = 10000  # 0: every listener on an ephemeral port (tests)
    # The usual ports themselves (25, 465, 587, 143, 993, 110, 995), whatever the base.
    usual_ports: bool = False
    # The valid certificate also names this machine (its host name and HOSTNAME.local).
    name_machine: bool = True
    domains: tuple[str, ...] = (DEFAULT_DOMAIN,)
    listeners: tuple[str, ...] = tuple(spec.name for spec in LISTENERS)
    # Login before TLS on 143, 110 and 587. Off: the server refuses, as it should.
    allow_cleartext: bool = False
    # STARTTLS offered on the ports that start in clear (25, 587, 143, 110).
    starttls: bool = True
    # Which certificate each host name gets; any name not listed gets the valid one.
    certificates: dict[str, CertificateKind] = field(default_factory=dict)
    preauth_timeout: float = 30.0  # a silent peer before login
    idle_timeout: float = 600.0  # RFC 1939 section 3: at least 10 minutes once logged in
    imap_idle_timeout: float = 1800.0  # RFC 3501 section 5.4: at least 30 minutes
    tls_handshake_timeout: float = 5.0  # asyncio's default of 60 s would stall a lesson
    capture_limit: int = 64 * 1024  # bytes of wire kept per connection
    capture_retained: int = 32 * 1024 * 1024  # bytes of wire kept for all connections
    max_connections_per_peer: int = 200  # every learner of a class comes from the same laptop
    max_connections_per_account: int = 20  # Thunderbird alone opens up to 5
    lockout_after: int = 0  # failed logins before an account is locked (0: never)
    # A network peer's failed login is answered after a delay that doubles with each
    # consecutive failure, up to the maximum (Dovecot: auth_failure_delay = 2 s, up to 15 s).
    auth_failure_delay: float = 2.0
    auth_failure_delay_max: float = 15.0
    max_message_size: int = 10 * 1024 * 1024
    max_line_length: int = 8192

    def port_for(self, spec: ListenerSpec) -> int:
        """The real port of a listener: base + canonical, 0 (ephemeral) when the base is 0,
        or the canonical port itself with `usual_ports`."""
        if self.usual_ports:
            return spec.port_canonical
        return 0 if self.port_base == 0 else self.port_base + spec.port_canonical

    def security(self, spec: ListenerSpec) -> str:
        """"tls" (implicit), "starttls" (offered) or "none" (no TLS at all).

        The words are the client's `Security` values (the lab cannot import the
        client, which sits above it; a test checks they stay the same).
        """
        if spec.implicit_tls:
            return "tls"
        return "starttls" if self.starttls else "none"
