"""Real mail programs from Debian against the lab's IMAP server: mbsync, fetchmail, curl.

These run in CI: `make test` installs the programs (the `system-programs` target),
and a missing program fails its test with the command that installs it rather
than skipping it silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ADDRESS, PASSWORD

from pixlab.lab.events import Event
from pixlab.lab.runner import Lab
from pixlab.lab.tap import CLIENT

pytestmark = pytest.mark.interop

PACKAGES = {"mbsync": "isync", "fetchmail": "fetchmail", "curl": "curl"}


def program(name: str) -> str:
    """The path of a program the test needs; fails (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: run `make system-programs` as root, or "
            f"`apt-get install {PACKAGES[name]}`; the IMAP interoperability tests need it."
        )
    return path


def run(args: list[str], home: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a program with its own HOME (its state files stay in the test's directory)."""
    env = {**os.environ, "HOME": str(home), "LC_ALL": "C"}
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def message(subject: str, body: str = "Bonjour.\r\n") -> bytes:
    return (
        f"From: Mme Martin <prof@lycee-exemple.test>\r\nTo: {ADDRESS}\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '-')}@lycee>\r\n\r\n{body}"
    ).encode()


def put(lab: Lab, raw: bytes, folder: str = "INBOX") -> None:
    account = lab.store.account(ADDRESS)
    assert account is not None
    lab.store.append(account, folder, raw)


def stored(lab: Lab, folder: str = "INBOX") -> dict[bytes, frozenset[str]]:
    """The folder's messages on the server: subject line → flags."""
    account = lab.store.account(ADDRESS)
    assert account is not None
    box = lab.store.folder(account.id, folder)
    assert box is not None
    out = {}
    for info in lab.store.messages(box.id):
        raw = lab.store.raw(info.id)
        subject = next(line for line in raw.split(b"\r\n") if line.startswith(b"Subject: "))
        out[subject[9:]] = info.flags
    return out


@pytest.fixture
def events(lab: Lab) -> list[Event]:
    seen: list[Event] = []
    lab.events.subscribe(seen.append)
    return seen


# -- mbsync (isync) -----------------------------------------------------------------------


def maildir(root: Path, folder: str) -> dict[str, bytes]:
    """A Maildir folder's messages: file name → content."""
    return {
        p.name: p.read_bytes() for sub in ("new", "cur") for p in (root / folder / sub).iterdir()
    }


def test_mbsync_syncs_a_maildir_both_ways(lab: Lab, tmp_path: Path, events: list[Event]) -> None:
    mbsync = program("mbsync")
    put(lab, message("Devoir"))
    put(lab, message("Sortie"))
    put(lab, message("Ancien"), "Archives")
    mail = tmp_path / "mail"
    mail.mkdir()
    config = tmp_path / "mbsyncrc"
    # The certificate names localhost; mbsync checks host names, not IP addresses.
    config.write_text(
        f"IMAPAccount lab\nHost localhost\nPort {lab.listener('imaps').port}\n"
        f"User {ADDRESS}\nPass {PASSWORD}\nSSLType IMAPS\nCertificateFile {lab.ca.ca_path}\n"
        "SystemCertificates no\n\n"
        "IMAPStore remote\nAccount lab\n\n"
        f"MaildirStore local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n"
        "Channel lab\nFar :remote:\nNear :local:\nPatterns INBOX Archives\nCreate Both\n"
        "Expunge Both\nSyncState *\n"
    )

    def sync() -> None:
        result = run([mbsync, "-c", str(config), "-a"], tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr

    # Pull.
    sync()
    inbox = maildir(mail, "INBOX")
    assert sorted(b"Subject: Devoir" in c or b"Subject: Sortie" in c for c in inbox.values()) == [
        True,
        True,
    ]
    assert [b"Subject: Ancien" in c for c in maildir(mail, "Archives").values()] == [True]

    # Push a message written offline.
    (mail / "INBOX" / "new" / "1700000000.local.test:2,S").write_bytes(message("Hors ligne"))
    sync()
    assert stored(lab) == {
        b"Devoir": frozenset(),
        b"Sortie": frozenset(),
        b"Hors ligne": frozenset({"\\Seen"}),
    }
    assert any(e.kind == "message.appended" for e in events)

    # Delete locally (the T flag of a Maildir): mbsync marks it \Deleted and expunges it.
    (name,) = [n for n, c in maildir(mail, "INBOX").items() if b"Subject: Devoir" in c]
    path = next((mail / "INBOX").glob(f"*/{name}"))
    path.rename(path.with_name(name + "T"))
    sync()
    assert set(stored(lab)) == {b"Sortie", b"Hors ligne"}
    assert ("message.deleted", "INBOX") in [(e.kind, e.data.get("folder")) for e in events]

    # Delete on the server (another device expunged it): the local copy goes too.
    account = lab.store.account(ADDRESS)
    assert account is not None
    archives = lab.store.folder(account.id, "Archives")
    assert archives is not None
    lab.store.delete_messages(m.id for m in lab.store.messages(archives.id))
    sync()
    assert maildir(mail, "Archives") == {}
    assert len(maildir(mail, "INBOX")) == 2


# -- fetchmail ------------------------------------------------------------------------------


def fetchmail_config(lab: Lab, tmp_path: Path, certificate: str) -> Path:
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        # fetchmail checks the name it polls against the certificate's DNS names.
        f"poll localhost protocol IMAP port {lab.listener('imaps').port}\n"
        f'  user "{ADDRESS}" there with password "{PASSWORD}"\n'
        f"  ssl sslcertck {certificate}\n"
        f"  mda \"/bin/sh -c 'cat >> {tmp_path / 'delivered.mbox'}'\"\n"
    )
    rc.chmod(0o600)  # fetchmail refuses a readable password file
    return rc


def test_fetchmail_over_imaps_with_certificate_check(
    lab: Lab, tmp_path: Path, events: list[Event]
) -> None:
    fetchmail = program("fetchmail")
    put(lab, message("Premier"))
    put(lab, message("Second"))
    rc = fetchmail_config(lab, tmp_path, f'sslcertfile "{lab.ca.ca_path}"')
    result = run([fetchmail, "-v", "-f", str(rc)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    delivered = (tmp_path / "delivered.mbox").read_bytes()
    assert b"Subject: Premier" in delivered and b"Subject: Second" in delivered
    assert stored(lab) == {}  # fetchmail deletes what it fetched, as POP3 would
    login = next(e for e in events if e.kind == "auth.succeeded")
    assert login.tls is True and login.listener == "imaps"
    assert [e.data["uid"] for e in events if e.kind == "message.deleted"] == [1, 2]


def test_fetchmail_refuses_a_server_it_cannot_verify(lab: Lab, tmp_path: Path) -> None:
    fetchmail = program("fetchmail")
    put(lab, message("Premier"))
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text("")  # trusts nothing, as a machine without the lab's CA
    rc = fetchmail_config(lab, tmp_path, f'sslcertfile "{other_ca}"')
    result = run([fetchmail, "-v", "-f", str(rc)], tmp_path)
    assert result.returncode != 0
    assert "certificate" in (result.stdout + result.stderr).lower()
    assert set(stored(lab)) == {b"Premier"}


# -- curl --------------------------------------------------------------------------------------


def curl(lab: Lab, tmp_path: Path, url: str, *options: str) -> subprocess.CompletedProcess[str]:
    return run(
        [
            program("curl"),
            "--silent",
            "--show-error",
            "--user",
            f"{ADDRESS}:{PASSWORD}",
            "--cacert",
            str(lab.ca.ca_path),
            *options,
            url,
        ],
        tmp_path,
    )


def test_curl_imap_with_ssl_reqd_uses_starttls(
    lab: Lab, tmp_path: Path, events: list[Event]
) -> None:
    raw = message("Par curl", "Texte lu par curl.\r\n")
    put(lab, raw)
    port = lab.listener("imap").port
    out = tmp_path / "message.eml"
    result = curl(
        lab, tmp_path, f"imap://localhost:{port}/INBOX;UID=1", "--ssl-reqd", "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == raw
    login = next(e for e in events if e.kind == "auth.succeeded")
    assert login.listener == "imap" and login.data["cleartext"] is False


def test_curl_imap_without_tls_is_refused_a_cleartext_login(
    lab: Lab, tmp_path: Path, events: list[Event]
) -> None:
    put(lab, message("Secret"))
    port = lab.listener("imap").port
    result = curl(lab, tmp_path, f"imap://localhost:{port}/INBOX;UID=1")
    # curl reads LOGINDISABLED in the capabilities and does not send the password at all.
    assert result.returncode == 67 and "Login denied" in result.stderr
    assert "Secret" not in result.stdout
    assert not any(e.kind == "auth.succeeded" for e in events)
    (opened,) = [e for e in events if e.kind == "connection.opened"]
    assert opened.connection_id is not None
    capture = lab.tap.capture(opened.connection_id)
    assert capture is not None and b"CAPABILITY" in capture.sent_by(CLIENT)
    assert PASSWORD.encode() not in capture.sent_by(CLIENT)


def test_curl_imaps_lists_searches_and_appends(lab: Lab, tmp_path: Path) -> None:
    put(lab, message("Un"))
    port = lab.listener("imaps").port
    listing = curl(lab, tmp_path, f"imaps://127.0.0.1:{port}/")
    assert listing.returncode == 0, listing.stderr
    assert '* LIST (\\HasNoChildren \\Sent) "/" "Sent"' in listing.stdout.splitlines()
    search = curl(lab, tmp_path, f"imaps://127.0.0.1:{port}/INBOX?SUBJECT%20Un")
    assert search.stdout.strip() == "* SEARCH 1"
    draft = tmp_path / "brouillon.eml"
    draft.write_bytes(message("Brouillon"))
    upload = curl(lab, tmp_path, f"imaps://127.0.0.1:{port}/Drafts", "--upload-file", str(draft))
    assert upload.returncode == 0, upload.stderr
    assert set(stored(lab, "Drafts")) == {b"Brouillon"}
