"""Error pages in the learner's words: a missing page, an expired form, too many tests."""

from __future__ import annotations

from flask import Flask, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException


def init_app(app: Flask) -> None:
    """Register the error pages."""
    app.register_error_handler(404, _error_page)
    app.register_error_handler(503, _error_page)
    app.register_error_handler(CSRFError, _error_page)


def _error_page(error: HTTPException) -> ResponseReturnValue:
    kind = "csrf" if isinstance(error, CSRFError) else str(error.code)
    return render_template("errors/error.html", kind=kind), error.code or 500
