"""What every part of an IMAP session shares: states, the verb registry, the selected mailbox.

A session keeps its own numbering of the selected mailbox (sequence numbers
only change when the client is told, RFC 3501 section 7.4.1). The store calls
back after every change, from whatever thread made it; the session then reloads
the listing and tells its client what happened (EXISTS, EXPUNGE, FETCH FLAGS)
at the next moment the protocol allows, or at once while it IDLEs.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from pixlab.lab import replies as R
from pixlab.lab.imap_fetch import ParsedMessage
from pixlab.lab.imap_parser import (
    RECENT,
    Command,
    ImapSyntaxError,
    Token,
    flag_list,
    mailbox_name,
    parse_sequence_set,
)
from pixlab.lab.session import LineSession, SessionEnd
from pixlab.lab.store import (
    AccountInfo,
    FolderInfo,
    MailStore,
    MessageInfo,
    QuotaExceeded,
    StoreError,
)

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab
    from pixlab.lab.tap import Connection


NOT_AUTHENTICATED, AUTHENTICATED, SELECTED, LOGOUT = "not authenticated", "auth", "selected", "out"
ANY = (NOT_AUTHENTICATED, AUTHENTICATED, SELECTED)
LOGGED_IN = (AUTHENTICATED, SELECTED)
PARSED_CACHE = 16  # parsed messages a session keeps (Thunderbird fetches one message in steps)


class ImapError(Exception):
    """A command failed: `reply` is the tagged reply without its tag ("NO …" or "BAD …")."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


# A verb is a method of the session class, wherever it is defined.
Handler = Callable[[Any, Command], Awaitable[str | None]]


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

    def forget(self, gone: set[int]) -> None:
        """Drop messages the client is being told are gone; the numbers after them shift."""
        self.uids = [u for u in self.uids if u not in gone]
        for uid in gone:
            self.messages.pop(uid, None)
            self.recent.discard(uid)


def uid_set(uids: list[int]) -> str:
    """UIDs as a compact set (`1:3,7`), for COPYUID."""
    runs: list[list[int]] = []
    for uid in sorted(uids):
        if runs and runs[-1][1] == uid - 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)


class SessionBase(LineSession):
    """The state of one IMAP connection, and the helpers every group of commands uses."""

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

    # -- the account and its folders ---------------------------------------

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

    def _over_quota(self, folder: FolderInfo, full: QuotaExceeded) -> ImapError:
        """Record a message refused for lack of room, and give the error that says so."""
        self.conn.record(
            "quota.exceeded", folder=folder.name, usage=full.usage, quota=full.quota, size=full.size
        )
        return ImapError(R.IMAP_OVERQUOTA)

    # -- the selected mailbox -------------------------------------------------

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
        mailbox.forget(set(gone))
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

    def _expunge(self, mailbox: Mailbox, doomed: list[MessageInfo]) -> None:
        if not doomed:
            return
        self.lab.store.delete_messages(m.id for m in doomed)
        mailbox.forget({m.uid for m in doomed})
        for info in doomed:
            self.conn.record("message.deleted", folder=mailbox.folder.name, uid=info.uid)
