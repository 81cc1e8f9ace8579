"""A throwaway PostgreSQL cluster for the tests, started by pytest-postgresql's executor (pg_ctl).

The cluster lives in a temporary directory for the run and is removed after it;
each test that asks for PostgreSQL gets a database of its own, copied from a
template that the migrations made once (CREATE DATABASE … TEMPLATE is a file copy).

PostgreSQL refuses to run as root, and CI runs the suite as root: pg_ctl then
runs as an unprivileged user (`postgres`, which Debian's package creates, else
`nobody`) through `tests/pg_ctl_unprivileged`, and the cluster's directory
belongs to that user.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

WRAPPER = Path(__file__).with_name("pg_ctl_unprivileged")
TEMPLATE = "pixlab_template"
SUPERUSER = "postgres"


def find_pg_ctl() -> str | None:
    """The newest pg_ctl: $PIXLAB_TEST_PG_CTL, on the PATH, or in Debian's versioned directories."""
    given = os.environ.get("PIXLAB_TEST_PG_CTL")
    if given:
        return given if os.access(given, os.X_OK) else None
    found = shutil.which("pg_ctl")
    if found:
        return found
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                    key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return debian[-1] if debian else None


def server_user() -> str | None:
    """Who runs the server: ourselves, or an unprivileged user when we are root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    if shutil.which("runuser") is None:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    return None


def why_not() -> str | None:
    """Why PostgreSQL cannot run here (None: it can)."""
    if find_pg_ctl() is None:
        return ("PostgreSQL not found (no pg_ctl): the tests on PostgreSQL are skipped; "
                "`make setup-test` as root installs Debian's postgresql")
    if server_user() is None:
        return "PostgreSQL cannot run as root and no unprivileged user (runuser) was found"
    return None


@dataclass
class PostgresServer:
    """A running cluster: its address, and fresh databases made from the migrated template."""

    host: str
    port: int
    data_dir: Path | None = None  # the cluster's own directory (its postmaster.pid)
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one of the cluster's databases (psycopg 3)."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def admin(self):  # type: ignore[no-untyped-def]
        """An autocommit connection to the maintenance database (CREATE/DROP DATABASE)."""
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=SUPERUSER,
                               dbname="postgres", autocommit=True)

    def new_database(self, template: str = TEMPLATE) -> tuple[str, str]:
        """A database of its own, at the newest schema (template0: empty): (name, URL)."""
        name = f"pixlab_{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE {template}')
        return name, self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connection a test left open on it."""
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_cluster(options: str = ""):  # type: ignore[no-untyped-def]
    """Start a cluster; returns (server, stop). Call only when `why_not()` is None.

    `options`: more of the server's settings (`-c name=value …`), for the benchmarks.
    """
    import port_for
    from pytest_postgresql.executors import PostgreSQLExecutor

    from pixlab.db import make_engine

    pg_ctl, user = find_pg_ctl(), server_user()
    assert pg_ctl is not None and user is not None
    os.environ["PIXLAB_TEST_PG_CTL"] = pg_ctl
    os.environ["PIXLAB_TEST_PG_USER"] = user
    directory = Path(tempfile.mkdtemp(prefix="pixlab-postgresql-"))
    if os.geteuid() == 0:
        shutil.chown(directory, user)
    port = port_for.select_random()
    executor = PostgreSQLExecutor(
        executable=str(WRAPPER),
        host="127.0.0.1",
        port=port,
        datadir=str(directory / "data"),
        unixsocketdir=str(directory),
        logfile=str(directory / "server.log"),
        startparams="-w",
        dbname=TEMPLATE,
        user=SUPERUSER,
        # A throwaway cluster: nothing needs to survive a crash, so nothing waits for the disk.
        postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                         f"-c max_connections=300 {options}".strip(),
        timeout=120,
    )
    executor.start()
    server = PostgresServer("127.0.0.1", port)
    with server.admin() as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    engine = make_engine(server.url(TEMPLATE))  # the migrations, once for the whole run
    engine.dispose()

    def stop() -> None:
        try:
            executor.stop()
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    server.data_dir = directory / "data"
    return server, stop
