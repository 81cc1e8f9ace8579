"""A workshop's scenario inside a course page: `/integration/SLUG?atelier=CODE`.

A trainer whose pupils play in a course page (a Pix module, the ENT, Moodle)
gives that page the embed URL with the workshop's code (« Partager » on the
workshop page). The frame then asks the pupil's pseudonym, exactly as
`/atelier` does (the same checks, throttles, CSRF and messages), and the pupil
plays as a member of the workshop: the class view counts them like the others.
Everything stays under `/integration/`, the only pages a course page may frame.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from pixlab.sandbox.store import LearnerInfo
from pixlab.web import learners, scenario_attempts, workshops
from pixlab.web.context import current_lab, required_lab
from pixlab.web.embed import EMBED_NAME
from pixlab.web.limits import throttle
from pixlab.web.security import EMBED_PREFIX
from pixlab.workshops import service

bp = Blueprint("embed_workshop", __name__)
CODE_ARG = "atelier"  # the embed URL's parameter that names the workshop
KEPT_ARGS = ("lang", "autoLaunch")  # what the course page asked, kept after joining


def _kept_args() -> dict[str, Any]:
    return {k: request.args[k] for k in KEPT_ARGS if k in request.args}


def _play_url(slug: str, code: str) -> str:
    return url_for(f"{EMBED_NAME}.play", slug=slug, **{**_kept_args(), CODE_ARG: code})


def _member_of(workshop: service.WorkshopInfo | None) -> bool:
    learner = learners.current_learner()
    lab = current_lab()
    if workshop is None or learner is None or lab is None:
        return False
    mine = service.member_of_learner(lab.engine, learner.id)
    return mine is not None and mine.workshop_id == workshop.id


def _join_page(slug: str, code: str, *, pseudonym: str = "", error: str | None = None,
               suggestion: str = "", status: int = 200) -> ResponseReturnValue:
    scenario = scenario_attempts.scenario_or_404(slug)
    kept = _kept_args()
    return render_template(
        "workshops/embed_join.html", scenario=scenario, code=code, pseudonym=pseudonym,
        error=error, suggestion=suggestion,
        join_action=url_for("embed_workshop.join", slug=slug, **kept),
        resume_action=url_for("embed_workshop.resume", slug=slug, **kept)), status


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {"embed_membership": embed_membership}


def embed_membership() -> LearnerInfo | None:
    """The learner of this frame when they joined a workshop (for their resume code)."""
    learner = learners.current_learner()
    lab = current_lab()
    if learner is None or lab is None:
        return None
    return learner if service.member_of_learner(lab.engine, learner.id) else None


@bp.before_app_request
def _ask_the_pseudonym() -> ResponseReturnValue | None:
    """The embedded player with a workshop's code: its members play, anybody else joins first."""
    if request.endpoint != f"{EMBED_NAME}.play" or CODE_ARG not in request.args:
        return None
    lab = current_lab()
    slug = str((request.view_args or {}).get("slug", ""))
    code = request.args.get(CODE_ARG, "")
    if lab is None:
        return None
    found = service.by_code(lab.engine, code)
    if _member_of(found):
        return None
    error = None
    if found is None or slug not in found.slugs:
        error = "code"
    elif not found.is_open():
        error = "closed"
    return _join_page(slug, code, error=error)


@bp.post(f"{EMBED_PREFIX}<slug>/atelier")
@throttle("RATELIMIT_JOIN")
def join(slug: str) -> ResponseReturnValue:
    """« Rejoindre » inside the frame: as /atelier, then the scenario in the frame."""
    scenario_attempts.scenario_or_404(slug)
    lab = required_lab()
    code, pseudonym = request.form.get("code", ""), request.form.get("pseudonyme", "")
    try:
        found = workshops.enter(lab, code, pseudonym, accept=lambda w: slug in w.slugs)
    except service.WorkshopError as exc:
        return _join_page(slug, code, pseudonym=pseudonym, error=exc.reason,
                          suggestion=exc.suggestion, status=workshops.join_status(exc))
    return redirect(_play_url(slug, found.code), 303)


@bp.post(f"{EMBED_PREFIX}<slug>/atelier/reprendre")
@throttle("RATELIMIT_RESUME")
def resume(slug: str) -> ResponseReturnValue:
    """« Revenir » inside the frame: code, pseudonym and resume code, as /atelier/reprendre."""
    scenario_attempts.scenario_or_404(slug)
    lab = required_lab()
    form: Any = request.form
    member = service.find_member(lab.engine, form.get("code", ""), form.get("pseudonyme", ""),
                                 form.get("reprise", ""))
    if member is None:
        return _join_page(slug, form.get("code", ""), pseudonym=form.get("pseudonyme", ""),
                          error="resume", status=404)
    learners.resume_learner(member.resume_code)
    found = service.get(lab.engine, member.workshop_id)
    assert found is not None
    return redirect(_play_url(slug, found.code), 303)
