"""What a school's IT audit checks on the web app: headers, a strict CSP, trainer pages kept
on the laptop unless served over HTTPS, and what was already right (escaping, 404, CSRF)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from test_sandbox import Learner, learner, make_app, sandbox  # noqa: F401 (fixtures)

from pixlab.lab.runner import Lab
from pixlab.web import create_app, resource_dir
from pixlab.web.security import is_from_this_machine, is_trainer_path, own_addresses
from pixlab.workshops import trainers

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
SAME_ON_EVERY_RESPONSE = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HX = {"HX-Request": "true"}


def log_in_trainer(client: FlaskClient, **where: object) -> None:
    """A trainer's session in this client, logged in from `where` (base_url, environ_base)."""
    trainers.add(client.application.extensions["pixlab.lab"].engine, "mme-durand",
                 "Classe-2026!")
    page = client.get("/formateur/connexion", **where).get_data(as_text=True)  # type: ignore[arg-type]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]  # type: ignore[index]
    # Over HTTPS, Flask-WTF wants the same-origin Referer a browser sends.
    referer = f"{where.get('base_url', 'http://localhost')}/formateur/connexion"
    response = client.post("/formateur/connexion", data={
        "csrf_token": token, "nom": "mme-durand", "mot_de_passe": "Classe-2026!"},
        headers={"Referer": referer}, **where)  # type: ignore[arg-type]
    assert response.status_code == 303


def not_this_machine() -> str:
    """An address of the class network that is none of this machine's own."""
    mine = own_addresses()
    for candidate in ("10.20.30.40", "172.30.1.9", "192.168.77.13", "198.51.100.7"):
        if ipaddress.ip_address(candidate) not in mine:
            return candidate
    raise AssertionError("every candidate address is this machine's")  # pragma: no cover


# -- headers on every response -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    (
        ("GET", "/", {}, 200),
        ("GET", "/bac-a-sable", HX, 200),  # a fragment for htmx
        ("GET", "/scenarios", {}, 200),
        ("GET", "/static/css/pixlab.css", {}, 200),
        ("GET", "/labo/pixlab-ca.pem", {}, 200),
        ("GET", "/page-qui-n-existe-pas", {}, 404),
        ("POST", "/langue", {}, 400),  # no CSRF token
        ("GET", "/formateur/connexion", {}, 200),  # a trainer page, from the laptop
        ("GET", "/scenarios/formateur", {}, 302),  # to the login: no trainer's session yet
    ),
)
def test_every_response_carries_the_security_headers(
    client: FlaskClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = client.open(path, method=method, headers=headers)
    response.close()  # a static file is streamed from an open file
    assert response.status_code == status
    for name, value in SAME_ON_EVERY_RESPONSE.items():
        assert response.headers.get(name) == value, name
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    # Plain HTTP: HSTS would mean nothing (RFC 6797 section 7.2) and is not sent.
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_only_over_https(client: FlaskClient) -> None:
    secure = client.get("/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_frame_ancestors_come_from_the_embed_origins_for_embedded_pages_only(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXLAB_EMBED_ORIGINS", "https://*.pix.fr, https://ent.lycee.example")
    app = create_app({"DATA_DIR": str(tmp_path / "env")}, lab=lab)
    client = app.test_client()
    framed = client.get("/integration/premiers-pas-imap").headers["Content-Security-Policy"]
    assert framed.endswith("; frame-ancestors 'self' https://*.pix.fr https://ent.lycee.example")
    # The rest of the site stays framed by PixLab alone, the player at its own address too.
    for path in ("/", "/scenarios/premiers-pas-imap", "/bac-a-sable", "/scenarios/formateur"):
        assert client.get(path).headers["Content-Security-Policy"] == CSP, path
    assert "X-Frame-Options" not in client.get("/integration/premiers-pas-imap").headers
    app = create_app({"DATA_DIR": str(tmp_path / "cfg"),
                      "EMBED_ORIGINS": ["https://a.example"]}, lab=lab)
    csp = app.test_client().get("/integration/premiers-pas-imap").headers
    assert csp["Content-Security-Policy"].endswith("; frame-ancestors 'self' https://a.example")


def test_by_default_no_other_origin_may_frame_pixlab(client: FlaskClient) -> None:
    csp = client.get("/integration/premiers-pas-imap").headers["Content-Security-Policy"]
    assert csp == CSP


@pytest.mark.parametrize(
    "value",
    ("https://ent.example/cours", "'self'", "https://a.example; script-src *", "*",
     "ftp://a.example", "https://*", "javascript:alert(1)"),
)
def test_an_embed_origin_that_is_not_one_stops_the_app(
    lab: Lab, tmp_path: Path, value: str
) -> None:
    with pytest.raises(ValueError, match="PIXLAB_EMBED_ORIGINS"):
        create_app({"DATA_DIR": str(tmp_path), "EMBED_ORIGINS": value}, lab=lab)


def test_the_old_frame_ancestors_setting_is_refused_with_the_new_name(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXLAB_FRAME_ANCESTORS", "'self' https://ent.lycee.example")
    with pytest.raises(ValueError, match="PIXLAB_EMBED_ORIGINS"):
        create_app({"DATA_DIR": str(tmp_path)}, lab=lab)


def test_templates_carry_no_inline_script_style_or_event_handler() -> None:
    inline = re.compile(
        r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle\s*=|<style\b|\son[a-z]+\s*=|javascript:|"
        r"hx-on|hx-vals|hx-vars|hx-trigger=\"[^\"]*\[",  # htmx would evaluate these
        re.IGNORECASE,
    )
    found = []
    for template in sorted(resource_dir("templates").rglob("*.html")):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if inline.search(line):
                found.append(f"{template.name}:{number}: {line.strip()}")
    assert found == []


def test_htmx_is_told_not_to_inject_styles_nor_to_evaluate(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert config is not None
    assert '"includeIndicatorStyles": false' in config[1] and '"allowEval": false' in config[1]
    css = (resource_dir("static") / "css" / "pixlab.css").read_text()
    assert ".htmx-indicator {" in css and ".htmx-request .htmx-indicator" in css


# -- what was already right stays right -------------------------------------------------


def test_hostile_subjects_senders_and_bodies_are_shown_escaped(
    sandbox: Flask, learner: Learner,  # noqa: F811
) -> None:
    lab = sandbox.extensions["pixlab.lab"]
    device = learner.devices[0]
    learner.settings(device, action="save")  # IMAP on 993, as the sheet says
    account = lab.store.account(learner.address)
    hostile = (
        b'From: "<img src=x onerror=alert(1)>" <pirate@ailleurs.test>\r\n'
        b"To: " + learner.address.encode() + b"\r\n"
        b"Subject: <script>alert('sujet')</script>\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<p onclick=\"alert('corps')\">Bonjour</p><script>alert('corps')</script>\r\n"
    )
    lab.store.append(account, "INBOX", hostile)
    listing = learner.client.get(f"/bac-a-sable/appareils/{device}/courrier").text
    assert "&lt;script&gt;alert(&#39;sujet&#39;)&lt;/script&gt;" in listing
    assert "<script>alert" not in listing and "<img src=x" not in listing
    opened_id = re.findall(r"message=(\d+)", listing)[0]
    opened = learner.client.get(
        f"/bac-a-sable/appareils/{device}/courrier?message={opened_id}"
    ).text
    assert "&lt;img src=x onerror=alert(1)&gt;" in opened
    assert "<script>" not in opened and "onclick=" not in opened and "<img src=x" not in opened


def test_forms_without_csrf_token_are_refused_everywhere(client: FlaskClient) -> None:
    # The sandbox's and the scenarios' forms have their own tests
    # (test_sandbox.py, test_scenarios_pages.py); the language switch and a
    # scenario's start are the pages' shared forms.
    for path in ("/langue", "/bac-a-sable/commencer", "/scenarios/premiers-pas-imap/commencer"):
        response = client.post(path, data={"lang": "en"})
        assert response.status_code == 400, path
        assert "Cette page a expiré" in response.get_data(as_text=True)


# -- trainer pages: only on the laptop itself, unless over HTTPS -----------------------


@pytest.mark.parametrize(
    ("path", "trainer"),
    (
        ("/formateur", True),
        ("/formateur/", True),
        ("/formateur/connexion", True),
        ("/formateur/ateliers/3/classe", True),
        ("/scenarios/formateur", True),
        ("/scenarios/formateur/export", True),
        ("/formateurs", False),
        ("/scenarios/premiers-pas-imap", False),
        ("/", False),
    ),
)
def test_the_guard_is_keyed_on_the_path_prefix(path: str, trainer: bool) -> None:
    assert is_trainer_path(path, ("/formateur", "/scenarios/formateur")) is trainer


def test_trainer_pages_answer_the_laptop_itself(client: FlaskClient) -> None:
    log_in_trainer(client)
    for remote in ("127.0.0.1", "127.4.5.6", "::1", "::ffff:127.0.0.1"):
        page = client.get("/scenarios/formateur", environ_base={"REMOTE_ADDR": remote})
        assert page.status_code == 200, remote
        assert "Vue formateur" in page.get_data(as_text=True)
    # One of the laptop's own network addresses (a browser on the laptop that
    # typed its LAN address): the system's list of interfaces says so, no traffic.
    lan = next((a for a in own_addresses() if not a.is_loopback and not a.is_link_local), None)
    if lan is not None:
        page = client.get("/scenarios/formateur", environ_base={"REMOTE_ADDR": str(lan)})
        assert page.status_code == 200, lan


def test_trainer_pages_refuse_the_class_network_in_clear_and_say_why(
    client: FlaskClient,
) -> None:
    pupil = not_this_machine()
    assert not is_from_this_machine(pupil)
    for path in ("/scenarios/formateur", "/formateur/connexion", "/formateur/ateliers"):
        refused = client.get(path, environ_base={"REMOTE_ADDR": pupil})
        assert refused.status_code == 403, path
        page = refused.get_data(as_text=True)
        assert "Page réservée à l'ordinateur du formateur" in page
        assert "pixlab serve --https" in page
        assert "Vue formateur" not in page
    # A form posted from the network is refused before it is read (its password included).
    posted = client.post("/formateur/connexion", data={"password": "secret"},
                         environ_base={"REMOTE_ADDR": pupil})
    assert posted.status_code == 403
    # The rest of the app answers the class as always.
    assert client.get("/scenarios", environ_base={"REMOTE_ADDR": pupil}).status_code == 200


def test_trainer_pages_answer_the_class_network_over_https(client: FlaskClient) -> None:
    pupil = not_this_machine()
    where = {"base_url": "https://192.168.1.10", "environ_base": {"REMOTE_ADDR": pupil}}
    log_in_trainer(client, **where)  # the password crossed the network encrypted
    page = client.get("/scenarios/formateur", **where)  # type: ignore[arg-type]
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_a_forwarded_https_header_does_not_open_trainer_pages(client: FlaskClient) -> None:
    # Waitress trusts no proxy header: a pupil cannot claim HTTPS.
    pupil = not_this_machine()
    page = client.get("/scenarios/formateur", environ_base={"REMOTE_ADDR": pupil},
                      headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"})
    assert page.status_code == 403


def test_the_refusal_is_in_english_too(client: FlaskClient) -> None:
    pupil = not_this_machine()
    page = client.get("/", environ_base={"REMOTE_ADDR": pupil}).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]  # type: ignore[index]
    client.post("/langue", data={"csrf_token": token, "lang": "en", "next": "/"},
                environ_base={"REMOTE_ADDR": pupil})
    refused = client.get("/scenarios/formateur", environ_base={"REMOTE_ADDR": pupil})
    assert refused.status_code == 403
    assert "--https" in refused.get_data(as_text=True)
    assert "Page réservée" not in refused.get_data(as_text=True)
