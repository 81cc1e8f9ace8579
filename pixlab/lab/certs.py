"""The lab's certificate authority and the four kinds of server certificate.

The CA is made with `cryptography` on first start and kept in the data
directory, so a trainer can install it once in a real mail program. Server
certificates are issued on demand and cached there too:

- valid: signed by the CA for the lab's host names (and localhost, 127.0.0.1);
- other-name: signed by the CA, but for another host name than the one typed;
- expired: signed by the CA for the right name, but out of date;
- self-signed: for the right name, but signed by nobody the client trusts.

Each carries its main name in the subject's common name as well as in its
alternative names, because fetchmail and offlineimap still check the CN.
Keys are ECDSA P-256: a handshake costs a fraction of what RSA 2048 costs,
and every current mail program accepts them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "PixLab - autorité de certification du laboratoire"
VALID_DAYS = 397  # the longest validity browsers and mail programs accept today
RENEW_BEFORE_DAYS = 30


class CertificateKind(StrEnum):
    """What a server presents for a host name."""

    VALID = "valid"
    OTHER_NAME = "other-name"
    EXPIRED = "expired"
    SELF_SIGNED = "self-signed"


@dataclass(frozen=True)
class ServedCertificate:
    """What a listener presented in one handshake: the kind and the names in it."""

    kind: CertificateKind
    names: tuple[str, ...]

    def describe(self) -> dict[str, object]:
        """A JSON-friendly description for events."""
        return {"kind": str(self.kind), "names": list(self.names)}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _general_names(name: str) -> list[x509.GeneralName]:
    """The alternative names for a host name, or for an address typed as a server name.

    An address gets an IP entry (RFC 5280: what OpenSSL, Python, Thunderbird and
    phones check) and the same text as a DNS entry, because some programs
    (mbsync, older phones) only compare the typed text with DNS entries.
    """
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return [x509.DNSName(name)]
    return [x509.IPAddress(address), x509.DNSName(str(address))]


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


class CertificateAuthority:
    """The lab's own CA, and the server certificates and TLS contexts it issues."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_path = self.directory / "pixlab-ca.pem"
        self._key_path = self.directory / "pixlab-ca.key"
        self._lock = threading.Lock()
        self._contexts: dict[ServedCertificate, ssl.SSLContext] = {}
        self._served_by_context: dict[int, ServedCertificate] = {}
        if self.ca_path.exists() and self._key_path.exists():
            self._ca_cert = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
            key = serialization.load_pem_private_key(self._key_path.read_bytes(), None)
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            self._ca_key = key
        else:
            self._create_ca()

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate in PEM, to download or to trust."""
        return self.ca_path.read_bytes()

    @property
    def ca_der(self) -> bytes:
        """The CA certificate in DER (a `.crt`), as phones install it."""
        return self._ca_cert.public_bytes(serialization.Encoding.DER)

    def _create_ca(self) -> None:
        self._ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PixLab"),
            ]
        )
        now = _now()
        self._ca_cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._ca_key.public_key()),
                critical=False,
            )
            .sign(self._ca_key, hashes.SHA256())
        )
        _write_private(
            self._key_path,
            self._ca_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        self.ca_path.write_bytes(self._ca_cert.public_bytes(serialization.Encoding.PEM))

    # -- server certificates ------------------------------------------------

    def issue(self, served: ServedCertificate) -> tuple[Path, Path]:
        """The (certificate chain, key) files for a served certificate, made if needed."""
        digest = hashlib.sha256("|".join(served.names).encode()).hexdigest()[:16]
        stem = self.directory / f"{served.kind}-{digest}"
        cert_path, key_path = stem.with_suffix(".pem"), stem.with_suffix(".key")
        if cert_path.exists() and key_path.exists() and not self._needs_renewal(served, cert_path):
            return cert_path, key_path
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        if served.kind is CertificateKind.EXPIRED:
            not_before, not_after = now - dt.timedelta(days=400), now - dt.timedelta(days=3)
        else:
            not_before, not_after = now - dt.timedelta(hours=1), now + dt.timedelta(days=VALID_DAYS)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, served.names[0])])
        self_signed = served.kind is CertificateKind.SELF_SIGNED
        issuer = subject if self_signed else self._ca_cert.subject
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.SubjectAlternativeName([g for n in served.names for g in _general_names(n)]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        )
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._ca_key.public_key()),
                critical=False,
            )
        cert = builder.sign(key if self_signed else self._ca_key, hashes.SHA256())
        chain = cert.public_bytes(serialization.Encoding.PEM)
        if not self_signed:
            chain += self._ca_cert.public_bytes(serialization.Encoding.PEM)
        _write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        cert_path.write_bytes(chain)
        return cert_path, key_path

    @staticmethod
    def _needs_renewal(served: ServedCertificate, cert_path: Path) -> bool:
        if served.kind is CertificateKind.EXPIRED:
            return False
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        return cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS)

    def server_context(self, served: ServedCertificate, shared: bool = True) -> ssl.SSLContext:
        """A server-side TLS context presenting this certificate.

        Shared contexts are cached; a world that sets its own SNI callback asks
        for one of its own, so that two worlds never overwrite each other's.
        """
        with self._lock:
            context = self._contexts.get(served) if shared else None
            if context is None:
                cert_path, key_path = self.issue(served)
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.load_cert_chain(cert_path, key_path)
                if shared:
                    self._contexts[served] = context
                self._served_by_context[id(context)] = served
            return context

    def served_by(self, context: ssl.SSLContext) -> ServedCertificate | None:
        """Which certificate a context (as chosen during a handshake) presents."""
        return self._served_by_context.get(id(context))

    def client_context(self) -> ssl.SSLContext:
        """A client-side context that trusts the lab's CA only, as a learner's program would."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        return context
