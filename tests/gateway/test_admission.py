"""The admission limiter on its own: limits, FIFO queues, bounded waits, refusals that name the
limit, and slots that always come back (answered, refused, cancelled, detached)."""

from __future__ import annotations

import asyncio
import timeit

import pytest

from gateway.admission import (
    Admission,
    AdmissionLimits,
    Admitted,
    Limit,
    RuntimeLimits,
    limits_from_settings,
)
from gateway.errors import GatewayError
from gateway.settings import GatewaySettings


def admission(
    runtime: tuple[int, int] = (2, 2),
    user: tuple[int, int] = (10, 10),
    detached: int = 5,
    wait_s: float = 0.2,
    **overrides: RuntimeLimits,
) -> Admission:
    default = RuntimeLimits(Limit(*runtime), Limit(*user), detached)
    return Admission(AdmissionLimits(default, wait_s, overrides))


async def test_under_the_limit_requests_pass_at_once_and_give_their_slots_back() -> None:
    gate = admission(runtime=(2, 0))
    first = await gate.admit("A", "u1")
    second = await gate.admit("A", "u2")
    assert gate.counts()["A"].running == 2
    first.release()
    first.release()  # idempotent: a second release does not free someone else's slot
    second.release()
    assert gate.counts()["A"].running == 0
    await gate.admit("A", "u1")  # the slots came back


async def test_a_full_runtime_with_a_full_queue_refuses_at_once_with_503_naming_the_limit() -> None:
    gate = admission(runtime=(1, 1), wait_s=5)
    held = await gate.admit("A", "u1")
    queued = asyncio.create_task(gate.admit("A", "u2"))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(GatewayError) as refused:
        await gate.admit("A", "u3")
    assert loop.time() - started < 0.1  # refused, not queued: the queue was full
    error = refused.value
    assert (error.status, error.code) == (503, "runtime_busy")
    assert error.headers == {"Retry-After": "5"}
    assert "FLOWHOST_ADMISSION_RUNTIME_CONCURRENCY" in error.message
    assert "runtime 'A' may run 1 Flow requests at once" in error.message
    assert error.details["setting"] == "FLOWHOST_ADMISSION_RUNTIME_CONCURRENCY"
    held.release()
    (await queued).release()
    assert gate.counts()["A"].refused == {"runtime": 1}


async def test_a_refusal_for_a_full_queue_can_be_answered_later_not_at_once() -> None:
    """So that a client ignoring Retry-After cannot loop on refusals as fast as they come."""
    limits = AdmissionLimits(RuntimeLimits(Limit(1, 0), Limit(10, 0), 5), 1.0, {}, 0.1)
    gate = Admission(limits)
    held = await gate.admit("A", "u1")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(GatewayError):
        await gate.admit("A", "u2")
    assert loop.time() - started >= 0.09
    held.release()
    assert gate.counts()["A"].running == 0
    assert gate._users == {}


async def test_a_queued_request_is_refused_when_its_wait_runs_out() -> None:
    gate = admission(runtime=(1, 4), wait_s=0.05)
    held = await gate.admit("A", "u1")
    with pytest.raises(GatewayError) as refused:
        await gate.admit("A", "u2")
    assert refused.value.code == "runtime_busy"
    assert refused.value.headers["Retry-After"] == "1"  # rounded up, at least 1 s
    assert gate.counts()["A"].queued == 0  # it left the queue
    held.release()
    assert gate.counts()["A"].running == 0


async def test_the_queue_is_first_come_first_served() -> None:
    gate = admission(runtime=(1, 10), wait_s=5)
    held = await gate.admit("A", "u")
    order: list[int] = []

    async def queue(number: int) -> None:
        ticket = await gate.admit("A", f"u{number}")
        order.append(number)
        await asyncio.sleep(0)
        ticket.release()

    tasks = [asyncio.create_task(queue(n)) for n in range(5)]
    await asyncio.sleep(0.01)
    assert gate.counts()["A"].queued == 5
    held.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]
    assert gate.counts()["A"].running == 0


async def test_a_newcomer_does_not_overtake_the_queue_when_a_slot_frees() -> None:
    gate = admission(runtime=(1, 10), wait_s=5)
    held = await gate.admit("A", "u")
    waiting = asyncio.create_task(gate.admit("A", "first"))
    await asyncio.sleep(0)
    held.release()  # the slot goes to the waiter, not to whoever asks next
    late = asyncio.create_task(gate.admit("A", "late"))
    first = await waiting
    await asyncio.sleep(0)
    assert not late.done()
    first.release()
    (await late).release()


async def test_a_client_that_goes_away_while_queued_leaves_no_slot_behind() -> None:
    gate = admission(runtime=(1, 10), wait_s=5)
    held = await gate.admit("A", "u")
    waiting = asyncio.create_task(gate.admit("A", "gone"))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert gate.counts()["A"].queued == 0
    held.release()
    assert gate.counts()["A"].running == 0


async def test_cancelled_just_after_being_handed_a_slot_passes_it_on() -> None:
    gate = admission(runtime=(1, 10), wait_s=5)
    held = await gate.admit("A", "u")
    unlucky = asyncio.create_task(gate.admit("A", "unlucky"))
    next_in_line = asyncio.create_task(gate.admit("A", "next"))
    await asyncio.sleep(0)
    held.release()  # hands the slot to `unlucky`...
    unlucky.cancel()  # ...which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await unlucky
    (await asyncio.wait_for(next_in_line, 1)).release()
    assert gate.counts()["A"].running == 0


async def test_one_user_cannot_take_the_whole_runtime_and_gets_429() -> None:
    gate = admission(runtime=(10, 0), user=(2, 0))
    tickets = [await gate.admit("A", "greedy") for _ in range(2)]
    with pytest.raises(GatewayError) as refused:
        await gate.admit("A", "greedy")
    assert (refused.value.status, refused.value.code) == (429, "too_many_requests")
    assert "FLOWHOST_ADMISSION_USER_CONCURRENCY" in refused.value.message
    other = await gate.admit("A", "polite")  # another user of the runtime still gets in
    for ticket in [*tickets, other]:
        ticket.release()
    assert gate.counts()["A"].refused == {"user": 1}
    assert gate._users == {}  # idle users are forgotten: memory follows use


async def test_a_user_admitted_but_refused_by_the_runtime_gives_the_user_slot_back() -> None:
    gate = admission(runtime=(1, 0), user=(1, 0))
    held = await gate.admit("A", "first")
    with pytest.raises(GatewayError):
        await gate.admit("A", "second")
    held.release()
    (await gate.admit("A", "second")).release()  # its user slot was not kept


async def test_runtimes_do_not_share_limits_and_overrides_apply_to_their_runtime() -> None:
    small = RuntimeLimits(Limit(1, 0), Limit(10, 0), 5)
    gate = admission(runtime=(3, 0), bulk=small)
    held = await gate.admit("bulk", "u")
    with pytest.raises(GatewayError):
        await gate.admit("bulk", "u")
    others = [await gate.admit("A", "u") for _ in range(3)]  # the default, untouched by bulk
    for ticket in [held, *others]:
        ticket.release()


async def test_a_detached_execution_frees_its_request_slot_and_counts_until_it_ends() -> None:
    gate = admission(runtime=(1, 0), detached=1)
    ticket = await gate.admit("A", "u")
    ticket.check_detachable()
    ended = ticket.detach()
    assert (gate.counts()["A"].running, gate.counts()["A"].detached) == (0, 1)
    ticket.release()  # the request's own release after WAIT does nothing more
    second = await gate.admit("A", "u")  # the request slot is free for a new request
    with pytest.raises(GatewayError) as refused:
        second.check_detachable()  # but no second execution may run on past WAIT
    assert refused.value.code == "runtime_busy"
    assert "FLOWHOST_ADMISSION_DETACHED" in refused.value.message
    ended()
    ended()  # idempotent
    second.check_detachable()
    second.release()
    assert gate.counts()["A"].detached == 0


def test_the_settings_make_the_limits_with_queues_and_per_runtime_overrides() -> None:
    settings = GatewaySettings(
        admission_runtime_concurrency=100,
        admission_user_concurrency=10,
        admission_queue_factor=1.5,
        admission_runtimes={"bulk": {"runtime": 4}},
    )
    limits = limits_from_settings(settings)
    assert limits.of("any") == RuntimeLimits(Limit(100, 150), Limit(10, 15), 1000)
    assert limits.of("bulk") == RuntimeLimits(Limit(4, 6), Limit(10, 15), 1000)


def test_a_misspelt_override_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="runtimes"):
        GatewaySettings(admission_runtimes={"bulk": {"runtimes": 4}})


async def test_the_uncontended_path_is_cheap() -> None:
    """Measured, not asserted tightly: prints the figure the module docstring states."""
    gate = admission(runtime=(10, 0))

    async def one() -> Admitted:
        return await gate.admit("A", "u")

    def admit_release() -> None:
        coroutine = one()
        try:
            coroutine.send(None)
        except StopIteration as done:
            done.value.release()

    seconds = min(timeit.repeat(admit_release, number=20_000, repeat=3)) / 20_000
    print(f"admit + release: {seconds * 1e6:.2f} us")
    assert seconds < 50e-6  # an order of magnitude under any request's own cost
