"""The lab's logging policy, set by one explicit call: importing a module configures nothing.

aiosmtpd logs every command line at INFO, AUTH lines included, whose base64
is a password in clear; it also warns at every login that its own
`Session.login_data` is deprecated. The lab records what matters in its own
event log (never a password), so aiosmtpd's logger keeps only its errors.
"""

from __future__ import annotations

import logging

AIOSMTPD_LOGGER = "mail.log"


def configure() -> None:
    """Apply the lab's logging policy (any number of times; `Lab.start` calls it)."""
    logging.getLogger(AIOSMTPD_LOGGER).setLevel(logging.ERROR)
