"""Every shipped scenario, played to the end through the web pages, as a newcomer would.

The steps are the scenario's own `[walkthrough.solution]`, read from its file:
each `set` is the settings form of the player, each `do` a button of the player
or of a device's mail pane (found on the page before it is pressed), each `wait`
lets the engine's clock move on. A new scenario file is played here with no code.
At the end the player must show every objective met, the debrief and the quiz.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from pixlab.lab.runner import Lab
from pixlab.sandbox.store import DeviceStore
from pixlab.scenarios.engine import ScenarioEngine
from pixlab.scenarios.loader import load_catalogue, shipped_dir
from pixlab.scenarios.schema import Scenario, Step, fill, local
from pixlab.scenarios.walkthrough import OffsetClock
from pixlab.web import create_app
from pixlab.web.scenario_attempts import ENGINE_KEY

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases

SHIPPED = load_catalogue([shipped_dir()])
SCENARIOS = {s.slug: s for s in SHIPPED.scenarios}


@pytest.fixture
def app(lab: Lab, tmp_path) -> Flask:  # type: ignore[no-untyped-def]
    """The app, its scenario engine on a clock that `wait` steps move instead of sleeping."""
    app = create_app({"DATA_DIR": str(tmp_path / "web"), "TESTING": True,
                      "SANDBOX_CLIENT_TIMEOUT": 1.5}, lab=lab)
    app.extensions[ENGINE_KEY] = ScenarioEngine(lab, SHIPPED, clock=OffsetClock(),
                                                client_timeout=1.5)
    return app


class Newcomer:
    """A browser session that plays a scenario through its pages only."""

    def __init__(self, app: Flask, client: FlaskClient, scenario: Scenario) -> None:
        self.app, self.client, self.scenario = app, client, scenario
        self.slug = scenario.slug
        self.play_url = f"/scenarios/{self.slug}"
        self.rows: dict[str, int] = {}
        self.new_password: str | None = None  # given by the IT service's reset page
        self.app_password = ""  # shown once by the account's page (two-step verification)
        self.finished = False  # the player shows the debrief: nothing is left to do

    # -- pages ---------------------------------------------------------------------

    def get(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        text = response.get_data(as_text=True)
        # IMAP panes read the server at every view: the last objectives may be met by looking.
        self.finished = self.finished or 'id="bilan"' in text
        return text

    def press(self, page: str, action: str, data: dict[str, Any] | None = None) -> str:
        """Submit a form that is on `page` (its action URL must be there); returns Location."""
        assert f'action="{html.escape(action)}"' in page, f"no form for {action} on the page"
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        response = self.client.post(action, data={"csrf_token": token.group(1), **(data or {})})
        assert response.status_code == 303, (action, response.status_code,
                                              response.get_data(as_text=True)[:2000])
        return response.headers["Location"]

    def poll(self) -> None:
        """What the player's objectives do every 2 seconds: the page reloads once it is over."""
        response = self.client.get(f"{self.play_url}/objectifs", headers={"HX-Request": "true"})
        assert response.status_code == 200
        self.finished = self.finished or response.headers.get("HX-Refresh") == "true"

    def start(self) -> str:
        page = self.get(self.play_url)
        self.press(page, f"{self.play_url}/commencer")
        page = self.get(self.play_url)
        rows = [int(n) for n in re.findall(r'<section id="appareil-(\d+)"', page)]
        self.rows = {d.id: row for d, row in zip(self.scenario.devices, rows, strict=True)}
        for device in self.scenario.devices:  # each pane carries the scenario's own name
            assert local(device.name, "fr") in html.unescape(page)
        return page

    def values(self) -> dict[str, str]:
        """The learner's address and password, as the player's sheet shows them now."""
        page = self.get(self.play_url)
        address = re.search(r"Adresse électronique</dt><dd><code>([^<]+)</code>", page)
        password = re.search(r'<code class="password">([^<]+)</code>', page)
        assert address and password
        return {"address": html.unescape(address.group(1)),
                "password": self.new_password or html.unescape(password.group(1)),
                "app_password": self.app_password}

    def record(self, location: str, key: str) -> tuple[bool, str | None]:
        """(ok, error key) of the operation a redirect names (`essai`, `releve`, `envoi`)."""
        ids = parse_qs(urlsplit(location).query).get(key)
        assert ids, f"no {key} in {location}"
        with self.client.session_transaction() as session:
            learner_id = session["sandbox_learner"]
        store = DeviceStore(self.app.extensions["pixlab.lab"].engine)
        found = store.trace(learner_id, int(ids[0]))
        assert found is not None
        errors = [(t.get("error") or {}).get("key") for t in found.data.get("traces", [])]
        return found.ok, next((e for e in errors if e), None)

    def mailbox(self, device: str, folder: str, here: bool = False, **args: Any) -> str:
        query = {"dossier": folder, **({"ici": 1} if here else {}), **args}
        return self.get(f"/bac-a-sable/appareils/{self.rows[device]}/courrier?{urlencode(query)}")

    def open_message(self, device: str, folder: str, subject: str) -> tuple[str, str]:
        """Open the first message whose subject contains `subject`: (its ref, the pane)."""
        pane = self.mailbox(device, folder)
        for ref, shown in re.findall(
            r'href="[^"]*message=(\d+)[^"]*"[^>]*>\s*<span class="m-subject">(.*?)</span>\s*'
            r'<span class="m-meta">', pane, re.S
        ):
            text = html.unescape(re.sub(r"<[^>]+>", "", shown)).replace("Non lu :", "")
            if subject.lower() in text.lower():
                return ref, self.mailbox(device, folder, message=ref)
        raise AssertionError(f"no message {subject!r} in {folder} on {device}")

    # -- one walkthrough step ------------------------------------------------------

    def play(self, step: Step) -> None:
        engine: ScenarioEngine = self.app.extensions[ENGINE_KEY]
        if step.wait:
            assert isinstance(engine.clock, OffsetClock)
            engine.clock.advance(step.wait)
            self.get(self.play_url)  # the player looks again: arrivals, late events
            return
        values = self.values() if _needs_values(step) else {}
        if step.set:
            form = {key.replace(".", "_"): fill(v, values) if isinstance(v, str) else v
                    for key, v in step.set.items()}
            page = self.get(f"{self.play_url}?reglages={step.device}")
            self.poll()
            if not self.finished:
                self.press(page, f"{self.play_url}/appareils/{step.device}/reglages",
                           {**form, "action": "save"})
            return
        result = self.do(step, values)
        if result is not None and step.expect_ok is not None:
            assert result[0] == step.expect_ok, (step.do, step.device, result)
        if result is not None and step.expect_error is not None:
            assert result[1] == step.expect_error, (step.do, step.device, result)

    def do(self, step: Step, values: dict[str, str]) -> tuple[bool, str | None] | None:
        """Press the step's button; (ok, error) of the operation, None if there is none."""
        device, action = step.device or "", step.do or ""
        row, pane_next = self.rows.get(device), {"next": self.play_url}
        if action in ("test_incoming", "test_outgoing"):
            page = self.get(f"{self.play_url}?reglages={device}")
            self.poll()
            side = "incoming" if action == "test_incoming" else "outgoing"
            return None if self.finished else self.record(self.press(
                page, f"{self.play_url}/appareils/{device}/reglages", {"action": f"test-{side}"}),
                "essai")
        if action == "send":
            page = self.get(f"{self.play_url}?ecrire={device}")
            self.poll()
            return None if self.finished else self.record(self.press(
                page, f"{self.play_url}/appareils/{device}/ecrire", {
                    "to": ", ".join(fill(t, values) for t in step.to),
                    "subject": fill(step.subject, values) or "Test",
                    "body": fill(step.body, values),
                    "sender": fill(step.sender, values),
                    "reply_to": fill(step.reply_to, values)}), "envoi")
        if action in ("list", "read", "move", "archive", "delete"):
            return self.in_pane(step, values, row)
        page = self.get(self.play_url)
        self.poll()
        if self.finished:
            return None
        if action == "fetch":
            location = self.press(page, f"/bac-a-sable/appareils/{row}/relever", pane_next)
            return self.record(location, "releve")
        if action == "create_folder":
            # The pane's "Nouveau dossier" form, on IMAP devices only.
            name = fill(step.target or "", values)
            location = self.press(page, f"/bac-a-sable/appareils/{row}/nouveau-dossier",
                                  {**pane_next, "nom": name, "dossier": "INBOX"})
            if "releve=" in location:
                return self.record(location, "releve")
            pane = self.mailbox(device, "INBOX")
            return (f">{html.escape(name)}<" in pane or f">{html.escape(name)} <" in pane, None)
        if action == "reinstall":
            self.press(page, f"{self.play_url}/appareils/{device}/reinstaller")
            return None
        if action == "create_app_password":
            return self.make_app_password(page, step.target or "")
        assert action == "reset_password", f"the pages cannot play {action!r} yet"
        if 'id="changer-mot-de-passe"' in page:  # the account's own page changes it
            self.press(page, f"{self.play_url}/compte/nouveau-mot-de-passe")
            shown = self.get(f"{self.play_url}?nouveau=1")
            given = re.search(r'id="nouveau-mot-de-passe">([^<]+)</code>', shown)
            assert given is not None, "the account's page shows no new password"
            self.new_password = html.unescape(given.group(1))
            return None
        self.press(page, f"{self.play_url}/mot-de-passe")
        shown = self.get(f"{self.play_url}?nouveau=1")
        given = re.search(r'<code class="new-password">([^<]+)</code>', shown)
        assert given is not None, "the reset page shows no new password"
        self.new_password = html.unescape(given.group(1))
        return None

    def make_app_password(self, page: str, program: str) -> None:
        """The account's page: name the program, read the password it shows once."""
        action = f"{self.play_url}/compte/mot-de-passe-d-application"
        assert f'action="{action}"' in page, "no account's page in the player"
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        response = self.client.post(action, data={"csrf_token": token.group(1),
                                                  "logiciel": program})
        assert response.status_code == 200
        shown = re.search(r'id="mot-de-passe-application">([^<]+)</code>',
                          response.get_data(as_text=True))
        assert shown is not None, "the account's page shows no application password"
        self.app_password = html.unescape(shown.group(1))

    def in_pane(self, step: Step, values: dict[str, str],
                row: int | None) -> tuple[bool, str | None]:
        """Look at a folder, open a message, and press one of the reading pane's buttons."""
        device, action = step.device or "", step.do or ""
        if action == "list":
            pane = self.mailbox(device, step.folder)
            return ("Le logiciel n'arrive pas à lire" not in pane, None)
        ref, pane = self.open_message(device, step.folder, fill(local(step.message, "fr"), values))
        self.poll()
        if action == "read" or self.finished:
            return ('class="reading"' in pane and "n'arrive pas à lire" not in pane, None)
        url = {"move": "deplacer", "archive": "archiver-ici", "delete": "supprimer"}[action]
        data = {"dossier": step.folder, "message": ref, "next": self.play_url}
        if step.target:
            offered = {html.unescape(v) for v in re.findall(r'<option value="([^"]*)"', pane)}
            offered |= {html.unescape(v) for v in re.findall(r'name="cible" value="([^"]*)"', pane)}
            assert step.target in offered, (step.target, offered)
            data["cible"] = step.target
        location = self.press(pane, f"/bac-a-sable/appareils/{row}/{url}", data)
        return ("releve=" not in location, None)


def _needs_values(step: Step) -> bool:
    """Whether a step types the learner's address or password."""
    texts = [v for v in step.set.values() if isinstance(v, str)] if step.set else []
    texts += [*step.to, step.subject, step.body, str(step.message), step.target or "",
              step.sender, step.reply_to]
    return any("{" in t for t in texts)


@pytest.mark.parametrize("slug", sorted(SCENARIOS))
def test_a_newcomer_plays_the_scenario_to_the_end_through_the_pages(
    app: Flask, slug: str
) -> None:
    scenario = SCENARIOS[slug]
    assert scenario.walkthrough is not None
    newcomer = Newcomer(app, app.test_client(), scenario)
    newcomer.start()

    for step in scenario.walkthrough.solution:
        if newcomer.finished:
            break
        newcomer.play(step)

    page = newcomer.get(newcomer.play_url)
    met = re.findall(r'class="objective (met|todo)', page)
    assert met == ["met"] * len(scenario.objectives), (slug, met)
    assert "Tous les objectifs sont atteints" in page
    assert 'id="bilan"' in page and "Mission accomplie" in page
    if scenario.quiz:
        assert 'id="quiz"' in page
        for question in scenario.quiz:
            assert f'id="question-{question.id}"' in page
    # The catalogue counts it as done.
    catalogue = newcomer.get("/scenarios")
    assert "Terminé" in catalogue
