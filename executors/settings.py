"""Executor settings: one typed object, built once at start-up (FLOWHOST_EXECUTOR_ prefix)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from executors.runtime.jqworkers import DEFAULT_MEMORY_MB, DEFAULT_WORKERS


class ExecutorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWHOST_EXECUTOR_", extra="ignore")

    runtime: str = Field("default", description="The runtime this executor joins.")
    host: str = Field("127.0.0.1", description="Interface the gRPC server listens on.")
    port: int = Field(50051, description="gRPC port; 0 picks a free one.")
    stream_port: int = Field(
        0,
        ge=-1,
        le=65535,
        description="Port of the execution link (the execution stream over a plain socket, "
        "on the same interface; Describe tells gateways which): 0 picks a free one, -1 turns "
        "it off and gateways use the gRPC stream.",
    )
    stream_advertise_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="The execution link's port as gateways reach it, when a NAT or a "
        "container's port mapping forwards another one (as ADVERTISE does for gRPC); 0: the "
        "port it listens on.",
    )
    gateways: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Gateway URLs (comma-separated) to register with, renew and leave on "
        "drain; empty: gateways find this executor by their targets or DNS.",
    )
    advertise: str = Field(
        "",
        description="host:port gateways should dial, as registered; empty: host:port bound "
        "(which must then not be an any-address such as 0.0.0.0).",
    )
    gateway_ca_file: Path | None = Field(
        None, description="CA bundle an https gateway's certificate is checked against."
    )
    max_concurrency: int = Field(
        1000, description="Executions running at once; more are rejected as overloaded."
    )
    drain_seconds: float = Field(
        10.0, description="On shutdown, how long in-flight executions may finish."
    )
    batch_max: int = Field(256, description="Most results sent back in one stream message.")
    link_poll_us: int = Field(
        1000,
        ge=0,
        le=10_000,
        description="After results leave on an execution link, how long (µs) the executor's "
        "loop polls for the gateway's next requests instead of sleeping; it backs off when "
        'none come that soon (docs/benchmark.md, "Polling for the answer"). 0: off.',
    )
    http_max_connections: int = Field(
        200, description="Connection pool size of the client the http step shares."
    )
    log_level: str = Field("info", description="Logging level.")
    # -- observability (docs/operations.md, "Metrics, traces, logs") --
    log_format: Literal["text", "json"] = Field(
        "text",
        description="text: readable lines; json: one JSON object per line, with execution_id "
        "where known.",
    )
    otel_enabled: bool = Field(
        False,
        description="Trace executions the gateway traced (needs `pip install flowhost[otel]`): "
        "a span per execution and per step, exported by the standard OTEL_* variables.",
    )

    # -- runtime policy --
    files_dir: str = Field(
        "files",
        description="Folder holding the default files root of each runtime (<files_dir>/"
        "<runtime>), relative to the working folder (the data folder under flowhost up); the "
        "file step and SQLite databases live there unless the runtime's policy names another "
        "root.",
    )

    # -- package limits (the gateway checks them first; docs/operations.md "Limits") --
    package_max_depth: int = Field(
        64, ge=1, description="Deepest nesting of a package's YAML, aliases expanded."
    )
    package_max_aliases: int = Field(
        100, ge=0, description="Most YAML aliases (*name) in one package."
    )
    package_max_nodes: int = Field(
        250_000,
        ge=1,
        description="Most values in one package's YAML, each alias counted as what it repeats.",
    )

    # -- deadline --
    jq_workers: int = Field(
        DEFAULT_WORKERS,
        ge=1,
        description="jq worker processes: jq programs outside the Python subset run there, "
        "so a deadline can stop them; more at once wait for a free worker.",
    )
    jq_worker_memory_mb: int = Field(
        DEFAULT_MEMORY_MB,
        ge=64,
        description="Address space each jq worker may use; a program past it fails its "
        "execution with limit_exceeded.",
    )

    # -- the executor link (docs/operations.md, "Security model") --
    link_token: str = Field(
        "",
        repr=False,
        description="The cluster token a caller (a gateway) must present; during a rotation "
        "several, comma-separated. Set this, link_token_file, or the link_tls_* files.",
    )
    link_token_file: Path | None = Field(
        None,
        description="A file holding the cluster token(s), one a line (Docker/Kubernetes "
        "secrets); its tokens are accepted as well as link_token's.",
    )
    link_tls_cert_file: Path | None = Field(
        None, description="mTLS: this executor's server certificate (PEM), signed by the CA."
    )
    link_tls_key_file: Path | None = Field(None, description="mTLS: its private key (PEM).")
    link_tls_ca_file: Path | None = Field(
        None,
        description="mTLS: the cluster CA (PEM); only callers with a client certificate it "
        "signed get past the TLS handshake.",
    )

    @field_validator("gateways", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
