"""The sandbox ("bac à sable"): a learner, a connection sheet, devices, settings and tests."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from pixlab.client.programs import CHOICES, PROGRAMS, STRINGS, may_run_on
from pixlab.web import labels, learners, settings_form, testing
from pixlab.web.context import current_lab, required_lab, wants_fragment
from pixlab.web.limits import throttle
from pixlab.web.program_messages import (
    how_to_fill,
    program_label,
    program_markup,
    quoted,
    words,
)

bp = Blueprint("sandbox", __name__, url_prefix="/bac-a-sable")


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    # Thunderbird's words for the form, and whether this response is a fragment.
    return {
        "tb": lambda key, fallback: program_label(key, labels.lang(), fallback),
        "tb_markup": lambda key, **kw: program_markup(key, labels.lang(), **kw),
        # The other programs' words, the security choices each offers, and their names.
        "pw": lambda program, key: words(program, key, labels.lang()),
        "program_securities": program_securities,
        "program_quoted": lambda program: all(quoted(program, k) for k in STRINGS[program]),
        "program_name": labels.program_name,
        "program_choices": CHOICES,
        "program_behaviour": labels.program_behaviour,
        "how_to_fill": lambda program, security: how_to_fill(program, security, labels.lang()),
        "is_fragment": wants_fragment,
        "moment": labels.moment,
        "device_label": learners.device_label,
        "device_page": learners.device_page,
    }


def program_securities(program: str, texts: dict[str, str]) -> list[tuple[str, str]]:
    """A program's security choices in its order, each with its text."""
    return [(str(value), texts[value]) for value in PROGRAMS[program].securities]


@bp.get("")
def home() -> ResponseReturnValue:
    """Start or resume; once started: the connection sheet, the resume code and the devices."""
    lab, learner = current_lab(), learners.current_learner()
    if lab is None or learner is None:
        return render_template("sandbox/welcome.html", lab=lab)
    device_list = learners.devices().devices(learner.id)
    return render_template(
        "sandbox/home.html", learner=learner, sheet=learners.connection_sheet(lab, learner),
        devices=device_list, can_add=learners.can_add_device(device_list),
        latest=testing.latest_tests(learner),
    )


@bp.post("/commencer")
@throttle("RATELIMIT_START")
def start() -> ResponseReturnValue:
    """A new anonymous learner, with a lab account and a first device."""
    learners.start_learner(required_lab())
    return redirect(url_for(".home"), 303)


@bp.post("/reprendre")
@throttle("RATELIMIT_RESUME")
def resume() -> ResponseReturnValue:
    """Continue with a resume code typed on another computer or phone."""
    if current_lab() is None or learners.resume_learner(request.form.get("code", "")) is None:
        return render_template("sandbox/welcome.html", lab=current_lab(), unknown_code=True,
                               typed_code=request.form.get("code", "")), 404
    return redirect(url_for(".home"), 303)


@bp.post("/quitter")
def leave() -> ResponseReturnValue:
    """Leave the sandbox on this browser; the resume code still works."""
    learners.forget_learner()
    return redirect(url_for(".home"), 303)


@bp.post("/appareils")
def add_device() -> ResponseReturnValue:
    """Add the phone (two devices at most), with the mail program the learner chose."""
    learner = learners.current_learner()
    if learner is None:
        abort(404)
    program = request.form.get("program", "")
    if program and not may_run_on(program, "phone"):
        abort(400)
    device = learners.add_device(learner, program)
    if device is None:
        flash("device_limit")
        return redirect(url_for(".home"), 303)
    return redirect(url_for(".settings", device_id=device.id), 303)


@bp.post("/appareils/<int:device_id>/logiciel")
def change_program(device_id: int) -> ResponseReturnValue:
    """Install another mail program on a device: its settings stay, in the new program's form."""
    _lab, _learner, device = learners.require_device(device_id)
    if learners.device_page(device, "settings"):
        abort(404)  # a scenario's device: the scenario chose its program
    program = request.form.get("program", "")
    if not may_run_on(program, device.kind):
        abort(400)
    learners.devices().change_program(device, program)
    return redirect(url_for(".settings", device_id=device.id), 303)


@bp.route("/appareils/<int:device_id>/reglages", methods=["GET", "POST"])
def settings(device_id: int) -> ResponseReturnValue:
    """Thunderbird's manual configuration: save, and test with the button pressed."""
    lab, learner, device = learners.require_device(device_id)
    elsewhere = learners.device_page(device, "settings")
    if elsewhere:  # a scenario's device: only its player's form is seen by the scenario
        return redirect(elsewhere, 303 if request.method == "POST" else 302)
    if request.method == "GET":
        form = settings_form.form_from_device(device)
        outcome = settings_form.SettingsOutcome("shown", form, device)
        return _settings_page(outcome, request.args.get("essai", type=int))
    outcome = settings_form.save_and_test(lab, learner, device, request.form)
    if outcome.status in ("tested", "saved") and not wants_fragment():
        if outcome.status == "saved":
            flash("settings_saved")
        # Post/Redirect/Get: a reload shows the result again instead of testing again.
        return redirect(url_for(".settings", device_id=device.id, essai=outcome.trace_id,
                                _anchor="resultat" if outcome.trace_id else None), 303)
    status = settings_form.STATUS_CODES.get(outcome.status, 200)
    return _settings_page(outcome, outcome.trace_id), status


def _settings_page(outcome: settings_form.SettingsOutcome, trace_id: int | None) -> str:
    lab, learner = current_lab(), learners.current_learner()
    assert lab is not None and learner is not None
    template = "sandbox/_settings.html" if wants_fragment() else "sandbox/settings.html"
    return render_template(
        template, outcome=outcome, device=outcome.device, form=outcome.form,
        record=testing.trace_record(learner, trace_id) if trace_id else None,
        sheet=learners.connection_sheet(lab, learner), learner=learner,
    )


@bp.post("/appareils/<int:device_id>/exception")
def accept_risk(device_id: int) -> ResponseReturnValue:
    """"Confirmer l'exception de sécurité": trust a certificate anyway (and it is recorded)."""
    _lab, _learner, device = learners.require_device(device_id)
    elsewhere = learners.device_page(device, "settings")
    if elsewhere:
        return redirect(elsewhere, 303)
    host = request.form.get("host", "")
    if host:
        learners.devices().accept_risk(device, host)
    return redirect(url_for(".settings", device_id=device.id), 303)


@bp.get("/essais/<int:trace_id>")
def trace(trace_id: int) -> ResponseReturnValue:
    """One stored test, sending or download: the whole story."""
    record = testing.trace_record(learners.current_learner(), trace_id)
    if record is None:
        abort(404)
    template = "sandbox/_record.html" if wants_fragment() else "sandbox/trace.html"
    return render_template(template, record=record)
