"""A stranger who knows the learner's password, played for real against the lab.

A scenario with `intruder = true` gives the learner's account a visitor: at
the start of the attempt, a real IMAP client (the standard library's, over
TCP and TLS, like any mail program) logs in to the lab's IMAPS listener from
another loopback address, opens the inbox, reads a message and stays
connected. The lab logs it like every other connection; the account's page
lists it among the last connections. When the learner changes the password,
the lab cuts every session of the account, and the stranger tries again with
the password it knows: the server refuses it.

The stranger's connections are followed as the device `inconnu`, so that a
scenario's objectives can be judged on what the server did to them.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
import threading
import weakref
from typing import Any

from pixlab.lab.runner import Lab

STRANGER_ADDRESS = "127.0.0.7"  # another loopback address: another machine, as the lab sees it


class _StrangerIMAP(imaplib.IMAP4_SSL):
    """imaplib's IMAPS client, connecting from the stranger's own address."""

    def __init__(self, lab: Lab, host: str, context: ssl.SSLContext, timeout: float) -> None:
        self.lab = lab
        self.local_port = 0
        super().__init__(host, lab.listener("imaps").port, ssl_context=context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        listener = self.lab.listener("imaps")
        try:
            sock = socket.create_connection((listener.host, listener.port), timeout,
                                            source_address=(STRANGER_ADDRESS, 0))
        except OSError:  # a system whose loopback is 127.0.0.1 only: still a real connection
            sock = socket.create_connection((listener.host, listener.port), timeout)
        self.local_port = sock.getsockname()[1]
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def _shut_all(sessions: dict[str, _StrangerIMAP]) -> None:
    for client in list(sessions.values()):
        with contextlib.suppress(Exception):
            client.shutdown()
    sessions.clear()


class Intruders:
    """The strangers of the accounts that have one, by the account's address."""

    def __init__(self, lab: Lab, timeout: float = 5.0) -> None:
        self.lab = lab
        self.timeout = timeout
        self._sessions: dict[str, _StrangerIMAP] = {}
        self._lock = threading.Lock()
        # A stranger still connected when the engine goes away closes its socket then.
        weakref.finalize(self, _shut_all, self._sessions)

    def _context(self) -> ssl.SSLContext:
        # A stranger's program trusts the lab's CA, as the class's devices do; the name it
        # typed may be any of the lab's, so only the chain is checked.
        context = ssl.create_default_context(cafile=str(self.lab.ca.ca_path))
        context.check_hostname = False
        return context

    def _log_in(self, address: str, password: str, domain: str,
                follow: list[str]) -> _StrangerIMAP | None:
        """One real login of the stranger; the connection's id is added to `follow`."""
        client: _StrangerIMAP | None = None
        try:
            client = _StrangerIMAP(self.lab, f"imap.{domain}", self._context(), self.timeout)
            self._follow(client, follow)
            client.login(address, password)
            client.select("INBOX", readonly=True)
            client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
            return client
        except (OSError, imaplib.IMAP4.error, ssl.SSLError, EOFError):
            if client is not None:
                self._follow(client, follow)
                with contextlib.suppress(Exception):
                    client.shutdown()
            return None

    def _follow(self, client: _StrangerIMAP, follow: list[str]) -> None:
        connection_id = self.lab.tap.connection_for_peer(client.local_port)
        if connection_id and connection_id not in follow:
            follow.append(connection_id)

    def arrive(self, address: str, password: str, domain: str) -> list[str]:
        """The stranger logs in and stays; returns the ids of its connections.

        A stranger already there (from an older attempt on the account) leaves first.
        """
        self.leave(address)
        follow: list[str] = []
        client = self._log_in(address, password, domain, follow)
        if client is not None:
            with self._lock:
                self._sessions[address] = client
        return follow

    def try_again(self, address: str, password: str, domain: str) -> list[str]:
        """After its session was cut, the stranger logs in again with the password it knows."""
        return self.arrive(address, password, domain)

    def leave(self, address: str) -> None:
        """The account's stranger leaves, closing its connection if it is still open."""
        with self._lock:
            client = self._sessions.pop(address, None)
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()

    def close(self) -> None:
        """Every stranger leaves (the engine stops)."""
        with self._lock:
            addresses = list(self._sessions)
        for address in addresses:
            self.leave(address)

    def __contains__(self, address: Any) -> bool:
        with self._lock:
            return address in self._sessions
