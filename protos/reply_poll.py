"""Waiting for the other end of the execution link without going to sleep, when it is quiet.

At one connection every request crosses the link twice, and each end then sleeps in epoll until
the other answers: the kernel has to wake a sleeping process (on a VM, often a halted vCPU)
twice per request, and that wake-up, not the work, was most of flowhost's time at low load
(docs/benchmark.md, "Polling for the answer"). After an end writes a frame it expects answered
soon, `ReplyPoll` keeps its event loop turning for up to `budget_s`: one callback chained with
`call_soon`, so the loop polls its sockets with a zero timeout instead of sleeping, until a frame
arrives (`heard`) or the budget is spent.

It polls only while the link is quiet: at most QUIET_LOAD requests under way. Past that the
process rarely sleeps anyway, and on a machine with fewer cores than busy processes (the
gateway, the executor, the load) a poll would spin on a core another process needs: measured at
64 connections on two cores, polling always cost the executor ~25 µs a request for nothing.

A poll that spends its whole budget unanswered (an execution that takes longer, a Flow user who
has not clicked yet) is a miss: after `k` misses in a row the next 2**k - 1 chances go unpolled
(at most 63), and one answered poll starts over, so a link whose answers are slow wastes at most
one budget in 64 frames. A budget of 0 turns polling off.
"""

from __future__ import annotations

import asyncio
import time

#: The most requests under way (this end's count) for which a poll runs.
QUIET_LOAD = 2
#: Misses in a row that cost nothing more: an answer that sometimes comes just past the budget
#: (when the other end is asleep, its answer comes later) must not switch polling off.
TOLERATED_MISSES = 2
#: Misses in a row after which the back-off stops growing (2**6 - 1 = 63 chances skipped).
MAX_MISSES = TOLERATED_MISSES + 6


class ReplyPoll:
    def __init__(self, budget_s: float) -> None:
        self._budget_s = budget_s
        self._polling = False
        self._heard = False
        self._until = 0.0
        self._misses = 0
        self._skip = 0
        #: Polls that ended with the answer, and those that spent their budget (for tests and
        #: the benchmark's notes; two integers, no metric on the hot path).
        self.answered = 0
        self.missed = 0

    def heard(self) -> None:
        """A frame from the other end arrived."""
        self._heard = True

    def expect(self, load: int) -> None:
        """A frame that the other end answers soon has just been written; `load`: how many
        requests this end has under way (polls run only up to QUIET_LOAD)."""
        if not self._budget_s or self._polling or load > QUIET_LOAD:
            return
        if self._skip:
            self._skip -= 1
            return
        self._polling = True
        self._heard = False
        self._until = time.perf_counter() + self._budget_s
        asyncio.get_running_loop().call_soon(self._turn)

    def _turn(self) -> None:
        if self._heard:
            self._polling = False
            self._misses = 0
            self.answered += 1
        elif time.perf_counter() >= self._until:
            self._polling = False
            self._misses = min(self._misses + 1, MAX_MISSES)
            self._skip = (1 << max(0, self._misses - TOLERATED_MISSES)) - 1
            self.missed += 1
        else:
            asyncio.get_running_loop().call_soon(self._turn)
