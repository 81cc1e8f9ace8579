"""Salted password hashes for lab accounts.

Why PBKDF2-HMAC-SHA256 with 1,000 iterations, and not a memory-hard scrypt:
every "Tester" a learner presses logs in, and the lab must serve about 300
POP3S or IMAPS sessions a second on a 2-core laptop, i.e. roughly 3 ms of CPU
for a whole session (TLS included). 1,000 iterations cost about 0.5 ms on that
machine; scrypt's smallest useful setting (n=2**10) already costs 3 ms there.
The passwords are lab passwords (made up for training, never a learner's real
one), so the hash only has to keep a copied data directory from showing them in
clear, which a salted PBKDF2 does. The parameters are stored in each hash, so
raising them later needs no migration: old hashes still verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 1000


def hash_password(password: str) -> str:
    """Return `pbkdf2_sha256$iterations$salt$hash` for a password."""
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, ITERATIONS)
    return "$".join((ALGORITHM, str(ITERATIONS), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a stored hash, in constant time."""
    try:
        algorithm, iterations, salt, digest = stored.split("$")
        if algorithm != ALGORITHM:
            return False
        computed = hashlib.pbkdf2_hmac(
            "sha256", password.encode("utf-8", "surrogateescape"), _unb64(salt), int(iterations)
        )
    except (ValueError, UnicodeError):
        return False
    return hmac.compare_digest(computed, _unb64(digest))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))
