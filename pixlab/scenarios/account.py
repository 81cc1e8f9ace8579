"""The learner's account as its provider's pages act on it: a new password, app passwords, logins.

The IT service's reset page and the account's own page change the account in
the lab for real: a new password cuts every session logged in with the old
one and revokes the application passwords; the list of last connections is
read from the lab's event log. `ScenarioEngine` gets these methods from
`AccountPages`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from pixlab.db import EventRow
from pixlab.lab.runner import Lab
from pixlab.scenarios.attempt import Attempt
from pixlab.scenarios.intruder import Intruders
from pixlab.scenarios.progress import AttemptRecord, AttemptStore
from pixlab.scenarios.schema import INTRUDER_DEVICE, Scenario

_WORDS = ("Cartable", "Trousse", "Compas", "Cahier", "Classeur", "Agenda", "Crayon", "Gomme")
_TAIL = "abcdefghjkmnpqrstuvwxyz23456789"
RECENT_LOGINS = 10


def new_password() -> str:
    """A lab password easy to copy from a sheet: "Trousse-k7qm4x"."""
    return secrets.choice(_WORDS) + "-" + "".join(secrets.choice(_TAIL) for _ in range(6))


@dataclass(frozen=True)
class Login:
    """One connection that logged in to the account, as its page lists it."""

    at: float
    protocol: str  # "imap", "pop3" or "smtp"
    listener: str
    peer: str  # the address it came from
    encrypted: bool
    device: str | None  # the learner's device, INTRUDER_DEVICE, or None (a program elsewhere)


class AccountPages:
    """The reset page, the account's page and the stranger, for `ScenarioEngine`."""

    lab: Lab
    attempts: AttemptStore
    intruders: Intruders

    if TYPE_CHECKING:
        def _record(self, attempt_id: int) -> AttemptRecord: ...
        def scenario(self, slug: str) -> Scenario: ...
        def get(self, attempt_id: int) -> Attempt: ...

    def reset_password(self, attempt_id: int) -> Attempt:
        """A new password for the account, as the reset page and the account's page give one.

        The account is unlocked, its application passwords revoked, and every session
        logged in with the old password cut. A stranger who had the old one tries it again.
        """
        password = new_password()
        record = self._record(attempt_id)
        old, address = record.password, record.address
        self.lab.store.create_account(address, password)
        self.lab.lockouts.unlock(address)
        self.lab.app_passwords.revoke_all(address)
        self.lab.end_sessions(address)
        scenario = self.scenario(record.slug)
        follow = (self.intruders.try_again(address, old, scenario.lab.domains[0].lower())
                  if scenario.lab.intruder and record.playing else [])

        def change(record: AttemptRecord) -> None:
            record.password = password
            for connection_id in follow:
                record.state.connections.setdefault(connection_id, [INTRUDER_DEVICE, 0, False])

        self.attempts.update(attempt_id, change)
        return self.get(attempt_id)

    def stranger_arrives(self, attempt_id: int) -> None:
        """The scenario's stranger logs in with the learner's password, and stays."""
        record = self._record(attempt_id)
        scenario = self.scenario(record.slug)
        if not scenario.lab.intruder:
            self.intruders.leave(record.address)
            return
        follow = self.intruders.arrive(record.address, record.password,
                                       scenario.lab.domains[0].lower())

        def change(record: AttemptRecord) -> None:
            for connection_id in follow:
                record.state.connections.setdefault(connection_id, [INTRUDER_DEVICE, 0, False])

        self.attempts.update(attempt_id, change)

    def create_app_password(self, attempt_id: int, label: str) -> str:
        """What the account's page does: a new application password, returned to show once.

        Raises:
            ValueError: the scenario's account has no two-step verification, or it has ended.
        """
        record = self._record(attempt_id)
        if not self.scenario(record.slug).lab.two_step or not record.playing:
            raise ValueError("this account has no application passwords to make")
        return self.lab.app_passwords.create(record.address, label)

    def app_passwords(self, attempt_id: int) -> list[tuple[str, float]]:
        """The programs the account's application passwords were made for, and when."""
        return self.lab.app_passwords.labels(self._record(attempt_id).address)

    def recent_logins(self, attempt_id: int) -> list[Login]:
        """The last connections that logged in to the account during the attempt, newest first.

        Read from the lab's event log: each login, and where its connection came from.
        """
        record = self._record(attempt_id)
        self.lab.events.flush()
        with self.lab.engine.connect() as conn:
            logins = conn.execute(
                select(EventRow.connection_id, EventRow.at, EventRow.listener, EventRow.tls)
                .where(EventRow.account == record.address.lower(),
                       EventRow.kind == "auth.succeeded", EventRow.at >= record.started_at)
                .order_by(EventRow.id.desc()).limit(RECENT_LOGINS)
            ).all()
            ids = [row.connection_id for row in logins if row.connection_id]
            opened = dict(conn.execute(
                select(EventRow.connection_id, EventRow.data)
                .where(EventRow.connection_id.in_(ids), EventRow.kind == "connection.opened")
            ).all()) if ids else {}
        result = []
        for row in logins:
            peer = str(json.loads(opened.get(row.connection_id) or "{}").get("peer", "?"))
            device = record.state.connections.get(row.connection_id or "", [None])[0]
            listener = row.listener or ""
            protocol = ("smtp" if listener in ("smtp", "submission", "smtps")
                        else "pop3" if listener.startswith("pop3") else "imap")
            result.append(Login(row.at, protocol, listener, peer.rpartition(":")[0] or peer,
                                bool(row.tls), device))
        return result
