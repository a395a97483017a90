"""The Helm chart (deploy/helm/flowhost): rendered by Helm's own Go SDK (helm-python-sdk), every
manifest validated strictly against the Kubernetes schemas (kubernetes-validate), and what an
operator would check: one headless Service per runtime that the gateway's EXECUTOR_DNS names,
secrets referenced and never inlined, probes that run `flowhost probe`."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip(
    "helm_python.chart", reason="helm-python-sdk (the dev extra) renders the chart"
)
helm_errors = pytest.importorskip("helm_python.errors", reason="helm-python-sdk")
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate (the dev extra) validates the manifests"
)

CHART = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "flowhost"
TWO_RUNTIMES = yaml.safe_load((CHART / "ci" / "two-runtimes-values.yaml").read_text())
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schemas known.
KUBERNETES = ("1.25.0", kubernetes_validate.latest_version())


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART)
    rendered = chart.render(values, name="fh", namespace="flow", is_install=True)
    return [
        document
        for path, text in sorted(rendered.items())
        if path.endswith((".yaml", ".yml"))
        for document in yaml.safe_load_all(text)
        if document
    ]


def named(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container(deployment)["env"]}


@pytest.fixture(scope="module")
def default() -> list[dict[str, Any]]:
    return render({})


@pytest.fixture(scope="module")
def two_runtimes() -> list[dict[str, Any]]:
    return render(TWO_RUNTIMES)


@pytest.mark.parametrize("version", KUBERNETES)
def test_every_manifest_is_valid_kubernetes(
    default: list[dict[str, Any]], two_runtimes: list[dict[str, Any]], version: str
) -> None:
    kinds = set()
    for manifest in [*default, *two_runtimes]:
        kubernetes_validate.validate(manifest, version, strict=True)  # raises naming the field
        kinds.add(manifest["kind"])
    assert kinds == {
        "Deployment",
        "Service",
        "Secret",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    }


def test_a_misspelt_field_is_caught_by_the_validation() -> None:
    """The validation can fail: a field Kubernetes does not know is refused in strict mode."""
    manifest = named(render({}), "Service")["fh-flowhost-gateway"]
    manifest["spec"]["prots"] = manifest["spec"].pop("ports")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, KUBERNETES[-1], strict=True)


def test_each_runtime_has_executors_behind_a_headless_service_the_gateway_resolves(
    two_runtimes: list[dict[str, Any]],
) -> None:
    services = named(two_runtimes, "Service")
    deployments = named(two_runtimes, "Deployment")
    executors = {
        "default": "fh-flowhost-executor-default",
        "EU.prod": "fh-flowhost-executor-eu-prod",
    }
    for runtime, name in executors.items():
        service, deployment = services[name], deployments[name]
        assert service["spec"]["clusterIP"] == "None"  # headless: one DNS record per pod
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items()
        args = container(deployment)["args"]
        assert args[args.index("--runtime") + 1] == runtime
    # the selectors do not overlap: each Service finds only its runtime's pods
    selectors = [services[name]["spec"]["selector"] for name in executors.values()]
    assert selectors[0] != selectors[1]
    dns = env(deployments["fh-flowhost-gateway"])["FLOWHOST_EXECUTOR_DNS"]["value"]
    assert sorted(dns.split(",")) == sorted(f"{name}:50051" for name in executors.values())
    assert env(deployments["fh-flowhost-executor-eu-prod"])[
        "FLOWHOST_EXECUTOR_MAX_CONCURRENCY"
    ] == {"name": "FLOWHOST_EXECUTOR_MAX_CONCURRENCY", "value": "500"}
    assert deployments["fh-flowhost-gateway"]["spec"]["replicas"] == 2


def test_an_autoscaled_runtime_has_an_hpa_and_no_fixed_replica_count(
    default: list[dict[str, Any]], two_runtimes: list[dict[str, Any]]
) -> None:
    assert named(default, "HorizontalPodAutoscaler") == {}
    hpa = named(two_runtimes, "HorizontalPodAutoscaler")
    assert list(hpa) == ["fh-flowhost-executor-eu-prod"]
    assert hpa["fh-flowhost-executor-eu-prod"]["spec"]["maxReplicas"] == 10
    assert (
        "replicas" not in named(two_runtimes, "Deployment")["fh-flowhost-executor-eu-prod"]["spec"]
    )
    budgets = named(two_runtimes, "PodDisruptionBudget")
    assert set(budgets) == {
        "fh-flowhost-gateway",
        "fh-flowhost-executor-default",
        "fh-flowhost-executor-eu-prod",
    }


def test_secrets_are_referenced_never_inlined(two_runtimes: list[dict[str, Any]]) -> None:
    secret = named(two_runtimes, "Secret")["fh-flowhost-secrets"]
    stored = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert stored == {
        "cluster-token": TWO_RUNTIMES["secrets"]["clusterToken"],
        "admin-password": TWO_RUNTIMES["secrets"]["adminPassword"],
        "database-url": TWO_RUNTIMES["database"]["url"],
    }
    deployments = named(two_runtimes, "Deployment")
    text = yaml.safe_dump(list(deployments.values()))
    for value in stored.values():
        assert value not in text
    gateway = env(deployments["fh-flowhost-gateway"])
    for name, key in (
        ("FLOWHOST_ADMIN_PASSWORD", "admin-password"),
        ("FLOWHOST_DATABASE_URL", "database-url"),
    ):
        assert gateway[name]["valueFrom"]["secretKeyRef"] == {
            "name": "fh-flowhost-secrets",
            "key": key,
        }
    # the cluster token reaches gateway and executors as a file of the mounted Secret
    assert gateway["FLOWHOST_LINK_TOKEN_FILE"]["value"] == "/run/secrets/flowhost/cluster-token"
    for name, deployment in deployments.items():
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["secrets"]["secret"]["secretName"] == "fh-flowhost-secrets", name


def test_without_values_the_chart_generates_the_secrets_and_uses_sqlite(
    default: list[dict[str, Any]],
) -> None:
    secret = named(default, "Secret")["fh-flowhost-secrets"]
    assert set(secret["data"]) == {"cluster-token", "admin-password"}
    assert len(base64.b64decode(secret["data"]["cluster-token"])) >= 16  # the link's minimum
    gateway = env(named(default, "Deployment")["fh-flowhost-gateway"])
    assert "FLOWHOST_DATABASE_URL" not in gateway


def test_several_gateways_without_a_shared_database_are_refused() -> None:
    with pytest.raises(helm_errors.HelmRenderError, match=r"set database\.url"):
        render({"gateway": {"replicas": 2}})


def test_a_database_url_needs_the_charts_secret_or_its_own() -> None:
    values = {"secrets": {"existingSecret": "mine"}, "database": {"url": "postgresql://x"}}
    with pytest.raises(helm_errors.HelmRenderError, match=r"set database\.existingSecret"):
        render(values)
    values["database"]["existingSecret"] = "db"
    gateway = env(named(render(values), "Deployment")["fh-flowhost-gateway"])
    assert gateway["FLOWHOST_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "db",
        "key": "database-url",
    }
    assert gateway["FLOWHOST_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mine"


def test_a_runtime_whose_name_is_no_dns_label_needs_an_id() -> None:
    with pytest.raises(helm_errors.HelmRenderError, match=r"set runtimes\[\]\.id"):
        render({"runtimes": [{"name": "Ünïcode runtime", "replicas": 1}]})


def test_probes_run_flowhost_probe(two_runtimes: list[dict[str, Any]]) -> None:
    for name, deployment in named(two_runtimes, "Deployment").items():
        spec = container(deployment)
        target = "http://127.0.0.1:8080" if name.endswith("gateway") else "127.0.0.1:50051"
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert spec[probe]["exec"]["command"] == ["flowhost", "probe", target], (name, probe)
        assert spec["resources"]["requests"], name


@pytest.mark.parametrize("values", [{}, TWO_RUNTIMES], ids=["default", "two-runtimes"])
def test_helm_lint_finds_no_warning(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True)
    warnings = [m for m in report["messages"] if m["severity"] >= 2]  # 1 is info ("icon")
    assert (report["errors"], warnings) == ([], [])
