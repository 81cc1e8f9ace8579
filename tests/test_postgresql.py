"""Two labs on one PostgreSQL database, as two `pixlab serve` processes behind a proxy are:
each with its own engine, pool, loop and change listener. Mail delivered through one wakes
an IMAP client of the other at once (LISTEN/NOTIFY), and concurrent deliveries, expunges
and POP3 deletions keep UIDs strictly increasing, with no message lost or doubled."""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import ADDRESS, PASSWORD
from sqlalchemy import select
from test_imap import Wire, idle_until, text_message

from pixlab.db import EventRow
from pixlab.lab.runner import Lab

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SENDER = "prof@lycee-exemple.test"


@pytest.fixture
def labs(make_lab: Callable[..., Lab]) -> tuple[Lab, Lab]:
    """Lab A and lab B on the same database, the learner's account made through A."""
    first = make_lab(allow_cleartext=True)
    first.store.create_account(ADDRESS, PASSWORD)
    return first, make_lab(allow_cleartext=True)


def imap_on(lab: Lab) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", lab.listener("imap").port, timeout=10)
    client.login(ADDRESS, PASSWORD)
    return client


def subjects(client: imaplib.IMAP4) -> dict[int, str]:
    """Every message of the selected mailbox: UID → subject."""
    typ, data = client.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    if typ == "NO":
        # RFC 2180 section 4.1.3: another session expunged one of them; a NOOP tells us which.
        client.noop()
        typ, data = client.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK", data
    found = {}
    for item in data:
        if isinstance(item, tuple):
            uid = int(re.search(rb"UID (\d+)", item[0])[1])  # type: ignore[index]
            found[uid] = item[1].decode().strip().removeprefix("Subject: ")
    return found


def test_smtp_through_one_lab_wakes_idle_on_the_other(
    labs: tuple[Lab, Lab], tls_context: ssl.SSLContext
) -> None:
    first, second = labs
    wire = Wire.imaps(second, tls_context)
    try:
        wire.command("a", f'LOGIN "{ADDRESS}" "{PASSWORD}"')
        wire.command("b", "SELECT INBOX")
        wire.send("c IDLE\r\n")
        assert wire.line() == b"+ idling\r\n"
        with smtplib.SMTP("127.0.0.1", first.listener("smtp").port, timeout=5) as smtp:
            smtp.sendmail(SENDER, [ADDRESS], text_message("Par le labo A"))
        # No polling anywhere: only the NOTIFY can wake B's session this fast.
        idle_until(wire, rb"^\* 1 EXISTS\r\n$", timeout=2.0)
        wire.send("DONE\r\n")
        assert wire.until("c")[-1] == b"c OK Idle completed.\r\n"
        lines = wire.command("d", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert b"Subject: Par le labo A\r\n" in lines[0]
    finally:
        wire.close()


def test_failed_logins_through_both_labs_lock_the_account_on_both(
    make_lab: Callable[..., Lab],
) -> None:
    first = make_lab(allow_cleartext=True, lockout_after=3)
    first.store.create_account(ADDRESS, PASSWORD)
    second = make_lab(allow_cleartext=True, lockout_after=3)

    def login(lab: Lab, password: str) -> str:
        client = imaplib.IMAP4("127.0.0.1", lab.listener("imap").port, timeout=10)
        try:
            client.login(ADDRESS, password)
            client.logout()
            return "OK"
        except imaplib.IMAP4.error as refused:
            client.shutdown()
            return str(refused)

    for lab in (first, second, first):
        assert "AUTHENTICATIONFAILED" in login(lab, "mauvais")
    # Three failures in all, through two processes: locked everywhere, even with the password.
    assert "locked" in login(second, PASSWORD).lower()
    assert "locked" in login(first, PASSWORD).lower()
    second.lockouts.unlock(ADDRESS)  # the reset page, on either process
    assert login(first, PASSWORD) == "OK"


def test_two_step_switched_on_through_one_lab_holds_on_the_other(labs: tuple[Lab, Lab]) -> None:
    """A scenario's account page runs on A; the learner's phone reaches B."""
    first, second = labs
    first.app_passwords.set_two_step(ADDRESS, True)
    client = imaplib.IMAP4("127.0.0.1", second.listener("imap").port, timeout=10)
    with pytest.raises(imaplib.IMAP4.error, match="pplication"):
        client.login(ADDRESS, PASSWORD)  # B refuses the account's own password too
    client.shutdown()
    shown = first.app_passwords.create(ADDRESS, "Téléphone")
    client = imaplib.IMAP4("127.0.0.1", second.listener("imap").port, timeout=10)
    assert client.login(ADDRESS, shown)[0] == "OK"  # made through A, accepted by B
    client.logout()
    assert second.app_passwords.labels(ADDRESS)[0][0] == "Téléphone"
    second.app_passwords.revoke_all(ADDRESS)  # the password changes through B
    client = imaplib.IMAP4("127.0.0.1", first.listener("imap").port, timeout=10)
    with pytest.raises(imaplib.IMAP4.error):
        client.login(ADDRESS, shown)
    client.shutdown()


def test_a_new_password_through_one_lab_cuts_the_sessions_held_on_the_other(
    labs: tuple[Lab, Lab],
) -> None:
    first, second = labs
    other = "voisin@lycee-exemple.test"
    first.store.create_account(other, "Voisin-2026")
    mine, theirs = imap_on(second), imaplib.IMAP4("127.0.0.1", second.listener("imap").port,
                                                   timeout=10)
    theirs.login(other, "Voisin-2026")
    mine.select("INBOX")
    first.store.create_account(ADDRESS, "Nouveau-2026")  # the reset page, served by A
    assert first.end_sessions(ADDRESS) == 0  # A held none of them …
    deadline = time.monotonic() + 2.0
    with pytest.raises((imaplib.IMAP4.abort, OSError)):  # … B cuts its own at once
        while time.monotonic() < deadline:
            mine.noop()
            time.sleep(0.05)
    with contextlib.suppress(OSError):
        mine.shutdown()
    assert theirs.noop()[0] == "OK"  # another account's session goes on
    theirs.logout()
    second.events.flush()
    with second.engine.connect() as conn:
        ended = conn.execute(
            select(EventRow.data).where(EventRow.kind == "session.ended",
                                        EventRow.account == ADDRESS)).scalars().all()
    assert len(ended) == 1 and "password changed" in ended[0]


def test_noop_on_one_lab_sees_a_flag_and_an_expunge_made_through_the_other(
    labs: tuple[Lab, Lab],
) -> None:
    first, second = labs
    account = first.store.account(ADDRESS)
    assert account is not None
    first.store.append(account, "INBOX", text_message("un"))
    first.store.append(account, "INBOX", text_message("deux"))
    watcher, changer = imap_on(second), imap_on(first)
    try:
        watcher.select("INBOX")
        changer.select("INBOX")
        changer.uid("STORE", "1", "+FLAGS", "(\\Deleted)")
        changer.expunge()
        deadline = time.monotonic() + 2.0
        while True:
            typ, _ = watcher.noop()
            assert typ == "OK"
            expunged = watcher.response("EXPUNGE")[1]
            if expunged != [None] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert expunged == [b"1"]
        assert list(subjects(watcher).values()) == ["deux"]
    finally:
        for client in (watcher, changer):
            client.logout()


def test_two_labs_delivering_and_deleting_at_once_keep_every_message_once(
    labs: tuple[Lab, Lab],
) -> None:
    """Deliveries through both labs, an IMAP client expunging on A, a POP3 client deleting
    on B and an IMAP reader on B, all at once: UIDs only grow, nothing lost, nothing twice."""
    first, second = labs
    per_sender = 20
    sent = {f"{name}-{n}" for name in ("a", "b") for n in range(per_sender)}
    deleted: list[str] = []
    polls: list[list[int]] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def guard(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as error:  # reported by the test below
                errors.append(error)
        return run

    def deliver(lab: Lab, name: str) -> None:
        with smtplib.SMTP("127.0.0.1", lab.listener("smtp").port, timeout=10) as smtp:
            for n in range(per_sender):
                smtp.sendmail(SENDER, [ADDRESS], text_message(f"{name}-{n}"))

    def expunge_oldest() -> None:
        client = imap_on(first)
        client.select("INBOX")
        try:
            for _ in range(8):
                current = subjects(client)
                if current:
                    uid = min(current)
                    typ, data = client.uid("STORE", str(uid), "+FLAGS", "(\\Deleted)")
                    assert typ == "OK", data
                    typ, data = client.uid("EXPUNGE", str(uid))
                    assert typ == "OK", data
                    deleted.append(current[uid])  # gone now, whoever deleted it first
                time.sleep(0.02)
        finally:
            client.logout()

    def pop_delete_first() -> None:
        for _ in range(4):
            pop = poplib.POP3("127.0.0.1", second.listener("pop3").port, timeout=10)
            pop.user(ADDRESS)
            pop.pass_(PASSWORD)
            count, _ = pop.stat()
            subject = None
            try:
                if count:
                    text = b"\r\n".join(pop.top(1, 0)[1]).decode()
                    pop.dele(1)
                    subject = re.search(r"^Subject: (.*)$", text, re.M)[1]  # type: ignore[index]
            except poplib.error_proto as error:
                # Expunged through IMAP since this session listed it: said, not a crash.
                assert b"expunged by another session" in error.args[0]
            pop.quit()  # the deletion happens here (RFC 1939 section 6)
            if subject is not None:
                deleted.append(subject.strip())
            time.sleep(0.03)

    def read_uids() -> None:
        client = imap_on(second)
        client.select("INBOX", readonly=True)
        try:
            while not done.is_set():
                client.noop()
                typ, data = client.uid("SEARCH", "ALL")
                polls.append([int(u) for u in data[0].split()])
                time.sleep(0.01)
        finally:
            client.logout()

    workers = [threading.Thread(target=guard(w)) for w in (
        lambda: deliver(first, "a"), lambda: deliver(second, "b"), expunge_oldest,
        pop_delete_first)]
    reader = threading.Thread(target=guard(read_uids))
    reader.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    done.set()
    reader.join(10)
    assert errors == []

    client = imap_on(second)
    try:
        client.select("INBOX")
        remaining = subjects(client)
    finally:
        client.logout()
    kept = list(remaining.values())
    assert len(kept) == len(set(kept))  # nothing doubled …
    assert set(kept) | set(deleted) == sent  # … nothing lost …
    assert not set(kept) & set(deleted)  # … and what was deleted is gone
    assert len(set(deleted)) >= 4  # the deleters did delete (some the same message)
    # A UID is never given twice, and a reader never sees a smaller new UID after a larger
    # one: whatever appeared later had a larger UID than all it had seen before.
    uids = sorted(remaining)
    assert len(set(uids)) == len(uids)
    seen: set[int] = set()
    for poll in polls:
        new = set(poll) - seen
        assert not new or not seen or min(new) > max(seen), (sorted(seen), poll)
        seen |= new
    assert len(polls) > 5 and seen
    account = second.store.account(ADDRESS)
    assert account is not None
    inbox = second.store.folder(account.id, "INBOX")
    assert inbox is not None and inbox.uidnext == len(sent) + 1


def test_one_process_at_a_time_runs_the_retention_purge(labs: tuple[Lab, Lab]) -> None:
    from pixlab.db import one_process_at_a_time
    from pixlab.workshops.retention import PURGE_LOCK

    first, second = labs
    with one_process_at_a_time(first.engine, PURGE_LOCK) as mine:
        assert mine
        with one_process_at_a_time(second.engine, PURGE_LOCK) as theirs:
            assert not theirs  # the other process skips this round
    with one_process_at_a_time(second.engine, PURGE_LOCK) as theirs:
        assert theirs  # and takes the next one


def test_processes_starting_together_on_an_empty_database_migrate_it_once(
    postgresql_server: Any, database_url: str
) -> None:
    from pixlab.db import current_revision, make_engine

    name, url = postgresql_server.new_database(template="template0")
    engines: list[Any] = []
    failures: list[BaseException] = []

    def start() -> None:
        try:
            engines.append(make_engine(url))  # what each `pixlab serve` does first
        except BaseException as error:  # reported below
            failures.append(error)

    try:
        threads = [threading.Thread(target=start) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        assert len({current_revision(engine) for engine in engines}) == 1
    finally:
        for engine in engines:
            engine.dispose()
        postgresql_server.drop_database(name)


def test_a_throttle_counts_once_across_two_processes(labs: tuple[Lab, Lab]) -> None:
    """On PostgreSQL the throttles count in the database (each process has its own Limiter
    and its own storage object): one fixed window per address, whichever process counts."""
    from limits import RateLimitItemPerMinute
    from limits.strategies import FixedWindowRateLimiter

    from pixlab.workshops.throttles import DatabaseStorage

    limiters = [FixedWindowRateLimiter(DatabaseStorage("pixlab://", engine=lab.engine))
                for lab in labs]
    three = RateLimitItemPerMinute(3)
    allowed = [limiters[n % 2].hit(three, "RATELIMIT_RESUME", "127.0.1.7") for n in range(4)]
    assert allowed == [True, True, True, False]
    assert limiters[1].hit(three, "RATELIMIT_RESUME", "127.0.1.8")  # another address
    stats = limiters[0].get_window_stats(three, "RATELIMIT_RESUME", "127.0.1.7")
    assert stats.remaining == 0 and stats.reset_time > time.time()
