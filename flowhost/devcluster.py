"""`flowhost up`: a gateway, N executors per runtime and the embedded store as supervised child
processes.

This is the same topology docker-compose.yml runs, as local processes: each component runs with
the command its container runs (`python -m gateway`, `python -m executors`), configured through the
same FLOWHOST_* settings. A child that dies (an executor or the gateway) is started again, with
back-off; the gateway brings a restarted executor back to its runtime's deployments by itself,
and a restarted gateway finds its state in the store.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from flowhost.client import ApiError, ManagementClient, admin_from
from flowhost.link import LinkFiles, ensure_link
from flowhost.tls import tls_verify
from gateway.data_folder import make_private

DEMO_USER_FILE = "demo-user.json"
LOCK_FILE = "up.lock"


# The store's rule for runtime names (gateway/store/schema.py; importing it would load the store).
_RUNTIME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,199}")
#: Most executors `up` starts on one machine (each is a process with its own jq workers).
MAX_LOCAL_EXECUTORS = 64
RUNTIME_RULE = (
    "give NAME:COUNT, the name of letters, digits and . _ @ - (starting with a letter or digit) "
    "and COUNT at least 1"
)


def parse_runtimes(specs: list[str]) -> dict[str, int]:
    """`--runtime` values (`eu:2`, `us`: one executor) as executors per runtime, in order;
    ValueError naming the value that is not one."""
    runtimes: dict[str, int] = {}
    for spec in specs:
        name, colon, count = spec.partition(":")
        if colon and not (count.isascii() and count.isdigit() and len(count) < 4):
            raise ValueError(f"--runtime {spec!r}: {RUNTIME_RULE}")
        number = int(count) if colon else 1
        if not _RUNTIME_NAME.fullmatch(name) or number < 1:
            raise ValueError(f"--runtime {spec!r}: {RUNTIME_RULE}")
        if name in runtimes:
            raise ValueError(f"--runtime {spec!r}: runtime {name} is given twice")
        runtimes[name] = number
    if sum(runtimes.values()) > MAX_LOCAL_EXECUTORS:
        raise ValueError(
            f"--runtime: {sum(runtimes.values())} executors in all, more than the "
            f"{MAX_LOCAL_EXECUTORS} one machine's `flowhost up` starts (MAX_LOCAL_EXECUTORS)"
        )
    return runtimes


class PortBusy(RuntimeError):
    """A port `up` was asked to use is taken; nothing was started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS has free on `host` now (bound at 0 and read back)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
    return port


def check_free(host: str, port: int, what: str) -> None:
    """Raise PortBusy, naming the port and its use, unless `port` can be listened on."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortBusy(
                f"port {port} on {host} ({what}) is in use ({error.strerror}): is another "
                "flowhost running? Choose another port, or stop what holds it"
            ) from None


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    workdir: Path
    #: Descriptors the child inherits (the gateway's listening socket).
    pass_fds: tuple[int, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = 0.0

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.args,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Relative paths in packages (a SQLite file, a folder) land in the data folder.
            cwd=self.workdir,
            pass_fds=self.pass_fds,
        )
        log.close()
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Cluster:
    data_dir: Path
    #: 0: a port the OS picks (read back once bound, in start()).
    http_port: int = 8080
    executors: int = 2
    #: The first executor's port (the others follow it); None: ports the OS has free.
    executor_port: int | None = None
    runtime: str = "default"
    #: Executors per runtime, in order ({"eu": 2, "us": 1}); empty: `executors` of `runtime`.
    #: Given, `runtime` becomes its first and `executors` the total.
    runtimes: dict[str, int] = field(default_factory=dict)
    host: str = "127.0.0.1"
    #: The executor link over mTLS (a CA and certificates in the data folder), not only a token.
    mtls: bool = False
    #: Extra environment for every child (benchmarks run another tree with PYTHONPATH).
    env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    link: LinkFiles | None = None
    _lock: int | None = None
    _http_socket: socket.socket | None = None

    def __post_init__(self) -> None:
        if not self.runtimes:
            self.runtimes = {self.runtime: self.executors}
        for name, count in self.runtimes.items():
            if not _RUNTIME_NAME.fullmatch(name) or count < 1:
                raise ValueError(f"runtime {name!r} with {count} executors: {RUNTIME_RULE}")
        self.runtime = next(iter(self.runtimes))
        self.executors = sum(self.runtimes.values())

    @property
    def executor_addresses(self) -> list[str]:
        """host:port of each executor child, in start order."""
        return [
            c.env["FLOWHOST_EXECUTOR_HOST"] + ":" + c.env["FLOWHOST_EXECUTOR_PORT"]
            for c in self.children[:-1]
        ]

    tls_cert: Path | None = None  # HTTPS with this certificate (and tls_key)
    tls_key: Path | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.http_port}"

    @functools.cached_property
    def verify(self) -> ssl.SSLContext:
        """How `up` checks its own gateway: FLOWHOST_TLS_CA_FILE, else the certificate it
        serves, trusted as it is (self-signed or not: the chain may stop at it), else the
        system's CAs. The host name is checked in every case."""
        if os.environ.get("FLOWHOST_TLS_CA_FILE") or self.tls_cert is None:
            return tls_verify()
        context = tls_verify(self.tls_cert)
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        return context

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1", **self.env, **extra}

    def _take_data_dir(self) -> None:
        """One `up` per data folder: two would share one store and one cluster identity."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(
                f"another flowhost up is using the data folder {self.data_dir}; stop it, or "
                "give this one its own --data-dir"
            ) from None
        self._lock = fd

    def _listen_http(self) -> socket.socket:
        """The gateway's listening socket, bound here (port 0: the OS picks, read back) and
        handed to every gateway child: no window between finding a port and using it, and a
        restarted gateway serves on the same socket, connections made meanwhile waiting."""
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.http_port))
        except OSError as error:
            sock.close()
            raise PortBusy(
                f"port {self.http_port} on {self.host} (the gateway's HTTP port, --http-port) is "
                f"in use ({error.strerror}): is another flowhost running? Choose another port, "
                "or stop what holds it"
            ) from None
        sock.listen(2048)
        self.http_port = sock.getsockname()[1]
        return sock

    def _executor_ports(self) -> list[int]:
        """The asked-for ports, each checked free, or ports the OS has free; before any start."""
        if self.executor_port is None:
            return [free_port(self.host) for _ in range(self.executors)]
        ports = [self.executor_port + i for i in range(self.executors)]
        for i, port in enumerate(ports):
            check_free(self.host, port, f"executor-{i + 1}'s gRPC port, from --executor-port")
        return ports

    def start(self) -> None:
        # umask 077 for `up` and every child: the data folder 0700, its files 0600.
        make_private(self.data_dir)
        self._take_data_dir()
        ports = self._executor_ports()
        self._http_socket = http = self._listen_http()
        self.link = link = ensure_link(self.data_dir, mtls=self.mtls)
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        targets = []
        runtimes = [name for name, count in self.runtimes.items() for _ in range(count)]
        for i, (port, runtime) in enumerate(zip(ports, runtimes, strict=True)):
            targets.append(f"{self.host}:{port}")
            self.children.append(
                Child(
                    f"executor-{i + 1}",
                    [sys.executable, "-m", "executors"],
                    self._env(
                        {
                            "FLOWHOST_EXECUTOR_RUNTIME": runtime,
                            "FLOWHOST_EXECUTOR_HOST": self.host,
                            "FLOWHOST_EXECUTOR_PORT": str(port),
                            **link.executor_env(),
                        }
                    ),
                    logs / f"executor-{i + 1}.log",
                    self.data_dir,
                )
            )
        self.children.append(
            Child(
                "gateway",
                [sys.executable, "-m", "gateway"],
                self._env(
                    {
                        "FLOWHOST_HOST": self.host,
                        "FLOWHOST_PORT": str(self.http_port),
                        "FLOWHOST_LISTEN_FD": str(http.fileno()),
                        "FLOWHOST_DATA_DIR": str(self.data_dir),
                        "FLOWHOST_EXECUTOR_TARGETS": ",".join(targets),
                        "FLOWHOST_DISCOVERY_INTERVAL_S": "1",
                        # A development cluster: its runtimes may reach services on this
                        # machine until the operator sets a policy (docs: Runtime policies).
                        "FLOWHOST_LOOPBACK_RUNTIMES": ",".join(self.runtimes),
                        **link.gateway_env(),
                        **self._tls_env(),
                    }
                ),
                logs / "gateway.log",
                self.data_dir,
                pass_fds=(http.fileno(),),
            )
        )
        for child in self.children:
            child.start()

    def _tls_env(self) -> dict[str, str]:
        if self.tls_cert is None:
            return {}
        env = {"FLOWHOST_TLS_CERT_FILE": str(self.tls_cert.resolve())}
        if self.tls_key is not None:
            env["FLOWHOST_TLS_KEY_FILE"] = str(self.tls_key.resolve())
        return env

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until the gateway answers and every executor is ready."""
        deadline = time.monotonic() + timeout_s
        problem = "gateway not started"
        while time.monotonic() < deadline:
            self._check_children()
            try:
                httpx.get(f"{self.url}/health", timeout=1.0, verify=self.verify).raise_for_status()
                with self.client() as client:
                    executors = client.request("GET", "/api/executors")
                ours = set(self.executor_addresses)
                ready = [e for e in executors if e["ready"] and e["address"] in ours]
                if len(ready) >= self.executors:
                    with self.client() as client:
                        for runtime in self.runtimes:
                            client.add_runtime(runtime)  # idempotent: users may join it
                    return
                problem = f"{len(ready)}/{self.executors} executors ready"
            except (httpx.HTTPError, ApiError, OSError) as error:
                problem = str(error)
            time.sleep(0.2)
        raise RuntimeError(f"cluster not ready after {timeout_s:.0f}s: {problem}")

    def _check_children(self) -> None:
        """Raise when a child exited while the cluster starts: a child that cannot start is a
        configuration to fix, not a crash to restart."""
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                raise RuntimeError(
                    f"{child.name} exited with code {child.process.returncode}: "
                    f"{_last_line(child.log_path)} (log: {child.log_path})"
                )

    def client(self) -> ManagementClient:
        return ManagementClient(self.url, admin_from(self.data_dir), verify=self.verify)

    def deploy_examples(self, folder: Path) -> list[dict[str, Any]]:
        """Deploy each package of `folder` to every runtime that has no version of its name.

        Every runtime gets them, so each runtime's user can try its own copy (service paths are
        per runtime). A package a runtime knows is left alone, whichever version is active or
        none: `up` never overrides what an operator deployed, rolled back or undeployed."""
        deployed = []
        with self.client() as client:
            for runtime in self.runtimes:
                for path in sorted(folder.glob("*.yaml")):
                    source = path.read_text()
                    name = _package_name(source)
                    if name is not None and client.versions(runtime, name):
                        continue
                    deployed.append(client.deploy(runtime, source, dry_run=False))
        return deployed

    def services(self, runtime: str | None = None) -> list[dict[str, Any]]:
        """What a runtime (the first) serves now: path, package, version and actions of each."""
        with self.client() as client:
            state = client.status()
        for found in state["runtimes"]:
            if found["name"] == (runtime or self.runtime):
                return list(found["services"])
        return []

    def demo_user(self, runtime: str | None = None) -> tuple[str, str]:
        """A user of a runtime (the first) for trying things out, kept in the data folder across
        restarts: `flow` of the first runtime, `flow-<runtime>` of the others."""
        runtime = runtime or self.runtime
        first = runtime == self.runtime
        name = "flow" if first else f"flow-{runtime}"
        path = self.data_dir / (DEMO_USER_FILE if first else f"demo-user-{runtime}.json")
        if path.exists():
            saved = json.loads(path.read_text())
            return saved["name"], saved["token"]
        with self.client() as client:
            try:
                created = client.add_user(runtime, name)
            except ApiError as error:
                if error.status != 409:
                    raise
                created = client.rotate_token(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"name": created["name"], "token": created["token"]}, file)
        return created["name"], created["token"]

    def supervise(self, poll_s: float = 0.5) -> None:
        """Until interrupted: restart children that died, executors and gateway alike."""
        while True:
            time.sleep(poll_s)
            self.restart_dead()

    #: A child up this long has recovered: its next exit starts the back-off from the bottom.
    STEADY_S = 30.0

    def restart_dead(self) -> None:
        """One supervision pass: note each dead child and start it again after its back-off
        (0.5 s doubling to 30 s), saying so on stderr."""
        now = time.monotonic()
        for child in self.children:
            if child.alive:
                if child.restarts and now - child.started_at > self.STEADY_S:
                    child.restarts = 0
                continue
            if child.next_start == 0.0:
                delay = min(30.0, 0.5 * 2 ** min(child.restarts, 6))
                child.restarts += 1
                child.next_start = now + delay
                code = child.process.returncode if child.process is not None else None
                print(
                    f"{child.name} exited (code {code}: {_last_line(child.log_path)}); "
                    f"restarting in {delay:.1f}s (log: {child.log_path})",
                    file=sys.stderr,
                    flush=True,
                )
            elif now >= child.next_start:
                child.next_start = 0.0
                child.start()

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM everyone (the gateway first, so it stops sending work), then wait."""
        for child in reversed(self.children):
            if child.alive and child.process is not None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        if self._http_socket is not None:
            self._http_socket.close()
            self._http_socket = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _package_name(source: str) -> str | None:
    """The package's name, or None when the file does not parse (the deploy will say why)."""
    try:
        document = yaml.safe_load(source)
    except yaml.YAMLError:
        return None
    name = document.get("name") if isinstance(document, dict) else None
    return name if isinstance(name, str) else None


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


@contextmanager
def running_cluster(
    data_dir: Path,
    executors: int = 2,
    *,
    mtls: bool = False,
    runtimes: dict[str, int] | None = None,
) -> Iterator[Cluster]:
    """A cluster on ports from the OS, ready, stopped on exit: for tests, benchmarks, scripts.
    `runtimes` ({"eu": 2, "us": 1}) replaces `executors` of runtime default."""
    cluster = Cluster(
        data_dir=data_dir, http_port=0, executors=executors, mtls=mtls, runtimes=runtimes or {}
    )
    try:
        cluster.start()
        cluster.wait_ready(timeout_s=60)
        yield cluster
    finally:
        cluster.stop(grace_s=10)
