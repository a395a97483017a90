"""Gateway settings: one typed object, built once at start-up (FLOWHOST_ prefix)."""

from __future__ import annotations

from pathlib import Path

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWHOST_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface the HTTP server listens on.")
    port: int = Field(8080, description="HTTP port.")
    data_dir: Path = Field(Path(".flowhost"), description="Folder for the embedded store.")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL of the store; empty: SQLite in data_dir. Use PostgreSQL "
        "when several gateways share state.",
    )
    admin_user: str = Field("admin", description="Management API user.")
    admin_password: str = Field(
        "", description="Management API password; empty: read data_dir/admin.json."
    )
    executor_targets: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Executor addresses host:port, comma-separated."
    )
    executor_dns: str = Field(
        "",
        description="A DNS name:port re-resolved to find executors (compose service names, "
        "Kubernetes headless services).",
    )
    discovery_interval_s: float = Field(
        2.0, description="How often executors are looked up, probed and reconciled."
    )
    state_poll_interval_s: float = Field(
        2.0, description="How often the store is polled for changes made by other gateways."
    )
    request_max_bytes: int = Field(
        10 * 1024 * 1024, description="Largest Flow request body accepted (413 beyond)."
    )
    default_timeout_s: float = Field(
        300.0, description="Execution deadline when a process sets none."
    )
    log_level: str = Field("info", description="Logging level.")

    @field_validator("executor_targets", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'flowhost.db'}"
