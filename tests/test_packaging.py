"""What ships: the wheel carries the web files and scenarios; the English catalogue is complete."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_templates_static_htmx_translations_and_scenarios(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("pixlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "pixlab/templates/base.html",
        "pixlab/templates/index.html",
        "pixlab/static/css/pixlab.css",
        "pixlab/static/vendor/htmx.min.js",
        "pixlab/translations/en/LC_MESSAGES/messages.mo",
        "pixlab/cli.py",
        "pixlab/lab/pop3.py",
        "pixlab/client/thunderbird.toml",  # Thunderbird's strings, read at import
        # Alembic's migrations: an installed PixLab upgrades its database at start.
        "pixlab/migrations/env.py",
        "pixlab/migrations/script.py.mako",
        "pixlab/migrations/versions/0001_baseline.py",
    ):
        assert expected in names, f"{expected} missing from the wheel"
    assert any(n.startswith("pixlab/scenarios_data/") for n in names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "pixlab = pixlab.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_english_catalogue_is_complete_and_compiled() -> None:
    po_path = ROOT / "translations/en/LC_MESSAGES/messages.po"
    with po_path.open("rb") as f:
        catalog = read_po(f)
    untranslated = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not untranslated, f"French texts without English: {untranslated}"
    assert not fuzzy, f"fuzzy translations to review: {fuzzy}"
    with po_path.with_suffix(".mo").open("rb") as f:
        compiled = read_mo(f)
    assert {m.id: m.string for m in compiled if m.id} == {
        m.id: m.string for m in catalog if m.id
    }, "messages.mo is out of date: run pybabel compile -d translations"
