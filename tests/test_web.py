"""The lab's first page, its CA download and the language switch, through Flask."""

from __future__ import annotations

import re

import pytest
from cryptography import x509
from flask.testing import FlaskClient

from pixlab.lab.runner import Lab

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases

NBSP = "\u00a0"


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "every form carries a CSRF token"
    return match.group(1)


def test_home_lists_each_listener_with_canonical_and_real_port_and_security(
    client: FlaskClient, lab: Lab
) -> None:
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="fr">' in page
    assert "HX-Request" in response.headers["Vary"]
    for info in lab.listeners:
        row = re.search(
            rf"<tr>\s*<th scope=\"row\">[^<]*</th>\s*<td[^>]*><strong>{info.spec.port_canonical}"
            rf"</strong></td>\s*<td[^>]*><code>127\.0\.0\.1:{info.port}</code></td>(.*?)</tr>",
            page, re.S,
        )
        assert row, f"no row for {info.name}"
        expected = {"tls": "SSL/TLS", "starttls": "STARTTLS", "none": "Aucune"}[info.security]
        assert expected in row.group(1)
    assert f"SSL/TLS{NBSP}: chiffré dès la connexion" in page  # French typography


def test_ca_download_is_the_lab_authority(client: FlaskClient, lab: Lab) -> None:
    response = client.get("/labo/pixlab-ca.pem")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    cert = x509.load_pem_x509_certificate(response.data)
    assert cert.subject == cert.issuer
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert response.data == lab.ca.ca_path.read_bytes()


def test_language_switch_needs_the_csrf_token_then_speaks_english(client: FlaskClient) -> None:
    assert client.post("/langue", data={"lang": "en"}).status_code == 400
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/langue", data={"lang": "en", "next": "/", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "The mail lab" in page and "SSL/TLS: encrypted from the start" in page


def test_language_switch_never_redirects_off_site(client: FlaskClient) -> None:
    token = csrf_token(client.get("/").get_data(as_text=True))
    for target in ("https://evil.test/", "//evil.test/"):
        response = client.post("/langue", data={"lang": "fr", "next": target, "csrf_token": token})
        assert response.headers["Location"] == "/"
