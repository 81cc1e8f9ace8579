"""The lab's IMAP server: IMAP4rev1 (RFC 3501) over the shared store.

Extensions: IDLE (RFC 2177), UIDPLUS (RFC 4315), MOVE (RFC 6851), NAMESPACE
(RFC 2342), ID (RFC 2971), SPECIAL-USE (RFC 6154), LIST-EXTENDED (RFC 5258),
CHILDREN (RFC 3348), LITERAL+ (RFC 7888), UNSELECT (RFC 3691), ENABLE
(RFC 5161), QUOTA (RFC 2087), SASL-IR (RFC 4959); response codes of RFC 5530.

The session is put together from three parts: `imap_base` (state, updates of
the selected mailbox), `imap_folders` and `imap_messages` (the commands of the
authenticated and selected states); this module has the read loop, logins,
SELECT and IDLE.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging

from pixlab.lab import replies as R
from pixlab.lab.access import LoginRefused
from pixlab.lab.imap_base import (
    _VERBS,
    ANY,
    AUTHENTICATED,
    LOGGED_IN,
    LOGOUT,
    NOT_AUTHENTICATED,
    SELECTED,
    ImapError,
    Mailbox,
    _claim_recent,
    command,
)
from pixlab.lab.imap_folders import FolderCommands
from pixlab.lab.imap_messages import MessageCommands
from pixlab.lab.imap_parser import (
    DELIMITER,
    SYSTEM_FLAGS,
    Atom,
    Command,
    ImapSyntaxError,
    atom,
    expect,
    flag_list,
    literal_at_end,
    parse_command,
    tag_of,
    text,
)
from pixlab.lab.session import LineTooLong, SessionEnd

_REFUSALS = {
    "credentials": R.IMAP_AUTH_FAILED,
    "locked": R.IMAP_ACCOUNT_LOCKED,
    "app_password": R.IMAP_APP_PASSWORD_REQUIRED,
    "busy": R.IMAP_TOO_MANY_CONNECTIONS,
}

log = logging.getLogger(__name__)

MAX_BAD_COMMANDS = 10  # Dovecot's number too
QUOTA_ALERT_PERCENT = 90  # from here on, a login gets an [ALERT] about the full mailbox


class ImapSession(FolderCommands, MessageCommands):
    """One IMAP connection."""

    # -- the read loop -----------------------------------------------------

    async def serve(self) -> None:
        await self.send(f"* OK [CAPABILITY {self.capabilities()}] {R.IMAP_GREETING}")
        try:
            while self.state != LOGOUT:
                data = await self.read_command()
                if data is None:
                    return
                await self.execute(data)
        finally:
            self._close_mailbox()

    async def execute(self, data: bytes) -> None:
        """Run one complete command and send its tagged reply."""
        tag, name = tag_of(data), ""
        try:
            try:
                cmd = parse_command(data)
            except ImapSyntaxError:
                raise ImapError(R.IMAP_BAD_COMMAND_LINE) from None
            name = ("UID " if cmd.uid else "") + cmd.name
            verb = _VERBS.get(cmd.name)
            if verb is None or (cmd.uid and not verb.uid):
                raise ImapError(R.IMAP_UNKNOWN_COMMAND.format(command=name))
            if self.state not in verb.states:
                raise ImapError(self._wrong_state(name))
            result = await verb.handler(self, cmd)
            if result is not None:
                if self.state != LOGOUT:
                    # RFC 3501 section 7.4.1: no EXPUNGE during FETCH, STORE or SEARCH.
                    await self.send_updates(cmd.uid or cmd.name not in ("FETCH", "STORE", "SEARCH"))
                await self.send(f"{tag} {result}")
        except ImapSyntaxError as error:
            await self._refuse(tag, R.IMAP_BAD_SYNTAX.format(command=name, detail=error), name)
        except ImapError as error:
            await self._refuse(tag, error.reply, name)
        except (SessionEnd, OSError, EOFError):
            raise
        except Exception:
            # A bug of ours must cost the client one command, not its session.
            # The command's name only: its arguments may hold a password (LOGIN).
            log.exception("IMAP command failed: %s", name[:40])
            self.conn.record("protocol.error", reason="internal error", command=name[:40])
            await self.send(f"{tag} {R.IMAP_SERVER_BUG}")

    async def _refuse(self, tag: str, reply: str, name: str) -> None:
        await self.send(f"{tag} {reply}")
        if not reply.startswith("BAD"):
            return  # NO is a refusal of a valid command, not an abuse
        self.bad_commands += 1
        self.conn.record("protocol.error", reason=reply[:200], command=name[:40])
        if self.bad_commands >= MAX_BAD_COMMANDS:
            raise SessionEnd(R.IMAP_BYE_TOO_MANY_ERRORS, "too many invalid commands")

    def _wrong_state(self, name: str) -> str:
        if self.state == NOT_AUTHENTICATED:
            return R.IMAP_NOT_AUTHENTICATED.format(command=name)
        if _VERBS[name.removeprefix("UID ")].states == frozenset({NOT_AUTHENTICATED}):
            return R.IMAP_ALREADY_AUTHENTICATED.format(command=name)
        return R.IMAP_NO_MAILBOX_SELECTED.format(command=name)

    async def read_command(self) -> bytes | None:
        """A command line with its literals inline; None when the client closed the connection.

        Raises:
            LineTooLong: a line or a literal over the limits (after a reply saying so).
        """
        line = await self.read_line()
        if line is None:
            return None
        chunks, total = [line], len(line)
        # Only APPEND carries a message; any other literal is a name or a search string.
        is_append = [w.upper() for w in line.split(b" ", 2)[1:2]] == [b"APPEND"]
        limit = self.lab.config.max_message_size if is_append else self.max_line
        while (announced := literal_at_end(line)) is not None:
            size, non_synchronising = announced
            total += size
            if size > limit or total > limit + 16 * self.max_line:
                reply = R.IMAP_LITERAL_TOO_LONG.format(limit=limit)
                raise LineTooLong(
                    f"{tag_of(chunks[0])} {reply}\r\n{R.IMAP_BYE_LINE_TOO_LONG}", "literal too long"
                )
            if not non_synchronising:
                await self.send(R.IMAP_CONTINUE)
            data = await self.read_exactly(size)
            line = await self.read_line() if data is not None else None
            if data is None or line is None:
                return None
            chunks += [b"\r\n", data, line]
            total += len(line)
        return b"".join(chunks)

    def inactivity_reply(self) -> str | None:
        return R.IMAP_BYE_INACTIVITY

    def line_too_long_reply(self) -> str | None:
        return R.IMAP_BYE_LINE_TOO_LONG

    # -- what the server offers --------------------------------------------

    @property
    def cleartext_refused(self) -> bool:
        """Whether a login must wait for TLS here (LOGINDISABLED, RFC 3501 section 6.2.3)."""
        return not self.conn.tls and not self.conn.world.allow_cleartext

    def capabilities(self) -> str:
        """What the server can do now: Thunderbird chooses its commands from this list."""
        caps = ["IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE"]
        if self.state == NOT_AUTHENTICATED:
            if not self.conn.tls and self.conn.world.starttls:
                caps.append("STARTTLS")
            caps += ["LOGINDISABLED"] if self.cleartext_refused else ["AUTH=PLAIN", "AUTH=LOGIN"]
        else:
            caps += [
                "NAMESPACE",
                "UNSELECT",
                "UIDPLUS",
                "MOVE",
                "CHILDREN",
                "LIST-EXTENDED",
                "SPECIAL-USE",
                "QUOTA",
            ]
        return " ".join(caps)

    # -- any state -----------------------------------------------------------

    @command(*ANY)
    async def imap_capability(self, cmd: Command) -> str:
        expect(cmd.args, 0, "CAPABILITY takes no arguments.")
        await self.send(f"* CAPABILITY {self.capabilities()}")
        return R.IMAP_COMPLETED.format(command="Capability")

    @command(*ANY)
    async def imap_noop(self, cmd: Command) -> str:
        return R.IMAP_COMPLETED.format(command="NOOP")

    @command(*ANY)
    async def imap_logout(self, cmd: Command) -> str:
        await self.send(R.IMAP_BYE_LOGOUT)
        self.state = LOGOUT
        return R.IMAP_COMPLETED.format(command="Logout")

    @command(*ANY)
    async def imap_id(self, cmd: Command) -> str:
        # RFC 2971: NIL or a list of field/value pairs.
        expect(cmd.args, 1, "ID (<field> <value> ...) or ID NIL")
        fields = cmd.args[0]
        if not (isinstance(fields, list) and len(fields) % 2 == 0) and fields != "NIL":
            raise ImapSyntaxError("Invalid ID parameters.")
        await self.send('* ID ("name" "PixLab" "vendor" "PixLab")')
        return R.IMAP_COMPLETED.format(command="ID")

    # -- not authenticated ---------------------------------------------------

    @command(NOT_AUTHENTICATED)
    async def imap_starttls(self, cmd: Command) -> None:
        if self.conn.tls:
            raise ImapError(R.IMAP_TLS_ACTIVE)
        if not self.conn.world.starttls:
            raise ImapError(R.IMAP_TLS_UNAVAILABLE)
        await self.send(f"{cmd.tag} {R.IMAP_BEGIN_TLS}")
        if not await self.start_tls():
            raise SessionEnd()

    @command(NOT_AUTHENTICATED)
    async def imap_login(self, cmd: Command) -> str:
        expect(cmd.args, 2, "LOGIN <user> <password>")
        if self.cleartext_refused:
            self._auth_failed("LOGIN", "LOGIN", "cleartext login refused before TLS")
            raise ImapError(R.IMAP_PRIVACY_REQUIRED)
        user, password = text(cmd.args[0], "user name"), text(cmd.args[1], "password")
        return await self._log_in(user, password, "LOGIN", "LOGIN")

    @command(NOT_AUTHENTICATED)
    async def imap_authenticate(self, cmd: Command) -> str:
        expect(cmd.args, (1, 2), "AUTHENTICATE <mechanism> [<initial response>]")
        mechanism = atom(cmd.args[0], "mechanism")
        if mechanism not in ("PLAIN", "LOGIN"):
            raise ImapError(R.IMAP_AUTH_UNSUPPORTED)
        if self.cleartext_refused:
            self._auth_failed(mechanism, "AUTHENTICATE", "cleartext login refused before TLS")
            raise ImapError(R.IMAP_PRIVACY_REQUIRED)
        # RFC 4959 (SASL-IR): the first response may come with the command; "=" is empty.
        initial = text(cmd.args[1]) if len(cmd.args) == 2 else None
        if mechanism == "PLAIN":
            response = self._sasl_decode(initial if initial is not None else await self._ask(""))
            parts = response.split(b"\0")
            if len(parts) != 3 or (parts[0] and parts[0] != parts[1]):
                self._auth_failed(mechanism, "AUTHENTICATE", "malformed PLAIN response")
                raise ImapError(R.IMAP_AUTH_FAILED)
            user, password = parts[1], parts[2]
        else:
            # The LOGIN mechanism's challenges are "Username:" and "Password:" in base64.
            if initial is None:
                initial = await self._ask("VXNlcm5hbWU6")
            user = self._sasl_decode(initial)
            password = self._sasl_decode(await self._ask("UGFzc3dvcmQ6"))
        try:
            return await self._log_in(
                user.decode("utf-8"), password.decode("utf-8"), mechanism, "AUTHENTICATE"
            )
        except UnicodeDecodeError:
            self._auth_failed(mechanism, "AUTHENTICATE", "credentials are not UTF-8")
            raise ImapError(R.IMAP_AUTH_FAILED) from None

    async def _ask(self, challenge: str) -> str:
        await self.send(f"+ {challenge}")
        line = await self.read_line()
        if line is None:
            raise SessionEnd()
        if line.strip() == b"*":
            raise ImapError(R.IMAP_AUTH_ABORTED)  # RFC 3501 section 6.2.2
        return line.decode("ascii", "replace").strip()

    def _sasl_decode(self, response: str) -> bytes:
        if response == "=":
            return b""
        try:
            return base64.b64decode(response, validate=True)
        except (binascii.Error, ValueError):
            raise ImapSyntaxError("Invalid base64 data in continued response") from None

    async def _log_in(self, user: str, password: str, mechanism: str, verb: str) -> str:
        try:
            account = self.lab.log_in(self.conn, user, password, mechanism, command=verb)
        except LoginRefused as refused:
            await refused.wait()
            raise ImapError(_REFUSALS[refused.reason]) from None
        self.account = account
        self.state = AUTHENTICATED
        self.timeout = self.lab.config.imap_idle_timeout  # RFC 3501 section 5.4
        usage = self.lab.store.usage(account.id)
        if account.quota_bytes and usage * 100 >= account.quota_bytes * QUOTA_ALERT_PERCENT:
            await self.send(
                R.IMAP_QUOTA_ALERT.format(
                    percent=min(100, usage * 100 // account.quota_bytes),
                    usage=usage // 1024,
                    quota=account.quota_bytes // 1024,
                )
            )
        return R.IMAP_LOGGED_IN.format(capabilities=self.capabilities())

    def _auth_failed(self, mechanism: str, verb: str, reason: str, user: str = "") -> None:
        self.lab.refuse_login(self.conn, mechanism, reason, user, command=verb)

    @command(*LOGGED_IN)
    async def imap_namespace(self, cmd: Command) -> str:
        await self.send(f'* NAMESPACE (("" "{DELIMITER}")) NIL NIL')
        return R.IMAP_COMPLETED.format(command="Namespace")

    @command(*LOGGED_IN)
    async def imap_enable(self, cmd: Command) -> str:
        # RFC 5161: none of the extensions that need enabling is offered, so none is enabled.
        if not cmd.args or not all(isinstance(a, Atom) for a in cmd.args):
            raise ImapSyntaxError("ENABLE needs capability names.")
        await self.send("* ENABLED")
        return R.IMAP_COMPLETED.format(command="Enable")

    # -- authenticated: opening a mailbox ------------------------------------

    @command(*LOGGED_IN)
    async def imap_select(self, cmd: Command) -> str:
        return await self._open(cmd, read_only=False)

    @command(*LOGGED_IN)
    async def imap_examine(self, cmd: Command) -> str:
        return await self._open(cmd, read_only=True)

    async def _open(self, cmd: Command, read_only: bool) -> str:
        expect(cmd.args, 1, f"{cmd.name} <mailbox>")
        # RFC 3501 section 6.3.1: a SELECT, even a failed one, first closes the mailbox.
        self._close_mailbox()
        folder = self._folder(cmd.args[0])
        messages = self.lab.store.messages(folder.id)
        uids = [m.uid for m in messages]
        mailbox = Mailbox(folder, read_only, uids, {m.uid: m for m in messages})
        if not read_only:
            mailbox.recent = _claim_recent(self.lab.store, folder.id, uids)
        self.mailbox = mailbox
        self.state = SELECTED
        self.lab.store.subscribe(self._store_changed)
        keywords = {f for m in messages for f in m.flags if not f.startswith("\\")}
        permanent = "()" if read_only else flag_list([*SYSTEM_FLAGS, *keywords, "\\*"])
        lines = [
            f"* FLAGS {flag_list([*SYSTEM_FLAGS, *keywords])}",
            f"* OK [PERMANENTFLAGS {permanent}] Flags permitted.",
            f"* {len(uids)} EXISTS",
            f"* {len(mailbox.recent)} RECENT",
        ]
        unseen = next((n for n, m in enumerate(messages, 1) if "\\Seen" not in m.flags), None)
        if unseen is not None:
            lines.append(f"* OK [UNSEEN {unseen}] First unseen.")
        lines += [
            f"* OK [UIDVALIDITY {folder.uidvalidity}] UIDs valid",
            f"* OK [UIDNEXT {folder.uidnext}] Predicted next UID",
        ]
        await self.send("\r\n".join(lines))
        self.conn.record(
            "mailbox.selected", folder=folder.name, read_only=read_only, messages=len(uids)
        )
        return R.IMAP_EXAMINED if read_only else R.IMAP_SELECTED

    @command(*LOGGED_IN)
    async def imap_idle(self, cmd: Command) -> str:
        # RFC 2177: updates as they happen, until the client says DONE.
        expect(cmd.args, 0, "IDLE takes no arguments.")
        await self.send(R.IMAP_IDLING)
        reader = asyncio.ensure_future(self.read_line())
        try:
            while True:
                self._wake.clear()
                await self.send_updates(True)
                waker = asyncio.ensure_future(self._wake.wait())
                done, _ = await asyncio.wait({reader, waker}, return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                if reader in done:
                    break
        finally:
            if not reader.done():
                reader.cancel()
        line = reader.result()
        if line is None:
            raise SessionEnd()
        if line.strip().upper() != b"DONE":
            raise ImapError(R.IMAP_EXPECTED_DONE)
        return R.IMAP_COMPLETED.format(command="Idle")
