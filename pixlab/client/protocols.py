"""The stdlib clients (imaplib, poplib, smtplib) on the lab's network, keeping a transcript.

Each subclass takes a socket that `MailClient` already opened (and, for
SSL/TLS, already encrypted), so the client decides every step itself, and it
writes each line it sends or reads into the trace, secrets masked.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
import ssl
from typing import Any

from pixlab.client.trace import Trace

MASK = "••••••••"


class Recorder:
    """Writes the exchange into a trace, masking secrets and noting when they went in clear."""

    def __init__(self, trace: Trace, secrets: list[bytes]) -> None:
        self.trace = trace
        self.secrets = [s for s in secrets if s]
        self.tls = False

    def sent(self, data: bytes) -> None:
        """Record what the client sent (one or more lines)."""
        for line in data.split(b"\r\n"):
            if not line:
                continue
            if any(secret in line for secret in self.secrets):
                masked = line
                for secret in self.secrets:
                    masked = masked.replace(secret, MASK.encode())
                self.trace.client_said(_text(masked), secret=True, cleartext=not self.tls)
            else:
                self.trace.client_said(_text(line))

    def received(self, data: bytes) -> None:
        """Record a line the server sent."""
        line = data.rstrip(b"\r\n")
        self.trace.server_said(_text(line))


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")[:500]


class LabIMAP(imaplib.IMAP4):
    """imaplib on a socket the client prepared, recording the exchange."""

    def __init__(
        self, sock: socket.socket, host: str, recorder: Recorder, on_greeting: Any
    ) -> None:
        self._prepared = sock
        self.recorder = recorder
        self._on_greeting = on_greeting
        super().__init__(host, 0)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return self._prepared

    def _get_capabilities(self) -> None:
        # imaplib reads the greeting then asks CAPABILITY: the boundary between two steps.
        if self._on_greeting is not None:
            callback, self._on_greeting = self._on_greeting, None
            callback(self)
        super()._get_capabilities()  # type: ignore[misc]  # private in typeshed, stable in CPython

    def send(self, data: Any) -> None:
        self.recorder.sent(data)
        super().send(data)

    def readline(self) -> bytes:
        line = super().readline()
        self.recorder.received(line)
        return line

    def read(self, size: int) -> bytes:
        data = super().read(size)
        self.recorder.trace.server_said(f"{{{len(data)} octets}}")
        return data

    def upgrade(self, context: ssl.SSLContext) -> None:
        """STARTTLS without letting imaplib make its own context."""
        typ, _ = self._simple_command("STARTTLS")  # type: ignore[attr-defined]
        if typ != "OK":
            raise self.error("Couldn't establish TLS session")
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self.file = self.sock.makefile("rb")
        self._tls_established = True
        self.recorder.tls = True

    def refresh_capabilities(self) -> None:
        """Ask CAPABILITY again (after STARTTLS, RFC 3501 section 6.2.1)."""
        self._get_capabilities()


class LabPOP3(poplib.POP3):
    """poplib on a socket the client prepared, recording the exchange."""

    def __init__(self, sock: socket.socket, host: str, recorder: Recorder) -> None:
        self._prepared = sock
        self.recorder = recorder
        super().__init__(host, 0)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return self._prepared

    def _putline(self, line: bytes) -> None:
        self.recorder.sent(line)
        super()._putline(line)  # type: ignore[misc]

    def _getline(self) -> tuple[bytes, int]:
        line, octets = super()._getline()  # type: ignore[misc]
        self.recorder.received(line)
        return line, octets

    def upgrade(self, context: ssl.SSLContext) -> None:
        """STLS with our context (RFC 2595)."""
        self._shortcmd("STLS")  # type: ignore[attr-defined]
        self.sock = context.wrap_socket(self.sock, server_hostname=self.host)
        self.file = self.sock.makefile("rb")
        self._tls_established = True
        self.recorder.tls = True


class LabSMTP(smtplib.SMTP):
    """smtplib on a socket the client prepared, recording the exchange."""

    def __init__(self, sock: socket.socket, host: str, recorder: Recorder, timeout: float) -> None:
        self._prepared = sock
        self.recorder = recorder
        super().__init__(timeout=timeout, local_hostname="poste-eleve")
        self._host = host
        self._sending_body = False

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self._prepared

    def send(self, s: Any) -> None:
        data = s.encode(self.command_encoding) if isinstance(s, str) else s
        if self._sending_body and data.upper() != b"DATA\r\n":
            # The message itself: one line is enough for the transcript.
            self.recorder.trace.client_said(f"[message, {len(data)} octets]")
        else:
            self.recorder.sent(data)
        super().send(data)

    def data(self, msg: Any) -> tuple[int, bytes]:
        self._sending_body = True
        try:
            return super().data(msg)
        finally:
            self._sending_body = False

    def getreply(self) -> tuple[int, bytes]:
        code, message = super().getreply()
        lines = message.split(b"\n") or [b""]
        for index, line in enumerate(lines):
            separator = b"-" if index < len(lines) - 1 else b" "
            self.recorder.received(str(code).encode() + separator + line)
        return code, message

    def upgrade(self, context: ssl.SSLContext) -> None:
        """STARTTLS with our context (RFC 3207)."""
        self.starttls(context=context)
        self.recorder.tls = True
