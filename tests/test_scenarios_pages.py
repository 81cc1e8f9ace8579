"""The scenario pages through Flask's client: catalogue, player, hints, quiz, safety, trainer."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pixlab.lab.runner import Lab
from pixlab.scenarios import progress
from pixlab.web import create_app
from pixlab.workshops import trainers

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases

SLUG = "ordinateur-et-telephone"
FIRST = "premiers-pas-imap"
NBSP = "\u00a0"
BROKEN = """format_version = 1
slug = "casse"
title = { fr = "Cassé" }
summary = { fr = "x" }
story = { fr = "x" }
debrief = { fr = "x" }
level = "novice"
minutes = 5
competences = ["2.1"]
quota = 3
"""


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Player:
    """A browser session playing scenarios."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str, **kw: object) -> str:
        response = self.client.get(path, **kw)  # type: ignore[arg-type]
        assert response.status_code == 200, (path, response.status_code)
        return response.get_data(as_text=True)

    def post(self, path: str, data: dict[str, object] | None = None, **kw: object):  # type: ignore[no-untyped-def]
        token = csrf_token(self.get("/scenarios"))
        return self.client.post(path, data={"csrf_token": token, **(data or {})}, **kw)  # type: ignore[arg-type]

    def start(self, slug: str = SLUG) -> str:
        response = self.post(f"/scenarios/{slug}/commencer")
        assert response.status_code == 303
        return self.get(f"/scenarios/{slug}")


@pytest.fixture
def app_with_broken(lab: Lab, tmp_path: Path) -> Flask:
    extra = tmp_path / "mes-scenarios"
    extra.mkdir()
    (extra / "casse.toml").write_text(BROKEN)
    return create_app({"DATA_DIR": str(tmp_path / "web"), "TESTING": True,
                       "SCENARIOS_DIRS": [str(extra)], "SANDBOX_CLIENT_TIMEOUT": 1.0}, lab=lab)


@pytest.fixture
def player(client: FlaskClient) -> Player:
    return Player(client)


def test_the_catalogue_lists_the_scenarios_with_level_minutes_competences_and_progress(
    player: Player,
) -> None:
    page = player.get("/scenarios")
    assert "Premiers pas en IMAP" in page and "Ordinateur et téléphone" in page
    assert "Indépendant" in page and "environ 15" in page and "2.1 Interagir" in page
    assert f"Objectifs atteints{NBSP}: 0 sur 3" in page
    assert "Pas commencé" in page
    player.start()
    page = player.get("/scenarios")
    assert "En cours" in page


def test_the_player_shows_story_sheet_objectives_and_the_devices_editable_fields(
    player: Player,
) -> None:
    page = player.start()
    assert "Ta mission" in page and "Fiche de connexion" in page
    assert "pop.lycee-exemple.test" in page and "995" in page
    assert page.count('class="objective todo"') == 3 and "Pas encore" in page
    assert 'hx-trigger="every 2s' in page
    # The computer's form: leave-on-server may change, the outgoing server may not.
    assert re.search(r'id="outgoing_host"[^>]*disabled', page)
    assert not re.search(r'name="leave_on_server" value="forever"[^>]*disabled', page)
    assert "Ordinateur familial" in page and "-sc@lycee-exemple.test" in page


def test_a_player_page_reads_its_attempt_once_not_once_per_question(
    player: Player, monkeypatch: pytest.MonkeyPatch
) -> None:
    player.start()
    player.get(f"/scenarios/{SLUG}")  # the arrivals due at the start are written
    reads = []
    by_id = progress._READ_BY_ID
    read = by_id.rows
    monkeypatch.setattr(by_id, "rows", lambda *a, **kw: reads.append(1) or read(*a, **kw))
    page = player.get(f"/scenarios/{SLUG}")
    assert "Ta mission" in page and "Pas encore" in page  # the whole page, devices and all
    # Once, and once again after the phone's mail pane wrote its fetch into the attempt.
    # Sixteen before: each of the page's questions read the row.
    assert len(reads) == 2


def test_playing_scenario_2_the_right_way_meets_every_objective(player: Player) -> None:
    player.start()
    base = f"/scenarios/{SLUG}"
    saved = player.post(f"{base}/appareils/ordinateur/reglages",
                        {"leave_on_server": "forever", "action": "save"})
    assert saved.status_code == 303
    devices = re.findall(r'action="/bac-a-sable/appareils/(\d+)/relever"', player.get(base))
    assert len(devices) == 2
    fetched = player.post(f"/bac-a-sable/appareils/{devices[0]}/relever", {"next": base})
    assert fetched.status_code == 303 and fetched.location.startswith(base)
    player.post(f"/bac-a-sable/appareils/{devices[1]}/relever", {"next": base})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        fragment = player.get(f"{base}/objectifs", headers={"HX-Request": "true"})
        if fragment.count('class="objective met') == 3:
            break
        time.sleep(0.2)
    assert fragment.count('class="objective met') == 3
    page = player.get(base)
    assert "Le bilan" in page and "Mission accomplie" in page and "Le quiz" in page


def test_hints_come_one_by_one_and_stop_at_the_last(player: Player) -> None:
    player.start()
    base = f"/scenarios/{SLUG}"
    assert "Voir un indice (1 sur 3)" in player.get(base)
    fragment = player.post(f"{base}/indice", headers={"HX-Request": "true"})
    text = fragment.get_data(as_text=True)
    assert "Compare les réglages de réception" in text and "(2 sur 3)" in text
    player.post(f"{base}/indice")
    player.post(f"{base}/indice")
    page = player.post(f"{base}/indice", follow_redirects=True).get_data(as_text=True)
    assert "Tu as vu tous les indices." in page and "Voir un indice" not in page


def test_give_up_shows_the_debrief_and_the_quiz_keeps_the_first_answer(player: Player) -> None:
    player.start()
    base = f"/scenarios/{SLUG}"
    assert player.post(f"{base}/abandonner").status_code == 303
    page = player.get(base)
    assert "Le bilan" in page and "Tu as arrêté avant la fin" in page
    assert "IMAP, lui, synchronise" in page and 'hx-trigger="every 2s' not in page
    empty = player.post(f"{base}/quiz/deux-appareils", headers={"HX-Request": "true"})
    assert empty.status_code == 422 and "Choisis au moins une réponse" in empty.get_data(True)
    wrong = player.post(f"{base}/quiz/deux-appareils", {"choix": "2"},
                        headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Pas tout à fait." in wrong and "bonne réponse" in wrong
    assert f"Pourquoi{NBSP}:" in wrong and "IMAP garde les messages" in wrong
    again = player.post(f"{base}/quiz/deux-appareils", {"choix": "1"},
                        headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Pas tout à fait." in again  # the first answer is the one kept
    several = player.post(f"{base}/quiz/pop3-sans-laisser", {"choix": ["1", "2"]})
    assert several.status_code == 303
    assert "Bonne réponse" in player.get(base)


def test_retry_starts_afresh(player: Player) -> None:
    player.start()
    base = f"/scenarios/{SLUG}"
    player.post(f"{base}/indice")
    player.post(f"{base}/abandonner")
    assert player.post(f"{base}/recommencer").status_code == 303
    page = player.get(base)
    assert "Ta mission" in page and "Voir un indice (1 sur 3)" in page and "Le bilan" not in page


def test_scenario_1_in_english_tests_imap_993_and_is_done(player: Player) -> None:
    player.post("/langue", {"lang": "en", "next": "/scenarios"})
    page = player.start(FIRST)
    assert "Your mission" in page and "Objectives" in page
    password = re.search(r'<code class="password">([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    address = re.search(r"<code>([a-z0-9-]+-sc@[a-z.-]+)</code>", page).group(1)  # type: ignore[union-attr]
    response = player.post(f"/scenarios/{FIRST}/appareils/ordinateur/reglages", {
        "password": password, "incoming_protocol": "imap",
        "incoming_host": "imap.lycee-exemple.test", "incoming_port": "993",
        "incoming_security": "tls", "incoming_auth": "normal", "incoming_username": address,
        "action": "test-incoming"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "pixlab-mail-changed" in response.headers["HX-Trigger"]
    page = player.get(f"/scenarios/{FIRST}")  # the IMAP pane fetches the mail
    assert "Welcome" in page
    items = [item for item in page.split("<li") if "message=" in item and "Welcome" in item]
    assert items, "no welcome message in the computer's pane"
    link = re.search(r'href="([^"]+)"', items[0])
    opened = player.get(link.group(1).replace("&amp;", "&"))  # type: ignore[union-attr]
    assert "reading" in opened
    page = player.get(f"/scenarios/{FIRST}")
    assert page.count('class="objective met') == 3, re.findall(r'objective (?:met|todo)', page)
    assert "The debrief" in page and "Mission accomplished" in page


def test_a_learner_sees_only_their_own_attempt_and_devices(app: Flask) -> None:
    alice, bob = Player(app.test_client()), Player(app.test_client())
    page = alice.start()
    device = re.findall(r'action="/bac-a-sable/appareils/(\d+)/relever"', page)[0]
    assert bob.client.get(f"/scenarios/{SLUG}/objectifs").status_code == 404
    assert bob.post(f"/scenarios/{SLUG}/indice").status_code == 404
    bob.start()
    assert bob.client.get(f"/bac-a-sable/appareils/{device}/courrier").status_code == 404
    assert bob.post(f"/bac-a-sable/appareils/{device}/relever").status_code == 404
    alice_address = re.search(r"<code>([a-z0-9-]+-sc@[a-z.-]+)</code>", page).group(1)  # type: ignore[union-attr]
    assert alice_address not in bob.get(f"/scenarios/{SLUG}")


def test_forms_refuse_a_post_without_csrf_token(player: Player) -> None:
    player.start()
    for path in ("indice", "abandonner", "recommencer", "quiz/deux-appareils",
                 "appareils/ordinateur/reglages"):
        assert player.client.post(f"/scenarios/{SLUG}/{path}").status_code == 400, path
    assert player.client.post("/scenarios/premiers-pas-imap/commencer").status_code == 400


def test_unknown_scenario_and_device_are_404(player: Player) -> None:
    assert player.client.get("/scenarios/nulle-part").status_code == 404
    player.start()
    assert player.post(f"/scenarios/{SLUG}/appareils/tablette/reglages",
                       {"action": "save"}).status_code == 404


def test_a_broken_scenario_is_shown_to_the_trainer_and_the_app_still_works(
    app_with_broken: Flask,
) -> None:
    player = Player(app_with_broken.test_client())
    catalogue = player.get("/scenarios")
    assert "Cassé" not in catalogue and "Premiers pas en IMAP" in catalogue
    assert "Scénarios en erreur" in catalogue
    # The trainer's view needs a trainer's session.
    assert player.client.get("/scenarios/formateur").status_code == 302
    lab = app_with_broken.extensions["pixlab.lab"]
    trainers.add(lab.engine, "mme-durand", "Classe-2026!")
    login = player.get("/formateur/connexion")
    assert player.client.post("/formateur/connexion", data={
        "csrf_token": csrf_token(login), "nom": "mme-durand",
        "mot_de_passe": "Classe-2026!"}).status_code == 303
    trainer = player.get("/scenarios/formateur")
    assert "casse.toml" in trainer and "lab.quota" not in trainer  # a top-level key here
    assert "quota" in trainer and "did you mean" in trainer or "unknown key" in trainer
    assert "Erreurs à surveiller" in trainer and "L&#39;ordinateur a effacé" in trainer
    assert player.client.get("/scenarios/casse").status_code == 404
    assert "Ta mission" in player.start()


def test_the_rate_limit_applies_to_a_scenarios_tests(lab: Lab, tmp_path: Path) -> None:
    app = create_app({"DATA_DIR": str(tmp_path / "web"), "TESTING": True,
                      "SANDBOX_TESTS_PER_MINUTE": 1}, lab=lab)
    player = Player(app.test_client())
    player.start()
    path = f"/scenarios/{SLUG}/appareils/telephone/reglages"
    first = player.post(path, {"action": "test-incoming"}, headers={"HX-Request": "true"})
    assert first.status_code == 200
    second = player.post(path, {"action": "test-incoming"}, headers={"HX-Request": "true"})
    assert second.status_code == 429 and "Doucement" in second.get_data(as_text=True)


def test_a_scenario_device_is_set_written_from_and_named_only_in_its_player(
    player: Player,
) -> None:
    page = player.start()
    base = f"/scenarios/{SLUG}"
    computer = re.findall(r'action="/bac-a-sable/appareils/(\d+)/relever"', page)[0]
    # The sandbox's own settings and compose pages send the learner back to the player.
    settings = player.client.get(f"/bac-a-sable/appareils/{computer}/reglages")
    assert settings.status_code == 302 and settings.location.startswith(f"{base}?reglages=")
    compose = player.client.get(f"/bac-a-sable/appareils/{computer}/ecrire")
    assert compose.status_code == 302 and "ecrire=ordinateur" in compose.location
    assert f"{base}?ecrire=ordinateur" in page.replace("&amp;", "&")
    writing = player.get(f"{base}?ecrire=ordinateur")
    assert f'action="{base}/appareils/ordinateur/ecrire"' in writing
    assert "Relever le courrier<span class=\"visually-hidden\"> (Ordinateur familial)" in page


def test_the_account_page_makes_an_application_password_shown_once_that_the_lab_accepts(
    player: Player,
) -> None:
    slug = "validation-en-deux-etapes"
    page = player.start(slug)
    assert 'id="compte"' in page and "Page de réinitialisation" not in page
    # The program's usual password is refused with Gmail's words.
    refused = player.post(f"/scenarios/{slug}/appareils/ordinateur/reglages",
                          {"action": "test-incoming"}, headers={"HX-Request": "true"})
    assert "Application-specific password required" in refused.get_data(as_text=True)
    made = player.post(f"/scenarios/{slug}/compte/mot-de-passe-d-application",
                       {"logiciel": "Thunderbird <b>"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    text = made.get_data(as_text=True)
    shown = re.search(r'id="mot-de-passe-application">([a-z ]{19})</code>', text)
    assert shown and "Thunderbird &lt;b&gt;" in text
    later = player.get(f"/scenarios/{slug}")
    assert shown.group(1) not in later and "Thunderbird &lt;b&gt;" in later  # shown once
    tested = player.post(f"/scenarios/{slug}/appareils/ordinateur/reglages",
                         {"password": shown.group(1), "action": "test-incoming"},
                         headers={"HX-Request": "true"})
    assert "Application-specific" not in tested.get_data(as_text=True)
    assert 'class="objective met" id="objectif-reception"' in player.get(f"/scenarios/{slug}")
    # Without the page's CSRF token, nothing is made.
    forged = player.client.post(f"/scenarios/{slug}/compte/mot-de-passe-d-application",
                                data={"logiciel": "x"})
    assert forged.status_code in (400, 403)


def test_the_account_page_lists_the_strangers_login_and_a_new_password_locks_it_out(
    player: Player,
) -> None:
    slug = "qui-s-est-connecte"
    page = player.start(slug)
    assert 'id="titre-connexions"' in page and "<code>127.0.0.7</code>" in page
    assert "Inconnu" in page and 'id="creer-mot-de-passe-application"' not in page
    old = re.search(r'<code class="password">([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    changed = player.post(f"/scenarios/{slug}/compte/nouveau-mot-de-passe")
    assert changed.status_code == 303 and "#compte" in changed.headers["Location"]
    page = player.get(changed.headers["Location"])
    new = re.search(r'id="nouveau-mot-de-passe">([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    assert new != old
    assert 'class="objective met" id="objectif-inconnu-refuse"' in page
    forged = player.client.post(f"/scenarios/{slug}/compte/nouveau-mot-de-passe")
    assert forged.status_code in (400, 403)
