"""Checks of a scenario's walkthrough: each step does one known thing on a known device."""

from __future__ import annotations

from pixlab.client.errors import CATALOGUE
from pixlab.client.programs import DEFAULT_PROGRAM, PROGRAMS
from pixlab.scenarios.fields import Problems, did_you_mean
from pixlab.scenarios.schema import FALLBACK_STEPS, STEP_ACTIONS, Scenario, Step
from pixlab.scenarios.settings import SETTING_FIELDS, SettingError, coerce
from pixlab.scenarios.settings import expand_editable as editable_of


def check_walkthrough(scenario: Scenario, problems: Problems) -> None:
    """A walkthrough's steps, and the mistakes they must record."""
    walkthrough = scenario.walkthrough
    assert walkthrough is not None
    if not walkthrough.solution:
        problems.error("walkthrough.solution", "give the steps of the right solution")
    for name, steps in (("solution", walkthrough.solution), ("mistake", walkthrough.mistake)):
        for n, step in enumerate(steps, 1):
            _check_step(scenario, step, f"walkthrough.{name}[{n}]", problems)
    mistake_ids = [m.id for m in scenario.mistakes]
    for n, mistake in enumerate(walkthrough.expected_mistakes, 1):
        if mistake not in mistake_ids:
            problems.error(f"walkthrough.expected_mistakes[{n}]", f"unknown mistake '{mistake}'"
                           + did_you_mean(mistake, mistake_ids))
    if bool(walkthrough.mistake) != bool(walkthrough.expected_mistakes):
        problems.error("walkthrough.expected_mistakes", "give both the mistake steps and the "
                       "mistakes they must record")


def _check_step(scenario: Scenario, step: Step, path: str, problems: Problems) -> None:
    actions = [k for k, v in (("set", step.set), ("do", step.do), ("wait", step.wait)) if v]
    if len(actions) != 1:
        problems.error(path, "each step does one thing: set = { … }, do = \"…\" or wait = …")
        return
    device_ids = [d.id for d in scenario.devices]
    needs_device = actions[0] == "set" or (
        step.do not in (None, "reset_password", "create_app_password"))
    if needs_device and step.device not in device_ids:
        problems.error(f"{path}.device", f"unknown device '{step.device}'"
                       + did_you_mean(step.device or "", device_ids))
        return
    if step.do is not None and step.do not in STEP_ACTIONS:
        problems.error(f"{path}.do", f"unknown action '{step.do}'"
                       + did_you_mean(step.do, STEP_ACTIONS))
    if step.do == "send" and not step.to:
        problems.error(f"{path}.to", "say who to send it to: to = [\"…\"]")
    if step.do in ("read", "move", "delete", "archive") and step.message is None:
        problems.error(f"{path}.message", "say which message: part of its subject")
    if step.do in ("move", "archive") and step.target is None:
        problems.error(f"{path}.target", "say which folder to move it to")
    if step.do == "create_folder" and not step.target:
        problems.error(f"{path}.target", "say which folder to create: target = \"…\"")
    if step.do in FALLBACK_STEPS and not getattr(PROGRAMS.get(
            scenario.device(step.device or "").program or DEFAULT_PROGRAM),
            "offers_ssl_fallback", False):
        problems.error(f"{path}.do", f"the program of '{step.device}' never offers to go on "
                       "without SSL — give that device program = \"iphone\"")
    if step.do == "reinstall" and not scenario.device(step.device or "").reinstall:
        problems.error(f"{path}.do", f"'{step.device}' cannot be reinstalled here — add "
                       "reinstall = true to that device")
    if step.expect_error is not None and step.expect_error not in CATALOGUE:
        problems.error(f"{path}.expect_error", f"unknown error '{step.expect_error}'"
                       + did_you_mean(step.expect_error, CATALOGUE))
    if step.set:
        editable = editable_of(scenario.device(step.device or "").editable)
        for key, value in step.set.items():
            if key not in SETTING_FIELDS:
                problems.error(f"{path}.set.{key}", f"unknown setting '{key}'"
                               + did_you_mean(key, SETTING_FIELDS))
            elif key not in editable:
                problems.error(f"{path}.set.{key}", f"the learner may not change '{key}' on "
                               f"'{step.device}' — add it to that device's editable")
            else:
                try:
                    coerce(key, value)
                except SettingError as exc:
                    problems.error(f"{path}.set.{key}", exc.reason)

