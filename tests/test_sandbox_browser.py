"""The sandbox in a real Chromium: a new learner sets up devices, tests, reads, sends and watches.

Each test serves the app with waitress, as `pixlab serve` does, in front of a
real lab; axe-core checks every page the learner goes through.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import PageWatch
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from waitress import create_server

from pixlab.lab.runner import Lab
from pixlab.web import create_app

pytestmark = pytest.mark.browser

DOMAIN = "lycee-exemple.test"


def serious_violations(page: Page) -> list[str]:
    # The timeline's steps fade in one after the other: judge the contrast once they are in.
    # (Polled from here: Playwright's wait_for_function evaluates a string in the page,
    # which the CSP refuses, as it should.)
    for _ in range(100):
        if page.evaluate(
            "() => document.getAnimations().every(a => a.playState !== 'running' || "
            "a.effect.getComputedTiming().iterations === Infinity)"
        ):
            break
        page.wait_for_timeout(50)
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes']][:3]})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@contextmanager
def served(app: Flask) -> Iterator[str]:
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=5)


@pytest.fixture
def serve(make_lab: Callable[..., Lab], tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start a lab (with the given configuration) and the app in front of it; returns its URL."""
    with ExitStack() as servers:

        def start(**lab_config: object) -> str:
            lab = make_lab(**lab_config)
            app = create_app(
                {"DATA_DIR": str(tmp_path / "web"), "SANDBOX_CLIENT_TIMEOUT": 1.0}, lab=lab
            )
            return servers.enter_context(served(app))

        yield start


def start_learner(page: Page, url: str, axe: bool = True) -> tuple[str, str]:
    """Open the sandbox as a new learner; returns the address and password of the sheet."""
    page.goto(url + "/bac-a-sable")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bac à sable")
    if axe:
        assert serious_violations(page) == []
    page.get_by_role("button", name="Commencer l'entraînement").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ton bac à sable")
    sheet = page.locator(".sheet")
    address = sheet.locator(".sheet-account dd code").first.inner_text()
    password = sheet.locator("code.password").inner_text()
    assert address.endswith("@" + DOMAIN)
    return address, password


def fill_settings(page: Page, address: str, password: str, protocol: str = "imap",
                  port: str = "993", security: str = "tls", host: str | None = None) -> None:
    """Type the settings as a learner does, one labelled field after the other."""
    page.get_by_label("Mot de passe", exact=True).fill(password)
    incoming = page.get_by_role("group", name="Serveur entrant")
    incoming.get_by_label("Protocole").select_option(protocol)
    incoming.get_by_label("Nom d’hôte").fill(host or f"{'imap' if protocol == 'imap' else 'pop'}"
                                             f".{DOMAIN}")
    incoming.get_by_label("Port").fill(port)
    incoming.get_by_label("Sécurité de la connexion").select_option(security)
    incoming.get_by_label("Méthode d’authentification").select_option("normal")
    expect(incoming.get_by_label("Nom d’utilisateur")).to_have_value(address)
    outgoing = page.get_by_role("group", name="Serveur sortant")
    outgoing.get_by_label("Nom d’hôte").fill(f"smtp.{DOMAIN}")
    outgoing.get_by_label("Port").fill("465")
    outgoing.get_by_label("Sécurité de la connexion").select_option("tls")


def test_a_new_learner_sets_up_imap_993_tests_and_sees_the_inbox(
    serve: Callable[..., str], page: Page
) -> None:
    url = serve()
    address, password = start_learner(page, url)
    assert serious_violations(page) == []
    page.get_by_role("link", name="Réglages du compte (Ordinateur)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Réglages du compte")
    assert serious_violations(page) == []
    fill_settings(page, address, password)
    page.get_by_role("button", name="Tester", exact=True).click()
    result = page.locator("#resultat")
    expect(result.locator(".trace-ok")).to_have_count(2)
    incoming = result.locator("article").filter(has_text="Serveur entrant (IMAP)")
    expect(incoming.locator(".step-ok")).to_have_count(7)
    expect(incoming).to_contain_text("Paramètres de configuration valides")
    assert page.evaluate("document.activeElement.id") == "tester"  # focus kept on the button
    expect(page.locator("#annonce")).to_contain_text("tout a fonctionné")
    assert serious_violations(page) == []
    # The spy only sees encrypted records.
    incoming.get_by_text("Ce que voit un espion sur le réseau").click()
    expect(incoming.locator(".wire-hex").first).to_be_visible()
    expect(incoming.locator("mark.secret")).to_have_count(0)
    page.get_by_role("link", name="Ouvrir le courrier de cet appareil").click()
    pane = page.locator(".pane")
    expect(pane.locator(".messages li")).to_have_count(3)
    pane.get_by_role("link", name=re.compile("Bienvenue dans ta boîte")).click()
    expect(pane.locator(".reading h3")).to_contain_text("Bienvenue dans ta boîte")
    expect(pane.locator(".message-body")).to_contain_text("hameçonnage")
    assert serious_violations(page) == []


def test_without_encryption_thunderbirds_warning_comes_first_then_the_spy_reads_the_password(
    serve: Callable[..., str], page: Page
) -> None:
    url = serve(allow_cleartext=True)
    address, password = start_learner(page, url)
    page.get_by_role("link", name="Réglages du compte (Ordinateur)").click()
    fill_settings(page, address, password, port="143", security="none")
    warning = page.locator(".cleartext-warning")
    expect(warning).to_be_visible()  # as soon as "Aucun" is chosen, before any test
    expect(warning).to_contain_text("Avertissement")
    page.get_by_role("button", name="Tester le serveur entrant seul").click()
    expect(page.locator("#resultat")).to_contain_text("Pas de test pour l")
    expect(page.locator(".trace")).to_have_count(0)
    page.get_by_label("Je comprends les risques").check()
    page.get_by_role("button", name="Tester le serveur entrant seul").click()
    spy = page.locator(".panel-spy")
    expect(spy).to_have_attribute("open", "")
    expect(spy).to_contain_text("Ton mot de passe est passé en clair")
    marks = spy.locator("mark.secret")
    expect(marks.first).to_be_visible()
    assert any(password in text for text in marks.all_inner_texts())
    expect(page.locator(".transcript")).to_contain_text("mot de passe envoyé en clair")
    assert serious_violations(page) == []


def test_a_pop3_download_on_one_device_empties_the_other_devices_imap_inbox(
    serve: Callable[..., str], page: Page
) -> None:
    url = serve()
    address, password = start_learner(page, url)
    page.get_by_label("Thunderbird pour Android").check()
    page.get_by_role("button", name="Ajouter un téléphone").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Téléphone")
    # The phone: IMAP, in its own program's form.
    page.get_by_label("Mot de passe", exact=True).fill(password)
    incoming = page.get_by_role("group", name="Paramètres de serveur entrant")
    incoming.get_by_label("Type de compte").select_option("imap")
    incoming.get_by_label("Serveur IMAP").fill(f"imap.{DOMAIN}")
    incoming.get_by_label("Type de sécurité").select_option("tls")
    incoming.get_by_label("Port").fill("993")
    outgoing = page.get_by_role("group", name="Paramètres du serveur sortant")
    outgoing.get_by_label("Serveur SMTP").fill(f"smtp.{DOMAIN}")
    outgoing.get_by_label("Type de sécurité").select_option("tls")
    outgoing.get_by_label("Port").fill("465")
    page.get_by_role("button", name="Enregistrer sans tester").click()
    expect(page.get_by_role("status").filter(has_text="Réglages enregistrés")).to_be_visible()
    page.goto(url + "/bac-a-sable")
    page.get_by_role("link", name="Réglages du compte (Ordinateur)").click()
    fill_settings(page, address, password, protocol="pop3", port="995")
    expect(page.get_by_role("group", name=re.compile("Laisser les messages"))).to_be_visible()
    page.get_by_label("Non : les télécharger, puis les effacer du serveur").check()
    page.get_by_role("button", name="Enregistrer sans tester").click()
    expect(page.get_by_role("status").filter(has_text="Réglages enregistrés")).to_be_visible()

    page.goto(url + "/bac-a-sable/courrier")
    computer, phone = page.locator(".pane-computer"), page.locator(".pane-phone")
    expect(phone.locator(".messages li")).to_have_count(3)
    expect(computer).to_contain_text("Aucun message dans ce dossier.")
    assert serious_violations(page) == []
    computer.get_by_role("button", name="Relever le courrier").click()
    expect(computer.locator(".messages li")).to_have_count(3)
    expect(computer).to_contain_text("Effacés du serveur")
    # The phone's pane looks again by itself: its IMAP inbox is now empty on the server.
    expect(phone).to_contain_text("Aucun message dans ce dossier.")
    expect(phone.locator(".messages li")).to_have_count(0)
    assert serious_violations(page) == []


def test_a_sent_message_is_found_in_sent(serve: Callable[..., str], page: Page) -> None:
    url = serve()
    address, password = start_learner(page, url)
    page.get_by_role("link", name="Réglages du compte (Ordinateur)").click()
    fill_settings(page, address, password)
    page.get_by_role("button", name="Enregistrer sans tester").click()
    expect(page.get_by_role("status").filter(has_text="Réglages enregistrés")).to_be_visible()
    page.get_by_role("link", name="Ouvrir le courrier de cet appareil").click()
    page.get_by_role("link", name="Écrire (Ordinateur)").click()
    assert serious_violations(page) == []
    page.get_by_label("À", exact=True).fill(address)
    page.get_by_label("Objet").fill("Mon premier message")
    page.get_by_label("Message").fill("Bonjour moi !")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator("#ecrire .record")).to_contain_text("Courrier envoyé avec succès")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Retour au courrier").click()
    pane = page.locator(".pane")
    pane.get_by_role("link", name="Envoyés").click()
    expect(pane.locator(".messages")).to_contain_text("Mon premier message")
    pane.get_by_role("link", name="Boîte de réception").click()
    expect(pane.locator(".messages")).to_contain_text("Mon premier message")


def test_the_sandbox_switches_to_english(serve: Callable[..., str], page: Page) -> None:
    url = serve()
    start_learner(page, url)
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your sandbox")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Connection sheet")).to_be_visible()
    page.get_by_role("link", name="Account settings (Computer)").click()
    expect(page.get_by_role("group", name="Incoming server")).to_be_visible()
    expect(page.get_by_label("Connection security").first).to_be_visible()
    assert serious_violations(page) == []


def test_everything_works_without_javascript(
    browser: Browser, serve: Callable[..., str], page_watch: PageWatch
) -> None:
    url = serve()
    context = browser.new_context(java_script_enabled=False)
    page_watch.attach(context)
    page = context.new_page()
    try:
        address, password = start_learner(page, url, axe=False)  # axe needs JavaScript
        page.get_by_role("link", name="Réglages du compte (Ordinateur)").click()
        fill_settings(page, address, password, port="995")  # IMAP on POP3's port: refused
        page.get_by_role("button", name="Tester", exact=True).click()
        expect(page).to_have_url(re.compile(r"reglages\?essai=\d+#resultat$"))
        expect(page.locator(".trace-failed")).to_have_count(1)
        expect(page.locator("#resultat")).to_contain_text("la connexion a été refusée")
        page.get_by_role("link", name="Ouvrir le courrier de cet appareil").click()
        expect(page.locator(".pane")).to_contain_text("arrive pas à lire le courrier")
    finally:
        context.close()
