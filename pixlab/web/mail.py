"""The mail client of each device: folders, messages, reading, writing, archiving, deleting.

An IMAP device asks the lab's server at every view, so two devices side by side
show what the server really holds; a POP3 device shows what it downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from pixlab.sandbox.store import DeviceInfo
from pixlab.web import learners, mail_program, testing
from pixlab.web.context import current_lab, wants_fragment

bp = Blueprint("mail", __name__, url_prefix="/bac-a-sable")

# Tells the other panes of the page to look again (htmx listens for it on <body>).
CHANGED_EVENT = "pixlab-mail-changed"


@bp.get("/courrier")
def side_by_side() -> ResponseReturnValue:
    """Every device of the learner, side by side."""
    lab, learner = current_lab(), learners.current_learner()
    if lab is None or learner is None:
        return redirect(url_for("sandbox.home"))
    views = [mail_program.mail_view(lab, learner, d, "INBOX", None)
             for d in learners.devices().devices(learner.id)]
    fetched = testing.trace_record(learner, request.args.get("releve", type=int) or 0)
    return render_template("mail/side_by_side.html", views=views, learner=learner,
                           fetched=fetched)


@bp.get("/appareils/<int:device_id>/courrier")
def mailbox(device_id: int) -> ResponseReturnValue:
    """One device's mail: a folder, its messages and maybe one opened."""
    lab, learner, device = learners.require_device(device_id)
    view = mail_program.mail_view(lab, learner, device, request.args.get("dossier", "INBOX"),
                             request.args.get("message"), here=bool(request.args.get("ici")))
    fetched = testing.trace_record(learner, request.args.get("releve", type=int) or 0)
    return _pane(view, fetched)


@bp.post("/appareils/<int:device_id>/relever")
def fetch(device_id: int) -> ResponseReturnValue:
    """"Relever le courrier": POP3 downloads (and maybe deletes on the server)."""
    lab, learner, device = learners.require_device(device_id)
    wait = testing.seconds_to_wait(learner)
    if wait:
        return _pane(mail_program.mail_view(lab, learner, device, "INBOX", None), None, wait), 429
    outcome = mail_program.fetch_mail(lab, learner, device)
    if not wants_fragment():
        return redirect(_back(device.id, releve=outcome.trace_id), 303)
    view = mail_program.mail_view(lab, learner, device, "INBOX", None)
    return _changed(_pane(view, testing.trace_record(learner, outcome.trace_id)), device.id)


@bp.post("/appareils/<int:device_id>/archiver")
def archive(device_id: int) -> ResponseReturnValue:
    """Archive the opened message (IMAP: to the server's Archives; POP3: a local folder)."""
    return _change(device_id, mail_program.archive_message)


@bp.post("/appareils/<int:device_id>/supprimer")
def delete(device_id: int) -> ResponseReturnValue:
    """Delete the opened message (IMAP: to the Trash, then for good; or on the device)."""
    if request.form.get("ici"):
        return _change(device_id, lambda _lab, _learner, device, _folder, ref:
                       mail_program.delete_here(device, ref), here=True)
    return _change(device_id, mail_program.delete_message)


@bp.post("/appareils/<int:device_id>/deplacer")
def move(device_id: int) -> ResponseReturnValue:
    """IMAP: move the opened message to another folder of the server."""
    target = request.form.get("cible", "")
    return _change(device_id, lambda lab, learner, device, folder, ref: mail_program.move_message(
        lab, learner, device, folder, ref, target))


@bp.post("/appareils/<int:device_id>/nouveau-dossier")
def create_folder(device_id: int) -> ResponseReturnValue:
    """"Nouveau dossier": IMAP creates it on the server, where every IMAP device sees it."""
    name = request.form.get("nom", "")
    return _change(device_id, lambda lab, learner, device, _folder, _ref: (
        mail_program.create_folder(lab, learner, device, name)))


@bp.post("/appareils/<int:device_id>/archiver-ici")
def archive_here(device_id: int) -> ResponseReturnValue:
    """IMAP: keep the opened message in a folder of the device, and free its room on the server."""
    target = request.form.get("cible", "")
    return _change(device_id, lambda lab, learner, device, folder, ref: mail_program.archive_here(
        lab, learner, device, folder, ref, target))


def _change(device_id: int, act: Callable[..., int | None],
            here: bool = False) -> ResponseReturnValue:
    lab, learner, device = learners.require_device(device_id)
    folder, ref = request.form.get("dossier", "INBOX"), request.form.get("message", "")
    failed = act(lab, learner, device, folder, ref)
    if not wants_fragment():
        return redirect(_back(device.id, dossier=folder, releve=failed, ici=here or None), 303)
    view = mail_program.mail_view(lab, learner, device, folder, None, here=here)
    return _changed(_pane(view, testing.trace_record(learner, failed or 0)), device.id)


@bp.route("/appareils/<int:device_id>/ecrire", methods=["GET", "POST"])
def compose(device_id: int) -> ResponseReturnValue:
    """Write a message and send it with the device's outgoing settings."""
    lab, learner, device = learners.require_device(device_id)
    elsewhere = learners.device_page(device, "compose")
    if elsewhere:  # a scenario's device writes inside its player, where the engine sees it
        return redirect(elsewhere, 303 if request.method == "POST" else 302)
    if request.method == "GET":
        return _compose_page(device, mail_program.Draft(), None)
    draft = mail_program.read_draft(request.form)
    wait = 0 if draft.errors else testing.seconds_to_wait(learner)
    if draft.errors or wait or device.outgoing.missing():
        status = 429 if wait else 422
        return _compose_page(device, draft, None, wait), status
    trace_id = mail_program.send_draft(lab, learner, device, draft)
    if not wants_fragment():
        return redirect(url_for("sandbox.trace", trace_id=trace_id), 303)
    return _changed(_compose_page(device, mail_program.Draft(), trace_id), device.id)


def _pane(view: mail_program.MailView, fetched: testing.TraceRecordView | None,
          wait: int = 0) -> str:
    template = "mail/_pane.html" if wants_fragment() else "mail/device.html"
    return render_template(template, view=view, fetched=fetched, wait=wait,
                           standalone=not wants_fragment())


def _compose_page(device: DeviceInfo, draft: mail_program.Draft, trace_id: int | None,
                  wait: int = 0) -> str:
    learner = learners.current_learner()
    record = testing.trace_record(learner, trace_id) if trace_id else None
    template = "mail/_compose.html" if wants_fragment() else "mail/compose.html"
    return render_template(template, device=device, draft=draft, wait=wait, learner=learner,
                           record=record, lab_domains=mail_program.lab_domains(),
                           outside_lab=mail_program.outside_lab(record.details.get("to", []))
                           if record else [])


def _changed(body: str, device_id: int) -> Response:
    """The response, plus an event that makes the other devices' panes look again."""
    response = Response(body)
    response.headers["HX-Trigger"] = json.dumps({CHANGED_EVENT: {"source": device_id}})
    return response


def _back(device_id: int, **args: Any) -> str:
    """Where a form without JavaScript goes back to: the side-by-side page or the device's."""
    query = {k: v for k, v in args.items() if v}
    target = request.form.get("next", "")
    if target == url_for(".side_by_side"):
        return url_for(".side_by_side", releve=query.get("releve"))
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        # Another page of this site that shows the pane (a scenario's player).
        releve = query.get("releve")
        return f"{target}{'&' if '?' in target else '?'}releve={releve}" if releve else target
    return url_for(".mailbox", device_id=device_id, **query)
