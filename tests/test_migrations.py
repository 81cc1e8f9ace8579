"""The schema under Alembic: a baseline equal to the models, upgrades that keep every row,
old databases (made before migrations) taken over, and models and migrations kept in step."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Integer, MetaData, insert, inspect, select

from pixlab.db import (
    BASELINE,
    Base,
    Device,
    EventRow,
    ScenarioAttempt,
    connect_engine,
    current_revision,
    make_engine,
    migration_config,
    sqlite_url,
    upgrade,
)
from pixlab.lab.store import MailStore
from pixlab.sandbox.store import DeviceStore

PIXLAB = str(Path(sys.executable).with_name("pixlab"))
ADDRESS = "eleve@lycee-exemple.test"


def head() -> str:
    revision = ScriptDirectory.from_config(migration_config()).get_current_head()
    assert revision is not None
    return revision


def fill(engine: Engine) -> dict[str, int]:
    """A learner with mail, a device, a trace, an event and a scenario attempt."""
    store = MailStore(engine)
    account = store.create_account(ADDRESS, "Cahier-2026")
    store.append(account, "INBOX", b"Subject: Bienvenue\r\n\r\nBonjour\r\n")
    devices = DeviceStore(engine)
    learner = devices.create_learner(ADDRESS, "Cahier-2026")
    # The device row as the baseline's columns hold it (a later migration adds others).
    with engine.begin() as conn:
        device_id = conn.execute(insert(Device).returning(Device.id).values(
            learner_id=learner.id, position=1, kind="computer", incoming_username=ADDRESS,
            outgoing_username=ADDRESS, updated_at=time.time())).scalar_one()
    devices.local(device_id).keep("uid-1", b"Subject: Garde\r\n\r\nsur l'appareil\r\n")
    trace_id = devices.record_trace(learner.id, device_id, "test", True, {"steps": ["ok"]})
    with engine.begin() as conn:
        conn.execute(insert(EventRow).values(at=time.time(), kind="auth.succeeded",
                                             account=ADDRESS, data="{}"))
        conn.execute(insert(ScenarioAttempt).values(
            learner="eleve", slug="premiers-pas-imap", status="playing", address=ADDRESS,
            password="x", started_at=time.time(), state='{"devices": {}}'))
    return {"learner": learner.id, "device": device_id, "trace": trace_id}


def assert_filled(engine: Engine, ids: dict[str, int]) -> None:
    store = MailStore(engine)
    account = store.account(ADDRESS)
    assert account is not None and store.authenticate(ADDRESS, "Cahier-2026") is not None
    inbox = store.folder(account.id, "INBOX")
    assert inbox is not None
    [message] = store.messages(inbox.id)
    assert store.raw(message.id).startswith(b"Subject: Bienvenue")
    devices = DeviceStore(engine)
    learner = devices.learner(ids["learner"])
    assert learner is not None and learner.address == ADDRESS
    assert [d.id for d in devices.devices(learner.id)] == [ids["device"]]
    assert devices.local(ids["device"]).known_uids() == {"uid-1"}
    trace = devices.trace(learner.id, ids["trace"])
    assert trace is not None and trace.data == {"steps": ["ok"]}
    with engine.connect() as conn:
        assert conn.execute(select(EventRow.kind)).scalars().all() == ["auth.succeeded"]
        attempt = conn.execute(select(ScenarioAttempt)).one()
        assert (attempt.slug, attempt.state) == ("premiers-pas-imap", '{"devices": {}}')


@pytest.fixture(params=["sqlite", "postgresql"])
def new_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], Engine]:
    """Empty databases, on SQLite and on PostgreSQL: the migrations must make the same schema."""
    engines: list[Engine] = []
    dropped: list[str] = []
    server = request.getfixturevalue("postgresql_server") if request.param != "sqlite" else None

    def make(name: str = "pixlab") -> Engine:
        if server is None:
            engine = connect_engine(f"sqlite:///{tmp_path / name}.sqlite3")
        else:
            database, url = server.new_database(template="template0")
            dropped.append(database)
            engine = connect_engine(url)
        engines.append(engine)
        return engine

    yield make  # type: ignore[misc]
    for engine in engines:
        engine.dispose()
    for database in dropped:
        server.drop_database(database)  # type: ignore[union-attr]


def test_a_database_at_the_baseline_filled_then_upgraded_to_head_keeps_everything(
    new_engine: Callable[[], Engine],
) -> None:
    engine = new_engine()
    upgrade(engine, BASELINE)
    assert current_revision(engine) == BASELINE
    ids = fill(engine)
    upgrade(engine, "head")
    assert current_revision(engine) == head()
    assert_filled(engine, ids)
    if engine.dialect.name == "sqlite":
        # Foreign keys are on again for everyone after the upgrade (off only while it ran).
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_database_made_before_migrations_is_taken_over_at_start(tmp_path: Path) -> None:
    # What every existing instance/ holds: create_all's tables of then (the baseline's,
    # columns included, none a later migration added), no alembic_version.
    url = sqlite_url(tmp_path)
    old = connect_engine(url)
    upgrade(old, BASELINE)
    with old.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    ids = fill(old)
    old.dispose()
    engine = make_engine(url)  # what the lab does at start (pixlab serve, pixlab sandbox)
    try:
        assert current_revision(engine) == head()
        assert_filled(engine, ids)
    finally:
        engine.dispose()


def test_a_fresh_database_is_made_by_the_migrations(new_engine: Callable[[], Engine]) -> None:
    engine = new_engine()
    upgrade(engine)
    assert current_revision(engine) == head()
    tables = set(inspect(engine).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_the_models_and_the_migrations_agree(new_engine: Callable[[], Engine]) -> None:
    # What `alembic check` does: a model changed without its migration fails here.
    engine = new_engine()
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_agreement_check_sees_a_model_change_without_its_migration(
    new_engine: Callable[[], Engine],
) -> None:
    engine = new_engine()
    upgrade(engine)
    changed = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["learners"].append_column(Column("nickname_length", Integer))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), changed)
    assert [(d[0], d[3].name) for d in diff] == [("add_column", "nickname_length")]


def test_every_migration_goes_down_and_up_again(new_engine: Callable[[], Engine]) -> None:
    engine = new_engine()
    upgrade(engine)
    with engine.connect() as conn:
        config = migration_config(conn)
        command.downgrade(config, "base")
        conn.commit()
        assert set(inspect(conn).get_table_names()) == {"alembic_version"}
    upgrade(engine)
    assert current_revision(engine) == head()


def test_pixlab_db_upgrade_creates_then_says_it_is_up_to_date(tmp_path: Path) -> None:
    first = subprocess.run([PIXLAB, "db", "upgrade", "--data-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"Base mise à jour : vide -> {head()}."
    again = subprocess.run([PIXLAB, "db", "upgrade", "--data-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert again.stdout.strip() == f"La base est déjà à jour ({head()})."
    engine = connect_engine(sqlite_url(tmp_path))
    try:
        assert current_revision(engine) == head()
    finally:
        engine.dispose()
