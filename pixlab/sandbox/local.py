"""A device's own storage: what POP3 downloaded, its local folders and its sent copies.

It lives in the database, so a reload or a restart loses nothing; the
simulated client downloads into it (it is the client's `LocalMail`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, insert, select, update

from pixlab.db import LocalMessage


@dataclass(frozen=True)
class LocalMessageInfo:
    """A message kept on a device."""

    id: int
    folder: str
    server_uid: str | None
    kept_at: float
    seen: bool
    raw: bytes = field(repr=False)


class LocalMailbox:
    """A device's own storage: what POP3 downloaded, local folders and sent copies.

    It is the `LocalMail` the simulated client downloads into.
    """

    INBOX = "INBOX"

    def __init__(self, engine: Engine, device_id: int) -> None:
        self.engine = engine
        self.device_id = device_id

    # -- what the POP3 client asks ---------------------------------------------

    def known_uids(self) -> set[str]:
        """The server UIDs already downloaded (deleted here or not)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LocalMessage.server_uid).where(
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.server_uid.is_not(None),
                )
            ).scalars().all()
        return {uid for uid in rows if uid is not None}

    def keep(self, uid: str, raw: bytes) -> None:
        """Store a downloaded message, committed before the server is told to delete it."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(LocalMessage).values(
                    device_id=self.device_id, folder=self.INBOX, server_uid=uid,
                    kept_at=time.time(), seen=False, deleted=False, raw=raw,
                )
            )

    def downloaded_at(self, uid: str) -> float | None:
        """When a message was downloaded."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.min(LocalMessage.kept_at)).where(
                    LocalMessage.device_id == self.device_id, LocalMessage.server_uid == uid
                )
            ).scalar()

    def deleted_here(self) -> set[str]:
        """UIDs the learner deleted on this device."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LocalMessage.server_uid).where(
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.deleted.is_(True),
                    LocalMessage.server_uid.is_not(None),
                )
            ).scalars().all()
        return {uid for uid in rows if uid is not None}

    # -- what the mail pages ask ----------------------------------------------

    def keep_copy(self, folder: str, raw: bytes) -> None:
        """Keep a message the device made itself (a sent copy), already read."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(LocalMessage).values(
                    device_id=self.device_id, folder=folder, server_uid=None,
                    kept_at=time.time(), seen=True, deleted=False, raw=raw,
                )
            )

    def counts(self) -> dict[str, int]:
        """How many messages each local folder holds."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LocalMessage.folder, func.count())
                .where(LocalMessage.device_id == self.device_id, LocalMessage.deleted.is_(False))
                .group_by(LocalMessage.folder)
            ).all()
        return {folder: int(count) for folder, count in rows}

    def messages(self, folder: str, limit: int = 200) -> list[LocalMessageInfo]:
        """A local folder's messages, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LocalMessage)
                .where(
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.folder == folder,
                    LocalMessage.deleted.is_(False),
                )
                .order_by(LocalMessage.kept_at.desc(), LocalMessage.id.desc())
                .limit(limit)
            ).all()
            return [self._info(r) for r in rows]

    def message(self, message_id: int) -> LocalMessageInfo | None:
        """One message of this device (not deleted); None for any other device's."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(LocalMessage).where(
                    LocalMessage.id == message_id,
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.deleted.is_(False),
                )
            ).first()
        return self._info(row) if row else None

    def mark_seen(self, message_id: int) -> None:
        """The learner opened the message."""
        self._update(message_id, seen=True)

    def move(self, message_id: int, folder: str) -> bool:
        """Move a message to another local folder; False if it is not this device's."""
        return self._update(message_id, folder=folder)

    def delete(self, message_id: int) -> bool:
        """Delete a message here; its UID stays known. False if it is not this device's."""
        return self._update(message_id, deleted=True, raw=b"")

    def _update(self, message_id: int, **values: Any) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(LocalMessage)
                .where(
                    LocalMessage.id == message_id,
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.deleted.is_(False),
                )
                .values(**values)
            )
        return bool(result.rowcount)

    @staticmethod
    def _info(row: Any) -> LocalMessageInfo:
        return LocalMessageInfo(
            row.id, row.folder, row.server_uid, row.kept_at, bool(row.seen), bytes(row.raw)
        )
