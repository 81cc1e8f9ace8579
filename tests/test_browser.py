"""The first page in a real Chromium: it works, it switches language, axe finds nothing serious."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import PageWatch
from playwright.sync_api import Page, expect

from pixlab.lab.runner import Lab

pytestmark = pytest.mark.browser


def serious_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_home_in_chromium_shows_the_lab_and_switches_to_english(
    page: Page, live_server: str, lab: Lab
) -> None:
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Le labo de messagerie")
    pop3s = lab.listener("pop3s")
    row = page.get_by_role("row").filter(has_text=f"127.0.0.1:{pop3s.port}")
    expect(row).to_contain_text("995")
    expect(row).to_contain_text("SSL/TLS")
    assert serious_violations(page) == []
    # htmx is served by the app itself, from the npm package.
    assert page.evaluate("typeof htmx") == "object"
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The mail lab")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert serious_violations(page) == []
    link = page.get_by_role("link", name="Download the lab authority's certificate")
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "pixlab-ca.pem"


def test_the_page_watch_catches_a_csp_violation(
    page: Page, live_server: str, page_watch: PageWatch
) -> None:
    page.goto(live_server + "/")
    assert page_watch.problems == []
    # An inline style, as a careless template would add: the browser refuses it.
    page.evaluate("() => { const s = document.createElement('style');"
                  " s.textContent = 'body { color: red }'; document.head.append(s); }")
    expect(page.locator("body")).not_to_have_css("color", "rgb(255, 0, 0)")
    page.wait_for_timeout(200)  # the violation event is queued as a task
    assert any("CSP violation" in p and "style-src" in p for p in page_watch.problems)
    page_watch.problems.clear()  # seen: the teardown checks the rest of the test
