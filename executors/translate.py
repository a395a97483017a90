"""Protobuf <-> the step engine's own types. The only module here, beside the servicer, that
knows protobuf."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from executors.host import Host, Rejected
from executors.runtime.context import RECORD_LIMIT, StepTrace
from executors.runtime.documents import Document
from executors.runtime.engine import ProcessResult
from executors.runtime.package import Issue, Package
from executors.runtime.policy import ExecutionLimits, RuntimePolicy
from executors.runtime.triggers import TriggerDef
from executors.stats import StreamStats
from protos.flowhost.v1 import executor_pb2 as pb

_STATUS = {
    "ok": pb.STATUS_OK,
    "failed": pb.STATUS_FAILED,
    "deadline": pb.STATUS_DEADLINE,
    "cancelled": pb.STATUS_CANCELLED,
}


def documents_from_proto(documents: list[pb.Document]) -> list[Document]:
    """The request's documents (raises Rejected when a document's properties are malformed)."""
    return [
        Document.from_bytes(d.data, string_map_from_proto(d.properties_json, "document properties"))
        for d in documents
    ]


def string_map_from_proto(data: bytes, name: str) -> dict[str, str]:
    """A string map as executor.proto carries it: a JSON object of strings, b"" meaning {}.

    Only our own gateway sends these, but a malformed one is refused as a bad request (Rejected,
    not retryable) rather than left to fail somewhere inside a step.
    """
    if not data:
        return {}
    try:
        values = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise _malformed(name, f"not JSON ({error})") from None
    if type(values) is not dict:
        raise _malformed(name, f"a JSON {_json_kind(values)}, not an object")
    for key, value in values.items():
        if type(value) is not str:
            raise _malformed(name, f"not all strings: '{key}' is a JSON {_json_kind(value)}")
    return values


def _malformed(name: str, problem: str) -> Rejected:
    return Rejected("bad_request", f"malformed request: {name} is {problem}", retryable=False)


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")


def _string_map_to_proto(values: dict[str, str]) -> bytes:
    # b"" for {}: most documents carry no properties, and then there is nothing to encode.
    return orjson.dumps(values) if values else b""


def result_to_proto(request_id: int, result: ProcessResult) -> pb.ExecuteResult:
    # Only the fields that are set: each keyword costs the constructor ~0.3 µs set or empty.
    message = pb.ExecuteResult(
        id=request_id,
        status=_STATUS.get(result.status, pb.STATUS_FAILED),
        documents=[
            pb.Document(data=d.raw, properties_json=orjson.dumps(d.properties))
            if d.properties
            else pb.Document(data=d.raw)
            for d in result.documents
        ],
        duration_us=result.duration_us,
    )
    if result.outcome:
        message.outcome = result.outcome
    if result.faults:
        message.faults.update(result.faults)
    if result.error is not None:
        error = message.error
        error.code = result.error.code
        error.message = result.error.message
        error.step_path = result.error.step_path
        error.retryable = result.error.retryable
    if result.trace:
        message.trace, message.recorded = trace_json(result.trace)
    return message


def trace_json(trace: list[StepTrace]) -> tuple[bytes, bool]:
    """The step trace as the JSON the execution history stores (see the proto), and whether it
    holds recorded documents."""
    recorded = False
    steps: list[Any] = []
    for step in trace:
        if step.inputs is None and step.outputs is None:
            steps.append(
                (
                    step.path,
                    step.type,
                    step.duration_us,
                    step.documents_in,
                    step.documents_out,
                    step.error,
                )
            )
            continue
        recorded = True
        steps.append(
            {
                "path": step.path,
                "type": step.type,
                "duration_us": step.duration_us,
                "documents_in": step.documents_in,
                "documents_out": step.documents_out,
                "error": step.error,
                "inputs": [_recorded(d) for d in step.inputs or ()],
                "outputs": [_recorded(d) for d in step.outputs or ()],
            }
        )
    return orjson.dumps(steps), recorded


def _recorded(data: bytes) -> dict[str, Any]:
    """A recorded document as text (base64 when not UTF-8), cut at RECORD_LIMIT bytes."""
    part = data[:RECORD_LIMIT]
    truncated = len(part) < len(data)
    # A cut can split a character: up to three bytes of it may be dropped from the end.
    for drop in range(4 if truncated else 1):
        try:
            text = part[: len(part) - drop].decode()
        except UnicodeDecodeError:
            continue
        return {"text": text, "size": len(data), "truncated": truncated}
    return {"base64": base64.b64encode(part).decode(), "size": len(data), "truncated": truncated}


def progress_to_proto(request_id: int, message: str) -> pb.Progress:
    return pb.Progress(id=request_id, message=message)


def stats_to_proto(stats: StreamStats, host: Host) -> pb.ExecutorStats:
    """The executor's counters and the host's gauges, as Describe reports them."""
    return pb.ExecutorStats(
        in_flight=host.in_flight,
        max_concurrency=host.max_concurrency,
        requests_received=stats.requests_received,
        request_batches=stats.request_batches,
        results_sent=stats.results_sent,
        result_batches=stats.result_batches,
        rejected=stats.rejected,
        kept_results=host.kept.count,
        uptime_s=stats.uptime_s,
    )


_KEPT = {"done": pb.KEPT_DONE, "running": pb.KEPT_RUNNING, "unknown": pb.KEPT_UNKNOWN}


def kept_to_proto(state: str, result: ProcessResult | None, executor_id: str) -> pb.TakeResultReply:
    reply = pb.TakeResultReply(state=_KEPT[state], executor_id=executor_id)
    if result is not None:
        reply.result.CopyFrom(result_to_proto(0, result))
    return reply


def rejection(request_id: int, code: str, message: str, *, retryable: bool) -> pb.ExecuteResult:
    """A request that was not run at all (unknown deployment, draining, overloaded)."""
    return pb.ExecuteResult(
        id=request_id,
        status=pb.STATUS_REJECTED,
        error=pb.ExecutionError(code=code, message=message, retryable=retryable),
    )


def cancelled(request_id: int, *, by_gateway: bool) -> pb.ExecuteResult:
    """An execution stopped before its end: by the gateway's cancel, or by this executor's
    shutdown (past its drain grace period; the gateway may try elsewhere)."""
    if by_gateway:
        error = pb.ExecutionError(code="cancelled", message="execution cancelled by the gateway")
    else:
        error = pb.ExecutionError(
            code="executor_stopped",
            message="the executor shut down before the execution finished; it may have partly run",
            retryable=True,
        )
    return pb.ExecuteResult(id=request_id, status=pb.STATUS_CANCELLED, error=error)


def issues_to_proto(issues: list[Issue]) -> list[pb.PackageIssue]:
    return [pb.PackageIssue(path=i.path, message=i.message) for i in issues]


def spec_to_proto(package: Package) -> pb.PackageSpec:
    service = package.service
    return pb.PackageSpec(
        name=package.name,
        version=package.version,
        service_path=service.path,
        summary=service.summary or package.summary,
        configuration=[
            pb.ConfigValue(
                name=c.name,
                type=c.type,
                required=c.required,
                default=c.default,
                summary=c.summary,
                set_by=c.set_by,
            )
            for c in service.configuration
        ],
        profiles={name: orjson.dumps(schema).decode() for name, schema in service.profiles.items()},
        actions=[
            pb.Action(
                name=a.name,
                process=a.process,
                request=a.request,
                response=a.response,
                sync_timeout_ms=a.sync_timeout_ms,
                wait_message=a.wait_message,
                summary=a.summary,
                outcomes=list(a.outcomes),
            )
            for a in service.actions
        ],
        data=[
            pb.DataAction(
                type=d.type, profile=d.profile, id=d.id, load=d.load, save=d.save, delete=d.delete
            )
            for d in service.data
        ],
        files=[
            pb.FileResource(path=f.path, list=f.list, upload=f.upload, download=f.download)
            for f in service.files
        ],
        processes=sorted(package.processes),
        process_timeouts_ms={name: p.timeout_ms for name, p in package.processes.items()},
        triggers=[_trigger_to_proto(t) for t in package.triggers],
    )


def _trigger_to_proto(trigger: TriggerDef) -> pb.Trigger:
    message = pb.Trigger(name=trigger.name, process=trigger.process, summary=trigger.summary)
    if trigger.webhook is not None:
        w = trigger.webhook
        message.webhook.CopyFrom(
            pb.WebhookTrigger(
                secret=w.secret,
                users=w.users,
                body=w.body,
                respond_async=w.respond_async,
                replay_window_s=w.replay_window_s,
                max_body_bytes=w.max_body_bytes,
            )
        )
    elif trigger.schedule is not None:
        s = trigger.schedule
        message.schedule.CopyFrom(
            pb.ScheduleTrigger(
                cron=s.cron, every_ms=s.every_ms, timezone=s.timezone, missed=s.missed
            )
        )
    elif trigger.subscribe is not None:
        b = trigger.subscribe
        message.subscribe.CopyFrom(
            pb.SubscribeTrigger(
                broker=b.broker,
                subject=b.subject,
                stream=b.stream,
                attempts=b.attempts,
                backoff_ms=b.backoff_ms,
                dead_letter=b.dead_letter,
                concurrency=b.concurrency,
                topic=b.topic,
            )
        )
    return message


def list_filter_from_proto(data: pb.DataContext) -> dict[str, Any] | None:
    """The normalised Flow list filter a data action's request carries, if any."""
    if not data.list_filter:
        return None
    value = orjson.loads(data.list_filter)
    return value if isinstance(value, dict) else None


def policy_from_proto(message: pb.RuntimePolicy) -> tuple[RuntimePolicy, str]:
    """The runtime's policy and its digest; a limit left 0 keeps its default."""
    defaults = ExecutionLimits()
    sent = message.limits
    limits = ExecutionLimits(
        documents_per_step=sent.documents_per_step or defaults.documents_per_step,
        document_bytes=sent.document_bytes or defaults.document_bytes,
        execution_bytes=sent.execution_bytes or defaults.execution_bytes,
        split_fanout=sent.split_fanout or defaults.split_fanout,
    )
    policy = RuntimePolicy(
        files_root=message.files_root,
        database_urls=tuple(message.database_urls),
        egress_allow=tuple(message.egress_allow),
        allow_loopback=message.allow_loopback,
        allow_private=message.allow_private,
        limits=limits,
    )
    return policy, message.digest
