"""The lab network's tap: a relay in front of every listener that records the wire.

A client's TCP connection ends at the tap. The tap gives it an id, hands the
protocol server living in the same loop a transport of its own (`_ServerEnd`),
and copies the bytes both ways, keeping the first `capture_limit` bytes of
each connection.
That capture is what a spy on the network would read: the commands and the
password in clear without TLS, only TLS records with it. Real programs
(Thunderbird, a phone on the classroom Wi-Fi) go through the same tap.

The hand-over is in memory rather than through a socket pair: a socket pair
cost two more system calls and two more loop wake-ups for every chunk each
way, about a third of the lab's CPU per session. What the server writes in one
turn of the loop goes to the client as one write, as the socket pair's reads
used to gather it, and is recorded as one chunk.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import ssl
import threading
import time
import weakref
from asyncio import sslproto
from collections import OrderedDict
from collections.abc import Callable, Iterable
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
    # PixLab's own simulated client; False for a real mail program (Thunderbird, a phone,
    # curl), on the network or on the laptop. Set by Tap.expect_own_client's mark only.
    own_client: bool = False
    bytes_in: int = 0
    bytes_out: int = 0
    # Sends now what the server has written so far (see _ServerEnd.flush).
    flush: Callable[[], None] = field(default=lambda: None, repr=False)

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
        # The loop thread adds captures; a purge in a web thread forgets some (see forget).
        self._captures_lock = threading.Lock()
        self._by_peer_port: OrderedDict[int, str] = OrderedDict()
        self._retained = 0
        # Loopback ports PixLab's own client is about to connect from (see expect_own_client).
        self._own_ports: OrderedDict[int, None] = OrderedDict()
        self._own_lock = threading.Lock()
        self.active: set[_ClientSide] = set()
        # The transport of every relayed connection's server, while it lives: see wait_closed.
        self._server_ends: weakref.WeakSet[_ServerEnd] = weakref.WeakSet()

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

    def expect_own_client(self, port: int) -> None:
        """Say that the next connection from this loopback port is PixLab's own client.

        The client calls this from its own thread with the port it has just bound,
        before connecting; the tap takes the mark back when that connection
        arrives, so a program that later gets the same port is not mistaken for it.
        """
        with self._own_lock:
            self._own_ports[port] = None
            while len(self._own_ports) > 65536:
                self._own_ports.popitem(last=False)

    def forget_own_client(self, port: int) -> None:
        """The client's connection from this port never reached the lab: drop its mark."""
        with self._own_lock:
            self._own_ports.pop(port, None)

    def _is_own_client(self, peer: tuple[str, int]) -> bool:
        # The client always connects from 127.0.0.1: a peer on the network never counts.
        try:
            if not ipaddress.ip_address(peer[0]).is_loopback:
                return False
        except ValueError:
            return False
        with self._own_lock:
            if peer[1] not in self._own_ports:
                return False
            del self._own_ports[peer[1]]
            return True

    def forget(self, connection_ids: Iterable[str]) -> int:
        """Drop the wire captures of these connections (a learner's data being deleted).

        A connection still open keeps nothing more either: its capture is emptied
        and has no room left. Returns how many captures went.
        """
        gone = 0
        with self._captures_lock:
            for connection_id in connection_ids:
                capture = self._captures.pop(connection_id, None)
                if capture is None:
                    continue
                self._retained -= capture.size
                capture.chunks.clear()
                capture.limit = capture.size = 0
                gone += 1
        return gone

    def connection_ids(self) -> list[str]:
        """The connections whose capture is retained, oldest first."""
        with self._captures_lock:
            return list(self._captures)

    def _new_capture(self, connection_id: str, peer: tuple[str, int]) -> WireCapture:
        capture = WireCapture(self.lab.config.capture_limit)
        with self._captures_lock:
            self._captures[connection_id] = capture
        self._by_peer_port[peer[1]] = connection_id
        self._by_peer_port.move_to_end(peer[1])
        while len(self._by_peer_port) > 65536:
            self._by_peer_port.popitem(last=False)
        return capture

    def _kept(self, size: int) -> None:
        # Forget the oldest captures once the total goes over the budget.
        with self._captures_lock:
            self._retained += size
            while self._retained > self.lab.config.capture_retained and len(self._captures) > 1:
                _, oldest = self._captures.popitem(last=False)
                self._retained -= oldest.size

    def logged_in(self, account: str) -> list[tuple[Connection, asyncio.Transport]]:
        """The open connections logged in to an account, with their client transports."""
        return [(side.conn, side.transport) for side in list(self.active)
                if side.conn is not None and side.conn.account == account
                and side.transport is not None]

    def close_all(self) -> None:
        """Abort every open connection (the lab is stopping)."""
        for side in list(self.active):
            if side.transport is not None:
                side.transport.abort()

    async def wait_closed(self, turns: int = 100) -> None:
        """Let the loop turn until every relayed connection's server has seen its end.

        Closing a relayed connection takes a few turns of the loop: the client's
        side, then the protocol server, whose TLS layer may be waiting for the
        peer's close_notify. A loop that stops sooner leaves them half done.
        """
        for _ in range(turns):
            if all(end.lost for end in list(self._server_ends)):
                return
            await asyncio.sleep(0)


class _ClientSide(asyncio.Protocol):
    """The client's TCP connection, as accepted by the tap."""

    def __init__(self, tap: Tap, spec: ListenerSpec) -> None:
        self.tap = tap
        self.spec = spec
        self.transport: asyncio.Transport | None = None
        self.server: _ServerEnd | None = None
        self.conn: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        lab = self.tap.lab
        peer = transport.get_extra_info("peername") or ("?", 0)
        connection_id = secrets.token_hex(6)
        address = (str(peer[0]), int(peer[1]))
        capture = self.tap._new_capture(connection_id, address)
        own_client = self.tap._is_own_client(address)
        # Only PixLab's client enters a scenario's world: a real program is always in the
        # lab's own, even one whose port was once a client's.
        world = lab.claim_world(address[1]) if own_client else lab.world
        conn = Connection(connection_id, self.spec, address, lab.events, capture, world,
                          own_client=own_client)
        self.conn = conn
        refusal = lab.connections.admit(conn)
        if refusal:
            conn.record("connection.refused", reason=refusal, peer=conn.peer[0])
            transport.abort()
            return
        self.tap.active.add(self)
        # `program`: a real mail program (Thunderbird, a phone, curl), not PixLab's own client.
        conn.record("connection.opened", peer=f"{conn.peer[0]}:{conn.peer[1]}",
                    program=not own_client)
        self.server = _ServerEnd(self, transport)
        conn.flush = self.server.flush
        self.tap._server_ends.add(self.server)
        protocol = lab.server_protocol(self.spec, conn)
        if not self.spec.implicit_tls:
            self.server.set_protocol(protocol)
            protocol.connection_made(self.server)
            return
        loop = asyncio.get_running_loop()
        handshake = loop.create_future()
        handshake.add_done_callback(self._handshake_done)
        tls = sslproto.SSLProtocol(
            loop,
            protocol,
            lab.tls_for(conn.world).implicit_context,
            handshake,
            server_side=True,
            ssl_handshake_timeout=lab.config.tls_handshake_timeout,  # type: ignore[arg-type]
        )
        self.server.set_protocol(tls)
        tls.connection_made(self.server)

    def _handshake_done(self, handshake: asyncio.Future[None]) -> None:
        if handshake.cancelled() or handshake.exception() is None:
            return
        exc = handshake.exception()
        assert self.conn is not None and exc is not None
        self.conn.record("tls.failed", reason=describe_tls_failure(exc))
        if self.server is not None:
            self.server.close()

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.bytes_in += len(data)
        self.tap._kept(self.conn.capture.add(CLIENT, data))
        if self.server is not None:
            self.server.deliver(data)
            # What the server answered at once (a TLS handshake's flight) goes now.
            self.server.flush()

    def eof_received(self) -> bool:
        # The client may half-close after its last command: pass it on, keep listening.
        if self.server is not None:
            self.server.deliver_eof()
        return True

    def pause_writing(self) -> None:
        if self.server is not None:
            self.server.pause_protocol_writing()

    def resume_writing(self) -> None:
        if self.server is not None:
            self.server.resume_protocol_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.server is not None:
            self.server.client_gone()
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


class _ServerEnd(asyncio.Transport):
    """The transport a protocol server is given: its bytes go through the tap to the client.

    It behaves as a socket transport would for the server (flow control both
    ways, EOF, close, abort, STARTTLS through `loop.start_tls`), with the
    client's TCP transport underneath instead of a socket.
    """

    _start_tls_compatible = True  # loop.start_tls() may wrap it (STARTTLS, STLS)

    def __init__(self, client: _ClientSide, client_transport: asyncio.Transport) -> None:
        super().__init__(
            {
                "peername": client_transport.get_extra_info("peername"),
                "sockname": client_transport.get_extra_info("sockname"),
            }
        )
        self._client = client
        self._client_transport = client_transport
        self._loop = asyncio.get_running_loop()
        self._protocol: asyncio.BaseProtocol | None = None
        self._outgoing: list[bytes] = []  # written this turn of the loop, not yet sent
        self._reading_paused = False
        self._held: list[bytes | None] = []  # received while paused; None is the EOF
        self._writing_paused = False
        self._closing = False
        self.lost = False  # the server's protocol has been told the connection is over

    # -- what the server calls ---------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        if not self._outgoing:
            self._loop.call_soon(self._send)
        self._outgoing.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send now what was written this turn of the loop.

        A write is otherwise sent at the next turn, so that a reply written in
        several pieces leaves as one segment. A server that knows its reply is
        complete (it waits for the client's next line) calls this: the client
        gets its answer without waiting for everything else the loop has to do
        in this turn, at 16 busy clients several milliseconds a round trip.
        """
        self._send()

    def _send(self) -> None:
        if not self._outgoing:
            return
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        conn = self._client.conn
        assert conn is not None
        conn.bytes_out += len(data)
        self._client.tap._kept(conn.capture.add(SERVER, data))
        self._client_transport.write(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        # The server is done: close the client's side once what it sent is flushed.
        self._send()
        self._client_transport.close()

    def get_write_buffer_size(self) -> int:
        pending = sum(len(d) for d in self._outgoing)
        return pending + self._client_transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._client_transport.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._client_transport.set_write_buffer_limits(high, low)

    def is_reading(self) -> bool:
        return not self._reading_paused and not self._closing

    def pause_reading(self) -> None:
        if self._closing or self._reading_paused:
            return
        self._reading_paused = True
        self._client_transport.pause_reading()

    def resume_reading(self) -> None:
        if self._closing or not self._reading_paused:
            return
        self._reading_paused = False
        self._client_transport.resume_reading()
        if self._held:
            self._loop.call_soon(self._release_held)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self._protocol is not None
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._shut(None)

    def abort(self) -> None:
        self._shut(None)

    def _force_close(self, exc: BaseException | None) -> None:
        # Called by asyncio's SSL protocol on a fatal error, as on a socket transport.
        self._shut(exc)

    def _shut(self, exc: BaseException | None) -> None:
        # Whatever way the server ends, the client sees what was written, then
        # a clean close: that is what it saw when a socket pair was in between.
        if self._closing:
            return
        self._closing = True
        self._send()
        self._client_transport.close()
        self._loop.call_soon(self._connection_lost, exc)

    # -- what the client side calls ------------------------------------------

    def deliver(self, data: bytes) -> None:
        """Hand bytes from the client to the server's protocol."""
        if self._closing:
            return
        if self._reading_paused or self._held:
            self._held.append(data)
            return
        self._feed(data)

    def deliver_eof(self) -> None:
        """The client half-closed: tell the server's protocol, as a socket would."""
        if self._closing:
            return
        if self._reading_paused or self._held:
            self._held.append(None)
            return
        self._eof()

    def client_gone(self) -> None:
        """The client's connection is closed: the server sees the end of its input."""
        if self._closing:
            return
        self._held.clear()
        self._eof()
        self._shut(None)

    def pause_protocol_writing(self) -> None:
        """The client's send buffer is full: the server must wait (its drain() blocks)."""
        if not self._writing_paused and self._protocol is not None:
            self._writing_paused = True
            self._protocol.pause_writing()

    def resume_protocol_writing(self) -> None:
        """The client's send buffer has room again."""
        if self._writing_paused and self._protocol is not None:
            self._writing_paused = False
            self._protocol.resume_writing()

    # -- inside ----------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        protocol = self._protocol
        if isinstance(protocol, asyncio.BufferedProtocol):
            view = memoryview(data)
            while view:
                buffer = memoryview(protocol.get_buffer(len(view)))
                size = min(len(buffer), len(view))
                buffer[:size] = view[:size]
                protocol.buffer_updated(size)
                view = view[size:]
        elif isinstance(protocol, asyncio.Protocol):
            protocol.data_received(data)

    def _eof(self) -> None:
        protocol = self._protocol
        try:
            keep_open = isinstance(protocol, asyncio.Protocol | asyncio.BufferedProtocol) and bool(
                protocol.eof_received()
            )
        except Exception as exc:  # as a socket transport does: the connection is done
            self._shut(exc)
            return
        if not keep_open:
            self.close()

    def _release_held(self) -> None:
        while self._held and not self._reading_paused and not self._closing:
            data = self._held.pop(0)
            if data is None:
                self._eof()
            else:
                self._feed(data)

    def _connection_lost(self, exc: BaseException | None) -> None:
        if self.lost:
            return
        self.lost = True
        if self._protocol is not None:
            self._protocol.connection_lost(exc)  # type: ignore[arg-type]


def describe_tls_failure(exc: BaseException) -> str:
    """A short reason for a handshake that failed, for the event log."""
    # asyncio ends a handshake that takes too long with a ConnectionAbortedError
    # ("SSL handshake is taking longer than 5.0 seconds: aborting the connection").
    if isinstance(exc, TimeoutError) or (
        isinstance(exc, ConnectionAbortedError) and "handshake is taking longer" in str(exc)
    ):
        return "timeout: no TLS handshake came"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return type(exc).__name__
