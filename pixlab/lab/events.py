"""The lab's event log: what the servers saw, for objectives and for the trainer.

Events are kept in the database (listable per account and per connection) and
handed to in-process subscribers as they happen. Writes are batched: a server
records an event in microseconds and a background thread commits the batch a
few times a second; every read commits what is pending first, so a reader
always sees everything recorded before it asked.

No event carries a password: `record` refuses keys that look like one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, select

from pixlab.db import DriverStatement, EventRow

# Every kind of event the lab records, with what it means. Scenarios match on
# these names; `pixlab scenarios check` refuses any other.
EVENT_KINDS: dict[str, str] = {
    "connection.opened": "a client connected to a listener",
    "connection.closed": "the connection ended (data: reason, bytes each way)",
    "connection.refused": "the lab refused a connection (data: reason)",
    "session.ended": "the lab cut a logged-in session: its account's password changed "
                     "(data: reason, peer)",
    "tls.established": "TLS is active (data: version, cipher, sni, certificate)",
    "tls.failed": "the TLS handshake failed or never came (data: reason)",
    "auth.succeeded": "a login worked (data: mechanism, cleartext)",
    "auth.failed": "a login was refused (data: mechanism, cleartext, reason)",
    "message.delivered": "a message was stored in a mailbox "
                         "(data: folder, uid, size, via, reply_to)",
    "message.rejected": "a message was refused (data: recipient, reason)",
    "message.retrieved": "a client downloaded a message's body (data: folder, uid)",
    "message.deleted": "a message was removed for good (data: folder, uid)",
    "relay.denied": "the server refused to forward mail to another domain (data: recipient)",
    "quota.exceeded": "a mailbox had no room for a message (data: usage, quota, size)",
    "protocol.error": "the client sent something the server could not accept (data: reason)",
    "mailbox.selected": "an IMAP client opened a folder (data: folder, read_only, messages)",
    "mailbox.created": "an IMAP client created a folder (data: folder)",
    "mailbox.deleted": "an IMAP client deleted a folder and its messages (data: folder, messages)",
    "mailbox.renamed": "an IMAP client renamed a folder (data: folder, to)",
    "message.flagged": "a message's flags changed, read or not (data: folder, uid, added, removed)",
    "message.moved": "a message went to another folder (data: folder, uid, to, new_uid)",
    "message.copied": "a message was copied to a folder (data: folder, uid, to, new_uid)",
    "message.appended": "a client saved a message into a folder (data: folder, uid, size, flags)",
    "fault.switched": "a trainer switched a live fault on or off (data: workshop, fault, on)",
}

# What a page embedded in a course page (Pix's embed protocol) told its parent. They go in the
# same log so a trainer reads one timeline, but no scenario matches them: objectives are judged
# only on what the servers saw, and `pixlab scenarios check` refuses these names.
PAGE_EVENT_KINDS: dict[str, str] = {
    "embed.init": "the embedded page told its parent it is ready (data: slug, origin)",
    "embed.launched": "the parent page launched the scenario (data: slug, origin)",
    "embed.answered": "the embedded page gave its parent the scenario's answer "
                      "(data: slug, origin, answer, outcome)",
}

_FORBIDDEN_KEYS = ("password", "passwd", "secret", "credentials")

_COLUMNS = ["at", "kind", "connection_id", "account", "listener", "tls", "data"]
_INSERT_EVENTS = DriverStatement(insert(EventRow), _COLUMNS)


@dataclass(frozen=True)
class Event:
    """One thing the lab observed."""

    kind: str
    at: float
    connection_id: str | None = None
    account: str | None = None
    listener: str | None = None
    tls: bool | None = None
    data: dict[str, Any] = field(default_factory=dict)


EventSubscriber = Callable[[Event], None]


class EventLog:
    """Records events, stores them in batches and tells subscribers at once."""

    FLUSH_INTERVAL = 0.25

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pending: list[Event] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._subscribers: list[EventSubscriber] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the background thread that commits pending events."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="pixlab-events", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the background thread and commit what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def record(
        self,
        kind: str,
        *,
        connection_id: str | None = None,
        account: str | None = None,
        listener: str | None = None,
        tls: bool | None = None,
        **data: Any,
    ) -> Event:
        """Record an event; subscribers are called before this returns."""
        if kind not in EVENT_KINDS and kind not in PAGE_EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        for key in data:
            if any(word in key.lower() for word in _FORBIDDEN_KEYS):
                raise ValueError(f"events never carry secrets: {key!r}")
        event = Event(kind, time.time(), connection_id, account, listener, tls, data)
        with self._lock:
            self._pending.append(event)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(event)
        return event

    def subscribe(self, subscriber: EventSubscriber) -> None:
        """Call `subscriber(event)` for every event from now on (in the recording thread)."""
        with self._lock:
            self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: EventSubscriber) -> None:
        """Stop calling a subscriber."""
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def flush(self) -> None:
        """Commit every pending event."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            rows = [
                {
                    "at": e.at,
                    "kind": e.kind,
                    "connection_id": e.connection_id,
                    "account": e.account,
                    "listener": e.listener,
                    "tls": e.tls,
                    "data": json.dumps(e.data, ensure_ascii=False, default=str),
                }
                for e in batch
            ]
            try:
                _INSERT_EVENTS.insert_many(self.engine, rows)
            except Exception:
                # Keep the batch for the next try rather than lose what was seen.
                with self._lock:
                    self._pending[:0] = batch
                raise

    def for_connection(self, connection_id: str) -> list[Event]:
        """Every event of one connection, oldest first."""
        return self._query(EventRow.connection_id == connection_id)

    def for_account(self, address: str, since: float = 0.0) -> list[Event]:
        """Every event about one account since a time, oldest first."""
        return self._query(EventRow.account == address.lower(), EventRow.at >= since)

    def of_kinds(self, kinds: tuple[str, ...], since: float = 0.0) -> list[Event]:
        """Every event of these kinds since a time, oldest first."""
        return self._query(EventRow.kind.in_(kinds), EventRow.at >= since)

    def _query(self, *conditions) -> list[Event]:  # type: ignore[no-untyped-def]
        self.flush()
        with self.engine.connect() as conn:
            rows = conn.execute(select(EventRow).where(*conditions).order_by(EventRow.id)).all()
        return [
            Event(r.kind, r.at, r.connection_id, r.account, r.listener, r.tls, json.loads(r.data))
            for r in rows
        ]

    def _run(self) -> None:
        while not self._stop.wait(self.FLUSH_INTERVAL):
            try:
                self.flush()
            except Exception:  # a busy database must not kill the thread; retry later
                time.sleep(self.FLUSH_INTERVAL)
