"""Channels: every way a device of a scenario can talk to its lab, for `pixlab scenarios check`.

A channel is one listener reached with one security; a matcher that no
channel of any device can produce is an objective nobody can meet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pixlab.client.network import PortState
from pixlab.client.settings import INCOMING_PROTOCOLS, SECURITIES, SIDES, Protocol, Security
from pixlab.lab.config import LISTENERS, LISTENERS_BY_NAME, ListenerSpec
from pixlab.scenarios.matchers import EVENT_PROTOCOLS
from pixlab.scenarios.schema import INTRUDER_DEVICE, LAB_DEVICE, DeviceSpec, Matcher, Scenario
from pixlab.scenarios.settings import expand_editable as editable_of
from pixlab.scenarios.world import names_of

CANONICAL_PORTS = tuple(spec.port_canonical for spec in LISTENERS)


@dataclass(frozen=True)
class Channel:
    """One way of reaching a listener: from a device, with TLS or not, logged in or not."""

    device: str
    listener: ListenerSpec
    tls: bool
    logged_in: bool


class Channels:
    """Every channel this scenario allows, worked out from its lab and its devices."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.names = names_of(scenario.lab)
        self.world_starttls = scenario.lab.starttls
        self.cleartext = scenario.lab.allow_cleartext
        self.all: set[Channel] = set()
        for device in scenario.devices:
            self.all |= self._of_device(device)
        if any(a.via == "smtp" for a in scenario.lab.arrivals):
            self.all.add(Channel(LAB_DEVICE, LISTENERS_BY_NAME["smtp"], False, False))
        if scenario.lab.intruder:  # the stranger logs in over IMAPS (see scenarios.intruder)
            imaps = LISTENERS_BY_NAME["imaps"]
            self.all |= {Channel(INTRUDER_DEVICE, imaps, True, False),
                         Channel(INTRUDER_DEVICE, imaps, True, True)}

    def _open_on(self, hosts: list[str] | None, port: int) -> bool:
        candidates = self.names.hosts if hosts is None else hosts
        for host in candidates:
            ports = self.names.lookup(host) or {}
            if ports.get(port) is PortState.OPEN:
                return True
        return False

    def typable(self, device: DeviceSpec) -> list[tuple[str, str, Any, tuple[Any, ...], Any]]:
        """What a device's settings can be, side by side: (side, protocol, hosts, ports, security).

        `hosts` is None when the learner may type any name. A setting the learner
        may change can take any value; a fixed one only its own (none, if blank).
        """
        editable = editable_of(device.editable)
        result: list[tuple[str, str, Any, tuple[Any, ...], Any]] = []
        for side in SIDES:
            spec = getattr(device, side)

            def options(key: str, everything: tuple[Any, ...], spec: Any = spec,
                        side: str = side) -> tuple[Any, ...]:
                if f"{side}.{key}" in editable:
                    return everything
                value = getattr(spec, key)
                return () if value in (None, "") else (value,)

            protocols = (Protocol.SMTP.value,) if side == "outgoing" else options(
                "protocol", INCOMING_PROTOCOLS)
            hosts = None if f"{side}.host" in editable else [spec.host] if spec.host else []
            ports = options("port", CANONICAL_PORTS)
            for protocol in protocols:
                for security in options("security", SECURITIES):
                    result.append((side, protocol, hosts, ports, security))
        return result

    def _of_device(self, device: DeviceSpec) -> set[Channel]:
        channels: set[Channel] = set()
        for _side, protocol, hosts, ports, security in self.typable(device):
            for listener in LISTENERS:
                if listener.protocol != protocol or listener.port_canonical not in ports:
                    continue
                if not self._open_on(hosts, listener.port_canonical):
                    continue
                channels.add(Channel(device.id, listener, False, False))
                channels |= self._secured(device.id, listener, security)
        return channels

    def _secured(self, device: str, listener: ListenerSpec, security: str) -> set[Channel]:
        can_log_in = listener.name != "smtp"  # port 25 takes mail, never a login
        chosen = Security(security)
        if listener.implicit_tls:
            tls = chosen.implicit_tls
        elif chosen.starttls:
            tls = self.world_starttls
        else:
            tls = False
        if not tls and (chosen.implicit_tls or listener.implicit_tls):
            return set()  # the handshake fails: only the connection itself happens
        in_clear = chosen is Security.NONE or (chosen.falls_back_to_cleartext and not tls)
        logged_in = can_log_in and (tls or (in_clear and self.cleartext))
        channels = {Channel(device, listener, tls, False)}
        if logged_in:
            channels.add(Channel(device, listener, tls, True))
        return channels

    def for_device(self, device: str | None) -> set[Channel]:
        """The channels of one device (None: of any of the learner's, not the lab's own)."""
        if device is None:
            return {c for c in self.all if c.device not in (LAB_DEVICE, INTRUDER_DEVICE)}
        return {c for c in self.all if c.device == device}


def event_channels(matcher: Matcher, channels: set[Channel]) -> set[Channel]:
    kind = matcher.event or ""
    protocols = EVENT_PROTOCOLS.get(kind)
    # Reading or changing a mailbox needs a login; SMTP takes mail on port 25 without one.
    needs_login = kind == "auth.succeeded" or (protocols is not None and "smtp" not in protocols)
    result = set()
    for c in channels:
        spec = c.listener
        if protocols is not None and spec.protocol not in protocols:
            continue
        if needs_login and not c.logged_in:
            continue
        if kind == "tls.established" and not c.tls:
            continue
        if matcher.listener is not None and spec.name != matcher.listener:
            continue
        if matcher.protocol is not None and spec.protocol != matcher.protocol:
            continue
        if matcher.port is not None and spec.port_canonical != matcher.port:
            continue
        if matcher.tls is not None and c.tls != matcher.tls:
            continue
        result.add(c)
    return result


def trace_channels(matcher: Matcher, channels: set[Channel]) -> set[Channel]:
    operation = matcher.trace or "any"
    result = set()
    for c in channels:
        spec = c.listener
        if operation == "send" and spec.protocol != "smtp":
            continue
        if operation in ("fetch", "list", "read", "move", "delete") and spec.protocol == "smtp":
            continue
        if operation in ("list", "read", "move", "delete") and spec.protocol != "imap":
            continue
        if matcher.protocol is not None and spec.protocol != matcher.protocol:
            continue
        if matcher.port is not None and spec.port_canonical != matcher.port:
            continue
        if matcher.ok:
            if not c.logged_in and spec.name != "smtp":
                continue
            if matcher.security is not None and security_of(c) != matcher.security:
                continue
        result.add(c)
    return result


def can_type(
    scenario: Scenario, channels: Channels, matcher: Matcher, device: str | None
) -> bool:
    """Whether some device can be set as a trace matcher asks (it may then fail anywhere)."""
    operation = matcher.trace or "any"
    for spec in scenario.devices:
        if device is not None and spec.id != device:
            continue
        for side, protocol, _hosts, ports, security in channels.typable(spec):
            if operation == "send" and side != "outgoing":
                continue
            if operation in ("fetch", "list", "read", "move", "delete") and side != "incoming":
                continue
            if operation in ("list", "read", "move", "delete") and protocol != "imap":
                continue
            if matcher.protocol is not None and protocol != matcher.protocol:
                continue
            if matcher.port is not None and matcher.port not in ports:
                continue
            if matcher.security is not None and security != matcher.security:
                continue
            return True
    return False


def security_of(channel: Channel) -> str:
    if channel.listener.implicit_tls:
        return "tls"
    return "starttls" if channel.tls else "none"
