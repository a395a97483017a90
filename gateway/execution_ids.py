"""Execution ids: unique across gateways and restarts, ordered by time, cheap to make.

An id is `<milliseconds since the epoch, 11 hex digits>-<random per gateway process>-<counter>`,
e.g. `19ab4c0ffee-5e1f0a2b-1f`. Ids sort by the time their request arrived (to the millisecond),
and the history finds an execution by that time (gateway/history/store.py).
"""

from __future__ import annotations

import itertools
import os
import time


class ExecutionIds:
    def __init__(self) -> None:
        self._process = os.urandom(4).hex()
        self._counter = itertools.count(1)
        self._ms = -1
        self._head = ""

    def __call__(self) -> str:
        ms = int(time.time() * 1000)
        if ms != self._ms:  # many requests share a millisecond: format its part once
            self._ms = ms
            self._head = f"{ms:011x}-{self._process}-"
        return f"{self._head}{next(self._counter):x}"


def issued_at(execution_id: str) -> float | None:
    """Epoch seconds an id was made at, or None for an id in another form."""
    head, _, _ = execution_id.partition("-")
    if len(head) != 11:
        return None
    try:
        return int(head, 16) / 1000
    except ValueError:
        return None
