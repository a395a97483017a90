"""What the operator allows a runtime's processes: files, databases, egress, and resource limits.

The gateway keeps one policy per runtime (set by the operator through the management API) and
sends it to every executor of the runtime; the step engine reads it from here. An executor that
has not been sent a policy yet runs with `RuntimePolicy()`: the defaults protect the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExecutionLimits:
    """Bounds on one execution; exceeding one fails the execution with a clear code."""

    documents_per_step: int = 10_000  # documents a step may produce
    document_bytes: int = 16 * 1024 * 1024  # size of one document
    execution_bytes: int = 256 * 1024 * 1024  # documents held by one execution at once
    split_fanout: int = 10_000  # documents one `split` may produce from one document


@dataclass(frozen=True, slots=True)
class RuntimePolicy:
    """Per-runtime rules of what processes may touch."""

    files_root: str = ""  # the `file` step's root folder; empty: the executor's default
    database_urls: tuple[
        str, ...
    ] = ()  # URL prefixes `db` steps may open (SQLite in files_root always)
    egress_allow: tuple[str, ...] = ()  # hosts, *.domains, CIDRs the http step may reach
    allow_loopback: bool = False  # 127.0.0.0/8, ::1
    allow_private: bool = False  # RFC 1918, ULA, CGNAT
    limits: ExecutionLimits = field(default_factory=ExecutionLimits)
