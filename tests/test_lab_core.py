"""The store, the event log, the CA and the tap, on their own and across restarts."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ADDRESS, PASSWORD
from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from pixlab.db import EventRow, make_engine, own_connection, sqlite_url
from pixlab.lab.certs import CertificateAuthority, CertificateKind, ServedCertificate
from pixlab.lab.events import EventLog
from pixlab.lab.passwords import hash_password, verify_password
from pixlab.lab.store import MailStore, QuotaExceeded, StoreError

# The store, its servers and the pages on both engines: SQLite, and a real PostgreSQL.
pytestmark = pytest.mark.both_databases


@pytest.fixture
def store(tmp_path: Path) -> MailStore:
    return MailStore(make_engine(sqlite_url(tmp_path)))


def test_password_hash_is_salted_and_checks_only_the_right_password() -> None:
    first, second = hash_password("Cahier-2026"), hash_password("Cahier-2026")
    assert first != second and "Cahier-2026" not in first
    assert verify_password("Cahier-2026", first)
    assert not verify_password("cahier-2026", first)
    assert not verify_password("Cahier-2026", "garbage")


def test_new_account_gets_the_special_use_folders(store: MailStore) -> None:
    account = store.create_account("Eleve@Lycee-Exemple.test", PASSWORD)
    assert account.address == ADDRESS
    folders = {f.name: f.special_use for f in store.folders(account.id)}
    assert folders == {
        "INBOX": None, "Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash",
        "Archives": "\\Archive", "Junk": "\\Junk",
    }
    assert store.folder(account.id, "inbox") == store.folder(account.id, "INBOX")
    with pytest.raises(StoreError):
        store.create_account("pas-une-adresse", PASSWORD)


def test_authenticate_gives_the_same_answer_for_unknown_user_and_wrong_password(
    store: MailStore,
) -> None:
    store.create_account(ADDRESS, PASSWORD)
    assert store.authenticate(ADDRESS.upper(), PASSWORD) is not None
    assert store.authenticate(ADDRESS, "mauvais") is None
    assert store.authenticate("inconnu@lycee-exemple.test", PASSWORD) is None


def test_append_numbers_uids_normalises_crlf_and_respects_the_quota(store: MailStore) -> None:
    account = store.create_account(ADDRESS, PASSWORD, quota_bytes=100)
    first = store.append(account, "INBOX", b"Subject: a\n\nbonjour\n")
    second = store.append(account, "INBOX", b"Subject: b\r\n\r\nsalut\r\n")
    assert (first.uid, second.uid) == (1, 2)
    assert store.raw(first.id) == b"Subject: a\r\n\r\nbonjour\r\n"
    assert first.size == len(store.raw(first.id))
    with pytest.raises(QuotaExceeded) as full:
        store.append(account, "INBOX", b"x" * 80)
    assert (full.value.usage, full.value.quota) == (first.size + second.size, 100)
    assert [m.uid for m in store.messages(first.folder_id)] == [1, 2]


def test_a_thread_with_its_own_connection_leaves_no_transaction_open(store: MailStore) -> None:
    # The lab's loop thread reads and delivers on a connection of its own: a
    # refused delivery must not keep the write lock, and its reads must see
    # what other threads commit meanwhile.
    account = store.create_account(ADDRESS, PASSWORD, quota_bytes=100)
    inbox = store.folder(account.id, "INBOX")
    assert inbox is not None
    with own_connection(store.engine):
        with pytest.raises(QuotaExceeded):
            store.append(account, "INBOX", b"x" * 200)
        assert store.messages(inbox.id) == []
        with ThreadPoolExecutor(1) as other:  # a held lock would make it fail: database is locked
            other.submit(store.append, account, "INBOX", b"Subject: a\r\n\r\nb\r\n").result()
        assert [m.uid for m in store.messages(inbox.id)] == [1]


def test_deleted_uids_are_never_reused(store: MailStore) -> None:
    account = store.create_account(ADDRESS, PASSWORD)
    message = store.append(account, "INBOX", b"Subject: a\r\n\r\n.\r\n")
    store.delete_messages([message.id])
    assert store.append(account, "INBOX", b"Subject: b\r\n\r\n.\r\n").uid == 2


def test_store_changes_are_announced_after_commit(store: MailStore) -> None:
    account = store.create_account(ADDRESS, PASSWORD)
    seen: list[tuple[int, int]] = []
    store.subscribe(lambda account_id, folder_id: seen.append((account_id, folder_id)))
    message = store.append(account, "Archives", b"Subject: a\r\n\r\n.\r\n")
    store.set_flags([message.id], ["\\Seen"])
    store.delete_messages([message.id])
    assert seen == [(account.id, message.folder_id)] * 3


def test_events_are_stored_in_batches_and_never_carry_a_password(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    log = EventLog(engine)
    heard = []
    log.subscribe(heard.append)
    log.record("auth.failed", connection_id="c1", account=ADDRESS, listener="pop3s", tls=True,
               mechanism="USER", cleartext=False)
    assert [e.kind for e in heard] == ["auth.failed"]
    with pytest.raises(ValueError, match="secrets"):
        log.record("auth.failed", connection_id="c1", password="Cahier-2026")
    with pytest.raises(ValueError, match="unknown event"):
        log.record("auth.ok")
    events = log.for_connection("c1")  # a read commits what is pending first
    assert [(e.kind, e.account, e.tls, e.data["mechanism"]) for e in events] == [
        ("auth.failed", ADDRESS, True, "USER")
    ]
    with engine.connect() as conn:
        stored = conn.execute(select(EventRow.data)).scalars().all()
    assert all("Cahier-2026" not in json.loads(d).values() for d in stored)


def test_ca_is_made_once_and_kept(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path)
    pem = ca.ca_pem
    assert CertificateAuthority(tmp_path).ca_pem == pem
    assert (tmp_path / "pixlab-ca.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("kind", "names", "signed_by_ca", "expired"),
    (
        (CertificateKind.VALID, ("mail.lycee-exemple.test", "127.0.0.1"), True, False),
        (CertificateKind.OTHER_NAME, ("mail.lycee-exemple.test",), True, False),
        (CertificateKind.EXPIRED, ("imap.lycee-exemple.test",), True, True),
        (CertificateKind.SELF_SIGNED, ("imap.lycee-exemple.test",), False, False),
    ),
)
def test_each_certificate_kind_has_cn_and_san_and_the_right_flaw(
    tmp_path: Path, kind: CertificateKind, names: tuple[str, ...], signed_by_ca: bool,
    expired: bool,
) -> None:
    ca = CertificateAuthority(tmp_path)
    cert_path, _ = ca.issue(ServedCertificate(kind, names))
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == names[0]  # fetchmail and offlineimap still read the CN
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    # An address is there twice: an IP entry, and its text as a DNS entry for the programs
    # that compare the typed text with DNS entries only (mbsync).
    assert [str(v) for v in san.get_values_for_type(x509.DNSName)] == list(names)
    assert [str(v) for v in san.get_values_for_type(x509.IPAddress)] == [
        n for n in names if n[0].isdigit()
    ]
    ca_cert = x509.load_pem_x509_certificate(ca.ca_pem)
    assert (cert.issuer == ca_cert.subject) is signed_by_ca
    now = dt.datetime.now(dt.UTC)
    assert (cert.not_valid_after_utc < now) is expired


def test_tap_records_both_directions_by_connection_id(lab) -> None:  # type: ignore[no-untyped-def]
    port = lab.listener("pop3").port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        greeting = sock.recv(200)
        sock.sendall(b"CAPA\r\n")
        time.sleep(0.2)
        sock.recv(500)
        sock.sendall(b"QUIT\r\n")
        sock.recv(100)
    time.sleep(0.2)
    lab.events.flush()
    with lab.engine.connect() as conn:
        connection_id = conn.execute(
            select(EventRow.connection_id).where(EventRow.kind == "connection.opened")
        ).scalar_one()
    capture = lab.tap.capture(connection_id)
    assert capture is not None
    assert capture.sent_by("client") == b"CAPA\r\nQUIT\r\n"
    assert capture.sent_by("server").startswith(greeting)
    kinds = [e.kind for e in lab.events.for_connection(connection_id)]
    assert kinds[0] == "connection.opened" and kinds[-1] == "connection.closed"


def test_tap_capture_is_bounded_per_connection(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(capture_limit=100)
    with socket.create_connection(("127.0.0.1", lab.listener("smtp").port), timeout=5) as sock:
        sock.recv(200)
        for _ in range(5):
            sock.sendall(b"NOOP " + b"x" * 60 + b"\r\n")
            sock.recv(200)
    time.sleep(0.2)
    (capture,) = [lab.tap.capture(cid) for cid in list(lab.tap._captures)]
    assert capture.size == 100 and capture.truncated


def test_implicit_tls_listener_serves_the_certificate_chosen_by_sni(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(certificates={"pop.lycee-exemple.test": CertificateKind.SELF_SIGNED})
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    port = lab.listener("pop3s").port
    for sni, self_signed in (("pop.lycee-exemple.test", True), ("mail.lycee-exemple.test", False)):
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            assert der is not None
            cert = x509.load_der_x509_certificate(der)
            assert (cert.issuer == cert.subject) is self_signed
            tls.recv(100)
    lab.events.flush()
    with lab.engine.connect() as conn:
        rows = conn.execute(
            select(EventRow.data).where(EventRow.kind == "tls.established").order_by(EventRow.id)
        ).scalars().all()
    served = [(json.loads(r)["sni"], json.loads(r)["certificate"]["kind"]) for r in rows]
    assert served == [
        ("pop.lycee-exemple.test", "self-signed"),
        ("mail.lycee-exemple.test", "valid"),
    ]


def test_session_tickets_come_with_starttls_only(lab, tls_context: ssl.SSLContext) -> None:  # type: ignore[no-untyped-def]
    # Implicit TLS sends no TLS 1.3 tickets (the greeting follows the handshake at
    # once); STARTTLS does, so that a client's next command never waits for a
    # delayed ACK after its Finished (with smtplib, 40 ms per session).
    with (
        socket.create_connection(("127.0.0.1", lab.listener("pop3s").port), timeout=5) as raw,
        tls_context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.recv(100).startswith(b"+OK")
        assert tls.version() == "TLSv1.3"
        assert tls.session is not None and not tls.session.has_ticket
    with socket.create_connection(("127.0.0.1", lab.listener("pop3").port), timeout=5) as raw:
        raw.recv(100)
        raw.sendall(b"STLS\r\n")
        assert raw.recv(100).startswith(b"+OK")
        with tls_context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"CAPA\r\n")
            assert tls.recv(1000).startswith(b"+OK")
            assert tls.session is not None and tls.session.has_ticket
