"""Two real `pixlab serve` processes on one PostgreSQL, as behind a reverse proxy: a learner
starts on A and goes on on B with the same cookie, a trainer's fault switched on through A
changes the learner's next test through B, and mail sent by SMTP through A wakes an IMAP
IDLE session held on B at once.

The processes share what the deployment guide says every process must share: the
database URL, and the data directory's secret key, CA and postmaster password (copied).
"""

from __future__ import annotations

import http.cookiejar
import os
import random
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_imap import Wire, idle_until

from pixlab.db import make_engine
from pixlab.lab.config import LISTENERS
from pixlab.sandbox.store import DeviceStore
from pixlab.workshops import service

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

PIXLAB = str(Path(sys.executable).with_name("pixlab"))
FIRST = "premiers-pas-imap"
DOMAIN = "lycee-exemple.test"
POSTMASTER = f"postmaster@{DOMAIN}"


def free_port_base() -> int:
    """A base whose seven lab ports (base + 25, …, base + 995) are free on loopback now."""
    for _ in range(50):
        base = random.randrange(20000, 60000, 1000)
        sockets = []
        try:
            for spec in LISTENERS:
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + spec.port_canonical))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port base")


class Serve:
    """One `pixlab serve` process: its web URL and the base of its mail ports."""

    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.data_dir = data_dir
        self.port_base = free_port_base()
        self.process = subprocess.Popen(
            [PIXLAB, "serve", "--port", "0", "--mail-port-base", str(self.port_base),
             "--data-dir", str(data_dir), "--database-url", database_url],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert self.process.stdout is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            seen.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
            if found:
                self.url = found.group(1)
                return
            if not line and self.process.poll() is not None:
                break
        self.stop()
        raise AssertionError("pixlab serve did not start:\n" + "".join(seen))

    def port(self, canonical: int) -> int:
        return self.port_base + canonical

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


class Browser:
    """One browser: one cookie jar for every process (cookies name a host, not a port)."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, base: str, path: str) -> str:
        with self.opener.open(base + path, timeout=30) as response:
            return response.read().decode()

    def post(self, base: str, path: str, data: dict[str, object], token_path: str) -> str:
        page = self.get(base, token_path)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, f"no CSRF token on {token_path}"
        body = urllib.parse.urlencode({"csrf_token": token.group(1), **data}, doseq=True)
        with self.opener.open(base + path, body.encode(), timeout=30) as response:
            return response.read().decode()  # after the 303, the page it leads to


@pytest.fixture
def processes(database_url: str, tmp_path: Path, ca_dir: Path) -> Iterator[tuple[Serve, Serve]]:
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    for data_dir in (first_dir, second_dir):
        if (ca_dir / "tls").exists():
            shutil.copytree(ca_dir / "tls", data_dir / "tls")
        data_dir.mkdir(exist_ok=True)
        (data_dir / "secret_key").write_text("le-meme-secret-pour-tous-les-processus\n")
    first = Serve(first_dir, database_url)
    started = [first]
    try:
        # What the deployment guide says to copy to every process: CA and postmaster's password.
        shutil.copytree(first_dir / "tls", second_dir / "tls", dirs_exist_ok=True)
        shutil.copy(first_dir / "postmaster-password.txt", second_dir)
        second = Serve(second_dir, database_url)
        started.append(second)
        yield first, second
    finally:
        for process in started:
            process.stop()


def test_imap(learner: Browser, base: str, port: str = "993") -> str:  # noqa: PT028
    """Start (once) the first scenario and test its incoming server through one process."""
    page = learner.get(base, f"/scenarios/{FIRST}")
    if "Commencer le scénario" in page:
        learner.post(base, f"/scenarios/{FIRST}/commencer", {}, f"/scenarios/{FIRST}")
        page = learner.get(base, f"/scenarios/{FIRST}")
    password = re.search(r'<code class="password">([^<]+)</code>', page).group(1)  # type: ignore[union-attr]
    address = re.search(r"<code>([a-z0-9-]+-sc@[a-z.-]+)</code>", page).group(1)  # type: ignore[union-attr]
    learner.post(base, f"/scenarios/{FIRST}/appareils/ordinateur/reglages", {
        "password": password, "incoming_protocol": "imap", "incoming_host": f"imap.{DOMAIN}",
        "incoming_port": port, "incoming_security": "tls", "incoming_auth": "normal",
        "incoming_username": address, "action": "test-incoming"}, f"/scenarios/{FIRST}")
    return address


test_imap.__test__ = False  # type: ignore[attr-defined]


def latest_test(devices: DeviceStore, learner_id: int) -> tuple[bool, str | None]:
    trace_id, ok = max(devices.latest_traces(learner_id, "test").values())
    record = devices.trace(learner_id, trace_id)
    assert record is not None
    error = record.data["traces"][0]["error"]
    return ok, (error or {}).get("key")


def test_a_learner_and_a_trainer_move_between_two_processes(
    processes: tuple[Serve, Serve], database_url: str
) -> None:
    first, second = processes
    added = subprocess.run(
        [PIXLAB, "trainer", "add", "mme-durand", "--password-stdin", "--data-dir",
         str(first.data_dir), "--database-url", database_url],
        input="Classe-2026!\n", capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    trainer = Browser()
    trainer.post(first.url, "/formateur/connexion",
                 {"nom": "mme-durand", "mot_de_passe": "Classe-2026!"}, "/formateur/connexion")
    trainer.post(first.url, "/formateur/ateliers", {"nom": "4e B", "scenarios": [FIRST]},
                 "/formateur")
    engine = make_engine(database_url)
    try:
        [workshop] = service.of_trainer(engine, 1)
        learner = Browser()
        learner.post(first.url, "/atelier", {"code": workshop.code, "pseudonyme": "Alice"},
                     "/atelier")
        [member] = service.members(engine, workshop.id)
        devices = DeviceStore(engine)

        # Started on A, tested on A …
        address = test_imap(learner, first.url)
        assert latest_test(devices, member.learner_id) == (True, None)
        # … and the same cookie goes on on B: the same attempt, the same address.
        assert test_imap(learner, second.url) == address
        assert latest_test(devices, member.learner_id) == (True, None)

        # The trainer switches a fault on through A: the learner's next test through B meets it.
        base = f"/formateur/ateliers/{workshop.id}"
        trainer.post(first.url, f"{base}/pannes", {"panne": "imap-down", "etat": "on"}, base)
        test_imap(learner, second.url)
        assert latest_test(devices, member.learner_id) == (False, "connection_refused")
        trainer.post(first.url, f"{base}/pannes", {"panne": "imap-down", "etat": "off"}, base)
        test_imap(learner, second.url)
        assert latest_test(devices, member.learner_id) == (True, None)
        # The class view, served by B, sees what A and B did.
        assert "Alice" in trainer.get(second.url, f"{base}/classe")
    finally:
        engine.dispose()


def test_smtp_through_one_process_wakes_idle_on_the_other(
    processes: tuple[Serve, Serve],
) -> None:
    first, second = processes
    password = (second.data_dir / "postmaster-password.txt").read_text().strip()
    context = ssl.create_default_context(cafile=str(second.data_dir / "tls" / "pixlab-ca.pem"))
    raw = socket.create_connection(("127.0.0.1", second.port(993)), timeout=10)
    wire = Wire(context.wrap_socket(raw, server_hostname="localhost"))
    try:
        assert wire.command("a", f'LOGIN "{POSTMASTER}" "{password}"')[-1].startswith(b"a OK")
        wire.command("b", "SELECT INBOX")
        wire.send("c IDLE\r\n")
        assert wire.line() == b"+ idling\r\n"
        with smtplib.SMTP("127.0.0.1", first.port(25), timeout=10) as smtp:
            smtp.sendmail("prof@lycee-exemple.test", [POSTMASTER],
                          b"Subject: Par le processus A\r\n\r\nBonjour.\r\n")
        idle_until(wire, rb"^\* \d+ EXISTS\r\n$", timeout=2.0)
        wire.send("DONE\r\n")
        assert wire.until("c")[-1] == b"c OK Idle completed.\r\n"
    finally:
        wire.close()
    assert os.environ.get("PIXLAB_DATABASE_URL")  # both processes were on the test's database
