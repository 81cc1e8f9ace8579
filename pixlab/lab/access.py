"""Who may log in, and how fast: refused logins, lock-outs, connection limits, failure delays.

The protocol servers ask `Lab.log_in`, which uses these; none of them needs the
runner, so the runner can import the servers and not the other way round.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter, OrderedDict
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Table, bindparam, delete, insert, select, update

from pixlab.db import Account, AppPassword, DriverStatement
from pixlab.lab.config import LabConfig
from pixlab.lab.passwords import RecentLogins, hash_password
from pixlab.lab.store import normalise_address

_ACCOUNTS: Table = Account.__table__  # type: ignore[assignment]
_READ_FAILURES = DriverStatement(
    select(_ACCOUNTS.c.failed_logins).where(_ACCOUNTS.c.address == bindparam("b_address"))
)
_APP: Table = AppPassword.__table__  # type: ignore[assignment]
# A two-step account's application passwords, at each login with one (oldest first).
_READ_APP_PASSWORDS = DriverStatement(
    select(_APP.c.label, _APP.c.password_hash).join(_ACCOUNTS)
    .where(_ACCOUNTS.c.address == bindparam("b_address")).order_by(_APP.c.id)
)

if TYPE_CHECKING:
    from pixlab.lab.tap import Connection


class LoginRefused(Exception):
    """A login the lab said no to; `reason` is "credentials", "locked", "busy" or "app_password".

    `delay` is how many seconds the server waits before it answers (see `FailureDelays`).
    """

    def __init__(self, reason: str, delay: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay

    async def wait(self) -> None:
        """Hold this connection's answer for the delay; the loop serves the others meanwhile."""
        if self.delay > 0:
            await asyncio.sleep(self.delay)


class ConnectionLimits:
    """Counts open connections per peer and per account, and says no past the limits."""

    def __init__(self, config: LabConfig) -> None:
        self.config = config
        self._per_peer: Counter[str] = Counter()
        self._per_account: Counter[str] = Counter()
        self._claimed: dict[Connection, str] = {}

    def admit(self, conn: Connection) -> str | None:
        """Count a new connection; returns why it is refused, or None."""
        if self._per_peer[conn.peer[0]] >= self.config.max_connections_per_peer:
            return "too many connections from this address"
        self._per_peer[conn.peer[0]] += 1
        return None

    def claim_account(self, conn: Connection, address: str) -> bool:
        """Count a logged-in connection for an account; False when it has too many."""
        if self._per_account[address] >= self.config.max_connections_per_account:
            return False
        self._per_account[address] += 1
        self._claimed[conn] = address
        return True

    def release(self, conn: Connection) -> None:
        """Forget a closed connection."""
        self._per_peer[conn.peer[0]] -= 1
        if self._per_peer[conn.peer[0]] <= 0:
            del self._per_peer[conn.peer[0]]
        address = self._claimed.pop(conn, None)
        if address is not None:
            self._per_account[address] -= 1
            if self._per_account[address] <= 0:
                del self._per_account[address]


class Lockouts:
    """Failed logins per account, for the worlds that lock an account after too many.

    The count is a column of the account's row, so that every process sharing
    the database locks the account after the same failures (a learner whose
    tests go through two processes behind a proxy meets one lock-out, not
    two). Only real accounts are counted: a made-up name changes no row. A
    world that never locks counts nothing, and so costs no write.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def is_locked(self, address: str, limit: int) -> bool:
        """Whether logins to this address are refused until an unlock (limit 0: never)."""
        if limit <= 0:
            return False
        rows = _READ_FAILURES.rows(self.engine, b_address=normalise_address(address))
        return bool(rows) and rows[0][0] >= limit

    def failed(self, address: str, limit: int = 1) -> None:
        """Count one more failed login, in a world that locks after `limit` (0: none counted)."""
        if limit > 0:
            self._set(address, _ACCOUNTS.c.failed_logins + 1)

    def succeeded(self, address: str, limit: int = 1) -> None:
        """A good login clears the count (in a world that locks; the others never raised it)."""
        if limit > 0:
            self.unlock(address)

    def unlock(self, address: str) -> None:
        """What the IT service's reset page does."""
        self._set(address, 0, only_if_counted=True)

    def _set(self, address: str, value: Any, only_if_counted: bool = False) -> None:
        where = [_ACCOUNTS.c.address == normalise_address(address)]
        if only_if_counted:
            where.append(_ACCOUNTS.c.failed_logins != 0)
        with self.engine.begin() as conn:  # one atomic UPDATE: processes never lose a count
            conn.execute(update(_ACCOUNTS).where(*where).values(failed_logins=value))


class FailureDelays:
    """Dovecot's answer to password guessing: each failed login waits longer before its reply.

    Failures are counted per peer address and per account name (made-up names
    included, so that the delay says nothing about which accounts exist). A
    failure's reply waits `base * 2**(n-1)` seconds, at most `maximum`, where n
    is the larger of the two counts: Dovecot's auth_failure_delay of 2 s doubles
    up to 15 s the same way (its auth-penalty.c). A good login clears both
    counts. The table keeps the `MAX_TRACKED` most recent keys, so a flood of
    addresses or names cannot grow memory; a key quiet for `FORGET_AFTER`
    seconds starts again from nothing.

    PixLab's own client is never delayed: lessons make it type wrong
    passwords on purpose. Every other peer is, a program on the laptop included.
    """

    MAX_TRACKED = 10_000
    FORGET_AFTER = 3600.0

    def __init__(self, base: float, maximum: float) -> None:
        self.base = base
        self.maximum = maximum
        # key -> (consecutive failures, time of the last one), least recent first.
        self._failures: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()

    def failed(self, peer: str, account: str) -> float:
        """Count a failed login from `peer` for `account`; returns the delay its reply waits."""
        now = time.monotonic()
        worst = 0
        for key in (("peer", peer), ("account", account)):
            count = self._count(key, now) + 1
            self._failures[key] = (count, now)
            self._failures.move_to_end(key)
            worst = max(worst, count)
        while len(self._failures) > self.MAX_TRACKED:
            self._failures.popitem(last=False)
        return self.delay_after(worst)

    def succeeded(self, peer: str, account: str) -> None:
        """A good login: the next failure from this peer or for this account starts over."""
        self._failures.pop(("peer", peer), None)
        self._failures.pop(("account", account), None)

    def delay_after(self, failures: int) -> float:
        """The wait after this many consecutive failures (none after none)."""
        if failures <= 0 or self.base <= 0:
            return 0.0
        return min(self.base * 2 ** min(failures - 1, 32), self.maximum)

    def __len__(self) -> int:
        return len(self._failures)

    def _count(self, key: tuple[str, str], now: float) -> int:
        count, at = self._failures.get(key, (0, now))
        return 0 if now - at > self.FORGET_AFTER else count


class AppPasswords:
    """Two-step verification on some accounts, and the application passwords made for them.

    An account with two-step verification refuses its own password to a mail
    program: the program must give an application password, made on the
    account's web page, as Google's and Microsoft's accounts do. Each is
    kept as a salted hash and shown once, when it is made; changing the
    account's password revokes them all (Google does the same).

    Both live in the database (`accounts.two_step`, the `app_passwords` table),
    so every process sharing it gives the same answer: a password made through
    one works through all. A scenario switches two-step on for one learner's
    account at the start of each attempt.
    """

    LETTERS = "abcdefghijklmnopqrstuvwxyz"
    MAX_PER_ACCOUNT = 20

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # A mail program logs in again and again with the same application password.
        self._recent = RecentLogins()

    def set_two_step(self, address: str, on: bool) -> None:
        """Switch two-step verification on (with no application password yet) or off."""
        with self.engine.begin() as conn:
            account_id = conn.execute(
                update(_ACCOUNTS).where(_ACCOUNTS.c.address == normalise_address(address))
                .values(two_step=on).returning(_ACCOUNTS.c.id)).scalar()
            if account_id is not None:
                conn.execute(delete(_APP).where(_APP.c.account_id == account_id))

    def create(self, address: str, label: str) -> str:
        """A new application password for a program, as shown once: four groups of four letters.

        The account keeps its `MAX_PER_ACCOUNT` most recent ones.

        Raises:
            KeyError: the account has no two-step verification.
        """
        password = "".join(secrets.choice(self.LETTERS) for _ in range(16))
        stored = hash_password(password)
        with self.engine.begin() as conn:
            account_id = conn.execute(select(_ACCOUNTS.c.id).where(
                _ACCOUNTS.c.address == normalise_address(address), _ACCOUNTS.c.two_step)
            ).scalar()
            if account_id is None:
                raise KeyError(address)
            conn.execute(insert(_APP).values(account_id=account_id,
                                             label=label.strip()[:60] or "?",
                                             password_hash=stored, created_at=time.time()))
            newest = (select(_APP.c.id).where(_APP.c.account_id == account_id)
                      .order_by(_APP.c.id.desc()).limit(self.MAX_PER_ACCOUNT))
            conn.execute(delete(_APP).where(_APP.c.account_id == account_id,
                                            _APP.c.id.not_in(newest.scalar_subquery())))
        return " ".join(password[i:i + 4] for i in range(0, 16, 4))

    def verify(self, address: str, password: str) -> str | None:
        """The label of the application password given (spaces ignored), or None."""
        typed = password.replace(" ", "").lower()
        if len(typed) != 16:
            return None
        for label, stored in _READ_APP_PASSWORDS.rows(self.engine,
                                                      b_address=normalise_address(address)):
            if self._recent.verify(typed, stored):
                return str(label)
        return None

    def labels(self, address: str) -> list[tuple[str, float]]:
        """The programs an application password was made for, and when (never the passwords)."""
        with self.engine.connect() as conn:
            return [(row.label, row.created_at) for row in conn.execute(
                select(_APP.c.label, _APP.c.created_at).join(_ACCOUNTS)
                .where(_ACCOUNTS.c.address == normalise_address(address))
                .order_by(_APP.c.id))]

    def revoke_all(self, address: str) -> None:
        """The account's password changed: every application password stops working."""
        account = select(_ACCOUNTS.c.id).where(_ACCOUNTS.c.address == normalise_address(address))
        with self.engine.begin() as conn:
            conn.execute(delete(_APP).where(_APP.c.account_id.in_(account.scalar_subquery())))
