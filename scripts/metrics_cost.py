"""What the request path pays for metrics, log context and (off) tracing, per Flow request.

    .venv/bin/python scripts/metrics_cost.py

Times the pieces the Flow endpoints and the executor client add to each request, in
isolation: the labels, the count into the latency histogram, the log context, and the
(empty) traceparent in the ExecuteRequest. Compare the total with the gateway's CPU per request
that scripts/deadline_ab.py prints (~300 µs on a 2-core VM): on a machine too loaded for an
interleaved A/B to resolve 2%, this says what the change can cost at most.
"""

from __future__ import annotations

import time
import timeit

from gateway.logs import REQUEST
from gateway.metrics.flow import FlowMetrics, labels
from gateway.tracing import TRACEPARENT
from gateway.translate import Execution, execution_to_proto
from protos.flowhost.v1 import executor_pb2 as pb

N = 200_000


def _per_call_us(statement: str, namespace: dict[str, object]) -> float:
    best = min(timeit.repeat(statement, globals=namespace, number=N, repeat=5))
    return best / N * 1e6


def main() -> None:
    metrics = FlowMetrics()
    actions = {"quote": object()}
    execution = Execution("bench@1.0.0", "quote", [(b'{"a":1}', {})], execution_id="x-1")
    namespace: dict[str, object] = {
        "metrics": metrics,
        "labels": labels,
        "actions": actions,
        "time": time,
        "REQUEST": REQUEST,
        "TRACEPARENT": TRACEPARENT,
        "execution_to_proto": execution_to_proto,
        "execution": execution,
        "pb": pb,
    }
    parts = {
        "labels": "labels('default', 'bench', '/actions/quote', 'POST', "
        "'quote' if 'quote' in actions else None)",
        "observe (2 clock reads)": "s = time.perf_counter(); "
        "metrics.observe(('default', 'bench', 'action', 'quote'), 200, time.perf_counter() - s)",
        "log context": "REQUEST.set(('x-1', 'default', 'bench'))",
        "traceparent lookup": "TRACEPARENT.get()",
    }
    total = 0.0
    for name, statement in parts.items():
        cost = _per_call_us(statement, namespace)
        total += cost
        print(f"{name:28s} {cost:6.3f} µs")
    with_field = _per_call_us("pb.ExecuteRequest(id=1, process='quote', traceparent='')", namespace)
    without = _per_call_us("pb.ExecuteRequest(id=1, process='quote')", namespace)
    print(f"{'traceparent field (proto)':28s} {with_field - without:6.3f} µs")
    total += max(0.0, with_field - without)
    print(f"{'total per request':28s} {total:6.3f} µs")


if __name__ == "__main__":
    main()
