"""French typography for texts written with plain spaces."""

from __future__ import annotations

import re

LANGUAGES = ("fr", "en")  # the interface's languages: French first, English second
NBSP = "\u00a0"
_BEFORE = re.compile(r" ([:;?!»])")
_AFTER = re.compile(r"« ")


def french(text: str) -> str:
    """No-break spaces before : ; ? ! » and after «, so a line never starts with them."""
    return _AFTER.sub("«" + NBSP, _BEFORE.sub(NBSP + r"\1", text))
