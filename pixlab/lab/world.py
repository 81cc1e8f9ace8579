"""A learner's world: how the lab behaves for their connections only.

One lab serves a whole class on one set of ports. A scenario may want the
lab to allow logins in clear, to offer no STARTTLS, to present an expired
certificate or to lock an account after five failures, and only for the
learner playing it. PixLab's client registers the local port of each of
its connections with the world it plays in, just before connecting; the tap
looks the port up when it accepts the connection, and every server then
follows that world. Real programs, which register nothing, get the lab's
own world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pixlab.lab.certs import CertificateKind
from pixlab.lab.config import LabConfig


@dataclass(frozen=True)
class World:
    """The lab's behaviour for some connections; frozen so it can key caches."""

    domains: tuple[str, ...]
    allow_cleartext: bool = False
    starttls: bool = True
    certificates: tuple[tuple[str, CertificateKind], ...] = field(default=())
    lockout_after: int = 0
    # Seconds the network waits before each connection of PixLab's client (a slow network).
    latency: float = 0.0

    @classmethod
    def of(cls, config: LabConfig) -> World:
        """The lab's own world, from its configuration."""
        return cls(
            domains=tuple(d.lower() for d in config.domains),
            allow_cleartext=config.allow_cleartext,
            starttls=config.starttls,
            certificates=tuple(sorted((h.lower(), k) for h, k in config.certificates.items())),
            lockout_after=config.lockout_after,
        )

    @property
    def primary_domain(self) -> str:
        """The first domain: it names the server in greetings."""
        return self.domains[0]

    @property
    def server_name(self) -> str:
        """The name the servers give themselves in greetings."""
        return f"mail.{self.primary_domain}"

    def certificate_kind(self, host: str) -> CertificateKind:
        """Which certificate a host name gets here (valid unless the world says otherwise)."""
        return dict(self.certificates).get(host.lower(), CertificateKind.VALID)
