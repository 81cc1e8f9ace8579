"""The lab's IMAP server: IMAP4rev1 (RFC 3501) over the shared store.

Extensions: IDLE (RFC 2177), UIDPLUS (RFC 4315), MOVE (RFC 6851), NAMESPACE
(RFC 2342), ID (RFC 2971), SPECIAL-USE (RFC 6154), LIST-EXTENDED (RFC 5258),
CHILDREN (RFC 3348), LITERAL+ (RFC 7888), UNSELECT (RFC 3691), ENABLE
(RFC 5161), QUOTA (RFC 2087), SASL-IR (RFC 4959); response codes of RFC 5530.

A session keeps its own numbering of the selected mailbox (sequence numbers
only change when the client is told, RFC 3501 section 7.4.1). The store calls
back after every change, from whatever thread made it; the session then reloads
the listing and tells its client what happened (EXISTS, EXPUNGE, FETCH FLAGS)
at the next moment the protocol allows, or at once while it IDLEs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from pixlab.lab import replies as R
from pixlab.lab.imap_fetch import NEEDS_CONTENT, FetchItem, ParsedMessage, parse_fetch_items
from pixlab.lab.imap_parser import (
    DELIMITER,
    RECENT,
    SYSTEM_FLAGS,
    Atom,
    Command,
    ImapSyntaxError,
    Token,
    atom,
    expect,
    flag_list,
    format_date_time,
    list_pattern,
    literal,
    literal_at_end,
    mailbox_name,
    parse_command,
    parse_date_time,
    parse_flags,
    parse_sequence_set,
    quote,
    quote_mailbox,
    tag_of,
    text,
)
from pixlab.lab.imap_search import BadCharset, Candidate, parse_search
from pixlab.lab.session import LineSession, LineTooLong, SessionEnd
from pixlab.lab.store import (
    AccountInfo,
    FolderInfo,
    MailStore,
    MessageInfo,
    QuotaExceeded,
    StoreError,
    UnknownFolder,
)

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab
    from pixlab.lab.tap import Connection

log = logging.getLogger(__name__)

NOT_AUTHENTICATED, AUTHENTICATED, SELECTED, LOGOUT = "not authenticated", "auth", "selected", "out"
ANY = (NOT_AUTHENTICATED, AUTHENTICATED, SELECTED)
LOGGED_IN = (AUTHENTICATED, SELECTED)
MAX_BAD_COMMANDS = 10
FETCH_BATCH = 200  # messages whose bytes are loaded at once by a FETCH
PARSED_CACHE = 16  # parsed messages a session keeps (Thunderbird fetches one message in steps)
QUOTA_ALERT_PERCENT = 90
MAX_NAME_LENGTH = 200


class ImapError(Exception):
    """A command failed: `reply` is the tagged reply without its tag ("NO …" or "BAD …")."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


Handler = Callable[["ImapSession", Command], Awaitable[str | None]]


@dataclass(frozen=True)
class _Verb:
    states: frozenset[str]
    handler: Handler
    uid: bool  # also valid after UID (RFC 3501 section 6.4.8, RFC 4315, RFC 6851)


_VERBS: dict[str, _Verb] = {}


def command(*states: str, uid: bool = False) -> Callable[[Handler], Handler]:
    """Register `imap_NAME` as the handler of NAME in the given states."""

    def register(method: Handler) -> Handler:
        name = method.__name__.removeprefix("imap_").upper()
        _VERBS[name] = _Verb(frozenset(states), method, uid)
        return method

    return register


# \Recent belongs to the first session that sees a message (RFC 3501 section 2.3.2).
# Which UIDs were already seen lives in memory, per store: the lab runs in one process.
_RECENT_SEEN: WeakKeyDictionary[MailStore, dict[int, int]] = WeakKeyDictionary()


def _claim_recent(store: MailStore, folder_id: int, uids: list[int]) -> set[int]:
    seen = _RECENT_SEEN.setdefault(store, {})
    last = seen.get(folder_id, 0)
    if uids:
        seen[folder_id] = max(last, uids[-1])
    return {uid for uid in uids if uid > last}


def _unclaimed_recent(store: MailStore, folder_id: int, uids: list[int]) -> int:
    last = _RECENT_SEEN.get(store, {}).get(folder_id, 0)
    return len(uids) - bisect_right(uids, last)


@dataclass
class Mailbox:
    """The selected mailbox as this session has numbered it."""

    folder: FolderInfo
    read_only: bool
    uids: list[int]  # sequence number n is uids[n - 1]
    messages: dict[int, MessageInfo]  # by UID
    recent: set[int] = field(default_factory=set)
    dirty: bool = False  # the store changed since the client was last told

    @property
    def highest_uid(self) -> int:
        """The highest UID this session has announced (or the folder's before it)."""
        return max(self.uids[-1] if self.uids else 0, self.folder.uidnext - 1)

    def seq(self, uid: int) -> int:
        """The sequence number of a message of the mailbox."""
        return bisect_left(self.uids, uid) + 1

    def flags(self, info: MessageInfo) -> frozenset[str]:
        """The flags as this session reports them (\\Recent is per session)."""
        return info.flags | {RECENT} if info.uid in self.recent else info.flags


def uid_set(uids: list[int]) -> str:
    """UIDs as a compact set (`1:3,7`), for COPYUID."""
    runs: list[list[int]] = []
    for uid in sorted(uids):
        if runs and runs[-1][1] == uid - 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)


class ImapSession(LineSession):
    """One IMAP connection."""

    def __init__(self, lab: Lab, conn: Connection) -> None:
        # The stream reader's limit is the longest line the server accepts.
        self.max_line = lab.config.max_line_length
        super().__init__(lab, conn)
        self.state = NOT_AUTHENTICATED
        self.account: AccountInfo | None = None
        self.mailbox: Mailbox | None = None
        self.bad_commands = 0
        self._wake = asyncio.Event()
        self._parsed: OrderedDict[int, ParsedMessage] = OrderedDict()

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
            log.exception("IMAP command failed: %r", data[:200])
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
        is_append = line.split(b" ", 2)[1:2] == [b"APPEND"] or line.split(b" ", 2)[1:2] == [
            b"append"
        ]
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
        return not self.conn.tls and not self.lab.config.allow_cleartext

    def capabilities(self) -> str:
        """What the server can do now: Thunderbird chooses its commands from this list."""
        caps = ["IMAP4rev1", "SASL-IR", "LITERAL+", "ID", "ENABLE", "IDLE"]
        if self.state == NOT_AUTHENTICATED:
            if not self.conn.tls and self.lab.config.starttls:
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
        if not self.lab.config.starttls:
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
        account = self.lab.store.authenticate(user, password)
        if account is None:
            self._auth_failed(mechanism, verb, "wrong user name or password", user)
            raise ImapError(R.IMAP_AUTH_FAILED)
        if not self.lab.connections.claim_account(self.conn, account.address):
            self._auth_failed(mechanism, verb, "too many connections for this account", user)
            raise ImapError(R.IMAP_TOO_MANY_CONNECTIONS)
        self.account = account
        self.conn.account = account.address
        self.conn.record(
            "auth.succeeded", mechanism=mechanism, command=verb, cleartext=not self.conn.tls
        )
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
        self.conn.record(
            "auth.failed",
            mechanism=mechanism,
            command=verb,
            cleartext=not self.conn.tls,
            reason=reason,
            user=user[:320] or None,
        )

    # -- authenticated: folders ---------------------------------------------

    def _account(self) -> AccountInfo:
        assert self.account is not None
        # Read again: a trainer may have changed the quota since the login.
        return self.lab.store.account_by_id(self.account.id) or self.account

    def _folder(self, token: Token, missing: str = R.IMAP_NO_SUCH_MAILBOX) -> FolderInfo:
        assert self.account is not None
        name = mailbox_name(token)
        folder = self.lab.store.folder(self.account.id, name)
        if folder is None:
            raise ImapError(missing.format(name=name[:100]))
        return folder

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

    @command(*LOGGED_IN)
    async def imap_create(self, cmd: Command) -> str:
        expect(cmd.args, 1, "CREATE <mailbox>")
        assert self.account is not None
        name = mailbox_name(cmd.args[0]).rstrip(DELIMITER)  # "a/" only says a/ will have children
        self._check_new_name(name)
        if self.lab.store.folder(self.account.id, name) is not None:
            raise ImapError(R.IMAP_MAILBOX_EXISTS)
        self._create_path(name)
        return R.IMAP_COMPLETED.format(command="Create")

    def _create_path(self, name: str) -> None:
        # RFC 3501 section 6.3.3: the superior names that are missing are created too.
        assert self.account is not None
        levels = name.split(DELIMITER)
        for depth in range(1, len(levels) + 1):
            path = DELIMITER.join(levels[:depth])
            if self.lab.store.folder(self.account.id, path) is None:
                self.lab.store.create_folder(self.account.id, path)
                self.conn.record("mailbox.created", folder=path)

    def _check_new_name(self, name: str) -> None:
        reasons = {
            "empty": not name,
            "too long": len(name) > MAX_NAME_LENGTH,
            "empty hierarchy level": name.startswith(DELIMITER) or DELIMITER * 2 in name,
            "wildcards are not allowed": "*" in name or "%" in name,
            "control characters": any(ord(c) < 0x20 or ord(c) == 0x7F for c in name),
        }
        for reason, failed in reasons.items():
            if failed:
                raise ImapError(R.IMAP_INVALID_NAME.format(reason=reason))

    @command(*LOGGED_IN)
    async def imap_delete(self, cmd: Command) -> str:
        expect(cmd.args, 1, "DELETE <mailbox>")
        assert self.account is not None
        folder = self._folder(cmd.args[0])
        if folder.name == "INBOX":
            raise ImapError(R.IMAP_DELETE_INBOX)
        if any(
            f.name.startswith(folder.name + DELIMITER)
            for f in self.lab.store.folders(self.account.id)
        ):
            raise ImapError(R.IMAP_HAS_CHILDREN)
        if self.mailbox is not None and self.mailbox.folder.id == folder.id:
            self._close_mailbox()
        count = self.lab.store.delete_folder(folder.id)
        self.conn.record("mailbox.deleted", folder=folder.name, messages=count)
        return R.IMAP_COMPLETED.format(command="Delete")

    @command(*LOGGED_IN)
    async def imap_rename(self, cmd: Command) -> str:
        expect(cmd.args, 2, "RENAME <old> <new>")
        assert self.account is not None
        folder = self._folder(cmd.args[0])
        new = mailbox_name(cmd.args[1]).rstrip(DELIMITER)
        self._check_new_name(new)
        if new.startswith(folder.name + DELIMITER):
            raise ImapError(R.IMAP_RENAME_UNDER_ITSELF)
        if self.lab.store.folder(self.account.id, new) is not None:
            raise ImapError(R.IMAP_TARGET_EXISTS)
        parent = new.rpartition(DELIMITER)[0]
        if parent:
            self._create_path(parent)
        if folder.name == "INBOX":
            # RFC 3501 section 6.3.5: renaming INBOX moves its messages; INBOX stays, empty.
            target = self.lab.store.create_folder(self.account.id, new)
            ids = [m.id for m in self.lab.store.messages(folder.id)]
            self.lab.store.move_messages(ids, target.id)
        else:
            try:
                self.lab.store.rename_folder(self.account.id, folder.name, new, DELIMITER)
            except StoreError:
                raise ImapError(R.IMAP_TARGET_EXISTS) from None
        self.conn.record("mailbox.renamed", folder=folder.name, to=new)
        return R.IMAP_COMPLETED.format(command="Rename")

    @command(*LOGGED_IN)
    async def imap_subscribe(self, cmd: Command) -> str:
        expect(cmd.args, 1, "SUBSCRIBE <mailbox>")
        self.lab.store.set_subscribed(self._folder(cmd.args[0]).id, True)
        return R.IMAP_COMPLETED.format(command="Subscribe")

    @command(*LOGGED_IN)
    async def imap_unsubscribe(self, cmd: Command) -> str:
        expect(cmd.args, 1, "UNSUBSCRIBE <mailbox>")
        self.lab.store.set_subscribed(self._folder(cmd.args[0]).id, False)
        return R.IMAP_COMPLETED.format(command="Unsubscribe")

    @command(*LOGGED_IN)
    async def imap_list(self, cmd: Command) -> str:
        # RFC 5258: LIST [(selection)] reference (patterns)|pattern [RETURN (options)]
        args = list(cmd.args)
        selection = _options(args.pop(0)) if args and isinstance(args[0], list) else set()
        returns: set[str] = set()
        if len(args) == 4 and isinstance(args[2], Atom) and args[2].upper() == "RETURN":
            returns = _options(args[3])
            args = args[:2]
        expect(args, 2, "LIST [(<options>)] <reference> <pattern> [RETURN (<options>)]")
        if not selection <= {"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"}:
            raise ImapSyntaxError("Unknown LIST selection option.")
        if not returns <= {"SUBSCRIBED", "CHILDREN", "SPECIAL-USE"}:
            raise ImapSyntaxError("Unknown LIST return option.")
        if "RECURSIVEMATCH" in selection and not selection & {"SUBSCRIBED", "SPECIAL-USE"}:
            raise ImapSyntaxError("RECURSIVEMATCH needs another selection option.")
        reference = mailbox_name(args[0]) if args[0] not in (b"", "") else ""
        patterns = args[1] if isinstance(args[1], list) else [args[1]]
        wires = [text(p, "pattern") for p in patterns]
        if wires == [""] and not selection:
            # RFC 3501 section 6.3.8: the empty pattern asks for the delimiter.
            await self.send(f'* LIST (\\Noselect) "{DELIMITER}" ""')
            return R.IMAP_COMPLETED.format(command="List")
        regexes = [list_pattern(reference, mailbox_name(Atom(w)) if w else w) for w in wires]
        lines = self._list_lines("LIST", regexes, selection, returns)
        await self.send_raw(b"".join(line + b"\r\n" for line in lines))
        return R.IMAP_COMPLETED.format(command="List")

    @command(*LOGGED_IN)
    async def imap_lsub(self, cmd: Command) -> str:
        expect(cmd.args, 2, "LSUB <reference> <pattern>")
        reference = mailbox_name(cmd.args[0]) if cmd.args[0] not in (b"", "") else ""
        wire = text(cmd.args[1], "pattern")
        regex = list_pattern(reference, mailbox_name(Atom(wire)) if wire else wire)
        lines = self._list_lines("LSUB", [regex], {"SUBSCRIBED"}, set())
        await self.send_raw(b"".join(line + b"\r\n" for line in lines))
        return R.IMAP_COMPLETED.format(command="Lsub")

    def _list_lines(
        self,
        verb: str,
        regexes: list,
        selection: set[str],
        returns: set[str],  # type: ignore[type-arg]
    ) -> list[bytes]:
        assert self.account is not None
        folders = {f.name: f for f in self.lab.store.folders(self.account.id)}
        names = set(folders)
        for name in folders:  # parents that exist only as a path (a folder made by the web)
            levels = name.split(DELIMITER)
            names.update(DELIMITER.join(levels[:d]) for d in range(1, len(levels)))
        lines = []
        for name in sorted(names, key=lambda n: (n != "INBOX", n)):
            if not any(r.fullmatch(name) for r in regexes):
                continue
            folder = folders.get(name)
            children = [f for n, f in folders.items() if n.startswith(name + DELIMITER)]
            subscribed = folder is not None and folder.subscribed
            attributes: list[str] = []
            extra = b""
            if "SUBSCRIBED" in selection:
                # RFC 5258 section 3.5: RECURSIVEMATCH also lists the parents of matches.
                recursive = "RECURSIVEMATCH" in selection and any(c.subscribed for c in children)
                if not subscribed and not recursive:
                    continue
                if recursive:
                    extra = b' ("CHILDINFO" ("SUBSCRIBED"))'
            if "SPECIAL-USE" in selection and (folder is None or not folder.special_use):
                continue
            if folder is None:
                attributes.append("\\Noselect")
            if verb == "LIST":
                attributes.append("\\HasChildren" if children else "\\HasNoChildren")
                if subscribed and ("SUBSCRIBED" in selection or "SUBSCRIBED" in returns):
                    attributes.append("\\Subscribed")
                # RFC 6154 section 2: the attributes may come unasked; Dovecot always sends them.
                if folder is not None and folder.special_use:
                    attributes.append(folder.special_use)
            head = f'* {verb} ({" ".join(attributes)}) "{DELIMITER}" '.encode()
            lines.append(head + quote_mailbox(name) + extra)
        return lines

    @command(*LOGGED_IN)
    async def imap_status(self, cmd: Command) -> str:
        expect(cmd.args, 2, "STATUS <mailbox> (<items>)")
        items = cmd.args[1]
        if not isinstance(items, list) or not items:
            raise ImapSyntaxError("STATUS needs a list of items.")
        folder = self._folder(cmd.args[0])
        messages = self.lab.store.messages(folder.id)
        uids = [m.uid for m in messages]
        mine = self.mailbox if self.mailbox and self.mailbox.folder.id == folder.id else None
        values = {
            "MESSAGES": lambda: len(messages),
            # \Recent is per session: the selecting session counts its own.
            "RECENT": lambda: (
                len(mine.recent) if mine else _unclaimed_recent(self.lab.store, folder.id, uids)
            ),
            "UIDNEXT": lambda: folder.uidnext,
            "UIDVALIDITY": lambda: folder.uidvalidity,
            "UNSEEN": lambda: sum(1 for m in messages if "\\Seen" not in m.flags),
        }
        out = []
        for item in items:
            name = atom(item, "status item")
            if name not in values:
                raise ImapSyntaxError(f"Unknown status item {name[:40]}")
            out.append(f"{name} {values[name]()}")
        await self.send_raw(
            b"* STATUS " + quote_mailbox(folder.name) + f" ({' '.join(out)})\r\n".encode()
        )
        return R.IMAP_COMPLETED.format(command="Status")

    @command(*LOGGED_IN)
    async def imap_append(self, cmd: Command) -> str:
        expect(cmd.args, (2, 4), "APPEND <mailbox> [(<flags>)] [<date-time>] <message literal>")
        message, options = cmd.args[-1], cmd.args[1:-1]
        if not isinstance(message, bytes):
            raise ImapSyntaxError("APPEND needs the message as a literal.")
        flags: frozenset[str] = frozenset()
        when = None
        for option in options:
            if isinstance(option, list):
                flags = parse_flags(option)
            else:
                when = parse_date_time(text(option, "date-time"))
        folder = self._folder(cmd.args[0], R.IMAP_TRYCREATE)
        if not message:
            raise ImapError(R.IMAP_EMPTY_MESSAGE)
        account = self._account()
        try:
            info = self.lab.store.append(account, folder.name, message, flags, when)
        except QuotaExceeded as full:
            self.conn.record(
                "quota.exceeded",
                folder=folder.name,
                usage=full.usage,
                quota=full.quota,
                size=full.size,
            )
            raise ImapError(R.IMAP_OVERQUOTA) from None
        except UnknownFolder:
            raise ImapError(R.IMAP_TRYCREATE.format(name=folder.name)) from None
        self.conn.record(
            "message.appended",
            folder=folder.name,
            uid=info.uid,
            size=info.size,
            flags=sorted(flags),
        )
        return R.IMAP_APPENDED.format(uidvalidity=folder.uidvalidity, uid=info.uid)

    @command(*LOGGED_IN)
    async def imap_getquotaroot(self, cmd: Command) -> str:
        expect(cmd.args, 1, "GETQUOTAROOT <mailbox>")
        folder = self._folder(cmd.args[0])
        await self.send_raw(
            b"* QUOTAROOT "
            + quote_mailbox(folder.name)
            + b" "
            + quote(R.IMAP_QUOTA_ROOT)
            + b"\r\n"
            + self._quota_line()
        )
        return R.IMAP_COMPLETED.format(command="Getquotaroot")

    @command(*LOGGED_IN)
    async def imap_getquota(self, cmd: Command) -> str:
        expect(cmd.args, 1, "GETQUOTA <quota root>")
        if text(cmd.args[0], "quota root") != R.IMAP_QUOTA_ROOT:
            raise ImapError(R.IMAP_NO_QUOTA_ROOT)
        await self.send_raw(self._quota_line())
        return R.IMAP_COMPLETED.format(command="Getquota")

    @command(*LOGGED_IN)
    async def imap_setquota(self, cmd: Command) -> str:
        raise ImapError(R.IMAP_SETQUOTA_DENIED)  # only a trainer sets quotas, from the web

    def _quota_line(self) -> bytes:
        # RFC 2087 section 3: STORAGE counts units of 1024 octets.
        account = self._account()
        usage_kb = self.lab.store.usage(account.id) // 1024
        return (
            b"* QUOTA "
            + quote(R.IMAP_QUOTA_ROOT)
            + f" (STORAGE {usage_kb} {account.quota_bytes // 1024})\r\n".encode()
        )

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

    def _close_mailbox(self) -> None:
        if self.mailbox is not None:
            self.lab.store.unsubscribe(self._store_changed)
            self.mailbox = None
        if self.state == SELECTED:
            self.state = AUTHENTICATED

    # -- keeping the client up to date ----------------------------------------

    def _store_changed(self, account_id: int, folder_id: int) -> None:
        """Store callback, from any thread: note that the selected mailbox changed."""
        mailbox = self.mailbox
        if mailbox is None or mailbox.folder.id != folder_id or self.lab.loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.lab.loop:
            self._mark_dirty(folder_id)
            return
        try:
            self.lab.loop.call_soon_threadsafe(self._mark_dirty, folder_id)
        except RuntimeError:
            pass  # the lab is stopping

    def _mark_dirty(self, folder_id: int) -> None:
        if self.mailbox is not None and self.mailbox.folder.id == folder_id:
            self.mailbox.dirty = True
            self._wake.set()

    async def send_updates(self, expunge_allowed: bool) -> None:
        """Tell the client what changed in its mailbox since it was last told."""
        mailbox = self.mailbox
        if mailbox is None or not mailbox.dirty:
            return
        folder = self.lab.store.folder_by_id(mailbox.folder.id)
        if folder is None:
            self._close_mailbox()
            raise SessionEnd(R.IMAP_BYE_MAILBOX_DELETED, "selected mailbox deleted")
        current = {m.uid: m for m in self.lab.store.messages(folder.id)}
        gone = [uid for uid in mailbox.uids if uid not in current]
        lines = []
        if gone and not expunge_allowed:
            # Numbers may not shift now: report flags only and keep the rest for later.
            for uid in mailbox.uids:
                if uid in current:
                    lines += self._flag_change(mailbox, current[uid])
            if lines:
                await self.send_raw("".join(lines).encode())
            return
        mailbox.dirty = False
        for uid in reversed(gone):  # highest first, so the numbers below stay valid
            lines.append(f"* {mailbox.seq(uid)} EXPUNGE\r\n")
        if gone:
            gone_set = set(gone)
            mailbox.uids = [u for u in mailbox.uids if u not in gone_set]
            for uid in gone:
                del mailbox.messages[uid]
                mailbox.recent.discard(uid)
        for uid in mailbox.uids:
            lines += self._flag_change(mailbox, current[uid])
        arrived = sorted(uid for uid in current if uid > mailbox.highest_uid)
        if arrived:
            mailbox.uids += arrived
            mailbox.messages.update((uid, current[uid]) for uid in arrived)
            if not mailbox.read_only:
                mailbox.recent |= _claim_recent(self.lab.store, folder.id, arrived)
            lines += [f"* {len(mailbox.uids)} EXISTS\r\n", f"* {len(mailbox.recent)} RECENT\r\n"]
        mailbox.folder = folder
        if lines:
            await self.send_raw("".join(lines).encode())

    def _flag_change(self, mailbox: Mailbox, new: MessageInfo) -> list[str]:
        old = mailbox.messages[new.uid]
        if old.flags == new.flags:
            return []
        mailbox.messages[new.uid] = new
        flags = flag_list(mailbox.flags(new))
        return [f"* {mailbox.seq(new.uid)} FETCH (UID {new.uid} FLAGS {flags})\r\n"]

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

    # -- selected: messages ------------------------------------------------------

    def _selected(self) -> Mailbox:
        assert self.mailbox is not None
        return self.mailbox

    def _targets(self, token: Token, uid: bool) -> list[tuple[int, MessageInfo]]:
        """The messages a sequence set names, as (sequence number, message), in order."""
        mailbox = self._selected()
        ranges = parse_sequence_set(token)
        count = len(mailbox.uids)
        seqs: set[int] = set()
        for low, high in ranges:
            if uid:
                if not count:
                    continue
                top = mailbox.uids[-1]
                a, b = sorted((top if low is None else low, top if high is None else high))
                first, last = bisect_left(mailbox.uids, a), bisect_right(mailbox.uids, b)
                seqs.update(range(first + 1, last + 1))
            else:
                if (low is not None and low > count) or (high is not None and high > count):
                    raise ImapSyntaxError("Invalid messageset")
                if not count:
                    continue
                a, b = sorted((count if low is None else low, count if high is None else high))
                seqs.update(range(a, b + 1))
        return [(seq, mailbox.messages[mailbox.uids[seq - 1]]) for seq in sorted(seqs)]

    def _parse(self, info: MessageInfo, raw: bytes | None = None) -> ParsedMessage:
        parsed = self._parsed.get(info.id)
        if parsed is None:
            if raw is None:
                try:
                    raw = self.lab.store.raw(info.id)
                except StoreError:
                    raw = b""  # expunged by another session meanwhile
            parsed = ParsedMessage(raw)
            self._parsed[info.id] = parsed
            if len(self._parsed) > PARSED_CACHE:
                self._parsed.popitem(last=False)
        else:
            self._parsed.move_to_end(info.id)
        return parsed

    @command(SELECTED)
    async def imap_check(self, cmd: Command) -> str:
        return R.IMAP_COMPLETED.format(command="Check")

    @command(SELECTED)
    async def imap_close(self, cmd: Command) -> str:
        mailbox = self._selected()
        if not mailbox.read_only:
            # RFC 3501 section 6.4.2: expunge without a word, from the flags as they are now.
            current = self.lab.store.messages(mailbox.folder.id)
            self._expunge(mailbox, [m for m in current if "\\Deleted" in m.flags])
        self._close_mailbox()
        return R.IMAP_COMPLETED.format(command="Close")

    @command(SELECTED)
    async def imap_unselect(self, cmd: Command) -> str:
        self._close_mailbox()
        return R.IMAP_COMPLETED.format(command="Unselect")

    @command(SELECTED, uid=True)
    async def imap_expunge(self, cmd: Command) -> str:
        expect(cmd.args, 1 if cmd.uid else 0, "UID EXPUNGE <uid set>" if cmd.uid else "EXPUNGE")
        mailbox = self._selected()
        if mailbox.read_only:
            raise ImapError(R.IMAP_READ_ONLY)
        mailbox.dirty = True
        await self.send_updates(True)  # act on the flags as they are now, not as last seen
        candidates = (
            [info for _, info in self._targets(cmd.args[0], uid=True)]
            if cmd.uid
            else list(mailbox.messages.values())
        )
        doomed = sorted((m for m in candidates if "\\Deleted" in m.flags), key=lambda m: m.uid)
        lines = [f"* {mailbox.seq(m.uid) - n} EXPUNGE\r\n" for n, m in enumerate(doomed)]
        self._expunge(mailbox, doomed)
        await self.send_raw("".join(lines).encode())
        return R.IMAP_COMPLETED.format(command="Expunge")

    def _expunge(self, mailbox: Mailbox, doomed: list[MessageInfo]) -> None:
        if not doomed:
            return
        self.lab.store.delete_messages(m.id for m in doomed)
        gone = {m.uid for m in doomed}
        mailbox.uids = [u for u in mailbox.uids if u not in gone]
        for info in doomed:
            mailbox.messages.pop(info.uid, None)
            mailbox.recent.discard(info.uid)
            self.conn.record("message.deleted", folder=mailbox.folder.name, uid=info.uid)

    @command(SELECTED, uid=True)
    async def imap_search(self, cmd: Command) -> str:
        mailbox = self._selected()
        try:
            program = parse_search(
                cmd.args, len(mailbox.uids), mailbox.uids[-1] if mailbox.uids else 0
            )
        except BadCharset as unknown:
            raise ImapError(R.IMAP_BADCHARSET.format(charset=str(unknown)[:40])) from None
        found = []
        for seq, uid in enumerate(mailbox.uids, 1):
            info = mailbox.messages[uid]
            candidate = Candidate(
                seq, info, uid in mailbox.recent, lambda info=info: self._parse(info)
            )  # type: ignore[misc]
            if program.test(candidate):
                found.append(uid if cmd.uid else seq)
        await self.send(" ".join(["* SEARCH", *map(str, found)]))
        return R.IMAP_COMPLETED.format(command="Search")

    @command(SELECTED, uid=True)
    async def imap_fetch(self, cmd: Command) -> str:
        expect(cmd.args, 2, "FETCH <sequence set> <items>")
        items = parse_fetch_items(cmd.args[1])
        mailbox = self._selected()
        targets = self._targets(cmd.args[0], cmd.uid)
        if cmd.uid and not any(i.name == "UID" for i in items):
            items.insert(0, FetchItem("UID"))  # RFC 3501 section 6.4.8
        needs_content = any(i.name in NEEDS_CONTENT for i in items)
        marks_seen = not mailbox.read_only and any(i.sets_seen for i in items)
        if marks_seen and not any(i.name == "FLAGS" for i in items):
            items.append(FetchItem("FLAGS"))  # the client must learn of the new \Seen
        missing = False
        for start in range(0, len(targets), FETCH_BATCH):
            batch = targets[start : start + FETCH_BATCH]
            raws = self.lab.store.raws(i.id for _, i in batch) if needs_content else {}
            if marks_seen:
                batch = self._mark_seen(mailbox, batch)
            out = bytearray()
            for seq, info in batch:
                raw = raws.get(info.id)
                if needs_content and raw is None:
                    missing = True
                    continue
                out += self._fetch_response(mailbox, seq, info, items, raw)
            await self.send_raw(bytes(out))
        if missing:
            raise ImapError(R.IMAP_EXPUNGE_ISSUED)
        return R.IMAP_COMPLETED.format(command="Fetch")

    def _mark_seen(
        self, mailbox: Mailbox, batch: list[tuple[int, MessageInfo]]
    ) -> list[tuple[int, MessageInfo]]:
        unseen = {
            info.id: info.flags | {"\\Seen"} for _, info in batch if "\\Seen" not in info.flags
        }
        if not unseen:
            return batch
        self.lab.store.set_message_flags(unseen)
        updated = []
        for seq, info in batch:
            if info.id in unseen:
                info = replace(info, flags=frozenset(unseen[info.id]))
                mailbox.messages[info.uid] = info
                self.conn.record(
                    "message.flagged",
                    folder=mailbox.folder.name,
                    uid=info.uid,
                    added=["\\Seen"],
                    removed=[],
                    via="FETCH",
                )
            updated.append((seq, info))
        return updated

    def _fetch_response(
        self,
        mailbox: Mailbox,
        seq: int,
        info: MessageInfo,
        items: list[FetchItem],
        raw: bytes | None,
    ) -> bytes:
        parsed = self._parse(info, raw) if raw is not None else None
        parts: list[bytes] = []
        body_sections = []
        for item in items:
            if item.name == "UID":
                parts.append(b"UID %d" % info.uid)
            elif item.name == "FLAGS":
                parts.append(b"FLAGS " + flag_list(mailbox.flags(info)).encode())
            elif item.name == "INTERNALDATE":
                parts.append(f'INTERNALDATE "{format_date_time(info.internal_date)}"'.encode())
            elif item.name == "RFC822.SIZE":
                parts.append(b"RFC822.SIZE %d" % info.size)
            else:
                assert parsed is not None
                data, found = self._content_item(item, parsed)
                parts.append(data)
                if item.is_body and found:
                    body_sections.append(item)
        for item in body_sections:
            self.conn.record(
                "message.retrieved",
                folder=mailbox.folder.name,
                uid=info.uid,
                size=info.size,
                section=item.section.label() if item.section else item.name,
                partial=list(item.partial) if item.partial else None,
            )
        return b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n"

    @staticmethod
    def _content_item(item: FetchItem, parsed: ParsedMessage) -> tuple[bytes, bool]:
        """One FETCH item that needs the message, and whether the part asked for exists."""
        if item.name == "ENVELOPE":
            return b"ENVELOPE " + parsed.envelope(), True
        if item.name in ("BODYSTRUCTURE", "BODY"):
            extensible = item.name == "BODYSTRUCTURE"
            return item.name.encode() + b" " + parsed.bodystructure(extensible), True
        whole = {"RFC822": parsed.raw, "RFC822.HEADER": parsed.header, "RFC822.TEXT": parsed.text}
        if item.name in whole:
            return item.name.encode() + b" " + literal(whole[item.name]), True
        assert item.section is not None
        data = parsed.section(item.section)
        label = f"BODY[{item.section.label()}]"
        if item.partial is not None:
            start, length = item.partial
            label += f"<{start}>"
            data = data[start : start + length] if data is not None else None
        if data is None:
            return label.encode() + b" NIL", False
        return label.encode() + b" " + literal(data), True

    @command(SELECTED, uid=True)
    async def imap_store(self, cmd: Command) -> str:
        if len(cmd.args) < 3:
            raise ImapSyntaxError("Invalid arguments: STORE <set> [+|-]FLAGS[.SILENT] (<flags>)")
        what = atom(cmd.args[1], "STORE item")
        mode, _, silent = what.partition(".")
        if mode not in ("FLAGS", "+FLAGS", "-FLAGS") or silent not in ("", "SILENT"):
            raise ImapSyntaxError(f"Invalid STORE item {what[:40]}")
        tokens = (
            cmd.args[2] if len(cmd.args) == 3 and isinstance(cmd.args[2], list) else cmd.args[2:]
        )
        flags = parse_flags(tokens)  # type: ignore[arg-type]
        mailbox = self._selected()
        targets = self._targets(cmd.args[0], cmd.uid)
        if mailbox.read_only:
            raise ImapError(R.IMAP_READ_ONLY)
        changes: dict[int, frozenset[str]] = {}
        for _, info in targets:
            if mode == "FLAGS":
                new = flags
            elif mode == "+FLAGS":
                new = info.flags | flags
            else:
                new = info.flags - flags
            if new != info.flags:
                changes[info.id] = new
        self.lab.store.set_message_flags(changes)
        lines = []
        for seq, info in targets:
            if info.id in changes:
                new_info = replace(info, flags=changes[info.id])
                mailbox.messages[info.uid] = new_info
                self.conn.record(
                    "message.flagged",
                    folder=mailbox.folder.name,
                    uid=info.uid,
                    added=sorted(new_info.flags - info.flags),
                    removed=sorted(info.flags - new_info.flags),
                    via="STORE",
                )
                info = new_info
            if not silent:
                uid_item = f"UID {info.uid} " if cmd.uid else ""
                lines.append(f"* {seq} FETCH ({uid_item}FLAGS {flag_list(mailbox.flags(info))})")
        if lines:
            await self.send("\r\n".join(lines))
        return R.IMAP_COMPLETED.format(command="Store")

    @command(SELECTED, uid=True)
    async def imap_copy(self, cmd: Command) -> str:
        expect(cmd.args, 2, "COPY <sequence set> <mailbox>")
        mailbox = self._selected()
        targets = self._targets(cmd.args[0], cmd.uid)
        folder = self._folder(cmd.args[1], R.IMAP_TRYCREATE)
        if not targets:
            return R.IMAP_NO_MESSAGES
        try:
            copies = self.lab.store.copy_messages(
                self._account(), [info.id for _, info in targets], folder.id
            )
        except QuotaExceeded as full:
            self.conn.record(
                "quota.exceeded",
                folder=folder.name,
                usage=full.usage,
                quota=full.quota,
                size=full.size,
            )
            raise ImapError(R.IMAP_OVERQUOTA) from None
        pairs = list(zip([info.uid for _, info in targets], [c.uid for c in copies], strict=False))
        for (_, info), copy in zip(targets, copies, strict=False):
            self.conn.record(
                "message.copied",
                folder=mailbox.folder.name,
                uid=info.uid,
                to=folder.name,
                new_uid=copy.uid,
            )
        return R.IMAP_COPIED.format(
            uidvalidity=folder.uidvalidity,
            source=uid_set([p[0] for p in pairs]),
            target=uid_set([p[1] for p in pairs]),
        )

    @command(SELECTED, uid=True)
    async def imap_move(self, cmd: Command) -> str:
        # RFC 6851: COPYUID in an untagged OK, then the EXPUNGEs, then the tagged OK.
        expect(cmd.args, 2, "MOVE <sequence set> <mailbox>")
        mailbox = self._selected()
        targets = self._targets(cmd.args[0], cmd.uid)
        folder = self._folder(cmd.args[1], R.IMAP_TRYCREATE)
        if mailbox.read_only:
            raise ImapError(R.IMAP_READ_ONLY)
        if folder.id == mailbox.folder.id:
            raise ImapError(R.IMAP_SAME_MAILBOX)
        if not targets:
            return R.IMAP_NO_MESSAGES
        moved = self.lab.store.move_messages([info.id for _, info in targets], folder.id)
        source = [info.uid for _, info in targets][: len(moved)]
        lines = [
            R.IMAP_MOVED_UIDS.format(
                uidvalidity=folder.uidvalidity,
                source=uid_set(source),
                target=uid_set([m.uid for m in moved]),
            )
        ]
        for n, ((_, info), new) in enumerate(zip(targets, moved, strict=False)):
            lines.append(f"* {mailbox.seq(info.uid) - n} EXPUNGE")
            self.conn.record(
                "message.moved",
                folder=mailbox.folder.name,
                uid=info.uid,
                to=folder.name,
                new_uid=new.uid,
            )
        gone = set(source)
        mailbox.uids = [u for u in mailbox.uids if u not in gone]
        for uid in gone:
            del mailbox.messages[uid]
            mailbox.recent.discard(uid)
        await self.send("\r\n".join(lines))
        return R.IMAP_COMPLETED.format(command="Move")


def _options(token: Token) -> set[str]:
    if not isinstance(token, list):
        raise ImapSyntaxError("Options must be a list.")
    return {atom(t, "option") for t in token}
