"""The sheet's « Avec un vrai logiciel » tab in a real Chromium: its QR code, the page it opens
on a phone, and the downloads (the lab's CA and the Apple profile).

The lab listens on 127.0.0.2, standing for the laptop's address on the class
network; the QR code is read back from the browser's own rendering with
`zbarimg` (Debian's zbar-tools).
"""

from __future__ import annotations

import plistlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PageWatch
from cryptography import x509
from playwright.sync_api import Browser, Page, expect
from test_sandbox_browser import serious_violations, served, start_learner

from pixlab.lab.runner import Lab
from pixlab.web import create_app

pytestmark = pytest.mark.browser

LAN = "127.0.0.2"


@pytest.fixture
def lan_site(make_lab, tmp_path: Path) -> Iterator[tuple[str, Lab]]:  # type: ignore[no-untyped-def]
    """The app in front of a lab bound to the stand-in LAN address; yields (URL, lab)."""
    lab = make_lab(host=LAN)
    app = create_app({"DATA_DIR": str(tmp_path / "web"), "SANDBOX_CLIENT_TIMEOUT": 1.0}, lab=lab)
    with served(app) as url:
        yield url, lab


def decode_qr(image: Path) -> str:
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        pytest.fail("zbarimg is not installed: install the 'zbar-tools' package "
                    "(`make test` does it as root on Debian or Ubuntu).", pytrace=False)
    result = subprocess.run([zbarimg, "--quiet", "--raw", str(image)], capture_output=True,
                            text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_real_program_tab_its_qr_code_and_the_downloads(
    page: Page, browser: Browser, lan_site: tuple[str, Lab], tmp_path: Path,
    page_watch: PageWatch,
) -> None:
    url, lab = lan_site
    address, password = start_learner(page, url, axe=False)
    mine = page.get_by_role("tab", name="Dans PixLab")
    real = page.get_by_role("tab", name="Avec un vrai logiciel")
    expect(mine).to_have_attribute("aria-selected", "true")
    expect(page.locator("#fiche-vrai-logiciel")).to_be_hidden()

    real.click()
    expect(real).to_have_attribute("aria-selected", "true")
    panel = page.get_by_role("tabpanel", name="Avec un vrai logiciel")
    expect(panel).to_be_visible()
    expect(page.locator("#fiche-pixlab")).to_be_hidden()
    imaps = panel.locator('tr[data-listener="imaps"]')
    expect(imaps.locator("code").first).to_have_text(LAN)
    expect(imaps.locator(".real-port")).to_have_text(str(lab.listener("imaps").port))
    expect(imaps).to_contain_text("port du labo, pas le 993 habituel")
    expect(panel.locator(".real-password")).to_have_text(password)
    assert serious_violations(page) == []
    # The arrow keys move between the tabs, as ARIA tabs do.
    real.press("ArrowLeft")
    expect(mine).to_be_focused()
    expect(page.locator("#fiche-pixlab")).to_be_visible()
    real.click()

    # The QR code, as the browser draws it, decodes to the sheet's link.
    image = tmp_path / "qr.png"
    panel.locator("svg.qr").screenshot(path=str(image))
    link = decode_qr(image)
    assert link == panel.locator(".sheet-link").inner_text()
    assert link.startswith(url + "/fiche/")

    # A phone (another browser, no session) opens it and downloads what it needs.
    phone = browser.new_context(accept_downloads=True)
    page_watch.attach(phone)  # the phone's pages keep the CSP too
    try:
        other = phone.new_page()
        other.goto(link)
        expect(other.get_by_role("heading", level=1)).to_have_text("Fiche de connexion")
        expect(other.locator(".real-password")).to_have_text(password)
        expect(other.locator('tr[data-listener="imaps"] .real-port')).to_have_text(
            str(lab.listener("imaps").port))
        assert serious_violations(other) == []

        def download(name: str) -> bytes:
            with other.expect_download() as info:
                other.get_by_role("link", name=name).click()
            return Path(info.value.path()).read_bytes()

        der = download("Télécharger le certificat (.crt)")
        assert der == lab.ca.ca_der
        pem = download("Télécharger le certificat (.pem)")
        assert x509.load_pem_x509_certificate(pem) == x509.load_der_x509_certificate(der)
        other.get_by_text("Sur un iPhone ou un iPad").click()
        profile = plistlib.loads(download("Télécharger le profil pour iPhone (.mobileconfig)"))
        account, root = profile["PayloadContent"]
        assert account["EmailAddress"] == address
        assert account["IncomingMailServerHostName"] == LAN
        assert root["PayloadContent"] == lab.ca.ca_der
    finally:
        phone.close()
