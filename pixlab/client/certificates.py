"""A certificate the mail program did not check, read for the lesson."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

_SSL_TIME = "%b %d %H:%M:%S %Y GMT"


def unchecked_certificate(der: bytes | None, ca_path: Path) -> dict[str, Any]:
    """What a certificate the program did not check says, and whether the lab's CA signed it.

    A program that accepts every certificate still receives one: reading it
    shows the learner whose it was (a fake server's, signed by itself).
    """
    if not der:
        return {"checked": False, "signed_by_lab": False}
    cert = x509.load_der_x509_certificate(der)
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    try:
        cert.verify_directly_issued_by(ca)
        signed_by_lab = True
    except (ValueError, TypeError, InvalidSignature):
        signed_by_lab = False

    def common_name(name: x509.Name) -> str | None:
        found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(found[0].value) if found else None

    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in alt.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    return {
        "checked": False,
        "signed_by_lab": signed_by_lab,
        "subject": common_name(cert.subject),
        "names": names,
        "issuer": common_name(cert.issuer),
        # The shape ssl's getpeercert() gives a checked certificate's dates.
        "not_before": cert.not_valid_before_utc.strftime(_SSL_TIME),
        "not_after": cert.not_valid_after_utc.strftime(_SSL_TIME),
    }
