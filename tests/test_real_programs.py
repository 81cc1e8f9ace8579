"""Real mail programs on the class network: the laptop's address, its certificate, what pupils get.

Traffic goes only to loopback: the lab is bound to 127.0.0.2, an address other
than 127.0.0.1, standing for the laptop's address on the class network. How
`--lan` finds that address is tested by replacing where it reads it from,
never by sending anything to it.
"""

from __future__ import annotations

import errno
import html
import os
import plistlib
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.request
import xml.etree.ElementTree as ET
from argparse import Namespace
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ADDRESS, PASSWORD
from cryptography import x509
from flask import Flask
from flask.testing import FlaskClient
from lab_clients import EventTrail

from pixlab import cli
from pixlab.lab import lan
from pixlab.lab.certs import CertificateKind
from pixlab.lab.profiles import PROFILE_MIME_TYPE
from pixlab.lab.runner import Lab
from pixlab.lab.tls import machine_names
from pixlab.scenarios.engine import ScenarioEngine
from pixlab.scenarios.loader import load_catalogue
from pixlab.scenarios.schema import PROGRAM_DEVICE

LAN = "127.0.0.2"  # stands for the laptop's address on the class network
PIXLAB = str(Path(sys.executable).with_name("pixlab"))
PACKAGES = {"curl": "curl", "mbsync": "isync", "setpriv": "util-linux"}
MESSAGE = b"From: prof@lycee-exemple.test\r\nSubject: Devoir\r\n\r\nPage 12.\r\n"


def program(name: str) -> str:
    """A program the tests drive; fails (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: install the '{PACKAGES[name]}' package "
                    "(`make test` does it as root on Debian or Ubuntu).", pytrace=False)
    return path


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "LC_ALL": "C", **(env or {})})


@pytest.fixture
def lan_lab(make_lab) -> Lab:  # type: ignore[no-untyped-def]
    """A lab bound to the stand-in LAN address, with one account and one message."""
    lab = make_lab(host=LAN)
    account = lab.store.create_account(ADDRESS, PASSWORD)
    lab.store.append(account, "INBOX", MESSAGE)
    return lab


# -- the laptop's address ---------------------------------------------------------------

ROUTES = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "enp3s0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    "wlp2s0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    "docker0\t00000000\t00000000\t0000\t0\t0\t0\t00000000\t0\t0\t0\n"
    "wlp2s0\t0000A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
)


def test_the_default_route_with_the_lowest_metric_names_the_interface() -> None:
    assert lan.default_route_interface(ROUTES) == "wlp2s0"  # docker0's route is down
    assert lan.default_route_interface(ROUTES.splitlines()[0]) is None  # no default route
    assert lan.default_route_interface("garbage\nx y z\n") is None


def test_lan_finds_the_address_of_the_default_routes_interface(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "route"
    table.write_text(ROUTES)
    asked: list[str] = []

    def address_of(iface: str) -> str | None:
        asked.append(iface)
        return {"wlp2s0": LAN}.get(iface)

    # Only the sources are replaced: the routing table and the interface's address.
    monkeypatch.setattr(lan, "ROUTE_TABLE", table)
    monkeypatch.setattr(lan, "interface_address", address_of)
    assert cli._serve_host(Namespace(host=None, lan=True)) == LAN
    assert asked == ["wlp2s0"]
    # --host wins over --lan; without --lan, loopback.
    assert cli._serve_host(Namespace(host="127.0.0.9", lan=True)) == "127.0.0.9"
    assert cli._serve_host(Namespace(host=None, lan=False)) == "127.0.0.1"


def test_without_a_route_lan_asks_the_kernel_then_says_there_is_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lan, "ROUTE_TABLE", tmp_path / "absent")
    assert lan.lan_address(probe=lambda: "127.0.0.3") == "127.0.0.3"
    monkeypatch.setattr(lan, "probe_address", lambda: None)
    with pytest.raises(SystemExit) as stopped:
        cli._serve_host(Namespace(host=None, lan=True))
    assert "n'est relié à aucun réseau" in str(stopped.value)
    assert "--host" in str(stopped.value)


def test_the_kernel_tells_a_source_address_without_any_packet() -> None:
    # connect() on a UDP socket only chooses the route: towards loopback, loopback.
    assert lan.probe_address("127.0.0.3") == "127.0.0.1"
    assert lan.interface_address("lo") == "127.0.0.1"
    assert lan.interface_address("pas-une-interface") is None
    found = lan.lan_address()  # this machine's own answer, whatever it is: nothing is sent
    assert found is None or socket.inet_aton(found)


def test_machine_names_are_the_host_name_and_its_local_name() -> None:
    assert machine_names("Portable-Prof") == ("portable-prof", "portable-prof.local")
    assert machine_names("salle12.lycee.lan") == ("salle12.lycee.lan", "salle12.local")
    assert machine_names("poste_prof") == ()  # not a DNS name: no program could match it
    assert machine_names("localhost") == ()


# -- the certificate names the laptop ------------------------------------------------------


def peer_certificate(lab: Lab, host: str, server_hostname: str) -> x509.Certificate:
    context = ssl.create_default_context(cafile=str(lab.ca.ca_path))
    with socket.create_connection((host, lab.listener("imaps").port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_the_valid_certificate_names_the_address_and_the_machine(lan_lab: Lab) -> None:
    # Python checks the IP address against the certificate's IP entries (no SNI is sent).
    cert = peer_certificate(lan_lab, LAN, LAN)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    addresses = [str(a) for a in names.get_values_for_type(x509.IPAddress)]
    dns = names.get_values_for_type(x509.DNSName)
    assert LAN in addresses and "127.0.0.1" in addresses
    assert {*lan_lab.machine_names, "localhost", "mail.lycee-exemple.test"} <= set(dns)
    if lan_lab.machine_names:  # HOSTNAME.local passes the check as well
        local = [n for n in lan_lab.machine_names if n.endswith(".local")][0]
        assert peer_certificate(lan_lab, LAN, local).subject == cert.subject


def curl(lab: Lab, scheme: str, listener: str, *options: str) -> list[str]:
    return [program("curl"), "--silent", "--show-error", "--max-time", "20",
            "--cacert", str(lab.ca.ca_path), "--user", f"{ADDRESS}:{PASSWORD}",
            *options, f"{scheme}://{LAN}:{lab.listener(listener).port}/"]


def test_curl_reads_mail_over_imaps_and_pop3s_by_the_address(lan_lab: Lab) -> None:
    trail = EventTrail(lan_lab)
    imap = run(curl(lan_lab, "imaps", "imaps")[:-1]
               + [f"imaps://{LAN}:{lan_lab.listener('imaps').port}/INBOX;UID=1"])
    assert imap.returncode == 0, imap.stderr
    assert imap.stdout.encode().replace(b"\n", b"\r\n").endswith(MESSAGE)
    pop = run(curl(lan_lab, "pop3s", "pop3s"))
    assert pop.returncode == 0, pop.stderr
    assert pop.stdout.split() == ["1", str(len(MESSAGE))]
    handshakes = trail.of("tls.established")
    assert len(handshakes) == 2 and all(e.data["sni"] is None for e in handshakes)
    assert {e.data["certificate"]["kind"] for e in handshakes} == {"valid"}
    opened = trail.of("connection.opened")
    assert opened and all(e.data["program"] is True for e in opened)


BAD_BY_ADDRESS = (
    (CertificateKind.OTHER_NAME,
     f"no alternative certificate subject name matches target host name '{LAN}'"),
    (CertificateKind.EXPIRED, "certificate has expired"),
    (CertificateKind.SELF_SIGNED, "self-signed certificate"),
)


@pytest.mark.parametrize(("kind", "error"), BAD_BY_ADDRESS)
def test_a_certificate_lesson_on_the_address_fails_curl_with_the_real_error(
    make_lab, kind: CertificateKind, error: str  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(host=LAN, certificates={LAN: kind})
    lab.store.create_account(ADDRESS, PASSWORD)
    result = run(curl(lab, "pop3s", "pop3s"))
    assert result.returncode == 60, result.stderr  # CURLE_PEER_FAILED_VERIFICATION
    assert error in result.stderr


def mbsync_config(lab: Lab, home: Path) -> Path:
    mail = home / "mail"
    mail.mkdir(exist_ok=True)
    config = home / "mbsyncrc"
    config.write_text(
        f"IMAPAccount lab\nHost {LAN}\nPort {lab.listener('imaps').port}\n"
        f"User {ADDRESS}\nPass {PASSWORD}\nSSLType IMAPS\nCertificateFile {lab.ca.ca_path}\n"
        "SystemCertificates no\n\nIMAPStore remote\nAccount lab\n\n"
        f"MaildirStore local\nPath {mail}/\nInbox {mail}/INBOX\n\n"
        "Channel lab\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Both\nSyncState *\n"
    )
    return config


def test_mbsync_syncs_by_the_address_and_refuses_a_wrong_name(
    lan_lab: Lab, make_lab, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    mbsync = program("mbsync")
    good = run([mbsync, "-c", str(mbsync_config(lan_lab, tmp_path)), "-a"], {"HOME": str(tmp_path)})
    assert good.returncode == 0, good.stdout + good.stderr
    [copy] = [p.read_bytes() for p in (tmp_path / "mail" / "INBOX" / "new").iterdir()]
    assert b"Subject: Devoir\n" in copy and copy.endswith(b"\n\nPage 12.\n")

    lesson = make_lab(host=LAN, certificates={LAN: CertificateKind.OTHER_NAME})
    lesson.store.create_account(ADDRESS, PASSWORD)
    other = tmp_path / "lecon"
    other.mkdir()
    bad = run([mbsync, "-c", str(mbsync_config(lesson, other)), "-a"], {"HOME": str(other)})
    assert bad.returncode != 0
    assert f"certificate owner does not match hostname {LAN}" in bad.stderr


def test_one_mark_tells_pixlabs_own_client_from_a_real_program(lan_lab: Lab) -> None:
    """Tap.expect_own_client is the only mark: it alone enters a scenario's world, and
    `connection.opened` says `program` from it (as the failed-login delays do)."""
    world = replace(lan_lab.world, domains=("ailleurs.test",))
    trail = EventTrail(lan_lab)
    greetings: dict[bool, bytes] = {}
    for own in (True, False):
        with socket.socket() as sock:
            sock.settimeout(10)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            lan_lab.enter_world(port, world)
            if own:
                lan_lab.tap.expect_own_client(port)
            sock.connect((LAN, lan_lab.listener("smtp").port))
            greetings[own] = sock.recv(1024)
    assert greetings[True].startswith(b"220 mail.ailleurs.test ")
    # A program from a port once registered for a world, but not marked, is in the lab's own.
    assert greetings[False].startswith(f"220 {lan_lab.world.server_name} ".encode())
    assert [e.data["program"] for e in trail.of("connection.opened")] == [False, True]


# -- the usual ports -----------------------------------------------------------------------


def test_usual_ports_bind_993_when_allowed(make_lab) -> None:  # type: ignore[no-untyped-def]
    if os.geteuid() != 0:
        pytest.fail("binding 993 needs root (CI runs as root)", pytrace=False)
    lab = make_lab(host=LAN, usual_ports=True, listeners=("imaps", "submission"))
    assert [(i.name, i.port) for i in lab.listeners] == [("imaps", 993), ("submission", 587)]
    assert peer_certificate(lab, LAN, LAN).subject  # verified by the address


def test_usual_ports_without_the_right_give_a_clear_french_error() -> None:
    setpriv = program("setpriv")
    if int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text()) <= 25:
        pytest.fail("this machine lets anyone bind low ports: the refusal cannot be shown",
                    pytrace=False)
    data = Path(tempfile.mkdtemp(prefix="pixlab-sans-droit-"))
    try:
        data.chmod(0o777)
        # Another user, with no capability at all: binding 25 and 993 is refused.
        result = run([setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                      "--inh-caps=-all", "--bounding-set=-all", PIXLAB, "serve", "--usual-ports",
                      "--host", LAN, "--port", "0", "--data-dir", str(data / "labo")])
    finally:
        shutil.rmtree(data, ignore_errors=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "impossible d'ouvrir les ports du labo (port 25)" in result.stderr
    assert "setcap cap_net_bind_service=+ep" in result.stderr
    assert "sans --usual-ports" in result.stderr


def test_the_bind_errors_say_what_to_do() -> None:
    taken = OSError(errno.EADDRINUSE, "error while attempting to bind on address "
                    "('127.0.0.2', 993): address already in use")
    assert "(port 993)" in cli.bind_error(taken, usual_ports=True)
    assert "sans --usual-ports" in cli.bind_error(taken, usual_ports=True)
    assert "--mail-port-base" in cli.bind_error(taken, usual_ports=False)
    elsewhere = OSError(errno.EADDRNOTAVAIL, "cannot assign requested address")
    assert "n'appartient pas à cet ordinateur" in cli.bind_error(elsewhere, usual_ports=False)


# -- pixlab serve --lan ------------------------------------------------------------------


def free_port(host: str = LAN) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def test_serve_lan_prints_the_url_and_says_when_pupils_cannot_reach_it(tmp_path: Path) -> None:
    port = free_port(LAN)
    proc = subprocess.Popen(
        [PIXLAB, "serve", "--lan", "--host", LAN, "--port", str(port),
         "--mail-port-base", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        assert f"http://{LAN}:{port}/" in lines[0]
        # 127.0.0.2 is still loopback: one line says so.
        assert lines[1].startswith(f"{LAN} est une adresse de bouclage"), lines
        page = urllib.request.urlopen(f"http://{LAN}:{port}/", timeout=10).read()
        assert b"PixLab" in page
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "Traceback" not in stderr


def test_a_lan_address_is_given_to_the_class() -> None:
    url = "http://192.168.1.20:5000/"
    assert cli._reach_line("192.168.1.20", url) == f"À donner à la classe\u00a0: {url}"
    assert "bouclage" in cli._reach_line("127.0.0.1", "http://127.0.0.1:5000/")


# -- what the web app serves --------------------------------------------------------------------


@pytest.fixture
def lan_app(lan_lab: Lab, tmp_path: Path) -> Flask:
    from pixlab.web import create_app

    return create_app({"DATA_DIR": str(tmp_path / "web"), "TESTING": True}, lab=lan_lab)


def started(client: FlaskClient) -> str:
    """Start a sandbox learner; returns their home page."""
    page = client.get("/bac-a-sable").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    client.post("/bac-a-sable/commencer", data={"csrf_token": token.group(1)})
    return html.unescape(client.get("/bac-a-sable").get_data(as_text=True))


def real_rows(page: str) -> dict[str, tuple[str, int, str]]:
    """The real-program tab's rows: listener -> (host, port, security)."""
    tab = page[page.index('id="fiche-vrai-logiciel"'):]
    rows = re.findall(r'<tr data-listener="(\w+)">.*?<code>([^<]+)</code>.*?'
                      r'class="real-port">(\d+)</strong>.*?Sécurité de la connexion">([^<]+)<',
                      tab, re.S)
    return {name: (host, int(port), security) for name, host, port, security in rows}


def test_the_sheets_second_tab_shows_what_the_lab_serves(lan_app: Flask, lan_lab: Lab) -> None:
    page = started(lan_app.test_client())
    assert "Avec un vrai logiciel" in page and 'href="#fiche-vrai-logiciel"' in page
    words = {"tls": "SSL/TLS", "starttls": "STARTTLS"}
    expected = {i.name: (LAN, i.port, words[i.security]) for i in lan_lab.listeners
                if i.name != "smtp"}
    assert real_rows(page) == expected
    assert "port du labo, pas le 993 habituel" in page
    assert "Mot de passe normal" in page
    assert "<svg" in page and 'class="qr"' in page
    assert "Certificat du labo" in page


def test_with_the_usual_ports_the_tab_shows_them_plainly(
    make_lab, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    from pixlab.web import create_app

    lab = make_lab(host=LAN, usual_ports=True, listeners=("imaps", "pop3s", "submission"))
    app = create_app({"DATA_DIR": str(tmp_path / "web"), "TESTING": True}, lab=lab)
    page = started(app.test_client())
    assert real_rows(page) == {"imaps": (LAN, 993, "SSL/TLS"), "pop3s": (LAN, 995, "SSL/TLS"),
                               "submission": (LAN, 587, "STARTTLS")}
    assert "habituel" not in page[page.index('id="fiche-vrai-logiciel"'):]


def sheet_link(page: str) -> str:
    found = re.search(r'class="sheet-link">(http://[^<]+)<', page)
    assert found
    return found.group(1)


def test_the_sheet_link_opens_the_same_sheet_elsewhere_and_only_while_valid(
    lan_app: Flask, lan_lab: Lab
) -> None:
    page = started(lan_app.test_client())
    link = sheet_link(page)
    path = link.removeprefix("http://localhost")
    password = re.search(r'class="password">([^<]+)<', page)
    assert password
    phone = lan_app.test_client()  # another device: no session at all
    opened = html.unescape(phone.get(path).get_data(as_text=True))
    assert password.group(1) in opened and real_rows(opened) == real_rows(page)
    assert phone.get(path[:-3] + "abc").status_code == 404  # a forged token
    assert phone.get("/fiche/n-importe-quoi/pixlab.mobileconfig").status_code == 404


def test_the_ca_downloads_as_der_and_pem(lan_app: Flask, lan_lab: Lab) -> None:
    client = lan_app.test_client()
    der = client.get("/labo/pixlab-ca.crt")
    assert der.mimetype == "application/x-x509-ca-cert"
    assert "pixlab-ca.crt" in der.headers["Content-Disposition"]
    pem = client.get("/labo/pixlab-ca.pem")
    cert = x509.load_der_x509_certificate(der.data)
    assert cert == x509.load_pem_x509_certificate(pem.data)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_the_apple_profile_holds_the_account_and_the_ca(lan_app: Flask, lan_lab: Lab) -> None:
    client = lan_app.test_client()
    page = started(client)
    address = re.search(r"<code>([a-z]+-\d+@lycee-exemple\.test)</code>", page)
    assert address
    response = client.get(sheet_link(page).removeprefix("http://localhost")
                          + "/pixlab.mobileconfig")
    assert response.status_code == 200
    assert response.mimetype == PROFILE_MIME_TYPE == "application/x-apple-aspen-config"
    profile = plistlib.loads(response.data)
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    account, root = profile["PayloadContent"]
    assert account["PayloadType"] == "com.apple.mail.managed"
    assert account["EmailAccountType"] == "EmailTypeIMAP"
    assert account["EmailAddress"] == address.group(1)
    assert account["IncomingMailServerUsername"] == address.group(1)
    assert (account["IncomingMailServerHostName"], account["IncomingMailServerPortNumber"]) == (
        LAN, lan_lab.listener("imaps").port)
    assert account["IncomingMailServerUseSSL"] is True
    assert (account["OutgoingMailServerHostName"], account["OutgoingMailServerPortNumber"]) == (
        LAN, lan_lab.listener("submission").port)
    assert not any("Password" in key and key != "OutgoingPasswordSameAsIncomingPassword"
                   for key in account)  # the pupil types it
    assert root["PayloadType"] == "com.apple.security.root"
    assert isinstance(root["PayloadContent"], bytes) and root["PayloadContent"] == lan_lab.ca.ca_der
    uuids = [profile["PayloadUUID"], account["PayloadUUID"], root["PayloadUUID"]]
    assert len(set(uuids)) == 3


AUTOCONFIG_URLS = (
    "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=eleve%40lycee-exemple.test",
    "/mail/config-v1.1.xml",
    "/autoconfig/v1.1/lycee-exemple.test",
)


@pytest.mark.parametrize("url", AUTOCONFIG_URLS)
def test_autoconfig_describes_the_running_lab(lan_app: Flask, lan_lab: Lab, url: str) -> None:
    response = lan_app.test_client().get(url)
    assert response.status_code == 200 and response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None
    assert [d.text for d in provider.findall("domain")] == ["lycee-exemple.test"]
    found = {
        (s.tag, s.get("type"), s.findtext("hostname"), int(s.findtext("port") or 0),
         s.findtext("socketType"), s.findtext("username"))
        for s in provider if s.tag in ("incomingServer", "outgoingServer")
    }
    types = {"tls": "SSL", "starttls": "STARTTLS"}
    expected = {
        ("outgoingServer" if i.spec.protocol == "smtp" else "incomingServer", i.spec.protocol,
         LAN, i.port, types[i.security], "%EMAILADDRESS%")
        for i in lan_lab.listeners if i.name != "smtp"
    }
    assert found == expected


def test_autoconfig_answers_only_for_the_labs_domains(lan_app: Flask) -> None:
    client = lan_app.test_client()
    assert client.get("/autoconfig/v1.1/gmail.com").status_code == 404
    assert client.get("/mail/config-v1.1.xml?emailaddress=a%40gmail.com").status_code == 404


# -- scenario objectives count real programs ------------------------------------------------------


def test_a_real_program_meets_a_scenarios_objective(lan_lab: Lab) -> None:
    engine = ScenarioEngine(lan_lab, load_catalogue(), client_timeout=1.0)
    attempt = engine.start("eleve-9", "premiers-pas-imap")
    assert "connexion-chiffree" not in engine.refresh(attempt.id).newly_met
    # The pupil's phone reads their mail over 993 with the attempt's account.
    result = run([program("curl"), "--silent", "--show-error", "--max-time", "20",
                  "--cacert", str(lan_lab.ca.ca_path),
                  "--user", f"{attempt.address}:{attempt.password}",
                  f"imaps://{LAN}:{lan_lab.listener('imaps').port}/INBOX"])
    assert result.returncode == 0, result.stderr
    outcome = engine.refresh(attempt.id)
    assert outcome.newly_met == ("connexion-chiffree",)
    proof = engine.get(attempt.id).proofs["connexion-chiffree"]
    assert proof["device"] == PROGRAM_DEVICE and proof["listener"] == "imaps"
    # Another account's program proves nothing for this attempt.
    other = engine.start("eleve-10", "premiers-pas-imap")
    assert engine.refresh(other.id).newly_met == ()


def test_a_scenarios_sheet_link_gives_the_attempts_account(lan_app: Flask) -> None:
    client = lan_app.test_client()
    page = client.get("/scenarios").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    started_at = client.post("/scenarios/premiers-pas-imap/commencer",
                             data={"csrf_token": token.group(1)})
    assert started_at.status_code == 303
    player = html.unescape(client.get("/scenarios/premiers-pas-imap").get_data(as_text=True))
    password = re.search(r'class="password">([^<]+)<', player)
    address = re.search(r"<code>([^<]+-sc@[^<]+)</code>", player)
    assert password and address
    phone = html.unescape(lan_app.test_client().get(
        sheet_link(player).removeprefix("http://localhost")).get_data(as_text=True))
    assert f'<code class="real-password">{password.group(1)}</code>' in phone
    assert f"<code>{address.group(1)}</code>" in phone


def test_a_server_on_every_address_gives_the_class_the_laptops_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 0.0.0.0 in a QR code reaches nothing: the class is given the network address.
    monkeypatch.setattr(lan, "lan_address", lambda: "192.168.1.20")
    assert cli.announced_host("0.0.0.0") == "192.168.1.20"
    assert cli.announced_host("::") == "192.168.1.20"
    assert cli.announced_host("127.0.0.2") == "127.0.0.2"
    # No network at all: the machine's name, never the unspecified address.
    monkeypatch.setattr(lan, "lan_address", lambda: None)
    assert cli.announced_host("0.0.0.0") == socket.gethostname()
