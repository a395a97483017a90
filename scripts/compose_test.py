"""`make compose-test`: run docker-compose.yml as a user would, end to end, and clean up.

It needs root and Debian's docker.io, docker-compose and debootstrap, and no registry: the test
machines reach none. So it makes everything itself, inside a network namespace of its own:

1. `ip netns add`, then dockerd started in it with nsenter (`ip netns exec` would hide the cgroup
   mounts dockerd needs), its data and exec roots in a temporary folder, a socket of its own:
   the containers' bridge and addresses exist only in that namespace;
2. a Debian bookworm base image from debootstrap (cached as a tarball, so a second run skips
   it) and `docker import`; the wheels built on the host (`pip wheel`), since the namespace has
   no route out; `docker-compose build` with FLOWHOST_BASE_IMAGE and FLOWHOST_WHEELHOUSE;
3. `up --scale executor=3`: healthchecks, the deploy job, the load generator as the compose
   file runs it. It asserts zero errors and that every replica served requests — counted from
   the gateway's execution history, which names the executor that ran each execution;
4. a second load during which one executor container is stopped and started again: the errors
   are counted and bounded, and the restarted replica is found again by DNS discovery and
   serves requests.

The figures are printed and kept, with the load generator's output and every container's logs,
under reports/compose-test/<time>/. Whatever happens, the containers, the images, the daemon,
its folder and the namespace go (a `finally`, reached on SIGTERM and Ctrl-C too).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: What the base image needs beyond a minimal Debian: Python with venv (the image makes one),
#: wrk (the load generator), and curl and certificates for whoever debugs in it.
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "wrk", "curl", "ca-certificates")
BASE_IMAGE = "flowhost-compose-base:bookworm"
MIRROR = os.environ.get("FLOWHOST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE = Path(os.environ.get("FLOWHOST_COMPOSE_CACHE", "/var/tmp/flowhost-compose-test"))
#: The Debian package that brings each command this script runs.
TOOLS = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "dockerd": "docker.io",
    "docker": "docker.io",
    "docker-compose": "docker-compose",
    "debootstrap": "debootstrap",
    "curl": "curl",
}
LOAD_LINE = re.compile(
    r"(?P<rps>\d+) requests/s over (?P<seconds>[\d.]+)s at (?P<connections>\d+) connections; "
    r"p50 (?P<p50>[\d.]+) ms, p99 (?P<p99>[\d.]+) ms, p99\.9 (?P<p999>[\d.]+) ms; "
    r"(?P<requests>\d+) requests, (?P<errors>\d+) errors"
)
#: Runs in the gateway container: the executions its history recorded since a time, as
#: (executor address, started_at, status). The history names the executor that ran each one.
HISTORY_QUERY = """
import json, sys
from sqlalchemy import create_engine
from gateway.history.store import HistoryStore
from gateway.settings import GatewaySettings
rows = HistoryStore(create_engine(GatewaySettings().store_url)).list(
    since=float(sys.argv[1]), limit=10**9
)
json.dump([[r["executor"], r["started_at"], r["status"]] for r in rows], sys.stdout)
"""


class Failed(Exception):
    """A check failed: the message says what a user would have seen."""


def log(message: str) -> None:
    print(f"[compose-test {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
    capture: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """A command with a deadline; its output is captured so a failure can say what it printed."""
    result = subprocess.run(
        list(argv),
        env=env,
        timeout=timeout,
        text=True,
        input=stdin,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
    )
    if check and result.returncode != 0:
        raise Failed(f"{' '.join(argv[:4])} … exited {result.returncode}:\n{result.stdout or ''}")
    return result


def missing_tools() -> list[str]:
    problems = [
        f"{command} (apt-get install -y {package})"
        for command, package in TOOLS.items()
        if shutil.which(command) is None
    ]
    if os.geteuid() != 0:
        problems.append("root (network namespaces and dockerd need it)")
    if sys.version_info[:2] != (3, 11):
        problems.append(f"Python 3.11 for the wheels (bookworm's python3); this is {sys.version}")
    return problems


# -- the namespace and the daemon ---------------------------------------------------------------


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    """The daemon's folder. `rm -rf` removes its ~10,000 image files several times faster than
    shutil.rmtree on a loaded machine (80 s seen)."""
    folder = Path(tempfile.mkdtemp(prefix="flowhost-compose-"))
    try:
        yield folder
    finally:
        run(["rm", "-rf", "--one-file-system", str(folder)], check=False, timeout=600)
        log(f"{folder} removed")


@contextlib.contextmanager
def namespace(name: str) -> Iterator[str]:
    run(["ip", "netns", "add", name])
    try:
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        yield name
    finally:
        run(["ip", "netns", "del", name], check=False)
        log(f"namespace {name} removed")


@contextlib.contextmanager
def daemon(netns: str, folder: Path) -> Iterator[str]:
    """dockerd in the namespace; yields its DOCKER_HOST. On exit it stops its containers, and
    whatever it left mounted under its folder is unmounted before the folder goes."""
    socket = folder / "docker.sock"
    with (folder / "dockerd.log").open("w") as output:
        process = subprocess.Popen(
            [
                "nsenter", f"--net=/var/run/netns/{netns}", "dockerd",
                "--data-root", str(folder / "data"), "--exec-root", str(folder / "exec"),
                "--pidfile", str(folder / "dockerd.pid"), "-H", f"unix://{socket}",
            ],
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    host = f"unix://{socket}"
    try:
        wait_for(
            lambda: (
                process.poll() is None
                and run(["docker", "-H", host, "version"], check=False).returncode == 0
            ),
            60,
            "dockerd to answer",
            give_up=lambda: process.poll() is not None,
        )
        log(f"dockerd {process.pid} serving at {host}")
        yield host
    finally:
        _stop(process, 60)
        for mount in reversed(_mounts_under(folder)):
            run(["umount", "-l", mount], check=False)
        log("dockerd stopped")


def _stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _mounts_under(folder: Path) -> list[str]:
    points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    return [p for p in points if p == str(folder) or p.startswith(f"{folder}/")]


def wait_for(
    ready: Callable[[], bool],
    timeout_s: float,
    what: str,
    give_up: Callable[[], bool] = lambda: False,
) -> float:
    """Seconds until `ready()`; Failed naming `what` after `timeout_s` or once `give_up()`."""
    start = time.monotonic()
    while not ready():
        if give_up() or time.monotonic() - start > timeout_s:
            raise Failed(f"gave up waiting for {what} after {time.monotonic() - start:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - start


# -- what the image is built from ----------------------------------------------------------------


def base_tarball() -> Path:
    """A bookworm root file system from Debian's packages, made once and kept in CACHE."""
    key = hashlib.sha256(" ".join((MIRROR, *BASE_PACKAGES)).encode()).hexdigest()[:12]
    tarball = CACHE / f"bookworm-{key}.tar"
    if tarball.exists():
        log(f"base image from the cache: {tarball}")
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log(f"debootstrap bookworm with {', '.join(BASE_PACKAGES)} (once; a few minutes)")
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        rootfs = Path(work) / "root"
        include = ",".join(BASE_PACKAGES)
        debootstrap = ["debootstrap", "--variant=minbase", f"--include={include}"]
        run([*debootstrap, "bookworm", str(rootfs), MIRROR], timeout=1800)
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        partial = tarball.with_suffix(".partial")
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."], timeout=600)
        partial.rename(tarball)
    log(f"base tarball made in {time.monotonic() - started:.0f}s: {tarball}")
    return tarball


def build_wheelhouse() -> Path:
    """flowhost's wheel and every dependency's, for pip --no-index in the image."""
    wheelhouse = ROOT / "wheelhouse"
    for old in wheelhouse.glob("flowhost-*.whl"):
        old.unlink()  # always this checkout's code
    started = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "-q", str(ROOT), "-w", str(wheelhouse)], timeout=900)
    count = len(list(wheelhouse.glob("*.whl")))
    log(f"{count} wheels in {wheelhouse} ({time.monotonic() - started:.0f}s)")
    return wheelhouse


# -- the cluster -----------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    seconds: float
    connections: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    requests: int
    errors: int

    @classmethod
    def parse(cls, output: str) -> Load:
        found = LOAD_LINE.search(output)
        if found is None:
            raise Failed(f"the load generator printed no report:\n{output}")
        values = found.groupdict()
        return cls(
            rps=float(values["rps"]),
            seconds=float(values["seconds"]),
            connections=int(values["connections"]),
            p50_ms=float(values["p50"]),
            p99_ms=float(values["p99"]),
            p999_ms=float(values["p999"]),
            requests=int(values["requests"]),
            errors=int(values["errors"]),
        )

    def line(self) -> str:
        return (
            f"{self.rps:.0f} requests/s over {self.seconds:.1f}s at {self.connections} "
            f"connections; p50 {self.p50_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, "
            f"p99.9 {self.p999_ms:.2f} ms; {self.requests} requests, {self.errors} errors"
        )


class Cluster:
    """docker-compose against the private daemon, under a project name of its own."""

    def __init__(self, docker_host: str, netns: str, project: str) -> None:
        self.netns = netns
        self.project = project
        self.password = secrets.token_urlsafe(18)
        self.env = {
            **os.environ,
            "DOCKER_HOST": docker_host,
            "COMPOSE_HTTP_TIMEOUT": "300",
            "FLOWHOST_CLUSTER_TOKEN": secrets.token_hex(32),
            "FLOWHOST_ADMIN_PASSWORD": self.password,
            "FLOWHOST_BASE_IMAGE": BASE_IMAGE,
            "FLOWHOST_WHEELHOUSE": "wheelhouse",
        }

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> str:
        argv = ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "-p", self.project]
        return run([*argv, *args], env=self.env, timeout=timeout, check=check).stdout

    def docker(
        self, *args: str, timeout: float = 120, check: bool = True, stdin: str | None = None
    ) -> str:
        return run(
            ["docker", *args], env=self.env, timeout=timeout, check=check, stdin=stdin
        ).stdout

    def containers(self, service: str | None = None) -> list[str]:
        ids = self.compose("ps", "-a", "-q", *([service] if service else [])).split()
        names = self.docker("inspect", "-f", "{{.Name}}", *ids).split() if ids else []
        return sorted(name.lstrip("/") for name in names)

    def exit_code(self, container: str) -> int:
        return int(self.docker("inspect", "-f", "{{.State.ExitCode}}", container))

    def address(self, container: str) -> str:
        """The container's address on the project network, as the gateway records it."""
        ip = self.docker(
            "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container
        ).strip()
        return f"{ip}:50051"

    def api(self, path: str) -> Any:
        """The management API at the published port, inside the namespace."""
        out = run(
            [
                "nsenter", f"--net=/var/run/netns/{self.netns}", "curl", "-sf", "--max-time", "5",
                "-u", f"admin:{self.password}", f"http://127.0.0.1:8080{path}",
            ],
            check=False,
        )  # fmt: skip
        return json.loads(out.stdout) if out.returncode == 0 else None

    def ready_executors(self) -> dict[str, str]:
        """address → executor id of the executors the gateway routes to now."""
        found = self.api("/api/executors") or []
        return {e["address"]: e["executor_id"] for e in found if e["ready"]}

    def history(self, since: float) -> list[tuple[str, float, str]]:
        gateway = self.containers("gateway")[0]
        time.sleep(1.5)  # the history writes in batches about every half second
        out = self.docker(
            "exec", "-i", gateway, "python", "-", str(since), timeout=300, stdin=HISTORY_QUERY
        )
        return [tuple(row) for row in json.loads(out)]  # type: ignore[misc]

    def save_logs(self, folder: Path) -> None:
        (folder / "compose.log").write_text(self.compose("logs", "--no-color", check=False))

    def down(self) -> None:
        self.compose("down", "-v", "--rmi", "all", "--remove-orphans", "-t", "25", check=False)
        self.docker("rmi", "-f", BASE_IMAGE, check=False)
        log("containers, volumes and images removed")


def per_replica(
    rows: Sequence[tuple[str, float, str]], names: dict[str, str], start: float, end: float
) -> Counter[str]:
    return Counter(names.get(a, a) for a, at, _ in rows if start <= at < end)


#: One request as the load generator sends it, from its container: what wrk only counts.
ONE_REQUEST = """
import json, httpx
from flowhost.bench.run import quote_request
user = json.load(open("/shared/bench-user.json"))
reply = httpx.post(
    "http://gateway:8080/fs/bench/actions/quote", content=quote_request(None),
    headers={"Content-Type": "application/json"}, auth=(user["name"], user["token"]),
)
print(reply.status_code, reply.text[:1000])
"""


def one_request(cluster: Cluster) -> str:
    return cluster.compose(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "python", "loadgen", "-c", ONE_REQUEST,
        check=False,
    )  # fmt: skip


def steady_load(cluster: Cluster, report: dict[str, Any], folder: Path) -> None:
    """The compose file's own load generator, started by `up` once the deploy job succeeded."""
    started = time.time()
    cluster.compose("up", "-d", "--scale", "executor=3", timeout=600)
    log(f"up: {', '.join(cluster.containers())} ({time.time() - started:.0f}s)")
    (deploy,) = cluster.containers("deploy")
    if cluster.exit_code(deploy):
        raise Failed(f"the deploy job failed:\n{cluster.docker('logs', deploy)}")
    log("the deploy job completed")
    (loadgen,) = cluster.containers("loadgen")
    cluster.docker("wait", loadgen, timeout=180)
    output = cluster.docker("logs", loadgen)
    (folder / "loadgen-steady.txt").write_text(output)
    load = Load.parse(output)
    log(f"steady load: {load.line()}")
    executors = cluster.containers("executor")
    names = {cluster.address(c): c for c in executors}
    # Since before `up`: the load generator starts while `up` is still waiting on the others.
    counts = per_replica(cluster.history(started), names, 0, float("inf"))
    log(f"requests per replica (gateway history): {dict(counts)}")
    report["steady"] = {**load.__dict__, "per_replica": dict(counts)}
    if cluster.exit_code(loadgen) or load.errors:
        raise Failed(
            f"the steady load had {load.errors} errors; one request:\n{one_request(cluster)}"
        )
    idle = [c for c in executors if counts[c] == 0]
    if len(executors) != 3 or idle:
        raise Failed(f"replicas {executors}: {idle or 'some'} served no request")


def failover(
    cluster: Cluster, report: dict[str, Any], folder: Path, seconds: int, kill: bool
) -> None:
    """A second load; one executor is stopped under it (`docker stop`: SIGTERM, it drains; or
    `docker kill`: it dies with requests in flight), then started again."""
    executors = cluster.containers("executor")
    victim = executors[1]
    before = cluster.address(victim)
    old_id = cluster.ready_executors().get(before)
    loadgen = cluster.compose(
        "run", "-d", "--no-deps", "loadgen", "load", "http://gateway:8080/fs/bench/actions/quote",
        "--credentials", "/shared/bench-user.json",
        "--connections", "64", "--seconds", str(seconds),
    ).split()[-1]  # fmt: skip
    t0 = time.time()
    time.sleep(seconds / 4)
    how = "kill" if kill else "stop"
    log(f"docker {how} {victim} ({before}) under load")
    t_stop = time.time()
    cluster.docker(how, victim, timeout=60)
    t_stopped = time.time()
    left = wait_for(lambda: before not in cluster.ready_executors(), 30, f"{victim} to be dropped")
    log(f"{victim} stopped in {t_stopped - t_stop:.1f}s; the gateway dropped it {left:.1f}s later")
    time.sleep(3)
    t_start = time.time()
    cluster.docker("start", victim)
    after = cluster.address(victim)

    def rediscovered() -> bool:
        ready = cluster.ready_executors()
        return after in ready and ready[after] != old_id and len(ready) == 3

    found = wait_for(rediscovered, seconds, f"DNS discovery to find {victim} again")
    t_found = t_start + found
    log(f"{victim} restarted at {after}; ready behind the gateway {found:.1f}s after its start")
    remaining = seconds - (time.time() - t0)
    if remaining < 5:
        raise Failed(f"the restart took the whole load ({seconds}s): give it --failover-seconds")
    cluster.docker("wait", loadgen, timeout=seconds + 120)
    output = cluster.docker("logs", loadgen)
    (folder / "loadgen-failover.txt").write_text(output)
    load = Load.parse(output)
    cluster.docker("rm", loadgen, check=False)
    rows = cluster.history(t0 - 1)
    names = {cluster.address(c): c for c in executors if c != victim}
    names |= {before: victim, after: victim}
    windows = {
        "before the stop": per_replica(rows, names, t0, t_stop),
        "while stopped": per_replica(rows, names, t_stopped + 1, t_start),
        "after rediscovery": per_replica(rows, names, t_found, float("inf")),
    }
    for window, counts in windows.items():
        log(f"  {window}: {dict(counts)}")
    log(f"failover load: {load.line()}")
    report["failover"] = {
        **load.__dict__,
        "stopped": victim,
        "how": how,
        "stop_seconds": round(t_stopped - t_stop, 1),
        "dropped_after_seconds": round(left, 1),
        "rediscovered_after_seconds": round(found, 1),
        "per_replica": {window: dict(counts) for window, counts in windows.items()},
    }
    # At most the requests in flight when the replica went: one per connection.
    if load.errors > load.connections:
        raise Failed(f"{load.errors} errors during the failover, more than {load.connections}")
    if windows["while stopped"][victim]:
        raise Failed(f"{victim} served requests while it was stopped")
    if not windows["after rediscovery"][victim]:
        raise Failed(f"{victim} served nothing after it was found again")


def summary(report: dict[str, Any]) -> list[str]:
    """The figures a closing note quotes, from what the run got to."""
    lines = [f"replicas: {report['replicas']} executors"]
    steady = report.get("steady")
    if steady:
        replicas = ", ".join(f"{n} {c}" for n, c in sorted(steady["per_replica"].items()))
        lines += [
            f"steady load: {steady['rps']:.0f} requests/s, p50 {steady['p50_ms']:.1f} ms, "
            f"p99 {steady['p99_ms']:.1f} ms; {steady['requests']} requests, "
            f"{steady['errors']} errors ({steady['seconds']:.0f} s, {steady['connections']} "
            "connections)",
            f"requests per replica: {replicas} ({sum(steady['per_replica'].values())} in the "
            f"gateway's history, which also holds the requests wrk sent past its window)",
        ]
    failover = report.get("failover")
    if failover:
        served = failover["per_replica"]["after rediscovery"].get(failover["stopped"], 0)
        lines += [
            f"failover: docker {failover['how']} {failover['stopped']} under load: "
            f"{failover['errors']} errors of {failover['requests']} requests (bound "
            f"{failover['connections']}), p99 {failover['p99_ms']:.1f} ms; dropped by the "
            f"gateway {failover['dropped_after_seconds']} s after it stopped, found again by "
            f"DNS {failover['rediscovered_after_seconds']} s after its restart, then served "
            f"{served} requests",
        ]
    return [*lines, f"total: {report['seconds']} s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--failover-seconds", type=int, default=60, help="the second load")
    parser.add_argument(
        "--kill", action="store_true", help="docker kill the executor instead of docker stop"
    )
    args = parser.parse_args()
    problems = missing_tools()
    if problems:
        print("compose-test needs: " + "; ".join(problems), file=sys.stderr)
        return 2
    # SIGTERM and SIGHUP unwind through the `finally`s like Ctrl-C does.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))
    started = time.time()
    folder = ROOT / "reports" / "compose-test" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folder.mkdir(parents=True)
    report: dict[str, Any] = {"replicas": 3}
    tag = f"fhc{os.getpid()}"
    outcome = 1
    try:
        with (
            scratch() as work,
            namespace(tag) as netns,
            daemon(netns, work) as host,
        ):
            cluster = Cluster(host, netns, tag)
            try:
                tarball = base_tarball()
                run(["docker", "-H", host, "import", str(tarball), BASE_IMAGE], timeout=600)
                build_wheelhouse()
                built = time.time()
                cluster.compose("build", timeout=1200)
                log(f"image flowhost:dev built in {time.time() - built:.0f}s")
                steady_load(cluster, report, folder)
                failover(cluster, report, folder, args.failover_seconds, args.kill)
                outcome = 0
            finally:
                with contextlib.suppress(Exception):
                    cluster.save_logs(folder)
                cluster.down()
    except Failed as failure:
        log(f"FAILED: {failure}")
    finally:
        report["ok"] = outcome == 0
        report["seconds"] = round(time.time() - started)
        (folder / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        for line in summary(report):
            log(line)
        log(f"{'passed' if outcome == 0 else 'FAILED'} in {report['seconds']}s; report in {folder}")
    return outcome


if __name__ == "__main__":
    sys.exit(main())
