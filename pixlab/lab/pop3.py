"""The lab's POP3 server: RFC 1939, CAPA (RFC 2449), STLS (RFC 2595), AUTH PLAIN (RFC 5034).

Deletions are only marks until QUIT (RFC 1939 section 6, the UPDATE state):
a connection that drops deletes nothing.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pixlab.lab import replies as R
from pixlab.lab.access import LoginRefused
from pixlab.lab.session import LineSession, SessionEnd
from pixlab.lab.store import AccountInfo, MessageInfo, StoreError

MAX_BAD_COMMANDS = 10
_REFUSALS = {
    "credentials": R.POP3_AUTH_FAILED,
    "locked": R.POP3_ACCOUNT_LOCKED,
    "app_password": R.POP3_APP_PASSWORD_REQUIRED,
    "busy": R.POP3_IN_USE,
}
AUTHORIZATION, TRANSACTION = "authorization", "transaction"


class Pop3Error(Exception):
    """A command failed: `reply` is the -ERR line to send."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass
class _Drop:
    """One message of the maildrop as numbered for this session."""

    info: MessageInfo
    deleted: bool = False


Verb = Callable[["Pop3Session", str], Awaitable[None]]
_VERBS: dict[str, tuple[frozenset[str], Verb]] = {}


def verb(*states: str) -> Callable[[Verb], Verb]:
    """Register `pop_NAME` as the handler of NAME in the given states."""

    def register(method: Verb) -> Verb:
        _VERBS[method.__name__.removeprefix("pop_").upper()] = (frozenset(states), method)
        return method

    return register


class Pop3Session(LineSession):
    """One POP3 connection."""

    def __init__(self, lab, conn) -> None:  # type: ignore[no-untyped-def]
        super().__init__(lab, conn)
        self.state = AUTHORIZATION
        self.user: str | None = None
        self.account: AccountInfo | None = None
        self.maildrop: list[_Drop] = []
        self.bad_commands = 0

    async def serve(self) -> None:
        await self.send(R.POP3_GREETING)
        while True:
            line = await self.read_line()
            if line is None:
                return
            verb_name, _, arg = line.decode("utf-8", "replace").partition(" ")
            verb_name = verb_name.upper()
            entry = _VERBS.get(verb_name)
            try:
                if entry is None:
                    raise Pop3Error(R.POP3_UNKNOWN_COMMAND.format(verb=_printable(verb_name)))
                states, method = entry
                if self.state not in states:
                    raise Pop3Error(
                        R.POP3_NOT_LOGGED_IN if self.state == AUTHORIZATION
                        else R.POP3_ALREADY_LOGGED_IN
                    )
                await method(self, arg)
            except Pop3Error as error:
                await self._refuse(error.reply, verb_name)
            if verb_name == "QUIT" and entry is not None:
                return

    async def _refuse(self, reply: str, verb_name: str) -> None:
        await self.send(reply)
        if reply.startswith("-ERR [AUTH]"):
            return  # wrong passwords are counted by the auth events, not as bad commands
        self.bad_commands += 1
        self.conn.record("protocol.error", reason=reply, command=verb_name[:40])
        if self.bad_commands >= MAX_BAD_COMMANDS:
            raise SessionEnd(R.POP3_TOO_MANY_ERRORS)

    def inactivity_reply(self) -> str | None:
        return R.POP3_INACTIVITY

    def line_too_long_reply(self) -> str | None:
        return R.POP3_LINE_TOO_LONG

    # -- AUTHORIZATION state -------------------------------------------------

    @property
    def cleartext_refused(self) -> bool:
        """Whether a login must wait for TLS here."""
        return not self.conn.tls and not self.conn.world.allow_cleartext

    @verb(AUTHORIZATION, TRANSACTION)
    async def pop_capa(self, arg: str) -> None:
        lines = ["+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]
        if self.state == AUTHORIZATION:
            if not self.conn.tls and self.conn.world.starttls:
                lines.append("STLS")
            if not self.cleartext_refused:
                lines += ["USER", "SASL PLAIN"]
        await self.send_raw(("\r\n".join(lines) + "\r\n.\r\n").encode())

    @verb(AUTHORIZATION)
    async def pop_stls(self, arg: str) -> None:
        if self.conn.tls:
            raise Pop3Error(R.POP3_TLS_ACTIVE)
        if not self.conn.world.starttls:
            raise Pop3Error(R.POP3_TLS_UNAVAILABLE)
        await self.send(R.POP3_BEGIN_TLS)
        if not await self.start_tls():
            raise SessionEnd()

    @verb(AUTHORIZATION)
    async def pop_user(self, arg: str) -> None:
        if self.cleartext_refused:
            self._auth_failed("USER", "cleartext login refused before TLS")
            raise Pop3Error(R.POP3_PLAINTEXT_DISALLOWED)
        if not arg.strip():
            raise Pop3Error(R.POP3_BAD_SYNTAX.format(usage="USER <name>"))
        self.user = arg.strip()
        await self.send(R.POP3_OK)

    @verb(AUTHORIZATION)
    async def pop_pass(self, arg: str) -> None:
        if self.cleartext_refused:
            self._auth_failed("USER", "cleartext login refused before TLS")
            raise Pop3Error(R.POP3_PLAINTEXT_DISALLOWED)
        if self.user is None:
            raise Pop3Error(R.POP3_NO_USERNAME)
        user, self.user = self.user, None
        await self._log_in(user, arg, "USER")

    @verb(AUTHORIZATION)
    async def pop_auth(self, arg: str) -> None:
        mechanism, _, initial = arg.strip().partition(" ")
        if not mechanism:
            # RFC 1734 clients ask for the list with a bare AUTH.
            await self.send_raw(b"+OK\r\nPLAIN\r\n.\r\n")
            return
        if mechanism.upper() != "PLAIN":
            raise Pop3Error(R.POP3_AUTH_UNSUPPORTED)
        if self.cleartext_refused:
            self._auth_failed("PLAIN", "cleartext login refused before TLS")
            raise Pop3Error(R.POP3_PLAINTEXT_DISALLOWED)
        if not initial:
            await self.send("+ ")
            line = await self.read_line()
            if line is None:
                raise SessionEnd()
            initial = line.decode("ascii", "replace").strip()
        if initial == "*":
            raise Pop3Error(R.POP3_AUTH_ABORTED)
        try:
            _authzid, user, password = base64.b64decode(initial, validate=True).split(b"\0")
            await self._log_in(user.decode("utf-8"), password.decode("utf-8"), "PLAIN")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            self._auth_failed("PLAIN", "malformed PLAIN response")
            raise Pop3Error(R.POP3_AUTH_FAILED) from None

    async def _log_in(self, user: str, password: str, mechanism: str) -> None:
        try:
            account = self.lab.log_in(self.conn, user, password, mechanism)
        except LoginRefused as refused:
            await refused.wait()
            raise Pop3Error(_REFUSALS[refused.reason]) from None
        self.account = account
        inbox = self.lab.store.folder(account.id, "INBOX")
        assert inbox is not None
        self.inbox_validity = inbox.uidvalidity
        self.maildrop = [_Drop(m) for m in self.lab.store.messages(inbox.id)]
        self.state = TRANSACTION
        self.timeout = self.lab.config.idle_timeout
        await self.send(R.POP3_LOGGED_IN)

    def _auth_failed(self, mechanism: str, reason: str, user: str | None = None) -> None:
        self.lab.refuse_login(self.conn, mechanism, reason, user)

    # -- TRANSACTION state ---------------------------------------------------

    def _message(self, arg: str) -> tuple[int, _Drop]:
        try:
            number = int(arg.split()[0])
        except (ValueError, IndexError):
            raise Pop3Error(R.POP3_BAD_SYNTAX.format(usage="a message number")) from None
        if not 1 <= number <= len(self.maildrop):
            raise Pop3Error(R.POP3_NO_MESSAGE.format(number=number))
        drop = self.maildrop[number - 1]
        if drop.deleted:
            raise Pop3Error(R.POP3_DELETED_MESSAGE)
        return number, drop

    def _live(self) -> list[tuple[int, _Drop]]:
        return [(n, d) for n, d in enumerate(self.maildrop, 1) if not d.deleted]

    @verb(TRANSACTION)
    async def pop_stat(self, arg: str) -> None:
        live = self._live()
        await self.send(f"+OK {len(live)} {sum(d.info.size for _, d in live)}")

    @verb(TRANSACTION)
    async def pop_list(self, arg: str) -> None:
        if arg.strip():
            number, drop = self._message(arg)
            await self.send(f"+OK {number} {drop.info.size}")
            return
        live = self._live()
        lines = [f"+OK {len(live)} messages:"] + [f"{n} {d.info.size}" for n, d in live]
        await self.send_raw(("\r\n".join(lines) + "\r\n.\r\n").encode())

    @verb(TRANSACTION)
    async def pop_uidl(self, arg: str) -> None:
        if arg.strip():
            number, drop = self._message(arg)
            await self.send(f"+OK {number} {self._unique_id(drop)}")
            return
        lines = ["+OK"] + [f"{n} {self._unique_id(d)}" for n, d in self._live()]
        await self.send_raw(("\r\n".join(lines) + "\r\n.\r\n").encode())

    def _unique_id(self, drop: _Drop) -> str:
        # Dovecot's default pop3_uidl_format: the IMAP UID and UIDVALIDITY in hex,
        # so IMAP and POP3 agree on which message is which.
        return f"{drop.info.uid:08x}{self.inbox_validity:08x}"

    def _raw(self, drop: _Drop) -> bytes:
        # RFC 1939 lets the server lock the maildrop; PixLab does not (IMAP clients share
        # it), so a message this session listed may be gone by now: say so, and go on.
        try:
            return self.lab.store.raw(drop.info.id)
        except StoreError:
            raise Pop3Error(R.POP3_EXPUNGED_MESSAGE) from None

    @verb(TRANSACTION)
    async def pop_retr(self, arg: str) -> None:
        _, drop = self._message(arg)
        raw = self._raw(drop)
        await self.send_raw(f"+OK {len(raw)} octets\r\n".encode() + _dot_stuffed(raw))
        self.conn.record("message.retrieved", folder="INBOX", uid=drop.info.uid, size=len(raw))

    @verb(TRANSACTION)
    async def pop_top(self, arg: str) -> None:
        parts = arg.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise Pop3Error(R.POP3_BAD_SYNTAX.format(usage="TOP <message> <lines>"))
        _, drop = self._message(parts[0])
        raw = self._raw(drop)
        head, separator, body = raw.partition(b"\r\n\r\n")
        lines = body.split(b"\r\n") if separator else []
        if lines and lines[-1] == b"":
            lines.pop()  # the CRLF that ends the last line does not start another one
        # RFC 1939 section 7: asked for more lines than the body has, TOP sends it all.
        wanted = int(parts[1])
        top = head + b"\r\n\r\n" + b"".join(line + b"\r\n" for line in lines[:wanted])
        await self.send_raw(b"+OK\r\n" + _dot_stuffed(top))
        if wanted >= len(lines):
            # The whole message went to the client, as with RETR: fetchmail downloads
            # this way ("TOP n 99999999"), and the trainer must see it as a download.
            self.conn.record("message.retrieved", folder="INBOX", uid=drop.info.uid, size=len(raw))

    @verb(TRANSACTION)
    async def pop_dele(self, arg: str) -> None:
        _, drop = self._message(arg)
        drop.deleted = True
        await self.send(R.POP3_MARKED_DELETED)

    @verb(TRANSACTION)
    async def pop_rset(self, arg: str) -> None:
        for drop in self.maildrop:
            drop.deleted = False
        await self.send(R.POP3_OK)

    @verb(TRANSACTION)
    async def pop_noop(self, arg: str) -> None:
        await self.send(R.POP3_OK)

    @verb(AUTHORIZATION, TRANSACTION)
    async def pop_quit(self, arg: str) -> None:
        doomed = [d for d in self.maildrop if d.deleted]
        if self.state == TRANSACTION and doomed:
            # The UPDATE state (RFC 1939 section 6): deletions happen now, or never.
            self.lab.store.delete_messages(d.info.id for d in doomed)
            for drop in doomed:
                self.conn.record("message.deleted", folder="INBOX", uid=drop.info.uid)
            await self.send(R.POP3_LOGOUT_DELETED)
        else:
            await self.send(R.POP3_LOGOUT)


def _printable(text: str, limit: int = 40) -> str:
    """Echoed client text, cut short and with "?" for what is not printable ASCII.

    A reply line is text for the learner's screen: a NUL, an escape sequence or
    a stray byte sent as a command must not travel back into it.
    """
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


def _dot_stuffed(raw: bytes) -> bytes:
    """A message as a POP3 multi-line body: dots doubled at line starts, CRLF, final dot."""
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    if raw.startswith(b"."):
        raw = b"." + raw
    return raw.replace(b"\r\n.", b"\r\n..") + b".\r\n"
