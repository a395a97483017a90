"""Refusals of the execution limits (policy.py ``ExecutionLimits``): one message shape for all.

Every refusal names the limit and its value, e.g. ``'range(.n)' gives more outputs than the
execution limit split_fanout (10,000) allows``; the operator raises a limit in the runtime's
policy.
"""

from __future__ import annotations

from .errors import StepError

#: The code an execution fails with when it passes one of its limits.
LIMIT_EXCEEDED = "limit_exceeded"


def limit_exceeded(limit: str, value: int, what: str) -> StepError:
    """The error a step raises: ``what`` went past ``limit``, whose value is ``value``."""
    return StepError(
        f"{what} than the execution limit {limit} ({value:,}) allows; "
        "the operator sets it in the runtime's policy",
        code=LIMIT_EXCEEDED,
    )
