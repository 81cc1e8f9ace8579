"""IMAP commands on the selected mailbox's messages (RFC 3501 section 6.4, RFC 4315, RFC 6851).

FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, CLOSE, UNSELECT and CHECK, with their
UID forms.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from pixlab.lab import replies as R
from pixlab.lab.imap_base import (
    SELECTED,
    ImapError,
    Mailbox,
    SessionBase,
    command,
    uid_set,
)
from pixlab.lab.imap_fetch import NEEDS_CONTENT, FetchItem, ParsedMessage, parse_fetch_items
from pixlab.lab.imap_parser import (
    Command,
    ImapSyntaxError,
    atom,
    expect,
    flag_list,
    format_date_time,
    literal,
    parse_flags,
)
from pixlab.lab.imap_search import BadCharset, Candidate, parse_search
from pixlab.lab.store import FolderInfo, MessageInfo, QuotaExceeded

FETCH_BATCH = 200  # messages whose bytes a FETCH loads at once


class MessageCommands(SessionBase):
    """The commands of the selected state."""

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
            candidate = Candidate(seq, info, uid in mailbox.recent, partial(self._parse, info))
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

    def _transfer(self, cmd: Command) -> tuple[Mailbox, list[tuple[int, MessageInfo]], FolderInfo]:
        """What COPY and MOVE share: the mailbox, the messages named and where they go."""
        expect(cmd.args, 2, f"{cmd.name} <sequence set> <mailbox>")
        targets = self._targets(cmd.args[0], cmd.uid)
        return self._selected(), targets, self._folder(cmd.args[1], R.IMAP_TRYCREATE)

    @command(SELECTED, uid=True)
    async def imap_copy(self, cmd: Command) -> str:
        mailbox, targets, folder = self._transfer(cmd)
        if not targets:
            return R.IMAP_NO_MESSAGES
        try:
            copies = self.lab.store.copy_messages(
                self._account(), [info.id for _, info in targets], folder.id
            )
        except QuotaExceeded as full:
            raise self._over_quota(folder, full) from None
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
            source=uid_set([info.uid for _, info in targets][: len(copies)]),
            target=uid_set([c.uid for c in copies]),
        )

    @command(SELECTED, uid=True)
    async def imap_move(self, cmd: Command) -> str:
        # RFC 6851: COPYUID in an untagged OK, then the EXPUNGEs, then the tagged OK.
        mailbox, targets, folder = self._transfer(cmd)
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
        mailbox.forget(set(source))
        await self.send("\r\n".join(lines))
        return R.IMAP_COMPLETED.format(command="Move")
