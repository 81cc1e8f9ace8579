"""The Flask application: `create_app()` wires the blueprints, the lab and the languages."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, request, session
from flask_babel import Babel, get_locale
from flask_wtf.csrf import CSRFProtect

from pixlab.lab.runner import Lab
from pixlab.typography import LANGUAGES
from pixlab.web import (
    embed,
    embed_workshop,
    errors,
    lab_pages,
    labels,
    limits,
    mail,
    real_programs,
    sandbox,
    scenario_player,
    scenarios,
    security,
    workshops,
)
from pixlab.web.context import resource_dir

csrf = CSRFProtect()
# The settings a deployment may give in the environment, as PIXLAB_<name>.
ENVIRONMENT_SETTINGS = ("RETENTION_DAYS", *limits.DEFAULTS)


def create_app(test_config: Mapping[str, Any] | None = None, lab: Lab | None = None) -> Flask:
    """Build the PixLab web app; `lab` is the running mail lab it shows and drives."""
    app = Flask(
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(resource_dir("static")),
        instance_relative_config=True,
    )
    app.config.from_mapping(
        DATA_DIR="instance",
        BABEL_DEFAULT_LOCALE="fr",
        BABEL_TRANSLATION_DIRECTORIES=str(resource_dir("translations")),
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        # Only a trainer's session is permanent: it ends after 12 hours.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        # A learner may keep a page open through a whole lesson: the CSRF token
        # lives as long as the session rather than one hour.
        WTF_CSRF_TIME_LIMIT=None,
        SANDBOX_CLIENT_TIMEOUT=3.0,  # seconds before the simulated client gives up
        SANDBOX_TESTS_PER_MINUTE=20,  # tests, sendings and downloads per learner
        SANDBOX_FILTERED_PORTS=(25,),  # blocked on the sandbox's network, as many ISPs do
        # The course pages allowed to show a scenario in a frame and to talk to it (Pix's
        # embed protocol): PIXLAB_EMBED_ORIGINS="https://*.pix.fr https://ent.example.fr".
        # Empty: nobody else may frame PixLab.
        EMBED_ORIGINS=os.environ.get("PIXLAB_EMBED_ORIGINS", ""),
    )
    _settings_from_environment(app)
    if test_config is not None:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(Path(app.config["DATA_DIR"]))
    app.extensions["pixlab.lab"] = lab

    # First the guard of the trainer pages: a request it refuses is answered before
    # anything reads its form (CSRF, throttles).
    security.init_app(app)
    Babel(app, locale_selector=_locale)
    app.jinja_env.globals["get_locale"] = get_locale
    # "Sécurité de la connexion" in the vocabulary's one set of words, for every template.
    app.jinja_env.globals["security_labels"] = labels.SECURITY_LABELS
    csrf.init_app(app)
    app.after_request(_vary_on_htmx)

    embed.configure(app)
    limits.init_app(app, lab.engine if lab is not None else None)
    app.register_blueprint(lab_pages.bp)
    app.register_blueprint(sandbox.bp)
    app.register_blueprint(mail.bp)
    app.register_blueprint(scenarios.bp)
    # The same player, without the site's header, for a course page's iframe.
    app.register_blueprint(scenarios.bp, name=embed.EMBED_NAME,
                           url_prefix=embed.EMBED_PREFIX.rstrip("/"))
    app.register_blueprint(real_programs.bp)
    scenario_player.init_app(app)
    workshops.init_app(app)
    app.register_blueprint(embed_workshop.bp)  # a workshop's pupils in a course page
    errors.init_app(app)
    return app


def _settings_from_environment(app: Flask) -> None:
    # PIXLAB_RETENTION_DAYS=60, PIXLAB_RATELIMIT_JOIN="30 per minute",
    # PIXLAB_RATELIMIT_STORAGE_URI=redis://…: read as JSON when they are, else as text.
    for key in ENVIRONMENT_SETTINGS:
        value = os.environ.get(f"PIXLAB_{key}")
        if value is None:
            continue
        try:
            app.config[key] = json.loads(value)
        except ValueError:
            app.config[key] = value


def _locale() -> str:
    # French first: English only when the learner chose it (an embedded scenario: its URL).
    chosen = request.args.get("lang") if request.blueprint == embed.EMBED_NAME else None
    chosen = chosen if chosen in LANGUAGES else session.get("lang")
    return chosen if chosen in LANGUAGES else "fr"


def _vary_on_htmx(response: Response) -> Response:
    # One URL answers the whole page or just a fragment, by the HX-Request header.
    response.vary.add("HX-Request")
    response.vary.add("HX-Boosted")
    return response


def _secret_key(data_dir: Path) -> str:
    """The session key, made once and kept in the data directory so a restart logs nobody out."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
