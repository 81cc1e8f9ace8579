"""The sandbox's learner and their devices, as the pages find them in the session.

A learner starts with a lab account, welcome messages and a first device, or
resumes with their code. Devices that another feature owns (a scenario's)
answer the hooks registered in `app.extensions` (their name, their page,
their own folders).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import abort, current_app, session
from flask_babel import lazy_gettext as _l

from pixlab.client.programs import DEFAULT_PROGRAM
from pixlab.sandbox.local import LocalMailbox
from pixlab.sandbox.store import (
    MAX_DEVICES,
    DeviceInfo,
    DeviceLimitReached,
    DeviceStore,
    LearnerInfo,
    new_lab_address,
    new_lab_password,
)
from pixlab.web.context import current_lab
from pixlab.web.labels import SECURITY_LABELS
from pixlab.web.welcome import welcome_messages

if TYPE_CHECKING:
    from pixlab.lab.runner import Lab

SESSION_KEY = "sandbox_learner"
DEVICE_LABELS = {"computer": _l("Ordinateur"), "phone": _l("Téléphone")}


def device_label(device: DeviceInfo) -> str:
    """"Ordinateur" or "Téléphone", or the name another feature gives its device."""
    named = _ask("pixlab.device_labels", device)
    return str(named) if named else str(DEVICE_LABELS.get(device.kind, device.kind))


def _ask(hook: str, device: DeviceInfo, *args: Any) -> Any:
    """The first answer of the resolvers another feature registered for its devices, or None.

    A feature whose devices live elsewhere (a scenario's) registers
    `resolver(device, *args)` in `app.extensions[hook]`; it answers None for others.
    """
    for resolver in current_app.extensions.get(hook, ()):
        found = resolver(device, *args)
        if found is not None:
            return found
    return None


def local_archives(device: DeviceInfo) -> tuple[str, ...]:
    """The device's own folders that "Archiver sur l'appareil" offers (none in the sandbox)."""
    found = _ask("pixlab.device_local_archives", device)
    return tuple(found) if found else ()


def storage_changed(device: DeviceInfo, local: LocalMailbox) -> None:
    """Tell the feature that follows the device (a scenario) that its own storage changed."""
    _ask("pixlab.device_storage_changed", device, local)


def device_page(device: DeviceInfo, page: str) -> str | None:
    """Where another feature shows one of its devices ("settings" or "home"), if it does.

    A feature registers `resolver(device, page) -> url | None` in
    `app.extensions["pixlab.device_pages"]`; the sandbox's own devices have none.
    """
    for resolver in current_app.extensions.get("pixlab.device_pages", ()):
        url = resolver(device, page)
        if url:
            return str(url)
    return None


def devices() -> DeviceStore:
    """The store of learners and devices, on the lab's database."""
    lab = current_lab()
    assert lab is not None
    return DeviceStore(lab.engine)


# -- the learner ------------------------------------------------------------------------


def current_learner() -> LearnerInfo | None:
    """The learner of this browser session, if they started or resumed one."""
    learner_id = session.get(SESSION_KEY)
    if current_lab() is None or not isinstance(learner_id, int):
        return None
    return devices().learner(learner_id)


def start_learner(lab: Lab) -> LearnerInfo:
    """A new learner: a lab account with welcome messages, and a first device (a computer)."""
    store = DeviceStore(lab.engine)
    domain = lab.world.primary_domain
    for _attempt in range(50):
        address = new_lab_address(domain)
        if lab.store.account(address) is None and not store.address_taken(address):
            break
    password = new_lab_password()
    # The learner row reserves the address (it is unique) before the lab account exists.
    learner = store.create_learner(address, password)
    account = lab.store.create_account(address, password)
    for raw, arrived in welcome_messages(address, domain):
        lab.store.append(account, "INBOX", raw, internal_date=arrived)
    store.add_device(learner.id, username=address)
    session[SESSION_KEY] = learner.id
    return learner


def resume_learner(code: str) -> LearnerInfo | None:
    """Continue with a resume code; None when no learner has it."""
    learner = devices().learner_by_code(code)
    if learner is not None:
        session[SESSION_KEY] = learner.id
    return learner


def forget_learner() -> None:
    """Leave the sandbox on this browser (the learner can come back with the code)."""
    session.pop(SESSION_KEY, None)


def owned_device(learner: LearnerInfo | None, device_id: int) -> DeviceInfo | None:
    """One of this learner's devices; None for anybody else's (the views answer 404)."""
    return devices().device(learner.id, device_id) if learner else None


def require_device(device_id: int) -> tuple[Lab, LearnerInfo, DeviceInfo]:
    """The lab, the learner and their device, or 404: nobody sees another learner's device."""
    lab, learner = current_lab(), current_learner()
    device = owned_device(learner, device_id)
    if lab is None or learner is None or device is None:
        abort(404)
    return lab, learner, device


@dataclass(frozen=True)
class SheetLine:
    """One line of the connection sheet: a server, its port and its security."""

    protocol: str
    host: str
    port: int
    security: str
    security_value: str = ""  # the vocabulary's value ("tls" …), for each program's words


@dataclass(frozen=True)
class ConnectionSheet:
    """The "fiche de connexion" an IT service hands out."""

    address: str
    username: str
    password: str
    incoming: list[SheetLine]
    outgoing: list[SheetLine]
    # The programs, other than Thunderbird, of the devices it is for: the sheet says how to
    # fill each one's form.
    programs: tuple[str, ...] = ()


_SHEET_HOSTS = {"imap": "imap", "imaps": "imap", "pop3": "pop", "pop3s": "pop",
                "submission": "smtp", "smtps": "smtp"}


def connection_sheet(lab: Lab, learner: LearnerInfo) -> ConnectionSheet:
    """The organisation's servers as the lab really runs them, with the learner's account."""
    domain = lab.world.primary_domain
    lines = [
        SheetLine(
            info.spec.protocol.upper(),
            f"{_SHEET_HOSTS[info.name]}.{domain}",
            info.spec.port_canonical,
            str(SECURITY_LABELS[info.security]),
            str(info.security),
        )
        for info in lab.listeners
        if info.name in _SHEET_HOSTS
    ]
    order = {"IMAP": 0, "POP3": 1, "SMTP": 2}
    lines.sort(key=lambda line: (order.get(line.protocol, 3), line.port))
    return ConnectionSheet(
        learner.address,
        learner.address,
        learner.password,
        [line for line in lines if line.protocol != "SMTP"],
        [line for line in lines if line.protocol == "SMTP"],
        other_programs(d.program for d in DeviceStore(lab.engine).devices(learner.id)),
    )


def other_programs(programs: Iterable[str]) -> tuple[str, ...]:
    """The programs other than Thunderbird, each once, in order."""
    return tuple(dict.fromkeys(p for p in programs if p and p != DEFAULT_PROGRAM))


def add_device(learner: LearnerInfo, program: str = "") -> DeviceInfo | None:
    """Add the second device (a phone, with its program); None when the learner has two."""
    try:
        return devices().add_device(learner.id, username=learner.address, program=program)
    except DeviceLimitReached:
        return None


def can_add_device(device_list: list[DeviceInfo]) -> bool:
    """Whether the learner may add another device."""
    return len(device_list) < MAX_DEVICES
