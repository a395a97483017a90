"""One root exception for the gateway, and the one place errors become HTTP responses.

Every error a user can cause or meet is a `GatewayError` with an HTTP status, a machine-readable
code and a message that names what was wrong. On `/fs/` paths it is answered as a Flow
ServiceProblem; on the management API as `{"error": code, "message": ...}`. What the store
refuses (`StoreError`, which knows nothing of HTTP) becomes a `GatewayError` here too
(`from_store_error`), by its code.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.store.errors import StoreError

SERVICE_PROBLEM_HEADER = (b"x-manywho-service-problem-kind", b"service")
# Codes of failed executions that are the caller's mistake, not the service's, and the HTTP
# status they are answered with (anything else a process fails with is a 500).
CLIENT_FAILURES: dict[str, int] = {
    "invalid_filter": 400,
    "missing_id": 400,
    "db_document": 400,
    "invalid_config": 400,  # a configuration value that does not read as its declared type
    "invalid_file_name": 400,  # an upload's file name the file step will not store
    "not_found": 404,
    "file_not_found": 404,  # a download link's file is no longer there
    "file_too_large": 413,
    # the runtime's policy refused what the process asked for: a folder outside the files root,
    # a database or host not allowed (the request or configuration asked for it)
    "path_outside_root": 403,
    "database_not_allowed": 403,
    "egress_refused": 403,
    # a broker destination part computed from the request's data is not a plain name
    "broker_destination": 400,
    # the work asked for passed one of the runtime's execution limits (the message names it)
    "limit_exceeded": 422,
}

# Failure codes of a process whose upstream (a remote HTTP server, Flow, a broker) failed it, and
# the status they are answered with: the gateway's answer is not its own fault, and a caller may
# retry a 503 or 504 later.
UPSTREAM_FAILURES: dict[str, int] = {
    "http_error": 502,  # the remote answered a status the step does not accept, or not at all
    "flow_error": 502,
    "broker_refused": 502,
    "broker_unroutable": 502,
    "broker_unavailable": 503,
    "broker_no_responders": 503,
    "broker_timeout": 504,
    "flow_timeout": 504,
}


# Store error codes -> HTTP status. Every `StoreError` subclass has its code here (a test walks
# them), so a new refusal gets a status by decision, not by default.
STORE_STATUS: dict[str, int] = {
    "store_error": 400,
    "invalid_name": 400,
    "user_exists": 409,
    "unknown_user": 404,
    "version_conflict": 409,
    "unknown_version": 404,
    "unknown_package": 404,
    "nothing_to_roll_back": 409,
    "path_conflict": 409,
    "certificate_in_use": 409,
    "unknown_callback": 404,
    "unknown_configuration": 404,
    "invalid_configuration": 400,
    "no_config_key": 409,
    "undecryptable_configuration": 409,
    "unknown_runtime": 404,
    "runtime_in_use": 409,
    "invalid_label": 400,
    "canary_exists": 409,
    "nothing_to_canary": 409,
    "no_canary": 404,
}


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
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.details = details or {}
        self.headers = headers or {}  # extra response headers (Retry-After, a challenge)


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


class TooManyRequests(GatewayError):
    """The caller has too much going on at once (gateway/admission.py); Retry-After says when."""

    status = 429
    code = "too_many_requests"


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
            self.status = CLIENT_FAILURES.get(self.code) or UPSTREAM_FAILURES.get(
                self.code, self.status
            )


class DeadlineExceeded(GatewayError):
    status = 504
    code = "deadline_exceeded"


def from_store_error(error: StoreError) -> GatewayError:
    """What the store refused, as the gateway error the API answers with."""
    return GatewayError(
        error.message,
        status=STORE_STATUS.get(error.code, 400),
        code=error.code,
        details=error.details,
    )


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


def validation_error(errors: Any) -> GatewayError:
    """FastAPI's request validation errors as one 422 naming each field."""
    issues = [
        {
            "path": ".".join(str(part) for part in e.get("loc", ())),
            "message": str(e.get("msg", "invalid")),
        }
        for e in errors
    ]
    listing = "; ".join(f"{i['path']}: {i['message']}" for i in issues)
    return Unprocessable(
        f"invalid request: {listing}"[:2000], code="invalid_request", details={"issues": issues}
    )


def http_error(status: int, detail: str) -> GatewayError:
    """Starlette's own refusals (unknown path, wrong method) in the problem shape."""
    codes = {400: "malformed_body", 404: "unknown_endpoint", 405: "method_not_allowed"}
    return GatewayError(detail, status=status, code=codes.get(status, "http_error"))


def api_problem(error: GatewayError) -> bytes:
    return orjson.dumps(
        {
            "error": error.code,
            "message": error.message,
            **({"details": error.details} if error.details else {}),
        }
    )
