"""Flask-Limiter's counters in PixLab's own database, for several processes on one PostgreSQL.

`RATELIMIT_STORAGE_URI = "pixlab://"` (the default when the database is
PostgreSQL): every process counts in the same rows, so an address gets its
limit once, whichever process it reaches. A fixed window per key: one atomic
INSERT … ON CONFLICT DO UPDATE per counted request, on both engines.
"""

from __future__ import annotations

import time
from typing import Any

from limits.storage import Storage
from sqlalchemy import Engine, Table, case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from pixlab.db import RateLimit, is_postgresql

SCHEME = "pixlab"
_TABLE: Table = RateLimit.__table__  # type: ignore[assignment]


def in_database_by_default(engine: Engine) -> bool:
    """Whether the throttles count in the database unless told otherwise (PostgreSQL)."""
    return is_postgresql(engine)


class DatabaseStorage(Storage):
    """The `limits` storage on the `rate_limits` table (fixed windows only)."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 **options: Any) -> None:
        super().__init__(uri, wrap_exceptions)
        engine = options.get("engine")
        if not isinstance(engine, Engine):
            raise ValueError("pixlab:// needs the lab's engine (RATELIMIT_STORAGE_OPTIONS)")
        self.engine = engine

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Count `amount` more in the key's window, starting a new window if it has expired."""
        now = time.time()
        insert = (postgresql_insert if self.engine.dialect.name == "postgresql"
                  else sqlite_insert)(_TABLE)
        expired = _TABLE.c.expires_at <= now
        upsert = insert.values(key=key, count=amount, expires_at=now + expiry)
        statement = upsert.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={"count": case((expired, amount), else_=_TABLE.c.count + amount),
                  "expires_at": case((expired, now + expiry), else_=_TABLE.c.expires_at)},
        ).returning(_TABLE.c.count)
        with self.engine.begin() as conn:
            return int(conn.execute(statement).scalar_one())

    def get(self, key: str) -> int:
        """The key's count in its current window (0 once it has expired)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_TABLE.c.count, _TABLE.c.expires_at)
                               .where(_TABLE.c.key == key)).first()
        return int(row[0]) if row and row[1] > time.time() else 0

    def get_expiry(self, key: str) -> float:
        """When the key's window ends (now when it has none)."""
        with self.engine.connect() as conn:
            ends = conn.execute(select(_TABLE.c.expires_at)
                                .where(_TABLE.c.key == key)).scalar()
        return float(ends) if ends is not None and ends > time.time() else time.time()

    def check(self) -> bool:
        """Whether the database answers."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        """Forget every counter; how many there were."""
        with self.engine.begin() as conn:
            return int(conn.execute(delete(_TABLE)).rowcount or 0)

    def clear(self, key: str) -> None:
        """Forget one key's counter."""
        with self.engine.begin() as conn:
            conn.execute(delete(_TABLE).where(_TABLE.c.key == key))
