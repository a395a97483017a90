"""Canned answers: the hook through which a package test answers a step's outside calls.

A package's tests (``flowhost test``) run the real step engine with no network: the test runner
hands ``CompiledPackage.run`` an ``Answers`` and every step that would reach outside (``http``,
``flow``, a broker's ``request``) asks it instead of sending, and a ``publish`` hands it the
message instead (the test may expect what was published). A call the test did not foresee fails
the step with ``unanswered_call`` naming it, so a test never reaches a real server by accident.
Production never sets the hook (``RunContext.answers`` is None) and the steps send as usual.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import StepError

#: The code of the failure when a test did not give an answer for a call.
UNANSWERED = "unanswered_call"


@dataclass(frozen=True)
class Answer:
    """What a canned call answers: an HTTP status, headers and a JSON (or text) body.

    For a ``flow`` call, ``body`` is the Flow's output values by name; for a broker ``request``,
    the reply's body and headers (the status means nothing there).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Answers(Protocol):
    """Answers a step's outside call: ``kind`` is the step type (``http``, ``flow``,
    ``request``), ``target`` what it calls (``GET https://host/path`` for http, the flow id for
    flow, the expanded subject, queue or topic for request)."""

    def answer(self, kind: str, target: str) -> Answer: ...

    def publish(self, target: str, message: dict[str, Any]) -> None:
        """Takes what a ``publish`` step sends to ``target`` (``{subject: …, body: …}``);
        raises ``unanswered`` when the test foresaw no publish there."""


def unanswered(kind: str, target: str) -> StepError:
    """The failure of a call that no canned answer matches."""
    return StepError(
        f"no canned answer for {kind} call {target} (add one to the test's answers)",
        code=UNANSWERED,
    )
