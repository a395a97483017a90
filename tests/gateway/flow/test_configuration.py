"""A request's $config: package default <- operator (runtime) <- operator (tenant) <- Flow."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.configuration.values import RuntimeConfig
from gateway.errors import BadRequest, Unavailable
from gateway.flow.actions import configuration
from gateway.flow.describe import describe_v2
from gateway.services import compile_service
from gateway.spec import ConfigSpec, ServiceSpec

SPEC = ServiceSpec(
    name="orders",
    version="1",
    service_path="orders",
    configuration=(
        ConfigSpec("greeting", default="hello"),
        ConfigSpec("apiBase", required=True, set_by="operator"),
        ConfigSpec("apiKey", type="password", set_by="operator"),
        ConfigSpec("token"),
    ),
)
SERVICE = compile_service("prod", SPEC, "")
OPERATOR = RuntimeConfig(
    values={"apiBase": "https://all", "apiKey": "k", "greeting": "op", "other": "x"},
    tenants={"acme": {"apiBase": "https://acme"}},
    secrets=frozenset({"token", "other"}),
)


def _flow(**values: Any) -> list[dict[str, Any]]:
    return [{"developerName": k, "contentValue": v} for k, v in values.items()]


def test_operator_values_then_the_tenant_then_flow_for_flow_settable_ones() -> None:
    config, secrets = configuration(SERVICE, _flow(greeting="flow"), OPERATOR, None)
    assert config == {"apiBase": "https://all", "apiKey": "k", "greeting": "flow"}
    assert secrets == ("token",)  # the operator's secrets this service declares
    tenant, _ = configuration(SERVICE, None, OPERATOR, "acme")
    assert tenant["apiBase"] == "https://acme" and tenant["greeting"] == "op"


def test_a_flow_value_for_an_operator_value_is_refused_naming_it() -> None:
    with pytest.raises(BadRequest) as refused:
        configuration(SERVICE, _flow(apiBase="http://169.254.169.254"), OPERATOR, None)
    assert refused.value.code == "operator_configuration"
    assert "'apiBase'" in refused.value.message
    assert refused.value.details == {"configuration_value": "apiBase"}


def test_empty_and_undeclared_flow_values_are_ignored() -> None:
    # A connector saved before the value became the operator's may still send it empty.
    config, _ = configuration(
        SERVICE, _flow(apiBase="", apiKey=None, surprise="/etc"), OPERATOR, None
    )
    assert config["apiBase"] == "https://all" and "surprise" not in config


def test_a_required_operator_value_missing_says_who_sets_it() -> None:
    with pytest.raises(BadRequest) as missing:
        configuration(SERVICE, _flow(apiBase="x"), RuntimeConfig(), None)
    assert missing.value.code == "operator_configuration"
    with pytest.raises(BadRequest) as missing:
        configuration(SERVICE, None, RuntimeConfig(), None)
    assert missing.value.code == "missing_configuration"
    assert "flowhost config set apiBase VALUE --runtime prod" in missing.value.message


def test_an_undecryptable_value_is_unavailable_not_missing() -> None:
    broken = RuntimeConfig(values={"apiBase": "x"}, undecryptable=frozenset({"apiKey"}))
    with pytest.raises(Unavailable, match="cannot be decrypted"):
        configuration(SERVICE, None, broken, None)


def test_metadata_describes_only_flow_settable_values() -> None:
    described = describe_v2(SPEC)["configurationValues"]
    assert [v["developerName"] for v in described] == ["greeting", "token"]


def test_specs_stored_before_set_by_keep_passwords_for_the_operator() -> None:
    raw = SPEC.to_json()
    for value in raw["configuration"]:
        del value["set_by"]
    old = ServiceSpec.from_json(raw)
    assert [c.set_by for c in old.configuration] == ["flow", "flow", "operator", "flow"]
