"""Workshops: creation and join codes, members, and the live faults.

A workshop's learner is a sandbox learner (lab account, devices, traces) who
plays the workshop's scenarios through the scenario engine, under their own
key. What the class view shows is in `room`.
"""

from __future__ import annotations

import json
import secrets
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from pixlab.db import EventRow, Learner, Workshop, WorkshopLearner
from pixlab.lab.events import EventLog
from pixlab.scenarios.engine import ScenarioEngine, UnknownScenario
from pixlab.scenarios.progress import PLAYING
from pixlab.scenarios.world import Fault

# No look-alikes when read from a projector or typed on a phone: no 0/O, no 1/I/L.
JOIN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
JOIN_LENGTH = 6
PSEUDONYM_MAX = 30
DEFAULT_STUCK_MINUTES = 5
DEFAULT_RETENTION_DAYS = 30


class WorkshopError(ValueError):
    """A workshop request that cannot be done; `reason` names it for the page."""

    def __init__(self, reason: str, suggestion: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.suggestion = suggestion


@dataclass(frozen=True)
class WorkshopInfo:
    """A workshop as pages and the export see it."""

    id: int
    trainer_id: int
    name: str
    code: str
    slugs: tuple[str, ...]
    stuck_minutes: int
    retention_days: int
    created_at: float
    ends_at: float | None
    closed_at: float | None
    faults: frozenset[str]

    def is_open(self, now: float | None = None) -> bool:
        """Whether learners may still join."""
        now = time.time() if now is None else now
        return self.closed_at is None and (self.ends_at is None or now < self.ends_at)

    @property
    def ended_at(self) -> float | None:
        """When it stopped taking joins: closed, or its end time passed."""
        if self.closed_at is not None and self.ends_at is not None:
            return min(self.closed_at, self.ends_at)
        return self.closed_at if self.closed_at is not None else None

    def purge_at(self, now: float | None = None) -> float | None:
        """When its learners' data goes, once it has ended."""
        now = time.time() if now is None else now
        ended = self.ended_at
        if ended is None and self.ends_at is not None and self.ends_at <= now:
            ended = self.ends_at
        return None if ended is None else ended + self.retention_days * 86400


def _info(row: Any) -> WorkshopInfo:
    return WorkshopInfo(
        row.id, row.trainer_id, row.name, row.code,
        tuple(s for s in row.slugs.splitlines() if s), row.stuck_minutes, row.retention_days,
        row.created_at, row.ends_at, row.closed_at,
        frozenset(f for f in (row.faults or "").splitlines() if f),
    )


def new_join_code() -> str:
    """A fresh random join code."""
    return "".join(secrets.choice(JOIN_ALPHABET) for _ in range(JOIN_LENGTH))


def normalise_join_code(typed: str) -> str:
    """What a learner typed, as stored: capitals, no spaces or dashes."""
    return "".join(ch for ch in typed.upper() if ch.isalnum())


# -- workshops ------------------------------------------------------------------------


def create(engine: Engine, trainer_id: int, name: str, slugs: Sequence[str], *,
           ends_at: float | None = None, stuck_minutes: int = DEFAULT_STUCK_MINUTES,
           retention_days: int = DEFAULT_RETENTION_DAYS) -> WorkshopInfo:
    """A new open workshop with a join code unique among all workshops."""
    for _ in range(20):
        try:
            with engine.begin() as conn:
                workshop_id = conn.execute(
                    insert(Workshop).returning(Workshop.id).values(
                        trainer_id=trainer_id, name=name, code=new_join_code(),
                        slugs="\n".join(slugs), stuck_minutes=stuck_minutes,
                        retention_days=retention_days, created_at=time.time(),
                        ends_at=ends_at, closed_at=None, faults="",
                    )
                ).scalar_one()
        except IntegrityError:
            continue  # the code is taken: draw again
        found = get(engine, workshop_id)
        assert found is not None
        return found
    raise RuntimeError("no free join code after 20 draws")


def get(engine: Engine, workshop_id: int) -> WorkshopInfo | None:
    """A workshop by id."""
    with engine.connect() as conn:
        row = conn.execute(select(Workshop).where(Workshop.id == workshop_id)).first()
    return _info(row) if row else None


def owned(engine: Engine, trainer_id: int, workshop_id: int) -> WorkshopInfo | None:
    """The trainer's workshop; None for anybody else's."""
    found = get(engine, workshop_id)
    return found if found is not None and found.trainer_id == trainer_id else None


def of_trainer(engine: Engine, trainer_id: int) -> list[WorkshopInfo]:
    """A trainer's workshops, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(Workshop).where(Workshop.trainer_id == trainer_id)
                            .order_by(Workshop.id.desc())).all()
    return [_info(r) for r in rows]


def every(engine: Engine) -> list[WorkshopInfo]:
    """Every workshop (for the retention purge)."""
    with engine.connect() as conn:
        return [_info(r) for r in conn.execute(select(Workshop).order_by(Workshop.id)).all()]


def by_code(engine: Engine, typed: str) -> WorkshopInfo | None:
    """The workshop with this join code, however it was typed."""
    code = normalise_join_code(typed)
    if len(code) != JOIN_LENGTH:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(Workshop).where(Workshop.code == code)).first()
    return _info(row) if row else None


def close(engine: Engine, workshop: WorkshopInfo) -> None:
    """No more joins from now on; the retention period starts."""
    with engine.begin() as conn:
        conn.execute(update(Workshop).where(Workshop.id == workshop.id,
                                            Workshop.closed_at.is_(None))
                     .values(closed_at=time.time()))


def delete_workshop(engine: Engine, workshop_id: int) -> None:
    """Remove the workshop's row (its learners must be purged first)."""
    with engine.begin() as conn:
        conn.execute(delete(Workshop).where(Workshop.id == workshop_id))


# -- members ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A learner of a workshop: their pseudonym and their sandbox learner."""

    id: int
    workshop_id: int
    learner_id: int
    pseudonym: str
    joined_at: float
    address: str
    resume_code: str


def pseudonym_key(pseudonym: str) -> str:
    """A pseudonym as compared: no accents, no case, single spaces."""
    folded = unicodedata.normalize("NFKD", pseudonym)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(folded.casefold().split())


def check_pseudonym(typed: str) -> str:
    """A pseudonym as kept, or WorkshopError("pseudonym")."""
    pseudonym = " ".join(typed.split())
    if not pseudonym or len(pseudonym) > PSEUDONYM_MAX or not all(
        ch.isalnum() or ch in " -_." for ch in pseudonym
    ):
        raise WorkshopError("pseudonym")
    return pseudonym


def members(engine: Engine, workshop_id: int) -> list[Member]:
    """The workshop's learners, in the order they joined."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(WorkshopLearner.id, WorkshopLearner.workshop_id, WorkshopLearner.learner_id,
                   WorkshopLearner.pseudonym, WorkshopLearner.joined_at, Learner.address,
                   Learner.resume_code)
            .join(Learner, Learner.id == WorkshopLearner.learner_id)
            .where(WorkshopLearner.workshop_id == workshop_id)
            .order_by(WorkshopLearner.id)
        ).all()
    return [Member(*r) for r in rows]


def member_of_learner(engine: Engine, learner_id: int) -> Member | None:
    """The workshop membership of a sandbox learner, if they joined one."""
    with engine.connect() as conn:
        row = conn.execute(select(WorkshopLearner.workshop_id)
                           .where(WorkshopLearner.learner_id == learner_id)).first()
    if row is None:
        return None
    return next((m for m in members(engine, row.workshop_id) if m.learner_id == learner_id), None)


def pseudonym_taken(engine: Engine, workshop_id: int, pseudonym: str) -> bool:
    """Whether somebody in the workshop already has this pseudonym (accents and case aside)."""
    with engine.connect() as conn:
        return conn.execute(select(WorkshopLearner.id).where(
            WorkshopLearner.workshop_id == workshop_id,
            WorkshopLearner.pseudonym_key == pseudonym_key(pseudonym))).first() is not None


def free_pseudonym(engine: Engine, workshop_id: int, pseudonym: str) -> str:
    """A pseudonym like the one asked that nobody in the workshop has: "Renard2"."""
    base = pseudonym[: PSEUDONYM_MAX - 3]
    for n in range(2, 1000):
        candidate = f"{base}{n}"
        if not pseudonym_taken(engine, workshop_id, candidate):
            return candidate
    return f"{base}{secrets.randbelow(900) + 100}"


def check_join(engine: Engine, code: str, pseudonym: str) -> tuple[WorkshopInfo, str]:
    """The open workshop and the pseudonym to join with, or WorkshopError.

    Reasons: "code" (no such workshop), "closed", "pseudonym" (not valid), "taken"
    (with a free suggestion).
    """
    workshop = by_code(engine, code)
    if workshop is None:
        raise WorkshopError("code")
    if not workshop.is_open():
        raise WorkshopError("closed")
    pseudonym = check_pseudonym(pseudonym)
    if pseudonym_taken(engine, workshop.id, pseudonym):
        raise WorkshopError("taken", free_pseudonym(engine, workshop.id, pseudonym))
    return workshop, pseudonym


def add_member(engine: Engine, workshop: WorkshopInfo, learner_id: int, pseudonym: str) -> None:
    """Record that a fresh sandbox learner joined under this pseudonym.

    Raises:
        WorkshopError: "taken", when someone took the pseudonym in the meantime.
    """
    try:
        with engine.begin() as conn:
            conn.execute(insert(WorkshopLearner).values(
                workshop_id=workshop.id, learner_id=learner_id, pseudonym=pseudonym,
                pseudonym_key=pseudonym_key(pseudonym), joined_at=time.time()))
    except IntegrityError:
        raise WorkshopError("taken", free_pseudonym(engine, workshop.id, pseudonym)) from None


def find_member(engine: Engine, code: str, pseudonym: str, resume_code: str) -> Member | None:
    """The member that code + pseudonym + resume code designate together, or None."""
    workshop = by_code(engine, code)
    if workshop is None:
        return None
    wanted = pseudonym_key(pseudonym)
    typed = "".join(ch for ch in resume_code.upper() if ch.isalnum())
    for member in members(engine, workshop.id):
        if pseudonym_key(member.pseudonym) == wanted and secrets.compare_digest(
            member.resume_code, typed
        ):
            return member
    return None


# -- live faults ----------------------------------------------------------------------------


FAULTS = tuple(Fault)


def faults_of_learner(engine: Engine, learner_id: int) -> frozenset[str]:
    """The faults on for the workshop a learner joined (none outside a workshop)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(Workshop.faults).join(WorkshopLearner,
                                         WorkshopLearner.workshop_id == Workshop.id)
            .where(WorkshopLearner.learner_id == learner_id)
        ).first()
    return frozenset(f for f in (row.faults if row else "").splitlines() if f)


def faults_of_address(engine: Engine, address: str) -> frozenset[str]:
    """The faults on for the workshop of the learner with this sandbox address."""
    with engine.connect() as conn:
        row = conn.execute(select(Learner.id).where(Learner.address == address.lower())).first()
    return faults_of_learner(engine, row.id) if row else frozenset()


def switch_fault(engine: Engine, events: EventLog, workshop: WorkshopInfo, fault: str,
                 on: bool) -> WorkshopInfo:
    """Switch a fault on or off for the whole workshop; the event log says so.

    Raises:
        ValueError: not a known fault.
    """
    fault = Fault(fault).value
    current = get(engine, workshop.id)
    assert current is not None
    faults = set(current.faults)
    if (fault in faults) == on:
        return current
    faults = faults | {fault} if on else faults - {fault}
    with engine.begin() as conn:
        conn.execute(update(Workshop).where(Workshop.id == workshop.id)
                     .values(faults="\n".join(sorted(faults))))
    events.record("fault.switched", workshop=workshop.id, fault=fault, on=on)
    found = get(engine, workshop.id)
    assert found is not None
    return found


@dataclass(frozen=True)
class FaultSwitch:
    """A fault switch as the class view shows it: when it last changed."""

    fault: str
    on: bool
    at: float


def fault_history(engine: Engine, events: EventLog, workshop_id: int,
                  limit: int = 20) -> list[FaultSwitch]:
    """The workshop's latest fault switches, newest first, from the event log."""
    events.flush()
    with engine.connect() as conn:
        rows = conn.execute(select(EventRow.at, EventRow.data)
                            .where(EventRow.kind == "fault.switched")
                            .order_by(EventRow.id.desc()).limit(500)).all()
    found = []
    for row in rows:
        data = json.loads(row.data)
        if data.get("workshop") == workshop_id:
            found.append(FaultSwitch(str(data.get("fault")), bool(data.get("on")), row.at))
    return found[:limit]



def apply_account_fault(scenario_engine: ScenarioEngine, workshop: WorkshopInfo, fault: str,
                        on: bool, key_of: Callable[[str], str]) -> None:
    """The faults on the account itself, for every attempt in play of the workshop.

    Mailbox full: the quota becomes what the mailbox already holds (and comes back
    when switched off). Password changed: the IT service gives a new one, shown on
    the learner's sheet; the one their devices remember is refused until the switch
    is off, when the old one comes back (the fault disappears).
    """
    if fault not in (Fault.MAILBOX_FULL, Fault.PASSWORD_CHANGED):
        return
    store = scenario_engine.lab.store
    engine = scenario_engine.attempts.engine
    keys = [key_of(member.address) for member in members(engine, workshop.id)]
    for row in scenario_engine.attempts.summaries(learners=keys):
        if row.status != PLAYING:
            continue
        account = store.account(row.address)
        if account is None:
            continue
        if fault == Fault.PASSWORD_CHANGED:
            scenario_engine.password_fault(row.id, on)
        elif on:
            store.set_quota(account.id, store.usage(account.id))
        else:
            try:
                quota = scenario_engine.scenario(row.slug).lab.quota_kb * 1024
            except UnknownScenario:
                continue
            store.set_quota(account.id, quota)
