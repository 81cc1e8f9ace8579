"""A scenario's lab as the learner meets it: the World, the names and ports, the messages."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
import email.utils
from collections.abc import Collection
from email import message_from_string
from email.message import EmailMessage
from enum import StrEnum

from pixlab.client.network import HOST_PORTS, NameTable, PortState
from pixlab.lab.certs import CertificateKind
from pixlab.lab.config import LISTENERS, ListenerSpec
from pixlab.lab.world import World
from pixlab.scenarios.schema import LabSpec, MessageSpec, fill, local

CERTIFICATE_HOST_PREFIXES = tuple(HOST_PORTS)  # the names the lab's valid certificate carries


def world_of(lab: LabSpec) -> World:
    """The lab's behaviour for this scenario's learners."""
    return World(
        domains=tuple(d.lower() for d in lab.domains),
        allow_cleartext=lab.allow_cleartext,
        starttls=lab.starttls,
        certificates=tuple(sorted(
            (h.name.lower(), CertificateKind(h.certificate))
            for h in lab.hosts if h.certificate != "valid"
        )),
        lockout_after=lab.lockout_after,
    )


class Fault(StrEnum):
    """A fault a trainer can throw at a class: a change to the learners' world, or account."""

    IMAP_DOWN = "imap-down"
    POP3_DOWN = "pop3-down"
    SMTP_DOWN = "smtp-down"
    PORT_587_FILTERED = "587-filtered"
    SLOW_NETWORK = "slow-network"
    CERTIFICATE_EXPIRED = "certificate-expired"
    CERTIFICATE_WRONG_NAME = "certificate-wrong-name"
    MAILBOX_FULL = "mailbox-full"
    PASSWORD_CHANGED = "password-changed"


# The faults on the account itself (the mail store): real mail programs meet them too.
ACCOUNT_FAULTS = frozenset({Fault.MAILBOX_FULL, Fault.PASSWORD_CHANGED})
SLOW_NETWORK_SECONDS = 2.0
_DOWN_PORTS = {Fault.IMAP_DOWN: (143, 993), Fault.POP3_DOWN: (110, 995),
               Fault.SMTP_DOWN: (25, 465, 587)}
_CERTIFICATES = {Fault.CERTIFICATE_EXPIRED: CertificateKind.EXPIRED,
                 Fault.CERTIFICATE_WRONG_NAME: CertificateKind.OTHER_NAME}


def with_faults(world: World, names: NameTable, faults: Collection[str]) -> tuple[World, NameTable]:
    """The world and the names a learner's devices meet while some faults are on.

    A server down refuses connections on its ports, port 587 filtered times out,
    a slow network waits before each connection, and a certificate fault gives
    every name of the scenario that certificate. The other faults are on the
    account (see ACCOUNT_FAULTS) and change nothing here.
    """
    active = {Fault(f) for f in faults if f in Fault.__members__.values()}
    if not active - ACCOUNT_FAULTS:
        return world, names
    hosts = {host: dict(ports) for host, ports in names.hosts.items()}
    for fault, ports in _DOWN_PORTS.items():
        if fault in active:
            for states in hosts.values():
                states.update({p: PortState.CLOSED for p in ports if p in states})
    if Fault.PORT_587_FILTERED in active:
        for states in hosts.values():
            if 587 in states and states[587] is PortState.OPEN:
                states[587] = PortState.FILTERED
    certificates = dict(world.certificates)
    for fault, kind in _CERTIFICATES.items():
        if fault in active:
            certificates.update({host: kind for host in hosts})
    latency = SLOW_NETWORK_SECONDS if Fault.SLOW_NETWORK in active else world.latency
    changed = dataclasses.replace(world, certificates=tuple(sorted(certificates.items())),
                                  latency=latency)
    return changed, NameTable(hosts)


def default_ports(host: str) -> dict[int, PortState]:
    """The ports a name answers by its first label (imap. answers 143 and 993), all open."""
    prefix = host.partition(".")[0].lower()
    return {p: PortState.OPEN for p in HOST_PORTS.get(prefix, ())}


def names_of(lab: LabSpec) -> NameTable:
    """The host names the learner's devices can reach, and what each port does."""
    table = NameTable.for_domains(lab.domains) if lab.standard_hosts else NameTable()
    for host in lab.hosts:
        name = host.name.lower()
        ports = table.hosts.setdefault(name, default_ports(name))
        ports.update({int(p): PortState(s) for p, s in host.ports.items()})
    return table


def open_ports(lab: LabSpec) -> set[int]:
    """The canonical ports at least one host name answers."""
    return {
        port for ports in names_of(lab).hosts.values()
        for port, state in ports.items() if state is PortState.OPEN
    }


def reachable_listeners(lab: LabSpec) -> list[ListenerSpec]:
    """The lab's listeners a device of this scenario can reach."""
    ports = open_ports(lab)
    return [spec for spec in LISTENERS if spec.port_canonical in ports]


def build_message(
    spec: MessageSpec, values: dict[str, str], lang: str, default_date: dt.datetime
) -> bytes:
    """The RFC 5322 bytes of a seeded or arriving message."""
    if spec.raw is not None:
        text = fill(spec.raw, values)
        parsed = message_from_string(text, policy=email.policy.default)
        if "Date" not in parsed:
            parsed["Date"] = email.utils.format_datetime(default_date)
        return parsed.as_bytes(policy=email.policy.SMTP)
    message = EmailMessage()
    message["From"] = fill(spec.sender or "", values)
    message["To"] = fill(spec.to, values)
    message["Subject"] = fill(local(spec.subject, lang), values)
    when = spec.date or default_date
    if when.tzinfo is None:
        when = when.astimezone()
    message["Date"] = email.utils.format_datetime(when)
    domain = email.utils.parseaddr(message["From"])[1].rpartition("@")[2] or "pixlab.test"
    message["Message-ID"] = email.utils.make_msgid(domain=domain)
    message.set_content(fill(local(spec.body, lang), values))
    if spec.attachment_kb:
        message.add_attachment(
            _filler(spec.attachment_kb * 1024), maintype="application",
            subtype="octet-stream", filename="piece-jointe.bin",
        )
    return message.as_bytes(policy=email.policy.SMTP)


def _filler(size: int) -> bytes:
    # Bytes that do not compress to nothing, so the attachment really takes its size.
    seed = bytes(range(256))
    return (seed * (size // 256 + 1))[:size]
