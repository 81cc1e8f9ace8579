"""IMAP commands on folders and quota: CREATE, DELETE, RENAME, (UN)SUBSCRIBE, LIST, LSUB, STATUS,
APPEND, and GETQUOTAROOT/GETQUOTA (RFC 3501 section 6.3, RFC 5258, RFC 6154, RFC 2087, RFC 4315).
"""

from __future__ import annotations

from pixlab.lab import replies as R
from pixlab.lab.imap_base import (
    LOGGED_IN,
    ImapError,
    SessionBase,
    _unclaimed_recent,
    command,
)
from pixlab.lab.imap_parser import (
    DELIMITER,
    Atom,
    Command,
    ImapSyntaxError,
    Token,
    atom,
    expect,
    list_pattern,
    mailbox_name,
    parse_date_time,
    parse_flags,
    quote,
    quote_mailbox,
    text,
)
from pixlab.lab.store import (
    QuotaExceeded,
    StoreError,
    UnknownFolder,
)

MAX_NAME_LENGTH = 200  # characters in a folder name, hierarchy included


class FolderCommands(SessionBase):
    """The commands of the authenticated state that work on folders rather than messages."""

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
            raise self._over_quota(folder, full) from None
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


def _options(token: Token) -> set[str]:
    if not isinstance(token, list):
        raise ImapSyntaxError("Options must be a list.")
    return {atom(t, "option") for t in token}
