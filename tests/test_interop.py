"""Real mail programs against a running lab: curl, openssl s_client and fetchmail.

They reach the lab by its host names (`smtp.lycee-exemple.test`), mapped to
the listener's real address and port, so that SNI and the certificate's name
check are what they are with a real server. `make test` installs the
programs; a missing one fails the test with the package to install, it is
never skipped. Every run has a timeout: a program that hangs fails its test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ADDRESS, DOMAIN, PASSWORD
from lab_clients import EventTrail, address, inbox

from pixlab.lab.certs import CertificateKind
from pixlab.lab.runner import Lab

pytestmark = pytest.mark.interop

SMTP_HOST = f"smtp.{DOMAIN}"
POP_HOST = f"pop.{DOMAIN}"
PACKAGES = {"curl": "curl", "openssl": "openssl", "fetchmail": "fetchmail"}
MESSAGES = (
    b"From: prof@lycee-exemple.test\r\nSubject: Premier\r\n\r\nBonjour.\r\n",
    b"From: prof@lycee-exemple.test\r\nSubject: Points\r\n\r\n.signature\r\n.\r\nfin\r\n",
)
BAD_CERTIFICATES = (
    (CertificateKind.EXPIRED, 10, "certificate has expired"),
    (CertificateKind.SELF_SIGNED, 18, "self-signed certificate"),
    (CertificateKind.OTHER_NAME, 62, "hostname mismatch"),
)


def program(name: str) -> str:
    """The path of a program the interop tests need; fails (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed. `make test` installs it on Debian or Ubuntu when run as "
            f"root; otherwise install the '{PACKAGES[name]}' package.",
            pytrace=False,
        )
    return path


def run(
    args: list[str], timeout: float = 30.0, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run a program to its end, or kill it after `timeout` seconds (which fails the test)."""
    return subprocess.run(
        args,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "LC_ALL": "C", **(env or {})},
    )


def explain(result: subprocess.CompletedProcess[bytes]) -> str:
    return f"exit {result.returncode}\n{result.stdout.decode(errors='replace')}\n" + (
        result.stderr.decode(errors="replace")
    )


@pytest.fixture
def seeded(lab: Lab) -> Lab:
    account = lab.store.account(ADDRESS)
    assert account is not None
    for raw in MESSAGES:
        lab.store.append(account, "INBOX", raw)
    return lab


# -- curl ---------------------------------------------------------------------------


def curl(lab: Lab, listener: str, scheme: str, host: str, *options: str) -> list[str]:
    port = address(lab, listener)[1]
    return [
        program("curl"), "--silent", "--show-error", "--max-time", "20",
        "--cacert", str(lab.ca.ca_path),
        "--resolve", f"{host}:{port}:127.0.0.1",
        "--user", f"{ADDRESS}:{PASSWORD}",
        *options,
        f"{scheme}://{host}:{port}/",
    ]


@pytest.mark.parametrize(
    ("listener", "scheme", "options"),
    (("submission", "smtp", ("--ssl-reqd",)), ("smtps", "smtps", ())),
)
def test_curl_sends_mail_through_submission(
    lab: Lab, tmp_path: Path, listener: str, scheme: str, options: tuple[str, ...]
) -> None:
    trail = EventTrail(lab)
    message = tmp_path / "devoir.eml"
    message.write_bytes(
        f"From: {ADDRESS}\r\nTo: {ADDRESS}\r\nSubject: Devoir\r\n\r\nCi-joint.\r\n".encode()
    )
    result = run(
        curl(lab, listener, scheme, SMTP_HOST, *options,
             "--mail-from", ADDRESS, "--mail-rcpt", ADDRESS, "--upload-file", str(message))
    )
    assert result.returncode == 0, explain(result)
    [raw] = inbox(lab, ADDRESS)
    assert raw.endswith(message.read_bytes())
    assert " with ESMTPSA id " in raw.decode()
    assert trail.wait_for("tls.established").data["sni"] == SMTP_HOST
    login = trail.wait_for("auth.succeeded")
    assert login.listener == listener and login.data["cleartext"] is False


def test_curl_without_starttls_cannot_log_in_on_587(lab: Lab, tmp_path: Path) -> None:
    message = tmp_path / "devoir.eml"
    message.write_bytes(b"Subject: en clair\r\n\r\nNon.\r\n")
    result = run(
        curl(lab, "submission", "smtp", SMTP_HOST,
             "--mail-from", ADDRESS, "--mail-rcpt", ADDRESS, "--upload-file", str(message))
    )
    # The lab does not offer AUTH before STARTTLS, so curl goes on without logging
    # in, and MAIL gets "530 5.7.0 Must issue a STARTTLS command first".
    assert result.returncode == 55, explain(result)  # CURLE_SEND_ERROR
    assert result.stderr == b"curl: (55) MAIL failed: 530\n"
    assert inbox(lab, ADDRESS) == []


@pytest.mark.parametrize(
    ("listener", "scheme", "options"),
    (("pop3", "pop3", ("--ssl-reqd",)), ("pop3s", "pop3s", ())),
)
def test_curl_lists_and_retrieves_with_pop3(
    seeded: Lab, listener: str, scheme: str, options: tuple[str, ...]
) -> None:
    lab = seeded
    trail = EventTrail(lab)
    listing = run(curl(lab, listener, scheme, POP_HOST, *options))
    assert listing.returncode == 0, explain(listing)
    assert listing.stdout == b"".join(
        b"%d %d\r\n" % (n, len(raw)) for n, raw in enumerate(MESSAGES, 1)
    )
    # curl takes the message number from the URL's path and undoes the dot-stuffing.
    retrieve = curl(lab, listener, scheme, POP_HOST, *options)
    retrieve[-1] += "2"
    message = run(retrieve)
    assert message.returncode == 0, explain(message)
    assert message.stdout == MESSAGES[1]
    assert trail.wait_for("message.retrieved").data["size"] == len(MESSAGES[1])
    assert trail.wait_for("tls.established").data["sni"] == POP_HOST
    assert len(inbox(lab, ADDRESS)) == 2  # reading is not deleting


def test_curl_deletes_with_pop3_dele(seeded: Lab) -> None:
    lab = seeded
    # --head: DELE answers one line, curl must not wait for a multi-line body.
    delete = curl(lab, "pop3s", "pop3s", POP_HOST, "--request", "DELE 1", "--head")
    result = run(delete)
    assert result.returncode == 0, explain(result)
    assert inbox(lab, ADDRESS) == [MESSAGES[1]]


# -- openssl s_client -------------------------------------------------------------


def s_client(lab: Lab, listener: str, host: str) -> list[str]:
    starttls = {"submission": ["-starttls", "smtp"], "pop3": ["-starttls", "pop3"]}
    return [
        program("openssl"), "s_client",
        "-connect", "{}:{}".format(*address(lab, listener)),
        *starttls.get(listener, []),
        "-servername", host, "-verify_hostname", host,
        "-verify_return_error", "-CAfile", str(lab.ca.ca_path),
    ]


LISTENER_HOSTS = (
    ("submission", SMTP_HOST), ("smtps", SMTP_HOST), ("pop3", POP_HOST), ("pop3s", POP_HOST)
)


@pytest.mark.parametrize(("listener", "host"), LISTENER_HOSTS)
def test_openssl_verifies_the_valid_chain(lab: Lab, listener: str, host: str) -> None:
    result = run(s_client(lab, listener, host))
    assert result.returncode == 0, explain(result)
    out = result.stdout.decode()
    assert "Verify return code: 0 (ok)" in out
    assert f"Verified peername: {host}" in out
    assert f"subject=CN = mail.{DOMAIN}" in out


@pytest.mark.parametrize(("kind", "code", "reason"), BAD_CERTIFICATES)
@pytest.mark.parametrize(("listener", "host"), LISTENER_HOSTS)
def test_openssl_names_what_is_wrong_with_a_bad_certificate(
    make_lab, listener: str, host: str, kind: CertificateKind, code: int, reason: str  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(certificates={host: kind})
    result = run(s_client(lab, listener, host))
    assert result.returncode == 1, explain(result)
    assert f"Verify return code: {code} ({reason})" in result.stdout.decode(), explain(result)
    assert f"verify error:num={code}:{reason}" in result.stderr.decode()
    assert "certificate verify failed" in result.stderr.decode()


# -- fetchmail ---------------------------------------------------------------------


def fetchmail_rc(lab: Lab, home: Path, host: str, mailbox: Path) -> Path:
    # fetchmail checks the certificate against the name it is told to expect
    # (sslcommonname) and sends it as SNI; "via" is where it really connects.
    rc = home / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        f"poll {host} via 127.0.0.1 port {address(lab, 'pop3s')[1]} protocol POP3 timeout 15\n"
        f'  user "{ADDRESS}" with password "{PASSWORD}"\n'
        f'  ssl sslcertck sslcertfile "{lab.ca.ca_path}" sslcommonname "{host}"\n'
        f'  mda "cat >> {mailbox}"\n'
    )
    rc.chmod(0o600)  # fetchmail refuses a run control file others may read
    return rc


def fetchmail(rc: Path, home: Path) -> subprocess.CompletedProcess[bytes]:
    return run(
        [program("fetchmail"), "--fetchmailrc", str(rc), "--nodetach", "--nosyslog",
         "--verbose"],
        timeout=60,
        env={"HOME": str(home), "FETCHMAILHOME": str(home)},
    )


def test_fetchmail_downloads_over_pop3s_and_quit_deletes(seeded: Lab, tmp_path: Path) -> None:
    lab = seeded
    trail = EventTrail(lab)
    mailbox = tmp_path / "courrier.mbox"
    result = fetchmail(fetchmail_rc(lab, tmp_path, POP_HOST, mailbox), tmp_path)
    assert result.returncode == 0, explain(result)  # 0: mail was fetched
    fetched = mailbox.read_bytes().replace(b"\r\n", b"\n")
    for raw in MESSAGES:
        # fetchmail adds its own Received header on top of each message.
        assert raw.replace(b"\r\n", b"\n").partition(b"\n")[2] in fetched
    # Without "keep", fetchmail marks each message with DELE and the lab deletes them at QUIT.
    assert inbox(lab, ADDRESS) == []
    assert len(trail.of("message.deleted")) == len(MESSAGES)
    # fetchmail downloads with TOP, not RETR; the trainer still sees each download.
    assert len(trail.of("message.retrieved")) == len(MESSAGES)
    assert trail.wait_for("tls.established").data["sni"] == POP_HOST


@pytest.mark.parametrize(("kind", "code", "reason"), BAD_CERTIFICATES)
def test_fetchmail_refuses_a_bad_certificate_and_nothing_is_lost(
    make_lab, tmp_path: Path, kind: CertificateKind, code: int, reason: str  # type: ignore[no-untyped-def]
) -> None:
    lab = make_lab(certificates={POP_HOST: kind})
    account = lab.store.create_account(ADDRESS, PASSWORD)
    lab.store.append(account, "INBOX", MESSAGES[0])
    mailbox = tmp_path / "courrier.mbox"
    result = fetchmail(fetchmail_rc(lab, tmp_path, POP_HOST, mailbox), tmp_path)
    assert result.returncode == 2, explain(result)  # 2: socket (here TLS) error
    assert f"Server certificate verification error: {reason}" in result.stderr.decode()
    assert not mailbox.exists()
    assert inbox(lab, ADDRESS) == [MESSAGES[0]]


def test_curl_without_the_lab_ca_does_not_trust_the_server(seeded: Lab) -> None:
    # What a learner meets before installing the lab's CA in their program.
    command = curl(seeded, "pop3s", "pop3s", POP_HOST)
    del command[command.index("--cacert") : command.index("--cacert") + 2]
    result = run(command)
    assert result.returncode == 60, explain(result)  # CURLE_PEER_FAILED_VERIFICATION
    # The lab sends its CA along with the certificate; curl has no reason to trust it.
    assert b"SSL certificate problem: self-signed certificate in certificate chain" in (
        result.stderr
    )
