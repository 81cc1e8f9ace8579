"""The lab's one mail store: accounts, folders and messages for every protocol.

SMTP delivery, POP3, IMAP and the web pages all read and write here, so a POP3
deletion really empties the inbox that another device's IMAP sees. Every write
is committed before the server acknowledges it, so acknowledged mail survives
a restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Engine,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from pixlab.db import Account, Folder, Message, driver_cursor
from pixlab.lab import notify
from pixlab.lab import statements as q
from pixlab.lab.passwords import RecentLogins, hash_password

# The folders every account starts with, and their RFC 6154 special-use roles.
DEFAULT_FOLDERS: tuple[tuple[str, str | None], ...] = (
    ("INBOX", None),
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Archives", "\\Archive"),
    ("Junk", "\\Junk"),
)
DEFAULT_QUOTA_BYTES = 20 * 1024 * 1024


class StoreError(Exception):
    """A store operation that cannot be done as asked."""


class QuotaExceeded(StoreError):
    """The account has no room left for this message."""

    def __init__(self, address: str, usage: int, quota: int, size: int) -> None:
        super().__init__(f"{address}: {usage} + {size} bytes exceeds the quota of {quota}")
        self.usage, self.quota, self.size = usage, quota, size


class UnknownFolder(StoreError):
    """No folder of that name in this account."""


@dataclass(frozen=True)
class AccountInfo:
    """What callers need to know of an account; never its password hash."""

    id: int
    address: str
    quota_bytes: int

    @property
    def domain(self) -> str:
        """The part after the @."""
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class SignIn:
    """A login's account, found by its address: whether the password given is the account's own,
    and whether the account has two-step verification (`pixlab.lab.access.AppPasswords`)."""

    account: AccountInfo
    password_right: bool
    two_step: bool


@dataclass(frozen=True)
class FolderInfo:
    """A folder and its IMAP identity."""

    id: int
    account_id: int
    name: str
    special_use: str | None
    uidvalidity: int
    uidnext: int
    subscribed: bool


@dataclass(frozen=True)
class MessageInfo:
    """A message without its bytes."""

    id: int
    folder_id: int
    uid: int
    flags: frozenset[str]
    internal_date: int
    size: int


@dataclass(frozen=True)
class FolderNewest:
    """A folder's message count and its newest messages: (uid, flags, first bytes)."""

    total: int
    messages: list[tuple[int, frozenset[str], bytes]]


def normalise_address(address: str) -> str:
    """Addresses compare case-insensitively; the store keeps them in lower case."""
    return address.strip().lower()


def crlf(raw: bytes) -> bytes:
    """A message with every line ending as CRLF, as on the wire (RFC 5322 section 2.1)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def _folder_key(name: str) -> str:
    # RFC 3501 section 5.1: INBOX is case-insensitive, other names are not.
    return "INBOX" if name.upper() == "INBOX" else name


def _flags_text(flags: Iterable[str]) -> str:
    return " ".join(sorted(set(flags)))


def _message(row: Sequence[Any]) -> MessageInfo:
    # The _MESSAGE_COLUMNS, in order (a Core row or a driver's tuple).
    message_id, folder_id, uid, flags, internal_date, size = row
    return MessageInfo(
        message_id, folder_id, uid, frozenset(flags.split()) if flags else frozenset(),
        internal_date, size,
    )


class MailStore(notify.ChangeNotices):
    """Accounts, folders and messages in the PixLab database."""

    def __init__(self, engine: Engine, default_quota: int = DEFAULT_QUOTA_BYTES) -> None:
        super().__init__(engine)
        self.default_quota = default_quota
        self._uidvalidity_lock = threading.Lock()
        self._recent_logins = RecentLogins()
        self._last_uidvalidity = 0

    # -- accounts ---------------------------------------------------------

    def create_account(
        self, address: str, password: str, quota_bytes: int | None = None
    ) -> AccountInfo:
        """Create an account with its default folders, or reset the password of an existing one.

        An existing account keeps its mail; its quota changes only when one is given.
        """
        address = normalise_address(address)
        if "@" not in address or address.startswith("@") or address.endswith("@"):
            raise StoreError(f"not a mail address: {address!r}")
        hashed = hash_password(password)
        with self.engine.begin() as conn:
            row = conn.execute(select(Account.id).where(Account.address == address)).first()
            if row is not None:
                values: dict[str, object] = {"password_hash": hashed}
                if quota_bytes is not None:
                    values["quota_bytes"] = quota_bytes
                conn.execute(update(Account).where(Account.id == row.id).values(**values))
                account_id = row.id
            else:
                account_id = conn.execute(
                    insert(Account).returning(Account.id).values(
                        address=address,
                        password_hash=hashed,
                        quota_bytes=self.default_quota if quota_bytes is None else quota_bytes,
                        created_at=int(time.time()),
                    )
                ).scalar_one()
                for name, special_use in DEFAULT_FOLDERS:
                    self._insert_folder(conn, account_id, name, special_use)
        info = self.account_by_id(account_id)
        assert info is not None
        return info

    def account(self, address: str) -> AccountInfo | None:
        """The account with this address, if any."""
        rows = q.READ_ACCOUNT_BY_ADDRESS.rows(self.engine, b_address=normalise_address(address))
        return AccountInfo(*rows[0]) if rows else None

    def account_by_id(self, account_id: int) -> AccountInfo | None:
        """The account with this id, if any."""
        rows = q.READ_ACCOUNT_BY_ID.rows(self.engine, b_id=account_id)
        return AccountInfo(*rows[0]) if rows else None

    def authenticate(self, address: str, password: str) -> AccountInfo | None:
        """The account if the password is right, else None (unknown or wrong: same answer)."""
        found = self.sign_in(address, password)
        return found.account if found is not None and found.password_right else None

    def sign_in(self, address: str, password: str) -> SignIn | None:
        """The account of that address and whether `password` is its own; None: no such account."""
        rows = q.READ_ACCOUNT_WITH_HASH.rows(self.engine, b_address=normalise_address(address))
        if not rows:
            return None
        account_id, stored_address, quota_bytes, password_hash, two_step = rows[0]
        return SignIn(AccountInfo(account_id, stored_address, quota_bytes),
                      self._recent_logins.verify(password, password_hash), bool(two_step))

    def set_quota(self, account_id: int, quota_bytes: int) -> None:
        """Change an account's quota."""
        with self.engine.begin() as conn:
            conn.execute(
                update(Account).where(Account.id == account_id).values(quota_bytes=quota_bytes)
            )

    def usage(self, account_id: int) -> int:
        """Bytes used by all the account's messages."""
        return int(q.READ_USAGE.rows(self.engine, b_account=account_id)[0][0])

    @staticmethod
    def _usage(conn, account_id: int) -> int:  # type: ignore[no-untyped-def]
        return int(conn.execute(q.USAGE, {"b_account": account_id}).scalar_one())

    def domains(self) -> set[str]:
        """The domains that have at least one account."""
        with self.engine.connect() as conn:
            addresses = conn.execute(select(Account.address)).scalars()
            return {a.rpartition("@")[2] for a in addresses}

    # -- folders ----------------------------------------------------------

    def folders(self, account_id: int) -> list[FolderInfo]:
        """The account's folders, INBOX first then by name."""
        rows = q.READ_FOLDERS_OF_ACCOUNT.rows(self.engine, b_account=account_id)
        folders = [self._folder(r) for r in rows]
        return sorted(folders, key=lambda f: (f.name != "INBOX", f.name))

    def folder(self, account_id: int, name: str) -> FolderInfo | None:
        """The folder of that name (INBOX in any case), if it exists."""
        rows = q.READ_FOLDER_BY_NAME.rows(
            self.engine, b_account=account_id, b_name=_folder_key(name)
        )
        return self._folder(rows[0]) if rows else None

    def create_folder(
        self, account_id: int, name: str, special_use: str | None = None
    ) -> FolderInfo:
        """Create a folder; raises StoreError if it exists."""
        if self.folder(account_id, name) is not None:
            raise StoreError(f"folder exists: {name}")
        with self.engine.begin() as conn:
            folder_id = self._insert_folder(conn, account_id, _folder_key(name), special_use)
        folder = self._folder_by_id(folder_id)
        assert folder is not None
        return folder

    def _insert_folder(self, conn, account_id: int, name: str, special_use: str | None) -> int:  # type: ignore[no-untyped-def]
        return conn.execute(
            insert(Folder).returning(Folder.id).values(
                account_id=account_id,
                name=name,
                special_use=special_use,
                uidvalidity=self._new_uidvalidity(),
                uidnext=1,
                subscribed=True,
            )
        ).scalar_one()

    def _new_uidvalidity(self) -> int:
        # RFC 3501 section 2.3.1.1: a re-created folder must get a new, larger
        # UIDVALIDITY. Seconds since the epoch, bumped when two fall in the same second.
        with self._uidvalidity_lock:
            self._last_uidvalidity = max(int(time.time()), self._last_uidvalidity + 1)
            return self._last_uidvalidity

    def _folder_by_id(self, folder_id: int) -> FolderInfo | None:
        rows = q.READ_FOLDER_BY_ID.rows(self.engine, b_id=folder_id)
        return self._folder(rows[0]) if rows else None

    @staticmethod
    def _folder(row: Sequence[Any]) -> FolderInfo:
        # The folders table's columns, in order (a Core row or a driver's tuple).
        folder_id, account_id, name, special_use, uidvalidity, uidnext, subscribed = row
        return FolderInfo(
            folder_id, account_id, name, special_use, uidvalidity, uidnext, bool(subscribed)
        )

    # -- messages ---------------------------------------------------------

    def append(
        self,
        account: AccountInfo,
        folder_name: str,
        raw: bytes,
        flags: Iterable[str] = (),
        internal_date: int | None = None,
    ) -> MessageInfo:
        """Store a message in a folder, within the quota.

        Raises:
            QuotaExceeded: the message does not fit in what is left.
            UnknownFolder: no such folder.
        """
        raw = crlf(raw)
        size = len(raw)
        when = int(time.time()) if internal_date is None else internal_date
        dialect = self.engine.dialect
        # Every delivery and APPEND comes here: on the driver's cursor (see
        # DriverStatement), in one transaction that commits before the server answers.
        with driver_cursor(self.engine, commit=True) as cursor:
            # The UPDATE takes SQLite's write lock first, so two deliveries
            # never receive the same UID, and the quota is checked under that
            # lock, in the same transaction as the insert.
            if self.shared:
                # Two processes delivering to two folders of one account: the quota is
                # checked under the account's row lock (SQLite locks the whole file).
                q.RUN_LOCK_ACCOUNT.on(cursor, dialect, b_id=account.id)
            folders = q.RUN_NEXT_UID.on(
                cursor, dialect, b_account=account.id, b_name=_folder_key(folder_name)
            )
            usage = q.READ_USAGE.on(cursor, dialect, b_account=account.id)[0][0]
            if usage + size > account.quota_bytes:
                raise QuotaExceeded(account.address, usage, account.quota_bytes, size)
            if not folders:
                raise UnknownFolder(folder_name)
            folder_id, uidnext = folders[0]
            uid = uidnext - 1
            [(message_id,)] = q.RUN_INSERT_MESSAGE.on(
                cursor,
                dialect,
                folder_id=folder_id,
                account_id=account.id,
                uid=uid,
                flags=_flags_text(flags),
                internal_date=when,
                size=size,
                raw=raw,
            )
            if self.shared:
                notify.announce(cursor, self.origin, account.id, folder_id)
        self._notify(account.id, folder_id, announced=True)
        return MessageInfo(message_id, folder_id, uid, frozenset(flags), when, size)

    def messages(self, folder_id: int) -> list[MessageInfo]:
        """The folder's messages in UID order."""
        rows = q.READ_MESSAGES_OF_FOLDER.rows(self.engine, b_folder=folder_id)
        return [_message(r) for r in rows]

    def newest(self, account_id: int, per_folder: int,
               head_bytes: int = 4096) -> dict[int, FolderNewest]:
        """Each folder's count and its newest messages' first bytes (their headers), by folder id.

        Two read-only queries whatever the mailbox's size (for the server's side of a record).
        """
        rank = (
            func.row_number()
            .over(partition_by=Message.folder_id, order_by=Message.uid.desc())
            .label("rank")
        )
        newest = (
            select(Message.folder_id, Message.uid, Message.flags,
                   func.substr(Message.raw, 1, head_bytes).label("head"), rank)
            .where(Message.account_id == account_id)
            .subquery()
        )
        with self.engine.connect() as conn:
            counts = conn.execute(
                select(Message.folder_id, func.count())
                .where(Message.account_id == account_id)
                .group_by(Message.folder_id)
            ).all()
            rows = conn.execute(
                select(newest).where(newest.c.rank <= per_folder).order_by(newest.c.rank)
            ).all()
        result = {folder_id: FolderNewest(int(count), []) for folder_id, count in counts}
        for row in rows:
            flags = frozenset((row.flags or "").split())
            result[row.folder_id].messages.append((row.uid, flags, bytes(row.head or b"")))
        return result

    def raw(self, message_id: int) -> bytes:
        """The message's bytes exactly as they were received."""
        rows = q.READ_RAW.rows(self.engine, b_id=message_id)
        if not rows:
            raise StoreError(f"no message {message_id}")
        return bytes(rows[0][0])

    def set_flags(self, message_ids: Iterable[int], flags: Iterable[str]) -> None:
        """Replace the flags of some messages."""
        ids = list(message_ids)
        if not ids:
            return
        with self.engine.begin() as conn:
            rows = conn.execute(
                update(Message)
                .where(Message.id.in_(ids))
                .values(flags=_flags_text(flags))
                .returning(Message.account_id, Message.folder_id)
            ).all()
        for account_id, folder_id in set(rows):
            self._notify(account_id, folder_id)

    def delete_messages(self, message_ids: Iterable[int]) -> int:
        """Remove messages for good (POP3 QUIT, IMAP EXPUNGE); returns how many went."""
        ids = list(message_ids)
        if not ids:
            return 0
        with self.engine.begin() as conn:
            rows = conn.execute(
                delete(Message)
                .where(Message.id.in_(ids))
                .returning(Message.account_id, Message.folder_id)
            ).all()
        for account_id, folder_id in set(rows):
            self._notify(account_id, folder_id)
        return len(rows)

    # -- IMAP: folder management and many messages at once ---------------

    def folder_by_id(self, folder_id: int) -> FolderInfo | None:
        """The folder with this id, if it still exists."""
        return self._folder_by_id(folder_id)

    def rename_folder(self, account_id: int, old: str, new: str, delimiter: str = "/") -> None:
        """Rename a folder and every folder below it (`old/…` becomes `new/…`), at once.

        Raises:
            UnknownFolder: no folder called `old`.
            StoreError: `new`, or one of the names below it, is taken.
        """
        old, new = _folder_key(old), _folder_key(new)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(Folder.id, Folder.name).where(Folder.account_id == account_id)
            ).all()
            names = {r.name for r in rows}
            if old not in names:
                raise UnknownFolder(old)
            renames = {
                r.id: new + r.name[len(old) :]
                for r in rows
                if r.name == old or r.name.startswith(old + delimiter)
            }
            if names.intersection(renames.values()):
                raise StoreError(f"folder exists: {new}")
            for folder_id, name in renames.items():
                conn.execute(update(Folder).where(Folder.id == folder_id).values(name=name))
        for folder_id in renames:
            self._notify(account_id, folder_id)

    def delete_folder(self, folder_id: int) -> int:
        """Delete a folder and its messages; returns how many messages went with it."""
        with self.engine.begin() as conn:
            account_id = conn.execute(
                select(Folder.account_id).where(Folder.id == folder_id)
            ).scalar()
            if account_id is None:
                raise UnknownFolder(str(folder_id))
            count = conn.execute(delete(Message).where(Message.folder_id == folder_id)).rowcount
            conn.execute(delete(Folder).where(Folder.id == folder_id))
        self._notify(account_id, folder_id)
        return int(count or 0)

    def set_subscribed(self, folder_id: int, subscribed: bool) -> None:
        """Subscribe to a folder or unsubscribe from it (IMAP SUBSCRIBE, LSUB)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(Folder).where(Folder.id == folder_id).values(subscribed=subscribed)
            )

    def set_message_flags(self, flags_by_id: Mapping[int, Iterable[str]]) -> None:
        """Give each message its own new set of flags (IMAP STORE +FLAGS, -FLAGS)."""
        if not flags_by_id:
            return
        params = [{"b_id": i, "b_flags": _flags_text(f)} for i, f in flags_by_id.items()]
        with self.engine.begin() as conn:
            conn.execute(
                update(Message)
                .where(Message.id == bindparam("b_id"))
                .values(flags=bindparam("b_flags")),
                params,
            )
            touched = self._folders_of(conn, list(flags_by_id))
        for account_id, folder_id in touched:
            self._notify(account_id, folder_id)

    def raws(self, message_ids: Iterable[int]) -> dict[int, bytes]:
        """The bytes of several messages by id; ids no longer stored are left out."""
        ids = list(message_ids)
        if len(ids) == 1:  # a client reading one message, as most do
            one = q.READ_RAW.rows(self.engine, b_id=ids[0])
            return {ids[0]: bytes(one[0][0])} if one else {}
        found: dict[int, bytes] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(q.RAWS, {"b_ids": ids[start : start + 500]})
                found.update((row.id, bytes(row.raw)) for row in rows)
        return found

    def copy_messages(
        self, account: AccountInfo, message_ids: Iterable[int], folder_id: int
    ) -> list[MessageInfo]:
        """Copy messages (bytes, flags, date) into a folder, in the order given, within quota.

        Raises:
            QuotaExceeded: the copies do not fit in what is left.
        """
        ids = list(message_ids)
        if not ids:
            return []
        with self.engine.begin() as conn:
            if self.shared:
                conn.execute(q.LOCK_ACCOUNT, {"b_id": account.id})
            sizes = dict(
                conn.execute(select(Message.id, Message.size).where(Message.id.in_(ids))).all()
            )
            ids = [i for i in ids if i in sizes]
            usage = self._usage(conn, account.id)
            size = sum(sizes[i] for i in ids)
            if usage + size > account.quota_bytes:
                raise QuotaExceeded(account.address, usage, account.quota_bytes, size)
            first_uid = self._reserve_uids(conn, folder_id, len(ids))
            for offset, message_id in enumerate(ids):
                # INSERT … SELECT: the bytes are copied inside the database, never loaded here.
                conn.execute(
                    insert(Message).from_select(
                        ["folder_id", "account_id", "uid", "flags", "internal_date", "size", "raw"],
                        select(
                            literal(folder_id),
                            Message.account_id,
                            literal(first_uid + offset),
                            Message.flags,
                            Message.internal_date,
                            Message.size,
                            Message.raw,
                        ).where(Message.id == message_id),
                    )
                )
            copies = conn.execute(
                select(*q.MESSAGE_COLUMNS)
                .where(Message.folder_id == folder_id, Message.uid >= first_uid)
                .order_by(Message.uid)
            ).all()
        self._notify(account.id, folder_id)
        return [_message(r) for r in copies]

    def move_messages(self, message_ids: Iterable[int], folder_id: int) -> list[MessageInfo]:
        """Move messages into a folder of the same account, in the order given, with new UIDs."""
        ids = list(message_ids)
        if not ids:
            return []
        with self.engine.begin() as conn:
            touched = self._folders_of(conn, ids)
            first_uid = self._reserve_uids(conn, folder_id, len(ids))
            conn.execute(
                update(Message)
                .where(Message.id == bindparam("b_id"))
                .values(folder_id=folder_id, uid=bindparam("b_uid")),
                [{"b_id": i, "b_uid": first_uid + n} for n, i in enumerate(ids)],
            )
            moved = conn.execute(
                select(*q.MESSAGE_COLUMNS)
                .where(Message.folder_id == folder_id, Message.uid >= first_uid)
                .order_by(Message.uid)
            ).all()
        for account_id, source_id in touched:
            self._notify(account_id, source_id)
            self._notify(account_id, folder_id)
        return [_message(r) for r in moved]

    def _reserve_uids(self, conn, folder_id: int, count: int) -> int:  # type: ignore[no-untyped-def]
        # Same write-lock-first UPDATE as append(): nobody else can take these UIDs.
        uidnext = conn.execute(
            update(Folder)
            .where(Folder.id == folder_id)
            .values(uidnext=Folder.uidnext + count)
            .returning(Folder.uidnext)
        ).scalar()
        if uidnext is None:
            raise UnknownFolder(str(folder_id))
        return int(uidnext) - count

    @staticmethod
    def _folders_of(conn, message_ids: list[int]) -> set[tuple[int, int]]:  # type: ignore[no-untyped-def]
        touched: set[tuple[int, int]] = set()
        for start in range(0, len(message_ids), 500):
            rows = conn.execute(
                select(Message.account_id, Message.folder_id)
                .where(Message.id.in_(message_ids[start : start + 500]))
                .distinct()
            ).all()
            touched.update((r.account_id, r.folder_id) for r in rows)
        return touched
