"""The sandbox's learners and their devices: settings, traces and limits.

A learner is anonymous: a resume code to continue elsewhere and a lab account,
nothing else. Each device keeps its own mail program settings and its own
local storage (what POP3 downloaded, local folders, sent copies), all in the
database, so that a reload or a restart loses nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from pixlab.client.programs import (
    DEFAULT_PROGRAM,
    may_run_on,
    program_of,
    with_program,
)
from pixlab.client.settings import (
    SETTING_KINDS,
    AccountSettings,
    Protocol,
    Side,
    account_settings,
    missing,
    side_fields,
)
from pixlab.db import Device, Learner, TraceRecord
from pixlab.sandbox.local import LocalMailbox

# Letters and digits that cannot be mistaken for one another when read aloud or
# copied from a board: no 0/O, no 1/I/L.
RESUME_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
RESUME_LENGTH = 8
MAX_DEVICES = 2
DEVICE_KINDS = ("computer", "phone")  # the first device is a computer, the second a phone

# Generated lab accounts: a friendly animal and four digits, a school word and six characters.
_ANIMALS = (
    "renard", "hibou", "loutre", "castor", "herisson", "mouette", "panda", "koala",
    "dauphin", "faucon", "lapin", "tortue", "manchot", "marmotte", "blaireau", "lynx",
    "chouette", "ecureuil", "pingouin", "suricate",
)
_WORDS = (
    "Cartable", "Trousse", "Compas", "Cahier", "Classeur", "Agenda", "Crayon", "Gomme",
    "Equerre", "Feutre", "Pinceau", "Stylo", "Tableau", "Boussole", "Globe", "Atlas",
)
_PASSWORD_TAIL = "abcdefghjkmnpqrstuvwxyz23456789"


class DeviceLimitReached(Exception):
    """The learner already has as many devices as the sandbox allows."""


@dataclass(frozen=True)
class LearnerInfo:
    """A learner as the pages need it."""

    id: int
    resume_code: str
    address: str
    password: str
    created_at: float

    @property
    def display_code(self) -> str:
        """The resume code in two groups, easier to read and type: "K7QM-4XPA"."""
        return format_code(self.resume_code)


@dataclass(frozen=True)
class ServerFields:
    """One server's settings exactly as the learner typed them (maybe incomplete)."""

    side: Side
    protocol: str
    host: str
    port: int | None
    security: str
    auth: str
    username: str

    def settings(self) -> dict[str, Any]:
        """This server's flat settings ("incoming.host" …), in the client's vocabulary."""
        return {f"{self.side}.{name}": getattr(self, name) for name in side_fields(self.side)}

    def missing(self) -> list[str]:
        """The fields a test needs and that are empty ("host", "port" …)."""
        return [key.partition(".")[2] for key in missing(self.settings(), self.side)]


@dataclass(frozen=True)
class DeviceInfo:
    """A device and its mail program's settings."""

    id: int
    learner_id: int
    position: int
    kind: str
    incoming: ServerFields
    outgoing: ServerFields
    password: str = field(repr=False)
    leave_on_server: str
    leave_days: int
    accepted_cleartext: bool
    accepted_risks: frozenset[str]
    updated_at: float
    program: str = DEFAULT_PROGRAM  # the mail program it imitates (pixlab.client.programs)

    @property
    def configured(self) -> bool:
        """Whether the incoming server has everything a test needs."""
        return not self.incoming.missing()

    def settings(self) -> dict[str, Any]:
        """The device's flat settings ("incoming.host", "password" …), as a scenario keeps them."""
        return {
            **self.incoming.settings(), **self.outgoing.settings(),
            "password": self.password, "leave_on_server": self.leave_on_server,
            "leave_days": self.leave_days, "accepted_cleartext": self.accepted_cleartext,
            "accepted_risks": sorted(self.accepted_risks),
        }

    def account_settings(self, address: str) -> AccountSettings:
        """What the simulated client gets; the learner's typos are kept as they are.

        A device with only its incoming server filled in still fetches mail, so
        the other side may be incomplete: its blanks become values that
        `missing()` reports before any operation would use them.
        """
        settings = account_settings(self.settings(), address, incomplete="as-typed")
        return with_program(settings, program_of(self.program))


@dataclass(frozen=True)
class TraceRecordInfo:
    """A stored operation of a device."""

    id: int
    learner_id: int
    device_id: int
    kind: str
    created_at: float
    ok: bool
    data: dict[str, Any]


def format_code(code: str) -> str:
    """A resume code as shown: two groups of four."""
    return f"{code[:4]}-{code[4:]}"


def normalise_code(text: str) -> str:
    """What a learner typed, as stored: capitals, without spaces or dashes."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def new_resume_code() -> str:
    """A fresh random resume code."""
    return "".join(secrets.choice(RESUME_ALPHABET) for _ in range(RESUME_LENGTH))


def new_lab_address(domain: str) -> str:
    """A friendly address on the lab's domain, such as renard-4821@lycee-exemple.test."""
    return f"{secrets.choice(_ANIMALS)}-{secrets.randbelow(9000) + 1000}@{domain}"


def new_lab_password() -> str:
    """A password easy to copy from a sheet and hard to guess: "Trousse-k7qm4x"."""
    tail = "".join(secrets.choice(_PASSWORD_TAIL) for _ in range(6))
    return f"{secrets.choice(_WORDS)}-{tail}"


def _server(row: Any, side: Side) -> ServerFields:
    return ServerFields(
        side,
        Protocol.SMTP.value if side == "outgoing" else row.incoming_protocol,
        getattr(row, f"{side}_host"),
        getattr(row, f"{side}_port"),
        getattr(row, f"{side}_security"),
        getattr(row, f"{side}_auth"),
        getattr(row, f"{side}_username"),
    )


def _device(row: Any) -> DeviceInfo:
    return DeviceInfo(
        row.id,
        row.learner_id,
        row.position,
        row.kind,
        _server(row, "incoming"),
        _server(row, "outgoing"),
        row.password,
        row.leave_on_server,
        row.leave_days,
        bool(row.accepted_cleartext),
        frozenset(h for h in row.accepted_risks.splitlines() if h),
        row.updated_at,
        row.program or DEFAULT_PROGRAM,
    )


def _learner(row: Any) -> LearnerInfo:
    return LearnerInfo(row.id, row.resume_code, row.address, row.password, row.created_at)


def column(key: str) -> str:
    """The device row's column (and the settings form's field) of a flat setting key."""
    return key.replace(".", "_")


# The columns a settings form may change, and nothing else (accepted risks have their own way).
SETTINGS_COLUMNS = frozenset(column(key) for key in SETTING_KINDS if key != "accepted_risks")
# What a blank setting of another part's device (a scenario's) is stored as.
_BLANK_COLUMNS: dict[str, Any] = {"incoming_protocol": "", "incoming_auth": "normal",
                                  "outgoing_auth": "normal", "leave_on_server": "no",
                                  "leave_days": 14, "accepted_cleartext": False,
                                  "incoming_port": None, "outgoing_port": None}


def columns_of(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Flat settings ("incoming.host" …) as a device row stores them, blanks as row defaults."""
    values: dict[str, Any] = {}
    for key in SETTING_KINDS:
        if key == "accepted_risks":
            values[column(key)] = "\n".join(settings.get(key) or ())
            continue
        value = settings.get(key)
        values[column(key)] = _BLANK_COLUMNS.get(column(key), "") if value is None else value
    return values


# How long a kept device's `updated_at` may lag behind the pages that keep it. The
# retention purge counts days of inactivity from it, so an hour changes nothing there,
# and a page that changes nothing writes nothing (one writer at a time in SQLite).
ACTIVITY_RESOLUTION = 3600.0


def _unchanged(row: Any, values: Mapping[str, Any], now: float) -> bool:
    """Whether a device row already holds these values, and its activity is recent enough."""
    if now - (row.updated_at or 0.0) >= ACTIVITY_RESOLUTION:
        return False
    return all(getattr(row, name) == value for name, value in values.items()
               if name != "updated_at")


class DeviceStore:
    """Learners, devices, local storage and traces in the PixLab database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- learners -----------------------------------------------------------

    def create_learner(self, address: str, password: str) -> LearnerInfo:
        """A new learner with a fresh resume code, for a lab account that already exists."""
        for _ in range(20):
            code = new_resume_code()
            try:
                with self.engine.begin() as conn:
                    learner_id = conn.execute(
                        insert(Learner).returning(Learner.id).values(
                            resume_code=code, address=address, password=password,
                            created_at=time.time(),
                        )
                    ).scalar_one()
            except IntegrityError:
                continue  # the code (or, rarely, the address) is taken: draw again
            learner = self.learner(learner_id)
            assert learner is not None
            return learner
        raise RuntimeError("no free resume code after 20 draws")

    def address_taken(self, address: str) -> bool:
        """Whether a learner already has this lab address."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(Learner.id).where(Learner.address == address)
            ).first() is not None

    def learner(self, learner_id: int) -> LearnerInfo | None:
        """The learner with this id, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(select(Learner).where(Learner.id == learner_id)).first()
        return _learner(row) if row else None

    def learner_by_code(self, typed: str) -> LearnerInfo | None:
        """The learner whose resume code this is, however it was typed."""
        code = normalise_code(typed)
        if len(code) != RESUME_LENGTH:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(Learner).where(Learner.resume_code == code)).first()
        return _learner(row) if row else None

    # -- devices ------------------------------------------------------------

    def devices(self, learner_id: int) -> list[DeviceInfo]:
        """The learner's devices, in the order they were added."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Device)
                .where(Device.learner_id == learner_id, Device.position <= MAX_DEVICES)
                .order_by(Device.position)
            ).all()
            return [_device(r) for r in rows]

    def device(self, learner_id: int, device_id: int) -> DeviceInfo | None:
        """One of the learner's devices; None for anybody else's."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(Device).where(Device.id == device_id, Device.learner_id == learner_id)
            ).first()
        return _device(row) if row else None

    def add_device(self, learner_id: int, username: str, program: str = "") -> DeviceInfo:
        """Add the next device (a computer, then a phone), its settings still to fill in.

        `program`: the mail program it imitates ("": Thunderbird, as before programs).

        Raises:
            DeviceLimitReached: the learner already has MAX_DEVICES devices.
            ValueError: the program does not run on that kind of device.
        """
        try:
            with self.engine.begin() as conn:
                count = conn.execute(
                    select(func.count()).where(
                        Device.learner_id == learner_id, Device.position <= MAX_DEVICES
                    )
                ).scalar_one()
                if count >= MAX_DEVICES:
                    raise DeviceLimitReached()
                kind = DEVICE_KINDS[count]
                if program and not may_run_on(program, kind):
                    raise ValueError(f"{program!r} does not run on a {kind}")
                # Written only when chosen, so that a database not yet migrated still works.
                chosen: dict[str, str] = {}
                if program:
                    first = program_of(program).first_security
                    chosen = {"program": program, "incoming_security": first,
                              "outgoing_security": first}
                device_id = conn.execute(
                    insert(Device).returning(Device.id).values(
                        learner_id=learner_id,
                        position=count + 1,
                        kind=kind,
                        incoming_username=username,
                        outgoing_username=username,
                        updated_at=time.time(),
                        **chosen,
                    )
                ).scalar_one()
        except IntegrityError:
            raise DeviceLimitReached() from None  # another request added it at the same time
        device = self.device(learner_id, device_id)
        assert device is not None
        return device

    def change_program(self, device: DeviceInfo, program: str) -> None:
        """Install another mail program: the settings stay, but a security choice the new
        program does not offer goes back to the new program's first one (often blank)."""
        values: dict[str, Any] = {"program": program, "updated_at": time.time()}
        chosen = program_of(program)
        offered = {str(s) for s in chosen.securities}
        for side in ("incoming", "outgoing"):
            if getattr(device, side).security not in offered:
                values[f"{side}_security"] = chosen.first_security
        with self.engine.begin() as conn:
            conn.execute(update(Device).where(Device.id == device.id).values(values))

    def save_settings(self, device_id: int, values: dict[str, Any]) -> None:
        """Store what the settings form sent (only the known columns)."""
        unknown = set(values) - SETTINGS_COLUMNS
        if unknown:
            raise ValueError(f"not a device setting: {sorted(unknown)}")
        with self.engine.begin() as conn:
            conn.execute(
                update(Device)
                .where(Device.id == device_id)
                .values(**values, updated_at=time.time())
            )

    def accept_risk(self, device: DeviceInfo, host: str) -> None:
        """Remember that the learner accepted a certificate they should not have trusted."""
        hosts = sorted(device.accepted_risks | {host.strip().lower()})
        with self.engine.begin() as conn:
            conn.execute(
                update(Device)
                .where(Device.id == device.id)
                .values(accepted_risks="\n".join(hosts), updated_at=time.time())
            )

    def local(self, device_id: int) -> LocalMailbox:
        """The device's own storage."""
        return LocalMailbox(self.engine, device_id)

    # -- other parts' devices (above the sandbox's positions) --------------------

    def keep_devices(
        self, learner_id: int, devices: Mapping[int, tuple[str, Mapping[str, Any], str]]
    ) -> dict[int, DeviceInfo]:
        """Write another part's devices of a learner: {position: (kind, flat settings, program)}.

        A scenario's devices live at positions above the sandbox's `MAX_DEVICES`,
        so the sandbox's settings form, mail program and traces serve them
        unchanged. A row is made on first use and updated afterwards; returns
        the devices by position.
        """
        if any(position <= MAX_DEVICES for position in devices):
            raise ValueError("positions up to MAX_DEVICES are the sandbox's own devices")
        now = time.time()
        with self.engine.begin() as conn:
            existing = {row.position: row for row in conn.execute(
                select(Device).where(
                    Device.learner_id == learner_id, Device.position.in_(list(devices)))
            )}
            written = False
            for position, (kind, settings, program) in devices.items():
                values = {**columns_of(settings), "updated_at": now, "program": program}
                row = existing.get(position)
                if row is not None and _unchanged(row, values, now):
                    continue  # every page of the player keeps them: write only what changed
                written = True
                if row is not None:
                    conn.execute(update(Device).where(Device.id == row.id).values(values))
                else:
                    conn.execute(insert(Device).values(learner_id=learner_id,
                                                       position=position, kind=kind, **values))
        if not written:
            return {position: _device(existing[position]) for position in sorted(existing)}
        return {d.position: d for d in self.devices_at(learner_id, list(devices))}

    def devices_at(self, learner_id: int, positions: Iterable[int]) -> list[DeviceInfo]:
        """The learner's devices at some positions, in the order of their positions."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(Device)
                .where(Device.learner_id == learner_id, Device.position.in_(list(positions)))
                .order_by(Device.position)
            ).all()
        return [_device(r) for r in rows]

    # -- traces and limits ----------------------------------------------------

    def record_trace(
        self, learner_id: int, device_id: int, kind: str, ok: bool, data: dict[str, Any]
    ) -> int:
        """Keep what an operation did; returns its id."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    insert(TraceRecord).returning(TraceRecord.id).values(
                        learner_id=learner_id, device_id=device_id, kind=kind,
                        created_at=time.time(), ok=ok,
                        data=json.dumps(data, ensure_ascii=False, default=str),
                    )
                ).scalar_one()
            )

    def trace(self, learner_id: int, trace_id: int) -> TraceRecordInfo | None:
        """One of the learner's stored operations; None for anybody else's."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(TraceRecord).where(
                    TraceRecord.id == trace_id, TraceRecord.learner_id == learner_id
                )
            ).first()
        if row is None:
            return None
        return TraceRecordInfo(
            row.id, row.learner_id, row.device_id, row.kind, row.created_at, row.ok,
            json.loads(row.data),
        )

    def failure_since(self, device_id: int, since: float) -> TraceRecordInfo | None:
        """The device's latest operation if it failed after `since` (its last settings change)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(TraceRecord)
                .where(TraceRecord.device_id == device_id)
                .order_by(TraceRecord.id.desc())
                .limit(1)
            ).first()
        if row is None or row.ok or row.created_at < since:
            return None
        return TraceRecordInfo(
            row.id, row.learner_id, row.device_id, row.kind, row.created_at, row.ok,
            json.loads(row.data),
        )

    def latest_traces(self, learner_id: int, kind: str) -> dict[int, tuple[int, bool]]:
        """For each device, its latest operation of a kind: (trace id, ok)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(TraceRecord.device_id, TraceRecord.id, TraceRecord.ok)
                .where(TraceRecord.learner_id == learner_id, TraceRecord.kind == kind)
                .order_by(TraceRecord.id)
            ).all()
        return {r.device_id: (r.id, bool(r.ok)) for r in rows}

    def operations_since(self, learner_id: int, kinds: Iterable[str], since: float) -> list[float]:
        """When the learner's operations of these kinds started since a time, oldest first."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(TraceRecord.created_at)
                    .where(
                        TraceRecord.learner_id == learner_id,
                        TraceRecord.kind.in_(list(kinds)),
                        TraceRecord.created_at >= since,
                    )
                    .order_by(TraceRecord.created_at)
                ).scalars()
            )
