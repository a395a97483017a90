"""The step trace as the executor sends it: the JSON the gateway's history stores as it is."""

from __future__ import annotations

import base64

import orjson

from executors.runtime.context import RECORD_LIMIT, StepTrace
from executors.translate import trace_json


def test_steps_without_documents_are_compact_rows() -> None:
    encoded, recorded = trace_json([StepTrace("processes.q.steps[0]", "map", 9, 1, 1, "")])
    assert not recorded
    assert orjson.loads(encoded) == [["processes.q.steps[0]", "map", 9, 1, 1, ""]]


def test_recorded_documents_carry_their_size_and_are_cut_at_the_limit() -> None:
    big = "é".encode() * RECORD_LIMIT  # two bytes a character: the cut falls inside one
    binary = bytes(range(256))
    encoded, recorded = trace_json(
        [StepTrace("processes.q.steps[1]", "set", 3, 2, 1, "", [big, binary], [b'{"a":1}'])]
    )
    assert recorded
    (step,) = orjson.loads(encoded)
    assert step["path"] == "processes.q.steps[1]"
    cut, raw = step["inputs"]
    assert cut["size"] == len(big) and cut["truncated"]
    assert cut["text"] == "é" * (RECORD_LIMIT // 2)
    assert raw == {"base64": base64.b64encode(binary).decode(), "size": 256, "truncated": False}
    assert step["outputs"] == [{"text": '{"a":1}', "size": 7, "truncated": False}]
