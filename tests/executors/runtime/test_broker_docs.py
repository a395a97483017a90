"""The `yaml broker` examples of docs/steps.md run against the real NATS on 127.0.0.1 and give
what the page says (the other examples run in test_docs_examples.py, which needs no broker)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from executors.runtime.brokers.pool import BROKERS
from executors.runtime.policy import RuntimePolicy
from executors.testing import run_process, values

from .brokers_util import NATS_URL, listening

pytestmark = pytest.mark.skipif(not listening(4222), reason="no NATS server on 127.0.0.1:4222")

STEPS = Path(__file__).resolve().parents[3] / "docs" / "steps.md"
FENCE = re.compile(r"^```(yaml broker|json brokerinput|json brokeroutput)\n(.*?)^```", re.S | re.M)


def _examples() -> list[tuple[str, list[Any], list[Any]]]:
    examples: list[tuple[str, list[Any], list[Any]]] = []
    for role, body in FENCE.findall(STEPS.read_text()):
        if role == "yaml broker":
            examples.append((body, [{}], []))
        elif role == "json brokerinput":
            examples[-1] = (examples[-1][0], json.loads(body), examples[-1][2])
        else:
            examples[-1] = (examples[-1][0], examples[-1][1], json.loads(body))
    return examples


EXAMPLES = _examples()


@pytest.fixture
async def nc() -> AsyncIterator[nats.NATS]:
    client = await nats.connect(NATS_URL)
    yield client
    await client.close()
    await BROKERS.aclose()


def test_the_page_has_both_examples() -> None:
    steps = [yaml.safe_load(body)["steps"][0] for body, _, _ in EXAMPLES]
    assert [next(iter(step)) for step in steps] == ["publish", "request"]
    assert all(output for _, _, output in EXAMPLES)


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
async def test_broker_example(index: int, nc: nats.NATS) -> None:
    body, inputs, output = EXAMPLES[index]

    async def order(msg: Any) -> None:
        asked = json.loads(msg.data)
        answer = json.dumps({"orderId": asked["orderId"], "state": "open"}).encode()
        await nc.publish(msg.reply, answer, headers={"Content-Type": "application/json"})

    await nc.subscribe("orders.docs.get-order.v1", cb=order)
    created = await nc.subscribe("orders.docs.created.v1")
    await nc.flush()
    package = {
        "name": "docs",
        "version": "1",
        "service": {
            "path": "docs",
            "configuration": [
                {"name": "ordersBus", "type": "password"},
                {"name": "prefix"},
                {"name": "suffix"},
            ],
        },
        "processes": {"example": yaml.safe_load(body)},
    }
    result = await run_process(
        yaml.safe_dump(package),
        "example",
        inputs,
        config={"ordersBus": NATS_URL, "prefix": "docs", "suffix": "v1"},
        policy=RuntimePolicy(allow_loopback=True),
    )
    assert result.status == "ok", result.error
    assert values(result) == output
    if "publish" in body:
        message = await created.next_msg(timeout=2)
        assert json.loads(message.data) == inputs[0]
        assert message.headers is not None
        assert (message.headers["Nats-Msg-Id"], message.headers["source"]) == ("42", "shop")
