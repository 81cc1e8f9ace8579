"""French typography for texts written with plain spaces.

PixLab's own texts use the straight apostrophe ('), as its pages, files and
translations do everywhere: a typographic one (’) pasted from a word processor
becomes straight. Thunderbird's strings keep their own (’): they are quoted, not
written here, and are never passed through `french`.
"""

from __future__ import annotations

import re

LANGUAGES = ("fr", "en")  # the interface's languages: French first, English second
NBSP = "\u00a0"
APOSTROPHE = "'"  # the project's apostrophe, in French and English alike
CURLY_APOSTROPHE = "\u2019"
_BEFORE = re.compile(r" ([:;?!»])")
_AFTER = re.compile(r"« ")
# A number stays on the line of its unit: "600 Ko", "-30 %", "20 h", "8 h 30".
_UNIT = re.compile(r"(\d) (%|€|(?:[KMGT]o|[KMGT]io|octets?|h)(?![\w'’]))")
_HOUR_MINUTES = re.compile(r"(\d\u00a0h) (\d\d)\b")


def french(text: str) -> str:
    """No-break spaces before : ; ? ! », after «, between a number and its unit; one apostrophe."""
    text = text.replace(CURLY_APOSTROPHE, APOSTROPHE)
    text = _AFTER.sub("«" + NBSP, _BEFORE.sub(NBSP + r"\1", text))
    return _HOUR_MINUTES.sub(r"\1" + NBSP + r"\2", _UNIT.sub(r"\1" + NBSP + r"\2", text))
