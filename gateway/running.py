"""The running gateway: its parts (`Gateway`), and how they start and stop (`open_gateway`).

Each part with a lifecycle is an async context manager (`gateway/lifecycle.py`); `open_gateway`
enters them on one `AsyncExitStack` in dependency order, so whatever fails (a part's start, the
body, a part's stop) every part that started is stopped, in reverse. What a request needs is
built only once everything it uses has started: the Flow endpoints get all of it at
construction, and the management API reads the same object through `gateway/api/deps.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from gateway.admission import Admission, limits_from_settings
from gateway.auth import Authenticator
from gateway.callbacks.outbox import Outbox
from gateway.callbacks.policy import CallbackPolicy
from gateway.callbacks.sender import CallbackSender
from gateway.callbacks.waiting import WaitingExecutions
from gateway.configuration.keys import ConfigKeys, load_keys
from gateway.configuration.store import ConfigStore
from gateway.configuration.values import OperatorConfig
from gateway.control import ControlPlane
from gateway.flow.download_links import DownloadLinks, derive_key
from gateway.flow.routes import FlowEndpoints
from gateway.history.record import History
from gateway.history.store import HistoryStore
from gateway.history.writer import HistoryWriterProcess
from gateway.link import ClusterLink
from gateway.listeners.state import Listeners
from gateway.login_throttle import LoginThrottle
from gateway.metrics.collector import ClusterMetrics, ClusterSources
from gateway.package_limits import PackageLimits
from gateway.policy import RuntimePolicies
from gateway.reconcile import Reconciler
from gateway.registration import RegistrationGate, Registrations
from gateway.routing import ExecutorPool
from gateway.services import ServiceRegistry
from gateway.settings import GatewaySettings
from gateway.store import Store
from gateway.store.registrations import RegistrationStore
from gateway.tracing import flow_tracer
from gateway.triggers.fires import FireStore
from gateway.triggers.run import TriggerRunner
from gateway.triggers.schedule import Scheduler
from gateway.triggers.subscribe import Subscriptions
from gateway.triggers.webhooks import WebhookEndpoints


@dataclass(frozen=True)
class Gateway:
    """Everything the gateway serves with, each part started."""

    settings: GatewaySettings
    admin_user: str
    admin_password: str
    login_throttle: LoginThrottle
    package_limits: PackageLimits
    store: Store
    pool: ExecutorPool
    control: ControlPlane
    reconciler: Reconciler
    outbox: Outbox
    history: History
    sender: CallbackSender
    waiting: WaitingExecutions
    flow: FlowEndpoints
    metrics: ClusterMetrics
    #: Triggers (gateway/triggers/): what runs them, the /hooks/ endpoints, the schedules.
    triggers: TriggerRunner
    hooks: WebhookEndpoints
    scheduler: Scheduler
    subscriptions: Subscriptions
    registrations: Registrations


@asynccontextmanager
async def open_gateway(
    settings: GatewaySettings, link: ClusterLink, admin: tuple[str, str]
) -> AsyncIterator[Gateway]:
    """Start every part in dependency order; stop them in reverse when the body ends (or when
    a part fails to start: then only those started before it)."""
    s = settings
    registry = ServiceRegistry()
    authenticator = Authenticator(trusted_proxies=s.trusted_proxies)
    operator_config = OperatorConfig()
    policies = RuntimePolicies(s.loopback_runtimes)
    listeners = Listeners()
    async with AsyncExitStack() as stack:
        start = stack.enter_async_context
        store = await start(Store(s.store_url))
        pool = await start(ExecutorPool())
        registrations = await start(Registrations(
            RegistrationGate(link.token, s.registration_clock_skew_s),
            # Rows outlive their expiry until none of their messages could be replayed.
            RegistrationStore(store, keep_s=2 * s.registration_clock_skew_s),
            s.registration_ttl_s,
            wake=lambda: reconciler.wake(),
            forget=pool.forget,
        ))  # fmt: skip
        reconciler = Reconciler(
            pool, registry.desired, s.executor_targets, s.executor_dns, s.discovery_interval_s,
            link, policy=policies.of, registered=registrations.addresses,
            link_poll_s=s.link_poll_us / 1e6,
        )  # fmt: skip
        keys = load_keys(s)
        config = ConfigStore(store, keys, s.config_value_max_bytes)
        outbox = Outbox(store.engine)  # the control plane keeps versions WAITs are owed from
        control = await start(
            ControlPlane(
                store, registry, authenticator, reconciler, s.state_poll_interval_s, config,
                operator_config, policies=policies, listeners=listeners,
                owed=outbox.owed_deployments, labels_max=s.runtime_labels_max,
            )
        )  # fmt: skip
        await start(reconciler)  # after the control plane's first read: it deploys what it holds
        writer = None
        if s.history_writer_process and s.history_enabled:
            writer = await start(HistoryWriterProcess(s.store_url, s.history_writer_stop_timeout_s))
        history = await start(_history(s, store, outbox, writer))
        sender = await start(_sender(s, outbox, policies))
        callback_policy = CallbackPolicy(
            s.callback_hosts, policies.of, uri_max_chars=s.callback_uri_max_chars
        )
        waiting = await start(
            WaitingExecutions(
                pool, registry, outbox, sender, history, callback_policy,
                poll_interval_s=s.callback_poll_interval_s, wait_s=s.default_timeout_s,
            )
        )  # fmt: skip
        flow = FlowEndpoints(
            registry, authenticator, pool, history, waiting,
            request_max_bytes=s.request_max_bytes, wait_s=s.default_timeout_s,
            upload_max_bytes=s.upload_max_bytes, upload_name_max_bytes=s.upload_file_name_max_bytes,
            operator_config=operator_config, listeners=listeners,
            admission=Admission(limits_from_settings(s)), tracer=flow_tracer(s.otel_enabled),
            download_links=_download_links(s, keys),
            download_max_bytes=s.download_max_bytes, public_url=s.public_url,
        )  # fmt: skip
        triggers = TriggerRunner(pool, history, listeners, operator_config, s.default_timeout_s)
        hooks = await start(
            WebhookEndpoints(
                registry, authenticator, triggers,
                body_max_bytes=s.webhook_body_max_bytes, async_max=s.webhook_async_max,
            )
        )  # fmt: skip
        scheduler = await start(
            Scheduler(registry, triggers, FireStore(store.engine), s.schedule_tick_s)
        )
        subscriptions = await start(
            Subscriptions(
                registry, triggers, policies.of, message_max_bytes=s.subscribe_message_max_bytes
            )
        )
        yield Gateway(
            settings=s, admin_user=admin[0], admin_password=admin[1],
            login_throttle=_login_throttle(s), package_limits=PackageLimits.from_settings(s),
            store=store, pool=pool, control=control, reconciler=reconciler, outbox=outbox,
            history=history, sender=sender, waiting=waiting, flow=flow,
            metrics=ClusterMetrics(ClusterSources(
                flow.metrics, pool, reconciler, history, waiting, sender, outbox.counts, triggers,
                admission=flow.admission,
            )),
            triggers=triggers, hooks=hooks, scheduler=scheduler, subscriptions=subscriptions,
            registrations=registrations,
        )  # fmt: skip


def _history(
    s: GatewaySettings, store: Store, outbox: Outbox, writer: HistoryWriterProcess | None
) -> History:
    return History(
        HistoryStore(store.engine),
        enabled=s.history_enabled,
        flush_interval_s=s.history_flush_interval_s,
        batch=s.history_batch,
        queue_max=s.history_queue_max,
        retention_days=s.history_retention_days,
        max_rows=s.history_max_rows,
        document_max_bytes=s.history_document_max_bytes,
        prune_also=outbox.prune,  # delivered callbacks go with the history of the same age
        sink=writer.write if writer is not None else None,
    )


def _sender(s: GatewaySettings, outbox: Outbox, policies: RuntimePolicies) -> CallbackSender:
    return CallbackSender(
        outbox,
        attempts=s.callback_attempts,
        backoff_base_s=s.callback_backoff_s,
        backoff_max_s=s.callback_backoff_max_s,
        timeout_s=s.callback_timeout_s,
        concurrency=s.callback_concurrency,
        poll_interval_s=s.callback_poll_interval_s,
        policy=policies.of,
    )


def _download_links(s: GatewaySettings, keys: ConfigKeys | None) -> DownloadLinks | None:
    """Links signed with download_link_key, else with a key derived from the configuration key
    every gateway of the cluster shares; None (no links) with neither."""
    secret = s.download_link_key.get_secret_value().encode() or (keys.first if keys else b"")
    return DownloadLinks(derive_key(secret), s.download_link_ttl_s) if secret else None


def _login_throttle(s: GatewaySettings) -> LoginThrottle:
    return LoginThrottle(
        free=s.login_failures_free,
        lockout_s=s.login_lockout_s,
        lockout_max_s=s.login_lockout_max_s,
        max_addresses=s.login_throttle_addresses,
    )
