"""Secret configuration values never leave an execution in clear: not in step errors, `log`
lines, recorded traces, nor in any log line written while the execution runs (httpx logs every
request URL at INFO, query string included).

`Redactor` replaces each secret, in the forms it can take in text (as is, URL-encoded, escaped
in JSON), with MASK. `SecretLogFilter` is a `logging.Filter` that applies the redactor of the
execution whose task is logging (a context variable, so concurrent executions never see each
other's secrets); add it to a handler beside any other filter.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import orjson

MASK = "••••"
_MASK_BYTES = MASK.encode()

#: The redactor of the execution running in the current task, if it has secrets.
ACTIVE: contextvars.ContextVar[Redactor | None] = contextvars.ContextVar(
    "flowhost_redactor", default=None
)


class Redactor:
    """Masks a fixed set of secret values in text and bytes."""

    __slots__ = ("_byte_forms", "_forms")

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            forms.add(secret)
            forms.add(quote(secret, safe=""))
            forms.add(quote_plus(secret, safe=""))
            forms.add(orjson.dumps(secret).decode()[1:-1])
        # Longest first, so a secret containing another is masked whole.
        self._forms = tuple(sorted(forms, key=len, reverse=True))
        self._byte_forms = tuple(form.encode() for form in self._forms)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, value: str) -> str:
        for form in self._forms:
            if form in value:
                value = value.replace(form, MASK)
        return value

    def data(self, value: bytes) -> bytes:
        for form in self._byte_forms:
            if form in value:
                value = value.replace(form, _MASK_BYTES)
        return value


class SecretLogFilter(logging.Filter):
    """Masks the running execution's secrets in every record that passes (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = ACTIVE.get()
        if redactor is not None:
            message = record.getMessage()
            masked = redactor.text(message)
            if masked != message:
                record.msg, record.args = masked, None
            if record.exc_info and not record.exc_text:
                record.exc_text = redactor.text(
                    logging.Formatter().formatException(record.exc_info)
                )
        return True


def install_log_filter(handlers: Iterable[logging.Handler] | None = None) -> SecretLogFilter:
    """Add a SecretLogFilter to `handlers` (default: the root logger's handlers)."""
    secret_filter = SecretLogFilter()
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        handler.addFilter(secret_filter)
    return secret_filter
