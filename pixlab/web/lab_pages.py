"""The lab's own pages: its state at `/`, the CA certificate, the language switch."""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from pixlab.typography import LANGUAGES
from pixlab.web.context import current_lab

bp = Blueprint("lab", __name__)

# What each listener is for, in the learner's words.
LISTENER_LABELS = {
    "smtp": _l("SMTP : courrier reçu d'autres serveurs"),
    "submission": _l("SMTP : envoi de vos messages"),
    "smtps": _l("SMTP : envoi de vos messages"),
    "imap": _l("IMAP : lire en gardant tout synchronisé"),
    "imaps": _l("IMAP : lire en gardant tout synchronisé"),
    "pop3": _l("POP3 : télécharger les messages"),
    "pop3s": _l("POP3 : télécharger les messages"),
}


@bp.get("/")
def home() -> str:
    """What the lab offers: each listener, its canonical and real port, its security."""
    lab = current_lab()
    return render_template(
        "index.html", listeners=lab.listeners if lab else [], labels=LISTENER_LABELS
    )


@bp.get("/labo/pixlab-ca.pem")
def ca_certificate() -> Response:
    """The lab CA's certificate, to install in a real mail program."""
    lab = current_lab()
    if lab is None:
        abort(404)
    return Response(
        lab.ca.ca_pem,
        mimetype="application/x-pem-file",
        headers={"Content-Disposition": "attachment; filename=pixlab-ca.pem"},
    )


@bp.post("/langue")
def set_language() -> ResponseReturnValue:
    """Switch the interface between French and English, then go back where we were."""
    lang = request.form.get("lang", "fr")
    session["lang"] = lang if lang in LANGUAGES else "fr"
    target = request.form.get("next", "")
    # Only a path of this site: never an open redirect.
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("lab.home")
    return redirect(target)
