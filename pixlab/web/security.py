"""What a school's audit checks on every page: security headers, and trainer pages kept local.

The headers are set by a short `after_request` rather than flask-talisman:
PixLab needs a fixed set of eight headers and nothing else, while Talisman
redirects every request to HTTPS by default (a classroom laptop serves plain
HTTP on its network unless the trainer asks for `--https`), sets its own
session-cookie flags and adds a dependency whose defaults would each need
turning off. Twenty lines here, each one tested, say exactly what is sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

import psutil
from flask import Flask, Response, current_app, render_template, request
from flask.typing import ResponseReturnValue

# Every page and fragment: only PixLab's own files, no inline script or style
# (templates carry none; htmx's indicator styles are in our stylesheet).
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
)
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"  # one year; only ever sent over HTTPS (RFC 6797 section 7.2)

# Pages where a trainer types a password or sees the whole class. The guard
# is keyed on the path, so every page added under these prefixes is covered.
TRAINER_PREFIXES = ("/formateur", "/scenarios/formateur")


def init_app(app: Flask) -> None:
    """Register the headers and the trainer pages' guard."""
    app.config.setdefault("FRAME_ANCESTORS", ["'self'"])
    app.config.setdefault("TRAINER_PREFIXES", TRAINER_PREFIXES)
    app.before_request(_trainer_pages_stay_local)
    app.after_request(_security_headers)


def content_security_policy(frame_ancestors: Iterable[str]) -> str:
    """The Content-Security-Policy header, with the origins allowed to embed PixLab."""
    return _CSP.format(ancestors=" ".join(frame_ancestors) or "'none'")


def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(
        current_app.config["FRAME_ANCESTORS"]
    )
    response.headers.update(_HEADERS)
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = HSTS
    return response


def is_trainer_path(path: str, prefixes: Iterable[str]) -> bool:
    """Whether a URL path is a trainer page: a prefix itself, or anything under it."""
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def own_addresses() -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses of this machine's network interfaces, read from the system (no traffic)."""
    found: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            try:
                found.add(ipaddress.ip_address(address.address.split("%")[0]))
            except ValueError:  # a hardware (MAC) address
                continue
    return found


def is_from_this_machine(remote: str | None) -> bool:
    """Whether a peer's address is this laptop itself: loopback, or one of its own addresses."""
    try:
        address = ipaddress.ip_address((remote or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address in own_addresses()


def _trainer_pages_stay_local() -> ResponseReturnValue | None:
    # A trainer's password typed on a page served in clear would cross the
    # class network readable by any pupil's spy: such pages answer only on the
    # laptop itself, or over HTTPS (`pixlab serve --https`).
    if not is_trainer_path(request.path, current_app.config["TRAINER_PREFIXES"]):
        return None
    if request.is_secure or is_from_this_machine(request.remote_addr):
        return None
    local_url = f"http://127.0.0.1:{request.environ.get('SERVER_PORT', '5000')}{request.path}"
    return render_template("errors/trainer_local.html", local_url=local_url), 403
