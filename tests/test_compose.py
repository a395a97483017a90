"""docker-compose.yml stays valid and in step with the code; `make compose-test` runs it."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from executors.settings import ExecutorSettings
from flowhost.cli.main import app
from gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _cli_commands() -> set[str]:
    group = get_command(app)
    return set(group.commands)  # type: ignore[attr-defined]


def _flowhost_invocations(service: dict[str, Any]) -> list[list[str]]:
    """Every `flowhost …` command line a service runs, whether as the image's entry point or
    inside a shell command."""
    command = service.get("command", [])
    if service.get("entrypoint") == ["sh", "-c"]:
        script = " ".join(command)
        return [shlex.split(part)[1:] for part in re.findall(r"flowhost [^&|()]+", script)]
    return [list(command)]


def _ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the flowhost image (not the monitoring profile's)."""
    return {n: s for n, s in compose["services"].items() if s.get("image") == "flowhost:dev"}


def test_the_services(compose: dict[str, Any]) -> None:
    assert set(_ours(compose)) == {"gateway", "executor", "deploy", "loadgen"}
    monitoring = set(compose["services"]) - set(_ours(compose))
    assert monitoring == {"prometheus", "grafana"}
    for name in monitoring:  # not started by a plain `docker compose up`
        assert compose["services"][name]["profiles"] == ["monitoring"]


def test_every_command_exists_in_the_image(compose: dict[str, Any]) -> None:
    known = _cli_commands()
    for name, service in _ours(compose).items():
        for argv in _flowhost_invocations(service):
            assert argv, name
            command = argv[0]
            if command == "users":
                assert argv[1] in {"add", "list", "rotate", "remove"}, (name, argv)
            assert command in known, f"service {name} runs unknown command {command!r}"


def _context_copies(stage: str) -> list[str]:
    """The build-context sources a Dockerfile stage copies (not `COPY --from=` another stage)."""
    return [
        line.split()[1]
        for line in stage.splitlines()
        if line.startswith("COPY ") and not line.split()[1].startswith("--")
    ]


def test_files_the_services_use_are_in_the_image(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    assert len(stages) >= 2, "the image is built in stages: the runtime carries no build inputs"
    for source in _context_copies(dockerfile):
        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    runtime = _context_copies(stages[-1])
    for name, service in _ours(compose).items():
        text = " ".join(service.get("command", []))
        for path in re.findall(r"/app/(\S+)", text):
            assert (ROOT / path).exists(), f"service {name} uses /app/{path}, missing in the repo"
            assert any(path == s or path.startswith(f"{s.rstrip('/')}/") for s in runtime), (
                f"/app/{path} is not copied into the runtime image"
            )


def test_the_image_runs_unprivileged_from_a_chosen_base() -> None:
    """Machines without a registry build on their own base (make compose-test imports one)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", dockerfile, re.MULTILINE)
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)[-1] == "${BASE_IMAGE}"
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}


def test_the_wheel_carries_the_files_the_image_reads(tmp_path: Path) -> None:
    """The image installs flowhost from a wheel, not the source tree: `flowhost load` needs
    its wrk script beside flowhost/bench/driver.py there."""
    import zipfile

    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("flowhost-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"flowhost/bench/wrk.lua", "flowhost/bench/package.yaml"} <= names


def test_environment_names_are_real_settings(compose: dict[str, Any]) -> None:
    gateway_fields = {f"FLOWHOST_{f.upper()}" for f in GatewaySettings.model_fields}
    executor_fields = {f"FLOWHOST_EXECUTOR_{f.upper()}" for f in ExecutorSettings.model_fields}
    cli_variables = {"FLOWHOST_ADMIN_PASSWORD", "FLOWHOST_ADMIN_USER", "FLOWHOST_URL"}
    for name, service in _ours(compose).items():
        for variable in service.get("environment", {}):
            assert variable in gateway_fields | executor_fields | cli_variables, (name, variable)


def test_gateway_finds_executors_by_their_service_name(compose: dict[str, Any]) -> None:
    services = compose["services"]
    host, port = services["gateway"]["environment"]["FLOWHOST_EXECUTOR_DNS"].split(":")
    assert host in services
    command = services[host]["command"]
    assert command[command.index("--port") + 1] == port
    assert command[command.index("--host") + 1] == "0.0.0.0"


def test_health_and_shutdown_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("gateway", "executor"):
        assert services[name]["healthcheck"]["test"][:3] == ["CMD", "flowhost", "probe"]
    drain = float(services["executor"]["environment"]["FLOWHOST_EXECUTOR_DRAIN_SECONDS"])
    grace = float(services["executor"]["stop_grace_period"].rstrip("s"))
    assert grace > drain, "executors must be allowed to finish draining before they are killed"
    deploy = services["deploy"]["depends_on"]
    assert deploy["gateway"]["condition"] == "service_healthy"
    assert deploy["executor"]["condition"] == "service_healthy"
    loadgen = services["loadgen"]["depends_on"]
    assert loadgen["deploy"]["condition"] == "service_completed_successfully"


_REQUIRED = re.compile(r"^\$\{(?P<variable>\w+):\?(?P<message>.+)\}$")
_SECRETS = {
    "FLOWHOST_ADMIN_PASSWORD",
    "FLOWHOST_LINK_TOKEN",
    "FLOWHOST_EXECUTOR_LINK_TOKEN",
}


def test_secrets_have_no_default(compose: dict[str, Any]) -> None:
    """Every secret comes from the operator's environment, and compose refuses to start
    without it (`${VAR:?message}`): no silent `change-me`."""
    assert "change-me" not in COMPOSE.read_text()
    seen: dict[str, set[str]] = {}
    for name, service in compose["services"].items():
        for variable, value in service.get("environment", {}).items():
            if variable in _SECRETS:
                required = _REQUIRED.match(str(value))
                assert required, f"{name}: {variable} must be ${{VAR:?message}}, not {value!r}"
                seen.setdefault(variable, set()).add(required["variable"])
    assert set(seen) == _SECRETS
    # The gateway and the executors take the one cluster token from the same variable.
    assert seen["FLOWHOST_LINK_TOKEN"] == seen["FLOWHOST_EXECUTOR_LINK_TOKEN"]
    services = compose["services"]
    assert "FLOWHOST_LINK_TOKEN" in services["gateway"]["environment"]
    assert "FLOWHOST_EXECUTOR_LINK_TOKEN" in services["executor"]["environment"]


def _compose_client() -> str:
    client = shutil.which("docker-compose")
    if client is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose)")
    return client


def test_compose_client_accepts_the_file() -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "FLOWHOST_CLUSTER_TOKEN": "a-cluster-token-for-the-test",
        "FLOWHOST_ADMIN_PASSWORD": "an-admin-password",
    }
    result = subprocess.run(
        [_compose_client(), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_secrets() -> None:
    result = subprocess.run(
        [_compose_client(), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert result.returncode != 0
    assert "FLOWHOST_" in result.stderr


def test_prometheus_scrapes_the_gateway_with_the_admin_login(compose: dict[str, Any]) -> None:
    services = compose["services"]
    prometheus = services["prometheus"]
    mounts = {v.split(":")[1]: ROOT / v.split(":")[0] for v in prometheus["volumes"] if "./" in v}
    config = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    assert host == "gateway" and port == services["gateway"]["environment"]["FLOWHOST_PORT"]
    # The password file the container writes from the operator's secret, never a literal.
    assert job["basic_auth"]["password_file"] in " ".join(prometheus["command"])
    assert "FLOWHOST_ADMIN_PASSWORD" in prometheus["environment"]


def test_grafana_loads_the_dashboard_from_prometheus(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[1]: ROOT / v.split(":")[0] for v in grafana["volumes"]}
    provisioning = mounts["/etc/grafana/provisioning"]
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "flowhost.yml").read_text())[
        "providers"
    ]
    folder = mounts[provider["options"]["path"]]
    dashboard = json.loads((folder / "flowhost.json").read_text())
    targets = [t for p in dashboard["panels"] for t in p["targets"]]
    assert targets and all(t["datasource"]["uid"] == source["uid"] for t in targets)
    used = {m for t in targets for m in re.findall(r"flowhost_\w+", t["expr"])}
    text = (ROOT / "docs" / "operations.md").read_text()
    documented = set(re.findall(r"`(flowhost_[\w*]+)`", text))
    families = {name.rstrip("*") for name in documented if name.endswith("*")}
    suffixes = ("_total", "_bucket", "_count", "_sum")
    for metric in used:
        base = next((metric[: -len(x)] for x in suffixes if metric.endswith(x)), metric)
        known = metric in documented or base in documented
        assert known or metric.startswith(tuple(families)), f"{metric} is not in operations.md"
