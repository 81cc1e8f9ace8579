"""Alembic's environment for PixLab's schema.

`pixlab.db.upgrade` (run by `pixlab db upgrade`, `pixlab serve` and `pixlab
sandbox`) hands over its own connection. A developer writing the next
migration runs Alembic's own command on a scratch data directory:

    PIXLAB_DATA_DIR=/tmp/scratch alembic -c pixlab/migrations/alembic.ini upgrade head
    PIXLAB_DATA_DIR=/tmp/scratch alembic -c pixlab/migrations/alembic.ini revision \\
        --autogenerate -m "what changes"

Migrations use batch mode, so that SQLite can alter a table (by copying it)
and PostgreSQL runs the same file as plain ALTER statements.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import context
from sqlalchemy.engine import Connection

from pixlab.db import Base, connect_engine, database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    data_dir = Path(os.environ.get("PIXLAB_DATA_DIR", "instance"))
    data_dir.mkdir(parents=True, exist_ok=True)
    return database_url(data_dir)  # PIXLAB_DATABASE_URL when set


given = context.config.attributes.get("connection")
if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=Base.metadata, render_as_batch=True,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif given is not None:
    _run(given)
else:
    engine = connect_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()
