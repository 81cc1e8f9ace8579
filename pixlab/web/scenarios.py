"""Guided scenarios: the catalogue, the player, and the trainer's view of what is broken."""

from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from pixlab.web import (
    learners,
    mail_program,
    scenario_attempts,
    scenario_player,
    settings_form,
    testing,
)
from pixlab.web.context import required_lab, wants_fragment
from pixlab.web.mail import CHANGED_EVENT
from pixlab.web.workshops import trainer_required

bp = Blueprint("scenarios", __name__, url_prefix="/scenarios")


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {"sc_text": scenario_attempts.text, "sc_paragraphs": scenario_attempts.paragraphs,
            "level_label": scenario_attempts.level_label,
            "competences_text": scenario_attempts.competences_text}


@bp.get("")
def catalogue() -> ResponseReturnValue:
    """Every playable scenario, with the learner's progress."""
    required_lab()
    learner = learners.current_learner()
    return render_template("scenarios/catalogue.html", cards=scenario_attempts.cards(learner),
                           learner=learner, broken=len(scenario_attempts.broken_scenarios()))


@bp.get("/formateur")
@trainer_required
def trainer() -> ResponseReturnValue:
    """For trainers: the broken files and what to fix, and the mistakes worth a word."""
    required_lab()
    return render_template("scenarios/trainer.html", broken=scenario_attempts.broken_scenarios(),
                           flagged=scenario_attempts.flagged_mistakes(),
                           file_name=scenario_attempts.problem_file)


@bp.post("/<slug>/commencer")
def start(slug: str) -> ResponseReturnValue:
    """A fresh attempt (a learner is started first if this browser has none)."""
    scenario_player.start(slug)
    return redirect(url_for(".play", slug=slug), 303)


@bp.post("/<slug>/recommencer")
def retry(slug: str) -> ResponseReturnValue:
    """Start the scenario afresh."""
    scenario_attempts.current_attempt(slug)
    scenario_player.start(slug)
    return redirect(url_for(".play", slug=slug), 303)


@bp.get("/<slug>")
def play(slug: str) -> ResponseReturnValue:
    """The player: story and sheet, objectives, devices; the debrief and quiz at the end."""
    scenario = scenario_attempts.scenario_or_404(slug)
    learner = learners.current_learner()
    attempt = scenario_attempts.latest_attempt(learner, slug)
    if learner is None or attempt is None:
        return render_template("scenarios/intro.html", scenario=scenario)
    attempt, _newly = scenario_attempts.refresh(attempt)
    writer = request.args.get("ecrire")
    sent = request.args.get("envoi", type=int)
    writing: str | scenario_player.Writing | None = writer
    if writer and sent:  # after a sending without JavaScript: its result above a fresh form
        writing = scenario_player.Writing(scenario_player.player_device(learner, attempt, writer),
                                  mail_program.Draft(), sent)
    context = scenario_player.player_context(scenario, learner, attempt,
                                             request.args.get("reglages"), writing=writing)
    return render_template(
        "scenarios/player.html", **context, new_password=bool(request.args.get("nouveau")),
        record=testing.trace_record(learner, request.args.get("essai", type=int) or 0),
        fetched=testing.trace_record(learner, request.args.get("releve", type=int) or 0),
    )


@bp.get("/<slug>/objectifs")
def objectives(slug: str) -> ResponseReturnValue:
    """The objectives, judged now (htmx polls this every 2 seconds while the learner plays)."""
    scenario = scenario_attempts.scenario_or_404(slug)
    _learner, attempt = scenario_attempts.current_attempt(slug)
    if not wants_fragment():
        return redirect(url_for(".play", slug=slug))
    attempt, newly = scenario_attempts.refresh(attempt)
    response = Response(render_template("scenarios/_objectives.html", scenario=scenario,
                                        attempt=attempt, newly=newly,
                                        objectives=scenario_attempts.objectives(scenario, attempt)))
    if not attempt.playing:
        # Only a page of a running attempt polls: it ended, the debrief and the quiz come now.
        response.headers["HX-Refresh"] = "true"
    return response


@bp.post("/<slug>/indice")
def hint(slug: str) -> ResponseReturnValue:
    """Reveal the next hint."""
    _learner, attempt = scenario_attempts.current_attempt(slug)
    scenario_attempts.engine().reveal_hint(attempt.id)
    if wants_fragment():
        attempt = scenario_attempts.engine().get(attempt.id)
        return render_template("scenarios/_hints.html",
                               scenario=scenario_attempts.scenario_or_404(slug), attempt=attempt,
                               hints=scenario_attempts.hints(attempt), announce=True)
    return redirect(url_for(".play", slug=slug, _anchor="indices"), 303)


@bp.post("/<slug>/abandonner")
def give_up(slug: str) -> ResponseReturnValue:
    """Stop here: the debrief and the quiz come now."""
    _learner, attempt = scenario_attempts.current_attempt(slug)
    scenario_attempts.engine().give_up(attempt.id)
    return redirect(url_for(".play", slug=slug), 303)


@bp.post("/<slug>/quiz/<question_id>")
def answer(slug: str, question_id: str) -> ResponseReturnValue:
    """Answer a question of the quiz; its reason is shown after."""
    scenario = scenario_attempts.scenario_or_404(slug)
    _learner, attempt = scenario_attempts.current_attempt(slug)
    given = scenario_attempts.answer(attempt, question_id, request.form.getlist("choix"))
    if not wants_fragment():
        return redirect(url_for(".play", slug=slug, vide=None if given else question_id,
                                _anchor=f"question-{question_id}"), 303)
    item = next(q for q in scenario_attempts.quiz(scenario, attempt)
                if q.question.id == question_id)
    return render_template("scenarios/_question.html", scenario=scenario, item=item,
                           empty=not given), 200 if given else 422


@bp.route("/<slug>/appareils/<device_id>/reglages", methods=["GET", "POST"])
def device_settings(slug: str, device_id: str) -> ResponseReturnValue:
    """A device's settings as in Thunderbird, limited to what the scenario lets change."""
    learner, attempt = scenario_attempts.current_attempt(slug)
    if request.method == "GET" or not attempt.playing:
        return redirect(url_for(".play", slug=slug, reglages=device_id, _anchor="reglages"))
    device = scenario_player.player_device(learner, attempt, device_id)
    outcome = scenario_player.save_and_test(learner, attempt, device, request.form)
    status = settings_form.STATUS_CODES.get(outcome.status, 200)
    if not wants_fragment() and outcome.status in ("tested", "saved"):
        return redirect(url_for(".play", slug=slug, reglages=device_id, essai=outcome.trace_id,
                                _anchor="resultat" if outcome.trace_id else "reglages"), 303)
    if not wants_fragment():  # the form to correct or confirm, in the whole page
        return render_template("scenarios/player.html", **scenario_player.player_context(
            scenario_attempts.scenario_or_404(slug), learner, attempt, device_id, outcome)), status
    body = render_template("scenarios/_device_settings.html", slug=slug, outcome=outcome,
                           **scenario_player.settings_context(learner, attempt, device, outcome))
    response = Response(body, status)
    response.headers["HX-Trigger"] = CHANGED_EVENT  # the panes and the objectives look again
    return response


@bp.post("/<slug>/appareils/<device_id>/exception")
def accept_risk(slug: str, device_id: str) -> ResponseReturnValue:
    """"Confirmer l'exception de sécurité" for a device, when the scenario allows it."""
    learner, attempt = scenario_attempts.current_attempt(slug)
    scenario_player.accept_risk(learner, attempt, device_id, request.form.get("host", ""))
    return redirect(url_for(".play", slug=slug, reglages=device_id, _anchor="reglages"), 303)


@bp.post("/<slug>/appareils/<device_id>/ecrire")
def compose(slug: str, device_id: str) -> ResponseReturnValue:
    """Write and send a message from a device, inside the player (the engine judges it)."""
    learner, attempt = scenario_attempts.current_attempt(slug)
    writing = scenario_player.write(learner, attempt, device_id, request.form)
    if writing.trace_id and not wants_fragment():
        return redirect(url_for(".play", slug=slug, ecrire=device_id, envoi=writing.trace_id,
                                _anchor="ecrire"), 303)
    context = scenario_player.compose_context(learner, attempt, writing)
    if wants_fragment():
        response = Response(render_template("mail/_compose.html", **context, learner=learner),
                            writing.status)
        response.headers["HX-Trigger"] = CHANGED_EVENT
        return response
    scenario = scenario_attempts.scenario_or_404(slug)
    return render_template("scenarios/player.html", **scenario_player.player_context(
        scenario, learner, attempt, None, writing=writing)), writing.status


@bp.post("/<slug>/appareils/<device_id>/reinstaller")
def reinstall(slug: str, device_id: str) -> ResponseReturnValue:
    """"Réinstaller le logiciel" on a device whose scenario offers it."""
    learner, attempt = scenario_attempts.current_attempt(slug)
    scenario_player.reinstall(learner, attempt, device_id)
    return redirect(url_for(".play", slug=slug, _anchor=f"reinstaller-{device_id}"), 303)


@bp.post("/<slug>/compte/mot-de-passe-d-application")
def create_app_password(slug: str) -> ResponseReturnValue:
    """The account's page: a new application password, shown in this answer only."""
    learner, attempt = scenario_attempts.current_attempt(slug)
    scenario = scenario_attempts.scenario_or_404(slug)
    made = scenario_player.create_app_password(attempt, request.form.get("logiciel", ""))
    if made is None:
        return redirect(url_for(".play", slug=slug), 303)
    context = scenario_player.player_context(scenario, learner, attempt, None)
    response = make_response(render_template(
        "scenarios/player.html", **context, made_app_password=made))
    response.headers["Cache-Control"] = "no-store"  # shown once: never kept by the browser
    return response


@bp.post("/<slug>/compte/nouveau-mot-de-passe")
def change_password(slug: str) -> ResponseReturnValue:
    """The account's page: a new password; every session logged in with the old one is cut."""
    _learner, attempt = scenario_attempts.current_attempt(slug)
    changed = scenario_player.change_password(attempt)
    return redirect(url_for(".play", slug=slug, nouveau=int(changed), _anchor="compte"), 303)


@bp.post("/<slug>/mot-de-passe")
def reset_password(slug: str) -> ResponseReturnValue:
    """The IT service's reset page: a new password, the account unlocked."""
    _learner, attempt = scenario_attempts.current_attempt(slug)
    scenario_player.reset_password(attempt)
    return redirect(url_for(".play", slug=slug, nouveau=1, _anchor="reinitialisation"), 303)
