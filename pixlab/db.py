"""SQLAlchemy models and the engine: one database for the whole of PixLab.

SQLite under the data directory by default (WAL mode, so the lab's loop thread
and the web threads read while one of them writes); PostgreSQL (psycopg 3) by
URL, for several processes sharing one database: `PIXLAB_DATABASE_URL` or
`--database-url`, for example `postgresql+psycopg://pixlab:…@db.example/pixlab`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
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
    false,
    inspect,
)
from sqlalchemy.engine import Connection
from sqlalchemy.engine.interfaces import DBAPICursor, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import ClauseElement


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
    # Consecutive failed logins in worlds that lock accounts (see pixlab.lab.access.Lockouts).
    failed_logins: Mapped[int] = mapped_column(Integer, server_default="0")
    # Two-step verification: mail programs must give an application password (AppPassword).
    two_step: Mapped[bool] = mapped_column(Boolean, server_default=false())


class AppPassword(Base):
    """An application password made on a two-step account's page for one mail program.

    Only its salted hash is kept: the password itself is shown once, when made
    (see `pixlab.lab.access.AppPasswords`).
    """

    __tablename__ = "app_passwords"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(60))  # the program it was made for
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Float)  # Unix seconds, UTC


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
        # Covering (account_id, size): a quota sum reads this index alone, never the
        # rows with their message bytes. SMTP sums it at RCPT, at DATA and in the append.
        Index("ix_messages_account_size", "account_id", "size"),
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


# -- the sandbox: learners, their devices and what each device keeps ---------


class Learner(Base):
    """An anonymous learner of the sandbox: a resume code and a lab account, nothing personal.

    The lab account's password is generated by PixLab and only opens that
    practice mailbox; it is kept so the connection sheet can show it again.
    """

    __tablename__ = "learners"
    id: Mapped[int] = mapped_column(primary_key=True)
    resume_code: Mapped[str] = mapped_column(String(16), unique=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    password: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[float] = mapped_column(Float)  # Unix seconds, UTC


class Device(Base):
    """A learner's device ("Ordinateur", "Téléphone") and its mail program's settings."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("learner_id", "position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(
        ForeignKey("learners.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)  # 1, 2: the order the learner added them
    kind: Mapped[str] = mapped_column(String(20))  # "computer" or "phone"
    # The mail program it imitates ("thunderbird", "outlook", "iphone", "android"); "" is
    # Thunderbird, as every device was before programs could be chosen.
    program: Mapped[str] = mapped_column(String(20), server_default="")
    incoming_protocol: Mapped[str] = mapped_column(String(10), default="imap")
    incoming_host: Mapped[str] = mapped_column(String(255), default="")
    incoming_port: Mapped[int | None] = mapped_column(Integer)
    incoming_security: Mapped[str] = mapped_column(String(20), default="")
    incoming_auth: Mapped[str] = mapped_column(String(10), default="normal")
    incoming_username: Mapped[str] = mapped_column(String(320), default="")
    outgoing_host: Mapped[str] = mapped_column(String(255), default="")
    outgoing_port: Mapped[int | None] = mapped_column(Integer)
    outgoing_security: Mapped[str] = mapped_column(String(20), default="")
    outgoing_auth: Mapped[str] = mapped_column(String(10), default="normal")
    outgoing_username: Mapped[str] = mapped_column(String(320), default="")
    # What the learner typed, as a mail program remembers it (the lab password, or a wrong one).
    password: Mapped[str] = mapped_column(String(200), default="")
    leave_on_server: Mapped[str] = mapped_column(String(20), default="no")
    leave_days: Mapped[int] = mapped_column(Integer, default=14)
    accepted_cleartext: Mapped[bool] = mapped_column(Boolean, default=False)
    accepted_risks: Mapped[str] = mapped_column(Text, default="")  # host names, one per line
    updated_at: Mapped[float] = mapped_column(Float, default=0.0)


class LocalMessage(Base):
    """A message kept on a device: downloaded by POP3, sent from it, or moved to a local folder.

    A message deleted on the device stays as a row without its bytes, so its
    POP3 UID is neither downloaded again nor forgotten ("until I delete them").
    """

    __tablename__ = "device_messages"
    __table_args__ = (Index("ix_device_messages_folder", "device_id", "folder"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(100))  # "INBOX", "Archives", "Sent"
    server_uid: Mapped[str | None] = mapped_column(String(100))  # the POP3 UIDL
    kept_at: Mapped[float] = mapped_column(Float)  # Unix seconds, UTC
    seen: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    raw: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class TraceRecord(Base):
    """What one operation of a device's client did (a test, a send, a download), as shown."""

    __tablename__ = "device_traces"
    __table_args__ = (Index("ix_device_traces_learner", "learner_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # "test", "send" or "fetch"
    created_at: Mapped[float] = mapped_column(Float)
    ok: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[str] = mapped_column(Text)  # JSON: the traces, as `pixlab.web.traces` keeps them


# -- scenarios: each attempt of a learner at a scenario, and how far it got --------


class ScenarioAttempt(Base):
    """One attempt of a learner at a scenario: its accounts, devices and progress.

    The columns a catalogue or a trainer's view filter on are columns; the
    details the engine needs while the attempt lives (each device's settings,
    the proof of each mistake, quiz answers, arrivals, the connections it
    follows) are one JSON document. `version` makes concurrent updates (two
    web workers, a poll and a test) safe without a lock: see
    `pixlab.scenarios.progress`.
    """

    __tablename__ = "scenario_attempts"
    __table_args__ = (
        Index("ix_scenario_attempts_learner", "learner", "slug"),
        Index("ix_scenario_attempts_address", "address", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    learner: Mapped[str] = mapped_column(String(100))  # the learner's key (their local part)
    slug: Mapped[str] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(5), default="fr")
    status: Mapped[str] = mapped_column(String(20))  # playing, completed, given-up, replaced
    address: Mapped[str] = mapped_column(String(320))  # the learner's address in this attempt
    password: Mapped[str] = mapped_column(String(100))  # a lab password, shown on the sheet
    started_at: Mapped[float] = mapped_column(Float)  # Unix seconds, UTC
    ended_at: Mapped[float | None] = mapped_column(Float)
    objectives_met: Mapped[int] = mapped_column(Integer, default=0)
    objectives_total: Mapped[int] = mapped_column(Integer, default=0)
    mistakes_made: Mapped[int] = mapped_column(Integer, default=0)
    hints_used: Mapped[int] = mapped_column(Integer, default=0)
    quiz_correct: Mapped[int] = mapped_column(Integer, default=0)
    quiz_answered: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(Text, default="{}")  # JSON: see AttemptState


class Trainer(Base):
    """A trainer's account (pixlab.workshops): a name and a Werkzeug password hash (scrypt)."""

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
    """A sandbox learner who joined a workshop under a pseudonym (only what a workshop adds)."""

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


class RateLimit(Base):
    """One throttle's fixed window (Flask-Limiter, `pixlab.workshops.throttles`)."""

    __tablename__ = "rate_limits"
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)  # Unix seconds, UTC


def sqlite_url(data_dir: Path) -> str:
    """The URL of the default database file inside a data directory."""
    return f"sqlite:///{Path(data_dir) / 'pixlab.sqlite3'}"


DATABASE_URL_VARIABLE = "PIXLAB_DATABASE_URL"
# The command line's help for --database-url (serve, sandbox, db upgrade, trainer …).
DATABASE_URL_HELP = (
    "la base de données, par exemple postgresql+psycopg://pixlab@serveur/pixlab "
    "(par défaut : $PIXLAB_DATABASE_URL, sinon pixlab.sqlite3 dans --data-dir)"
)


def database_url(data_dir: Path, url: str | None = None) -> str:
    """The database to open: the URL given, else PIXLAB_DATABASE_URL, else SQLite in data_dir."""
    return url or os.environ.get(DATABASE_URL_VARIABLE) or sqlite_url(data_dir)


def is_postgresql(engine: Engine) -> bool:
    """Whether the engine speaks to PostgreSQL (LISTEN/NOTIFY, row locks) rather than SQLite."""
    return engine.dialect.name == "postgresql"


def make_engine(url: str) -> Engine:
    """Create the engine and bring the schema to the newest migration (a new database too)."""
    engine = connect_engine(url)
    upgrade(engine)
    return engine


def connect_engine(url: str) -> Engine:
    """The engine alone, schema untouched; SQLite gets WAL and a busy timeout.

    PostgreSQL gets a pool as large as the web server's threads plus the lab's
    and the event log's (waitress runs 8), and a check before each checkout so
    that a restarted database server costs one failed ping, not a failed page.
    """
    if url.startswith(("postgresql:", "postgres:")):
        # One driver: psycopg 3 (SQLAlchemy's plain "postgresql://" means psycopg2).
        url = "postgresql+psycopg:" + url.partition(":")[2]
    if url.startswith("postgresql"):
        return create_engine(url, pool_size=12, max_overflow=8, pool_pre_ping=True)
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

    return engine


@contextmanager
def one_process_at_a_time(engine: Engine, key: int) -> Iterator[bool]:
    """Whether this process may do a periodic job now that other processes also run.

    PostgreSQL: a session advisory lock numbered `key`, held for the block; a
    process that finds it taken gets False and skips this round (another
    process is doing the job). SQLite has one process: always True.
    """
    if not is_postgresql(engine):
        yield True
        return
    with engine.connect() as conn:
        got = bool(conn.exec_driver_sql("SELECT pg_try_advisory_lock(%(k)s)", {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(%(k)s)", {"k": key})
                conn.commit()


# -- migrations (Alembic): the schema's only source ------------------------------------

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001_baseline"  # the schema of every database made before migrations
MIGRATION_LOCK = 0x50584C02  # PostgreSQL's advisory lock while migrating ("PXL", 2)


def migration_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for PixLab's migrations, on a connection when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring a database to a revision of the schema: create a new one, upgrade an old one.

    A database made by a PixLab from before migrations has the baseline's
    tables and no alembic_version: it is stamped at the baseline first.
    """
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # Batch mode rebuilds a table and drops the old one; with foreign keys
            # on, SQLite's DROP TABLE would delete the rows that refer to it (ON
            # DELETE CASCADE). The pragma is ignored inside a transaction, so it is
            # set before Alembic begins one.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        elif is_postgresql(engine):
            # Several processes starting at once: one migrates, the others wait for it
            # here and then find the schema at head (the lock ends with the session).
            connection.exec_driver_sql("SELECT pg_advisory_lock(%(k)s)", {"k": MIGRATION_LOCK})
            connection.commit()
        try:
            config = migration_config(connection)
            tables = set(inspect(connection).get_table_names())
            if "alembic_version" not in tables and "accounts" in tables:
                command.stamp(config, BASELINE)
            command.upgrade(config, revision)
            connection.commit()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"a migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
            elif is_postgresql(engine):
                connection.rollback()
                connection.exec_driver_sql("SELECT pg_advisory_unlock(%(k)s)",
                                           {"k": MIGRATION_LOCK})
                connection.commit()


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at (None: not under migrations yet)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class DriverStatement:
    """A Core statement compiled once per dialect, then run on the driver's own cursor.

    For the lab's hot paths only: SQLAlchemy's execution context and row objects
    cost three to four times the query itself (a folder's 20 messages: 183 µs
    through a Core connection, 75 µs this way), and every login, SELECT,
    download and batch of events goes through here. The columns used this way
    need no type conversion (integers, floats, text, bytes, booleans).
    """

    def __init__(self, statement: ClauseElement, columns: list[str] | None = None) -> None:
        self.statement = statement
        self.columns = columns  # for an INSERT: the columns given, in this order
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _sql(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            statement = self.statement.compile(dialect=dialect, column_keys=self.columns)
            # The parameters' order, or None where the driver takes them by name.
            order = getattr(statement, "positiontup", None)
            # A select's own constants (the 0 of a COALESCE) are parameters too.
            constants = {} if self.columns else dict(statement.params)
            compiled = (str(statement), tuple(order) if order is not None else None, constants)
            self._compiled[dialect.name] = compiled
        return compiled

    def on(self, cursor: DBAPICursor, dialect: Dialect, **values: Any) -> list[tuple[Any, ...]]:
        """Run on a cursor of `driver_cursor`; the rows, as plain tuples (none for most writes)."""
        sql, names, constants = self._sql(dialect)
        values = {**constants, **values}
        cursor.execute(sql, values if names is None else tuple(values[n] for n in names))
        return list(cursor.fetchall())

    def rows(self, engine: Engine, **values: Any) -> list[tuple[Any, ...]]:
        """Run a read on its own; the rows as plain tuples, in the order of its columns."""
        with driver_cursor(engine) as cursor:
            return self.on(cursor, engine.dialect, **values)

    def insert_many(self, engine: Engine, rows: list[dict[str, Any]]) -> None:
        """Run an INSERT once per row, all in one committed transaction."""
        sql, names, _ = self._sql(engine.dialect)
        batch: list[dict[str, Any]] | list[tuple[Any, ...]] = (
            rows if names is None else [tuple(row[n] for n in names) for row in rows]
        )
        with driver_cursor(engine, commit=True) as cursor:
            cursor.executemany(sql, batch)


_THREAD = threading.local()  # this thread's own connection per engine: see own_connection


@contextmanager
def own_connection(engine: Engine) -> Iterator[None]:
    """Give the calling thread a connection of its own for `driver_cursor`, while in the block.

    For the lab's loop thread, which makes several reads for every session: a
    pooled connection costs a check-out, a reset and a check-in each time, and
    its page cache starts cold. The connection is detached from the pool, so
    that the pool keeps all of its own for everyone else.
    """
    connection = engine.raw_connection()
    connection.detach()
    owned: dict[Engine, Any] = getattr(_THREAD, "connections", None) or {}
    _THREAD.connections = owned
    owned[engine] = connection
    try:
        yield
    finally:
        del owned[engine]
        connection.close()


@contextmanager
def driver_cursor(engine: Engine, commit: bool = False) -> Iterator[DBAPICursor]:
    """A cursor for `DriverStatement.on`: on the thread's own connection, or a pooled one.

    With `commit`, what the block did is committed when it ends without an
    error; on an error it is rolled back. No transaction stays open after the
    block, so the next read sees every commit made meanwhile. Without
    `commit`, PostgreSQL runs the block's reads in autocommit: one round trip
    each, rather than BEGIN, the read and ROLLBACK.
    """
    owned = getattr(_THREAD, "connections", None)
    connection = owned.get(engine) if owned else None
    pooled = connection is None
    if connection is None:
        connection = engine.raw_connection()
    autocommit = not commit and engine.dialect.name == "postgresql"
    if autocommit:
        connection.dbapi_connection.autocommit = True  # type: ignore[union-attr]
    try:
        cursor = connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
        if commit:
            connection.commit()
        elif not pooled:
            # psycopg begins a transaction with the first SELECT: end it, so the
            # thread's own connection never sits "idle in transaction" holding locks.
            connection.rollback()
    except BaseException:
        connection.rollback()
        raise
    finally:
        if autocommit:
            connection.dbapi_connection.autocommit = False  # type: ignore[union-attr]
        if pooled:
            connection.close()  # back to the pool
