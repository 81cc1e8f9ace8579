"""A scenario's messages: the mailbox it starts with, and arrivals by port 25 or straight in.

Delivering by SMTP makes the lab behave as for any server outside the school:
the message gets its Received: line, the quota applies, and the events are
recorded on a connection the attempt then follows.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import secrets
import smtplib
import socket
import time

from pixlab.lab.runner import Lab
from pixlab.lab.store import DEFAULT_FOLDERS, MailStore, StoreError
from pixlab.lab.world import World
from pixlab.scenarios.schema import ArrivalSpec, Scenario, fill
from pixlab.scenarios.world import build_message, world_of

UNLIMITED_QUOTA = 2**31 - 1  # while seeding: a scenario may start with a mailbox over its quota
CONTACT_KEEPS = 200  # messages kept in a shared contact's inbox; older ones go

# -- the learner's mailbox, as the scenario starts it ----------------------------------


def reset_mailbox(
    store: MailStore, scenario: Scenario, values: dict[str, str], lang: str, now: float
) -> None:
    """The learner's mailbox as the scenario starts it: seeded, nothing else, its quota."""
    account = store.create_account(values["address"], values["password"], UNLIMITED_QUOTA)
    wanted = {name for name, _ in DEFAULT_FOLDERS} | set(scenario.lab.folders)
    for folder in store.folders(account.id):
        if folder.name in wanted:
            store.delete_messages(m.id for m in store.messages(folder.id))
        else:
            store.delete_folder(folder.id)
    existing = {f.name for f in store.folders(account.id)}
    special = dict(DEFAULT_FOLDERS)
    for name in [n for n, _ in DEFAULT_FOLDERS] + list(scenario.lab.folders):
        if name not in existing:
            store.create_folder(account.id, name, special.get(name))
            existing.add(name)
    seeds = scenario.lab.messages
    for n, message in enumerate(seeds):
        # Unless a date is given, the seed arrived over the last hours, oldest first.
        arrived = message.date or dt.datetime.fromtimestamp(
            now - (len(seeds) - n) * 1800, dt.UTC
        )
        raw = build_message(message, values, lang, arrived)
        store.append(account, message.folder, raw, {"\\Seen"} if message.seen else (),
                     internal_date=int(arrived.timestamp()))
    store.set_quota(account.id, scenario.lab.quota_kb * 1024)

def prepare_contacts(store: MailStore, scenario: Scenario) -> None:
    """Other people's addresses exist and have room; nobody ever logs into them."""
    for address in scenario.lab.contacts:
        account = store.account(address)
        if account is None:
            account = store.create_account(address, secrets.token_urlsafe(24))
        inbox = store.folder(account.id, "INBOX")
        if inbox is not None:
            messages = store.messages(inbox.id)
            if len(messages) > CONTACT_KEEPS:
                store.delete_messages(m.id for m in messages[: len(messages) - CONTACT_KEEPS])


# -- arrivals -----------------------------------------------------------------------------


class _DeliverySMTP(smtplib.SMTP):
    """smtplib on a socket already connected to the lab's port 25."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.sock = sock
        code, message = self.getreply()
        if code != 220:
            raise smtplib.SMTPConnectError(code, message)


class Delivery:
    """Delivers arrivals on a running lab; an SMTP conversation gives up after `timeout`."""

    def __init__(self, lab: Lab, timeout: float) -> None:
        self.lab = lab
        self.timeout = timeout

    def deliver(
        self, scenario: Scenario, arrival: ArrivalSpec, address: str, lang: str,
        values: dict[str, str], now: float,
    ) -> tuple[str | None, str | None]:
        """Deliver one arrival; returns (why it was refused or None, the SMTP connection's id).

        By SMTP on port 25, as a server outside the school would: the message gets
        its Received: line, the quota applies (a full mailbox refuses it, and the
        engine tries again later), and the lab records the events a trainer sees.
        `via = "store"` puts it straight into a folder, for what SMTP cannot do.
        """
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        raw = build_message(arrival, values, lang, when)
        if arrival.via == "store":
            account = self.lab.store.account(address)
            if account is None:
                return "no such account", None
            try:
                self.lab.store.append(account, arrival.folder, raw)
            except StoreError as exc:
                return str(exc), None
            return None, None
        sender = email.utils.parseaddr(fill(arrival.sender or "", values))[1] or (
            f"postmaster@{values['domain']}"
        )
        return self._smtp(world_of(scenario.lab), sender, address, raw)

    def _smtp(
        self, world: World, sender: str, recipient: str, raw: bytes
    ) -> tuple[str | None, str | None]:
        info = self.lab.listener("smtp")
        host = "127.0.0.1" if info.host in ("0.0.0.0", "::") else info.host
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        why: str | None = None
        port: int | None = None
        try:
            sock.settimeout(self.timeout)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            # The lab must know this connection plays in the scenario's world before it
            # arrives, and that it is PixLab's own (a scenario's world is for those only).
            self.lab.enter_world(port, world)
            self.lab.tap.expect_own_client(port)
            try:
                sock.connect((host, info.port))
            except BaseException:
                self.lab.tap.forget_own_client(port)
                raise
            smtp = _DeliverySMTP(sock, self.timeout)
            try:
                smtp.ehlo("mx.expediteur.test")
                smtp.sendmail(sender, [recipient], raw)
            finally:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()
        except smtplib.SMTPRecipientsRefused as exc:
            code, refused = next(iter(exc.recipients.values()))
            why = f"{code} {refused.decode('utf-8', 'replace')}"
        except smtplib.SMTPResponseException as exc:
            reply = exc.smtp_error
            text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
            why = f"{exc.smtp_code} {text}"
        except (smtplib.SMTPException, OSError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        finally:
            sock.close()
        return why, self._connection_of(port) if port is not None else None

    def _connection_of(self, port: int) -> str | None:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            connection_id = self.lab.tap.connection_for_peer(port)
            if connection_id:
                return connection_id
            time.sleep(0.005)
        return None
