"""One root exception for the gateway, and the one place errors become HTTP responses.

Every error a user can cause or meet is a `GatewayError` with an HTTP status, a machine-readable
code and a message that names what was wrong. On `/fs/` paths it is answered as a Flow
ServiceProblem; on the management API as `{"error": code, "message": ...}`.
"""

from __future__ import annotations

from typing import Any

import orjson

SERVICE_PROBLEM_HEADER = (b"x-manywho-service-problem-kind", b"service")


class GatewayError(Exception):
    status = 500
    code = "internal"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.details = details or {}


class BadRequest(GatewayError):
    status = 400
    code = "bad_request"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class Conflict(GatewayError):
    status = 409
    code = "conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    code = "payload_too_large"


class Unprocessable(GatewayError):
    status = 422
    code = "unprocessable"


class Unavailable(GatewayError):
    """No executor could take the request (none ready, all failed)."""

    status = 503
    code = "unavailable"


class ExecutionFailed(GatewayError):
    """The process ran and failed; the message names the process and the step."""

    status = 500
    code = "execution_failed"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        if kwargs.get("status") is None:
            self.status = EXECUTION_FAILURE_STATUS.get(self.code, self.status)


#: Execution failures the caller's request caused, with their status: the work it asked for
#: passed one of the runtime's execution limits (the message names the limit).
EXECUTION_FAILURE_STATUS = {"limit_exceeded": 422}


class DeadlineExceeded(GatewayError):
    status = 504
    code = "deadline_exceeded"


def service_problem(error: GatewayError, uri: str, action: str | None = None) -> bytes:
    """A Flow ServiceProblem body (flow-protocol.md §1.2)."""
    return orjson.dumps(
        {
            "kind": "service",
            "uri": uri,
            "statusCode": error.status,
            "message": error.message[:500],
            "code": error.code,
            "responseBody": None,
            "responseHeaders": {},
            "invokeType": None,
            "action": action,
            **({"details": error.details} if error.details else {}),
        }
    )


def api_problem(error: GatewayError) -> bytes:
    return orjson.dumps(
        {
            "error": error.code,
            "message": error.message,
            **({"details": error.details} if error.details else {}),
        }
    )
