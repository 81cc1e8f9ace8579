"""The sandbox through Flask: learners, devices, settings, tests, mail, safety, persistence.

Every test drives the real lab with the real client: a "Tester" opens real
connections, a POP3 download really empties the server's inbox.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import logging
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from pixlab.db import TraceRecord
from pixlab.lab.certs import CertificateKind
from pixlab.lab.runner import Lab
from pixlab.web import create_app

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases

NBSP = "\u00a0"
DOMAIN = "lycee-exemple.test"
HX = {"HX-Request": "true"}


# -- helpers ---------------------------------------------------------------------------


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "every form carries a CSRF token"
    return match.group(1)


class PageParser(HTMLParser):
    """Collects what the accessibility and typography checks need from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self._skip = 0  # inside <pre>, <code>, <script>, <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "label" and found.get("for"):
            self.labels.add(str(found["for"]))
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(found)
        if tag in ("pre", "code", "script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("pre", "code", "script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    return parser


@dataclass
class Page:
    """A response, its HTML entities decoded so that tests read what the learner reads."""

    status_code: int
    text: str
    headers: Any

    @classmethod
    def of(cls, response: Any) -> Page:
        return cls(response.status_code, html.unescape(response.get_data(as_text=True)),
                   response.headers)


@dataclass
class Learner:
    """A pupil in a browser session, through the Flask test client."""

    client: FlaskClient
    address: str = ""
    password: str = ""
    code: str = ""
    devices: list[int] = field(default_factory=list)

    def token(self) -> str:
        return csrf_token(self.client.get("/bac-a-sable").get_data(as_text=True))

    def start(self) -> Learner:
        response = self.client.post("/bac-a-sable/commencer", data={"csrf_token": self.token()})
        assert response.status_code == 303
        self.read_home()
        return self

    def read_home(self) -> str:
        page = self.page("/bac-a-sable")
        self.address = re.search(r"<dt>Adresse électronique</dt><dd><code>([^<]+)<", page)[1]
        self.password = re.search(r'<code class="password">([^<]+)<', page)[1]
        self.code = re.search(r'class="resume-code">([^<]+)<', page)[1]
        self.devices = [int(i) for i in re.findall(r"/appareils/(\d+)/reglages", page)]
        self.devices = list(dict.fromkeys(self.devices))
        return page

    def add_phone(self) -> int:
        response = self.client.post("/bac-a-sable/appareils", data={"csrf_token": self.token()})
        assert response.status_code == 303
        self.read_home()
        return self.devices[-1]

    def settings(self, device: int, action: str = "test", fragment: bool = True,
                 **changes: str) -> Any:
        form = {
            "csrf_token": self.token(),
            "password": self.password,
            "incoming_protocol": "imap",
            "incoming_host": f"imap.{DOMAIN}",
            "incoming_port": "993",
            "incoming_security": "tls",
            "incoming_auth": "normal",
            "incoming_username": self.address,
            "outgoing_host": f"smtp.{DOMAIN}",
            "outgoing_port": "465",
            "outgoing_security": "tls",
            "outgoing_auth": "normal",
            "outgoing_username": self.address,
            "leave_on_server": "no",
            "leave_days": "14",
            "action": action,
        }
        form.update(changes)
        form = {k: v for k, v in form.items() if v is not None}
        return Page.of(self.client.post(f"/bac-a-sable/appareils/{device}/reglages", data=form,
                                        headers=HX if fragment else {}))

    def pop3(self, device: int, **changes: str) -> Any:
        values = {"incoming_protocol": "pop3", "incoming_host": f"pop.{DOMAIN}",
                  "incoming_port": "995"}
        values.update(changes)
        return self.settings(device, action="save", **values)

    def mailbox(self, device: int, **args: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in args.items())
        response = self.client.get(f"/bac-a-sable/appareils/{device}/courrier?{query}")
        assert response.status_code == 200
        return html.unescape(response.get_data(as_text=True))

    def post(self, path: str, **data: str) -> Page:
        return Page.of(self.client.post(path, data={"csrf_token": self.token(), **data},
                                        headers=HX))

    def page(self, path: str) -> str:
        return html.unescape(self.client.get(path).get_data(as_text=True))


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    def build(lab: Lab, **config: Any) -> Flask:
        settings = {"DATA_DIR": str(tmp_path / "web"), "TESTING": True,
                    "SANDBOX_CLIENT_TIMEOUT": 1.0}
        settings.update(config)
        return create_app(settings, lab=lab)

    return build


@pytest.fixture
def sandbox(make_lab: Callable[..., Lab], make_app: Callable[..., Flask]) -> Flask:
    return make_app(make_lab())


@pytest.fixture
def learner(sandbox: Flask) -> Learner:
    return Learner(sandbox.test_client()).start()


def lab_of(app: Flask) -> Lab:
    lab = app.extensions["pixlab.lab"]
    assert lab is not None
    return lab


def inbox_subjects(lab: Lab, address: str, folder: str = "INBOX") -> list[str]:
    account = lab.store.account(address)
    assert account is not None
    found = lab.store.folder(account.id, folder)
    assert found is not None
    raws = lab.store.raws(m.id for m in lab.store.messages(found.id))
    parsed = [email.message_from_bytes(raw, policy=email.policy.default) for raw in raws.values()]
    return [str(message["Subject"]) for message in parsed]


def message_refs(page: str) -> list[str]:
    """The messages a mail pane lists, newest first."""
    return list(dict.fromkeys(re.findall(r"message=(\d+)", page)))


def last_record(lab: Lab) -> dict[str, Any]:
    with lab.engine.connect() as conn:
        row = conn.execute(select(TraceRecord).order_by(TraceRecord.id.desc())).first()
    assert row is not None
    return json.loads(row.data)


# -- the learner ----------------------------------------------------------------------------


def test_a_new_learner_gets_a_lab_account_welcome_mail_a_sheet_and_a_computer(
    sandbox: Flask,
) -> None:
    pupil = Learner(sandbox.test_client())
    welcome = pupil.client.get("/bac-a-sable").get_data(as_text=True)
    assert "Commencer l'entraînement" in welcome and "Code de reprise" in welcome
    pupil.start()
    lab = lab_of(sandbox)
    assert pupil.address.endswith(f"@{DOMAIN}")
    assert lab.store.authenticate(pupil.address, pupil.password) is not None
    subjects = inbox_subjects(lab, pupil.address)
    assert len(subjects) == 3 and any("IMAP ou POP3" in s for s in subjects)
    assert re.fullmatch(r"[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}", pupil.code)
    assert len(pupil.devices) == 1
    home = pupil.read_home()
    # The sheet gives the organisation's servers as the lab runs them.
    for host, port, security in ((f"imap.{DOMAIN}", 993, "SSL/TLS"),
                                 (f"pop.{DOMAIN}", 995, "SSL/TLS"),
                                 (f"smtp.{DOMAIN}", 587, "STARTTLS")):
        assert re.search(rf"<code>{re.escape(host)}</code></td>\s*<td[^>]*><strong>{port}"
                         rf"</strong></td>\s*<td[^>]*>{security}</td>", home)
    assert "Fiche de connexion" in home and "Ordinateur" in home


def test_every_form_refuses_a_post_without_its_csrf_token(learner: Learner) -> None:
    device = learner.devices[0]
    for path in ("/bac-a-sable/commencer", "/bac-a-sable/reprendre", "/bac-a-sable/appareils",
                 f"/bac-a-sable/appareils/{device}/reglages",
                 f"/bac-a-sable/appareils/{device}/relever",
                 f"/bac-a-sable/appareils/{device}/ecrire",
                 f"/bac-a-sable/appareils/{device}/archiver",
                 f"/bac-a-sable/appareils/{device}/supprimer"):
        response = learner.client.post(path, data={"action": "test"})
        assert response.status_code == 400, path
        assert "Cette page a expiré" in response.get_data(as_text=True)


def test_a_resume_code_continues_elsewhere_however_it_is_typed(
    sandbox: Flask, learner: Learner
) -> None:
    elsewhere = Learner(sandbox.test_client())
    token = csrf_token(elsewhere.client.get("/bac-a-sable").get_data(as_text=True))
    wrong = elsewhere.client.post("/bac-a-sable/reprendre",
                                  data={"csrf_token": token, "code": "AAAA-AAAA"})
    assert wrong.status_code == 404 and "Ce code ne correspond à personne" in wrong.text
    typed = " " + learner.code.lower().replace("-", " ") + " "
    right = elsewhere.client.post("/bac-a-sable/reprendre", data={"csrf_token": token,
                                                                  "code": typed})
    assert right.status_code == 303
    elsewhere.read_home()
    assert (elsewhere.address, elsewhere.devices) == (learner.address, learner.devices)


def test_two_devices_at_most_a_computer_then_a_phone(learner: Learner) -> None:
    phone = learner.add_phone()
    assert "Téléphone" in learner.read_home() and phone != learner.devices[0]
    response = learner.client.post("/bac-a-sable/appareils",
                                   data={"csrf_token": learner.token()})
    assert response.status_code == 303
    page = learner.client.get("/bac-a-sable").get_data(as_text=True)
    assert "Tu as déjà deux appareils" in page
    learner.read_home()
    assert len(learner.devices) == 2
    assert "Ajouter un téléphone" not in page


# -- the settings form --------------------------------------------------------------------


def test_the_settings_form_has_thunderbirds_labels_and_every_control_is_labelled(
    learner: Learner,
) -> None:
    page = learner.page(f"/bac-a-sable/appareils/{learner.devices[0]}/reglages")
    for text in ("Serveur entrant", "Serveur sortant", f"Protocole{NBSP}:",
                 f"Nom d’hôte{NBSP}:", f"Port{NBSP}:", f"Sécurité de la connexion{NBSP}:",
                 f"Méthode d’authentification{NBSP}:", f"Nom d’utilisateur{NBSP}:",
                 "Mot de passe normal", "Mot de passe chiffré", "Pas d’authentification",
                 ">Aucun<", ">STARTTLS<", ">SSL/TLS<", "Laisser les messages sur le serveur",
                 ">Tester<", "Je comprends les risques", f"Avertissement{NBSP}!"):
        assert text in page, text
    parsed = parse(page)
    unlabelled = [c for c in parsed.controls if c.get("id") not in parsed.labels]
    assert not unlabelled, unlabelled
    assert len(parsed.ids) == len(set(parsed.ids)), "ids are unique"
    assert 'hx-post="/bac-a-sable/appareils/' in page and 'hx-indicator="#attente"' in page
    assert 'method="post" action="/bac-a-sable/appareils/' in page  # a real form first


def test_what_the_learner_types_is_kept_as_typed_and_only_impossible_values_refused(
    learner: Learner,
) -> None:
    device = learner.devices[0]
    saved = learner.settings(device, action="save", incoming_host="  IMAP.lycee-exemple.tset ",
                             incoming_port="993", incoming_security="starttls")
    assert saved.status_code == 200 and "Réglages enregistrés" in saved.text
    page = learner.page(f"/bac-a-sable/appareils/{device}/reglages")
    assert 'value="IMAP.lycee-exemple.tset"' in page  # the typo stays: finding it is the lesson
    assert re.search(r'<option value="starttls" selected>', page)
    refused = learner.settings(device, incoming_port="99999", outgoing_auth="magic")
    assert refused.status_code == 422
    assert "Le port doit être compris entre 1 et 65535" in refused.text
    port_input = re.search(r'<input id="incoming_port"[^>]*>', refused.text, re.S)[0]
    assert 'aria-invalid="true"' in port_input
    assert 'aria-describedby="incoming_port-erreur' in port_input
    assert "Choisis une des propositions." in refused.text
    empty = learner.settings(device, incoming_host="", incoming_security="")
    assert empty.status_code == 422
    assert "Indique le nom d'hôte du serveur." in empty.text
    assert "Choisis la sécurité de la connexion." in empty.text


def test_without_javascript_a_test_redirects_to_the_result_and_a_reload_shows_it_again(
    learner: Learner,
) -> None:
    device = learner.devices[0]
    response = learner.settings(device, fragment=False)
    assert response.status_code == 303
    assert re.search(rf"/bac-a-sable/appareils/{device}/reglages\?essai=\d+#resultat$",
                     response.headers["Location"])
    page = learner.page(response.headers["Location"])
    assert "<html" in page and "Résultat du test" in page
    assert page.count('class="trace trace-ok"') == 2  # incoming and outgoing


# -- the result of a test -----------------------------------------------------------------


def test_a_good_imap_configuration_shows_each_step_and_the_panels(
    learner: Learner, sandbox: Flask
) -> None:
    response = learner.settings(learner.devices[0])
    page = response.text
    assert response.status_code == 200 and "<html" not in page  # a fragment for htmx
    assert page.count('class="trace trace-ok"') == 2
    for step in ("Trouver le serveur", "Ouvrir la connexion", "Chiffrer la connexion",
                 "Accueil du serveur", "Ce que propose le serveur", "S'identifier",
                 "Ouvrir la boîte aux lettres"):
        assert step in page
    assert page.count('class="step step-ok"') == 7 + 6  # IMAP with mailbox, SMTP without
    for panel in ("Ce que votre logiciel affiche", "Ce qui s'est passé",
                  "L'échange avec le serveur", "Ce que voit un espion sur le réseau",
                  "Sur le serveur"):
        assert panel in page
    assert "Paramètres de configuration valides" in page  # Thunderbird's own words
    assert "TLSv1.3" in page and "PixLab - autorité de certification du laboratoire" in page
    assert "mot de passe envoyé chiffré" in page
    assert 'class="wire-hex"' in page and "<mark" not in page  # a spy sees only TLS records
    assert "Test terminé : tout a fonctionné." in page.replace(NBSP, " ")  # announced
    # "Sur le serveur": the real mailbox, from the lab's store.
    assert "Bienvenue dans ta boîte aux lettres" in page and "Boîte de réception" in page


def test_a_refused_port_quotes_thunderbird_then_explains_and_hints(learner: Learner) -> None:
    page = learner.settings(learner.devices[0], action="test-incoming", incoming_port="995").text
    assert page.count('class="trace trace-failed"') == 1
    assert "Serveur sortant (SMTP)" not in page  # only the incoming server was tested
    assert (f"Impossible de se connecter au serveur de courrier imap.{DOMAIN}{NBSP}: "
            "la connexion a été refusée.") in page
    assert f"Alerte pour le compte {learner.address}" in page
    assert "la connexion est refusée" in page  # our explanation
    assert "Regarde le numéro de port." in page  # the hint
    assert "ConnectionRefusedError" in page  # the exception as raised
    assert page.count('class="step step-skipped"') == 5  # tls … mailbox, not reached
    assert "pas atteint" in page


def test_a_filtered_port_times_out_after_the_configured_delay_and_says_what_real_programs_do(
    learner: Learner,
) -> None:
    started = time.monotonic()
    page = learner.settings(learner.devices[0], action="test-outgoing", outgoing_port="25",
                            outgoing_security="starttls").text
    elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 3.0  # SANDBOX_CLIENT_TIMEOUT is 1 s in these tests
    assert "a expiré" in page  # Thunderbird: "… la connexion au serveur sortant (SMTP) … a expiré"
    assert "au bout de 1 secondes" in page and "100 secondes" in page


def test_no_encryption_brings_thunderbirds_warning_before_any_connection(
    learner: Learner, sandbox: Flask
) -> None:
    lab = lab_of(sandbox)
    before = len(lab.tap._captures)
    page = learner.settings(learner.devices[0], incoming_port="143",
                            incoming_security="none").text
    assert f"Avertissement{NBSP}!" in page and "Je comprends les risques" in page
    assert f"<b>imap.{DOMAIN}</b> n’utilise pas de chiffrement." in page
    assert 'class="cleartext-warning shown"' in page and "Pas de test pour l" in page
    assert len(lab.tap._captures) == before, "nothing was tested before the tick"


def test_a_server_that_refuses_cleartext_logins_never_sees_the_password(learner: Learner) -> None:
    page = learner.settings(learner.devices[0], action="test-incoming", incoming_port="143",
                            incoming_security="none", accepted_cleartext="1").text
    assert "trace trace-failed" in page
    assert "Le serveur refuse qu" in page  # login_refused_before_tls, explained
    assert "LOGINDISABLED" in page
    assert "<mark" not in page and learner.password not in page


def test_with_cleartext_allowed_the_spy_reads_the_password(
    make_lab: Callable[..., Lab], make_app: Callable[..., Flask]
) -> None:
    app = make_app(make_lab(allow_cleartext=True))
    pupil = Learner(app.test_client()).start()
    page = pupil.settings(pupil.devices[0], action="test-incoming", incoming_port="143",
                          incoming_security="none", accepted_cleartext="1").text
    assert "trace trace-ok" in page
    assert "mot de passe envoyé en clair" in page
    assert "Ton mot de passe est passé en clair" in page
    assert '<details class="panel panel-spy" open>' in page
    highlighted = re.findall(r'<mark class="secret">([^<]+)</mark>', page)
    assert highlighted, "the password is highlighted in the spy's view"
    assert any(pupil.password in h for h in highlighted)  # decoded from AUTH PLAIN's base64


def test_a_wrong_certificate_offers_the_exception_which_is_then_remembered(
    make_lab: Callable[..., Lab], make_app: Callable[..., Flask]
) -> None:
    app = make_app(make_lab(certificates={f"imap.{DOMAIN}": CertificateKind.OTHER_NAME}))
    pupil = Learner(app.test_client()).start()
    device = pupil.devices[0]
    page = pupil.settings(device, action="test-incoming").text
    assert "trace trace-failed" in page
    assert f"Le certificat de imap.{DOMAIN} n’est pas valide sur ce serveur." in page
    assert "Confirmer l’exception de sécurité" in page
    accepted = pupil.post(f"/bac-a-sable/appareils/{device}/exception", host=f"imap.{DOMAIN}")
    assert accepted.status_code == 303
    again = pupil.settings(device, action="test-incoming").text
    assert "trace trace-ok" in again
    assert "Tu as accepté le risque pour ce certificat" in again


# -- safety -------------------------------------------------------------------------------------


def test_tests_per_minute_are_limited_with_a_french_message(
    make_lab: Callable[..., Lab], make_app: Callable[..., Flask]
) -> None:
    app = make_app(make_lab(), SANDBOX_TESTS_PER_MINUTE=2)
    pupil = Learner(app.test_client()).start()
    device = pupil.devices[0]
    assert pupil.settings(device, action="test-incoming").status_code == 200
    assert pupil.settings(device, action="test-incoming").status_code == 200
    limited = pupil.settings(device, action="test-incoming")
    assert limited.status_code == 429
    assert f"Doucement{NBSP}! Tu as lancé beaucoup de tests en une minute." in limited.text
    assert re.search(r"Attends \d+ secondes", limited.text)
    # Another learner has their own budget.
    other = Learner(app.test_client()).start()
    assert other.settings(other.devices[0], action="test-incoming").status_code == 200


def test_a_learner_never_reaches_another_learners_devices_traces_or_mail(
    sandbox: Flask, learner: Learner
) -> None:
    mine = learner.devices[0]
    learner.pop3(mine)
    learner.post(f"/bac-a-sable/appareils/{mine}/relever")
    local_id = re.search(r"message=(\d+)", learner.mailbox(mine))[1]
    trace_id = re.search(r'id="essai-(\d+)"', learner.settings(mine).text)[1]
    intruder = Learner(sandbox.test_client()).start()
    for path in (f"/bac-a-sable/appareils/{mine}/reglages",
                 f"/bac-a-sable/appareils/{mine}/courrier",
                 f"/bac-a-sable/appareils/{mine}/courrier?message={local_id}",
                 f"/bac-a-sable/appareils/{mine}/ecrire",
                 f"/bac-a-sable/essais/{trace_id}"):
        assert intruder.client.get(path).status_code == 404, path
    for path in (f"/bac-a-sable/appareils/{mine}/reglages",
                 f"/bac-a-sable/appareils/{mine}/relever",
                 f"/bac-a-sable/appareils/{mine}/archiver",
                 f"/bac-a-sable/appareils/{mine}/supprimer",
                 f"/bac-a-sable/appareils/{mine}/exception",
                 f"/bac-a-sable/appareils/{mine}/ecrire"):
        response = intruder.post(path, message=local_id, dossier="INBOX", to="x@y.test",
                                 host="imap.lycee-exemple.test")
        assert response.status_code == 404, path
    # Their own POP3 device cannot open my downloaded message by its id either.
    theirs = intruder.devices[0]
    intruder.pop3(theirs)
    page = intruder.mailbox(theirs, message=local_id)
    assert 'class="reading"' not in page
    assert learner.client.get(f"/bac-a-sable/appareils/{mine}/reglages").status_code == 200
    # And without a session, nothing either.
    stranger = sandbox.test_client()
    assert stranger.get(f"/bac-a-sable/essais/{trace_id}").status_code == 404


@pytest.mark.parametrize(
    "host", ("127.0.0.1", "localhost", "::1", "169.254.169.254", f"imap.{DOMAIN}.evil.test")
)
def test_typed_hosts_outside_the_lab_never_open_a_connection(learner: Learner, host: str) -> None:
    canary = socket.socket()
    canary.bind(("127.0.0.1", 0))
    canary.listen(5)
    canary.settimeout(0.2)
    try:
        page = learner.settings(learner.devices[0], action="test-incoming", incoming_host=host,
                                incoming_port=str(canary.getsockname()[1])).text
        assert "Le nom du serveur n'existe pas." in page
        with pytest.raises(TimeoutError):
            canary.accept()  # nobody knocked
    finally:
        canary.close()


def test_passwords_are_never_logged_nor_in_events_nor_in_transcripts(
    learner: Learner, sandbox: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    device = learner.devices[0]
    learner.settings(device)
    learner.settings(device, action="test-incoming", incoming_port="143",
                     incoming_security="starttls")
    learner.mailbox(device)
    lab = lab_of(sandbox)
    assert learner.password not in caplog.text
    events = lab.events.for_account(learner.address)
    assert any(e.kind == "auth.succeeded" for e in events)
    assert learner.password not in json.dumps([e.data for e in events], ensure_ascii=False)
    record = last_record(lab)
    assert learner.password not in json.dumps(record["traces"][0]["transcript"])
    settings_page = learner.page(f"/bac-a-sable/appareils/{device}/reglages")
    assert learner.password not in settings_page.split('id="reglages"')[1]  # not in the form


# -- the mail client ----------------------------------------------------------------------------


def test_imap_shows_the_server_inbox_and_opens_a_welcome_message(learner: Learner) -> None:
    device = learner.devices[0]
    before = learner.mailbox(device)
    assert "pas encore réglé" in before
    learner.settings(device, action="save")
    page = learner.mailbox(device)
    assert "IMAP" in page and "Boîte de réception" in page and "Archives" in page
    assert page.count('<li class="unread') == 3
    uid = re.findall(r"dossier=INBOX&message=(\d+)", page)[0]
    opened = learner.mailbox(device, dossier="INBOX", message=uid)
    assert 'class="reading"' in opened and 'class="message-body"' in opened
    assert opened.count('<li class="unread') == 2  # reading marks it read, on the server


def test_a_device_with_only_its_incoming_server_filled_in_tests_and_reads_its_mail(
    learner: Learner,
) -> None:
    """A pupil fills the sheet in order: the outgoing server may still be blank."""
    device = learner.devices[0]
    blank_outgoing = {"outgoing_host": "", "outgoing_port": "", "outgoing_security": ""}
    response = learner.settings(device, action="test-incoming", **blank_outgoing)
    assert response.status_code == 200 and response.text.count('class="trace trace-ok"') == 1
    page = learner.mailbox(device)
    assert page.count('<li class="unread') == 3


def test_a_failing_imap_device_is_not_retried_at_every_view_until_its_settings_change(
    learner: Learner,
) -> None:
    device = learner.devices[0]
    learner.settings(device, action="save", incoming_port="995")  # nothing answers there
    first = re.findall(r"/essais/(\d+)", learner.mailbox(device))
    again = re.findall(r"/essais/(\d+)", learner.mailbox(device))
    assert first and first == again  # the same failure, shown again, not a new attempt
    learner.settings(device, action="save")  # fixed: the next view connects and works
    page = learner.mailbox(device)
    assert not re.findall(r"/essais/(\d+)", page) and page.count('<li class="unread') == 3


def test_archive_then_delete_move_the_message_on_the_server(
    learner: Learner, sandbox: Flask
) -> None:
    device = learner.devices[0]
    learner.settings(device, action="save")
    lab = lab_of(sandbox)
    uid = message_refs(learner.mailbox(device))[0]
    response = learner.post(f"/bac-a-sable/appareils/{device}/archiver", dossier="INBOX",
                            message=uid)
    assert response.status_code == 200 and "pixlab-mail-changed" in response.headers["HX-Trigger"]
    assert len(inbox_subjects(lab, learner.address)) == 2
    assert len(inbox_subjects(lab, learner.address, "Archives")) == 1
    archived = re.findall(r"message=(\d+)", learner.mailbox(device, dossier="Archives"))[0]
    learner.post(f"/bac-a-sable/appareils/{device}/supprimer", dossier="Archives",
                 message=archived)
    assert len(inbox_subjects(lab, learner.address, "Trash")) == 1  # to the Trash first
    trashed = re.findall(r"message=(\d+)", learner.mailbox(device, dossier="Trash"))[0]
    learner.post(f"/bac-a-sable/appareils/{device}/supprimer", dossier="Trash", message=trashed)
    assert inbox_subjects(lab, learner.address, "Trash") == []


def test_a_pop3_download_empties_the_other_devices_imap_inbox(
    learner: Learner, sandbox: Flask
) -> None:
    computer, phone = learner.devices[0], learner.add_phone()
    learner.settings(phone, action="save")  # the phone: IMAP
    assert len(message_refs(learner.mailbox(phone))) == 3
    learner.pop3(computer)  # the computer: POP3, without leaving messages on the server
    response = learner.post(f"/bac-a-sable/appareils/{computer}/relever")
    assert response.status_code == 200
    assert (f"Messages téléchargés sur l'appareil{NBSP}: 3. "
            f"Effacés du serveur{NBSP}: 3.") in response.text
    assert json.loads(response.headers["HX-Trigger"]) == {
        "pixlab-mail-changed": {"source": computer}}
    assert inbox_subjects(lab_of(sandbox), learner.address) == []
    assert "Aucun message dans ce dossier." in learner.mailbox(phone)
    assert len(message_refs(learner.mailbox(computer))) == 3  # now only on the computer
    both = learner.page("/bac-a-sable/courrier")
    assert both.count('class="pane pane-') == 2


def test_pop3_leave_on_server_keeps_the_other_devices_inbox(learner: Learner,
                                                            sandbox: Flask) -> None:
    computer = learner.devices[0]
    learner.pop3(computer, leave_on_server="forever")
    learner.post(f"/bac-a-sable/appareils/{computer}/relever")
    assert len(inbox_subjects(lab_of(sandbox), learner.address)) == 3
    assert len(message_refs(learner.mailbox(computer))) == 3


def test_pop3_until_deleted_removes_from_the_server_after_a_local_delete(
    learner: Learner, sandbox: Flask
) -> None:
    computer = learner.devices[0]
    learner.pop3(computer, leave_on_server="until-deleted")
    learner.post(f"/bac-a-sable/appareils/{computer}/relever")
    local = re.findall(r"message=(\d+)", learner.mailbox(computer))[0]
    learner.post(f"/bac-a-sable/appareils/{computer}/supprimer", dossier="INBOX", message=local)
    assert len(message_refs(learner.mailbox(computer))) == 2
    learner.post(f"/bac-a-sable/appareils/{computer}/relever")
    assert len(inbox_subjects(lab_of(sandbox), learner.address)) == 2


def test_sending_delivers_and_keeps_a_copy_in_sent(learner: Learner, sandbox: Flask) -> None:
    device = learner.devices[0]
    learner.settings(device, action="save")
    form = learner.page(f"/bac-a-sable/appareils/{device}/ecrire")
    assert parse(form).labels >= {"to", "subject", "body"}
    response = learner.post(f"/bac-a-sable/appareils/{device}/ecrire", to=learner.address,
                            subject="Coucou moi-même", body="Premier message envoyé !")
    assert response.status_code == 200 and "Envoi du message" in response.text
    assert "Courrier envoyé avec succès" in response.text  # Thunderbird's words
    lab = lab_of(sandbox)
    assert "Coucou moi-même" in inbox_subjects(lab, learner.address)
    assert "Coucou moi-même" in inbox_subjects(lab, learner.address, "Sent")
    assert "Coucou moi-même" in learner.mailbox(device, dossier="Sent")


def test_sending_out_of_the_lab_is_refused_and_explained(learner: Learner) -> None:
    device = learner.devices[0]
    learner.settings(device, action="save")
    empty = learner.post(f"/bac-a-sable/appareils/{device}/ecrire", to="", subject="x")
    assert empty.status_code == 422 and "Aucun destinataire spécifié" in empty.text
    response = learner.post(f"/bac-a-sable/appareils/{device}/ecrire",
                            to="copain@ailleurs.example", subject="Hors du labo", body="?")
    assert "trace trace-failed" in response.text
    # Thunderbird's smtp.recipient_refused, with the refusal itself (not the server's goodbye).
    reply = re.search(r"Le serveur de courrier a répondu\xa0: (.*?)\. Veuillez vérifier "
                      r"l’adresse du destinataire copain@ailleurs\.example", response.text)
    assert reply and reply[1].startswith("5") and "Bye" not in reply[1]
    assert "aucun message ne sort du labo" in response.text


def test_the_from_field_is_checked_by_the_server_and_reply_to_travels(
    learner: Learner, sandbox: Flask
) -> None:
    device = learner.devices[0]
    learner.settings(device, action="save")
    form = learner.page(f"/bac-a-sable/appareils/{device}/ecrire")
    assert parse(form).labels >= {"sender", "to", "reply_to", "subject", "body"}
    assert f'value="{learner.address}"' in form  # "De" starts with the account's address
    bad = learner.post(f"/bac-a-sable/appareils/{device}/ecrire", to=learner.address,
                       sender="pas une adresse", subject="x", body="?")
    assert bad.status_code == 422 and "Écris une seule adresse" in bad.text
    lab = lab_of(sandbox)
    boss = learner.address.replace("@", "-directrice@")
    lab.store.create_account(boss, "Bureau-2026")
    refused = learner.post(f"/bac-a-sable/appareils/{device}/ecrire", to=learner.address,
                           sender=f"La directrice <{boss}>", subject="Faux", body="?")
    # Thunderbird's smtp.sender_refused, around the server's own refusal.
    # On failure, the whole trace: which error the client met instead (seen once, not found).
    assert "Le serveur e-mail a répondu\xa0: 553 5.7.1" in refused.text, re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", refused.text))
    assert "Sender address rejected: not owned by user" in refused.text
    assert "Faux" not in inbox_subjects(lab, learner.address)
    sent = learner.post(f"/bac-a-sable/appareils/{device}/ecrire", to=learner.address,
                        reply_to=f"Secrétariat <{boss}>", subject="Avec réponse", body="!")
    assert "Courrier envoyé avec succès" in sent.text
    delivered = [e for e in lab.events.for_account(learner.address)
                 if e.kind == "message.delivered"]
    assert delivered and delivered[-1].data["reply_to"] == boss.lower()


# -- persistence and languages ------------------------------------------------------------------


def test_devices_settings_and_downloaded_mail_survive_a_restart(
    make_lab: Callable[..., Lab], make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    data_dir = tmp_path / "persisted"
    lab = make_lab(data_dir=data_dir)
    first = Learner(make_app(lab).test_client()).start()
    computer, phone = first.devices[0], first.add_phone()
    first.pop3(computer, leave_on_server="forever")
    first.post(f"/bac-a-sable/appareils/{computer}/relever")
    first.settings(phone, action="save", incoming_host=f"mail.{DOMAIN}")
    cookie = first.client.get_cookie("session")
    assert cookie is not None
    lab.stop()

    app = make_app(make_lab(data_dir=data_dir))
    again = app.test_client()
    again.set_cookie("session", cookie.value)  # the same browser, after the restart
    same = Learner(again)
    same.read_home()
    assert (same.address, same.code, same.devices) == (first.address, first.code,
                                                      [computer, phone])
    assert len(message_refs(same.mailbox(computer))) == 3
    settings = same.page(f"/bac-a-sable/appareils/{phone}/reglages")
    assert f'value="mail.{DOMAIN}"' in settings
    # And with the resume code, from another browser.
    other = Learner(app.test_client())
    token = csrf_token(other.page("/bac-a-sable"))
    other.client.post("/bac-a-sable/reprendre", data={"csrf_token": token, "code": first.code})
    assert len(message_refs(other.mailbox(computer))) == 3


def test_french_typography_on_every_sandbox_page(learner: Learner) -> None:
    device = learner.devices[0]
    pages = [
        learner.page("/bac-a-sable"),
        learner.page(f"/bac-a-sable/appareils/{device}/reglages"),
        learner.settings(device).text,
        learner.settings(device, incoming_port="995").text,
        learner.mailbox(device),
        learner.page(f"/bac-a-sable/appareils/{device}/ecrire"),
    ]
    for page in pages:
        text = " ".join(parse(page).text)
        bad = re.findall(r".{0,30}(?: [:;?!]|« | »).{0,10}", text)
        assert not bad, bad


def test_the_sandbox_speaks_english_when_asked(learner: Learner) -> None:
    token = learner.token()
    learner.client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": token})
    device = learner.devices[0]
    home = learner.page("/bac-a-sable")
    assert "Connection sheet" in home and "Your devices" in home
    page = learner.settings(device, action="test-incoming", incoming_port="995").text
    assert "Incoming server (IMAP)" in page
    assert f"Could not connect to mail server imap.{DOMAIN}; the connection was refused." in page
    assert "nothing answers on this port" in page  # the catalogue's English explanation
    form = learner.page(f"/bac-a-sable/appareils/{device}/reglages")
    assert "Connection security:" in form and "I understand the risks" in form


def test_the_device_pages_work_without_a_lab_session(sandbox: Flask) -> None:
    client = sandbox.test_client()
    assert client.get("/bac-a-sable/appareils/1/reglages").status_code == 404
    assert client.get("/bac-a-sable/courrier").status_code == 302


def test_kept_devices_are_written_only_when_they_change(lab: Lab) -> None:
    """Every page of the player keeps the attempt's devices: unchanged, they cost no write
    (SQLite has one writer at a time), and their activity time lags an hour at most."""
    from sqlalchemy import event

    from pixlab.sandbox.store import ACTIVITY_RESOLUTION, DeviceStore, new_lab_password

    store = DeviceStore(lab.engine)
    learner = store.create_learner("loutre-1234@lycee-exemple.test", new_lab_password())
    settings = {"incoming.host": "imap.lycee-exemple.test", "incoming.port": 993,
                "incoming.security": "tls"}
    writes: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT")):
            writes.append(statement)

    event.listen(lab.engine, "before_cursor_execute", count)
    try:
        first = store.keep_devices(learner.id, {101: ("computer", settings, "thunderbird")})
        assert len(writes) == 1  # made on first use
        again = store.keep_devices(learner.id, {101: ("computer", settings, "thunderbird")})
        assert len(writes) == 1 and again == first  # nothing changed: nothing written
        on_143 = {**settings, "incoming.port": 143}
        changed = store.keep_devices(learner.id, {101: ("computer", on_143, "thunderbird")})
        assert len(writes) == 2 and changed[101].incoming.port == 143
        # An hour on, the same settings write the activity time again (the retention purge).
        from pixlab.db import Device

        with lab.engine.begin() as conn:
            conn.execute(Device.__table__.update().values(
                updated_at=time.time() - ACTIVITY_RESOLUTION - 1))
        before = len(writes)
        store.keep_devices(learner.id, {101: ("computer", on_143, "thunderbird")})
        assert len(writes) == before + 1
    finally:
        event.remove(lab.engine, "before_cursor_execute", count)


def test_welcome_messages_are_each_learners_own(app: Flask) -> None:
    """Made from cached templates: the same bytes the email package writes, with each
    learner's address, date and message id."""
    import email.utils
    from email.message import EmailMessage

    from pixlab.web.welcome import welcome_messages

    with app.test_request_context():
        first = welcome_messages("loutre-1234@lycee-exemple.test", "lycee-exemple.test")
        second = welcome_messages("renard-5678@lycee-exemple.test", "lycee-exemple.test")
    for (raw, arrived), address in ((first[0], "loutre-1234"), (second[0], "renard-5678")):
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert message["To"] == f"{address}@lycee-exemple.test"
        assert email.utils.parsedate_to_datetime(message["Date"]).timestamp() == arrived
        assert message["Subject"].startswith("Bienvenue dans ta boîte aux lettres")
        assert "Service informatique du lycée" in message["From"]
        assert "rien que pour t'entraîner" in message.get_content()
        expected = EmailMessage()
        for name in ("From", "To", "Subject", "Date", "Message-ID"):
            expected[name] = message[name]
        expected.set_content(message.get_content())
        assert raw == expected.as_bytes()  # byte for byte what the email package writes
    ids = {email.message_from_bytes(r)["Message-ID"] for r, _ in [*first, *second]}
    assert len(ids) == 6
