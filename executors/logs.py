"""How the executor writes its log: readable lines, or one JSON object per line.

`FLOWHOST_EXECUTOR_LOG_FORMAT=json` makes every record one object with `time`, `level`,
`logger`, `message`, the traceback as `exception`, the executor's `runtime`, and the
`execution_id` that a line about one begins with ("execution %s: ..."). orjson writes it.
(The gateway has its own copy, gateway/logs.py: the two share only protobuf.)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    def __init__(self, runtime: str) -> None:
        super().__init__()
        self._runtime = runtime

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "runtime": self._runtime,
        }
        if (
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


def configure(level: str, log_format: str, runtime: str) -> None:
    """The root logger's one handler, in the chosen format (call once, at start)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(runtime))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
