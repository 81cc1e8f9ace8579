"""The network a learner's device sees: the scenario's host names and the lab's ports, nothing else.

Whatever a learner types, the client's sockets only ever reach the lab's own
listeners on loopback. A name outside the table is "not found", exactly as a
real resolver says it; a port can be open, closed (the connection is really
refused) or filtered (the connection really times out), because the lab holds
a bound socket that never listens, and one whose accept queue is always full.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab
    from pixlab.lab.world import World


class PortState(StrEnum):
    """What a port of a host does when a client knocks."""

    OPEN = "open"
    CLOSED = "closed"
    FILTERED = "filtered"


# Which canonical ports each kind of host name answers, as a school's IT service sets them up.
HOST_PORTS: dict[str, tuple[int, ...]] = {
    "mail": (25, 110, 143, 465, 587, 993, 995),
    "imap": (143, 993),
    "pop": (110, 995),
    "smtp": (25, 465, 587),
}


@dataclass(frozen=True)
class Hop:
    """Where one connection attempt went: what was typed and what it became."""

    host: str
    port: int
    state: PortState
    address: tuple[str, int] | None  # the lab listener, when the port is open


@dataclass
class NameTable:
    """Host name -> {canonical port: state}; any other port of a known host is closed."""

    hosts: dict[str, dict[int, PortState]] = field(default_factory=dict)

    @classmethod
    def for_domains(
        cls, domains: Iterable[str], overrides: Mapping[str, Mapping[int, PortState]] | None = None
    ) -> NameTable:
        """The usual names of each domain (mail., imap., pop., smtp.), then the overrides."""
        hosts: dict[str, dict[int, PortState]] = {}
        for domain in domains:
            for prefix, ports in HOST_PORTS.items():
                hosts[f"{prefix}.{domain}".lower()] = {p: PortState.OPEN for p in ports}
        for host, states in (overrides or {}).items():
            hosts.setdefault(host.lower(), {}).update(states)
        return cls(hosts)

    def lookup(self, host: str) -> dict[int, PortState] | None:
        """The ports of a name, or None when the name does not exist here."""
        return self.hosts.get(host.strip().lower().rstrip("."))


class NameNotFound(socket.gaierror):
    """The name is not in the scenario's table: what a real resolver says for a typo."""

    def __init__(self, host: str) -> None:
        super().__init__(socket.EAI_NONAME, "Name or service not known")
        self.host = host


class _Sinks:
    """The two sockets that make 'closed' and 'filtered' real, shared by every network."""

    _lock = threading.Lock()
    _instance: _Sinks | None = None

    def __init__(self) -> None:
        # A bound socket that never listens: the kernel refuses connections to it.
        self.closed = socket.socket()
        self.closed.bind(("127.0.0.1", 0))
        # A listener with a backlog of 0, never accepted: once one connection
        # fills its queue, the kernel drops further SYNs and connects time out.
        self.hole = socket.socket()
        self.hole.bind(("127.0.0.1", 0))
        self.hole.listen(0)
        self._filler = socket.create_connection(self.hole.getsockname())

    @classmethod
    def get(cls) -> _Sinks:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance


class LabNetwork:
    """Connects a device to the lab, through the scenario's names only."""

    def __init__(
        self, lab: Lab, names: NameTable | None = None, world: World | None = None
    ) -> None:
        self.lab = lab
        self.world = world  # None: the lab's own world
        domains = world.domains if world is not None else lab.world.domains
        self.names = names or NameTable.for_domains(domains)

    def route(self, host: str, port: int) -> Hop:
        """Where `host:port` leads, without connecting.

        Raises:
            NameNotFound: the name is unknown (literal IPs and localhost included).
        """
        ports = self.names.lookup(host)
        if ports is None:
            raise NameNotFound(host)
        state = ports.get(port, PortState.CLOSED)
        address = None
        if state is PortState.OPEN:
            address = self._listener_address(port)
            if address is None:  # the lab does not run that service
                state = PortState.CLOSED
        return Hop(host, port, state, address)

    def _listener_address(self, canonical_port: int) -> tuple[str, int] | None:
        for info in self.lab.listeners:
            if info.spec.port_canonical == canonical_port:
                host = "127.0.0.1" if info.host in ("0.0.0.0", "::") else info.host
                return host, info.port
        return None

    def connect(self, hop: Hop, timeout: float) -> socket.socket:
        """Open a TCP connection along a route; the errors are the kernel's own."""
        sinks = _Sinks.get()
        if hop.state is PortState.OPEN:
            assert hop.address is not None
            target = hop.address
        elif hop.state is PortState.CLOSED:
            target = sinks.closed.getsockname()
        else:
            target = sinks.hole.getsockname()
        if self.world is not None and self.world.latency > 0:
            time.sleep(self.world.latency)  # a slow network: every connection waits first
        started = time.monotonic()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            # imaplib writes a command's continuation and its CRLF separately; with
            # Nagle's algorithm the CRLF waits for the server's delayed ACK (40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # Bind first, so the lab knows this port's world before the connection arrives,
            # and that it is PixLab's own client (which the lab never slows down).
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if hop.state is PortState.OPEN:
                # Even in the lab's own world: a port's world is only ever the latest one's.
                self.lab.enter_world(port, self.world or self.lab.world)
                self.lab.tap.expect_own_client(port)
            try:
                sock.connect(target)
            except BaseException:
                if hop.state is PortState.OPEN:
                    self.lab.tap.forget_own_client(port)
                raise
            return sock
        except TimeoutError:
            sock.close()
            # Keep the wait honest: a filtered port takes the whole timeout.
            remaining = timeout - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
            raise
        except BaseException:
            sock.close()
            raise
