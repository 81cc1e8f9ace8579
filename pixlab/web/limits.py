"""Throttles per client address (Flask-Limiter): joining a workshop, resuming, starting a
sandbox, a trainer's login.

One configuration for the whole app: in-memory counters by default; PixLab's
own database when it is PostgreSQL (several processes share it: see
`pixlab.workshops.throttles`), or any store `RATELIMIT_STORAGE_URI` names
(`pixlab://`, `redis://…`, or `PIXLAB_RATELIMIT_STORAGE_URI` in the environment). Each limit
is a setting too (`RATELIMIT_JOIN`, …). A learner over a limit gets a page in
French that says how long to wait, with the status 429 and `Retry-After`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from pixlab.workshops import throttles

DEFAULTS = {
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    "RATELIMIT_JOIN": "20 per minute",  # joining a workshop, from one address
    "RATELIMIT_RESUME": "10 per minute",  # typing a resume code (sandbox or workshop)
    "RATELIMIT_START": "20 per minute",  # starting a new sandbox learner
    "RATELIMIT_LOGIN": "5 per minute",  # a trainer's login attempts
}

limiter = Limiter(get_remote_address)


def init_app(app: Flask, engine: Any = None) -> None:
    """Configure the throttles and their 429 page.

    `engine`: the lab's database. On PostgreSQL (several processes may share it)
    the counters go there unless a storage is configured; `pixlab://` asks for it
    on any engine.
    """
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if engine is not None:
        if (app.config["RATELIMIT_STORAGE_URI"] == "memory://"
                and throttles.in_database_by_default(engine)):
            app.config["RATELIMIT_STORAGE_URI"] = f"{throttles.SCHEME}://"
        if app.config["RATELIMIT_STORAGE_URI"].startswith(f"{throttles.SCHEME}://"):
            app.config["RATELIMIT_STORAGE_OPTIONS"] = {"engine": engine}
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, _too_many)


def throttle(setting: str) -> Callable[[Callable[..., ResponseReturnValue]],
                                       Callable[..., ResponseReturnValue]]:
    """Limit a view's POSTs per client address by the named setting ("RATELIMIT_JOIN")."""
    return limiter.limit(lambda: str(current_app.config[setting]), methods=["POST"],
                         scope=setting)


def _too_many(error: RateLimitExceeded) -> ResponseReturnValue:
    current = limiter.current_limit
    wait = max(1, math.ceil(current.reset_at - time.time())) if current else 60
    response = current_app.make_response(
        (render_template("errors/error.html", kind="429", wait=wait), 429)
    )
    response.headers["Retry-After"] = str(wait)
    return response
