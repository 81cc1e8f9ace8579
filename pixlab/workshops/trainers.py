"""Trainer accounts: add, list, remove, change a password, check a login.

Passwords are hashed with Werkzeug's `generate_password_hash` (scrypt); the
clear text is never stored, logged or shown.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from pixlab.db import Trainer

NAME_RE = re.compile(r"^[\w.@-]{1,100}$")
MIN_PASSWORD = 8
# Checked against when the name is unknown, so an unknown name costs the same time.
_DUMMY_HASH = generate_password_hash("pixlab-no-such-trainer")


class TrainerError(ValueError):
    """A trainer command that cannot be done, with the reason in French."""


@dataclass(frozen=True)
class TrainerInfo:
    """A trainer as the pages and the command show them."""

    id: int
    name: str
    created_at: float


def check_name(name: str) -> str:
    """A trainer name as stored, or TrainerError."""
    name = name.strip()
    if not NAME_RE.match(name):
        raise TrainerError(
            "Nom refusé : utilisez des lettres, des chiffres, « . », « - », « _ » ou « @ », "
            "sans espace (100 caractères au plus)."
        )
    return name


def check_password(password: str) -> str:
    """A new password, or TrainerError when it is too short."""
    if len(password) < MIN_PASSWORD:
        raise TrainerError(f"Mot de passe trop court : {MIN_PASSWORD} caractères au moins.")
    return password


def add(engine: Engine, name: str, password: str) -> TrainerInfo:
    """A new trainer (TrainerError when the name is taken or refused)."""
    name, password = check_name(name), check_password(password)
    try:
        with engine.begin() as conn:
            trainer_id = conn.execute(
                insert(Trainer).returning(Trainer.id).values(
                    name=name, password_hash=generate_password_hash(password),
                    created_at=time.time(),
                )
            ).scalar_one()
    except IntegrityError:
        raise TrainerError(f"Le formateur « {name} » existe déjà.") from None
    return TrainerInfo(trainer_id, name, time.time())


def listing(engine: Engine) -> list[TrainerInfo]:
    """Every trainer, by name."""
    with engine.connect() as conn:
        rows = conn.execute(select(Trainer.id, Trainer.name, Trainer.created_at)
                            .order_by(Trainer.name)).all()
    return [TrainerInfo(r.id, r.name, r.created_at) for r in rows]


def count(engine: Engine) -> int:
    """How many trainers exist."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Trainer)).scalar_one())


def remove(engine: Engine, name: str) -> None:
    """Remove a trainer (and their workshops' rows; their learners are purged separately)."""
    with engine.begin() as conn:
        removed = conn.execute(delete(Trainer).where(Trainer.name == name.strip())).rowcount
    if not removed:
        raise TrainerError(f"Aucun formateur ne s'appelle « {name} ».")


def set_password(engine: Engine, name: str, password: str) -> None:
    """Give a trainer a new password."""
    hashed = generate_password_hash(check_password(password))
    with engine.begin() as conn:
        changed = conn.execute(
            update(Trainer).where(Trainer.name == name.strip()).values(password_hash=hashed)
        ).rowcount
    if not changed:
        raise TrainerError(f"Aucun formateur ne s'appelle « {name} ».")


def authenticate(engine: Engine, name: str, password: str) -> TrainerInfo | None:
    """The trainer if the name and password match, else None (the same answer for both)."""
    with engine.connect() as conn:
        row = conn.execute(select(Trainer).where(Trainer.name == name.strip())).first()
    if row is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(row.password_hash, password):
        return None
    return TrainerInfo(row.id, row.name, row.created_at)


def get(engine: Engine, trainer_id: int) -> TrainerInfo | None:
    """A trainer by id."""
    with engine.connect() as conn:
        row = conn.execute(select(Trainer).where(Trainer.id == trainer_id)).first()
    return TrainerInfo(row.id, row.name, row.created_at) if row else None
