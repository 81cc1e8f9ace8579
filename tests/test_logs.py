"""Logging is set up by one call that the lab makes when it starts, never by an import."""

from __future__ import annotations

import logging
import subprocess
import sys

from pixlab.lab import logs
from pixlab.lab.runner import Lab


def test_importing_the_modules_configures_no_logger() -> None:
    # Ours and aiosmtpd's ("mail.log"); SQLAlchemy sets its own level on import.
    code = (
        "import logging, pixlab.cli, pixlab.lab.smtp, pixlab.lab.runner, pixlab.web\n"
        "changed = {name: logger.level for name, logger in logging.root.manager.loggerDict.items()"
        " if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET"
        " and name.partition('.')[0] in ('pixlab', 'mail')}\n"
        "assert not changed and logging.root.level == logging.WARNING, changed\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_lab_applies_its_policy_when_it_starts(make_lab) -> None:  # type: ignore[no-untyped-def]
    aiosmtpd = logging.getLogger(logs.AIOSMTPD_LOGGER)
    aiosmtpd.setLevel(logging.NOTSET)
    lab: Lab = make_lab()
    assert lab.listeners
    assert aiosmtpd.level == logging.ERROR  # its INFO lines carry AUTH's base64
