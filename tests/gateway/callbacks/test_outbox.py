"""The callback outbox on real SQLite and PostgreSQL: states, leases, progress, redelivery."""

from __future__ import annotations

import dataclasses
import time

import pytest

from gateway.callbacks.outbox import Callback, Outbox, UnknownCallback, Waiting, callbacks
from gateway.store import Store, StoreError


def _waiting(execution_id: str = "e-1") -> Waiting:
    return Waiting(
        execution_id=execution_id,
        runtime="default",
        service_path="shop",
        action="quote",
        deployment="shop@1.0.0",
        process="quote",
        executor="127.0.0.1:50051",
        executor_id="abc",
        callback_uri="http://127.0.0.1:9/cb",
        tenant_id="ten",
        flow_user="",
        request="{}",
        started_at=time.time(),
    )


@pytest.fixture
def outbox(store: Store) -> Outbox:
    return Outbox(store.engine)


def test_a_running_callback_becomes_due_once_its_result_is_in(outbox: Outbox) -> None:
    outbox.add_running(_waiting(), poll_at=time.time() - 1)
    assert [r.id for r in outbox.running_due(time.time(), 10)] == ["e-1"]
    assert outbox.claim(time.time(), 30, 10) == []  # nothing to deliver yet
    assert outbox.complete("e-1", '{"invokeType": "FORWARD"}') is True
    assert outbox.complete("e-1", "{}") is False  # the stream and a poll both brought it
    assert outbox.running_due(time.time(), 10) == []
    claimed = outbox.claim(time.time(), 30, 10)
    assert [c.body for c in claimed] == ['{"invokeType": "FORWARD"}']
    assert outbox.claim(time.time(), 30, 10) == []  # leased
    assert outbox.delivered(claimed[0], 1) is True
    row = outbox.get("e-1")
    assert (row.state, row.attempts) == ("delivered", 1)


def test_retry_then_dead_letter_then_redeliver(outbox: Outbox) -> None:
    outbox.add_running(_waiting(), poll_at=time.time())
    outbox.complete("e-1", "{}")
    [first] = outbox.claim(time.time(), 30, 10)
    outbox.retry(first, 1, time.time() + 60, "HTTP 503")
    assert outbox.claim(time.time(), 30, 10) == []  # not due for a minute
    [second] = outbox.claim(time.time() + 61, 30, 10)
    outbox.dead(second, 2, "HTTP 500")
    assert [r.id for r in outbox.list(state="dead")] == ["e-1"]
    assert outbox.get("e-1").last_error == "HTTP 500"
    outbox.redeliver("e-1")
    again = outbox.claim(time.time(), 30, 10)
    assert [(r.id, r.attempts) for r in again] == [("e-1", 0)]
    with pytest.raises(StoreError, match="only dead or delivered"):
        outbox.redeliver("e-1")
    with pytest.raises(UnknownCallback):
        outbox.redeliver("nope")


def test_progress_is_replaced_and_then_superseded(outbox: Outbox) -> None:
    assert outbox.progress("e-1", "{}") is False  # no WAIT answered for it
    outbox.add_running(_waiting(), poll_at=time.time() + 60)
    assert outbox.progress("e-1", '{"waitMessage": "one"}') is True
    assert outbox.progress("e-1", '{"waitMessage": "two"}') is True
    pending = outbox.list(state="pending")
    assert [(r.kind, r.body) for r in pending] == [("progress", '{"waitMessage": "two"}')]
    outbox.complete("e-1", "{}")
    assert outbox.get("e-1~progress").state == "superseded"
    assert outbox.progress("e-1", "{}") is False  # after the result, progress means nothing
    assert [r.kind for r in outbox.claim(time.time(), 30, 10)] == ["final"]


def test_two_claimers_never_share_a_callback(store_url: str) -> None:
    with Store(store_url) as one, Store(store_url) as two:
        first, second = Outbox(one.engine), Outbox(two.engine)
        for i in range(5):
            first.add_running(_waiting(f"e-{i}"), poll_at=time.time())
            first.complete(f"e-{i}", "{}")
        now = time.time()
        a = {r.id for r in first.claim(now, 30, 3)}
        b = {r.id for r in second.claim(now, 30, 10)}
        assert a.isdisjoint(b) and len(a | b) == 5


def test_an_attempt_that_outlived_its_lease_does_not_undo_the_next_holders(
    store_url: str,
) -> None:
    """Gateway A's lease runs out mid-attempt (paused, or Flow answered it late) and gateway B
    claims the callback: A's late outcome must not clear B's lease, or C sends it a third time."""
    with Store(store_url) as a_store, Store(store_url) as b_store:
        a, b = Outbox(a_store.engine), Outbox(b_store.engine)
        a.add_running(_waiting(), poll_at=time.time())
        a.complete("e-1", "{}")
        now = time.time()
        [held_by_a] = a.claim(now, 30, 10)
        [held_by_b] = b.claim(now + 31, 30, 10)  # A's lease is over
        assert a.retry(held_by_a, 1, now, "HTTP 503") is False  # too late: not recorded
        assert b.claim(now + 32, 30, 10) == []  # still B's
        assert b.delivered(held_by_b, 1) is True
        assert (b.get("e-1").state, b.get("e-1").attempts) == ("delivered", 1)
        assert a.dead(held_by_a, 2, "late") is False
        assert a.get("e-1").state == "delivered"


def test_prune_keeps_what_is_still_owed(outbox: Outbox) -> None:
    outbox.add_running(_waiting("e-1"), poll_at=time.time())
    outbox.add_running(_waiting("e-2"), poll_at=time.time())
    outbox.complete("e-2", "{}")
    [claimed] = outbox.claim(time.time(), 30, 10)
    outbox.delivered(claimed, 1)
    assert outbox.prune(time.time() + 1) == 1
    assert [r.id for r in outbox.list()] == ["e-1"]


def test_released_leases_are_claimable_at_once(outbox: Outbox) -> None:
    outbox.add_running(_waiting(), poll_at=time.time())
    outbox.complete("e-1", "{}")
    assert len(outbox.claim(time.time(), 30, 10)) == 1
    outbox.release(["e-1"])
    assert len(outbox.claim(time.time(), 30, 10)) == 1


def test_a_callback_record_holds_every_column_of_its_row() -> None:
    """A column added to the table without a field would fail every read of the outbox."""
    assert [f.name for f in dataclasses.fields(Callback)] == [c.name for c in callbacks.columns]
