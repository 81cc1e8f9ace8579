"""The architecture's measures (docs/architecture.md), checked on every run.

Parts import downwards only; the web layer writes no SQL; no file grows past
about 600 lines unless the README's developer section names it with a reason;
the lab and the scenario files say server settings with the client's words.
"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from pixlab.client.settings import INCOMING_PROTOCOLS, SECURITIES, Security
from pixlab.lab.config import LISTENERS, LabConfig
from pixlab.scenarios.schema import IncomingProtocol

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pixlab"
MAX_LINES = 600
# Files over MAX_LINES, each named with its reason in the README's developer section.
LONG_FILES: set[str] = set()
# A part may import the parts of a lower rank (and itself); see docs/architecture.md.
RANKS = {"db": 0, "typography": 0, "migrations": 1, "lab": 1, "client": 2, "sandbox": 3,
         "scenarios": 3, "workshops": 4, "web": 5, "cli": 6, "__init__": 6, "__main__": 6}


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _part(module: str) -> str:
    """The part of a `pixlab.…` module: its first name below `pixlab`."""
    return module.split(".")[1] if "." in module else "__init__"


def _imports(path: Path) -> set[str]:
    """Every `pixlab.…` module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pixlab."))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("pixlab."):
                found.add(node.module)
            elif node.module == "pixlab":
                found.update(f"pixlab.{a.name}" for a in node.names)
    return found


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_parts_import_downwards_only(path: Path) -> None:
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    part = _part(module)
    for imported in _imports(path):
        other = _part(imported)
        assert other == part or RANKS[other] < RANKS[part], (
            f"{module} ({part}) imports {imported} ({other}): parts import downwards only")


def test_the_web_layer_writes_no_sql() -> None:
    for path in sorted((PACKAGE / "web").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("sqlalchemy", "pixlab.db")), (
                    f"{path.name} imports {node.module}: go through a store")


def test_no_file_is_over_the_line_limit() -> None:
    long = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in _sources()}
    over = {name: lines for name, lines in long.items() if lines > MAX_LINES}
    assert set(over) <= LONG_FILES, f"over {MAX_LINES} lines: {over}"


def test_the_long_files_are_named_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    developers = readme.split("## Pour les développeurs", 1)[1].split("\n## ", 1)[0]
    for name in LONG_FILES:
        assert f"`{name}`" in developers


def test_the_lab_says_security_with_the_clients_words() -> None:
    for starttls in (True, False):
        config = LabConfig(starttls=starttls)
        assert {config.security(spec) for spec in LISTENERS} <= set(Security)


def test_scenario_files_say_protocols_with_the_clients_words() -> None:
    assert typing.get_args(IncomingProtocol) == INCOMING_PROTOCOLS
    # The three of every program, then the variants some programs offer (client/programs.py).
    assert SECURITIES == ("none", "starttls", "tls", "tls-any-cert", "starttls-any-cert", "auto")
