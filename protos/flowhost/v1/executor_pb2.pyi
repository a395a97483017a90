from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_UNSPECIFIED: _ClassVar[Status]
    STATUS_OK: _ClassVar[Status]
    STATUS_FAILED: _ClassVar[Status]
    STATUS_DEADLINE: _ClassVar[Status]
    STATUS_CANCELLED: _ClassVar[Status]
    STATUS_REJECTED: _ClassVar[Status]

class KeptState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEPT_UNKNOWN: _ClassVar[KeptState]
    KEPT_RUNNING: _ClassVar[KeptState]
    KEPT_DONE: _ClassVar[KeptState]
STATUS_UNSPECIFIED: Status
STATUS_OK: Status
STATUS_FAILED: Status
STATUS_DEADLINE: Status
STATUS_CANCELLED: Status
STATUS_REJECTED: Status
KEPT_UNKNOWN: KeptState
KEPT_RUNNING: KeptState
KEPT_DONE: KeptState

class DescribeRequest(_message.Message):
    __slots__ = ("nonce",)
    NONCE_FIELD_NUMBER: _ClassVar[int]
    nonce: bytes
    def __init__(self, nonce: _Optional[bytes] = ...) -> None: ...

class DescribeReply(_message.Message):
    __slots__ = ("runtime", "executor_id", "deployments", "draining", "policy_digest", "proof", "stats", "stream_port")
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    POLICY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    STREAM_PORT_FIELD_NUMBER: _ClassVar[int]
    runtime: str
    executor_id: str
    deployments: _containers.RepeatedScalarFieldContainer[str]
    draining: bool
    policy_digest: str
    proof: bytes
    stats: ExecutorStats
    stream_port: int
    def __init__(self, runtime: _Optional[str] = ..., executor_id: _Optional[str] = ..., deployments: _Optional[_Iterable[str]] = ..., draining: _Optional[bool] = ..., policy_digest: _Optional[str] = ..., proof: _Optional[bytes] = ..., stats: _Optional[_Union[ExecutorStats, _Mapping]] = ..., stream_port: _Optional[int] = ...) -> None: ...

class ExecutorStats(_message.Message):
    __slots__ = ("in_flight", "max_concurrency", "requests_received", "request_batches", "results_sent", "result_batches", "rejected", "kept_results", "uptime_s")
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_BATCHES_FIELD_NUMBER: _ClassVar[int]
    RESULTS_SENT_FIELD_NUMBER: _ClassVar[int]
    RESULT_BATCHES_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    KEPT_RESULTS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    in_flight: int
    max_concurrency: int
    requests_received: int
    request_batches: int
    results_sent: int
    result_batches: int
    rejected: int
    kept_results: int
    uptime_s: float
    def __init__(self, in_flight: _Optional[int] = ..., max_concurrency: _Optional[int] = ..., requests_received: _Optional[int] = ..., request_batches: _Optional[int] = ..., results_sent: _Optional[int] = ..., result_batches: _Optional[int] = ..., rejected: _Optional[int] = ..., kept_results: _Optional[int] = ..., uptime_s: _Optional[float] = ...) -> None: ...

class ValidateRequest(_message.Message):
    __slots__ = ("source",)
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    source: str
    def __init__(self, source: _Optional[str] = ...) -> None: ...

class ValidateReply(_message.Message):
    __slots__ = ("spec", "issues")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    spec: PackageSpec
    issues: _containers.RepeatedCompositeFieldContainer[PackageIssue]
    def __init__(self, spec: _Optional[_Union[PackageSpec, _Mapping]] = ..., issues: _Optional[_Iterable[_Union[PackageIssue, _Mapping]]] = ...) -> None: ...

class PackageIssue(_message.Message):
    __slots__ = ("path", "message")
    PATH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    path: str
    message: str
    def __init__(self, path: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class PackageSpec(_message.Message):
    __slots__ = ("name", "version", "service_path", "summary", "configuration", "profiles", "actions", "data", "files", "processes", "process_timeouts_ms", "warnings", "triggers")
    class ProfilesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ProcessTimeoutsMsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_PATH_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    PROCESS_TIMEOUTS_MS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    service_path: str
    summary: str
    configuration: _containers.RepeatedCompositeFieldContainer[ConfigValue]
    profiles: _containers.ScalarMap[str, str]
    actions: _containers.RepeatedCompositeFieldContainer[Action]
    data: _containers.RepeatedCompositeFieldContainer[DataAction]
    files: _containers.RepeatedCompositeFieldContainer[FileResource]
    processes: _containers.RepeatedScalarFieldContainer[str]
    process_timeouts_ms: _containers.ScalarMap[str, int]
    warnings: _containers.RepeatedCompositeFieldContainer[PackageIssue]
    triggers: _containers.RepeatedCompositeFieldContainer[Trigger]
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., service_path: _Optional[str] = ..., summary: _Optional[str] = ..., configuration: _Optional[_Iterable[_Union[ConfigValue, _Mapping]]] = ..., profiles: _Optional[_Mapping[str, str]] = ..., actions: _Optional[_Iterable[_Union[Action, _Mapping]]] = ..., data: _Optional[_Iterable[_Union[DataAction, _Mapping]]] = ..., files: _Optional[_Iterable[_Union[FileResource, _Mapping]]] = ..., processes: _Optional[_Iterable[str]] = ..., process_timeouts_ms: _Optional[_Mapping[str, int]] = ..., warnings: _Optional[_Iterable[_Union[PackageIssue, _Mapping]]] = ..., triggers: _Optional[_Iterable[_Union[Trigger, _Mapping]]] = ...) -> None: ...

class Trigger(_message.Message):
    __slots__ = ("name", "process", "summary", "webhook", "schedule", "subscribe")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_FIELD_NUMBER: _ClassVar[int]
    name: str
    process: str
    summary: str
    webhook: WebhookTrigger
    schedule: ScheduleTrigger
    subscribe: SubscribeTrigger
    def __init__(self, name: _Optional[str] = ..., process: _Optional[str] = ..., summary: _Optional[str] = ..., webhook: _Optional[_Union[WebhookTrigger, _Mapping]] = ..., schedule: _Optional[_Union[ScheduleTrigger, _Mapping]] = ..., subscribe: _Optional[_Union[SubscribeTrigger, _Mapping]] = ...) -> None: ...

class WebhookTrigger(_message.Message):
    __slots__ = ("secret", "users", "body", "respond_async", "replay_window_s", "max_body_bytes")
    SECRET_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    RESPOND_ASYNC_FIELD_NUMBER: _ClassVar[int]
    REPLAY_WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    MAX_BODY_BYTES_FIELD_NUMBER: _ClassVar[int]
    secret: str
    users: bool
    body: str
    respond_async: bool
    replay_window_s: int
    max_body_bytes: int
    def __init__(self, secret: _Optional[str] = ..., users: _Optional[bool] = ..., body: _Optional[str] = ..., respond_async: _Optional[bool] = ..., replay_window_s: _Optional[int] = ..., max_body_bytes: _Optional[int] = ...) -> None: ...

class ScheduleTrigger(_message.Message):
    __slots__ = ("cron", "every_ms", "timezone", "missed")
    CRON_FIELD_NUMBER: _ClassVar[int]
    EVERY_MS_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    MISSED_FIELD_NUMBER: _ClassVar[int]
    cron: str
    every_ms: int
    timezone: str
    missed: str
    def __init__(self, cron: _Optional[str] = ..., every_ms: _Optional[int] = ..., timezone: _Optional[str] = ..., missed: _Optional[str] = ...) -> None: ...

class SubscribeTrigger(_message.Message):
    __slots__ = ("broker", "subject", "stream", "attempts", "backoff_ms", "dead_letter", "concurrency", "topic")
    BROKER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MS_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    broker: str
    subject: str
    stream: str
    attempts: int
    backoff_ms: int
    dead_letter: str
    concurrency: int
    topic: str
    def __init__(self, broker: _Optional[str] = ..., subject: _Optional[str] = ..., stream: _Optional[str] = ..., attempts: _Optional[int] = ..., backoff_ms: _Optional[int] = ..., dead_letter: _Optional[str] = ..., concurrency: _Optional[int] = ..., topic: _Optional[str] = ...) -> None: ...

class ConfigValue(_message.Message):
    __slots__ = ("name", "type", "required", "default", "summary", "set_by")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SET_BY_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    required: bool
    default: str
    summary: str
    set_by: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., required: _Optional[bool] = ..., default: _Optional[str] = ..., summary: _Optional[str] = ..., set_by: _Optional[str] = ...) -> None: ...

class Action(_message.Message):
    __slots__ = ("name", "process", "request", "response", "sync_timeout_ms", "wait_message", "summary", "outcomes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    SYNC_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    WAIT_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    name: str
    process: str
    request: str
    response: str
    sync_timeout_ms: int
    wait_message: str
    summary: str
    outcomes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., process: _Optional[str] = ..., request: _Optional[str] = ..., response: _Optional[str] = ..., sync_timeout_ms: _Optional[int] = ..., wait_message: _Optional[str] = ..., summary: _Optional[str] = ..., outcomes: _Optional[_Iterable[str]] = ...) -> None: ...

class DataAction(_message.Message):
    __slots__ = ("type", "profile", "id", "load", "save", "delete")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    SAVE_FIELD_NUMBER: _ClassVar[int]
    DELETE_FIELD_NUMBER: _ClassVar[int]
    type: str
    profile: str
    id: str
    load: str
    save: str
    delete: str
    def __init__(self, type: _Optional[str] = ..., profile: _Optional[str] = ..., id: _Optional[str] = ..., load: _Optional[str] = ..., save: _Optional[str] = ..., delete: _Optional[str] = ...) -> None: ...

class FileResource(_message.Message):
    __slots__ = ("path", "list", "upload", "download")
    PATH_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    DOWNLOAD_FIELD_NUMBER: _ClassVar[int]
    path: str
    list: str
    upload: str
    download: str
    def __init__(self, path: _Optional[str] = ..., list: _Optional[str] = ..., upload: _Optional[str] = ..., download: _Optional[str] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ("key", "source")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    key: str
    source: str
    def __init__(self, key: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class DeployReply(_message.Message):
    __slots__ = ("issues",)
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    issues: _containers.RepeatedCompositeFieldContainer[PackageIssue]
    def __init__(self, issues: _Optional[_Iterable[_Union[PackageIssue, _Mapping]]] = ...) -> None: ...

class UndeployRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class UndeployReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Document(_message.Message):
    __slots__ = ("data", "properties_json")
    DATA_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    properties_json: bytes
    def __init__(self, data: _Optional[bytes] = ..., properties_json: _Optional[bytes] = ...) -> None: ...

class ExecuteRequest(_message.Message):
    __slots__ = ("id", "cancel", "deployment", "process", "documents", "timeout_ms", "execution_id", "record", "data", "detachable", "detach", "properties_json", "config_json", "flow_json", "secret_config", "traceparent")
    ID_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DETACHABLE_FIELD_NUMBER: _ClassVar[int]
    DETACH_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_JSON_FIELD_NUMBER: _ClassVar[int]
    CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    FLOW_JSON_FIELD_NUMBER: _ClassVar[int]
    SECRET_CONFIG_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    id: int
    cancel: bool
    deployment: str
    process: str
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    timeout_ms: int
    execution_id: str
    record: bool
    data: DataContext
    detachable: bool
    detach: bool
    properties_json: bytes
    config_json: bytes
    flow_json: bytes
    secret_config: _containers.RepeatedScalarFieldContainer[str]
    traceparent: str
    def __init__(self, id: _Optional[int] = ..., cancel: _Optional[bool] = ..., deployment: _Optional[str] = ..., process: _Optional[str] = ..., documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ..., timeout_ms: _Optional[int] = ..., execution_id: _Optional[str] = ..., record: _Optional[bool] = ..., data: _Optional[_Union[DataContext, _Mapping]] = ..., detachable: _Optional[bool] = ..., detach: _Optional[bool] = ..., properties_json: _Optional[bytes] = ..., config_json: _Optional[bytes] = ..., flow_json: _Optional[bytes] = ..., secret_config: _Optional[_Iterable[str]] = ..., traceparent: _Optional[str] = ...) -> None: ...

class RequestBatch(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ExecuteRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[ExecuteRequest, _Mapping]]] = ...) -> None: ...

class ExecutionError(_message.Message):
    __slots__ = ("code", "message", "step_path", "retryable")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STEP_PATH_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    step_path: str
    retryable: bool
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., step_path: _Optional[str] = ..., retryable: _Optional[bool] = ...) -> None: ...

class ExecuteResult(_message.Message):
    __slots__ = ("id", "status", "documents", "outcome", "faults", "error", "duration_us", "trace", "recorded")
    class FaultsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    FAULTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    id: int
    status: Status
    documents: _containers.RepeatedCompositeFieldContainer[Document]
    outcome: str
    faults: _containers.ScalarMap[str, str]
    error: ExecutionError
    duration_us: int
    trace: bytes
    recorded: bool
    def __init__(self, id: _Optional[int] = ..., status: _Optional[_Union[Status, str]] = ..., documents: _Optional[_Iterable[_Union[Document, _Mapping]]] = ..., outcome: _Optional[str] = ..., faults: _Optional[_Mapping[str, str]] = ..., error: _Optional[_Union[ExecutionError, _Mapping]] = ..., duration_us: _Optional[int] = ..., trace: _Optional[bytes] = ..., recorded: _Optional[bool] = ...) -> None: ...

class ResultBatch(_message.Message):
    __slots__ = ("results", "progress")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ExecuteResult]
    progress: _containers.RepeatedCompositeFieldContainer[Progress]
    def __init__(self, results: _Optional[_Iterable[_Union[ExecuteResult, _Mapping]]] = ..., progress: _Optional[_Iterable[_Union[Progress, _Mapping]]] = ...) -> None: ...

class DataContext(_message.Message):
    __slots__ = ("type", "list_filter")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LIST_FILTER_FIELD_NUMBER: _ClassVar[int]
    type: str
    list_filter: bytes
    def __init__(self, type: _Optional[str] = ..., list_filter: _Optional[bytes] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("data", "max_bytes", "execute")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    max_bytes: int
    execute: ExecuteRequest
    def __init__(self, data: _Optional[bytes] = ..., max_bytes: _Optional[int] = ..., execute: _Optional[_Union[ExecuteRequest, _Mapping]] = ...) -> None: ...

class DownloadRequest(_message.Message):
    __slots__ = ("execute", "max_bytes")
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    execute: ExecuteRequest
    max_bytes: int
    def __init__(self, execute: _Optional[_Union[ExecuteRequest, _Mapping]] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class DownloadChunk(_message.Message):
    __slots__ = ("result", "file_name", "content_type", "size", "data")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    result: ExecuteResult
    file_name: str
    content_type: str
    size: int
    data: bytes
    def __init__(self, result: _Optional[_Union[ExecuteResult, _Mapping]] = ..., file_name: _Optional[str] = ..., content_type: _Optional[str] = ..., size: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("id", "message")
    ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    id: int
    message: str
    def __init__(self, id: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class TakeResultRequest(_message.Message):
    __slots__ = ("execution_id",)
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    def __init__(self, execution_id: _Optional[str] = ...) -> None: ...

class TakeResultReply(_message.Message):
    __slots__ = ("state", "result", "executor_id")
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_ID_FIELD_NUMBER: _ClassVar[int]
    state: KeptState
    result: ExecuteResult
    executor_id: str
    def __init__(self, state: _Optional[_Union[KeptState, str]] = ..., result: _Optional[_Union[ExecuteResult, _Mapping]] = ..., executor_id: _Optional[str] = ...) -> None: ...

class AckResultRequest(_message.Message):
    __slots__ = ("execution_id",)
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    execution_id: str
    def __init__(self, execution_id: _Optional[str] = ...) -> None: ...

class AckResultReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RuntimePolicy(_message.Message):
    __slots__ = ("files_root", "database_urls", "egress_allow", "allow_loopback", "allow_private", "limits", "digest")
    FILES_ROOT_FIELD_NUMBER: _ClassVar[int]
    DATABASE_URLS_FIELD_NUMBER: _ClassVar[int]
    EGRESS_ALLOW_FIELD_NUMBER: _ClassVar[int]
    ALLOW_LOOPBACK_FIELD_NUMBER: _ClassVar[int]
    ALLOW_PRIVATE_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    files_root: str
    database_urls: _containers.RepeatedScalarFieldContainer[str]
    egress_allow: _containers.RepeatedScalarFieldContainer[str]
    allow_loopback: bool
    allow_private: bool
    limits: ExecutionLimits
    digest: str
    def __init__(self, files_root: _Optional[str] = ..., database_urls: _Optional[_Iterable[str]] = ..., egress_allow: _Optional[_Iterable[str]] = ..., allow_loopback: _Optional[bool] = ..., allow_private: _Optional[bool] = ..., limits: _Optional[_Union[ExecutionLimits, _Mapping]] = ..., digest: _Optional[str] = ...) -> None: ...

class ExecutionLimits(_message.Message):
    __slots__ = ("documents_per_step", "document_bytes", "execution_bytes", "split_fanout")
    DOCUMENTS_PER_STEP_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_BYTES_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FANOUT_FIELD_NUMBER: _ClassVar[int]
    documents_per_step: int
    document_bytes: int
    execution_bytes: int
    split_fanout: int
    def __init__(self, documents_per_step: _Optional[int] = ..., document_bytes: _Optional[int] = ..., execution_bytes: _Optional[int] = ..., split_fanout: _Optional[int] = ...) -> None: ...

class ConfigureRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: RuntimePolicy
    def __init__(self, policy: _Optional[_Union[RuntimePolicy, _Mapping]] = ...) -> None: ...

class ConfigureReply(_message.Message):
    __slots__ = ("policy_digest",)
    POLICY_DIGEST_FIELD_NUMBER: _ClassVar[int]
    policy_digest: str
    def __init__(self, policy_digest: _Optional[str] = ...) -> None: ...
