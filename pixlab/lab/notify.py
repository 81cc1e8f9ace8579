"""Mailbox changes and ended sessions between processes: PostgreSQL's LISTEN/NOTIFY.

Several `pixlab serve` processes share one PostgreSQL. A message delivered
through one of them must wake an IMAP client idling on another at once (RFC
2177), and a NOOP there must see it. Each store announces every committed
change on one channel (`NOTIFY pixlab_mail, 'origin account folder'`), and each
running lab listens on it with a connection of its own, in a thread that hands
what it hears to the store's in-process listeners. A process skips its own
announcements: it told its listeners already, before the NOTIFY went out.

The same channel carries an account's new password (`'origin end ["address",
"reason"]'`): every process then cuts the sessions it holds on that account, as
the one that changed it did with its own.

PostgreSQL delivers a notification only once the transaction that sent it
commits, to every session listening at that moment, in commit order.
SQLite has a single process: nothing to announce, nothing to hear.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from pixlab.db import driver_cursor, is_postgresql

CHANNEL = "pixlab_mail"
_STOP = "stop"
log = logging.getLogger(__name__)

Deliver = Callable[[int, int], None]
ChangeSubscriber = Callable[[int, int], None]  # (account id, folder id)
SessionsEnder = Callable[[str, str], None]  # (account address, reason)
_END = "end"


def payload(origin: str, account_id: int, folder_id: int) -> str:
    """What a change says on the channel: who announced it, and which folder of which account."""
    return f"{origin} {account_id} {folder_id}"


def announce(cursor: Any, origin: str, account_id: int, folder_id: int) -> None:
    """Queue the announcement of a change in the cursor's transaction (sent at its commit)."""
    _send(cursor, payload(origin, account_id, folder_id))


def _send(cursor: Any, text: str) -> None:
    cursor.execute("SELECT pg_notify(%s, %s)", (CHANNEL, text))


class ChangeListener:
    """Hears the changes other processes announce, and passes them to `deliver`."""

    RECONNECT_DELAY = 1.0

    def __init__(self, engine: Engine, origin: str, deliver: Deliver,
                 end_sessions: SessionsEnder) -> None:
        self.engine = engine
        self.origin = origin
        self.deliver = deliver
        self.end_sessions = end_sessions
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start listening; returns once LISTEN is in force, so no later change is missed."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pixlab-listen", daemon=True)
        self._thread.start()
        self._listening.wait(timeout)

    def stop(self) -> None:
        """Stop listening: a last notification of our own wakes the thread, which then ends."""
        if self._thread is None:
            return
        self._stop.set()
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT pg_notify(%(c)s, %(p)s)",
                                     {"c": CHANNEL, "p": f"{self.origin} {_STOP}"})
                conn.commit()
        except Exception:  # the database is gone: the thread's own timeout ends it
            log.warning("could not wake the change listener; it stops at its next timeout")
        self._thread.join(timeout=10)
        self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except Exception:
                # The database restarted or the network broke: listen again. A change
                # made meanwhile is seen at the client's next command or IDLE wake-up.
                log.warning("lost the connection that listens for mailbox changes; retrying",
                            exc_info=True)
                self._stop.wait(self.RECONNECT_DELAY)

    def _listen(self) -> None:
        import psycopg  # PostgreSQL only: SQLite never gets here

        # A connection of its own, outside the pool, for as long as the lab runs.
        url = self.engine.url.set(drivername="postgresql")
        with psycopg.connect(url.render_as_string(hide_password=False),
                             autocommit=True) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self._listening.set()
            while not self._stop.is_set():
                for note in connection.notifies(timeout=5.0):
                    self._heard(note.payload)
                    if self._stop.is_set():
                        return

    def _heard(self, text: str) -> None:
        origin, _, rest = text.partition(" ")
        if origin == self.origin or rest == _STOP:
            return  # our own change (our listeners know already), or a lab stopping
        kind, _, ended = rest.partition(" ")
        try:
            if kind == _END:
                address, reason = json.loads(ended)
                self.end_sessions(str(address), str(reason))
                return
            account_id, folder_id = (int(part) for part in rest.split())
        except ValueError:
            log.warning("ignored a malformed change notification")
            return
        self.deliver(account_id, folder_id)


class ChangeNotices:
    """The mail store's side of change notices: its in-process subscribers, and the channel.

    Every committed change calls `_notify(account_id, folder_id)`: the
    subscribers of this process at once, then (PostgreSQL) the other
    processes through the channel.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._listeners: list[ChangeSubscriber] = []
        self._listeners_lock = threading.Lock()
        self._session_enders: list[SessionsEnder] = []
        # PostgreSQL: other processes may share this database; changes are announced to them.
        self.shared = is_postgresql(engine)
        self.origin = secrets.token_hex(8)  # this store's name on the channel
        self._changes: ChangeListener | None = None

    def subscribe(self, listener: ChangeSubscriber) -> None:
        """Call `listener(account_id, folder_id)` after each committed change, from any thread."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: ChangeSubscriber) -> None:
        """Stop calling a listener."""
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def on_sessions_ended(self, ender: SessionsEnder) -> None:
        """Call `ender(address, reason)` when another process ends an account's sessions."""
        self._session_enders.append(ender)

    def announce_sessions_ended(self, address: str, reason: str) -> None:
        """Tell the other processes to cut their sessions of an account (PostgreSQL only)."""
        if not self.shared:
            return
        with driver_cursor(self.engine, commit=True) as cursor:
            _send(cursor, f"{self.origin} {_END} {json.dumps([address, reason])}")

    def listen(self) -> None:
        """Hear the changes other processes make (PostgreSQL's LISTEN), until `stop_listening`."""
        if self.shared and self._changes is None:
            self._changes = ChangeListener(self.engine, self.origin, self._tell,
                                           self._sessions_ended)
            self._changes.start()

    def stop_listening(self) -> None:
        """Stop hearing other processes' changes."""
        if self._changes is not None:
            self._changes.stop()
            self._changes = None

    def _notify(self, account_id: int, folder_id: int, announced: bool = False) -> None:
        # After the commit: our subscribers now, other processes through the database
        # (`announced`: the change's own transaction carried the NOTIFY already).
        self._tell(account_id, folder_id)
        if self.shared and not announced:
            try:
                with driver_cursor(self.engine, commit=True) as cursor:
                    announce(cursor, self.origin, account_id, folder_id)
            except Exception:  # the change is committed; only a prompt wake-up is lost
                log.warning("could not announce a mailbox change")

    def _sessions_ended(self, address: str, reason: str) -> None:
        for ender in list(self._session_enders):
            ender(address, reason)

    def _tell(self, account_id: int, folder_id: int) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(account_id, folder_id)
