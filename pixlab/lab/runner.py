"""The lab: store, events, certificates, tap and listeners, in one asyncio loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from pixlab.db import make_engine, own_connection, sqlite_url
from pixlab.lab.certs import CertificateAuthority
from pixlab.lab.config import LISTENERS_BY_NAME, LabConfig, ListenerSpec
from pixlab.lab.events import EventLog
from pixlab.lab.store import AccountInfo, MailStore, normalise_address
from pixlab.lab.tap import Connection, Tap
from pixlab.lab.tls import LabTls, machine_names, specific_address
from pixlab.lab.world import World

T = TypeVar("T")
ServerFactory = Callable[["Lab", Connection], asyncio.Protocol]


@dataclass(frozen=True)
class ListenerInfo:
    """A running listener: what it is and where it really listens."""

    spec: ListenerSpec
    security: str
    host: str
    port: int

    @property
    def name(self) -> str:
        """The listener's name ("imaps", "submission", …)."""
        return self.spec.name

    def as_json(self) -> dict[str, object]:
        """The shape `pixlab sandbox --json` prints."""
        return {
            "name": self.spec.name,
            "protocol": self.spec.protocol,
            "security": self.security,
            "port_canonical": self.spec.port_canonical,
            "host": self.host,
            "port": self.port,
        }


class ConnectionLimits:
    """Counts open connections per peer and per account, and says no past the limits."""

    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self._per_peer: Counter[str] = Counter()
        self._per_account: Counter[str] = Counter()
        self._claimed: dict[Connection, str] = {}

    def admit(self, conn: Connection) -> str | None:
        """Count a new connection; returns why it is refused, or None."""
        if self._per_peer[conn.peer[0]] >= self.config.max_connections_per_peer:
            return "too many connections from this address"
        self._per_peer[conn.peer[0]] += 1
        return None

    def claim_account(self, conn: Connection, address: str) -> bool:
        """Count a logged-in connection for an account; False when it has too many."""
        if self._per_account[address] >= self.config.max_connections_per_account:
            return False
        self._per_account[address] += 1
        self._claimed[conn] = address
        return True

    def release(self, conn: Connection) -> None:
        """Forget a closed connection."""
        self._per_peer[conn.peer[0]] -= 1
        if self._per_peer[conn.peer[0]] <= 0:
            del self._per_peer[conn.peer[0]]
        address = self._claimed.pop(conn, None)
        if address is not None:
            self._per_account[address] -= 1
            if self._per_account[address] <= 0:
                del self._per_account[address]


class LoginRefused(Exception):
    """A login the lab said no to; `reason` is "credentials", "locked" or "busy"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Lockouts:
    """Failed logins per address, for the worlds that lock an account after too many."""

    MAX_TRACKED = 100_000  # a flood of made-up user names must not grow memory for ever

    def __init__(self) -> None:
        self._failures: Counter[str] = Counter()

    def is_locked(self, address: str, limit: int) -> bool:
        """Whether logins to this address are refused until an unlock (limit 0: never)."""
        return limit > 0 and self._failures[address] >= limit

    def failed(self, address: str) -> None:
        """Count one more failed login."""
        if address in self._failures or len(self._failures) < self.MAX_TRACKED:
            self._failures[address] += 1

    def succeeded(self, address: str) -> None:
        """A good login clears the count."""
        self._failures.pop(address, None)

    def unlock(self, address: str) -> None:
        """What the IT service's reset page does."""
        self._failures.pop(normalise_address(address), None)


def _server_factories() -> dict[str, ServerFactory]:
    # Imported here: the protocol modules import this one for type hints.
    from pixlab.lab.imap import ImapSession
    from pixlab.lab.pop3 import Pop3Session
    from pixlab.lab.smtp import smtp_session

    return {"smtp": smtp_session, "pop3": Pop3Session, "imap": ImapSession}


class Lab:
    """A running mail lab. Use `start()`/`stop()` or `with Lab(...) as lab:`."""

    def __init__(self, config: LabConfig, data_dir: Path, engine: Engine | None = None) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = engine or make_engine(sqlite_url(self.data_dir))
        self.store = MailStore(self.engine)
        self.events = EventLog(self.engine)
        self.ca = CertificateAuthority(self.data_dir / "tls")
        self.address = specific_address(config.host)
        self.machine_names = machine_names() if config.name_machine else ()
        self.tls = LabTls(self.ca, World.of(config), self.address, self.machine_names)
        self.tap = Tap(self)
        self.connections = ConnectionLimits(config)
        self.lockouts = Lockouts()
        self.world = self.tls.world
        self._worlds_by_port: OrderedDict[int, World] = OrderedDict()
        self._tls_by_world: dict[World, LabTls] = {self.world: self.tls}
        self._worlds_lock = threading.Lock()
        self.listeners: list[ListenerInfo] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.Server] = []
        self._thread: threading.Thread | None = None
        self._factories = _server_factories()

    # -- life cycle ---------------------------------------------------------

    def start(self, timeout: float = 15.0) -> Lab:
        """Start the loop thread and every listener; returns once they all accept."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            try:
                loop.run_until_complete(self._open_listeners())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            with own_connection(self.engine):
                loop.run_forever()
                loop.run_until_complete(self._shutdown())
            loop.close()

        self.events.start()
        self._thread = threading.Thread(target=run, name="pixlab-lab", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the lab did not start in time")
        if failure:
            self._thread.join()
            self.events.close()
            raise failure[0]
        return self

    async def _open_listeners(self) -> None:
        for name in self.config.listeners:
            spec = LISTENERS_BY_NAME[name]
            if spec.protocol not in self._factories:
                continue
            server = await self.tap.listen(spec, self.config.host, self.config.port_for(spec))
            self._servers.append(server)
            host, port = server.sockets[0].getsockname()[:2]
            self.listeners.append(ListenerInfo(spec, self.config.security(spec), host, port))

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        self.tap.close_all()
        for server in self._servers:
            await server.wait_closed()
        await self.tap.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Close every listener and connection, then commit the pending events."""
        if self._thread is None:
            return
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self._thread = None
        self.events.close()
        self.engine.dispose()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- for the servers and for callers ------------------------------------

    def server_protocol(self, spec: ListenerSpec, conn: Connection) -> asyncio.Protocol:
        """A new protocol server for a connection the tap accepted."""
        return self._factories[spec.protocol](self, conn)

    def log_in(
        self, conn: Connection, user: str, password: str, mechanism: str, **details: Any
    ) -> AccountInfo:
        """Check a login for any protocol, and record it: lock-out, password, connection count.

        Raises:
            LoginRefused: with the reason the server's reply must give.
        """
        address = normalise_address(user)
        if self.lockouts.is_locked(address, conn.world.lockout_after):
            self.refuse_login(conn, mechanism, "account locked", user, **details)
            raise LoginRefused("locked")
        account = self.store.authenticate(user, password)
        if account is None:
            # Only real accounts lock: a name that exists nowhere has nothing to protect.
            if self.store.account(address) is not None:
                self.lockouts.failed(address)
            self.refuse_login(conn, mechanism, "wrong user name or password", user, **details)
            raise LoginRefused("credentials")
        if not self.connections.claim_account(conn, account.address):
            self.refuse_login(conn, mechanism, "too many connections for this account", user,
                              **details)
            raise LoginRefused("busy")
        self.lockouts.succeeded(address)
        conn.account = account.address
        conn.record("auth.succeeded", mechanism=mechanism, cleartext=not conn.tls, **details)
        return account

    def refuse_login(
        self, conn: Connection, mechanism: str, reason: str, user: str | None = None,
        **details: Any,
    ) -> None:
        """Record a refused login (never with its password)."""
        conn.record(
            "auth.failed", mechanism=mechanism, cleartext=not conn.tls, reason=reason,
            user=(user or "")[:320] or None, **details,
        )

    def listener(self, name: str) -> ListenerInfo:
        """The running listener with that name ("pop3s", "submission", …)."""
        for info in self.listeners:
            if info.name == name:
                return info
        raise KeyError(name)

    def is_local_domain(self, domain: str, world: World) -> bool:
        """Whether this lab receives mail for a domain, in a world."""
        domain = domain.lower()
        return domain in world.domains or domain in self.store.domains()

    # -- worlds ---------------------------------------------------------------

    def enter_world(self, local_port: int, world: World) -> None:
        """Say that the connection about to come from this loopback port plays in `world`."""
        with self._worlds_lock:
            self._worlds_by_port[local_port] = world
            self._worlds_by_port.move_to_end(local_port)
            while len(self._worlds_by_port) > 65536:
                self._worlds_by_port.popitem(last=False)

    def registered_world(self, peer: tuple[str, int]) -> World | None:
        """The world PixLab's client registered for this peer; None for a real program.

        PixLab's own connections always come from 127.0.0.1: a phone on the class
        network whose port happens to be a registered one still gets the lab's world.
        """
        if peer[0] != "127.0.0.1":
            return None
        with self._worlds_lock:
            return self._worlds_by_port.get(peer[1])

    def tls_for(self, world: World) -> LabTls:
        """The TLS side of a world: its certificates, chosen by SNI (cached)."""
        with self._worlds_lock:
            tls = self._tls_by_world.get(world)
            if tls is None:
                tls = self._tls_by_world[world] = LabTls(
                    self.ca, world, self.address, self.machine_names
                )
            return tls

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine in the lab's loop from another thread and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)
