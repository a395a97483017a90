"""The step engine: parse and validate packages, compile them, run their processes.

Plain Python: nothing here imports ``grpc``, ``protos`` or ``gateway``.
"""

from .documents import Document
from .engine import CompiledPackage, ExecutionFailure, ProcessResult, StepTrace
from .errors import FlowhostRuntimeError, Issue, PackageInvalid, StepError
from .loader import YamlLimits
from .package import (
    ActionDef,
    ConfigDef,
    DataDef,
    FileDef,
    Package,
    ProcessDef,
    ServiceDef,
    load_package,
)

__all__ = [
    "ActionDef",
    "CompiledPackage",
    "ConfigDef",
    "DataDef",
    "Document",
    "ExecutionFailure",
    "FileDef",
    "FlowhostRuntimeError",
    "Issue",
    "Package",
    "PackageInvalid",
    "ProcessDef",
    "ProcessResult",
    "ServiceDef",
    "StepError",
    "StepTrace",
    "YamlLimits",
    "load_package",
]
