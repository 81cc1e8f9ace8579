"""Playing a scenario's `[walkthrough]` through the engine, the real client and the real lab.

The tests play every shipped scenario's solution and typical mistake this way,
so a new scenario needs data only. The player does what a learner does, with
two shortcuts: it finds a message by its subject in the store rather than by
clicking, and `wait` moves the engine's clock instead of sleeping when it can.
"""

from __future__ import annotations

import email
import email.policy
import time
from dataclasses import dataclass, field

from pixlab.scenarios.attempt import Attempt, Outcome
from pixlab.scenarios.engine import ScenarioEngine
from pixlab.scenarios.schema import FALLBACK_STEPS, Step, fill, local
from pixlab.scenarios.storage import MemoryLocalMail


class OffsetClock:
    """The real time plus an offset that `advance` moves: time passes without waiting."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Let some seconds pass."""
        self.offset += seconds


@dataclass
class WalkthroughResult:
    """How a walkthrough went: the attempt at the end, each step's outcome, what went wrong."""

    attempt: Attempt
    outcomes: list[tuple[Step, Outcome | None]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def play(
    engine: ScenarioEngine, slug: str, steps: tuple[Step, ...], learner: str, lang: str = "fr"
) -> WalkthroughResult:
    """Start a fresh attempt and play the steps; expectations that fail are listed, not raised."""
    attempt = engine.start(learner, slug, lang)
    result = WalkthroughResult(attempt)
    locals_ = {d.id: MemoryLocalMail() for d in engine.scenario(slug).devices}
    shown: dict[str, str] = {}  # what a page showed once ({app_password}), as the learner copies
    for n, step in enumerate(steps, 1):
        outcome = _play_step(engine, attempt.id, step, locals_, shown)
        result.outcomes.append((step, outcome))
        if outcome is not None and outcome.trace is not None:
            trace = outcome.trace
            error = trace.error.key if trace.error else None
            if step.expect_ok is not None and trace.ok != step.expect_ok:
                result.failures.append(f"step {n} ({step.do} on {step.device}): expected "
                                       f"{'success' if step.expect_ok else 'a failure'}, got "
                                       f"{error or 'success'}")
            if step.expect_error is not None and error != step.expect_error:
                result.failures.append(f"step {n} ({step.do} on {step.device}): expected "
                                       f"{step.expect_error}, got {error or 'success'}")
    result.attempt = engine.get(attempt.id)
    return result


def _play_step(
    engine: ScenarioEngine, attempt_id: int, step: Step, locals_: dict[str, MemoryLocalMail],
    shown: dict[str, str],
) -> Outcome | None:
    attempt = engine.get(attempt_id)
    values = {**attempt.values, **shown}
    if step.wait:
        if isinstance(engine.clock, OffsetClock):
            engine.clock.advance(step.wait)
        else:
            time.sleep(step.wait)
        return engine.refresh(attempt_id)
    if step.set:
        changes = {k: fill(v, values) if isinstance(v, str) else v for k, v in step.set.items()}
        engine.change_settings(attempt_id, step.device or "", changes)
        return None
    if step.do == "reset_password":
        engine.reset_password(attempt_id)
        return None
    if step.do == "create_app_password":
        shown["app_password"] = engine.create_app_password(attempt_id, step.target or "")
        return None
    device = step.device or ""
    if step.do == "reinstall":
        return engine.reinstall(attempt_id, device, locals_[device])
    if step.do in FALLBACK_STEPS:
        return engine.ssl_fallback(attempt_id, device, FALLBACK_STEPS[step.do])
    uid = None
    if step.do in ("read", "move", "delete", "archive"):
        wanted = fill(local(step.message, attempt.lang), values)
        uid = _find_uid(engine, attempt.address, step.folder, wanted)
    return engine.run(
        attempt_id, device, step.do or "", local=locals_[device], folder=step.folder, uid=uid,
        target=step.target, to=[fill(t, values) for t in step.to],
        subject=fill(step.subject, values), body=fill(step.body, values),
        sender=fill(step.sender, values), reply_to=fill(step.reply_to, values),
    )


def _find_uid(engine: ScenarioEngine, address: str, folder: str, subject: str) -> int | None:
    """The UID of the first message of a folder whose subject contains `subject`."""
    store = engine.lab.store
    account = store.account(address)
    found = store.folder(account.id, folder) if account else None
    if found is None:
        return None
    messages = store.messages(found.id)
    raws = store.raws(m.id for m in messages)
    for message in messages:
        parsed = email.message_from_bytes(raws.get(message.id, b""), policy=email.policy.default)
        if subject.lower() in str(parsed.get("Subject", "")).lower():
            return message.uid
    return None
