"""The programs' behaviours against the real lab, and their real consequences.

A spy reads the password when a program goes on without encryption (iPhone's
"yes", "STARTTLS (si disponible)", Outlook's "Automatique"); a fake server's
certificate is accepted, and the password handed to it, when Thunderbird for
Android's "(si disponible)" choice does not check certificates.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from unittest.mock import ANY

import pytest
from conftest import ADDRESS, DOMAIN, PASSWORD
from flask import Flask
from flask_babel import Babel
from test_sandbox import Learner, lab_of, last_record, make_app  # noqa: F401 (fixture)

from pixlab.client.client import MailClient
from pixlab.client.programs import PROGRAMS, offers_ssl_fallback, ssl_fallback, with_program
from pixlab.client.settings import AccountSettings, Auth, Security, ServerSettings
from pixlab.client.spy import Credential, reveal
from pixlab.lab.certs import CertificateKind
from pixlab.lab.runner import Lab
from pixlab.web.program_messages import what_program_shows
from pixlab.web.traces import present, snapshot

SUBMISSION = ServerSettings("smtp", f"smtp.{DOMAIN}", 587, Security.STARTTLS, Auth.NORMAL,
                            ADDRESS)


def imap(port: int, security: Security) -> AccountSettings:
    server = ServerSettings("imap", f"imap.{DOMAIN}", port, security, Auth.NORMAL, ADDRESS)
    return AccountSettings(ADDRESS, server, SUBMISSION, PASSWORD)


def spy_reads_password(lab: Lab, connection_id: Any) -> bool:
    capture = lab.tap.capture(connection_id)
    assert capture is not None
    return Credential("password", PASSWORD, ANY) in reveal(capture.sent_by("client"))


# -- Thunderbird for Android: "SSL/TLS (si disponible)" accepts a fake server --------------


def test_accept_any_certificate_hands_the_password_to_a_server_the_lab_never_signed(
    make_lab,  # type: ignore[no-untyped-def]
) -> None:
    # imap.… is played by a fake server: its certificate is signed by itself.
    lab = make_lab(certificates={f"imap.{DOMAIN}": CertificateKind.SELF_SIGNED})
    lab.store.create_account(ADDRESS, PASSWORD)

    checked = MailClient(lab, imap(993, Security.TLS)).test_incoming()
    assert checked.error is not None and checked.error.key == "certificate_self_signed"

    trace = MailClient(lab, imap(993, Security.TLS_ANY_CERTIFICATE)).test_incoming()
    assert trace.ok, trace.error
    assert trace.warnings == ["certificate_not_checked"]
    tls = trace.step_named("tls")
    assert tls is not None
    assert tls.details["checked"] is False and tls.details["signed_by_lab"] is False
    assert tls.details["issuer"] == tls.details["subject"]  # signed by itself
    # The fake server got the password: it logged the learner in with it.
    assert trace.step_named("auth") is not None and trace.result["logged_in"]
    lab.events.flush()
    assert "auth.succeeded" in [e.kind for e in lab.events.for_account(ADDRESS)]


def test_accept_any_certificate_still_reads_the_labs_own_certificate_as_the_labs(
    lab: Lab,
) -> None:
    trace = MailClient(lab, imap(993, Security.TLS_ANY_CERTIFICATE)).test_incoming()
    assert trace.ok, trace.error
    tls = trace.step_named("tls")
    assert tls is not None and tls.details["signed_by_lab"] is True


# -- going on in clear: "STARTTLS (si disponible)" and Outlook's "Automatique" ---------------


@pytest.mark.parametrize("security", (Security.STARTTLS_ANY_CERTIFICATE, Security.AUTOMATIC))
def test_starttls_if_available_goes_on_in_clear_and_the_spy_reads_the_password(
    make_lab, security: Security,  # type: ignore[no-untyped-def]
) -> None:
    # A network where STARTTLS is not offered (stripped on the way, or never set up).
    lab = make_lab(starttls=False, allow_cleartext=True)
    lab.store.create_account(ADDRESS, PASSWORD)
    strict = MailClient(lab, imap(143, Security.STARTTLS)).test_incoming()
    assert strict.error is not None and strict.error.key == "starttls_not_offered"
    assert not spy_reads_password(lab, strict.connection_ids[0])

    trace = MailClient(lab, imap(143, security)).test_incoming()
    assert trace.ok, trace.error
    assert trace.warnings == ["cleartext_fallback"]
    assert trace.step_named("tls") is None
    assert spy_reads_password(lab, trace.connection_ids[0])


def test_automatique_uses_starttls_when_offered_and_still_checks_the_certificate(
    make_lab,  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(certificates={f"imap.{DOMAIN}": CertificateKind.SELF_SIGNED})
    lab.store.create_account(ADDRESS, PASSWORD)
    trace = MailClient(lab, imap(143, Security.AUTOMATIC)).test_incoming()
    assert trace.error is not None and trace.error.key == "certificate_self_signed"
    android = MailClient(lab, imap(143, Security.STARTTLS_ANY_CERTIFICATE)).test_incoming()
    assert android.ok and android.warnings == ["certificate_not_checked"]
    assert not spy_reads_password(lab, android.connection_ids[0])  # encrypted, to the fake


# -- iPhone: "go on without SSL?" ----------------------------------------------------------


def test_iphone_offers_to_go_on_without_ssl_and_yes_sends_the_password_in_clear(
    make_lab,  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(allow_cleartext=True)
    lab.store.create_account(ADDRESS, PASSWORD)
    iphone = PROGRAMS["iphone"]
    # SSL on port 143: the handshake fails, and iPhone asks.
    with_ssl = with_program(imap(143, Security.TLS), iphone)
    failed = MailClient(lab, with_ssl).test_incoming()
    assert failed.error is not None
    stored = snapshot(failed, lab, with_ssl, with_ssl.incoming, 3.0)
    assert offers_ssl_fallback(iphone, stored)
    assert not offers_ssl_fallback(PROGRAMS["thunderbird"], stored)
    # "Oui": SSL off, the port without encryption; iPhone never warns again.
    changes = ssl_fallback({"incoming.protocol": "imap"}, "incoming")
    assert changes == {"incoming.security": "none", "incoming.port": 143,
                       "accepted_cleartext": True}
    settings = imap(143, Security.NONE)
    trace = MailClient(lab, with_program(settings, iphone)).test_incoming()
    assert trace.ok, trace.error
    assert spy_reads_password(lab, trace.connection_ids[0])
    # Thunderbird, set up the same way, first asks "Je comprends les risques".
    refused = MailClient(lab, with_program(settings, PROGRAMS["thunderbird"])).test_incoming()
    assert refused.error is not None and refused.error.key == "cleartext_not_confirmed"


# -- the program's own message -------------------------------------------------------------


def test_android_shows_its_own_dialog_in_its_words(lab: Lab) -> None:
    wrong = replace(imap(993, Security.TLS), password="pas-le-bon")
    trace = snapshot(MailClient(lab, wrong).test_incoming(), lab, wrong, wrong.incoming, 3.0)
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        shown = what_program_shows(trace, "fr", "android")
        english = what_program_shows(trace, "en", "android")
    assert shown is not None and shown.program == "android"
    assert shown.title == "La configuration n'a pu terminer"
    assert shown.lines[0] == "Nom d'utilisateur ou mot de passe incorrect."
    assert shown.lines[1].startswith("(") and shown.buttons == ["Modifier les détails"]
    assert shown.sources[0].endswith("#account_setup_failed_dlg_auth_message_fmt")
    assert "réponse exacte du serveur" in shown.note
    assert english is not None and english.title == "Setup could not finish"
    # Outlook's and iPhone's words are not published: nothing is invented.
    assert what_program_shows(trace, "fr", "outlook") is None
    assert what_program_shows(trace, "fr", "iphone") is None


# -- in the sandbox: iPhone's prompt, and the learner's "yes" -------------------------------


def test_in_the_sandbox_iphone_asks_and_yes_really_connects_in_clear(
    make_lab, make_app,  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    app: Flask = make_app(make_lab(allow_cleartext=True))
    learner = Learner(app.test_client()).start()
    response = learner.client.post("/bac-a-sable/appareils",
                                   data={"csrf_token": learner.token(), "program": "iphone"})
    assert response.status_code == 303
    learner.read_home()
    phone = learner.devices[-1]
    page = learner.settings(phone, action="test-incoming", incoming_port="143")
    assert "Impossible de se connecter via SSL" in page.text
    assert 'value="ssl-fallback-incoming"' in page.text
    answered = learner.post(f"/bac-a-sable/appareils/{phone}/reglages",
                            action="ssl-fallback-incoming")
    assert answered.status_code == 200, answered.text
    record = last_record(lab_of(app))
    trace = record["traces"][-1]
    assert trace["security"] == "none" and trace["port"] == 143 and not trace.get("error")
    # What the spy view shows: the password, readable, in what the phone sent.
    assert any(seg["secret"] for conn in trace["wire"] for block in conn["blocks"]
               if block["kind"] == "text" and block["direction"] == "client"
               for seg in block["segments"])
    assert "Le mot de passe" in answered.text or "mot de passe" in answered.text


def test_the_result_says_the_certificate_was_not_checked_and_whose_it_was(
    make_lab,  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(certificates={f"imap.{DOMAIN}": CertificateKind.SELF_SIGNED})
    lab.store.create_account(ADDRESS, PASSWORD)
    settings = imap(993, Security.TLS_ANY_CERTIFICATE)
    trace = MailClient(lab, settings).test_incoming()
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        view = present(snapshot(trace, lab, settings, settings.incoming, 3.0), "fr", "android")
    tls = next(s for s in view.steps if s.name == "tls")
    assert any("faux serveur" in line for line in tls.details)
    assert any("Valable jusqu" in line for line in tls.details)
    assert any("ton mot de passe à ce serveur" in w for w in view.warnings)
