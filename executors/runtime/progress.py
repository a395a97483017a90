"""Where a running execution sends interim progress messages (the ``progress`` step).

The engine stays free of transport: whoever starts an execution (the executor's servicer) sets
``progress_sink`` in the context the execution's task runs in, and the ``progress`` step calls
it. Without a sink (tests, an execution nobody can wait on) the message is only logged.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

#: Receives each progress message of the execution running in this context.
progress_sink: ContextVar[Callable[[str], None] | None] = ContextVar(
    "flowhost_progress_sink", default=None
)


def report_progress(message: str) -> bool:
    """Hand `message` to the sink of the running execution; False when there is none."""
    sink = progress_sink.get()
    if sink is None:
        return False
    sink(message)
    return True
