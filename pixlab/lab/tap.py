"""The lab network's tap: a relay in front of every listener that records the wire.

A client's TCP connection ends at the tap. The tap gives it an id, opens a
socket pair to the protocol server living in the same loop, and copies the
bytes both ways, keeping the first `capture_limit` bytes of each connection.
That capture is what a spy on the network would read: the commands and the
password in clear without TLS, only TLS records with it. Real programs
(Thunderbird, a phone on the classroom Wi-Fi) go through the same tap.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import ssl
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pixlab.lab.config import ListenerSpec
from pixlab.lab.events import Event, EventLog
from pixlab.lab.world import World

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab

CLIENT = "client"  # bytes the client sent
SERVER = "server"  # bytes the server sent


@dataclass(frozen=True)
class Chunk:
    """Bytes that crossed the wire in one direction at one moment."""

    direction: str
    at: float
    data: bytes


@dataclass
class WireCapture:
    """The raw bytes of one connection, both ways, up to a limit."""

    limit: int
    chunks: list[Chunk] = field(default_factory=list)
    size: int = 0
    truncated: bool = False

    def add(self, direction: str, data: bytes) -> int:
        """Keep what fits of `data`; returns how many bytes were kept."""
        room = self.limit - self.size
        if len(data) > room:
            self.truncated = True
            data = data[:room]
        if data:
            self.chunks.append(Chunk(direction, time.time(), data))
            self.size += len(data)
        return len(data)

    def sent_by(self, direction: str) -> bytes:
        """Everything kept from one side (CLIENT or SERVER), joined."""
        return b"".join(c.data for c in self.chunks if c.direction == direction)


@dataclass(eq=False)
class Connection:
    """One client connection to one listener, as the servers and the event log know it."""

    id: str
    listener: ListenerSpec
    peer: tuple[str, int]
    events: EventLog
    capture: WireCapture
    world: World
    opened_at: float = field(default_factory=time.time)
    tls: bool = False
    account: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0

    def record(self, kind: str, **data: Any) -> Event:
        """Record an event of this connection, with its id, listener, account and TLS state."""
        return self.events.record(
            kind,
            connection_id=self.id,
            account=self.account,
            listener=self.listener.name,
            tls=self.tls,
            **data,
        )


class Tap:
    """Relays and records every connection of the lab's listeners."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._captures: OrderedDict[str, WireCapture] = OrderedDict()
        self._by_peer_port: OrderedDict[int, str] = OrderedDict()
        self._retained = 0
        self.active: set[_ClientSide] = set()
        # Both ends of every relay's socket pair, while they live: see wait_closed.
        self._pair_sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()

    async def listen(self, spec: ListenerSpec, host: str, port: int) -> asyncio.Server:
        """Start accepting connections for one listener."""
        loop = asyncio.get_running_loop()
        return await loop.create_server(
            lambda: _ClientSide(self, spec), host, port, reuse_address=True, backlog=256
        )

    def capture(self, connection_id: str) -> WireCapture | None:
        """The wire capture of a connection, while it is retained."""
        return self._captures.get(connection_id)

    def connection_for_peer(self, port: int) -> str | None:
        """The id of the latest connection made from this client port on loopback.

        PixLab's own client knows its local port; this is how it finds its
        connection, and so its capture and events.
        """
        return self._by_peer_port.get(port)

    def _new_capture(self, connection_id: str, peer: tuple[str, int]) -> WireCapture:
        capture = WireCapture(self.lab.config.capture_limit)
        self._captures[connection_id] = capture
        self._by_peer_port[peer[1]] = connection_id
        self._by_peer_port.move_to_end(peer[1])
        while len(self._by_peer_port) > 65536:
            self._by_peer_port.popitem(last=False)
        return capture

    def _kept(self, size: int) -> None:
        # Forget the oldest captures once the total goes over the budget.
        self._retained += size
        while self._retained > self.lab.config.capture_retained and len(self._captures) > 1:
            _, oldest = self._captures.popitem(last=False)
            self._retained -= oldest.size

    def close_all(self) -> None:
        """Abort every open connection (the lab is stopping)."""
        for side in list(self.active):
            if side.transport is not None:
                side.transport.abort()

    async def wait_closed(self, turns: int = 100) -> None:
        """Let the loop turn until every relayed connection has closed its sockets.

        Closing a relayed connection takes a few turns of the loop: the client's
        side, then the relay, then the protocol server, whose TLS layer may be
        waiting for the peer's close_notify. A loop that stops sooner leaves
        those sockets open.
        """
        for _ in range(turns):
            if all(sock.fileno() == -1 for sock in list(self._pair_sockets)):
                return
            await asyncio.sleep(0)


class _ClientSide(asyncio.Protocol):
    """The client's TCP connection, as accepted by the tap."""

    def __init__(self, tap: Tap, spec: ListenerSpec) -> None:
        self.tap = tap
        self.spec = spec
        self.transport: asyncio.Transport | None = None
        self.relay: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.client_eof = False
        self.conn: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        lab = self.tap.lab
        peer = transport.get_extra_info("peername") or ("?", 0)
        connection_id = secrets.token_hex(6)
        address = (str(peer[0]), int(peer[1]))
        capture = self.tap._new_capture(connection_id, address)
        world = lab.world_for_peer(address[1])
        conn = Connection(connection_id, self.spec, address, lab.events, capture, world)
        self.conn = conn
        refusal = lab.connections.admit(conn)
        if refusal:
            conn.record("connection.refused", reason=refusal, peer=conn.peer[0])
            transport.abort()
            return
        self.tap.active.add(self)
        conn.record("connection.opened", peer=f"{conn.peer[0]}:{conn.peer[1]}")
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        lab = self.tap.lab
        assert self.conn is not None
        ours, theirs = socket.socketpair()
        self.tap._pair_sockets.update((ours, theirs))
        relay, _ = await loop.connect_accepted_socket(lambda: _ServerSide(self), ours)
        self.relay = relay
        for data in self.pending:
            relay.write(data)
        self.pending.clear()
        if self.client_eof and relay.can_write_eof():
            relay.write_eof()
        if self.transport is None or self.transport.is_closing():
            relay.close()
        try:
            await loop.connect_accepted_socket(
                lambda: lab.server_protocol(self.spec, self.conn),  # type: ignore[arg-type]
                theirs,
                ssl=lab.tls_for(self.conn.world).context if self.spec.implicit_tls else None,
                ssl_handshake_timeout=(
                    lab.config.tls_handshake_timeout if self.spec.implicit_tls else None
                ),
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            # The server side is closed by asyncio; the relay then closes the client.
            self.conn.record("tls.failed", reason=describe_tls_failure(exc))

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.bytes_in += len(data)
        self.tap._kept(self.conn.capture.add(CLIENT, data))
        if self.relay is not None:
            self.relay.write(data)
        else:
            self.pending.append(data)

    def eof_received(self) -> bool:
        # The client may half-close after its last command: pass it on, keep listening.
        self.client_eof = True
        if self.relay is not None and self.relay.can_write_eof():
            self.relay.write_eof()
        return True

    def pause_writing(self) -> None:
        if self.relay is not None:
            self.relay.pause_reading()

    def resume_writing(self) -> None:
        if self.relay is not None:
            self.relay.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.relay is not None:
            self.relay.close()
        conn = self.conn
        if conn is not None and self in self.tap.active:
            self.tap.active.discard(self)
            self.tap.lab.connections.release(conn)
            conn.record(
                "connection.closed",
                bytes_from_client=conn.bytes_in,
                bytes_from_server=conn.bytes_out,
                seconds=round(time.time() - conn.opened_at, 3),
            )
        self.transport = None


class _ServerSide(asyncio.Protocol):
    """Our end of the socket pair whose other end the protocol server holds."""

    def __init__(self, client: _ClientSide) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        conn = self.client.conn
        assert conn is not None
        conn.bytes_out += len(data)
        self.client.tap._kept(conn.capture.add(SERVER, data))
        if self.client.transport is not None:
            self.client.transport.write(data)

    def eof_received(self) -> bool:
        # The server is done: close the client's side once what it sent is flushed.
        if self.client.transport is not None:
            self.client.transport.close()
        return False

    def pause_writing(self) -> None:
        if self.client.transport is not None:
            self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.client.transport is not None:
            self.client.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client.transport is not None:
            self.client.transport.close()


def describe_tls_failure(exc: BaseException) -> str:
    """A short reason for a handshake that failed, for the event log."""
    if isinstance(exc, TimeoutError):
        return "timeout: no TLS handshake came"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return type(exc).__name__
