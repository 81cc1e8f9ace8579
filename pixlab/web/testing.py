"""Running a device's test ("Tester") on the organisation's network, and the stored records.

Every operation is kept as a record of plain data (`traces.snapshot`) and
counted against the per-learner limit of tests, sendings and downloads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app

from pixlab.client.client import DEFAULT_TIMEOUT, MailClient
from pixlab.client.network import LabNetwork, NameTable, PortState
from pixlab.client.programs import program_of
from pixlab.client.settings import Security
from pixlab.sandbox.store import (
    DeviceInfo,
    LearnerInfo,
)
from pixlab.web.context import current_lab
from pixlab.web.labels import lang
from pixlab.web.traces import (
    ServerFolder,
    TraceView,
    mailbox_on_server,
    present,
    snapshot,
)

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab
from pixlab.web.learners import devices

LIMITED_KINDS = ("test", "send", "fetch")


# -- tests ---------------------------------------------------------------------------------


def sandbox_network(lab: Lab) -> LabNetwork:
    """The organisation's network: its names, and port 25 filtered as many networks do."""
    filtered = current_app.config.get("SANDBOX_FILTERED_PORTS", (25,))
    overrides = {
        f"{prefix}.{domain}": {port: PortState.FILTERED for port in filtered}
        for domain in lab.config.domains
        for prefix in ("mail", "smtp")
    }
    return LabNetwork(lab, NameTable.for_domains(lab.config.domains, overrides))


def client_for(lab: Lab, learner: LearnerInfo, device: DeviceInfo) -> MailClient:
    """The device's mail program, on the organisation's network.

    A feature that gives devices another world (a scenario's names, ports and
    accounts) registers a factory in `app.extensions["pixlab.client_factories"]`;
    the first one that answers for a device makes its client.
    """
    for factory in current_app.extensions.get("pixlab.client_factories", ()):
        client = factory(lab, learner, device)
        if client is not None:
            return client
    timeout = float(current_app.config.get("SANDBOX_CLIENT_TIMEOUT", DEFAULT_TIMEOUT))
    return MailClient(lab, device.account_settings(learner.address), sandbox_network(lab),
                      timeout)


def seconds_to_wait(learner: LearnerInfo) -> int:
    """0 when the learner may run another test or send now; else how long to wait."""
    limit = int(current_app.config.get("SANDBOX_TESTS_PER_MINUTE", 20))
    now = time.time()
    recent = devices().operations_since(learner.id, LIMITED_KINDS, now - 60)
    if len(recent) < limit:
        return 0
    return max(1, int(recent[-limit] + 60 - now) + 1)


def needs_cleartext_confirmation(device: DeviceInfo, sides: tuple[str, ...]) -> list[str]:
    """The sides without encryption that the learner has not accepted yet.

    Only a program that warns first asks (Thunderbird); the others just connect.
    """
    if device.accepted_cleartext or not program_of(device.program).warns_before_cleartext:
        return []
    return [side for side in sides if getattr(device, side).security == Security.NONE.value]


def run_test(lab: Lab, learner: LearnerInfo, device: DeviceInfo, sides: tuple[str, ...]) -> int:
    """Test the servers (as "Retester" does), keep the traces; returns the record's id."""
    client = client_for(lab, learner, device)
    traces = []
    for side in sides:
        trace = client.test_incoming() if side == "incoming" else client.test_outgoing()
        server = getattr(client.settings, side)
        traces.append(snapshot(trace, lab, client.settings, server, client.timeout))
    ok = all(t["error"] is None for t in traces)
    return devices().record_trace(learner.id, device.id, "test", ok, {"traces": traces})


@dataclass
class TraceRecordView:
    """A stored operation, ready to show."""

    id: int
    kind: str
    ok: bool
    device: DeviceInfo
    created_at: float
    traces: list[TraceView]
    details: dict[str, Any]
    server: list[ServerFolder]


def trace_record(learner: LearnerInfo | None, trace_id: int) -> TraceRecordView | None:
    """One of the learner's stored operations; None for anybody else's."""
    if learner is None:
        return None
    store = devices()
    record = store.trace(learner.id, trace_id)
    if record is None:
        return None
    device = store.device(learner.id, record.device_id)
    assert device is not None
    views = [present(t, lang(), device.program) for t in record.data.get("traces", [])]
    lab = current_lab()
    # The account the operation used: a scenario's devices have an address of their own.
    address = next((t.get("address") for t in record.data.get("traces", [])
                    if t.get("address")), learner.address)
    server = mailbox_on_server(lab, address) if lab else []
    return TraceRecordView(record.id, record.kind, record.ok, device, record.created_at, views,
                           record.data, server)


def latest_tests(learner: LearnerInfo) -> dict[int, tuple[int, bool]]:
    """Each device's latest test: (record id, ok)."""
    return devices().latest_traces(learner.id, "test")
