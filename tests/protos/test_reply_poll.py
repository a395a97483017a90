"""ReplyPoll: the loop keeps turning until the answer comes or the budget is spent, and backs
off on a link whose answers come later than that."""

from __future__ import annotations

import asyncio
import time

from protos.reply_poll import MAX_MISSES, QUIET_LOAD, TOLERATED_MISSES, ReplyPoll


async def test_an_answer_within_the_budget_ends_the_poll() -> None:
    poll = ReplyPoll(0.5)
    poll.expect(1)
    asyncio.get_running_loop().call_later(0.02, poll.heard)
    await asyncio.sleep(0.1)
    assert (poll.answered, poll.missed) == (1, 0), "the poll did not end with the answer"
    cpu = time.process_time()
    await asyncio.sleep(0.1)
    assert time.process_time() - cpu < 0.05, "the loop kept polling after the answer"


async def _miss(poll: ReplyPoll) -> None:
    poll.expect(1)
    await asyncio.sleep(0.03)


async def test_unanswered_polls_stop_at_their_budget_and_back_off() -> None:
    poll = ReplyPoll(0.01)
    # The first misses in a row cost nothing more: every chance still polls.
    for missed in range(1, TOLERATED_MISSES + 1):
        await _miss(poll)
        assert (poll.answered, poll.missed) == (0, missed)
    # One more: the next chance is skipped, the one after polls (and misses) again.
    await _miss(poll)
    assert poll.missed == TOLERATED_MISSES + 1
    await _miss(poll)
    assert poll.missed == TOLERATED_MISSES + 1, "polled right after the back-off began"
    await _miss(poll)
    assert poll.missed == TOLERATED_MISSES + 2
    # Then three chances are skipped.
    for _ in range(3):
        await _miss(poll)
    assert poll.missed == TOLERATED_MISSES + 2
    # An answered poll starts over: the next chances poll again.
    poll.expect(1)
    poll.heard()
    await asyncio.sleep(0.01)
    assert poll.answered == 1
    await _miss(poll)
    await _miss(poll)
    assert poll.missed == TOLERATED_MISSES + 4


async def test_the_back_off_stops_growing() -> None:
    poll = ReplyPoll(0.001)
    chances = 0
    while poll.missed < MAX_MISSES + 3:
        poll.expect(1)
        chances += 1
        await asyncio.sleep(0.003)
    # Past MAX_MISSES every miss is followed by the same number of skipped chances.
    before = poll.missed
    skipped = 0
    while poll.missed == before:
        poll.expect(1)
        skipped += 1
        await asyncio.sleep(0.003)
    assert skipped - 1 == (1 << (MAX_MISSES - TOLERATED_MISSES)) - 1
    assert poll.answered == 0 and chances > poll.missed


async def test_a_busy_link_is_not_polled() -> None:
    poll = ReplyPoll(0.2)
    poll.expect(QUIET_LOAD + 1)
    cpu = time.process_time()
    await asyncio.sleep(0.1)
    assert time.process_time() - cpu < 0.05, "it polled with more than QUIET_LOAD under way"
    poll.expect(QUIET_LOAD)
    await asyncio.sleep(0.3)
    assert poll.missed == 1


async def test_while_polling_the_loop_does_not_sleep() -> None:
    """The point of it: other callbacks keep running as the poll turns the loop (an idle loop
    would sleep in its selector); with a budget of 0 it sleeps as before."""
    poll = ReplyPoll(0.2)
    poll.expect(1)
    cpu = time.process_time()
    await asyncio.sleep(0.1)
    polled_cpu = time.process_time() - cpu
    assert poll.missed == 0 and poll.answered == 0, "still polling within its budget"
    assert polled_cpu > 0.02, f"the loop slept while polling ({polled_cpu * 1000:.1f} ms CPU)"
    await asyncio.sleep(0.15)
    assert poll.missed == 1

    off = ReplyPoll(0.0)
    off.expect(1)
    cpu = time.process_time()
    await asyncio.sleep(0.1)
    assert time.process_time() - cpu < 0.05
    assert (off.answered, off.missed) == (0, 0)
