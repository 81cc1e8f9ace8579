"""Judging an attempt: objectives, mistakes and arrivals' triggers, from what really happened.

The facts are the events the lab recorded on the connections the attempt
follows (the learner's devices and the lab's own deliveries), the traces of
the client's operations, and the mailboxes and devices' storage as they are
now. Nothing is judged from the form's fields alone.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from pixlab.db import EventRow
from pixlab.lab.events import Event
from pixlab.lab.runner import Lab
from pixlab.scenarios.matchers import (
    EventFact,
    Fact,
    TraceFact,
    describe,
    downloaded_uids,
    matches,
    matches_storage,
)
from pixlab.scenarios.progress import COMPLETED, JOURNAL_LENGTH, AttemptRecord, AttemptState
from pixlab.scenarios.schema import PROGRAM_DEVICE, Matcher, Scenario, fill, local


class Judge:
    """Judges attempts on a running lab, with the engine's clock."""

    def __init__(self, lab: Lab, clock: Callable[[], float]) -> None:
        self.lab = lab
        self.clock = clock

    def judge(
        self,
        scenario: Scenario,
        record: AttemptRecord,
        trace_fact: TraceFact | None,
        values: dict[str, str],
        newly: list[str],
        mistakes: list[str],
    ) -> None:
        """Judge what happened since last time; met objectives and mistakes are added to the lists.

        The record changes in place: its connections, counts, journal and status.
        """
        state = record.state
        if trace_fact is not None:
            trace_fact = _with_duplicates(state, trace_fact)
            trace = trace_fact.trace
            # Sending over IMAP also keeps a copy in Sent, on a connection of its own.
            copies = trace.result.get("sent_copy_connection_ids", [])
            for connection_id in [*trace.connection_ids, *copies]:
                state.connections.setdefault(connection_id, [trace_fact.device, 0, False])
            journal(state, _trace_entry(trace_fact))
        if not record.playing:
            return
        self._follow_programs(record)
        facts: list[Fact] = list(self._new_events(state))
        if trace_fact is not None:
            facts.append(trace_fact)
        now = self.clock()
        for fact in facts:
            self._apply(scenario, record, fact, values, now, newly, mistakes)
        self._check_states(scenario, record, values, now, newly, mistakes)
        if all(o.id in state.met for o in scenario.objectives):
            record.status, record.ended_at = COMPLETED, now

    def _apply(
        self,
        scenario: Scenario,
        record: AttemptRecord,
        fact: Fact,
        values: dict[str, str],
        now: float,
        newly: list[str],
        mistakes: list[str],
    ) -> None:
        state = record.state
        for objective in scenario.objectives:
            if objective.id not in state.met and _counted(
                record, f"objective:{objective.id}", objective.when, fact, values
            ):
                state.met[objective.id] = now
                state.proofs[objective.id] = describe(fact)
                newly.append(objective.id)
        for mistake in scenario.mistakes:
            if _counted(record, f"mistake:{mistake.id}", mistake.when, fact, values):
                _record_mistake(state, mistake.id, now, describe(fact))
                mistakes.append(mistake.id)
        for n, arrival in enumerate(scenario.lab.arrivals, 1):
            slot = state.arrivals[str(n)]
            if (arrival.after is not None and slot["due_at"] is None
                    and _counted(record, f"arrival:{n}", arrival.after, fact, values)):
                slot["due_at"] = now + arrival.after_seconds

    def _check_states(
        self,
        scenario: Scenario,
        record: AttemptRecord,
        values: dict[str, str],
        now: float,
        newly: list[str],
        mistakes: list[str],
    ) -> None:
        """Mailbox and storage matchers, judged on what the server or a device holds now."""
        state = record.state
        judges = {
            "mailbox": lambda matcher: self._mailbox_proof(matcher, values, record.lang),
            "storage": lambda matcher: _storage_proof(state, matcher, values, record.lang, now),
        }

        def proof(matcher: Matcher) -> dict[str, Any] | None:
            judge = judges.get(matcher.kind)
            if judge is None or not _after_met(state, matcher):
                return None
            return judge(matcher)

        for objective in scenario.objectives:
            if objective.id not in state.met:
                found = proof(objective.when)
                if found is not None:
                    state.met[objective.id] = now
                    state.proofs[objective.id] = found
                    newly.append(objective.id)
        for mistake in scenario.mistakes:
            if mistake.id not in state.mistakes:
                found = proof(mistake.when)
                if found is not None:
                    _record_mistake(state, mistake.id, now, found)
                    mistakes.append(mistake.id)

    def _mailbox_proof(
        self, matcher: Matcher, values: dict[str, str], lang: str
    ) -> dict[str, Any] | None:
        """The folder's state if it is what the matcher asks for, else None."""
        store = self.lab.store
        address = fill(matcher.account or "{address}", values)
        account = store.account(address)
        folder = store.folder(account.id, matcher.mailbox or "INBOX") if account else None
        if folder is None:
            return None
        messages = store.messages(folder.id)
        if matcher.subject is not None:
            raws = store.raws(m.id for m in messages)
            wanted = fill(local(matcher.subject, lang), values).lower()
            messages = [m for m in messages if wanted in subject_of(raws.get(m.id, b"")).lower()]
            if not messages:
                return None
        count = len(messages)
        if matcher.at_least is not None and count < matcher.at_least:
            return None
        if matcher.at_most is not None and count > matcher.at_most:
            return None
        return {"source": "mailbox", "account": address, "folder": folder.name, "messages": count,
                "at": time.time()}

    def _follow_programs(self, record: AttemptRecord) -> None:
        """Follow the connections on which a real mail program logged in to the attempt's account.

        Thunderbird or a phone on the class network is not PixLab's client: the
        tap recorded `program: true` when its connection opened (no
        `Tap.expect_own_client` mark). Its connections are found by their
        login, then counted from their first event (the TLS handshake before
        the login included), as the client's are.
        """
        state = record.state
        self.lab.events.flush()
        with self.lab.events.engine.connect() as conn:
            logins = conn.execute(
                select(EventRow.id, EventRow.connection_id)
                .where(EventRow.account == record.address.lower(),
                       EventRow.kind == "auth.succeeded",
                       EventRow.id > state.programs_seen,
                       EventRow.at >= record.started_at)
                .order_by(EventRow.id)
            ).all()
            if not logins:
                return
            state.programs_seen = logins[-1].id
            new = [row.connection_id for row in logins
                   if row.connection_id and row.connection_id not in state.connections]
            if not new:
                return
            opened = conn.execute(
                select(EventRow.connection_id, EventRow.data)
                .where(EventRow.connection_id.in_(new), EventRow.kind == "connection.opened")
            ).all()
        for connection_id, data in opened:
            if connection_id and _json(data).get("program"):
                state.connections[connection_id] = [PROGRAM_DEVICE, 0, False]

    def _new_events(self, state: AttemptState) -> list[EventFact]:
        """Events recorded since last time on the connections the attempt follows."""
        following = {cid: c for cid, c in state.connections.items() if not c[2]}
        if not following:
            return []
        self.lab.events.flush()
        floor = min(c[1] for c in following.values())
        with self.lab.events.engine.connect() as conn:
            rows = conn.execute(
                select(EventRow)
                .where(EventRow.connection_id.in_(list(following)), EventRow.id > floor)
                .order_by(EventRow.id)
            ).all()
        facts = []
        for row in rows:
            entry = following[row.connection_id]
            if row.id <= entry[1]:
                continue
            entry[1] = row.id
            if row.kind in ("connection.closed", "connection.refused"):
                entry[2] = True  # nothing more will come from it
            event = Event(row.kind, row.at, row.connection_id, row.account, row.listener, row.tls,
                          _json(row.data))
            facts.append(EventFact(event, entry[0], row.id))
        return facts


def _after_met(state: AttemptState, matcher: Matcher) -> bool:
    return all(other in state.met for other in matcher.after)


def _counted(
    record: AttemptRecord, key: str, matcher: Matcher, fact: Fact, values: dict[str, str]
) -> bool:
    """Count a fact that matches; True once the matcher has seen enough of them."""
    state = record.state
    if not _after_met(state, matcher) or not matches(matcher, fact, values, record.lang):
        return False
    per_device = state.counts.setdefault(key, {})
    device = fact.device or "?"
    per_device[device] = per_device.get(device, 0) + 1
    if matcher.devices:
        return all(per_device.get(d, 0) >= matcher.times for d in matcher.devices)
    return sum(per_device.values()) >= matcher.times


def _with_duplicates(state: AttemptState, fact: TraceFact) -> TraceFact:
    """The fact with how many of its downloads the device had downloaded before (doubles).

    Every UID a device downloads is remembered for the attempt; a UID it downloads
    again was forgotten by its mail program, and is no longer forgotten.
    """
    uids = downloaded_uids(fact.trace)
    if not uids:
        return fact
    before = state.downloaded.setdefault(fact.device, [])
    again = sum(1 for uid in uids if uid in before)
    before.extend(uid for uid in uids if uid not in before)
    if fact.device in state.forgotten:
        state.forgotten[fact.device] = [u for u in state.forgotten[fact.device] if u not in uids]
    return dataclasses.replace(fact, duplicates=again)


def _storage_proof(
    state: AttemptState, matcher: Matcher, values: dict[str, str], lang: str, now: float
) -> dict[str, Any] | None:
    """What a device's storage held when last reported, if it is what the matcher asks for."""
    device = matcher.device or ""
    folders = state.storage.get(device)
    if folders is None or not matches_storage(matcher, folders, values, lang):
        return None
    return {"source": "storage", "device": device, "folder": matcher.storage,
            "messages": len(folders.get(matcher.storage or "INBOX", [])), "at": now}


def _record_mistake(state: AttemptState, mistake_id: str, now: float,
                    proof: dict[str, Any]) -> None:
    seen = state.mistakes.get(mistake_id)
    if seen is None:
        state.mistakes[mistake_id] = {"first_at": now, "count": 1, "proof": proof}
    else:
        seen["count"] += 1


def journal(state: AttemptState, entry: dict[str, Any]) -> None:
    """Add an entry to the attempt's journal, which keeps the latest ones only."""
    state.journal.append(entry)
    del state.journal[:-JOURNAL_LENGTH]


def _trace_entry(fact: TraceFact) -> dict[str, Any]:
    trace = fact.trace
    return {
        "at": fact.at, "device": fact.device, "operation": trace.operation,
        "protocol": trace.protocol, "host": trace.host, "port": trace.port,
        "security": trace.security, "ok": trace.ok,
        "error": trace.error.key if trace.error else None,
    }


def subject_of(raw: bytes) -> str:
    """A message's Subject: header, from its raw bytes."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    parsed = email.message_from_bytes(head + b"\r\n\r\n", policy=email.policy.default)
    return str(parsed.get("Subject", ""))


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
