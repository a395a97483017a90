"""A process that did not end well, as the error Flow gets: one mapping for actions, data and
files."""

from __future__ import annotations

from gateway.errors import DeadlineExceeded, ExecutionFailed, GatewayError, Unavailable
from gateway.translate import ExecutionResult


def failure(process: str, result: ExecutionResult) -> GatewayError:
    error = result.error
    where = f" at {error.step_path}" if error and error.step_path else ""
    cause = error.message if error else "no detail"
    details = {"step": error.step_path if error else ""}
    if result.status == "deadline":
        return DeadlineExceeded(
            f"process '{process}' passed its execution deadline{where}: {cause}", details=details
        )
    code = error.code if error and error.code else "execution_failed"
    if result.status == "cancelled" and code != "cancelled":
        # Not the gateway's doing: the executor stopped under it (shutdown past its grace).
        return Unavailable(f"process '{process}' did not finish: {cause}", code=code)
    return ExecutionFailed(
        f"process '{process}' failed{where}: {cause}",
        code=code,
        details=details,
    )
