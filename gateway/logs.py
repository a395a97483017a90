"""How the gateway writes its log: readable lines, or one JSON object per line.

`FLOWHOST_LOG_FORMAT=json` is for log collectors (Loki, Elasticsearch, CloudWatch): every
record, uvicorn's own included (they are routed to the same handler), becomes one object with
`time`, `level`, `logger` and `message`, the traceback as `exception`, and `execution_id`,
`runtime` and `service` where known: from the Flow request being served (`REQUEST`, set once
the service is resolved), else the execution id that a line about one begins with
("execution %s: ..."). orjson, already a dependency, writes the object.
(The executors have their own copy, executors/logs.py: the two share only protobuf.)
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

#: (execution id, runtime, service path) of the Flow request this task serves.
REQUEST: ContextVar[tuple[str, str, str] | None] = ContextVar("flowhost_request", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = REQUEST.get()
        if request is not None:
            entry["execution_id"], entry["runtime"], entry["service"] = request
        elif (
            isinstance(record.msg, str)
            and record.msg.startswith("execution %")
            and isinstance(record.args, tuple)
            and record.args
        ):
            entry["execution_id"] = str(record.args[0])
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry, default=str).decode()


def configure(level: str, log_format: str) -> None:
    """The root logger's one handler, in the chosen format (call once, at start)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
