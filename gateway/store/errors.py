"""What the store refuses, as data: a stable `code` and the names the refusal is about.

The store knows nothing of HTTP; `gateway/errors.py` is where these become answers (the code
decides the status). Other modules keeping state in the same database (the callback outbox,
operator configuration) derive their errors from `StoreError` too, so one translation covers
them all.
"""

from __future__ import annotations

__all__ = [
    "CanaryExists",
    "CertificateInUse",
    "InvalidLabel",
    "InvalidName",
    "NoCanary",
    "NothingToCanary",
    "NothingToRollBack",
    "PathConflict",
    "StoreError",
    "UnknownPackage",
    "UnknownUser",
    "UnknownVersion",
    "UserExists",
    "VersionConflict",
]


class StoreError(Exception):
    """Root of every error the store raises.

    `code` is stable and machine-readable; `details` names what the error is about (runtime,
    user, name, version, path) so an API can answer with it.
    """

    code = "store_error"

    def __init__(self, message: str, **details: str) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidName(StoreError):
    code = "invalid_name"


class UserExists(StoreError):
    code = "user_exists"


class UnknownUser(StoreError):
    code = "unknown_user"


class VersionConflict(StoreError):
    code = "version_conflict"


class UnknownVersion(StoreError):
    code = "unknown_version"


class UnknownPackage(StoreError):
    code = "unknown_package"


class NothingToRollBack(StoreError):
    code = "nothing_to_roll_back"


class PathConflict(StoreError):
    code = "path_conflict"


class CertificateInUse(StoreError):
    """A client certificate logs in one user only."""

    code = "certificate_in_use"


class UnknownRuntime(StoreError):
    code = "unknown_runtime"


class RuntimeInUse(StoreError):
    code = "runtime_in_use"


class InvalidLabel(StoreError):
    """A runtime label or `--where` selector that is not `key=value` in Kubernetes syntax, or
    one label too many."""

    code = "invalid_label"


class CanaryExists(StoreError):
    """A package has one canary per runtime: promote or abort it before deploying another."""

    code = "canary_exists"


class NothingToCanary(StoreError):
    """A canary runs beside an active version of the same service; there is none (or it is that
    version, or it serves another path)."""

    code = "nothing_to_canary"


class NoCanary(StoreError):
    code = "no_canary"
