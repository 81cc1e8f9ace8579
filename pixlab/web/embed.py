"""A scenario inside a course page's iframe (Pix's embed protocol): origins, cookies, events.

`PIXLAB_EMBED_ORIGINS` is the one list of the course pages allowed to show a
scenario in a frame: it feeds the CSP `frame-ancestors` of `/integration/…`
pages (`security.py`) and the check `static/js/embed.js` makes on every
message it receives. The player itself is the scenarios blueprint registered
a second time under `/integration` (see `create_app`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from pixlab.scenarios.attempt import Attempt
from pixlab.scenarios.progress import COMPLETED, GIVEN_UP
from pixlab.scenarios.schema import Scenario
from pixlab.typography import LANGUAGES
from pixlab.web import learners, scenario_attempts
from pixlab.web.context import current_lab
from pixlab.web.security import EMBED_PREFIX

EMBED_NAME = "integration"  # the scenarios blueprint's second name, and its URL prefix
ORIGINS_VARIABLE = "PIXLAB_EMBED_ORIGINS"
# One origin as CSP source expressions write it: scheme, host (maybe "*." first), port.
ORIGIN_RE = re.compile(
    r"^(?P<scheme>https?)://(?P<host>(?:\*\.)?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>\d{1,5}|\*))?$"
)
DEFAULT_PORTS = {"http": "80", "https": "443"}
PAGE_EVENTS = {"init": "embed.init", "launch": "embed.launched", "answer": "embed.answered"}

bp = Blueprint("embed", __name__)


class EmbedOriginError(ValueError):
    """A value of PIXLAB_EMBED_ORIGINS that is not an origin."""


def parse_origins(value: str | Iterable[str]) -> tuple[str, ...]:
    """The origins of the setting (spaces or commas between them), checked and lower-cased.

    Raises:
        EmbedOriginError: for anything but `scheme://host[:port]`, which could
        otherwise slip another directive into the Content-Security-Policy.
    """
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    origins = []
    for item in items:
        origin = item.strip().lower().rstrip("/")
        if not ORIGIN_RE.match(origin):
            raise EmbedOriginError(
                f"{ORIGINS_VARIABLE} : « {item} » n'est pas une origine. Écrivez "
                "https://nom.exemple.fr, https://*.pix.fr ou http://127.0.0.1:8000 "
                "(sans chemin), séparées par des espaces."
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins))


def origin_allowed(origin: str, patterns: Iterable[str]) -> bool:
    """Whether an origin matches one of the patterns, as CSP frame-ancestors matches it.

    "*." stands for one or more labels (not the bare domain); no port means the
    scheme's default port; ":*" any port. The same rule is in static/js/embed.js.
    """
    found = ORIGIN_RE.match(origin.lower())
    if not found or "*" in origin:
        return False
    scheme, host = found["scheme"], found["host"]
    port = found["port"] or DEFAULT_PORTS[scheme]
    for pattern in patterns:
        wanted = ORIGIN_RE.match(pattern)
        if not wanted or wanted["scheme"] != scheme:
            continue
        wanted_port = wanted["port"] or DEFAULT_PORTS[scheme]
        if wanted_port not in ("*", port):
            continue
        wanted_host = wanted["host"]
        if wanted_host.startswith("*."):
            if host.endswith(wanted_host[1:]) and len(host) > len(wanted_host) - 1:
                return True
        elif host == wanted_host:
            return True
    return False


def configure(app: Flask) -> None:
    """Read the setting (environment, or EMBED_ORIGINS in the app's configuration)."""
    if os.environ.get("PIXLAB_FRAME_ANCESTORS") or "FRAME_ANCESTORS" in app.config:
        # One setting, not two that could disagree: say so rather than ignore it silently.
        raise EmbedOriginError(
            "PIXLAB_FRAME_ANCESTORS n'existe plus : écrivez les origines autorisées dans "
            f"{ORIGINS_VARIABLE} (par exemple https://*.pix.fr)."
        )
    app.config["EMBED_ORIGINS"] = parse_origins(app.config.get("EMBED_ORIGINS", ()))
    app.session_interface = EmbeddableSessionInterface()
    app.register_blueprint(bp)


def embed_origins() -> tuple[str, ...]:
    """The course pages' origins allowed to frame a scenario (empty: none)."""
    return tuple(current_app.config.get("EMBED_ORIGINS", ()))


def is_embed_path(path: str) -> bool:
    """Whether a URL path is an embedded scenario's page."""
    return path.startswith(EMBED_PREFIX)


def embedded() -> bool:
    """Whether this request serves an embedded scenario (its page, or htmx from that page)."""
    if request.blueprint in (EMBED_NAME, bp.name) or is_embed_path(request.path):
        return True
    return is_embed_path(urlsplit(request.headers.get("HX-Current-URL", "")).path)


def player_endpoint(name: str) -> str:
    """A player view's endpoint, in the embedded player when the learner plays there."""
    return f"{EMBED_NAME if embedded() else 'scenarios'}.{name}"


# -- cookies ------------------------------------------------------------------------------


def browser_trusts_host(host: str) -> bool:
    """Whether browsers treat this host as a secure context even over plain HTTP (loopback)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def cross_site_cookie() -> bool:
    """Whether the session cookie must survive inside another site's frame, and can.

    Browsers send a cookie into a third-party frame only when it says
    `SameSite=None`, which they accept only with `Secure`, which they keep only
    from a secure context: HTTPS, or the loopback addresses. Over plain HTTP
    on a classroom network the cookie stays `SameSite=Lax`.
    """
    if not embed_origins():
        return False
    return request.is_secure or browser_trusts_host(request.host)


class EmbeddableSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, `SameSite=None; Secure; Partitioned` when framed."""

    def get_cookie_samesite(self, app: Flask) -> str | None:
        """None (sent into frames) when embedding is on and the context is secure."""
        return "None" if cross_site_cookie() else super().get_cookie_samesite(app)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Secure over HTTPS, and whenever SameSite=None (browsers refuse it otherwise)."""
        return cross_site_cookie() or request.is_secure or super().get_cookie_secure(app)

    def get_cookie_partitioned(self, app: Flask) -> bool:
        """Partitioned (CHIPS): the cookie of one course site is not another's."""
        return cross_site_cookie() or super().get_cookie_partitioned(app)


# -- the page's language, the pages that exist, the events --------------------------------


@bp.before_app_request
def _embedded_pages() -> ResponseReturnValue | None:
    if request.blueprint != EMBED_NAME:
        return None
    if request.endpoint in (f"{EMBED_NAME}.catalogue", f"{EMBED_NAME}.trainer"):
        abort(404)  # only a scenario is embedded; the trainer's view stays at its own address
    chosen = request.args.get("lang")
    if chosen in LANGUAGES:
        session["lang"] = chosen  # the course page's choice, for the frame's next requests
    return None


def answer(scenario: Scenario, attempt: Attempt | None) -> tuple[str, str] | None:
    """(answer, outcome) the course page gets once the attempt ended; None while it runs."""
    if attempt is None:
        return None
    if attempt.status == COMPLETED:
        return scenario.embed.completed, "completed"
    if attempt.status == GIVEN_UP:
        return scenario.embed.ended, "ended"
    return None


@bp.post(f"{EMBED_PREFIX}<slug>/evenement")
def page_event(slug: str) -> ResponseReturnValue:
    """What the embedded page told its parent (init, launch, answer), into the lab's log."""
    scenario = scenario_attempts.scenario_or_404(slug)
    kind = PAGE_EVENTS.get(request.form.get("kind", ""))
    lab = current_lab()
    if kind is None or lab is None:
        abort(400)
    learner = learners.current_learner()
    attempt = scenario_attempts.latest_attempt(learner, slug)
    data: dict[str, Any] = {"slug": slug, "origin": request.form.get("origin", "")[:200]}
    if kind == "embed.answered":
        # The server says which answer the attempt earned, whatever the page claims.
        earned = answer(scenario, attempt)
        if earned is None:
            abort(409)
        data["answer"], data["outcome"] = earned
    lab.events.record(kind, account=attempt.address if attempt else None, **data)
    return "", 204


# -- what the pages show ------------------------------------------------------------------


def iframe_code(src: str, title: str) -> str:
    """The `<iframe>` a course page's author pastes (the page escapes it when it shows it)."""
    return (f'<iframe src="{src}" title="{title} (PixLab)" width="100%" height="900" '
            'allow="clipboard-write"></iframe>')


def share(scenario: Scenario) -> dict[str, str]:
    """« Partager »: the direct link, the embed link and what a course page's author pastes."""
    link = url_for("scenarios.play", slug=scenario.slug, _external=True)
    embed_link = url_for(f"{EMBED_NAME}.play", slug=scenario.slug, _external=True)
    origin = f"{request.scheme}://{request.host}"
    title = scenario_attempts.text(scenario.title)
    iframe = iframe_code(embed_link, title)
    listener = "\n".join((
        f'const pixlab = document.querySelector(\'iframe[src^="{origin}/"]\');',
        'window.addEventListener("message", (event) => {',
        f'  if (event.origin !== "{origin}" || event.source !== pixlab.contentWindow) return;',
        '  const message = event.data;',
        '  if (message && message.from === "pix" && message.type === "height") {',
        '    pixlab.style.height = message.height + "px";  // ' + _("la hauteur du contenu"),
        "  }",
        "});",
    ))
    return {"link": link, "embed_link": embed_link, "iframe": iframe, "listener": listener,
            "origin": origin, "completed": scenario.embed.completed,
            "ended": scenario.embed.ended}


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {
        "embedded": embedded,
        "embed_origins": embed_origins,
        "embed_answer": answer,
        "player_url": lambda name, **values: url_for(player_endpoint(name), **values),
        "share": share,
    }
