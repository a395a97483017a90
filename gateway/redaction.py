"""Secrets out of the gateway's log: query strings, URL credentials and Authorization values.

Every log record the process makes (ours, httpx's "HTTP Request: GET …" line, grpc's, any
library's) is redacted once, when it is created: installed as the log record factory, so it
holds for loggers and handlers configured later too, which a filter on today's handlers would
miss. A record is rewritten only when something was redacted; its traceback text likewise.
(The executors have their own copy, executors/redaction.py: the two share only protobuf.)
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"

_URL = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s/?#@\"'<>]+@)?"
    r"(?P<rest>[^\s?#\"'<>]*)(?P<query>\?[^\s#\"'<>]*)?"
)
_SECRET_FIELD = re.compile(
    r"(?i)\b(?P<name>(?:proxy-)?authorization|cookie|x-api-key|password|passwd|secret)"
    r"(?P<sep>[\"']?\s*[:=]\s*[\"']?)(?P<scheme>(?:basic|bearer|digest|token)\s+)?"
    r"(?P<value>[^\s\"',;&}]+)"
)


def _url(match: re.Match[str]) -> str:
    userinfo = f"{REDACTED}@" if match["userinfo"] else ""
    query = f"?{REDACTED}" if match["query"] else ""
    return f"{match['scheme']}{userinfo}{match['rest']}{query}"


def _field(match: re.Match[str]) -> str:
    return f"{match['name']}{match['sep']}{match['scheme'] or ''}{REDACTED}"


def redact(text: str) -> str:
    """`text` with URL query strings and userinfo, and Authorization-like values, replaced."""
    if "://" in text:
        text = _URL.sub(_url, text)
    return _SECRET_FIELD.sub(_field, text)


_formatter = logging.Formatter()


def install() -> None:
    """Redact every log record of this process from now on (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "flowhost_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it when it emits
            return record
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(_formatter.formatException(record.exc_info))
        return record

    factory.flowhost_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
