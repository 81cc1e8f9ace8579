"""A network peer's failed logins wait longer each time (as Dovecot's); PixLab's client never waits.

Real stdlib clients over TCP on loopback (a program on the laptop itself),
against a lab whose delay schedule is short: 0.1 s doubling up to 0.8 s.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from conftest import ADDRESS, DOMAIN, PASSWORD

from pixlab.client.client import MailClient
from pixlab.client.settings import AccountSettings, Auth, Security, ServerSettings
from pixlab.lab.access import FailureDelays
from pixlab.lab.config import LabConfig
from pixlab.lab.runner import Lab

BASE, MAXIMUM = 0.1, 0.8
WRONG = "Mauvais-Secret-99"


@pytest.fixture
def slow_lab(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    lab = make_lab(auth_failure_delay=BASE, auth_failure_delay_max=MAXIMUM)
    lab.store.create_account(ADDRESS, PASSWORD)
    return lab


def context_of(lab: Lab) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(lab.ca.ca_path))


def imap_login(lab: Lab, password: str) -> bool:
    client = imaplib.IMAP4_SSL(
        "127.0.0.1", lab.listener("imaps").port, ssl_context=context_of(lab), timeout=10
    )
    try:
        client.login(ADDRESS, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        client.shutdown()
    return True


def pop3_login(lab: Lab, password: str) -> bool:
    client = poplib.POP3_SSL("127.0.0.1", lab.listener("pop3s").port, context=context_of(lab),
                             timeout=10)
    try:
        client.user(ADDRESS)
        client.pass_(password)
    except poplib.error_proto:
        return False
    finally:
        client.close()
    return True


def smtp_login(lab: Lab, password: str, source: str = "127.0.0.1") -> bool:
    with smtplib.SMTP_SSL("127.0.0.1", lab.listener("smtps").port, context=context_of(lab),
                          timeout=10, source_address=(source, 0)) as client:
        client.ehlo()
        client.user, client.password = ADDRESS, password
        try:
            # One mechanism: login() would try PLAIN then LOGIN, two failures at once.
            client.auth("PLAIN", client.auth_plain)
        except smtplib.SMTPAuthenticationError:
            return False
    return True


Login = Callable[..., bool]


def timed(login: Login, lab: Lab, password: str, **options: str) -> tuple[bool, float]:
    started = time.monotonic()
    accepted = login(lab, password, **options)
    return accepted, time.monotonic() - started


@pytest.mark.parametrize("login", [imap_login, pop3_login, smtp_login],
                         ids=["imap", "pop3", "smtp"])
def test_the_delay_grows_with_each_failure_and_a_good_password_resets_it(
    slow_lab: Lab, login: Login
) -> None:
    quick = timed(login, slow_lab, PASSWORD)
    waits = [timed(login, slow_lab, WRONG) for _ in range(3)]
    assert [accepted for accepted, _ in waits] == [False, False, False]
    # 0.1 s, 0.2 s, 0.4 s: each failure waits at least its step, and longer than the one before.
    for (_, seconds), step in zip(waits, (BASE, 2 * BASE, 4 * BASE), strict=True):
        assert seconds >= step, [round(s, 3) for _, s in waits]
    assert waits[0][1] < waits[1][1] < waits[2][1], [round(s, 3) for _, s in waits]

    # The right password is still accepted, and the count starts again from nothing.
    accepted, _ = timed(login, slow_lab, PASSWORD)
    assert accepted and quick[0]
    accepted, seconds = timed(login, slow_lab, WRONG)
    assert not accepted
    assert BASE <= seconds < 8 * BASE  # the next step without the reset would be 0.8 s


def test_the_count_follows_the_account_across_addresses(slow_lab: Lab) -> None:
    # Two failures from 127.0.0.1, then one from 127.0.0.2 for the same account:
    # a classmate changing machines does not start again from the first step.
    for _ in range(2):
        timed(smtp_login, slow_lab, WRONG, source="127.0.0.1")
    accepted, seconds = timed(smtp_login, slow_lab, WRONG, source="127.0.0.2")
    assert not accepted and seconds >= 4 * BASE
    assert slow_lab.failure_delays.delay_after(3) == 4 * BASE


def test_a_waiting_reply_does_not_hold_up_other_connections(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(auth_failure_delay=1.5, auth_failure_delay_max=1.5)
    lab.store.create_account(ADDRESS, PASSWORD)
    waiting = threading.Thread(target=imap_login, args=(lab, WRONG))
    waiting.start()
    try:
        time.sleep(0.2)  # the wrong login is now waiting for its reply
        assert waiting.is_alive()
        other = imaplib.IMAP4_SSL(
            "127.0.0.1", lab.listener("imaps").port, ssl_context=context_of(lab), timeout=10
        )
        started = time.monotonic()
        other.noop()
        assert time.monotonic() - started < 1.0  # answered while the other one waits
        other.logout()
        assert waiting.is_alive()
    finally:
        waiting.join()


def test_pixlab_own_client_is_never_delayed(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(auth_failure_delay=5.0, auth_failure_delay_max=15.0)
    lab.store.create_account(ADDRESS, PASSWORD)
    imaps = ServerSettings("imap", f"imap.{DOMAIN}", 993, Security.TLS, Auth.NORMAL, ADDRESS)
    smtps = ServerSettings("smtp", f"smtp.{DOMAIN}", 465, Security.TLS, Auth.NORMAL, ADDRESS)
    wrong = replace(AccountSettings(ADDRESS, imaps, smtps, PASSWORD), password=WRONG)
    failed: list[str] = []
    lab.events.subscribe(lambda event: failed.append(event.kind))
    started = time.monotonic()
    for _ in range(3):
        trace = MailClient(lab, wrong).test_incoming()
        assert trace.error is not None and trace.error.key == "wrong_credentials"
        trace = MailClient(lab, wrong).test_outgoing()
        assert trace.error is not None and trace.error.key == "wrong_credentials"
    assert time.monotonic() - started < 5.0  # one network peer's first failure would wait 5 s
    assert len(lab.failure_delays) == 0  # and its failures were not even counted
    # Recorded as usual (smtplib's login tries PLAIN, then LOGIN: one or two a sending).
    assert failed.count("auth.failed") >= 6


def test_the_default_schedule_is_dovecots() -> None:
    config = LabConfig()
    delays = FailureDelays(config.auth_failure_delay, config.auth_failure_delay_max)
    assert [delays.delay_after(n) for n in range(6)] == [0.0, 2.0, 4.0, 8.0, 15.0, 15.0]


def test_the_table_of_failures_is_bounded_and_forgets() -> None:
    delays = FailureDelays(0.5, 4.0)
    delays.MAX_TRACKED = 100
    for n in range(1000):
        delays.failed(f"10.0.{n // 250}.{n % 250}", f"nobody{n}@{DOMAIN}")
    assert len(delays) == 100
    # The most recent keys are kept: the same peer and name again are a second failure.
    assert delays.failed("10.0.3.249", f"nobody999@{DOMAIN}") == 1.0
    delays.succeeded("10.0.3.249", f"nobody999@{DOMAIN}")
    assert delays.failed("10.0.3.249", f"nobody999@{DOMAIN}") == 0.5
    delays.FORGET_AFTER = 0.0
    time.sleep(0.01)
    assert delays.failed("10.0.3.249", f"nobody999@{DOMAIN}") == 0.5  # an hour of quiet
