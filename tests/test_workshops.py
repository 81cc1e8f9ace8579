"""Workshops through Flask's client: trainer accounts and sessions, joining, the class view,
the class's mistakes, live faults, the export, throttles and deletion that leaves nothing."""

from __future__ import annotations

import csv
import imaplib
import io
import json
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, text

from pixlab.lab.runner import Lab
from pixlab.sandbox.store import DeviceStore
from pixlab.web import create_app
from pixlab.workshops import retention, service, trainers

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases

FIRST = "premiers-pas-imap"
SECOND = "bon-port-bon-chiffrement"
DOMAIN = "lycee-exemple.test"
PIXLAB = str(Path(sys.executable).with_name("pixlab"))


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """One browser's session: GETs, and POSTs with the CSRF token of a page it loaded."""

    def __init__(self, client: FlaskClient, token_page: str) -> None:
        self.client, self.token_page = client, token_page

    def get(self, path: str, status: int = 200, **kw: object) -> str:
        response = self.client.get(path, **kw)  # type: ignore[arg-type]
        assert response.status_code == status, (path, response.status_code)
        return response.get_data(as_text=True)

    def post(self, path: str, data: dict[str, object] | None = None, **kw: object):  # type: ignore[no-untyped-def]
        token = csrf_token(self.client.get(self.token_page).get_data(as_text=True))
        return self.client.post(path, data={"csrf_token": token, **(data or {})}, **kw)  # type: ignore[arg-type]


@pytest.fixture
def app(lab: Lab, tmp_path: Path) -> Flask:
    return create_app({"DATA_DIR": str(tmp_path / "web"), "TESTING": True,
                       "SANDBOX_CLIENT_TIMEOUT": 1.0}, lab=lab)


def log_in(app: Flask, lab: Lab, name: str = "mme-durand") -> Browser:
    if name not in {t.name for t in trainers.listing(lab.engine)}:
        trainers.add(lab.engine, name, "Classe-2026!")
    browser = Browser(app.test_client(), "/formateur/connexion")
    response = browser.post("/formateur/connexion", {"nom": name, "mot_de_passe": "Classe-2026!"})
    assert response.status_code == 303, response.status_code
    browser.token_page = "/formateur"
    return browser


def create_workshop(trainer: Browser, slugs: tuple[str, ...] = (FIRST, SECOND)) -> int:
    response = trainer.post("/formateur/ateliers", {"nom": "4e B", "scenarios": list(slugs)})
    assert response.status_code == 303
    return int(response.location.rsplit("/", 1)[1])


def join(app: Flask, code: str, pseudonym: str) -> Browser:
    learner = Browser(app.test_client(), "/atelier")
    response = learner.post("/atelier", {"code": code, "pseudonyme": pseudonym})
    assert response.status_code == 303, response.get_data(as_text=True)
    learner.token_page = "/scenarios"
    return learner


def test_imap(learner: Browser, port: str, security: str,  # noqa: PT028
              player: str = "/scenarios") -> None:
    """Start (once) and test the first scenario's incoming server with these settings
    (in the site's player, or the embedded one: `player="/integration"`)."""
    page = learner.get(f"{player}/{FIRST}")
    if "Commencer le scénario" in page:
        assert learner.post(f"{player}/{FIRST}/commencer").status_code == 303
        page = learner.get(f"{player}/{FIRST}")
    password = re.search(r'<code class="password">([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    address = re.search(r"<code>([a-z0-9-]+-sc@[a-z.-]+)</code>", page).group(1)  # type: ignore[union-attr]
    response = learner.post(f"{player}/{FIRST}/appareils/ordinateur/reglages", {
        "password": password, "incoming_protocol": "imap", "incoming_host": f"imap.{DOMAIN}",
        "incoming_port": port, "incoming_security": security, "incoming_auth": "normal",
        "incoming_username": address, "action": "test-incoming"})
    assert response.status_code == 303, response.status_code


test_imap.__test__ = False  # type: ignore[attr-defined]


def latest_test(lab: Lab, learner_id: int) -> tuple[bool, str | None]:
    store = DeviceStore(lab.engine)
    trace_id, ok = max(store.latest_traces(learner_id, "test").values())
    record = store.trace(learner_id, trace_id)
    assert record is not None
    error = record.data["traces"][0]["error"]
    return ok, (error or {}).get("key")


def member_ids(lab: Lab, workshop_id: int) -> dict[str, int]:
    return {m.pseudonym: m.learner_id for m in service.members(lab.engine, workshop_id)}


# -- trainer accounts -----------------------------------------------------------------------


def test_trainer_commands_add_list_set_password_and_remove(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([PIXLAB, "trainer", *args, *data], input=stdin,
                              capture_output=True, text=True, timeout=60)

    added = run("add", "mme-durand", "--password-stdin", stdin="Classe-2026!\n")
    assert added.returncode == 0, added.stderr
    assert "Classe-2026" not in added.stdout + added.stderr
    assert run("add", "mme-durand", "--password-stdin", stdin="Autre-2026!\n").returncode == 1
    short = run("add", "m-martin", "--password-stdin", stdin="court\n")
    assert short.returncode == 1 and "trop court" in short.stderr
    assert run("list").stdout.split() == ["mme-durand"]
    assert run("set-password", "mme-durand", "--password-stdin",
               stdin="Nouveau-2026!\n").returncode == 0
    from pixlab.db import make_engine, sqlite_url

    engine = make_engine(sqlite_url(tmp_path))
    assert trainers.authenticate(engine, "mme-durand", "Classe-2026!") is None
    assert trainers.authenticate(engine, "mme-durand", "Nouveau-2026!") is not None
    stored = engine.connect().execute(text("SELECT password_hash FROM trainers")).scalar_one()
    assert stored.startswith("scrypt:") and "Nouveau" not in stored
    engine.dispose()
    assert run("remove", "mme-durand").returncode == 0
    assert run("remove", "mme-durand").returncode == 1
    assert run("list").stdout.strip() == ""


def test_the_login_page_says_how_to_create_the_first_trainer(client: FlaskClient) -> None:
    page = client.get("/formateur/connexion").get_data(as_text=True)
    assert "pixlab trainer add" in page
    for label in ("Nom", "Mot de passe", "Se connecter"):
        assert label in page


def test_every_trainer_url_without_a_session_redirects_to_the_login(app: Flask, lab: Lab) -> None:
    trainer = log_in(app, lab)
    workshop_id = create_workshop(trainer)
    anonymous = app.test_client()
    base = f"/formateur/ateliers/{workshop_id}"
    for path in ("/formateur", base, f"{base}/classe", f"{base}/projeter", f"{base}/export.csv",
                 f"{base}/export.json", f"{base}/supprimer", f"{base}/eleves/1",
                 "/scenarios/formateur"):
        response = anonymous.get(path)
        assert response.status_code == 302, path
        assert response.location.startswith("/formateur/connexion"), path
    token = csrf_token(anonymous.get("/atelier").get_data(as_text=True))
    for path in ("/formateur/ateliers", f"{base}/clore", f"{base}/pannes", f"{base}/supprimer"):
        response = anonymous.post(path, data={"csrf_token": token, "confirmer": "oui"})
        assert response.status_code == 302 and "/formateur/connexion" in response.location, path
    assert service.get(lab.engine, workshop_id) is not None  # nothing was deleted


def test_the_session_cookie_and_the_12_hours(app: Flask, lab: Lab) -> None:
    trainers.add(lab.engine, "mme-durand", "Classe-2026!")
    browser = Browser(app.test_client(), "/formateur/connexion")
    response = browser.post("/formateur/connexion",
                            {"nom": "mme-durand", "mot_de_passe": "Classe-2026!"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    with browser.client.session_transaction() as session:
        session["trainer_since"] -= 12 * 3600 + 1
    assert browser.client.get("/formateur").status_code == 302
    secure = app.test_client().get("/formateur/connexion", base_url="https://localhost")
    assert "Secure" in secure.headers["Set-Cookie"]


def test_wrong_password_is_refused_without_saying_which_part(app: Flask, lab: Lab) -> None:
    trainers.add(lab.engine, "mme-durand", "Classe-2026!")
    browser = Browser(app.test_client(), "/formateur/connexion")
    for name in ("mme-durand", "personne"):
        response = browser.post("/formateur/connexion", {"nom": name, "mot_de_passe": "faux"})
        assert response.status_code == 401
        assert "Nom ou mot de passe incorrect." in response.get_data(as_text=True)


def test_another_trainers_workshop_is_404(app: Flask, lab: Lab) -> None:
    mine = create_workshop(log_in(app, lab, "mme-durand"))
    other = log_in(app, lab, "m-martin")
    base = f"/formateur/ateliers/{mine}"
    for path in (base, f"{base}/projeter", f"{base}/export.csv", f"{base}/supprimer"):
        assert other.client.get(path).status_code == 404, path
    assert other.post(f"{base}/supprimer", {"confirmer": "oui"}).status_code == 404
    assert other.post(f"{base}/pannes", {"panne": "imap-down", "etat": "on"}).status_code == 404
    assert service.get(lab.engine, mine) is not None


# -- joining -----------------------------------------------------------------------------------


def test_join_codes_have_no_look_alikes() -> None:
    codes = {service.new_join_code() for _ in range(500)}
    assert all(len(c) == 6 for c in codes)
    assert not set("".join(codes)) & set("01OIL")


def test_join_projector_qr_and_the_learners_workshop_page(app: Flask, lab: Lab) -> None:
    trainer = log_in(app, lab)
    workshop_id = create_workshop(trainer)
    workshop = service.get(lab.engine, workshop_id)
    assert workshop is not None and workshop.slugs == (FIRST, SECOND)
    page = trainer.get(f"/formateur/ateliers/{workshop_id}")
    for label in ("Projeter", "Exporter (CSV)", "Clore l'atelier", "Supprimer maintenant"):
        assert label in page
    projected = trainer.get(f"/formateur/ateliers/{workshop_id}/projeter")
    url = f"http://localhost/atelier?code={workshop.code}"
    assert "<svg" in projected and workshop.code in projected and url in projected
    import segno

    # The inline SVG is segno's own drawing of that URL, module for module.
    expected = segno.make(url, error="m").svg_inline(scale=10, border=2, title=url,
                                                      dark="#000", light="#fff")
    assert expected in projected
    # Served on the class network (`serve --lan` announces it), the projector shows
    # that address, even to a trainer whose page came by 127.0.0.1.
    app.config["PUBLIC_URL"] = "http://192.168.1.20:5000/"
    projected = trainer.get(f"/formateur/ateliers/{workshop_id}/projeter")
    assert f"http://192.168.1.20:5000/atelier?code={workshop.code}" in projected
    assert "http://localhost/" not in projected
    del app.config["PUBLIC_URL"]
    form = app.test_client().get(f"/atelier?code={workshop.code}").get_data(as_text=True)
    for label in ("Code de l'atelier", "Pseudonyme", "Rejoindre", "jamais ton vrai nom"):
        assert label in form
    learner = join(app, workshop.code.lower(), "Renard")
    mine = learner.get("/atelier/mon-atelier")
    assert "Renard" in mine
    assert mine.index(f"/scenarios/{FIRST}") < mine.index(f"/scenarios/{SECOND}")
    code = re.search(r'<strong class="code">([A-Z0-9-]+)</strong>', mine).group(1)  # type: ignore[union-attr]
    # A taken pseudonym (case and accents aside) gets a free suggestion.
    other = Browser(app.test_client(), "/atelier")
    taken = other.post("/atelier", {"code": workshop.code, "pseudonyme": "rénard"})
    assert taken.status_code == 409 and "rénard2" in taken.get_data(as_text=True)
    # Code + pseudonym + resume code bring the learner back in another browser.
    back = Browser(app.test_client(), "/atelier")
    wrong = back.post("/atelier/reprendre", {"code": workshop.code, "pseudonyme": "Renard",
                                             "reprise": "AAAA-AAAA"})
    assert wrong.status_code == 404
    response = back.post("/atelier/reprendre", {"code": workshop.code, "pseudonyme": "renard",
                                                "reprise": code})
    assert response.status_code == 303
    assert "Renard" in back.get("/atelier/mon-atelier")


def test_a_closed_workshop_refuses_joins(app: Flask, lab: Lab) -> None:
    trainer = log_in(app, lab)
    workshop_id = create_workshop(trainer)
    workshop = service.get(lab.engine, workshop_id)
    assert workshop is not None
    assert trainer.post(f"/formateur/ateliers/{workshop_id}/clore").status_code == 303
    refused = Browser(app.test_client(), "/atelier").post(
        "/atelier", {"code": workshop.code, "pseudonyme": "Hibou"})
    assert refused.status_code == 409
    assert "Cet atelier est clos" in refused.get_data(as_text=True)
    assert service.members(lab.engine, workshop_id) == []


def test_throttles_answer_in_french_with_the_wait(lab: Lab, tmp_path: Path) -> None:
    app = create_app({"DATA_DIR": str(tmp_path / "web"), "TESTING": True,
                      "RATELIMIT_JOIN": "2 per minute", "RATELIMIT_LOGIN": "2 per minute",
                      "RATELIMIT_RESUME": "2 per minute", "RATELIMIT_START": "2 per minute"},
                     lab=lab)
    browser = Browser(app.test_client(), "/atelier")
    for path, data in (("/atelier", {"code": "AAAAAA", "pseudonyme": "x"}),
                       ("/atelier/reprendre", {"code": "AAAAAA", "pseudonyme": "x",
                                               "reprise": "AAAAAAAA"}),
                       ("/formateur/connexion", {"nom": "x", "mot_de_passe": "y"}),
                       ("/bac-a-sable/reprendre", {"code": "AAAAAAAA"}),
                       ("/bac-a-sable/commencer", {})):
        statuses = [browser.post(path, data).status_code for _ in range(2)]
        assert 429 not in statuses, path
        over = browser.post(path, data)
        assert over.status_code == 429, path
        body = over.get_data(as_text=True)
        assert "Attends" in body and "secondes" in body, path
        assert 0 < int(over.headers["Retry-After"]) <= 60


def test_retention_and_throttles_come_from_the_environment_too(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXLAB_RETENTION_DAYS", "7")
    monkeypatch.setenv("PIXLAB_RATELIMIT_JOIN", "3 per minute")
    monkeypatch.setenv("PIXLAB_EMBED_ORIGINS", "https://ent.lycee.example")
    app = create_app({"DATA_DIR": str(tmp_path / "web"), "TESTING": True}, lab=lab)
    assert app.config["RETENTION_DAYS"] == 7
    assert app.config["RATELIMIT_JOIN"] == "3 per minute"
    # Only the named settings: the embed origins are the list the embed part makes.
    assert app.config["EMBED_ORIGINS"] == ("https://ent.lycee.example",)


# -- the class view, the class's mistakes, faults, the export, deletion -----------------------


def test_a_class_from_join_to_deletion(app: Flask, lab: Lab) -> None:
    trainer = log_in(app, lab)
    workshop_id = create_workshop(trainer)
    workshop = service.get(lab.engine, workshop_id)
    assert workshop is not None
    captures_before = set(lab.tap.connection_ids())
    alice, bob = join(app, workshop.code, "Alice"), join(app, workshop.code, "Bob")
    ids = member_ids(lab, workshop_id)
    test_imap(alice, "993", "tls")  # right
    test_imap(bob, "993", "starttls")  # STARTTLS on port 993: a mistake
    assert latest_test(lab, ids["Alice"])[0] is True
    assert latest_test(lab, ids["Bob"])[0] is False

    view = trainer.get(f"/formateur/ateliers/{workshop_id}/classe",
                       headers={"HX-Request": "true"})
    assert 'hx-trigger="every 4s"' in view
    assert "Alice" in view and "Bob" in view and "<strong>2</strong> inscrits" in view
    mistake = re.search(r'id="erreur-premiers-pas-imap-chiffrement-et-port">(.*?)</li>', view,
                        re.S)
    assert mistake and "1 élève" in mistake.group(1)

    # A live fault: IMAP down makes Alice's next test refused, and it recovers once off.
    base = f"/formateur/ateliers/{workshop_id}"
    assert trainer.post(f"{base}/pannes", {"panne": "imap-down", "etat": "on"}).status_code == 303
    test_imap(alice, "993", "tls")
    assert latest_test(lab, ids["Alice"]) == (False, "connection_refused")
    assert "Serveur IMAP en panne" in trainer.get(base)
    assert trainer.post(f"{base}/pannes", {"panne": "imap-down", "etat": "off"}).status_code == 303
    test_imap(alice, "993", "tls")
    assert latest_test(lab, ids["Alice"])[0] is True
    history = service.fault_history(lab.engine, lab.events, workshop_id)
    assert [(h.fault, h.on) for h in history] == [("imap-down", False), ("imap-down", True)]

    # The export: one row per learner and scenario, for a French spreadsheet.
    exported = trainer.client.get(f"{base}/export.csv")
    raw = exported.get_data()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""),
                               delimiter=";"))
    assert {(r["pseudonyme"], r["scénario"]) for r in rows} == {
        (p, s) for p in ("Alice", "Bob") for s in (FIRST, SECOND)}
    by = {(r["pseudonyme"], r["scénario"]): r for r in rows}
    # The encrypted login, and (as the player's mail pane fetched the mail) maybe the download.
    assert by[("Alice", FIRST)]["objectifs"] in ("1 / 3", "2 / 3")
    assert by[("Alice", FIRST)]["tentatives"] == "1"
    assert by[("Alice", FIRST)]["statut"] == "en cours"
    assert by[("Bob", FIRST)]["objectifs"] == "0 / 3"
    assert "chiffrement-et-port" in by[("Bob", FIRST)]["erreurs"]
    assert by[("Bob", SECOND)]["statut"] == "pas commencé"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$", by[("Alice", FIRST)]["début"])
    as_json = json.loads(trainer.client.get(f"{base}/export.json").get_data(as_text=True))
    assert len(as_json["lignes"]) == 4

    # Read-only traces of one learner.
    member = next(m for m in service.members(lab.engine, workshop_id) if m.pseudonym == "Bob")
    detail = trainer.get(f"{base}/eleves/{member.id}")
    assert "Bob" in detail and "Résultat du test" in detail and "<form" not in detail.split(
        "<main", 1)[1].split("Ses dernières opérations", 1)[1]

    # « Supprimer maintenant »: asks first, then nothing of either learner is left anywhere.
    secrets_of = learner_traces(lab, workshop_id)
    with pytest.raises(AssertionError):  # the check sees them while they are there
        assert_nothing_left(lab, secrets_of, captures_before)
    with pytest.raises(AssertionError):  # and their wire captures
        assert_no_capture_left(lab, [], captures_before)
    assert "Supprimer maintenant" in trainer.get(f"{base}/supprimer")
    assert trainer.post(f"{base}/supprimer", {"confirmer": "oui"}).status_code == 303
    assert_nothing_left(lab, secrets_of, captures_before)
    assert service.get(lab.engine, workshop_id) is None


def test_a_real_mail_program_is_marked_and_pixlabs_own_client_is_not(app: Flask, lab: Lab) -> None:
    trainer = log_in(app, lab)
    workshop_id = create_workshop(trainer, (FIRST,))
    workshop = service.get(lab.engine, workshop_id)
    assert workshop is not None
    alice, bob = join(app, workshop.code, "Alice"), join(app, workshop.code, "Bob")
    test_imap(alice, "993", "tls")  # PixLab's own client logs in to Alice's account
    test_imap(bob, "993", "tls")
    base = f"/formateur/ateliers/{workshop_id}"

    def row_of(pseudonym: str) -> str:
        lab.events.flush()
        view = trainer.get(f"{base}/classe", headers={"HX-Request": "true"})
        found = re.search(rf'<tr class="learner-[a-z-]+">\s*<th scope="row"><a [^>]+>{pseudonym}'
                          r"</a>.*?</tr>", view, re.S)
        assert found, pseudonym
        return found.group(0)

    assert "vrai logiciel connecté" not in row_of("Alice") + row_of("Bob")
    # Bob types his sheet into a real program: here the standard library's IMAP client,
    # from this machine, as Thunderbird on the laptop would.
    page = bob.get(f"/scenarios/{FIRST}")
    password = re.search(r'<code class="password">([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    address = re.search(r"<code>([a-z0-9-]+-sc@[a-z.-]+)</code>", page).group(1)  # type: ignore[union-attr]
    tls = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    with imaplib.IMAP4_SSL("127.0.0.1", lab.listener("imaps").port, ssl_context=tls) as imap:
        imap.login(address, password)
    assert "vrai logiciel connecté" in row_of("Bob")
    assert "vrai logiciel connecté" not in row_of("Alice")


def learner_traces(lab: Lab, workshop_id: int) -> list[str]:
    """Every string that would identify a workshop's learners: pseudonyms, codes, addresses."""
    from pixlab.web.workshops import key_of

    found: list[str] = []
    for member in service.members(lab.engine, workshop_id):
        found += [member.pseudonym, member.resume_code, member.address, key_of(member.address)]
    return found


def assert_no_capture_left(lab: Lab, traces: list[str], captures_before: set[str]) -> None:
    """The tap keeps in memory no capture but those kept before the learners came, and
    none of these strings is in what it keeps."""
    kept = set(lab.tap.connection_ids())
    assert kept <= captures_before, sorted(kept - captures_before)
    for connection_id in lab.tap.connection_ids():
        capture = lab.tap.capture(connection_id)
        wire = b"".join(c.data for c in capture.chunks) if capture else b""
        for trace in traces:
            assert trace.lower().encode() not in wire.lower(), (connection_id, trace)


def assert_nothing_left(lab: Lab, traces: list[str], captures_before: set[str]) -> None:
    """Read every table, every column, the store and the tap's wire captures in memory:
    none of these strings is anywhere."""
    lab.events.flush()
    assert_no_capture_left(lab, traces, captures_before)
    with lab.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')).all():
                for value in row:
                    shown = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(
                        value)
                    for trace in traces:
                        assert trace.lower() not in shown.lower(), (table, trace, shown[:200])
    for trace in traces:
        if "@" in trace:
            assert lab.store.account(trace) is None


def test_the_retention_purge_deletes_ended_workshops_and_idle_sandbox_learners(
    app: Flask, lab: Lab
) -> None:
    from pixlab.web.workshops import key_of

    trainer = log_in(app, lab)
    workshop_id = create_workshop(trainer, (FIRST,))
    workshop = service.get(lab.engine, workshop_id)
    assert workshop is not None
    captures_before = set(lab.tap.connection_ids())
    learner = join(app, workshop.code, "Loutre")
    test_imap(learner, "993", "tls")
    test_imap(learner, "993", "starttls")  # a TLS mistake: no login, no account in the log
    sandbox = Browser(app.test_client(), "/bac-a-sable")
    assert sandbox.post("/bac-a-sable/commencer").status_code == 303
    traces = learner_traces(lab, workshop_id)
    with pytest.raises(AssertionError):  # the check sees their captures while they are there
        assert_no_capture_left(lab, traces, captures_before)
    now = time.time()
    # Still open: nothing goes, even long after.
    assert retention.purge_expired(lab, key_of, 30, now=now)["workshops"] == 0
    service.close(lab.engine, workshop)
    assert retention.purge_expired(lab, key_of, 30, now=now + 29 * 86400)["workshops"] == 0
    gone = retention.purge_expired(lab, key_of, 30, now=now + 31 * 86400)
    assert gone == {"workshops": 1, "learners": 2}  # the workshop's, and the idle sandbox one
    assert_nothing_left(lab, traces, captures_before)
    with lab.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM learners")).scalar_one() == 0


def add_class(app: Flask, lab: Lab, workshop: service.WorkshopInfo, size: int) -> None:
    """`size` members, as joining makes them; every other one has started the first scenario
    and every fourth has given it up and started again (two attempts)."""
    from pixlab.sandbox.store import new_lab_address, new_lab_password
    from pixlab.web import scenario_attempts
    from pixlab.web.workshops import key_of

    store = DeviceStore(lab.engine)
    with app.app_context():
        engine = scenario_attempts.engine()
        for n in range(size):
            learner = store.create_learner(new_lab_address(DOMAIN), new_lab_password())
            service.add_member(lab.engine, workshop, learner.id, f"Eleve {workshop.id}-{n}")
            if n % 2 == 0:
                attempt = engine.start(key_of(learner.address), FIRST)
                if n % 4 == 0:
                    engine.give_up(attempt.id)
                    engine.start(key_of(learner.address), FIRST)


def test_the_class_view_costs_the_same_queries_for_5_learners_as_for_30(
    app: Flask, lab: Lab
) -> None:
    from sqlalchemy import event

    trainer = log_in(app, lab)
    sizes = {5: create_workshop(trainer), 30: create_workshop(trainer)}
    for size, workshop_id in sizes.items():
        workshop = service.get(lab.engine, workshop_id)
        assert workshop is not None
        add_class(app, lab, workshop, size)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    counted = {}
    for size, workshop_id in sizes.items():
        lab.events.flush()
        statements.clear()
        event.listen(lab.engine, "before_cursor_execute", count)
        try:
            view = trainer.get(f"/formateur/ateliers/{workshop_id}/classe",
                               headers={"HX-Request": "true"})
        finally:
            event.remove(lab.engine, "before_cursor_execute", count)
        assert f"<strong>{size}</strong> inscrits" in view
        assert view.count("En cours") >= size // 2  # their attempts were read
        counted[size] = list(statements)
    assert len(counted[5]) == len(counted[30]), (counted[5], counted[30])
    assert len(counted[30]) <= 8, [s[:60] for s in counted[30]]


def test_the_password_fault_switched_off_brings_the_old_password_back(app: Flask, lab: Lab) -> None:
    trainer = log_in(app, lab)
    workshop_id = create_workshop(trainer, (FIRST,))
    workshop = service.get(lab.engine, workshop_id)
    assert workshop is not None
    alice = join(app, workshop.code, "Alice")
    test_imap(alice, "993", "tls")
    base = f"/formateur/ateliers/{workshop_id}"

    def sheet() -> tuple[str, str]:
        page = alice.get(f"/scenarios/{FIRST}")
        password = re.search(r'<code class="password">([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
        address = re.search(r"<code>([a-z0-9-]+-sc@[a-z.-]+)</code>", page).group(1)  # type: ignore[union-attr]
        return address, password

    def logs_in(address: str, password: str) -> bool:
        tls = ssl.create_default_context(cafile=str(lab.ca.ca_path))
        with imaplib.IMAP4_SSL("127.0.0.1", lab.listener("imaps").port, ssl_context=tls) as imap:
            try:
                imap.login(address, password)
            except imaplib.IMAP4.error:
                return False
            return True

    address, old = sheet()
    assert logs_in(address, old)
    switch = {"panne": "password-changed", "etat": "on"}
    assert trainer.post(f"{base}/pannes", switch).status_code == 303
    _, new = sheet()
    assert new != old  # the IT service's new password is on the sheet
    assert not logs_in(address, old) and logs_in(address, new)
    assert trainer.post(f"{base}/pannes", switch).status_code == 303  # on twice: no change
    assert sheet()[1] == new
    assert trainer.post(f"{base}/pannes", {**switch, "etat": "off"}).status_code == 303
    assert sheet()[1] == old  # the fault is gone: the sheet and the server as before
    assert logs_in(address, old) and not logs_in(address, new)
    test_imap(alice, "993", "tls")
    assert latest_test(lab, member_ids(lab, workshop_id)["Alice"])[0] is True


def test_a_course_pages_frame_asks_the_pseudonym_and_the_class_view_counts_the_pupil(
    app: Flask, lab: Lab
) -> None:
    import html

    trainer = log_in(app, lab)
    workshop_id = create_workshop(trainer, (FIRST,))
    workshop = service.get(lab.engine, workshop_id)
    assert workshop is not None
    base = f"/formateur/ateliers/{workshop_id}"
    embed_url = f"/integration/{FIRST}?atelier={workshop.code}"
    # « Partager » on the workshop page gives that URL, and the iframe to paste.
    shared = html.unescape(trainer.get(base))
    assert f'<iframe src="http://localhost{embed_url}"' in shared

    pupil = Browser(app.test_client(), embed_url)
    frame = pupil.get(embed_url)
    assert 'class="site-header"' not in frame and 'id="pix-embed"' in frame  # still embedded
    assert f'action="/integration/{FIRST}/atelier"' in frame and f'value="{workshop.code}"' in frame
    join_url = f"/integration/{FIRST}/atelier"
    # The same rules as /atelier: CSRF, a pseudonym taken (with a free one), a wrong code.
    assert pupil.client.post(join_url, data={"code": workshop.code,
                                             "pseudonyme": "Zoé"}).status_code == 400
    join(app, workshop.code, "Alice")
    taken = pupil.post(join_url, {"code": workshop.code, "pseudonyme": "alice"})
    assert taken.status_code == 409 and "alice2" in taken.get_data(as_text=True)
    wrong = pupil.post(join_url, {"code": "ZZZZZZ", "pseudonyme": "Zoé"})
    assert wrong.status_code == 422 and "Aucun atelier n'a ce code" in wrong.get_data(as_text=True)
    # A scenario the workshop does not have: its code does not open it.
    other_scenario = f"/integration/{SECOND}?atelier={workshop.code}"
    assert "Aucun atelier n'a ce code" in pupil.get(other_scenario)
    assert pupil.post(f"/integration/{SECOND}/atelier", {
        "code": workshop.code, "pseudonyme": "Zoé"}).status_code == 422

    joined = pupil.post(join_url, {"code": workshop.code, "pseudonyme": "Zoé"})
    assert joined.status_code == 303 and joined.location == embed_url
    intro = pupil.get(embed_url)
    assert "Commencer le scénario" in intro  # a member: the scenario itself
    zoe_code = next(m for m in service.members(lab.engine, workshop_id)
                    if m.pseudonym == "Zoé").resume_code
    # … and her resume code, to come back in the frame from another browser.
    assert re.search(r'<strong class="code">([A-Z0-9-]+)</strong>', intro).group(1).replace(  # type: ignore[union-attr]
        "-", "") == zoe_code
    test_imap(pupil, "993", "tls", player="/integration")
    assert "Zoé" in {m.pseudonym for m in service.members(lab.engine, workshop_id)}

    view = trainer.get(f"{base}/classe", headers={"HX-Request": "true"})
    assert "<strong>2</strong> inscrits" in view
    row = re.search(r'<tr class="learner-[a-z-]+">\s*<th scope="row"><a [^>]+>Zoé</a>.*?</tr>',
                    view, re.S)
    assert row and "En cours" in row.group(0)
    rows = list(csv.DictReader(io.StringIO(
        trainer.client.get(f"{base}/export.csv").get_data().decode("utf-8-sig"), newline=""),
        delimiter=";"))
    zoe = next(r for r in rows if r["pseudonyme"] == "Zoé")
    assert zoe["tentatives"] == "1" and zoe["objectifs"] in ("1 / 3", "2 / 3")

    # Back in the frame from another browser: the resume code, as on /atelier.
    member = next(m for m in service.members(lab.engine, workshop_id) if m.pseudonym == "Zoé")
    other = Browser(app.test_client(), embed_url)
    back = other.post(f"/integration/{FIRST}/atelier/reprendre", {
        "code": workshop.code, "pseudonyme": "zoé", "reprise": member.resume_code})
    assert back.status_code == 303 and back.location == embed_url
    assert "Commencer le scénario" not in other.get(embed_url)  # her attempt, in play
    # A closed workshop: its members go on playing; nobody else joins.
    service.close(lab.engine, workshop)
    assert "Cet atelier est clos" in Browser(app.test_client(), embed_url).get(embed_url)
    assert 'id="objectif-' in other.get(embed_url)
