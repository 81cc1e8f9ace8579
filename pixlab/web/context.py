"""What the blueprints share: the app's lab, the languages, htmx's fragment requests, our folders.

`pixlab.web` builds the app from the blueprints; the blueprints read these
from here, never from `pixlab.web` itself, so nothing imports its importer back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from flask import abort, current_app, request, url_for

from pixlab.lab.runner import Lab
from pixlab.typography import LANGUAGES

__all__ = ["LANGUAGES", "current_lab", "public_url", "required_lab", "resource_dir",
           "wants_fragment"]


def resource_dir(name: str) -> Path:
    """A top-level folder of the project (templates, static, …), from a checkout or a wheel."""
    package = Path(__file__).resolve().parent.parent
    installed = package / name  # the wheel carries them inside the package
    return installed if installed.is_dir() else package.parent / name


def current_lab() -> Lab | None:
    """The lab this app drives (None when the app runs without one)."""
    return current_app.extensions.get("pixlab.lab")


def required_lab() -> Lab:
    """The lab this app drives; a page that needs one answers 503 when the app runs without."""
    lab = current_lab()
    if lab is None:
        abort(503)
    return lab


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


def public_url(endpoint: str, **values: Any) -> str:
    """An absolute URL for another device to open (a pupil's phone, a QR code).

    On the address `pixlab serve` announced (`PUBLIC_URL`), not the one this
    page was asked by: a trainer on the laptop itself may use 127.0.0.1, which
    no pupil's device reaches.
    """
    public = current_app.config.get("PUBLIC_URL")
    if public:
        return urljoin(public, url_for(endpoint, **values))
    return url_for(endpoint, _external=True, **values)
