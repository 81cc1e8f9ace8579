"""The embedded player without a browser: origins, cookies, language, answers, events, sharing."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from flask import Flask
from test_sandbox import csrf_token

from pixlab.lab.runner import Lab
from pixlab.scenarios.fields import Problems
from pixlab.scenarios.loader import load_file
from pixlab.scenarios.schema import EmbedSpec
from pixlab.scenarios.validate import check
from pixlab.web import create_app
from pixlab.web.embed import origin_allowed, parse_origins

SLUG = "premiers-pas-imap"
EMBED = f"/integration/{SLUG}"
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("origin", "allowed"),
    (
        ("https://modules.pix.fr", True),
        ("https://app.recette.pix.fr", True),
        ("https://pix.fr", False),  # "*." needs a label, as in CSP
        ("http://modules.pix.fr", False),  # another scheme
        ("https://modules.pix.fr:8443", False),  # another port
        ("https://evilpix.fr", False),
        ("https://pix.fr.evil.example", False),
        ("http://127.0.0.3:8000", True),
        ("http://127.0.0.3:8001", False),
        ("null", False),
    ),
)
def test_origins_match_as_frame_ancestors_does(origin: str, allowed: bool) -> None:
    patterns = parse_origins("https://*.pix.fr,http://127.0.0.3:8000")
    assert origin_allowed(origin, patterns) is allowed


def embed_app(lab: Lab, tmp_path: Path, origins: str = "https://*.pix.fr") -> Flask:
    return create_app({"DATA_DIR": str(tmp_path / "web"), "EMBED_ORIGINS": origins}, lab=lab)


def session_cookie(response) -> str:  # type: ignore[no-untyped-def]
    (cookie,) = [v for v in response.headers.getlist("Set-Cookie") if v.startswith("session=")]
    return cookie


def test_the_session_cookie_survives_in_a_frame_over_https(lab: Lab, tmp_path: Path) -> None:
    client = embed_app(lab, tmp_path).test_client()
    cookie = session_cookie(client.get(EMBED + "?lang=fr", base_url="https://pixlab.lycee.fr"))
    assert "SameSite=None" in cookie and "Secure" in cookie and "Partitioned" in cookie


def test_over_plain_http_on_the_class_network_the_cookie_stays_lax(
    lab: Lab, tmp_path: Path
) -> None:
    # Browsers refuse SameSite=None without Secure, and keep Secure cookies only from HTTPS
    # (or loopback): a frame of another site would not get the session anyway.
    client = embed_app(lab, tmp_path).test_client()
    cookie = session_cookie(client.get(EMBED + "?lang=fr", base_url="http://192.168.1.20:5000"))
    assert "SameSite=Lax" in cookie and "Secure" not in cookie and "Partitioned" not in cookie
    # Without any embed origin nothing may frame PixLab: the cookie stays Lax even over HTTPS.
    plain = create_app({"DATA_DIR": str(tmp_path / "plain")}, lab=lab).test_client()
    cookie = session_cookie(plain.get(EMBED + "?lang=fr", base_url="https://pixlab.lycee.fr"))
    assert "SameSite=Lax" in cookie and "Partitioned" not in cookie


def test_the_embedded_page_has_no_site_header_and_speaks_french_unless_asked(
    lab: Lab, tmp_path: Path
) -> None:
    client = embed_app(lab, tmp_path).test_client()
    page = client.get(EMBED).text
    assert '<html lang="fr">' in page and "Premiers pas en IMAP" in page
    assert "site-header" not in page and "site-footer" not in page and "Partager" not in page
    assert 'data-origins="https://*.pix.fr"' in page and "js/embed.js" in page
    english = client.get(EMBED + "?lang=en").text
    assert '<html lang="en">' in english and "First steps with IMAP" in english
    # The catalogue and the trainer's view are not embedded.
    assert client.get("/integration").status_code == 404
    assert client.get("/integration/formateur").status_code == 404


def test_share_gives_the_link_the_iframe_and_the_height_message(
    lab: Lab, tmp_path: Path
) -> None:
    page = embed_app(lab, tmp_path).test_client().get(f"/scenarios/{SLUG}").text
    assert "Partager" in page
    assert f"http://localhost/scenarios/{SLUG}" in page
    assert f"&lt;iframe src=&#34;http://localhost{EMBED}&#34;" in page
    assert "type: 'height'" in page and "message.height" in page
    assert "« completed »".replace(" ", "\u00a0") in page


def test_answers_and_events_of_an_embedded_attempt(lab: Lab, tmp_path: Path) -> None:
    client = embed_app(lab, tmp_path).test_client()
    since = time.time()
    token = csrf_token(client.get(EMBED).text)
    event_url = f"{EMBED}/evenement"
    assert client.post(event_url, data={"csrf_token": token, "kind": "init"}).status_code == 204
    started = client.post(f"{EMBED}/commencer", data={"csrf_token": token})
    assert started.headers["Location"] == EMBED  # the embedded player, not the site's
    page = client.get(EMBED).text
    assert "data-answer" not in page  # still playing
    assert client.post(event_url, data={"csrf_token": token, "kind": "answer"}).status_code == 409
    client.post(f"{EMBED}/abandonner", data={"csrf_token": token})
    page = client.get(EMBED).text
    assert 'data-answer="ended" data-outcome="ended"' in page
    answered = client.post(event_url, data={"csrf_token": token, "kind": "answer",
                                            "origin": "https://modules.pix.fr"})
    assert answered.status_code == 204
    assert client.post(event_url, data={"csrf_token": token, "kind": "x"}).status_code == 400
    assert client.post(event_url, data={"kind": "init"}).status_code == 400  # no CSRF token
    events = lab.events.of_kinds(("embed.init", "embed.answered"), since)
    assert [e.kind for e in events] == ["embed.init", "embed.answered"]
    assert events[1].data == {"slug": SLUG, "origin": "https://modules.pix.fr",
                              "answer": "ended", "outcome": "ended"}
    assert events[1].account and events[1].account.endswith("@lycee-exemple.test")


def test_a_scenario_file_says_its_answers_and_check_refuses_equal_ones() -> None:
    scenario, problems = load_file(ROOT / "scenarios" / f"{SLUG}.toml")
    assert scenario is not None and scenario.embed == EmbedSpec("completed", "ended")
    same = dataclasses.replace(scenario, embed=EmbedSpec("fini", "fini"))
    problems = Problems()
    check(same, problems)
    assert [p.field for p in problems.errors] == ["embed.ended"]
    blank = dataclasses.replace(scenario, embed=EmbedSpec(" ", "ended\n"))
    problems = Problems()
    check(blank, problems)
    assert [p.field for p in problems.errors] == ["embed.completed", "embed.ended"]
