"""The sandbox's learners and their devices: settings, local storage, traces and limits.

A learner is anonymous: a resume code to continue elsewhere and a lab account,
nothing else. Each device keeps its own mail program settings and its own
local storage (what POP3 downloaded, local folders, sent copies), all in the
database, so that a reload or a restart loses nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from pixlab.client.settings import AccountSettings, Auth, LeaveOnServer, Security, ServerSettings
from pixlab.db import Device, Learner, LocalMessage, TraceRecord

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

    protocol: str
    host: str
    port: int | None
    security: str
    auth: str
    username: str

    def missing(self) -> list[str]:
        """The fields a test needs and that are empty."""
        return [
            name
            for name, value in (
                ("host", self.host),
                ("port", self.port),
                ("security", self.security),
                ("auth", self.auth),
            )
            if not value
        ]

    def server_settings(self) -> ServerSettings:
        """The client's settings, as typed.

        A device with only its incoming server filled in still fetches mail, so
        the other side may be incomplete: its empty fields become values that
        `missing()` reports before any operation would use them (port 0 never
        connects anywhere).
        """
        return ServerSettings(
            self.protocol,
            self.host,
            self.port or 0,
            Security(self.security) if self.security else Security.TLS,
            Auth(self.auth) if self.auth else Auth.NORMAL,
            self.username,
        )


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

    @property
    def configured(self) -> bool:
        """Whether the incoming server has everything a test needs."""
        return not self.incoming.missing()

    def account_settings(self, address: str) -> AccountSettings:
        """What the simulated client gets; the learner's typos are kept as they are."""
        return AccountSettings(
            address=address,
            incoming=self.incoming.server_settings(),
            outgoing=self.outgoing.server_settings(),
            password=self.password,
            leave_on_server=LeaveOnServer(self.leave_on_server),
            leave_days=self.leave_days,
            accepted_risks=self.accepted_risks,
            accepted_cleartext=self.accepted_cleartext,
        )


@dataclass(frozen=True)
class LocalMessageInfo:
    """A message kept on a device."""

    id: int
    folder: str
    server_uid: str | None
    kept_at: float
    seen: bool
    raw: bytes = field(repr=False)


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


def _server(row: Any, side: str) -> ServerFields:
    return ServerFields(
        "smtp" if side == "outgoing" else row.incoming_protocol,
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
    )


def _learner(row: Any) -> LearnerInfo:
    return LearnerInfo(row.id, row.resume_code, row.address, row.password, row.created_at)


# The columns a settings form may change, and nothing else.
SETTINGS_COLUMNS = frozenset(
    {
        "incoming_protocol", "incoming_host", "incoming_port", "incoming_security",
        "incoming_auth", "incoming_username", "outgoing_host", "outgoing_port",
        "outgoing_security", "outgoing_auth", "outgoing_username", "password",
        "leave_on_server", "leave_days", "accepted_cleartext",
    }
)


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

    def add_device(self, learner_id: int, username: str) -> DeviceInfo:
        """Add the next device (a computer, then a phone), its settings still to fill in.

        Raises:
            DeviceLimitReached: the learner already has MAX_DEVICES devices.
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
                device_id = conn.execute(
                    insert(Device).returning(Device.id).values(
                        learner_id=learner_id,
                        position=count + 1,
                        kind=DEVICE_KINDS[count],
                        incoming_username=username,
                        outgoing_username=username,
                        updated_at=time.time(),
                    )
                ).scalar_one()
        except IntegrityError:
            raise DeviceLimitReached() from None  # another request added it at the same time
        device = self.device(learner_id, device_id)
        assert device is not None
        return device

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


class LocalMailbox:
    """A device's own storage: what POP3 downloaded, local folders and sent copies.

    It is the `LocalMail` the simulated client downloads into.
    """

    INBOX = "INBOX"

    def __init__(self, engine: Engine, device_id: int) -> None:
        self.engine = engine
        self.device_id = device_id

    # -- what the POP3 client asks ---------------------------------------------

    def known_uids(self) -> set[str]:
        """The server UIDs already downloaded (deleted here or not)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LocalMessage.server_uid).where(
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.server_uid.is_not(None),
                )
            ).scalars().all()
        return {uid for uid in rows if uid is not None}

    def keep(self, uid: str, raw: bytes) -> None:
        """Store a downloaded message, committed before the server is told to delete it."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(LocalMessage).values(
                    device_id=self.device_id, folder=self.INBOX, server_uid=uid,
                    kept_at=time.time(), seen=False, deleted=False, raw=raw,
                )
            )

    def downloaded_at(self, uid: str) -> float | None:
        """When a message was downloaded."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.min(LocalMessage.kept_at)).where(
                    LocalMessage.device_id == self.device_id, LocalMessage.server_uid == uid
                )
            ).scalar()

    def deleted_here(self) -> set[str]:
        """UIDs the learner deleted on this device."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LocalMessage.server_uid).where(
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.deleted.is_(True),
                    LocalMessage.server_uid.is_not(None),
                )
            ).scalars().all()
        return {uid for uid in rows if uid is not None}

    # -- what the mail pages ask ----------------------------------------------

    def keep_copy(self, folder: str, raw: bytes) -> None:
        """Keep a message the device made itself (a sent copy), already read."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(LocalMessage).values(
                    device_id=self.device_id, folder=folder, server_uid=None,
                    kept_at=time.time(), seen=True, deleted=False, raw=raw,
                )
            )

    def counts(self) -> dict[str, int]:
        """How many messages each local folder holds."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LocalMessage.folder, func.count())
                .where(LocalMessage.device_id == self.device_id, LocalMessage.deleted.is_(False))
                .group_by(LocalMessage.folder)
            ).all()
        return {folder: int(count) for folder, count in rows}

    def messages(self, folder: str, limit: int = 200) -> list[LocalMessageInfo]:
        """A local folder's messages, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LocalMessage)
                .where(
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.folder == folder,
                    LocalMessage.deleted.is_(False),
                )
                .order_by(LocalMessage.kept_at.desc(), LocalMessage.id.desc())
                .limit(limit)
            ).all()
            return [self._info(r) for r in rows]

    def message(self, message_id: int) -> LocalMessageInfo | None:
        """One message of this device (not deleted); None for any other device's."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(LocalMessage).where(
                    LocalMessage.id == message_id,
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.deleted.is_(False),
                )
            ).first()
        return self._info(row) if row else None

    def mark_seen(self, message_id: int) -> None:
        """The learner opened the message."""
        self._update(message_id, seen=True)

    def move(self, message_id: int, folder: str) -> bool:
        """Move a message to another local folder; False if it is not this device's."""
        return self._update(message_id, folder=folder)

    def delete(self, message_id: int) -> bool:
        """Delete a message here; its UID stays known. False if it is not this device's."""
        return self._update(message_id, deleted=True, raw=b"")

    def _update(self, message_id: int, **values: Any) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                update(LocalMessage)
                .where(
                    LocalMessage.id == message_id,
                    LocalMessage.device_id == self.device_id,
                    LocalMessage.deleted.is_(False),
                )
                .values(**values)
            )
        return bool(result.rowcount)

    @staticmethod
    def _info(row: Any) -> LocalMessageInfo:
        return LocalMessageInfo(
            row.id, row.folder, row.server_uid, row.kept_at, bool(row.seen), bytes(row.raw)
        )
