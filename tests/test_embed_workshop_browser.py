"""A workshop's pupil plays inside a course page, in a real Chromium, and the trainer's class
view counts them: the embed URL with the workshop's code, as « Partager » gives it.

PixLab is served on 127.0.0.1; the course page on 127.0.0.3 (another site for the
browser), which PIXLAB_EMBED_ORIGINS allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import PageWatch
from playwright.sync_api import Browser, Page, expect
from test_embed_browser import COURSE_HOST, COURSE_PAGE, frame_of, kinds, static_site, wait_for
from test_sandbox_browser import served

from pixlab.lab.runner import Lab
from pixlab.web import create_app
from pixlab.workshops import trainers

pytestmark = pytest.mark.browser

DOMAIN = "lycee-exemple.test"
SLUG, TITLE = "premiers-pas-imap", "Premiers pas en IMAP"


@pytest.fixture
def course_and_pixlab(make_lab: Callable[..., Lab],
                      tmp_path: Path) -> Iterator[tuple[str, str, dict[str, str]]]:
    """The course site (its pages to fill) and PixLab allowing it; (course, pixlab, pages)."""
    with ExitStack() as servers:
        lab = make_lab()
        trainers.add(lab.engine, "mme-durand", "Classe-2026!")
        pages: dict[str, str] = {}
        course = servers.enter_context(static_site(COURSE_HOST, pages))
        app = create_app({"DATA_DIR": str(tmp_path / "web"), "SANDBOX_CLIENT_TIMEOUT": 2.0,
                          "EMBED_ORIGINS": course}, lab=lab)
        yield course, servers.enter_context(served(app)), pages


def test_a_pupil_in_a_course_page_joins_plays_and_shows_in_the_class_view(
    course_and_pixlab: tuple[str, str, dict[str, str]], page: Page, browser: Browser,
    page_watch: PageWatch,
) -> None:
    course, url, pages = course_and_pixlab
    # The trainer creates a workshop; « Partager » gives the embed URL with its code.
    page.goto(url + "/formateur")
    page.get_by_label("Nom", exact=True).fill("mme-durand")
    page.get_by_label("Mot de passe").fill("Classe-2026!")
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_label("Nom de l'atelier").fill("2nde 3")
    page.get_by_label(TITLE, exact=True).check()
    page.get_by_role("button", name="Créer un atelier").click()
    code = page.locator(".join-box .join-code").inner_text()
    page.locator("#partager summary").click()
    snippet = page.locator("#partager pre code").first.inner_text()
    found = re.search(r'<iframe src="([^"]+)"', snippet)
    assert found, snippet
    embed_url = found.group(1)
    assert embed_url == f"{url}/integration/{SLUG}?atelier={code}"

    # The course page, in the pupil's own browser, embeds it as the snippet says.
    pages["/cours"] = COURSE_PAGE.format(src=embed_url, extra="")
    context = browser.new_context()
    page_watch.attach(context)
    pupil = context.new_page()
    pupil.goto(f"{course}/cours")
    wait_for(pupil, lambda m: "init" in kinds(m))  # the protocol speaks from the join page too
    frame = frame_of(pupil)
    expect(frame.get_by_role("heading", level=1)).to_have_text("Rejoindre un atelier")
    expect(frame.get_by_label("Code de l'atelier").first).to_have_value(code)
    frame.get_by_label("Pseudonyme").first.fill("Zoé")
    frame.get_by_role("button", name="Rejoindre").click()
    expect(frame_of(pupil).locator("h1")).to_have_text(TITLE)

    # The course page launches it; the pupil passes the first objective inside the frame.
    pupil.evaluate(f"() => frames['pixlab'].postMessage('launch', '{url}')")
    frame = frame_of(pupil)
    expect(frame.get_by_role("heading", name="Ta mission")).to_be_visible()
    password = frame.locator(".sheet code.password").inner_text()
    address = frame.locator(".sheet-account dd code").first.inner_text()
    frame.locator("#password").fill(password)
    frame.locator("#incoming_protocol").select_option("imap")
    frame.locator("#incoming_host").fill(f"imap.{DOMAIN}")
    frame.locator("#incoming_port").fill("993")
    frame.locator("#incoming_security").select_option("tls")
    frame.locator("#incoming_username").fill(address)
    frame.locator("#tester-entrant").click()
    expect(frame.locator("#objectif-connexion-chiffree .mark")).to_contain_text("Atteint")

    # The trainer's class view (polled by htmx) counts her like any other pupil.
    classe = page.locator("#classe")
    row = classe.locator("tr", has_text="Zoé")
    expect(row).to_contain_text("En cours", timeout=10_000)
    expect(row.locator(".cell-figures")).to_contain_text(re.compile(r"[12]/3 objectifs"))
    expect(classe.locator(".counts")).to_contain_text("1 inscrits")
    context.close()
