"""An account's own security, as real servers enforce it: two-step verification and app passwords.

Driven by the unmodified stdlib clients over real TLS, as a mail program would.
"""

from __future__ import annotations

import contextlib
import imaplib
import poplib
import smtplib
import ssl
import time
from collections.abc import Callable, Iterator

import pytest
from conftest import ADDRESS, PASSWORD
from lab_clients import EventTrail, ResolvedPOP3_SSL, ResolvedSMTP_SSL, address

from pixlab.lab import replies as R
from pixlab.lab.runner import Lab
from pixlab.scenarios.engine import ScenarioEngine
from pixlab.scenarios.intruder import STRANGER_ADDRESS
from pixlab.scenarios.loader import load_catalogue, shipped_dir

pytestmark = pytest.mark.both_databases


@pytest.fixture
def trail(lab: Lab) -> Iterator[EventTrail]:
    events = EventTrail(lab)
    yield events
    events.close()


def imaps(lab: Lab, tls_context: ssl.SSLContext) -> imaplib.IMAP4_SSL:
    return imaplib.IMAP4_SSL("127.0.0.1", lab.listener("imaps").port, ssl_context=tls_context,
                             timeout=10)


def settle(trail: EventTrail, kind: str, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(trail.of(kind)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(trail.of(kind)) == count


def test_two_step_refuses_the_account_password_with_gmails_words_on_every_protocol(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail
) -> None:
    lab.app_passwords.set_two_step(ADDRESS, True)
    client = imaps(lab, tls_context)
    with pytest.raises(imaplib.IMAP4.error) as refused:
        client.login(ADDRESS, PASSWORD)
    assert R.IMAP_APP_PASSWORD_REQUIRED.removeprefix("NO ") in str(refused.value)
    client.shutdown()
    pop = ResolvedPOP3_SSL(address(lab, "pop3s"), "pop.lycee-exemple.test", tls_context)
    pop.user(ADDRESS)
    with pytest.raises(poplib.error_proto) as pop_refused:
        pop.pass_(PASSWORD)
    assert pop_refused.value.args[0].decode() == R.POP3_APP_PASSWORD_REQUIRED
    pop.close()
    with ResolvedSMTP_SSL(address(lab, "smtps"), "smtp.lycee-exemple.test", tls_context) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as smtp_refused:
            smtp.login(ADDRESS, PASSWORD)
    assert smtp_refused.value.smtp_code == 534
    text = smtp_refused.value.smtp_error.decode()
    assert text.startswith("5.7.9 Application-specific password required. For more information,"
                           " go to\n5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor")
    settle(trail, "auth.failed", 4)  # smtplib tries PLAIN, then LOGIN
    assert {e.data["reason"] for e in trail.of("auth.failed")} == {
        "application password required"}
    # A wrong password is still just wrong: the reply says nothing about two-step.
    client = imaps(lab, tls_context)
    with pytest.raises(imaplib.IMAP4.error) as wrong:
        client.login(ADDRESS, "pas-le-bon")
    assert "AUTHENTICATIONFAILED" in str(wrong.value)
    client.shutdown()


def test_an_app_password_opens_the_account_once_made_and_stops_when_the_password_changes(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail
) -> None:
    lab.app_passwords.set_two_step(ADDRESS, True)
    shown = lab.app_passwords.create(ADDRESS, "Thunderbird")
    assert len(shown) == 19 and shown.count(" ") == 3  # four groups of four letters
    assert lab.app_passwords.labels(ADDRESS)[0][0] == "Thunderbird"
    client = imaps(lab, tls_context)
    typ, _ = client.login(ADDRESS, shown.replace(" ", ""))  # spaces do not count
    assert typ == "OK"
    client.logout()
    with ResolvedSMTP_SSL(address(lab, "smtps"), "smtp.lycee-exemple.test", tls_context) as smtp:
        assert smtp.login(ADDRESS, shown)[0] == 235
    settle(trail, "auth.succeeded", 2)
    assert {(e.data.get("app_login"), e.data.get("app")) for e in trail.of("auth.succeeded")} \
        == {(True, "Thunderbird")}
    # A new password for the account revokes every application password.
    lab.store.create_account(ADDRESS, "Nouveau-2026")
    lab.app_passwords.revoke_all(ADDRESS)
    client = imaps(lab, tls_context)
    with pytest.raises(imaplib.IMAP4.error):
        client.login(ADDRESS, shown)
    client.shutdown()


def test_two_step_is_one_accounts_and_switches_off(lab: Lab, tls_context: ssl.SSLContext) -> None:
    other = "voisin@lycee-exemple.test"
    lab.store.create_account(other, "Voisin-2026")
    lab.app_passwords.set_two_step(ADDRESS, True)
    client = imaps(lab, tls_context)
    assert client.login(other, "Voisin-2026")[0] == "OK"  # another account is not touched
    client.logout()
    lab.app_passwords.set_two_step(ADDRESS, False)
    client = imaps(lab, tls_context)
    assert client.login(ADDRESS, PASSWORD)[0] == "OK"
    client.logout()
    with pytest.raises(KeyError):
        lab.app_passwords.create(ADDRESS, "Thunderbird")


def test_a_new_password_cuts_the_accounts_sessions_and_only_them(
    lab: Lab, tls_context: ssl.SSLContext, trail: EventTrail
) -> None:
    other = "voisin@lycee-exemple.test"
    lab.store.create_account(other, "Voisin-2026")
    mine, theirs = imaps(lab, tls_context), imaps(lab, tls_context)
    mine.login(ADDRESS, PASSWORD)
    theirs.login(other, "Voisin-2026")
    lab.store.create_account(ADDRESS, "Nouveau-2026")
    assert lab.end_sessions(ADDRESS) == 1
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        mine.noop()
    with contextlib.suppress(OSError):
        mine.shutdown()
    assert theirs.noop()[0] == "OK"  # another account's session goes on
    theirs.logout()
    settle(trail, "session.ended", 1)
    assert trail.of("session.ended")[0].data == {"reason": "password changed",
                                                 "peer": "127.0.0.1"}


def test_the_stranger_is_a_real_client_from_another_address_and_is_locked_out(
    make_lab: Callable[..., Lab],
) -> None:
    lab = make_lab()
    catalogue = load_catalogue([shipped_dir()])
    engine = ScenarioEngine(lab, catalogue, client_timeout=2.0)
    attempt = engine.start("curieux-12", "qui-s-est-connecte")
    logins = engine.recent_logins(attempt.id)
    assert [(x.protocol, x.listener, x.peer, x.encrypted, x.device) for x in logins] == [
        ("imap", "imaps", STRANGER_ADDRESS, True, "inconnu")]
    opened = [e for e in lab.events.of_kinds(("connection.opened",), attempt.started_at)
              if e.data["peer"].startswith(STRANGER_ADDRESS + ":")]
    assert opened and opened[0].data["program"] is True  # not PixLab's own client
    engine.reset_password(attempt.id)
    attempt = engine.refresh(attempt.id).attempt
    assert set(attempt.met) == {"inconnu-coupe", "inconnu-refuse"}
    refused = [e for e in lab.events.of_kinds(("auth.failed",), attempt.started_at)
               if e.connection_id in attempt.proofs["inconnu-refuse"]["connection_id"]]
    assert refused and refused[0].data["reason"] == "wrong user name or password"
    assert attempt.address not in engine.intruders  # its retry failed: it is gone
    engine.intruders.close()
