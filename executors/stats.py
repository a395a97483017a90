"""What the executor counts for the gateway's /metrics: plain ints, bumped on the stream.

The execution stream adds to these once per message (not per request), and `Describe` reports
them with the host's gauges (executors/translate.py `stats_to_proto`); the gateway turns them
into metrics at scrape time. Nothing here costs more than an integer add on the hot path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class StreamStats:
    """Counters since the executor started, over all its execution streams."""

    requests_received: int = 0
    request_batches: int = 0
    results_sent: int = 0
    result_batches: int = 0
    rejected: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self.started
