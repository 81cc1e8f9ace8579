"""Matchers: does an event, a trace, a mailbox or a device's storage match what a file asks?

A fact is one thing observed during an attempt: an `EventFact` (what a lab
server recorded, on a connection of one of the learner's devices, or of the
lab's own delivery) or a `TraceFact` (what one operation of a device's client
did). Mailbox matchers are checked against the store as it is now; storage
matchers against what the engine last saw of a device's own storage.
"""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pixlab.client.trace import Trace
from pixlab.lab.config import LISTENERS_BY_NAME
from pixlab.lab.events import Event
from pixlab.scenarios.schema import INTRUDER_DEVICE, LAB_DEVICE, Matcher, fill, local

# The data each kind of event carries (from the servers' `record` calls), so that
# a matcher's `data` keys can be checked. tests/test_scenarios_schema.py keeps it
# in step with EVENT_KINDS.
EVENT_DATA: dict[str, tuple[str, ...]] = {
    "connection.opened": ("peer", "program"),
    "connection.closed": ("bytes_from_client", "bytes_from_server", "seconds"),
    "connection.refused": ("reason", "peer"),
    "tls.established": ("version", "cipher", "sni", "certificate"),
    "tls.failed": ("reason",),
    "auth.succeeded": ("mechanism", "cleartext", "command", "app_login", "app"),
    "auth.failed": ("mechanism", "cleartext", "reason", "user", "command"),
    "message.delivered": ("recipient", "sender", "folder", "uid", "size", "via",
                          "authenticated", "reply_to"),
    "message.rejected": ("recipient", "reason"),
    "message.retrieved": ("folder", "uid", "size", "section", "partial"),
    "message.deleted": ("folder", "uid"),
    "relay.denied": ("recipient",),
    "session.ended": ("reason", "peer"),
    "quota.exceeded": ("recipient", "folder", "usage", "quota", "size"),
    "protocol.error": ("reason", "command"),
    "mailbox.selected": ("folder", "read_only", "messages"),
    "mailbox.created": ("folder",),
    "mailbox.deleted": ("folder", "messages"),
    "mailbox.renamed": ("folder", "to"),
    "message.flagged": ("folder", "uid", "added", "removed", "via"),
    "message.moved": ("folder", "uid", "to", "new_uid"),
    "message.copied": ("folder", "uid", "to", "new_uid"),
    "message.appended": ("folder", "uid", "size", "flags"),
    "fault.switched": ("workshop", "fault", "on"),
}

# The protocols on which each kind of event can happen (None: any).
EVENT_PROTOCOLS: dict[str, frozenset[str] | None] = {
    "message.delivered": frozenset({"smtp"}),
    "message.rejected": frozenset({"smtp"}),
    "relay.denied": frozenset({"smtp"}),
    "quota.exceeded": frozenset({"smtp", "imap"}),
    "message.retrieved": frozenset({"imap", "pop3"}),
    "message.deleted": frozenset({"imap", "pop3"}),
    **{k: frozenset({"imap"}) for k in (
        "mailbox.selected", "mailbox.created", "mailbox.deleted", "mailbox.renamed",
        "message.flagged", "message.moved", "message.copied", "message.appended",
    )},
}

# Which matcher fields make sense for each kind of matcher.
COMMON_FIELDS = ("event", "trace", "mailbox", "storage", "device", "devices", "times", "after")
KIND_FIELDS = {
    "event": ("protocol", "port", "listener", "tls", "account", "data"),
    "trace": ("protocol", "port", "ok", "error", "warning", "security", "host", "to",
              "inbox_at_least", "inbox_at_most", "deleted_at_least", "deleted_at_most",
              "downloaded_at_least", "downloaded_at_most", "duplicates_at_least",
              "duplicates_at_most", "subject"),
    "mailbox": ("account", "at_least", "at_most", "subject"),
    "storage": ("at_least", "at_most", "subject"),
}
# The warnings a trace can carry.
TRACE_WARNINGS = ("certificate_risk_accepted", "certificate_not_checked", "cleartext_fallback")


@dataclass(frozen=True)
class EventFact:
    """An event the lab recorded on a connection the attempt knows."""

    event: Event
    device: str | None  # the device's id, "lab" for the lab's own deliveries
    event_id: int = 0

    @property
    def at(self) -> float:
        """When it happened."""
        return self.event.at


@dataclass(frozen=True)
class TraceFact:
    """What one operation of a device's client did."""

    trace: Trace
    device: str
    at: float = field(default_factory=time.time)
    duplicates: int = 0  # messages this fetch downloaded that the device had downloaded before


Fact = EventFact | TraceFact


def listener_protocol(listener: str | None) -> str | None:
    """"imap", "pop3" or "smtp" for a listener's name."""
    spec = LISTENERS_BY_NAME.get(listener or "")
    return spec.protocol if spec else None


def listener_port(listener: str | None) -> int | None:
    """The canonical port of a listener."""
    spec = LISTENERS_BY_NAME.get(listener or "")
    return spec.port_canonical if spec else None


def inbox_count(trace: Trace) -> int | None:
    """How many messages the server showed during a fetch or a list (None if it did not)."""
    if "messages" in trace.result:
        return len(trace.result["messages"])
    if "on_server" in trace.result:
        return int(trace.result["on_server"])
    return None


def deleted_count(trace: Trace) -> int:
    """How many messages the operation deleted from the server."""
    if "deleted_on_server" in trace.result:
        return len(trace.result["deleted_on_server"])
    return 1 if "deleted" in trace.result else 0


def downloaded_uids(trace: Trace) -> list[str]:
    """The server UIDs (UIDL) of the messages a POP3 fetch downloaded."""
    return [str(uid) for uid in trace.result.get("downloaded", [])]


def trace_recipients(trace: Trace) -> list[str]:
    """The recipients of a send."""
    step = trace.step_named("send")
    return [r.lower() for r in (step.details.get("recipients", []) if step else [])]


def trace_subjects(trace: Trace) -> list[str]:
    """The subjects of the messages an operation showed (read: the one it opened)."""
    if "raw" in trace.result:
        head = bytes(trace.result["raw"]).split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        parsed = email.message_from_bytes(head, policy=email.policy.default)
        return [str(parsed.get("Subject", ""))]
    return [str(getattr(m, "subject", "")) for m in trace.result.get("messages", [])]


def _device_ok(matcher: Matcher, device: str | None) -> bool:
    if matcher.device is not None:
        return device == matcher.device
    if matcher.devices:
        return device in matcher.devices
    # What the learner's devices do; the lab's own deliveries and the stranger's connections
    # count only when asked for.
    return device not in (LAB_DEVICE, INTRUDER_DEVICE)


def _data_ok(expected: Any, actual: Any) -> bool:
    """Partial equality: tables compare key by key; a scalar matches a list containing it."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            _data_ok(v, actual.get(k)) for k, v in expected.items()
        )
    if isinstance(actual, list) and not isinstance(expected, list):
        return any(_data_ok(expected, a) for a in actual)
    if isinstance(expected, str) and isinstance(actual, str):
        return expected.lower() == actual.lower()
    return bool(expected == actual)


def _filled(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return fill(value, values)
    if isinstance(value, Mapping):
        return {k: _filled(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_filled(v, values) for v in value]
    return value


def matches_event(matcher: Matcher, fact: EventFact, values: dict[str, str]) -> bool:
    """Whether an event fact is what an event matcher asks for."""
    event = fact.event
    if matcher.event != event.kind or not _device_ok(matcher, fact.device):
        return False
    if matcher.listener is not None and event.listener != matcher.listener:
        return False
    if matcher.protocol is not None and listener_protocol(event.listener) != matcher.protocol:
        return False
    if matcher.port is not None and listener_port(event.listener) != matcher.port:
        return False
    if matcher.tls is not None and bool(event.tls) != matcher.tls:
        return False
    if matcher.account is not None and (event.account or "").lower() != fill(
        matcher.account, values
    ).lower():
        return False
    return _data_ok(_filled(matcher.data, values), event.data)


def matches_trace(
    matcher: Matcher, fact: TraceFact, values: dict[str, str], lang: str = "fr"
) -> bool:
    """Whether a trace fact is what a trace matcher asks for."""
    trace = fact.trace
    if matcher.trace not in ("any", trace.operation) or not _device_ok(matcher, fact.device):
        return False
    checks: list[tuple[Any, Any]] = [
        (matcher.protocol, trace.protocol),
        (matcher.port, trace.port),
        (matcher.security, trace.security),
        (matcher.ok, trace.ok),
    ]
    if any(want is not None and want != got for want, got in checks):
        return False
    if matcher.error is not None:
        keys = (matcher.error,) if isinstance(matcher.error, str) else matcher.error
        if trace.error is None or trace.error.key not in keys:
            return False
    if matcher.warning is not None and matcher.warning not in trace.warnings:
        return False
    if matcher.host is not None and trace.host.lower() != fill(matcher.host, values).lower():
        return False
    if matcher.to is not None and fill(matcher.to, values).lower() not in trace_recipients(trace):
        return False
    inbox = inbox_count(trace)
    if matcher.inbox_at_least is not None and (inbox is None or inbox < matcher.inbox_at_least):
        return False
    if matcher.inbox_at_most is not None and (inbox is None or inbox > matcher.inbox_at_most):
        return False
    if matcher.subject is not None:
        wanted = fill(local(matcher.subject, lang), values).lower()
        if not any(wanted in subject.lower() for subject in trace_subjects(trace)):
            return False
    counted = (
        (deleted_count(trace), matcher.deleted_at_least, matcher.deleted_at_most),
        (len(downloaded_uids(trace)), matcher.downloaded_at_least, matcher.downloaded_at_most),
        (fact.duplicates, matcher.duplicates_at_least, matcher.duplicates_at_most),
    )
    return all((least is None or count >= least) and (most is None or count <= most)
               for count, least, most in counted)


def matches(matcher: Matcher, fact: Fact, values: dict[str, str], lang: str = "fr") -> bool:
    """Whether a fact is what a matcher asks for (mailbox matchers never match facts).

    `lang` is the attempt's: the messages were written in it, so subjects are compared in it.
    """
    if isinstance(fact, EventFact):
        return matcher.kind == "event" and matches_event(matcher, fact, values)
    return matcher.kind == "trace" and matches_trace(matcher, fact, values, lang)


def matches_storage(matcher: Matcher, folders: Mapping[str, list[str]], values: dict[str, str],
                    lang: str = "fr") -> bool:
    """Whether a device's storage (local folder -> subjects) is what a storage matcher asks."""
    subjects = folders.get(matcher.storage or "INBOX", [])
    if matcher.subject is not None:
        wanted = fill(local(matcher.subject, lang), values).lower()
        subjects = [s for s in subjects if wanted in s.lower()]
        if not subjects:
            return False
    count = len(subjects)
    return ((matcher.at_least is None or count >= matcher.at_least)
            and (matcher.at_most is None or count <= matcher.at_most))


def describe(fact: Fact) -> dict[str, Any]:
    """What proved an objective or a mistake, JSON-friendly, for the player and the trainer."""
    if isinstance(fact, EventFact):
        event = fact.event
        return {
            "source": "event",
            "event": event.kind,
            "device": fact.device,
            "at": event.at,
            "connection_id": event.connection_id,
            "listener": event.listener,
            "tls": event.tls,
            "account": event.account,
            "data": event.data,
        }
    trace = fact.trace
    return {
        "source": "trace",
        "operation": trace.operation,
        "device": fact.device,
        "at": fact.at,
        "protocol": trace.protocol,
        "host": trace.host,
        "port": trace.port,
        "security": trace.security,
        "ok": trace.ok,
        "error": trace.error.key if trace.error else None,
        "step": trace.error.step if trace.error else None,
        "warnings": list(trace.warnings),
        "connection_ids": list(trace.connection_ids),
    }
