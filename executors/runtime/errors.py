"""The step engine's exceptions: one root, with machine-readable fields."""

from __future__ import annotations

from dataclasses import dataclass


class FlowhostRuntimeError(Exception):
    """Root of every error the step engine raises on purpose.

    ``code`` is a short machine-readable word, ``retryable`` tells a caller whether the same
    request may succeed later.
    """

    code = "runtime_error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, retryable: bool | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable


@dataclass(frozen=True)
class Issue:
    """One problem in a package, at a path in the file (``processes.get-order.steps[2].map``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PackageInvalid(FlowhostRuntimeError):
    """A package failed to parse or validate; ``issues`` lists every problem found."""

    code = "package_invalid"

    def __init__(self, issues: list[Issue]):
        self.issues = list(issues)
        count = len(self.issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        noun = "issue" if count == 1 else "issues"
        super().__init__(f"package is invalid ({count} {noun}):\n{lines}")


class StepError(FlowhostRuntimeError):
    """Raised by a step's ``run`` to fail it with a clear cause (no traceback reaches users).

    The engine adds the step's path and type; the message is the cause only.
    """

    code = "step_failed"


class StepFailure(FlowhostRuntimeError):
    """A step failed: carries the step's path and type. Raised by the engine, not by steps."""

    def __init__(self, message: str, *, code: str, retryable: bool, step_path: str, step_type: str):
        super().__init__(message, code=code, retryable=retryable)
        self.step_path = step_path
        self.step_type = step_type
