"""Deleting learners' data: at once (« Supprimer maintenant ») or after the retention period.

A learner leaves traces in many places: their `learners` row (devices, what
each device keeps, traces), their scenario attempts, the lab accounts they
played with (folders and messages), the event log (their connections, their
logins, failed ones included), and the messages they sent to the scenarios'
shared contacts. `purge_learner` deletes all of it; the retention test reads
every table and the store to prove nothing is left.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, or_, select

from pixlab.db import (
    Account,
    AppPassword,
    Device,
    EventRow,
    Folder,
    Learner,
    Message,
    ScenarioAttempt,
    TraceRecord,
    WorkshopLearner,
    one_process_at_a_time,
)
from pixlab.workshops import service

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab

log = logging.getLogger(__name__)
PURGE_INTERVAL = 3600.0  # seconds between two purges while PixLab runs
PURGE_LOCK = 0x50584C01  # PostgreSQL's advisory lock for the purge ("PXL", 1)
_CHUNK = 500


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def purge_learner(lab: Lab, learner_id: int, key_of: Callable[[str], str]) -> bool:
    """Delete everything of one sandbox learner; False when there was no such learner."""
    engine = lab.engine
    with engine.connect() as conn:
        row = conn.execute(select(Learner.address).where(Learner.id == learner_id)).first()
    if row is None:
        return False
    key = key_of(row.address)
    lab.events.flush()  # what the servers saw a moment ago is in the table too
    with engine.connect() as conn:
        addresses = {row.address.lower()} | {
            a.lower() for a in conn.execute(
                select(ScenarioAttempt.address).where(ScenarioAttempt.learner == key)).scalars()
        }
        # Their connections: those that logged into their accounts, or named them.
        named = or_(EventRow.account.in_(list(addresses)),
                    *(EventRow.data.contains(a) for a in addresses))
        connections = sorted({c for c in conn.execute(
            select(EventRow.connection_id).where(named, EventRow.connection_id.is_not(None))
        ).scalars() if c} | _traced_connections(conn, learner_id, key))
        # Messages those connections left in other people's mailboxes (the scenarios' contacts).
        left: list[tuple[str, str, int]] = []
        for chunk in _chunks(connections):
            left += [(r.account, str(r.data), 0) for r in conn.execute(
                select(EventRow.account, EventRow.data).where(
                    EventRow.connection_id.in_(chunk),
                    EventRow.kind.in_(("message.delivered", "message.appended")),
                    EventRow.account.is_not(None))
            ).all() if r.account and r.account.lower() not in addresses]
    _delete_left_messages(lab, left)
    with engine.begin() as conn:
        conn.execute(delete(EventRow).where(named))
        for chunk in _chunks(connections):
            conn.execute(delete(EventRow).where(EventRow.connection_id.in_(chunk)))
        conn.execute(delete(ScenarioAttempt).where(ScenarioAttempt.learner == key))
        account_ids = list(conn.execute(
            select(Account.id).where(Account.address.in_(list(addresses)))).scalars())
        if account_ids:
            conn.execute(delete(Message).where(Message.account_id.in_(account_ids)))
            conn.execute(delete(Folder).where(Folder.account_id.in_(account_ids)))
            conn.execute(delete(AppPassword).where(AppPassword.account_id.in_(account_ids)))
            conn.execute(delete(Account).where(Account.id.in_(account_ids)))
        device_ids = list(conn.execute(
            select(Device.id).where(Device.learner_id == learner_id)).scalars())
        conn.execute(delete(TraceRecord).where(TraceRecord.learner_id == learner_id))
        if device_ids:
            from pixlab.db import LocalMessage

            conn.execute(delete(LocalMessage).where(LocalMessage.device_id.in_(device_ids)))
            conn.execute(delete(Device).where(Device.id.in_(device_ids)))
        conn.execute(delete(WorkshopLearner).where(WorkshopLearner.learner_id == learner_id))
        conn.execute(delete(Learner).where(Learner.id == learner_id))
    for address in addresses:
        lab.lockouts.unlock(address)
    lab.tap.forget(connections)  # what a spy saw of them, kept in memory for the trace pages
    return True


def _traced_connections(conn: Connection, learner_id: int, key: str) -> set[str]:
    """The connections the learner's traces and attempts name, those that failed before
    any login too (a TLS handshake refused names no account in the event log)."""
    found: set[str] = set()
    documents = [*conn.execute(select(TraceRecord.data)
                               .where(TraceRecord.learner_id == learner_id)).scalars(),
                 *conn.execute(select(ScenarioAttempt.state)
                               .where(ScenarioAttempt.learner == key)).scalars()]
    for text in documents:
        try:
            _collect_connections(json.loads(text or "{}"), found)
        except ValueError:
            continue
    return found


def _collect_connections(node: Any, found: set[str]) -> None:
    # Traces keep `connection_ids` (and `sent_copy_connection_ids`); attempts keep a
    # `connections` map by id and a journal of traces.
    if isinstance(node, dict):
        for name, value in node.items():
            if name.endswith("connection_ids") and isinstance(value, list):
                found.update(v for v in value if isinstance(v, str))
            elif name == "connections" and isinstance(value, dict):
                found.update(value)
            else:
                _collect_connections(value, found)
    elif isinstance(node, list):
        for item in node:
            _collect_connections(item, found)


def _delete_left_messages(lab: Lab, left: list[tuple[str, str, int]]) -> None:
    """Delete the messages a learner's connections delivered into other accounts."""
    store = lab.store
    for account_address, data_text, _ in left:
        data = json.loads(data_text)
        account = store.account(account_address)
        folder = store.folder(account.id, data.get("folder") or "INBOX") if account else None
        if folder is None:
            continue
        uid = data.get("uid")
        store.delete_messages(m.id for m in store.messages(folder.id) if m.uid == uid)


def purge_workshop(lab: Lab, workshop_id: int, key_of: Callable[[str], str]) -> int:
    """Delete every learner of a workshop, then the workshop; how many learners went."""
    learners = [m.learner_id for m in service.members(lab.engine, workshop_id)]
    for learner_id in learners:
        purge_learner(lab, learner_id, key_of)
    service.delete_workshop(lab.engine, workshop_id)
    return len(learners)


def last_activity(lab: Lab, learner_id: int, created_at: float, key: str) -> float:
    """When a sandbox learner last did something: a trace, a setting, an attempt."""
    with lab.engine.connect() as conn:
        moments = [
            created_at,
            conn.execute(select(func.max(TraceRecord.created_at))
                         .where(TraceRecord.learner_id == learner_id)).scalar(),
            conn.execute(select(func.max(Device.updated_at))
                         .where(Device.learner_id == learner_id)).scalar(),
            conn.execute(select(func.max(ScenarioAttempt.started_at))
                         .where(ScenarioAttempt.learner == key)).scalar(),
            conn.execute(select(func.max(ScenarioAttempt.ended_at))
                         .where(ScenarioAttempt.learner == key)).scalar(),
        ]
    return max(m for m in moments if m is not None)


def purge_expired(lab: Lab, key_of: Callable[[str], str], retention_days: int,
                  now: float | None = None) -> dict[str, int]:
    """Delete what has outlived its retention period: ended workshops and idle sandbox learners.

    Returns how many workshops and learners went.
    """
    now = time.time() if now is None else now
    gone = {"workshops": 0, "learners": 0}
    for workshop in service.every(lab.engine):
        due = workshop.purge_at(now)
        if due is not None and due <= now:
            gone["learners"] += purge_workshop(lab, workshop.id, key_of)
            gone["workshops"] += 1
    cutoff = now - retention_days * 86400
    with lab.engine.connect() as conn:
        idle = conn.execute(
            select(Learner.id, Learner.address, Learner.created_at)
            .where(Learner.created_at < cutoff,
                   Learner.id.not_in(select(WorkshopLearner.learner_id)))
        ).all()
    for row in idle:
        if last_activity(lab, row.id, row.created_at, key_of(row.address)) < cutoff:
            purge_learner(lab, row.id, key_of)
            gone["learners"] += 1
    return gone


class Purger:
    """Runs `purge_expired` at start, then every hour, in a thread of its own."""

    def __init__(self, lab: Lab, key_of: Callable[[str], str], retention_days: int,
                 interval: float = PURGE_INTERVAL) -> None:
        self.lab, self.key_of, self.days, self.interval = lab, key_of, retention_days, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pixlab-purge", daemon=True)

    def start(self) -> Purger:
        """Purge now, then keep purging on schedule."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the schedule (a purge under way finishes first)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            try:
                # Several processes on one PostgreSQL: one of them purges each round.
                with one_process_at_a_time(self.lab.engine, PURGE_LOCK) as mine:
                    gone = (purge_expired(self.lab, self.key_of, self.days) if mine
                            else {"workshops": 0, "learners": 0})
                if any(gone.values()):
                    log.info("retention purge: %(workshops)s workshops, %(learners)s learners",
                             gone)
            except Exception:  # a busy database must not end the schedule; next hour
                log.exception("retention purge failed")
            if self._stop.wait(self.interval):
                return
