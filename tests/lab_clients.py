"""How the protocol tests reach a lab: stdlib clients that resolve the lab's names, and its events.

PixLab's own client never asks the system resolver: it maps a scenario's host
names (`smtp.lycee-exemple.test`) to the lab's listeners, sends the typed name
as SNI and checks the certificate against it. The classes here do the same
with the unmodified stdlib clients, so that the certificate lessons see the
exact `ssl` errors a learner's program raises.
"""

from __future__ import annotations

import poplib
import smtplib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from pixlab.lab.events import Event
from pixlab.lab.runner import Lab

Address = tuple[str, int]


def _connect(address: Address, timeout: float | None) -> socket.socket:
    return socket.create_connection(address, timeout)


class ResolvedSMTP(smtplib.SMTP):
    """`smtplib.SMTP` to `host`, reached at the lab's address; STARTTLS checks `host`."""

    def __init__(self, address: Address, host: str, timeout: float = 5.0) -> None:
        self.lab_address = address
        super().__init__(host, address[1], timeout=timeout)

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Address | None = None
    ) -> tuple[int, bytes]:
        self.greeting = super().connect(host, port, source_address)
        return self.greeting

    def _get_socket(self, host: str, port: int, timeout: float | None) -> socket.socket:
        return _connect(self.lab_address, timeout)


class ResolvedSMTP_SSL(smtplib.SMTP_SSL):  # noqa: N801 (named after smtplib's class)
    """`smtplib.SMTP_SSL` to `host`, reached at the lab's address; the certificate must name it."""

    def __init__(self, address: Address, host: str, context: Any, timeout: float = 5.0) -> None:
        self.lab_address = address
        super().__init__(host, address[1], timeout=timeout, context=context)

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: Address | None = None
    ) -> tuple[int, bytes]:
        self.greeting = super().connect(host, port, source_address)
        return self.greeting

    def _get_socket(self, host: str, port: int, timeout: float | None) -> socket.socket:
        return self.context.wrap_socket(_connect(self.lab_address, timeout), server_hostname=host)


class ResolvedPOP3(poplib.POP3):
    """`poplib.POP3` to `host`, reached at the lab's address; STLS checks `host`."""

    def __init__(self, address: Address, host: str, timeout: float = 5.0) -> None:
        self.lab_address = address
        try:
            super().__init__(host, address[1], timeout=timeout)
        except BaseException:
            # poplib leaves its socket open when the greeting does not come.
            if getattr(self, "sock", None) is not None:
                self.close()
            raise

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return _connect(self.lab_address, timeout)


class ResolvedPOP3_SSL(poplib.POP3_SSL):  # noqa: N801 (named after poplib's class)
    """`poplib.POP3_SSL` to `host`, reached at the lab's address; the certificate must name it."""

    def __init__(self, address: Address, host: str, context: Any, timeout: float = 5.0) -> None:
        self.lab_address = address
        super().__init__(host, address[1], timeout=timeout, context=context)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = _connect(self.lab_address, timeout)
        return self.context.wrap_socket(sock, server_hostname=self.host)


def address(lab: Lab, listener: str) -> Address:
    """Where a listener of a running lab really is."""
    info = lab.listener(listener)
    return info.host, info.port


def inbox(lab: Lab, address: str) -> list[bytes]:
    """The raw messages in an account's INBOX, in UID order, read from the store."""
    account = lab.store.account(address)
    assert account is not None
    folder = lab.store.folder(account.id, "INBOX")
    assert folder is not None
    return [lab.store.raw(m.id) for m in lab.store.messages(folder.id)]


def smtp_reply(constant: str, **values: object) -> tuple[int, bytes]:
    """A reply constant as smtplib reports it: the code, then the text after it."""
    line = constant.format(**values)
    return int(line[:3]), line[4:].encode()


class EventTrail:
    """Every event a lab records from now on, in order, as an in-process subscriber sees them."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.events: list[Event] = []
        self._lock = threading.Lock()
        lab.events.subscribe(self._add)

    def _add(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def close(self) -> None:
        """Stop listening."""
        self.lab.events.unsubscribe(self._add)

    def of(self, kind: str, connection_id: str | None = None) -> list[Event]:
        """The events of one kind (and of one connection, if given)."""
        with self._lock:
            return [
                e
                for e in self.events
                if e.kind == kind and (connection_id is None or e.connection_id == connection_id)
            ]

    def connection_id(self, sock: socket.socket) -> str:
        """The tap's id for the connection a client socket made."""
        host, port = sock.getsockname()[:2]
        peer = f"{host}:{port}"
        for event in self.of("connection.opened"):
            if event.data.get("peer") == peer:
                assert event.connection_id is not None
                return event.connection_id
        raise AssertionError(f"no connection from {peer}")

    def wait_for(
        self, kind: str, match: Callable[[Event], bool] = lambda e: True, timeout: float = 5.0
    ) -> Event:
        """The first event of a kind that matches, waiting for it to be recorded."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.of(kind):
                if match(event):
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"no {kind} event within {timeout} s: {self.events}")
            time.sleep(0.02)


def bad_certificates(listeners: tuple[str, ...], host: str) -> tuple[tuple[object, ...], ...]:
    """(listener, kind, OpenSSL verify code, its message) for each flawed certificate."""
    from pixlab.lab.certs import CertificateKind

    flaws = (
        (CertificateKind.OTHER_NAME, 62,
         f"Hostname mismatch, certificate is not valid for '{host}'."),
        (CertificateKind.EXPIRED, 10, "certificate has expired"),
        (CertificateKind.SELF_SIGNED, 18, "self-signed certificate"),
    )
    return tuple((listener, *flaw) for listener in listeners for flaw in flaws)
