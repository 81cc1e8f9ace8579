"""The lab: store, events, certificates, tap and listeners, in one asyncio loop thread."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine

from pixlab.db import database_url, make_engine, own_connection
from pixlab.lab import logs
from pixlab.lab.access import (
    AppPasswords,
    ConnectionLimits,
    FailureDelays,
    Lockouts,
    LoginRefused,
)
from pixlab.lab.certs import CertificateAuthority
from pixlab.lab.config import LISTENERS_BY_NAME, LabConfig, ListenerSpec
from pixlab.lab.events import EventLog
from pixlab.lab.imap import ImapSession
from pixlab.lab.pop3 import Pop3Session
from pixlab.lab.smtp import smtp_session
from pixlab.lab.store import AccountInfo, MailStore, normalise_address
from pixlab.lab.tap import Connection, Tap
from pixlab.lab.tls import LabTls, machine_names, specific_address
from pixlab.lab.world import World

T = TypeVar("T")
ServerFactory = Callable[["Lab", Connection], asyncio.Protocol]
SERVER_FACTORIES: dict[str, ServerFactory] = {
    "smtp": smtp_session,
    "pop3": Pop3Session,
    "imap": ImapSession,
}


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


class Lab:
    """A running mail lab. Use `start()`/`stop()` or `with Lab(...) as lab:`."""

    def __init__(self, config: LabConfig, data_dir: Path, engine: Engine | None = None,
                 url: str | None = None) -> None:
        """`url` names the database (see `pixlab.db.database_url`); `engine` gives one made."""
        self.config = config
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = engine or make_engine(database_url(self.data_dir, url))
        self.store = MailStore(self.engine)
        self.events = EventLog(self.engine)
        self.ca = CertificateAuthority(self.data_dir / "tls")
        self.address = specific_address(config.host)
        self.machine_names = machine_names() if config.name_machine else ()
        self.tls = LabTls(self.ca, World.of(config), self.address, self.machine_names)
        self.tap = Tap(self)
        self.connections = ConnectionLimits(config)
        self.lockouts = Lockouts(self.engine)
        self.app_passwords = AppPasswords(self.engine)
        self.store.on_sessions_ended(self._sessions_ended_elsewhere)
        self.failure_delays = FailureDelays(
            config.auth_failure_delay, config.auth_failure_delay_max
        )
        self.world = self.tls.world
        self._worlds_by_port: OrderedDict[int, World] = OrderedDict()
        self._tls_by_world: dict[World, LabTls] = {self.world: self.tls}
        self._worlds_lock = threading.Lock()
        self.listeners: list[ListenerInfo] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._servers: list[asyncio.Server] = []
        self._thread: threading.Thread | None = None
        self._factories = SERVER_FACTORIES

    # -- life cycle ---------------------------------------------------------

    @property
    def postmaster_address(self) -> str:
        """The lab's postmaster mailbox: mail to <postmaster> and postmaster@ a lab domain."""
        return f"postmaster@{self.world.primary_domain}"

    @property
    def postmaster_password_path(self) -> Path:
        """Where the postmaster's password is kept for the trainer (readable by the owner only)."""
        return self.data_dir / "postmaster-password.txt"

    def ensure_postmaster(self) -> str:
        """Create the postmaster account once, with a password kept in the data directory.

        Returns the password. A postmaster whose password file was deleted gets a
        new password (and keeps its mail).
        """
        path = self.postmaster_password_path
        password = path.read_text().strip() if path.exists() else ""
        if not password:
            password = secrets.token_urlsafe(12)
            path.write_text(password + "\n")
            path.chmod(0o600)
            self.store.create_account(self.postmaster_address, password)
        elif self.store.account(self.postmaster_address) is None:
            self.store.create_account(self.postmaster_address, password)
        return password

    def start(self, timeout: float = 15.0) -> Lab:
        """Start the loop thread and every listener; returns once they all accept."""
        logs.configure()  # before the first connection: aiosmtpd would log passwords
        self.ensure_postmaster()
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
        self.store.listen()  # PostgreSQL: other processes' deliveries wake our IMAP sessions
        self._thread = threading.Thread(target=run, name="pixlab-lab", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the lab did not start in time")
        if failure:
            self._thread.join()
            self.events.close()
            self.store.stop_listening()
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
        self.store.stop_listening()
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
            LoginRefused: with the reason the server's reply must give, and how long
                the server waits before giving it (a network peer's failed logins).
        """
        address = normalise_address(user)
        limit = conn.world.lockout_after
        if self.lockouts.is_locked(address, limit):
            self.refuse_login(conn, mechanism, "account locked", user, **details)
            raise LoginRefused("locked", self._failure_delay(conn, address))
        found = self.store.sign_in(user, password)
        account = found.account if found is not None and found.password_right else None
        if found is not None and found.two_step:
            # Two-step verification: the account's own password is right but not enough for
            # a mail program, which must give an application password instead.
            label = self.app_passwords.verify(address, password)
            if label is None and account is not None:
                self.refuse_login(conn, mechanism, "application password required", user,
                                  **details)
                raise LoginRefused("app_password", self._failure_delay(conn, address))
            account = found.account if label is not None else None
            if account is not None:
                # Logged in with an application password, made for the program `app`.
                details.update(app_login=True, app=label)
        if account is None:
            # Only real accounts lock: a name that exists nowhere changes no row.
            self.lockouts.failed(address, limit)
            self.refuse_login(conn, mechanism, "wrong user name or password", user, **details)
            raise LoginRefused("credentials", self._failure_delay(conn, address))
        if not self.connections.claim_account(conn, account.address):
            self.refuse_login(conn, mechanism, "too many connections for this account", user,
                              **details)
            raise LoginRefused("busy")
        self.lockouts.succeeded(address, limit)
        if not conn.own_client:
            self.failure_delays.succeeded(conn.peer[0], address)
        conn.account = account.address
        conn.record("auth.succeeded", mechanism=mechanism, cleartext=not conn.tls, **details)
        return account

    def end_sessions(self, address: str, reason: str = "password changed") -> int:
        """Cut every open connection logged in to an account; returns how many this process cut.

        What a provider does when the account's password changes: a program (or a
        stranger) that logged in with the old one is disconnected at once, and its
        next login needs the new password. Processes sharing a PostgreSQL database
        hear of it and cut the sessions they hold too.
        """
        address = normalise_address(address)

        async def cut() -> int:
            return self._cut_sessions(address, reason)

        ended = self.call(cut())
        self.store.announce_sessions_ended(address, reason)
        return ended

    def _cut_sessions(self, address: str, reason: str) -> int:
        # In the loop's thread: each session's end is recorded, then its client cut off.
        ended = 0
        for conn, transport in self.tap.logged_in(address):
            conn.record("session.ended", reason=reason, peer=conn.peer[0])
            transport.abort()
            ended += 1
        return ended

    def _sessions_ended_elsewhere(self, address: str, reason: str) -> None:
        # From the change listener's thread: another process changed the account's password.
        loop = self.loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._cut_sessions, normalise_address(address), reason)

    def _failure_delay(self, conn: Connection, address: str) -> float:
        # PixLab's own client is never slowed: lessons make it fail on purpose.
        if conn.own_client:
            return 0.0
        return self.failure_delays.failed(conn.peer[0], address)

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

    def claim_world(self, port: int) -> World:
        """The world PixLab's own client entered from this port (the lab's own by default).

        The tap asks only for connections marked by `Tap.expect_own_client`: a real
        program, on the class network or on the laptop, is always in the lab's world.
        A registration serves one connection.
        """
        with self._worlds_lock:
            return self._worlds_by_port.pop(port, self.world)

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
