"""The `pixlab` command as a trainer or a script uses it: sandbox and serve, started and stopped."""

from __future__ import annotations

import http.client
import json
import poplib
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pixlab.lab.config import LISTENERS

PIXLAB = str(Path(sys.executable).with_name("pixlab"))


def free_port_base() -> int:
    """A base under which every canonical port of the lab is free right now."""
    for _ in range(50):
        base = random.randrange(20000, 60000, 1000)
        ports = [base + spec.port_canonical for spec in LISTENERS]
        try:
            for port in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port base")


def start_sandbox(data_dir: Path, *args: str) -> tuple[subprocess.Popen[str], dict]:
    """Run `pixlab sandbox --json` and return the process and its JSON line."""
    proc = subprocess.Popen(
        [PIXLAB, "sandbox", "--json", "--data-dir", str(data_dir),
         "--port-base", str(free_port_base()), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        _, stderr = proc.communicate()
        pytest.fail(f"sandbox printed nothing: {stderr}")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[str], sig: int) -> int:
    """Send a signal, wait for the end, close the pipes; returns the exit code."""
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=10)
    assert "Traceback" not in stderr, stderr
    return proc.returncode


@pytest.mark.parametrize("sig", (signal.SIGINT, signal.SIGTERM))
def test_sandbox_json_describes_every_ready_listener_and_stops_on_signal(
    tmp_path: Path, sig: int
) -> None:
    proc, info = start_sandbox(tmp_path, "--account", "prof@lycee-exemple.test:Craie-42")
    try:
        assert info["domain"] == "lycee-exemple.test"
        assert Path(info["ca"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
        by_port = {entry["port_canonical"]: entry for entry in info["listeners"]}
        assert {25, 587, 465, 110, 995} <= set(by_port)
        assert by_port[995] == {
            "name": "pop3s", "protocol": "pop3", "security": "tls", "port_canonical": 995,
            "host": "127.0.0.1", "port": by_port[995]["port"],
        }
        assert by_port[110]["security"] == "starttls"
        # Ready means ready: a real client logs in at once.
        context = ssl.create_default_context(cafile=info["ca"])
        pop = poplib.POP3_SSL("127.0.0.1", by_port[995]["port"], context=context, timeout=5)
        pop.user("prof@lycee-exemple.test")
        assert pop.pass_("Craie-42").startswith(b"+OK")
        pop.quit()
        # The trainer finds the postmaster's mailbox and where its password is kept.
        postmaster = info["postmaster"]
        assert postmaster["address"] == "postmaster@lycee-exemple.test"
        password = Path(postmaster["password_file"]).read_text().strip()
        pop = poplib.POP3_SSL("127.0.0.1", by_port[995]["port"], context=context, timeout=5)
        pop.user(postmaster["address"])
        assert pop.pass_(password).startswith(b"+OK")
        pop.quit()
    finally:
        code = stop(proc, sig)
    assert code == 0
    with socket.socket() as s:  # the ports are free again
        s.bind(("127.0.0.1", by_port[995]["port"]))


def test_sandbox_account_given_again_keeps_its_mail_and_takes_the_new_password(
    tmp_path: Path,
) -> None:
    proc, info = start_sandbox(tmp_path, "--account", "prof@lycee-exemple.test:Ancien-1")
    port = {e["port_canonical"]: e["port"] for e in info["listeners"]}
    try:
        import smtplib

        with smtplib.SMTP("127.0.0.1", port[25], timeout=5) as smtp:
            smtp.sendmail("parent@ailleurs.test", ["prof@lycee-exemple.test"],
                          b"Subject: Sortie scolaire\r\n\r\nAutorisation signee.\r\n")
    finally:
        stop(proc, signal.SIGTERM)
    proc, info = start_sandbox(tmp_path, "--account", "prof@lycee-exemple.test:Nouveau-2")
    port = {e["port_canonical"]: e["port"] for e in info["listeners"]}
    try:
        context = ssl.create_default_context(cafile=info["ca"])
        pop = poplib.POP3_SSL("127.0.0.1", port[995], context=context, timeout=5)
        pop.user("prof@lycee-exemple.test")
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Authentication failed"):
            pop.pass_("Ancien-1")
        pop.close()
        pop = poplib.POP3_SSL("127.0.0.1", port[995], context=context, timeout=5)
        pop.user("prof@lycee-exemple.test")
        pop.pass_("Nouveau-2")
        assert pop.stat()[0] == 1
        assert b"Subject: Sortie scolaire" in b"\r\n".join(pop.retr(1)[1])
        pop.quit()
    finally:
        stop(proc, signal.SIGINT)


def test_sandbox_refuses_a_malformed_account_with_a_french_hint(tmp_path: Path) -> None:
    result = subprocess.run(
        [PIXLAB, "sandbox", "--data-dir", str(tmp_path), "--account", "sans-mot-de-passe"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "ADRESSE:MOT_DE_PASSE" in result.stderr


def test_sandbox_says_which_port_is_taken(tmp_path: Path) -> None:
    base = free_port_base()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", base + 995))
        blocker.listen()
        result = subprocess.run(
            [PIXLAB, "sandbox", "--data-dir", str(tmp_path), "--port-base", str(base)],
            capture_output=True, text=True, timeout=30,
        )
    assert result.returncode != 0
    assert "impossible d'ouvrir les ports du labo" in result.stderr
    assert str(base + 995) in result.stderr


def test_serve_runs_web_and_lab_in_one_process_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        web_port = s.getsockname()[1]
    base = free_port_base()
    proc = subprocess.Popen(
        [PIXLAB, "serve", "--port", str(web_port), "--data-dir", str(tmp_path),
         "--mail-port-base", str(base)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        page = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=2) as r:
                    page = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert "Le labo de messagerie" in page
        assert f"127.0.0.1:{base + 995}" in page
        with socket.create_connection(("127.0.0.1", base + 110), timeout=5) as pop:
            assert pop.recv(100).startswith(b"+OK")
    finally:
        code = stop(proc, signal.SIGINT)
    assert code == 0


def test_serve_https_answers_with_a_certificate_of_the_lab_ca_for_the_bound_address(
    tmp_path: Path,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        web_port = s.getsockname()[1]
    proc = subprocess.Popen(
        [PIXLAB, "serve", "--https", "--port", str(web_port), "--data-dir", str(tmp_path),
         "--mail-port-base", str(free_port_base())],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if not ready:
            proc.kill()
            pytest.fail(f"serve --https printed nothing: {proc.communicate()[1]}")
        # The French no-break space before the colon, as every line PixLab prints.
        assert ready.startswith(f"PixLab\u00a0: https://127.0.0.1:{web_port}/"), ready
        assert "postmaster-password.txt" in proc.stdout.readline()
        # A browser that trusts the lab's authority, and checks the name it typed.
        trusted = ssl.create_default_context(cafile=str(tmp_path / "tls" / "pixlab-ca.pem"))
        url = f"https://127.0.0.1:{web_port}/formateur/connexion"
        with urllib.request.urlopen(url, context=trusted, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
            assert "Connexion formateur" in response.read().decode()
        # One that does not trust it refuses the certificate, as it should.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(url, context=ssl.create_default_context(), timeout=10)
        # And nothing answers in clear on that port.
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=5)
    finally:
        code = stop(proc, signal.SIGINT)
    assert code == 0


def test_an_https_certificate_for_every_address_names_this_machines_addresses() -> None:
    from pixlab.cli import _certificate_names
    from pixlab.web.security import own_addresses

    assert _certificate_names("192.168.1.10")[:3] == ("192.168.1.10", "localhost", "127.0.0.1")
    everywhere = _certificate_names("0.0.0.0")
    assert "0.0.0.0" not in everywhere and socket.gethostname() == everywhere[0]
    for address in own_addresses():
        if not address.is_link_local:
            assert str(address) in everywhere
