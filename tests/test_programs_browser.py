"""Each mail program's settings form in a real Chromium: its labels, its choices, its traps.

The learner adds the phone with the program they chose (or installs Outlook on
the computer), fills the program's own form by its labels, and meets the
program's behaviour against the real lab: iPhone's "go on without SSL?" whose
"Oui" lets the spy read the password, Android's "(si disponible)" choices.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from test_sandbox_browser import DOMAIN, serious_violations, serve, start_learner  # noqa: F401

from pixlab.client.programs import program_words

pytestmark = pytest.mark.browser


def add_phone(page: Page, program_label: str) -> None:
    page.get_by_label(program_label).check()
    page.get_by_role("button", name="Ajouter un téléphone").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Réglages du compte")


def test_the_android_form_speaks_k9_mails_words_and_offers_its_security_types(
    serve: Callable[..., str], page: Page,  # noqa: F811
) -> None:
    url = serve()
    start_learner(page, url, axe=False)
    add_phone(page, "Thunderbird pour Android")
    incoming = page.get_by_role("group", name=program_words("android", "incoming.title", "fr"))
    outgoing = page.get_by_role("group", name=program_words("android", "outgoing.title", "fr"))
    expect(incoming.get_by_label("Serveur IMAP")).to_be_visible()
    security = incoming.get_by_label("Type de sécurité")
    options = security.locator("option").all_inner_texts()
    assert options[1:] == ["Aucun", "SSL/TLS (si disponible)", "SSL/TLS (toujours)",
                           "STARTTLS (si disponible)", "STARTTLS (toujours)"]
    security.select_option("tls-any-cert")
    expect(incoming.get_by_label("Type d'authentification")).to_be_visible()
    expect(outgoing.get_by_label("Serveur SMTP")).to_be_visible()
    expect(page.locator(".program-words")).to_contain_text("Thunderbird pour Android")
    assert serious_violations(page) == []


def test_outlook_on_the_computer_has_its_encryption_method_and_authentication_boxes(
    serve: Callable[..., str], page: Page,  # noqa: F811
) -> None:
    url = serve()
    start_learner(page, url, axe=False)
    page.get_by_label("Logiciel de messagerie").first.select_option("outlook")
    page.get_by_role("button", name="Installer (Ordinateur)").click()
    incoming = page.get_by_role("group", name="Informations sur le courrier entrant")
    expect(incoming.get_by_label("Type de compte")).to_be_visible()
    method = incoming.get_by_label("Méthode de chiffrement")
    assert method.locator("option").all_inner_texts()[1:] == ["Aucun", "SSL/TLS", "STARTTLS",
                                                              "Automatique"]
    expect(incoming.get_by_label(
        "Exiger l'authentification par mot de passe sécurisé (SPA) lors de la connexion"
    )).not_to_be_checked()
    outgoing = page.get_by_role("group", name="Informations sur le courrier sortant")
    expect(outgoing.get_by_label(
        "Mon serveur sortant (SMTP) requiert une authentification")).to_be_checked()
    expect(page.locator(".program-words")).to_contain_text("écrits par PixLab")
    assert serious_violations(page) == []


def test_iphone_asks_to_go_on_without_ssl_and_yes_lets_the_spy_read_the_password(
    serve: Callable[..., str], page: Page,  # noqa: F811
) -> None:
    url = serve(allow_cleartext=True)
    _address, password = start_learner(page, url, axe=False)
    add_phone(page, "Mail sur iPhone")
    incoming = page.get_by_role("group", name="Serveur de réception")
    expect(incoming.get_by_label("IMAP")).to_be_checked()
    page.get_by_label("Mot de passe", exact=True).fill(password)
    incoming.get_by_label("Nom d'hôte").fill(f"imap.{DOMAIN}")
    incoming.get_by_label("Utiliser SSL").check()
    incoming.get_by_label("Port du serveur").fill("143")  # SSL on a port without it: it fails
    page.get_by_role("button", name="Tester le serveur entrant seul").click()
    dialog = page.locator("#resultat .dialog")
    expect(dialog).to_contain_text("Impossible de se connecter via SSL")
    assert serious_violations(page) == []
    dialog.get_by_role("button", name="Oui").click()
    spy = page.locator(".panel-spy")
    expect(spy).to_contain_text("Ton mot de passe est passé en clair")
    assert any(password in text for text in spy.locator("mark.secret").all_inner_texts())
    # The form now says what iPhone did: SSL off, port 143.
    expect(page.get_by_label("Utiliser SSL").first).not_to_be_checked()
    expect(page.get_by_role("group", name="Serveur de réception").get_by_label(
        "Port du serveur")).to_have_value("143")
