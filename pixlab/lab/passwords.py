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
import threading
import time
from collections import OrderedDict

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


class RecentLogins:
    """Remembers for a while which passwords verified, so that the same login again skips PBKDF2.

    A learner's "Tester", a mail program's five connections and the class's
    thirty devices log in with the same few accounts again and again, and the
    0.5 ms of PBKDF2 was an eighth of a POP3S session's CPU. Why this keeps
    the passwords as safe as the hashes do:

    - only successes are remembered: a wrong password always costs the full
      PBKDF2, so guessing is no faster than before;
    - what is kept is an HMAC of (stored hash, password) under a random key
      made at start, in memory only and never written anywhere: the data
      directory, which the hashes protect, is unchanged;
    - a new password means a new stored hash, so it never matches an old entry;
    - entries expire after `ttl` seconds, and at most `size` are kept.

    Someone who could read the lab's memory could test guesses against the
    remembered entries at HMAC speed; but they could as well read the
    passwords themselves, which pass through that memory in clear at every
    login. Cyrus saslauthd's credential cache (-c) makes the same trade.
    """

    def __init__(self, ttl: float = 600.0, size: int = 4096) -> None:
        self.ttl = ttl
        self.size = size
        self._key = os.urandom(32)
        self._verified: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, password: str, stored: str) -> bool:
        """`verify_password(password, stored)`, from memory when it verified lately."""
        token = hmac.new(
            self._key,
            stored.encode("ascii", "replace") + b"\0" + password.encode("utf-8", "surrogateescape"),
            hashlib.sha256,
        ).digest()
        now = time.monotonic()
        with self._lock:
            verified_at = self._verified.get(token)
            if verified_at is not None and now - verified_at < self.ttl:
                return True
        if not verify_password(password, stored):
            return False
        with self._lock:
            self._verified[token] = now
            self._verified.move_to_end(token)
            while len(self._verified) > self.size:
                self._verified.popitem(last=False)
        return True
