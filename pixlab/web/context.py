"""What the blueprints share: the app's lab, the languages, htmx's fragment requests, our folders.

`pixlab.web` builds the app from the blueprints; the blueprints read these
from here, never from `pixlab.web` itself, so nothing imports its importer back.
"""

from __future__ import annotations

from pathlib import Path

from flask import current_app, request

from pixlab.lab.runner import Lab
from pixlab.typography import LANGUAGES

__all__ = ["LANGUAGES", "current_lab", "resource_dir", "wants_fragment"]


def resource_dir(name: str) -> Path:
    """A top-level folder of the project (templates, static, …), from a checkout or a wheel."""
    package = Path(__file__).resolve().parent.parent
    installed = package / name  # the wheel carries them inside the package
    return installed if installed.is_dir() else package.parent / name


def current_lab() -> Lab | None:
    """The lab this app drives (None when the app runs without one)."""
    return current_app.extensions.get("pixlab.lab")


def wants_fragment() -> bool:
    """Whether htmx asked for a fragment rather than the whole page.

    A boosted link or form, and a history restore, want the whole page even
    though htmx sends them.
    """
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )
