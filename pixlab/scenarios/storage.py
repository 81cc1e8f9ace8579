"""A device's own storage as the engine judges it: in memory for tests, forgetful after a reinstall.

The engine keeps, per device, the subjects of what each local folder holds
(what POP3 downloaded, local archives, sent copies) to judge `storage`
matchers; a reinstalled mail program keeps its messages but forgets their UIDs.
"""

from __future__ import annotations

import time
from typing import Any

from pixlab.client.client import LocalMail
from pixlab.scenarios.judging import subject_of

STORAGE_KEEPS = 200  # subjects kept per local folder of a device, to judge storage matchers


class MemoryLocalMail:
    """A device's storage in memory (the walkthroughs' devices; pages keep theirs in the DB).

    `messages` holds the latest download of each server UID; `folders` every copy
    kept on the device, by local folder, doubles included.
    """

    def __init__(self) -> None:
        self.messages: dict[str, bytes] = {}
        self.when: dict[str, float] = {}
        self.deleted: set[str] = set()
        self.folders: dict[str, list[bytes]] = {}

    def known_uids(self) -> set[str]:
        """The server UIDs already downloaded."""
        return set(self.messages)

    def keep(self, uid: str, raw: bytes) -> None:
        """Store a downloaded message."""
        self.messages[uid] = raw
        self.when.setdefault(uid, time.time())
        self.folders.setdefault("INBOX", []).append(raw)

    def keep_copy(self, folder: str, raw: bytes) -> None:
        """Keep a message in a local folder (an archive on this device)."""
        self.folders.setdefault(folder, []).append(raw)

    def local_folders(self) -> dict[str, list[bytes]]:
        """Every local folder and the messages it holds."""
        return {name: list(raws) for name, raws in self.folders.items()}

    def downloaded_at(self, uid: str) -> float | None:
        """When a message was downloaded."""
        return self.when.get(uid)

    def deleted_here(self) -> set[str]:
        """UIDs deleted on this device."""
        return set(self.deleted)


class Forgetful:
    """A device's storage as its reinstalled mail program sees it: some UIDs forgotten."""

    def __init__(self, local: LocalMail, forgotten: set[str]) -> None:
        self.local = local
        self.forgotten = forgotten

    def known_uids(self) -> set[str]:
        return self.local.known_uids() - self.forgotten

    def keep(self, uid: str, raw: bytes) -> None:
        self.local.keep(uid, raw)

    def downloaded_at(self, uid: str) -> float | None:
        return None if uid in self.forgotten else self.local.downloaded_at(uid)

    def deleted_here(self) -> set[str]:
        return self.local.deleted_here() - self.forgotten


def storage_subjects(local: Any) -> dict[str, list[str]]:
    """A device's storage as storage matchers see it: local folder -> subjects of its messages.

    The storage gives `local_folders()` (folder -> raw messages), or, as the pages'
    `LocalMailbox` does, `counts()` and `messages(folder)` (items with `raw`).
    """
    if hasattr(local, "local_folders"):
        folders: dict[str, list[bytes]] = local.local_folders()
    elif hasattr(local, "counts") and hasattr(local, "messages"):
        folders = {name: [m.raw for m in local.messages(name)] for name in local.counts()}
    else:
        return {}
    return {name: [subject_of(raw) for raw in raws[-STORAGE_KEEPS:]]
            for name, raws in folders.items()}
