"""What one operation of the simulated client did: steps, transcript, wire, error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# The steps of a connection, in the order a mail program goes through them.
STEP_NAMES = (
    "resolve",  # the host name becomes an address
    "tcp",  # the connection opens
    "tls",  # encryption starts (SSL/TLS at once, or after STARTTLS)
    "greeting",  # the server says hello
    "capabilities",  # what the server offers
    "auth",  # user name and password
    "mailbox",  # folders and messages (IMAP, POP3)
    "send",  # the message goes out (SMTP)
)

OK, FAILED, WARNING = "ok", "failed", "warning"


@dataclass
class Step:
    """One step of a connection, with what it found."""

    name: str
    status: str = OK
    duration_ms: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class TranscriptLine:
    """One line of the exchange; secrets are masked, and flagged when they crossed in clear."""

    direction: str  # "C" (client) or "S" (server)
    text: str
    secret: bool = False
    cleartext: bool = False


@dataclass
class ErrorReport:
    """A failure, as the stdlib raised it and as a learner should understand it."""

    key: str  # the entry of the error catalogue
    exception: str  # repr() of the exception, exactly as raised
    step: str


@dataclass
class Trace:
    """The whole story of one operation (test, fetch, send, …)."""

    operation: str
    protocol: str
    host: str
    port: int
    security: str
    steps: list[Step] = field(default_factory=list)
    transcript: list[TranscriptLine] = field(default_factory=list)
    connection_ids: list[str] = field(default_factory=list)
    error: ErrorReport | None = None
    warnings: list[str] = field(default_factory=list)  # catalogue keys (e.g. risk accepted)
    result: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        """Whether the operation succeeded."""
        return self.error is None

    @property
    def failed_step(self) -> Step | None:
        """The step that failed, if any."""
        return next((s for s in self.steps if s.status == FAILED), None)

    def step_named(self, name: str) -> Step | None:
        """The last step of that name."""
        return next((s for s in reversed(self.steps) if s.name == name), None)

    @contextmanager
    def step(self, name: str, **details: Any) -> Iterator[Step]:
        """Time a step; an exception marks it failed and goes on up."""
        step = Step(name, details=dict(details))
        self.steps.append(step)
        started = time.perf_counter()
        try:
            yield step
        except BaseException:
            step.status = FAILED
            raise
        finally:
            step.duration_ms = round((time.perf_counter() - started) * 1000, 1)

    def client_said(self, text: str, *, secret: bool = False, cleartext: bool = False) -> None:
        """Add a client line to the transcript."""
        self.transcript.append(TranscriptLine("C", text, secret, cleartext))

    def server_said(self, text: str) -> None:
        """Add a server line to the transcript."""
        self.transcript.append(TranscriptLine("S", text))
