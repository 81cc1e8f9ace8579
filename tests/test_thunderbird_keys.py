"""Thunderbird's strings, as data: every key PixLab uses exists, every key kept is used."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from pixlab.client import thunderbird as module
from pixlab.client.thunderbird import STRINGS, thunderbird
from pixlab.web.program_messages import program_label, program_source, program_text

ROOT = Path(__file__).resolve().parent.parent
# Kept for the loader's own tests (numbered placeholders, a brand term, an argument
# that looks like a placeholder), which need texts of those shapes.
FOR_THE_LOADER_TESTS = {"smtp.password_prompt", "setup.settings_not_found",
                        "net.connection_timeout"}
PREFIXES = sorted({key.partition(".")[0] for key in STRINGS})
KEY = re.compile(rf"(?:{'|'.join(PREFIXES)})\.[a-z0-9_.]+")


def keys_used() -> dict[str, set[str]]:
    """Key-shaped strings of pixlab/ (Python literals) and templates/ (quoted), by file."""
    used: dict[str, set[str]] = {}
    for path in sorted((ROOT / "pixlab").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and KEY.fullmatch(value):
                used.setdefault(value, set()).add(str(path.relative_to(ROOT)))
    for path in sorted((ROOT / "templates").rglob("*.html")):
        for match in re.finditer(r"""["']([a-z0-9_.]+)["']""", path.read_text()):
            if KEY.fullmatch(match.group(1)):
                used.setdefault(match.group(1), set()).add(str(path.relative_to(ROOT)))
    return used


def test_every_key_used_exists() -> None:
    missing = {key: sorted(files) for key, files in keys_used().items() if key not in STRINGS}
    assert not missing, f"keys used but not in {module.DATA_FILE}: {missing}"


def test_every_key_kept_is_used() -> None:
    unused = set(STRINGS) - set(keys_used()) - FOR_THE_LOADER_TESTS
    assert not unused, f"keys of {module.DATA_FILE} nothing uses: {sorted(unused)}"
    tests = (ROOT / "tests" / "test_thunderbird_strings.py").read_text()
    assert all(f'"{key}"' in tests for key in FOR_THE_LOADER_TESTS)


def test_the_data_file_is_what_the_module_serves() -> None:
    data = tomllib.loads((ROOT / "pixlab" / "client" / module.DATA_FILE).read_text())
    assert set(data["strings"]) == set(STRINGS)
    shared = [key for key, entry in data["strings"].items() if "same_as" in entry]
    assert shared == ["pop3.starttls_not_offered"]
    assert STRINGS["pop3.starttls_not_offered"] is STRINGS["pop3.tls_failed"]


def test_an_unknown_key_is_an_error_everywhere() -> None:
    with pytest.raises(KeyError, match="hub.no_such_text"):
        thunderbird("hub.no_such_text", "fr")
    with pytest.raises(KeyError):
        program_text("hub.no_such_text", "fr")
    with pytest.raises(KeyError):
        program_label("hub.no_such_text", "fr", "our own words")
    with pytest.raises(KeyError):
        program_source("hub.no_such_text")
    assert program_text("login.failed", "en", "imap.example.test") is None  # a missing value
