"""Workshops on the web: the trainer's pages (`/formateur`) and the learners' join (`/atelier`).

Views gather input, call `pixlab.workshops`, render. A workshop's learner is
started exactly as a sandbox learner (`learners.start_learner`) and plays
the scenario player as any learner does; the scenario engine sees the
workshop's faults through the hook registered here.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import segno
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from pixlab.sandbox.store import LearnerInfo
from pixlab.scenarios.world import ACCOUNT_FAULTS, Fault
from pixlab.web import embed, labels, learners, scenario_attempts, testing
from pixlab.web.context import current_lab, public_url, required_lab, wants_fragment
from pixlab.web.limits import throttle
from pixlab.workshops import retention, room, service, trainers

trainer_bp = Blueprint("trainer", __name__, url_prefix="/formateur")
learner_bp = Blueprint("workshop", __name__, url_prefix="/atelier")

SESSION_TRAINER = "trainer_id"
SESSION_TRAINER_AT = "trainer_since"
TRAINER_SESSION = timedelta(hours=12)
F = TypeVar("F", bound=Callable[..., ResponseReturnValue])


def init_app(app: Flask) -> None:
    """Register both blueprints and the faults hook of the scenario engine."""
    app.config.setdefault("RETENTION_DAYS", service.DEFAULT_RETENTION_DAYS)
    lab = app.extensions.get("pixlab.lab")
    app.register_blueprint(trainer_bp)
    app.register_blueprint(learner_bp)

    def faults(learner_key: str) -> frozenset[str]:
        if lab is None:
            return frozenset()
        return service.faults_of_address(lab.engine, address_of_key(learner_key, lab))

    app.extensions["pixlab.scenario_faults"] = faults


def key_of(address: str) -> str:
    """A sandbox learner's key in the scenario engine (from their lab address)."""
    return address.partition("@")[0] + scenario_attempts.LEARNER_SUFFIX


def address_of_key(key: str, lab: Any) -> str:
    """The sandbox address a scenario key belongs to."""
    return f"{key.removesuffix(scenario_attempts.LEARNER_SUFFIX)}@{lab.world.primary_domain}"


def start_purger(app: Flask) -> retention.Purger:
    """The retention purge of `pixlab serve`: at start, then every hour."""
    lab = app.extensions["pixlab.lab"]
    return retention.Purger(lab, key_of, int(app.config["RETENTION_DAYS"])).start()


@trainer_bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {"faults_label": lambda key: FAULT_LABELS.get(key, key),
            "current_trainer": current_trainer}


# -- the trainer's session -------------------------------------------------------------


def current_trainer() -> trainers.TrainerInfo | None:
    """The trainer logged in on this browser, while their 12 hours last."""
    trainer_id, since = session.get(SESSION_TRAINER), session.get(SESSION_TRAINER_AT)
    lab = current_lab()
    if lab is None or not isinstance(trainer_id, int) or not isinstance(since, (int, float)):
        return None
    if time.time() - since > TRAINER_SESSION.total_seconds():
        session.pop(SESSION_TRAINER, None)
        session.pop(SESSION_TRAINER_AT, None)
        return None
    return trainers.get(lab.engine, trainer_id)


def trainer_required(view: F) -> F:
    """A trainer's page: without a trainer's session, the login page (then back here)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        if current_trainer() is None:
            target = request.path if request.method == "GET" else None
            response = redirect(url_for("trainer.login", suite=target))
            if wants_fragment():  # htmx follows redirects silently: ask for a real page
                response = Response("", 200)
                response.headers["HX-Redirect"] = url_for("trainer.login")
            return response
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def require_trainer() -> trainers.TrainerInfo:
    """The logged-in trainer (for views that check by hand)."""
    trainer = current_trainer()
    assert trainer is not None
    return trainer


def _workshop_or_404(workshop_id: int) -> service.WorkshopInfo:
    found = service.owned(required_lab().engine, require_trainer().id, workshop_id)
    if found is None:
        abort(404)  # another trainer's workshop does not exist, for this one
    return found


def _safe_next(target: str | None) -> str:
    # Only back to a trainer's page of this site, never elsewhere (no open redirect).
    if target and target.startswith(("/formateur", "/scenarios/formateur")):
        return target
    return url_for("trainer.home")


@trainer_bp.route("/connexion", methods=["GET", "POST"])
@throttle("RATELIMIT_LOGIN")
def login() -> ResponseReturnValue:
    """« Nom », « Mot de passe », « Se connecter »; says how to create a first trainer."""
    lab = required_lab()
    if request.method == "POST":
        found = trainers.authenticate(lab.engine, request.form.get("nom", ""),
                                      request.form.get("mot_de_passe", ""))
        if found is not None:
            session.clear()  # a fresh session: nothing of a previous visitor stays
            session.permanent = True
            session[SESSION_TRAINER], session[SESSION_TRAINER_AT] = found.id, time.time()
            return redirect(_safe_next(request.args.get("suite")), 303)
        return render_template("workshops/login.html", failed=True,
                               name=request.form.get("nom", ""),
                               no_trainer=trainers.count(lab.engine) == 0), 401
    return render_template("workshops/login.html", failed=False, name="",
                           no_trainer=trainers.count(lab.engine) == 0)


@trainer_bp.post("/deconnexion")
def logout() -> ResponseReturnValue:
    """« Se déconnecter »."""
    session.pop(SESSION_TRAINER, None)
    session.pop(SESSION_TRAINER_AT, None)
    return redirect(url_for("trainer.login"), 303)


# -- workshops ----------------------------------------------------------------------------


@trainer_bp.get("")
@trainer_required
def home() -> ResponseReturnValue:
    """The trainer's workshops and « Créer un atelier »."""
    lab = required_lab()
    return render_template("workshops/home.html", trainer=require_trainer(),
                           workshops=service.of_trainer(lab.engine, require_trainer().id),
                           catalogue=scenario_attempts.catalogue().scenarios, errors={},
                           form=MultiDict(),
                           retention=current_app.config["RETENTION_DAYS"])


def _read_create_form() -> tuple[dict[str, Any], dict[str, str]]:
    form = request.form
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"name": " ".join(form.get("nom", "").split())}
    if not values["name"] or len(values["name"]) > 200:
        errors["nom"] = "name"
    known = {s.slug for s in scenario_attempts.catalogue().scenarios}
    chosen = [s for s in form.getlist("scenarios") if s in known]
    if not chosen:
        errors["scenarios"] = "scenarios"
    # The trainer may give the order: a number beside each ticked scenario.
    order = {s: form.get(f"ordre-{s}", "").strip() for s in chosen}
    values["slugs"] = sorted(chosen, key=lambda s: (
        int(order[s]) if order[s].isdigit() else 999, chosen.index(s)))
    values["ends_at"] = None
    if form.get("fin", "").strip():
        try:
            ends = datetime.fromisoformat(form["fin"].strip())
            values["ends_at"] = ends.astimezone().timestamp()
        except ValueError:
            errors["fin"] = "end"
    for field_name, key, low, high, default in (
        ("bloque", "stuck_minutes", 1, 120, service.DEFAULT_STUCK_MINUTES),
        ("conservation", "retention_days", 1, 3650, current_app.config["RETENTION_DAYS"]),
    ):
        text = form.get(field_name, "").strip()
        if not text:
            values[key] = int(default)
        elif text.isdigit() and low <= int(text) <= high:
            values[key] = int(text)
        else:
            errors[field_name] = field_name
    return values, errors


@trainer_bp.post("/ateliers")
@trainer_required
def create() -> ResponseReturnValue:
    """« Créer un atelier »: its name, scenarios in order, an optional end time."""
    lab = required_lab()
    values, errors = _read_create_form()
    if errors:
        return render_template(
            "workshops/home.html", trainer=require_trainer(),
            workshops=service.of_trainer(lab.engine, require_trainer().id),
            catalogue=scenario_attempts.catalogue().scenarios, errors=errors, form=request.form,
            retention=current_app.config["RETENTION_DAYS"]), 422
    workshop = service.create(lab.engine, require_trainer().id, values["name"], values["slugs"],
                              ends_at=values["ends_at"], stuck_minutes=values["stuck_minutes"],
                              retention_days=values["retention_days"])
    return redirect(url_for("trainer.workshop", workshop_id=workshop.id), 303)


def _join_url(workshop: service.WorkshopInfo) -> str:
    # Where pupils' devices reach PixLab, even when the trainer's page came by 127.0.0.1.
    return public_url("workshop.join", code=workshop.code)


def _class_view(workshop: service.WorkshopInfo) -> room.ClassView:
    """The class view of a workshop, in the page's language (the pages and the exports)."""
    return room.class_view(required_lab().engine, scenario_attempts.engine(), workshop, key_of,
                           labels.lang())


def _class_context(workshop: service.WorkshopInfo) -> dict[str, Any]:
    lab = required_lab()
    view = _class_view(workshop)
    order = request.args.get("tri", "statut")
    return {"workshop": workshop, "view": view, "rows": room.sort_rows(view.rows, order),
            "order": order, "counts": view.counts, "states": STATE_LABELS,
            "history": service.fault_history(lab.engine, lab.events, workshop.id, 5)}


@trainer_bp.get("/ateliers/<int:workshop_id>")
@trainer_required
def workshop(workshop_id: int) -> ResponseReturnValue:
    """The trainer's dashboard: code, « Projeter », the class, faults, export, close, delete."""
    found = _workshop_or_404(workshop_id)
    context = _class_context(found)
    return render_template("workshops/workshop.html", join_url=_join_url(found),
                           faults=FAULT_LABELS, account_faults=ACCOUNT_FAULTS,
                           embeds=embed_codes(found, context["view"].scenarios), **context)


def embed_codes(workshop: service.WorkshopInfo,
                scenarios: list[Any]) -> list[tuple[Any, str, str]]:
    """« Partager »: per scenario, the embed URL with the workshop's code and its iframe."""
    found = []
    for scenario in scenarios:
        url = public_url(f"{embed.EMBED_NAME}.play", slug=scenario.slug, atelier=workshop.code)
        found.append((scenario, url,
                      embed.iframe_code(url, scenario_attempts.text(scenario.title))))
    return found


@trainer_bp.get("/ateliers/<int:workshop_id>/classe")
@trainer_required
def class_view(workshop_id: int) -> ResponseReturnValue:
    """The class view alone: htmx polls it; without JavaScript, the whole page."""
    found = _workshop_or_404(workshop_id)
    if not wants_fragment():
        return redirect(url_for("trainer.workshop", workshop_id=found.id,
                                tri=request.args.get("tri")))
    return render_template("workshops/_class.html", **_class_context(found))


@trainer_bp.get("/ateliers/<int:workshop_id>/projeter")
@trainer_required
def project(workshop_id: int) -> ResponseReturnValue:
    """For the projector: the join URL in large type, the code, a QR code of the URL."""
    found = _workshop_or_404(workshop_id)
    url = _join_url(found)
    qr = segno.make(url, error="m")
    svg = qr.svg_inline(scale=10, border=2, title=url, dark="#000", light="#fff")
    return render_template("workshops/project.html", workshop=found, join_url=url,
                           base_url=public_url("workshop.join"),
                           qr_svg=Markup(svg))


@trainer_bp.post("/ateliers/<int:workshop_id>/pannes")
@trainer_required
def switch_fault(workshop_id: int) -> ResponseReturnValue:
    """A fault switch, on or off, for the whole workshop."""
    found = _workshop_or_404(workshop_id)
    fault, on = request.form.get("panne", ""), request.form.get("etat") == "on"
    if fault not in {f.value for f in Fault}:
        abort(404)
    lab = required_lab()
    before = found.faults
    after = service.switch_fault(lab.engine, lab.events, found, fault, on)
    if (fault in before) != (fault in after.faults):
        service.apply_account_fault(scenario_attempts.engine(), after, fault, on, key_of)
    return redirect(url_for("trainer.workshop", workshop_id=found.id, _anchor="pannes"), 303)


@trainer_bp.get("/ateliers/<int:workshop_id>/export.csv")
@trainer_required
def export_csv(workshop_id: int) -> ResponseReturnValue:
    """« Exporter (CSV) » for a French spreadsheet."""
    found = _workshop_or_404(workshop_id)
    view = _class_view(found)
    response = Response(room.export_csv(view), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="atelier-{found.code}.csv"'
    return response


@trainer_bp.get("/ateliers/<int:workshop_id>/export.json")
@trainer_required
def export_json(workshop_id: int) -> ResponseReturnValue:
    """The same data as JSON."""
    found = _workshop_or_404(workshop_id)
    view = _class_view(found)
    response = Response(json.dumps(room.export_json(view), ensure_ascii=False, indent=1),
                        mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="atelier-{found.code}.json"'
    return response


@trainer_bp.post("/ateliers/<int:workshop_id>/clore")
@trainer_required
def close(workshop_id: int) -> ResponseReturnValue:
    """« Clore l'atelier »: no more joins; the data goes after the retention period."""
    found = _workshop_or_404(workshop_id)
    service.close(required_lab().engine, found)
    return redirect(url_for("trainer.workshop", workshop_id=found.id), 303)


@trainer_bp.route("/ateliers/<int:workshop_id>/supprimer", methods=["GET", "POST"])
@trainer_required
def delete_now(workshop_id: int) -> ResponseReturnValue:
    """« Supprimer maintenant »: a confirmation page, then every learner's data goes."""
    found = _workshop_or_404(workshop_id)
    if request.method == "GET" or request.form.get("confirmer") != "oui":
        return render_template("workshops/delete.html", workshop=found,
                               learners=len(service.members(required_lab().engine, found.id)))
    count = retention.purge_workshop(required_lab(), found.id, key_of)
    flash(f"deleted:{count}")
    return redirect(url_for("trainer.home"), 303)


@trainer_bp.get("/ateliers/<int:workshop_id>/eleves/<int:member_id>")
@trainer_required
def learner(workshop_id: int, member_id: int) -> ResponseReturnValue:
    """A learner's latest operations, read-only: to help without taking their keyboard."""
    found = _workshop_or_404(workshop_id)
    members = service.members(required_lab().engine, found.id)
    member = next((m for m in members if m.id == member_id), None)
    if member is None:
        abort(404)
    info = learners.devices().learner(member.learner_id)
    assert info is not None
    records = [r for r in (testing.trace_record(info, trace_id)
                           for trace_id in _latest_trace_ids(info)) if r is not None]
    view = _class_view(found)
    row = next(r for r in view.rows if r.member.id == member.id)
    return render_template("workshops/learner.html", workshop=found, member=member, row=row,
                           view=view, records=records, states=STATE_LABELS, read_only=True)


def _latest_trace_ids(info: LearnerInfo, limit: int = 5) -> list[int]:
    store = learners.devices()
    ids: set[int] = set()
    for kind in ("test", "send", "fetch"):
        ids.update(trace_id for trace_id, _ok in store.latest_traces(info.id, kind).values())
    return sorted(ids, reverse=True)[:limit]


# -- the learners' side --------------------------------------------------------------------


@learner_bp.route("", methods=["GET", "POST"])
@throttle("RATELIMIT_JOIN")
def join() -> ResponseReturnValue:
    """« Code de l'atelier », « Pseudonyme », « Rejoindre »."""
    lab = required_lab()
    if request.method == "GET":
        mine = _my_membership()
        if mine is not None and not request.args.get("code"):
            return redirect(url_for("workshop.mine"))
        return render_template("workshops/join.html", code=request.args.get("code", ""),
                               pseudonym="", error=None, suggestion="")
    code, pseudonym = request.form.get("code", ""), request.form.get("pseudonyme", "")
    try:
        enter(lab, code, pseudonym)
    except service.WorkshopError as exc:
        return render_template("workshops/join.html", code=code, pseudonym=pseudonym,
                               error=exc.reason, suggestion=exc.suggestion), join_status(exc)
    return redirect(url_for("workshop.mine"), 303)


def enter(lab: Any, code: str, pseudonym: str,
          accept: Callable[[service.WorkshopInfo], bool] = lambda w: True,
          ) -> service.WorkshopInfo:
    """Join a workshop on this browser: a fresh learner under the pseudonym (/atelier and a
    course page's frame). `accept` may refuse the workshop as an unknown code.

    Raises:
        WorkshopError: its reason says what the page tells the learner.
    """
    found, pseudonym = service.check_join(lab.engine, code, pseudonym)
    if not accept(found):
        raise service.WorkshopError("code")
    learner = learners.start_learner(lab)
    try:
        service.add_member(lab.engine, found, learner.id, pseudonym)
    except service.WorkshopError:
        learners.forget_learner()
        retention.purge_learner(lab, learner.id, key_of)
        raise
    return found


def join_status(error: service.WorkshopError) -> int:
    """The status of a refused join: 409 for a conflict (taken, closed), else 422."""
    return 409 if error.reason in ("taken", "closed") else 422


@learner_bp.post("/reprendre")
@throttle("RATELIMIT_RESUME")
def resume() -> ResponseReturnValue:
    """Come back from another browser: workshop code, pseudonym and resume code together."""
    lab = required_lab()
    member = service.find_member(lab.engine, request.form.get("code", ""),
                                 request.form.get("pseudonyme", ""),
                                 request.form.get("reprise", ""))
    if member is None:
        return render_template("workshops/join.html", code=request.form.get("code", ""),
                               pseudonym=request.form.get("pseudonyme", ""),
                               error="resume", suggestion=""), 404
    learners.resume_learner(member.resume_code)
    return redirect(url_for("workshop.mine"), 303)


def _my_membership() -> service.Member | None:
    learner = learners.current_learner()
    return service.member_of_learner(required_lab().engine, learner.id) if learner else None


@learner_bp.get("/mon-atelier")
def mine() -> ResponseReturnValue:
    """The learner's workshop: its scenarios in order, their progress, their resume code."""
    member = _my_membership()
    learner = learners.current_learner()
    if member is None or learner is None:
        return redirect(url_for("workshop.join"))
    found = service.get(required_lab().engine, member.workshop_id)
    assert found is not None
    by_slug = {card.scenario.slug: card for card in scenario_attempts.cards(learner)}
    cards = [by_slug[s] for s in found.slugs if s in by_slug]
    return render_template("workshops/mine.html", workshop=found, member=member,
                           learner=learner, cards=cards)


# -- words --------------------------------------------------------------------------------

STATE_LABELS = {
    room.NEW: _l("Pas commencé"), room.PLAYING_STATE: _l("En cours"),
    room.STUCK: _l("Bloqué"), room.DONE: _l("Terminé"), room.GAVE_UP: _l("Abandonné"),
}
FAULT_LABELS = {
    Fault.IMAP_DOWN.value: _l("Serveur IMAP en panne"),
    Fault.POP3_DOWN.value: _l("Serveur POP3 en panne"),
    Fault.SMTP_DOWN.value: _l("Serveur SMTP en panne"),
    Fault.PORT_587_FILTERED.value: _l("Port 587 bloqué par le réseau"),
    Fault.SLOW_NETWORK.value: _l("Réseau lent"),
    Fault.CERTIFICATE_EXPIRED.value: _l("Certificat expiré"),
    Fault.CERTIFICATE_WRONG_NAME.value: _l("Certificat au mauvais nom"),
    Fault.MAILBOX_FULL.value: _l("Boîte aux lettres pleine"),
    Fault.PASSWORD_CHANGED.value: _l("Mot de passe changé par le service informatique"),
}
