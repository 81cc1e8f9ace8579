"""The laptop's address on the class network, found without sending anything.

`pixlab serve --lan` binds there. The address is the one of the interface
that carries the default route (read from the kernel's routing table); where
there is no such table, a UDP socket is "connected" towards a documentation
address (RFC 5737): connecting a UDP socket only asks the kernel which
source address it would use, and sends no packet.
"""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct
from collections.abc import Callable
from pathlib import Path

ROUTE_TABLE = Path("/proc/net/route")
RTF_UP = 0x1
SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address
PROBE_TARGET = "192.0.2.1"  # TEST-NET-1: never routed anywhere real


def default_route_interface(table: str) -> str | None:
    """The interface of the default route, from the text of /proc/net/route.

    Several default routes (Wi-Fi and cable): the one with the lowest metric wins,
    as the kernel chooses.
    """
    best: tuple[int, str] | None = None
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        iface, destination, flags, metric = fields[0], fields[1], fields[3], fields[6]
        try:
            up = int(flags, 16) & RTF_UP
            default = int(destination, 16) == 0 and int(fields[7], 16) == 0
            rank = int(metric)
        except ValueError:
            continue
        if up and default and (best is None or rank < best[0]):
            best = (rank, iface)
    return best[1] if best else None


def interface_address(iface: str) -> str | None:
    """An interface's IPv4 address, asked of the kernel (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            request = struct.pack("256s", iface.encode()[:15])
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
        except OSError:
            return None
    return socket.inet_ntoa(answer[20:24])


def probe_address(target: str = PROBE_TARGET) -> str | None:
    """The source address the kernel would use towards `target` (connect() sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((target, 9))
        except OSError:
            return None
        return str(sock.getsockname()[0])


def lan_address(
    table: Path | None = None,
    address_of: Callable[[str], str | None] | None = None,
    probe: Callable[[], str | None] | None = None,
) -> str | None:
    """The laptop's address on the local network; None when it has none (no network).

    The defaults (this module's ROUTE_TABLE, interface_address, probe_address)
    are looked up at each call, so a test can replace the source of the answer.
    """
    address_of = address_of or interface_address
    probe = probe or probe_address
    address = None
    try:
        iface = default_route_interface((table or ROUTE_TABLE).read_text())
    except OSError:
        iface = None
    if iface is not None:
        address = address_of(iface)
    if address is None:
        address = probe()
    if address is None or ipaddress.ip_address(address).is_unspecified:
        return None
    return address


def is_loopback(host: str) -> bool:
    """Whether pupils' devices cannot reach an address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
