"""A scenario inside a course page, in a real Chromium: Pix's embed protocol end to end.

PixLab is served on 127.0.0.1; the course page on another loopback address
(127.0.0.3, another site for the browser), which PIXLAB_EMBED_ORIGINS allows;
a page on 127.0.0.4 plays a foreign origin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import PageWatch
from playwright.sync_api import Frame, Page, expect
from test_sandbox_browser import served

from pixlab.lab.events import PAGE_EVENT_KINDS
from pixlab.lab.runner import Lab
from pixlab.web import create_app

pytestmark = pytest.mark.browser

SLUG = "premiers-pas-imap"
COURSE_HOST = "127.0.0.3"
FOREIGN_HOST = "127.0.0.4"

# The course page: an iframe as « Partager » gives it, every message it receives recorded,
# and the iframe sized from the height messages, as the share section tells an author.
COURSE_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Cours</title><link rel="icon" href="data:,">
</head>
<body>
<h1>Module : configurer sa messagerie</h1>
<iframe id="pixlab" name="pixlab" src="{src}" title="PixLab" width="100%" height="300"></iframe>
{extra}
<script>
window.received = [];
const frame = document.getElementById("pixlab");
window.addEventListener("message", (event) => {{
  window.received.push({{origin: event.origin, data: event.data,
                         fromFrame: event.source === frame.contentWindow}});
  if (event.data && event.data.from === "pix" && event.data.type === "height") {{
    frame.style.height = event.data.height + "px";
  }}
}});
</script>
</body></html>
"""
# A page of another origin, framed by the course page, that tries to launch the scenario.
FOREIGN_PAGE = ('<!doctype html><html><head><link rel="icon" href="data:,"></head>'
                '<body><p>Publicité</p></body></html>')


@contextmanager
def static_site(host: str, pages: dict[str, str]) -> Iterator[str]:
    """A tiny web server on a loopback address that answers fixed pages; yields its origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            body = pages.get(self.path.split("?")[0])
            if body is None:
                self.send_error(404)
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def pixlab(make_lab: Callable[..., Lab], tmp_path: Path) -> Iterator[tuple[Lab, Callable]]:
    """Start PixLab on 127.0.0.1 with the given embed origins; returns (lab, start)."""
    lab = make_lab()
    with ExitStack() as servers:

        def start(origins: str) -> str:
            app = create_app({"DATA_DIR": str(tmp_path / "web"), "SANDBOX_CLIENT_TIMEOUT": 2.0,
                              "EMBED_ORIGINS": origins}, lab=lab)
            return servers.enter_context(served(app))

        yield lab, start


def received(page: Page) -> list[dict[str, Any]]:
    """The messages the course page received so far."""
    return list(page.evaluate("() => window.received"))


def wait_for(page: Page, test: Callable[[list[dict[str, Any]]], bool], timeout: float = 15.0,
             ) -> list[dict[str, Any]]:
    """The course page's messages, once `test` holds for them (polled from here: the CSP of
    PixLab's frame refuses Playwright's string-evaluated wait_for_function)."""
    deadline = time.monotonic() + timeout
    while True:
        messages = received(page)
        if test(messages):
            return messages
        assert time.monotonic() < deadline, f"never happened; received: {messages}"
        page.wait_for_timeout(100)


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    """Each message's kind: init, height, answer (or what it was)."""
    found = []
    for m in messages:
        data = m["data"]
        if isinstance(data, dict) and data.get("from") == "pix":
            found.append("answer" if "answer" in data else str(data.get("type")))
        else:
            found.append(repr(data))
    return found


def frame_of(page: Page) -> Frame:
    frame = page.frame(name="pixlab")
    assert frame is not None
    return frame


def body_height(frame: Frame) -> int:
    return int(frame.evaluate("() => Math.ceil(document.body.getBoundingClientRect().height)"))


def test_a_course_page_embeds_launches_and_gets_the_answer(
    pixlab: tuple[Lab, Callable], page: Page
) -> None:
    lab, start = pixlab
    with ExitStack() as sites:
        # The course page's origin is known only once its server listens: serve first, then
        # start PixLab with that origin allowed, then give the page PixLab's address.
        pages: dict[str, str] = {}
        course = sites.enter_context(static_site(COURSE_HOST, pages))
        foreign = sites.enter_context(static_site(FOREIGN_HOST, {"/": FOREIGN_PAGE}))
        served_at = start(f"https://*.pix.fr {course}")
        pages["/cours"] = COURSE_PAGE.format(
            src=f"{served_at}/integration/{SLUG}",
            extra=f'<iframe name="etranger" src="{foreign}/" title="Publicité"></iframe>')
        since = time.time()
        page.goto(f"{course}/cours")
        messages = wait_for(page, lambda m: "init" in kinds(m) and "height" in kinds(m))
        assert messages[0]["data"] == {"from": "pix", "type": "init", "rebootable": True,
                                       "autoLaunch": False}
        assert all(m["origin"] == served_at and m["fromFrame"] for m in messages)
        frame = frame_of(page)
        expect(frame.locator("h1")).to_have_text("Premiers pas en IMAP")
        expect(frame.locator(".site-header")).to_have_count(0)  # no site header in a frame
        expect(frame.locator("html")).to_have_attribute("lang", "fr")

        # 'launch' from a foreign origin (a frame of another site in the same page): ignored.
        foreign_frame = page.frame(name="etranger")
        assert foreign_frame is not None
        foreign_frame.evaluate("() => parent.frames['pixlab'].postMessage('launch', '*')")
        page.wait_for_timeout(1500)
        expect(frame.locator("#commencer")).to_be_visible()
        assert lab.events.of_kinds(("embed.launched",), since) == []

        # 'launch' from the course page: the scenario starts inside the frame.
        before = len(received(page))
        page.evaluate(f"() => frames['pixlab'].postMessage('launch', '{served_at}')")
        expect(frame.get_by_role("heading", name="Ta mission")).to_be_visible()
        # The content grew: a height message followed it, and the iframe took that height.
        messages = wait_for(page, lambda m: any(
            k == "height" and m[i]["data"]["height"] == body_height(frame)
            for i, k in enumerate(kinds(m)) if i >= before))
        heights = [m["data"]["height"] for m in messages if kinds([m]) == ["height"]]
        assert len(set(heights)) >= 2, heights
        # (clientHeight: the iframe's own 2-pixel borders are the course page's business.)
        assert page.evaluate("() => frame.clientHeight") == heights[-1]

        # Drive the scenario to its end inside the frame: the sheet's settings, Tester,
        # fetch, read the form tutor's message.
        password = frame.locator(".sheet code.password").inner_text()
        address = frame.locator(".sheet-account dd code").first.inner_text()
        frame.locator("#password").fill(password)
        frame.locator("#incoming_protocol").select_option("imap")
        frame.locator("#incoming_host").fill("imap.lycee-exemple.test")
        frame.locator("#incoming_port").fill("993")
        frame.locator("#incoming_security").select_option("tls")
        frame.locator("#incoming_username").fill(address)
        frame.locator("#tester-entrant").click()
        expect(frame.locator("#objectif-connexion-chiffree .mark")).to_contain_text("Atteint")
        pane = frame.locator(".pane").first
        pane.get_by_role("button", name="Relever le courrier").click()
        expect(pane.locator(".messages li")).not_to_have_count(0)
        pane.get_by_role("link", name="Bienvenue en seconde 3").first.click()
        expect(frame_of(page).get_by_role("heading", name="Le bilan")).to_be_visible(
            timeout=15_000)

        messages = wait_for(page, lambda m: "answer" in kinds(m))
        order = kinds(messages)
        assert order[0] == "init" and order.index("answer") > order.index("height")
        answers = [m["data"] for m in messages if "answer" in kinds([m])]
        assert answers == [{"from": "pix", "answer": "completed"}]
        assert all(m["origin"] == served_at for m in messages)

        # The lab's event log has the page's side of it, for this learner.
        logged = wait_events(lab, since, {"embed.init", "embed.launched", "embed.answered"})
        assert {e.kind for e in logged} <= set(PAGE_EVENT_KINDS)
        launched = [e for e in logged if e.kind == "embed.launched"]
        assert [e.data["origin"] for e in launched] == [course]
        answered = [e for e in logged if e.kind == "embed.answered"]
        assert answered[0].data["answer"] == "completed"
        assert answered[0].data["outcome"] == "completed"
        assert answered[0].account and answered[0].account.endswith("@lycee-exemple.test")


def wait_events(lab: Lab, since: float, wanted: set[str]) -> list[Any]:
    """The page's events since a time, once every wanted kind is there."""
    deadline = time.monotonic() + 10
    while True:
        found = lab.events.of_kinds(tuple(PAGE_EVENT_KINDS), since)
        if wanted <= {e.kind for e in found}:
            return found
        assert time.monotonic() < deadline, [e.kind for e in found]
        time.sleep(0.1)


def test_english_when_the_course_page_asks(pixlab: tuple[Lab, Callable], page: Page) -> None:
    _lab, start = pixlab
    pages: dict[str, str] = {}
    with static_site(COURSE_HOST, pages) as course:
        served_at = start(course)
        pages["/cours"] = COURSE_PAGE.format(
            src=f"{served_at}/integration/{SLUG}?lang=en&autoLaunch=true", extra="")
        page.goto(f"{course}/cours")
        messages = wait_for(page, lambda m: "init" in kinds(m))
        assert messages[0]["data"]["autoLaunch"] is True
        frame = frame_of(page)
        expect(frame.locator("h1")).to_have_text("First steps with IMAP")
        expect(frame.locator("html")).to_have_attribute("lang", "en")
        # The learner starts it themselves (autoLaunch: no overlay on the course page).
        frame.get_by_role("button", name="Start the scenario").click()
        expect(frame.get_by_role("heading", name="Your mission")).to_be_visible()


def test_a_page_of_an_origin_not_in_the_list_cannot_frame_pixlab(
    pixlab: tuple[Lab, Callable], page: Page, page_watch: PageWatch
) -> None:
    _lab, start = pixlab
    pages: dict[str, str] = {}
    with static_site(FOREIGN_HOST, pages) as elsewhere:
        served_at = start("http://127.0.0.3:8000 https://*.pix.fr")
        pages["/cours"] = COURSE_PAGE.format(src=f"{served_at}/integration/{SLUG}", extra="")
        page.goto(f"{elsewhere}/cours")
        page.wait_for_timeout(2000)
        assert received(page) == []  # no init: PixLab never ran inside this page
        frame = frame_of(page)
        assert not frame.url.startswith(served_at)  # Chromium shows its error page instead
        assert frame.locator("#pix-embed").count() == 0
    # The browser said why, and only that: the refusal is the one problem this test expects.
    refused = [p for p in page_watch.problems
               if "violates the following Content Security Policy directive: \"frame-ancestors"
               in p and "blocked" in p]
    assert refused, page_watch.problems
    page_watch.problems[:] = [p for p in page_watch.problems if p not in refused]
