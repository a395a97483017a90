"""The gateway's desired state in one SQL database: `from gateway.store import Store`."""

from gateway.store.store import (
    ActiveDeployment,
    Credential,
    InvalidName,
    NothingToRollBack,
    PathConflict,
    Store,
    StoreError,
    UnknownPackage,
    UnknownUser,
    UnknownVersion,
    UserExists,
    UserRecord,
    VersionConflict,
    VersionRecord,
)

__all__ = [
    "ActiveDeployment",
    "Credential",
    "InvalidName",
    "NothingToRollBack",
    "PathConflict",
    "Store",
    "StoreError",
    "UnknownPackage",
    "UnknownUser",
    "UnknownVersion",
    "UserExists",
    "UserRecord",
    "VersionConflict",
    "VersionRecord",
]
