"""Gateway settings: one typed object, built once at start-up (FLOWHOST_ prefix)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class RuntimeAdmission(BaseModel):
    """One runtime's admission limits, where they differ from the defaults."""

    model_config = ConfigDict(extra="forbid")

    runtime: int | None = Field(None, ge=1, description="Its requests at once.")
    user: int | None = Field(None, ge=1, description="Each of its users' requests at once.")
    detached: int | None = Field(None, ge=1, description="Its executions running past WAIT.")


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLOWHOST_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface the HTTP server listens on.")
    port: int = Field(8080, description="HTTP port.")
    listen_fd: int | None = Field(
        None,
        description="Serve on this inherited, listening socket instead of binding host:port: "
        "a supervisor (`flowhost up`) binds it once, on port 0 if it likes, and keeps it across "
        "restarts of the gateway.",
    )
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
        description="DNS name:port re-resolved to find executors (compose service names, "
        "Kubernetes headless services), comma-separated for several (one per runtime).",
    )
    discovery_interval_s: float = Field(
        2.0, description="How often executors are looked up, probed and reconciled."
    )
    registration_ttl_s: float = Field(
        15.0,
        gt=0,
        description="How long an executor's registration (flowhost executor --gateway) lives "
        "unless renewed; a lost executor leaves routing and status this long after its last "
        "heartbeat (executors renew every third of it).",
    )
    registration_clock_skew_s: float = Field(
        30.0,
        gt=0,
        description="Most an executor's signed registration message may be off this gateway's "
        "clock; older messages are refused as replays.",
    )
    registration_max_bytes: int = Field(
        4096, gt=0, description="Largest registration message body accepted (413 beyond)."
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
    upload_max_bytes: int = Field(
        100 * 1024 * 1024,
        description="Largest file accepted by a file resource's upload (POST /file/content); "
        "a larger one is refused with 413 before more than this is stored anywhere.",
    )
    download_max_bytes: int = Field(
        100 * 1024 * 1024,
        ge=1,
        description="Largest file a download link streams; a larger one is refused with 413 "
        "file_too_large before a byte of it is sent.",
    )
    download_link_ttl_s: float = Field(
        300.0,
        gt=0,
        description="How long a list result's downloadUri stays valid, in seconds.",
    )
    download_link_key: SecretStr = Field(
        SecretStr(""),
        description="The key download links are signed with; every gateway of the cluster must "
        "have the same. Empty: derived from the configuration key (which they share anyway); "
        "with neither, list results carry no downloadUri.",
    )
    public_url: str = Field(
        "",
        description="The gateway's URL as Flow and browsers reach it (https://flow-gw.example.com"
        "), the base of download links. Empty: the scheme and Host header of the list request.",
    )
    log_level: str = Field("info", description="Logging level.")

    # -- WAIT and callbacks (docs/operations.md, "Long-running processes") --
    callback_attempts: int = Field(
        10, ge=1, description="Delivery attempts of a callback before it is dead-lettered."
    )
    callback_backoff_s: float = Field(
        1.0, gt=0, description="Delay before the second attempt; doubles each time (jittered)."
    )
    callback_backoff_max_s: float = Field(
        300.0, gt=0, description="Longest delay between attempts."
    )
    callback_timeout_s: float = Field(
        10.0, gt=0, description="How long one callback POST may take before it counts as failed."
    )
    webhook_body_max_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1,
        description="Largest webhook body accepted, whatever a trigger's `max_body_bytes` says "
        "(413 beyond).",
    )
    webhook_async_max: int = Field(
        256,
        ge=1,
        description="Webhook executions of `async: true` triggers running at once on this "
        "gateway; beyond, a webhook is answered 503 with Retry-After.",
    )
    subscribe_message_max_bytes: int = Field(
        1024 * 1024,
        ge=1,
        description="Largest broker message a subscribe trigger runs; a larger one is "
        "dead-lettered at once.",
    )
    schedule_tick_s: float = Field(
        0.25,
        gt=0,
        le=60,
        description="How often the gateway looks for due schedule triggers (and how late one "
        "may fire).",
    )
    callback_concurrency: int = Field(
        16, ge=1, description="Callbacks delivered at once (connections to callback receivers)."
    )
    callback_poll_interval_s: float = Field(
        1.0,
        gt=0,
        description="How often the outbox is scanned for due callbacks and executors are asked "
        "for results of executions no live stream will finish (after a restart).",
    )
    callback_hosts: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Per-runtime allow-list of callbackUri hosts, as JSON: {"prod": '
        '["flow.manywho.com"]}. A runtime not listed may call back any host.',
    )
    # -- fair admission (docs/operations.md, "Admission limits"; gateway/admission.py) --
    admission_runtime_concurrency: int = Field(
        256,
        ge=1,
        description="Flow requests that run an execution one runtime may have at once through "
        "this gateway; beyond, and past its queue: 503 runtime_busy.",
    )
    admission_user_concurrency: int = Field(
        64,
        ge=1,
        description="The same for each runtime user (one connector), so one cannot take its "
        "whole runtime; beyond, and past its queue: 429 too_many_requests.",
    )
    admission_queue_factor: float = Field(
        2.0,
        ge=0,
        le=100,
        description="Each limit's wait queue holds this many times its concurrency (0: none).",
    )
    admission_wait_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Longest a request waits in the queues before it is refused; also the "
        "refusal's Retry-After (rounded up).",
    )
    admission_refusal_delay_s: float = Field(
        0.25,
        ge=0,
        le=10,
        description="A request refused because a queue is full is answered this much later "
        "(0: at once), so a client that ignores Retry-After cannot make the gateway spend its "
        "time refusing it.",
    )
    admission_detached: int = Field(
        1000,
        ge=1,
        description="Executions one runtime may have running on after a WAIT answer, followed "
        "by this gateway; while full, requests with a callbackUri get 503 runtime_busy.",
    )
    admission_runtimes: dict[str, RuntimeAdmission] = Field(
        default_factory=dict,
        description='Per-runtime overrides, as JSON: {"bulk": {"runtime": 32, "user": 8, '
        '"detached": 100}}; a key left out keeps the default.',
    )
    # -- execution history --
    history_enabled: bool = Field(True, description="Keep a summary of every execution.")
    history_retention_days: float = Field(7.0, gt=0, description="Executions older are pruned.")
    history_max_rows: int = Field(
        1_000_000, ge=1, description="At most this many executions are kept (newest first)."
    )
    history_flush_interval_s: float = Field(
        0.5, gt=0, description="How often queued summaries are written, in one batch."
    )
    history_writer_process: bool = Field(
        True,
        description="Insert history rows from a child process (measured: in a thread they cost "
        "the gateway several times SQLite's own work); false: from a thread.",
    )
    history_writer_stop_timeout_s: float = Field(
        10.0,
        gt=0,
        description="When the gateway stops, how long the writer process (at idle priority, so "
        "slow on a saturated machine) may take to write what it holds before it is killed and "
        "those summaries are lost (logged as an error).",
    )
    history_batch: int = Field(
        2000,
        ge=1,
        description="Executions per block (one insert); a full block is written at once. "
        "Measured: 2000 cost the writer 1.2 us an execution under load, 500 cost 2.9 us.",
    )
    history_queue_max: int = Field(
        50_000, ge=1, description="Summaries queued in memory at most; older ones are dropped."
    )
    history_document_max_bytes: int = Field(
        256 * 1024, ge=0, description="Recorded step documents kept per execution, in bytes."
    )
    # -- hostile Flow input (docs/operations.md, "Errors on /fs/") --
    callback_uri_max_chars: int = Field(
        2048,
        ge=16,
        description="Longest callbackUri accepted; a longer one is refused with 400 "
        "bad_callback_uri at request time.",
    )
    upload_file_name_max_bytes: int = Field(
        255,
        ge=1,
        description="Longest upload file name accepted, in UTF-8 bytes (most file systems hold "
        "255); a longer one is refused with 400 invalid_file_name before the file streams.",
    )

    # -- operator configuration (docs/operations.md, "Operator configuration") --
    config_key: SecretStr = Field(
        SecretStr(""),
        description="Fernet key(s) that encrypt secret configuration values, comma-separated: "
        "the first encrypts, every one decrypts (rotation: put the new key first, run "
        "`flowhost config rotate-key`, then drop the old one). Empty: config_key_file.",
    )
    config_key_file: Path | None = Field(
        None,
        description="A file of Fernet keys, one a line, first one encrypting. Unset: "
        "data_dir/config.key, generated (mode 0600) when the store is the embedded SQLite; "
        "with database_url set and no key, secret values cannot be set.",
    )
    config_value_max_bytes: int = Field(
        64 * 1024, ge=1, description="Largest configuration value an operator may set."
    )

    runtime_labels_max: int = Field(
        64, ge=1, le=10_000, description="Most labels one runtime may carry (runtimes label)."
    )

    # -- runtime policies (docs/operations.md, "Runtime policies") --
    loopback_runtimes: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Runtimes whose default policy (until the operator sets one) lets http "
        "steps and callbacks reach loopback (127.0.0.0/8, ::1), comma-separated; flowhost up "
        "names its development runtime here.",
    )

    # -- package limits and the management API's guards (docs/operations.md "Limits") --
    package_max_bytes: int = Field(
        1024 * 1024,
        ge=1,
        description="Largest package a deploy accepts, in bytes (413 beyond); also the largest "
        "body any management API request may send.",
    )
    package_max_depth: int = Field(
        64, ge=1, description="Deepest nesting of a package's YAML, aliases expanded (422)."
    )
    package_max_aliases: int = Field(
        100, ge=0, description="Most YAML aliases (*name) in one package (422)."
    )
    package_max_nodes: int = Field(
        250_000,
        ge=1,
        description="Most values in one package's YAML, each alias counted as what it "
        "repeats (422): bounds what an alias bomb would build.",
    )
    package_profile_max_bytes: int = Field(
        256 * 1024,
        ge=1,
        description="Largest profile (JSON Schema) of a package, about its bytes as JSON with "
        "aliases expanded (422).",
    )
    package_max_processes: int = Field(1000, ge=1, description="Most processes in one package.")
    api_docs: Literal["public", "admin", "off"] = Field(
        "admin",
        description="/docs, /redoc and /openapi.json: public, behind the admin login, or off.",
    )
    login_failures_free: int = Field(
        5,
        ge=1,
        description="Failed admin logins in a row one client address may make before each "
        "further failure locks it out (429 with Retry-After).",
    )
    login_lockout_s: float = Field(
        1.0, gt=0, description="First lockout after the free failures; doubles with each one."
    )
    login_lockout_max_s: float = Field(
        300.0,
        gt=0,
        description="Longest lockout; an address is forgotten this long after its last lockout.",
    )
    login_throttle_addresses: int = Field(
        10_000,
        ge=1,
        description="Client addresses whose failed logins are remembered at most (memory bound); "
        "the least recently failed are forgotten first.",
    )

    # -- the operator's console (docs/operations.md, "Console") --
    console_session_s: float = Field(
        8 * 3600.0,
        gt=0,
        description="Longest a console sign-in lasts, however busy; then sign in again.",
    )
    console_idle_s: float = Field(
        3600.0,
        gt=0,
        description="A console session unused this long ends (live-refreshing pages do not "
        "count as use).",
    )

    # -- the executor link (docs/operations.md, "Security model") --
    link_token: str = Field(
        "",
        repr=False,
        description="The cluster token sent to executors (they must accept it). Set this, "
        "link_token_file, or the link_tls_* files.",
    )
    link_token_file: Path | None = Field(
        None, description="A file holding the cluster token (Docker/Kubernetes secrets)."
    )
    link_tls_cert_file: Path | None = Field(
        None, description="mTLS: the gateway's client certificate (PEM), signed by the CA."
    )
    link_tls_key_file: Path | None = Field(None, description="mTLS: its private key (PEM).")
    link_tls_ca_file: Path | None = Field(
        None, description="mTLS: the cluster CA (PEM) executors' certificates must be signed by."
    )
    link_tls_server_name: str = Field(
        "flowhost-executor",
        description="mTLS: the name executors' certificates are checked against, whatever "
        "address they are dialled at (DNS discovery yields bare IPs).",
    )
    link_poll_us: int = Field(
        300,
        ge=0,
        le=10_000,
        description="After requests leave on an execution link, how long (µs) the gateway's "
        "loop polls for their results instead of sleeping; it backs off on links whose answers "
        'take longer (docs/benchmark.md, "Polling for the answer"). 0: off, for a machine '
        "whose CPU is billed or shared so tightly that idle cores are not idle.",
    )

    # -- the shared web server: TLS, client certificates, forwarded addresses --
    tls_cert_file: Path | None = Field(
        None,
        description="PEM certificate (chain) the gateway serves HTTPS with; unset: plain HTTP.",
    )
    tls_key_file: Path | None = Field(
        None, description="PEM private key of tls_cert_file (unset: the key is in that file)."
    )
    tls_client_ca_file: Path | None = Field(
        None,
        description="PEM CA bundle client certificates are verified against; set, the gateway "
        "asks every client for an optional certificate, and a runtime user bound to a "
        "certificate's SHA-256 fingerprint can log in with it instead of basic auth. A "
        "certificate this CA did not sign fails the TLS handshake.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks (CIDRs, comma-separated) of reverse proxies whose "
        "X-Forwarded-For is believed when a user's IP allow-list is checked; empty: the "
        "address the connection comes from is the client's, whatever the header says.",
    )
    # -- HTTP limits (docs/operations.md, "Limits") --
    http_header_max_bytes: int = Field(
        32 * 1024,
        ge=1024,
        description="Largest request head (request line and headers) accepted; a larger one "
        "is answered 431 and the connection closed, without reading the rest.",
    )
    http_header_timeout_s: float = Field(
        20.0,
        gt=0,
        description="Time a client has to send a whole request head, counted from the end of "
        "the previous response (or from connecting); then 408 and close.",
    )
    http_body_timeout_s: float = Field(
        20.0,
        gt=0,
        description="Time a client has to send a request body, extended by one second per "
        "http_body_min_rate bytes received; then 408 and close.",
    )
    http_body_min_rate: int = Field(
        500,
        ge=1,
        description="Bytes per second a request body must keep up once http_body_timeout_s "
        "is used up.",
    )
    http_keep_alive_s: int = Field(
        5, ge=1, description="An idle keep-alive connection is closed after this many seconds."
    )
    http_max_requests_per_connection: int = Field(
        1000,
        ge=0,
        description="A keep-alive connection is closed (Connection: close) after this many "
        "requests; 0: no limit.",
    )
    # -- observability: metrics, traces, logs (docs/operations.md, "Metrics, traces, logs") --
    metrics_public: bool = Field(
        False,
        description="Serve /metrics without the admin login (for a scraper on a private "
        "network); otherwise Prometheus sends the admin credentials (basic_auth).",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="text: one readable line per record; json: one JSON object per line, with "
        "execution_id, runtime and service where known, uvicorn's own lines included.",
    )
    otel_enabled: bool = Field(
        False,
        description="Trace Flow requests with OpenTelemetry (needs `pip install "
        "flowhost[otel]`): a span per request, continued in the executor; the exporter is "
        "configured by the standard OTEL_* variables (OTLP when installed).",
    )

    @field_validator("executor_targets", "loopback_runtimes", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_comma_separated(cls, value: object) -> object:
        return _split(value)

    @model_validator(mode="after")
    def _tls_complete(self) -> GatewaySettings:
        if self.tls_cert_file is None and (self.tls_key_file or self.tls_client_ca_file):
            raise ValueError(
                "FLOWHOST_TLS_KEY_FILE and FLOWHOST_TLS_CLIENT_CA_FILE need FLOWHOST_TLS_CERT_FILE"
            )
        for network in self.trusted_proxies:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"FLOWHOST_TRUSTED_PROXIES: {network!r} is not a CIDR") from None
        return self

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'flowhost.db'}"
