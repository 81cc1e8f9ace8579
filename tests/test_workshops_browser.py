"""A workshop in a real Chromium: a trainer, two learners in their own browsers, a mistake,
a completed scenario, a live fault, and the export read back."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import PageWatch
from playwright.sync_api import Browser, Page, expect
from test_sandbox_browser import serious_violations, served

from pixlab.lab.runner import Lab
from pixlab.web import create_app
from pixlab.workshops import trainers

pytestmark = pytest.mark.browser

DOMAIN = "lycee-exemple.test"
FIRST, SECOND = "Premiers pas en IMAP", "Le bon port pour le bon chiffrement"


@pytest.fixture
def serve(make_lab: Callable[..., Lab], tmp_path: Path) -> Iterator[tuple[str, Lab]]:
    with ExitStack() as servers:
        lab = make_lab()
        trainers.add(lab.engine, "mme-durand", "Classe-2026!")
        app = create_app({"DATA_DIR": str(tmp_path / "web"), "SANDBOX_CLIENT_TIMEOUT": 1.0},
                         lab=lab)
        yield servers.enter_context(served(app)), lab


def test_incoming(page: Page, port: str, security: str) -> None:  # noqa: PT028
    """Type the sheet's account with this port and security, and test the incoming server."""
    sheet = page.locator(".sheet")
    password = sheet.locator("code.password").inner_text()
    address = sheet.locator(".sheet-account dd code").first.inner_text()
    page.get_by_label("Mot de passe", exact=True).fill(password)
    incoming = page.get_by_role("group", name="Serveur entrant")
    incoming.get_by_label("Protocole").select_option("imap")
    incoming.get_by_label("Nom d’hôte").fill(f"imap.{DOMAIN}")
    incoming.get_by_label("Port").fill(port)
    incoming.get_by_label("Sécurité de la connexion").select_option(security)
    incoming.get_by_label("Nom d’utilisateur").fill(address)
    page.get_by_role("button", name="Tester le serveur entrant seul").click()


test_incoming.__test__ = False  # type: ignore[attr-defined]


def join(browser: Browser, watch: PageWatch, url: str, code: str, pseudonym: str) -> Page:
    context = browser.new_context()
    watch.attach(context)  # the learners' pages keep to the CSP too
    page = context.new_page()
    page.goto(url + "/atelier")
    page.get_by_label("Code de l'atelier").first.fill(code)
    page.get_by_label("Pseudonyme").first.fill(pseudonym)
    page.get_by_role("button", name="Rejoindre").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("4e B")
    page.get_by_role("link", name=FIRST).click()
    page.get_by_role("button", name="Commencer le scénario").click()
    expect(page.get_by_role("heading", name="Ta mission")).to_be_visible()
    return page


def test_a_trainer_runs_a_workshop_with_two_learners(
    serve: tuple[str, Lab], page: Page, browser: Browser, page_watch: PageWatch
) -> None:
    url, _lab = serve
    # The trainer logs in and creates a workshop with two scenarios.
    page.goto(url + "/formateur")
    expect(page.get_by_role("heading", level=1)).to_have_text("Connexion formateur")
    assert serious_violations(page) == []
    page.get_by_label("Nom", exact=True).fill("mme-durand")
    page.get_by_label("Mot de passe").fill("Classe-2026!")
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Nom de l'atelier").fill("4e B")
    page.get_by_label(FIRST, exact=True).check()
    page.get_by_label(SECOND, exact=True).check()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Créer un atelier").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("4e B")
    code = page.locator(".join-box .join-code").inner_text()
    assert re.fullmatch(r"[A-HJKMNP-Z2-9]{6}", code)

    # Two learners join in browsers of their own: one makes a mistake, one completes.
    alice = join(browser, page_watch, url, code, "Alice")
    bob = join(browser, page_watch, url, code, "Bob")
    test_incoming(bob, "993", "starttls")
    expect(bob.locator("#resultat, .record").first).to_be_visible()
    test_incoming(alice, "993", "tls")
    expect(alice.locator("#objectif-connexion-chiffree .mark")).to_contain_text("Atteint")
    pane = alice.locator(".pane").first
    expect(pane.locator(".messages li")).not_to_have_count(0)
    pane.get_by_role("link", name=re.compile("Bienvenue")).first.click()
    expect(alice.get_by_role("heading", name="Le bilan")).to_be_visible(timeout=10_000)

    # The class view (polled by htmx) shows both, and the mistake with its count.
    classe = page.locator("#classe")
    expect(classe).to_contain_text("Alice", timeout=10_000)
    expect(classe).to_contain_text("Bob")
    expect(classe.locator("tr", has_text="Alice")).to_contain_text("Terminé")
    mistake = classe.locator("#erreur-premiers-pas-imap-chiffrement-et-port")
    expect(mistake).to_contain_text("1 élève")
    assert serious_violations(page) == []

    # A live fault: IMAP down. Bob's next test is refused, and works again once it is off.
    page.get_by_role("button", name="Activer : Serveur IMAP en panne".replace(" :", "\u00a0:")
                     ).click()
    expect(page.locator("#pannes")).to_contain_text("Activée")
    test_incoming(bob, "993", "tls")
    expect(bob.locator(".record").first).to_contain_text("refus", ignore_case=True)
    expect(bob.locator("#objectif-connexion-chiffree .mark")).not_to_contain_text("Atteint")
    page.get_by_role("button", name="Couper : Serveur IMAP en panne".replace(" :", "\u00a0:")
                     ).click()
    test_incoming(bob, "993", "tls")
    expect(bob.locator("#objectif-connexion-chiffree .mark")).to_contain_text("Atteint")

    # The export: both learners, the right figures, read back with `;`.
    with page.expect_download() as download:
        page.get_by_role("link", name="Exporter (CSV)").first.click()
    raw = Path(download.value.path()).read_bytes()
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""),
                               delimiter=";"))
    by = {(r["pseudonyme"], r["scénario"]): r for r in rows}
    assert len(rows) == 4
    assert by[("Alice", "premiers-pas-imap")]["statut"] == "terminé"
    assert by[("Alice", "premiers-pas-imap")]["objectifs"] == "3 / 3"
    assert by[("Bob", "premiers-pas-imap")]["statut"] == "en cours"
    assert "chiffrement-et-port" in by[("Bob", "premiers-pas-imap")]["erreurs"]
    assert by[("Bob", "bon-port-bon-chiffrement")]["statut"] == "pas commencé"
    for context in (alice.context, bob.context):
        context.close()
