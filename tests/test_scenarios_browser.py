"""Scenarios in a real Chromium: a newcomer plays scenario 2 in French and scenario 1 in English."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from test_sandbox_browser import serious_violations, served

from pixlab.lab.runner import Lab
from pixlab.web import create_app

pytestmark = pytest.mark.browser

DOMAIN = "lycee-exemple.test"


@pytest.fixture
def serve(make_lab: Callable[..., Lab], tmp_path: Path) -> Iterator[str]:
    with ExitStack() as servers:
        app = create_app({"DATA_DIR": str(tmp_path / "web"), "SANDBOX_CLIENT_TIMEOUT": 1.0},
                         lab=make_lab())
        yield servers.enter_context(served(app))


def test_a_newcomer_plays_scenario_2_in_french_to_the_end(serve: str, page: Page) -> None:
    page.goto(serve + "/scenarios")
    expect(page.get_by_role("heading", level=1)).to_have_text("Scénarios guidés")
    assert serious_violations(page) == []
    page.get_by_role("link", name="Ordinateur et téléphone", exact=True).click()
    page.get_by_role("button", name="Commencer le scénario").click()
    expect(page.get_by_role("heading", name="Ta mission")).to_be_visible()
    objectives = page.locator("#objectifs")
    expect(objectives.locator(".objective.todo")).to_have_count(3)
    assert serious_violations(page) == []
    # A hint, then the fix: leave the messages on the server, fetch on both devices.
    page.get_by_role("button", name="Voir un indice (1 sur 3)").click()
    expect(page.locator("#indices li")).to_have_count(1)
    expect(page.locator("#indices")).to_contain_text("Lequel utilise POP3")
    page.get_by_label("Oui, pour toujours").check()
    page.get_by_role("button", name="Enregistrer sans tester").click()
    expect(page.locator("#reglages")).to_contain_text("Réglages enregistrés")
    page.get_by_role("button", name="Relever le courrier (Ordinateur familial)").click()
    expect(objectives.locator("#objectif-ordinateur-garde .mark")).to_contain_text("Atteint")
    page.get_by_role("button", name="Relever le courrier (Téléphone)").click()
    # The last objective ticks itself, then the page turns to the debrief.
    expect(page.get_by_role("heading", name="Le bilan")).to_be_visible(timeout=10_000)
    expect(page.locator(".objective.met")).to_have_count(3)
    assert serious_violations(page) == []
    question = page.locator("#question-deux-appareils")
    question.get_by_label("IMAP sur les deux appareils").check()
    question.get_by_role("button", name="Valider ma réponse").click()
    expect(question).to_contain_text("Bonne réponse\u00a0!")
    expect(question).to_contain_text("IMAP garde les messages sur le serveur")
    assert serious_violations(page) == []


def test_a_newcomer_plays_scenario_1_in_english(serve: str, page: Page) -> None:
    page.goto(serve + "/scenarios")
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Guided scenarios")
    page.get_by_role("link", name=re.compile("First steps")).first.click()
    page.get_by_role("button", name="Start the scenario").click()
    expect(page.get_by_role("heading", name="Your mission")).to_be_visible()
    sheet = page.locator(".sheet")
    password = sheet.locator("code.password").inner_text()
    address = sheet.locator(".sheet-account dd code").first.inner_text()
    page.get_by_label("Password", exact=True).fill(password)
    incoming = page.get_by_role("group", name="Incoming server")
    incoming.get_by_label("Protocol").select_option("imap")
    incoming.get_by_label(re.compile("Hostname")).fill(f"imap.{DOMAIN}")
    incoming.get_by_label("Port").fill("993")
    incoming.get_by_label("Connection security").select_option("tls")
    incoming.get_by_label(re.compile("Username")).fill(address)
    page.get_by_role("button", name=re.compile("Test the incoming server only")).click()
    expect(page.locator("#objectif-connexion-chiffree .mark")).to_contain_text("Met")
    assert serious_violations(page) == []
    pane = page.locator(".pane").first
    expect(pane.locator(".messages li")).not_to_have_count(0)
    pane.get_by_role("link", name=re.compile("Welcome")).first.click()
    expect(page.get_by_role("heading", name="The debrief")).to_be_visible(timeout=10_000)
    assert serious_violations(page) == []


def test_the_account_page_in_chromium_lists_the_stranger_and_changes_the_password(
    serve: str, page: Page
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the column is narrow
    page.goto(serve + "/scenarios/qui-s-est-connecte")
    page.get_by_role("button", name="Commencer le scénario").click()
    account = page.locator("#compte")
    expect(account.get_by_role("table")).to_contain_text("127.0.0.7")
    expect(account.get_by_role("table")).to_contain_text("Inconnu")
    assert serious_violations(page) == []
    account.get_by_role("button", name="Changer le mot de passe").click()
    expect(page.locator("#objectif-inconnu-refuse .mark")).to_contain_text("Atteint")
    expect(page.locator("#nouveau-mot-de-passe")).to_be_visible()


def test_the_account_page_in_chromium_shows_an_app_password_once(serve: str, page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(serve + "/scenarios/validation-en-deux-etapes")
    page.get_by_role("button", name="Commencer le scénario").click()
    page.get_by_label("Pour quel logiciel").fill("Thunderbird")
    page.get_by_role("button", name="Créer un mot de passe d'application").click()
    shown = page.locator("#mot-de-passe-application")
    expect(shown).to_have_text(re.compile(r"^[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}$"))
    assert serious_violations(page) == []
