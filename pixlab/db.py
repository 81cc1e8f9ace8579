"""SQLAlchemy models and the engine: one database for the whole of PixLab.

SQLite under the data directory by default (WAL mode, so the lab's loop thread
and the web threads read while one of them writes); any SQLAlchemy URL works.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    Boolean,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The declarative base of every PixLab table."""


class Account(Base):
    """A mail account of the lab: an address, a salted password hash, a quota."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    quota_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(Integer)  # Unix seconds, UTC


class Folder(Base):
    """A mailbox folder (INBOX, Sent, …) with its IMAP identity (UIDVALIDITY, UIDNEXT)."""

    __tablename__ = "folders"
    __table_args__ = (UniqueConstraint("account_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(500))
    special_use: Mapped[str | None] = mapped_column(String(20))
    uidvalidity: Mapped[int] = mapped_column(Integer)
    uidnext: Mapped[int] = mapped_column(Integer, default=1)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)


class Message(Base):
    """One message in one folder; the raw RFC 5322 bytes are the last column on purpose.

    SQLite stores a row's columns in order and only follows overflow pages
    for the columns it reads, so listings that skip `raw` stay fast.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("folder_id", "uid"),
        Index("ix_messages_account", "account_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    folder_id: Mapped[int] = mapped_column(ForeignKey("folders.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    uid: Mapped[int] = mapped_column(Integer)
    flags: Mapped[str] = mapped_column(String(500), default="")
    internal_date: Mapped[int] = mapped_column(Integer)  # Unix seconds, UTC
    size: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class EventRow(Base):
    """One entry of the lab's event log (see `pixlab.lab.events`)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_connection", "connection_id"),
        Index("ix_events_account", "account"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[float] = mapped_column(Float)  # Unix seconds, UTC
    kind: Mapped[str] = mapped_column(String(60))
    connection_id: Mapped[str | None] = mapped_column(String(40))
    account: Mapped[str | None] = mapped_column(String(320))
    listener: Mapped[str | None] = mapped_column(String(40))
    tls: Mapped[bool | None] = mapped_column(Boolean)
    data: Mapped[str] = mapped_column(Text, default="{}")


def sqlite_url(data_dir: Path) -> str:
    """The URL of the default database file inside a data directory."""
    return f"sqlite:///{Path(data_dir) / 'pixlab.sqlite3'}"


def make_engine(url: str) -> Engine:
    """Create the engine and the tables; SQLite gets WAL and a busy timeout."""
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            # WAL lets readers go on while one writer commits; NORMAL syncs at
            # checkpoints, which keeps a commit durable across a process restart.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    Base.metadata.create_all(engine)
    return engine
