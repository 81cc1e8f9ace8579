"""Real mail programs on the class network: the sheet's second tab, the CA, autoconfig, profiles.

A pupil configures a real Thunderbird or phone with what the running lab
serves: the laptop's address, the real ports, the lab's CA. The sheet's tab
shows those values and a QR code of a link that opens the same sheet on a
phone (`/fiche/<jeton>`: a signed, time-limited token naming the learner and,
in a scenario, the attempt). Thunderbird finds the servers by itself through
autoconfig; an iPhone takes a configuration profile.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import segno
from flask import Blueprint, Response, abort, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from markupsafe import Markup

from pixlab.lab.lan import is_loopback
from pixlab.lab.profiles import (
    PROFILE_MIME_TYPE,
    ServedServer,
    apple_profile,
    autoconfig_xml,
    served_servers,
)
from pixlab.web import learners, scenario_attempts, scenario_player
from pixlab.web.context import current_lab, public_url

bp = Blueprint("real", __name__)

SHEET_LINK_SECONDS = 24 * 3600  # a lesson, and the evening after it
SHEET_TOKEN_REUSE = 3600.0  # seconds a page shows the same link (see sheet_token)
_TOKENS_KEY = "pixlab.sheet_tokens"
_SALT = "pixlab.fiche"


@dataclass(frozen=True)
class RealSheet:
    """What a real program needs, as the running lab serves it, for one learner's account."""

    address: str
    username: str
    password: str
    host: str
    other_names: tuple[str, ...]  # HOSTNAME.local: what a phone may type instead
    reachable: bool  # False on a loopback address: pupils' devices cannot reach it
    usual_ports: bool
    incoming: list[ServedServer]
    outgoing: list[ServedServer]
    token: str

    @property
    def sheet_url(self) -> str:
        """The absolute URL that opens this sheet on another device."""
        return public_url("real.phone_sheet", token=self.token)

    @property
    def qr_svg(self) -> Markup:
        """A QR code of `sheet_url`, as inline SVG (made here: no network needed)."""
        return Markup(_qr_svg(self.sheet_url, _("Code QR de ta fiche")))


@functools.lru_cache(maxsize=512)
def _qr_svg(url: str, title: str) -> str:
    # Every page of the player shows the sheet, and segno's choice of the best mask was a
    # tenth of that page's time: the same link gives the same code (see sheet_token).
    code = segno.make(url, error="m")
    svg = code.svg_inline(scale=4, border=4, dark="#000", light="#fff", svgclass="qr",
                          lineclass=None, title=title)
    return svg.replace("<svg ", '<svg role="img" ', 1)  # segno's own SVG


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=_SALT)


def lab_host() -> str:
    """The address real programs type: where the lab listens, or the page's host for a wildcard."""
    lab = current_lab()
    if lab is not None and lab.address is not None:
        return lab.address
    return request.host.rsplit(":", 1)[0].strip("[]") if request else "127.0.0.1"


def servers() -> list[ServedServer]:
    """The lab's servers as a real program reaches them."""
    lab = current_lab()
    return served_servers(lab.listeners, lab_host()) if lab else []


def real_sheet(sheet: Any, attempt: Any = None) -> RealSheet | None:
    """The sheet's second tab for the current learner (and scenario attempt, if any)."""
    lab, learner = current_lab(), learners.current_learner()
    if lab is None or learner is None:
        return None
    return _real_sheet(sheet, sheet_token(learner.id, attempt.id if attempt else None))


def sheet_token(learner_id: int, attempt_id: int | None) -> str:
    """The signed token of a learner's sheet link, the same one for an hour.

    A token signed anew at every page would change every second, and with it the
    link and its QR code, to be made again each time. Reused for an hour, a link
    still lasts at least 23 of its 24 hours after the page showed it.
    """
    tokens = current_app.extensions.setdefault(_TOKENS_KEY, {})
    now = time.time()
    found = tokens.get((learner_id, attempt_id))
    if found is not None and now - found[1] < SHEET_TOKEN_REUSE:
        return str(found[0])
    token = _serializer().dumps({"l": learner_id, "a": attempt_id})
    if len(tokens) >= 4096:  # a bound: ids only, but a long-running server meets many
        tokens.clear()
    tokens[(learner_id, attempt_id)] = (token, now)
    return token


def _real_sheet(sheet: Any, token: str) -> RealSheet:
    lab = current_lab()
    assert lab is not None
    found = servers()
    host = lab_host()
    return RealSheet(
        sheet.address, sheet.username, sheet.password, host,
        tuple(n for n in lab.machine_names if n.endswith(".local")),
        not is_loopback(host), lab.config.usual_ports,
        [s for s in found if s.incoming], [s for s in found if not s.incoming], token,
    )


def _sheet_of_token(token: str) -> Any:
    """The connection sheet a token names; 404 when it is forged, expired or gone."""
    try:
        claim = _serializer().loads(token, max_age=SHEET_LINK_SECONDS)
        learner = learners.devices().learner(int(claim["l"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        abort(404)
    lab = current_lab()
    if learner is None or lab is None:
        abort(404)
    if claim.get("a") is None:
        return learners.connection_sheet(lab, learner)
    try:
        attempt = scenario_attempts.engine().get(int(claim["a"]))
    except (KeyError, ValueError):
        abort(404)
    if attempt.learner != scenario_attempts.learner_key(learner):
        abort(404)
    return scenario_player.sheet(scenario_attempts.scenario_or_404(attempt.slug), attempt)


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {"real_sheet": real_sheet}


@bp.get("/fiche/<token>")
def phone_sheet(token: str) -> ResponseReturnValue:
    """The sheet opened from its QR code: what to type in a real program, the CA, the profile."""
    real = _real_sheet(_sheet_of_token(token), token)
    return render_template("real/phone_sheet.html", real=real)


@bp.get("/fiche/<token>/pixlab.mobileconfig")
def profile(token: str) -> Response:
    """An Apple configuration profile for this learner's account, with the lab's CA."""
    sheet = _sheet_of_token(token)
    lab = current_lab()
    assert lab is not None
    try:
        body = apple_profile(servers(), sheet.address, lab.ca.ca_der, lab.world.server_name)
    except ValueError:
        abort(404)
    return Response(body, mimetype=PROFILE_MIME_TYPE, headers={
        "Content-Disposition": "attachment; filename=pixlab.mobileconfig"})


@bp.get("/labo/pixlab-ca.crt")
def ca_der() -> Response:
    """The lab CA's certificate in DER, the form phones install."""
    lab = current_lab()
    if lab is None:
        abort(404)
    return Response(lab.ca.ca_der, mimetype="application/x-x509-ca-cert",
                    headers={"Content-Disposition": "attachment; filename=pixlab-ca.crt"})


def _autoconfig(domain: str | None) -> Response:
    lab = current_lab()
    if lab is None:
        abort(404)
    domains = list(lab.world.domains)
    if domain is not None and domain.lower() not in domains:
        if domain.lower() not in lab.store.domains():
            abort(404)
        domains = [domain.lower()]
    return Response(autoconfig_xml(servers(), domains), mimetype="application/xml")


@bp.get("/.well-known/autoconfig/mail/config-v1.1.xml")
@bp.get("/mail/config-v1.1.xml")
def autoconfig() -> Response:
    """Thunderbird's autoconfig, where it asks the mail domain's own web server."""
    typed = request.args.get("emailaddress", "")
    return _autoconfig(typed.rpartition("@")[2] or None if "@" in typed else None)


@bp.get("/autoconfig/v1.1/<domain>")
def autoconfig_database(domain: str) -> Response:
    """Thunderbird's autoconfig as its ISP database answers (`mailnews.auto_config_url`)."""
    return _autoconfig(domain)
