"""The gateway's desired state in one SQL database: `from gateway.store import Store`.

`errors` (what the store refuses), `records` (what it returns), `schema` (its tables), `store`
(the operations and the write transaction every writer shares); `access`, `policies` and
`labels` keep runtime users' access rules, runtime policies and runtime labels in the same
database; `canaries` holds the rules a canary version follows.
"""

from gateway.store.errors import (
    CanaryExists,
    CertificateInUse,
    InvalidLabel,
    InvalidName,
    NoCanary,
    NothingToCanary,
    NothingToRollBack,
    PathConflict,
    RuntimeInUse,
    StoreError,
    UnknownPackage,
    UnknownRuntime,
    UnknownUser,
    UnknownVersion,
    UserExists,
    VersionConflict,
)
from gateway.store.records import (
    ActiveDeployment,
    CanaryDeployment,
    Credential,
    RuntimeRecord,
    UserAccess,
    UserRecord,
    VersionRecord,
)
from gateway.store.store import Store, Write

__all__ = [
    "ActiveDeployment",
    "CanaryDeployment",
    "CanaryExists",
    "CertificateInUse",
    "Credential",
    "InvalidLabel",
    "InvalidName",
    "NoCanary",
    "NothingToCanary",
    "NothingToRollBack",
    "PathConflict",
    "RuntimeInUse",
    "RuntimeRecord",
    "Store",
    "StoreError",
    "UnknownPackage",
    "UnknownRuntime",
    "UnknownUser",
    "UnknownVersion",
    "UserAccess",
    "UserExists",
    "UserRecord",
    "VersionConflict",
    "VersionRecord",
    "Write",
]
