"""What the lab's own line-based servers (POP3, IMAP) share: reading, timeouts, TLS."""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING

from pixlab.lab.tap import Connection, describe_tls_failure

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab


class SessionEnd(Exception):
    """The session must end now, after sending `reply` if there is one."""

    def __init__(self, reply: str | None = None, reason: str = "") -> None:
        super().__init__(reason or reply or "end")
        self.reply = reply
        self.reason = reason


class LineTooLong(SessionEnd):
    """The peer sent a line longer than the protocol allows."""


class SessionTimeout(SessionEnd):
    """The peer stayed silent for too long."""


class LineSession(asyncio.StreamReaderProtocol):
    """A protocol server speaking in CRLF lines over a tapped connection."""

    max_line = 1024

    def __init__(self, lab: Lab, conn: Connection) -> None:
        self.lab = lab
        self.conn = conn
        self.timeout = lab.config.preauth_timeout
        self.reader = asyncio.StreamReader(limit=self.max_line)
        self.writer: asyncio.StreamWriter | None = None
        super().__init__(self.reader, self._run)

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None:
            self.lab.tls.established(self.conn, ssl_object)
        try:
            await self.serve()
        except SessionEnd as end:
            if end.reason:
                self.conn.record("protocol.error", reason=end.reason)
            if end.reply is not None:
                await self._send_quietly(end.reply)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the peer went away: nothing to answer
        finally:
            writer.close()

    async def serve(self) -> None:
        """Speak the protocol until the session ends."""
        raise NotImplementedError

    async def read_line(self) -> bytes | None:
        """The next line without its CRLF; None when the peer closed the connection.

        Raises:
            LineTooLong: over `max_line` bytes.
            SessionTimeout: nothing came for `self.timeout` seconds.
        """
        self.conn.flush()  # the reply is complete: the client is waiting for it
        try:
            async with asyncio.timeout(self.timeout):
                line = await self.reader.readuntil(b"\n")
        except TimeoutError:
            raise SessionTimeout(self.inactivity_reply(), "client silent too long") from None
        except asyncio.LimitOverrunError:
            raise LineTooLong(self.line_too_long_reply(), "line too long") from None
        except asyncio.IncompleteReadError:
            return None
        return line.rstrip(b"\r\n")

    async def read_exactly(self, size: int) -> bytes | None:
        """Exactly `size` bytes (an IMAP literal); None when the peer closed the connection.

        Raises:
            SessionTimeout: the bytes did not all come within `self.timeout` seconds.
        """
        self.conn.flush()
        try:
            async with asyncio.timeout(self.timeout):
                return await self.reader.readexactly(size)
        except TimeoutError:
            raise SessionTimeout(self.inactivity_reply(), "client silent too long") from None
        except asyncio.IncompleteReadError:
            return None

    async def send(self, text: str | bytes) -> None:
        """Send one reply line (CRLF added)."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        assert self.writer is not None
        self.writer.write(data + b"\r\n")
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (multi-line replies)."""
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def _send_quietly(self, text: str) -> None:
        try:
            await self.send(text)
        except (ConnectionError, RuntimeError):
            pass

    async def start_tls(self) -> bool:
        """Upgrade to TLS after STARTTLS/STLS; False (and recorded) if the handshake failed."""
        assert self.writer is not None
        # Anything the client sent in clear after the command must not be taken
        # as if it came over TLS (the STARTTLS injection of CVE-2011-0411).
        self.reader._buffer.clear()  # type: ignore[attr-defined]
        try:
            await self.writer.start_tls(
                self.lab.tls_for(self.conn.world).context,
                ssl_handshake_timeout=self.lab.config.tls_handshake_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            self.conn.record("tls.failed", reason=describe_tls_failure(exc))
            return False
        self.lab.tls.established(self.conn, self.writer.get_extra_info("ssl_object"))
        return True

    def inactivity_reply(self) -> str | None:
        """What to say to a peer that stayed silent (None: just close)."""
        return None

    def line_too_long_reply(self) -> str | None:
        """What to say before closing on an over-long line."""
        return None
