"""The workshops' tables: trainers, workshops and the learners who joined one.

They share the declarative base of `pixlab.db`, so a migration or `create_all`
sees them with every other table. A workshop's learner is a sandbox learner
(`learners` row, lab account, devices, attempts); this table only adds the
workshop and the pseudonym.
"""

from __future__ import annotations

from sqlalchemy import Engine, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pixlab.db import Base


class Trainer(Base):
    """A trainer's account: a name and a Werkzeug password hash (scrypt), nothing else."""

    __tablename__ = "trainers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[float] = mapped_column(Float)  # Unix seconds, UTC


class Workshop(Base):
    """A class session: its scenarios in order, a join code while open, its live faults."""

    __tablename__ = "workshops"
    id: Mapped[int] = mapped_column(primary_key=True)
    trainer_id: Mapped[int] = mapped_column(
        ForeignKey("trainers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # Unique among all workshops, so a closed workshop's code never opens another one.
    code: Mapped[str] = mapped_column(String(12), unique=True)
    slugs: Mapped[str] = mapped_column(Text)  # the scenarios, one slug a line, in order
    stuck_minutes: Mapped[int] = mapped_column(Integer, default=5)
    retention_days: Mapped[int] = mapped_column(Integer, default=30)
    created_at: Mapped[float] = mapped_column(Float)
    ends_at: Mapped[float | None] = mapped_column(Float)  # joins refused after it
    closed_at: Mapped[float | None] = mapped_column(Float)
    faults: Mapped[str] = mapped_column(Text, default="")  # the switches on, one a line


class WorkshopLearner(Base):
    """A sandbox learner who joined a workshop under a pseudonym."""

    __tablename__ = "workshop_learners"
    __table_args__ = (UniqueConstraint("workshop_id", "pseudonym_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[int] = mapped_column(
        ForeignKey("workshops.id", ondelete="CASCADE"), index=True
    )
    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), unique=True
    )
    pseudonym: Mapped[str] = mapped_column(String(40))
    pseudonym_key: Mapped[str] = mapped_column(String(40))  # case and accents folded
    joined_at: Mapped[float] = mapped_column(Float)


TABLES = [Trainer.__table__, Workshop.__table__, WorkshopLearner.__table__]


def create_tables(engine: Engine) -> None:
    """Create the workshops' tables where they are missing (a migration may have made them)."""
    Base.metadata.create_all(engine, tables=TABLES)  # type: ignore[arg-type]
