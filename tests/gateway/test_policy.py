"""The operator's runtime policy: validation that names the field and entry, and its digest."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.policy import RuntimePolicies, RuntimePolicy


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("egress_allow", ["10.0.0.0/33"], "not a network"),
        ("egress_allow", ["::1/200"], "not a network"),
        ("egress_allow", ["bad host"], "not a host name"),
        ("egress_allow", ["*"], "not a host name"),
        ("egress_allow", ["a" * 3000], "longer than"),
        ("database_urls", ["::"], "not a SQLAlchemy URL"),
        ("database_urls", ["postgresql://h:99999/x"], "not a TCP port"),
        ("database_urls", ["postgresql:///x"], "names no host"),
        ("database_urls", ["postgresql://u:secret@h/x"], "password"),
        ("database_urls", ["sqlite:///x.db"], "SQLite needs no entry"),
        ("files_root", "relative", "absolute"),
        ("limits", {"split_fanout": 0}, "greater than or equal to 1"),
        ("surprise", True, "Extra inputs"),
    ],
)
def test_bad_values_name_the_field_and_the_entry(field: str, value: object, says: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        RuntimePolicy.model_validate({field: value})
    problem = invalid.value.errors()[0]
    assert problem["loc"][0] == field
    assert says in problem["msg"]
    if isinstance(value, list):
        assert "[0]" in problem["msg"]


def test_entries_are_normalised_and_the_digest_follows_the_content() -> None:
    policy = RuntimePolicy(egress_allow=(" API.Example.com. ", "*.Flow.example", "10.0.0.0/8"))
    assert policy.egress_allow == ("api.example.com", "*.flow.example", "10.0.0.0/8")
    assert policy.digest == RuntimePolicy.model_validate(policy.model_dump()).digest
    assert policy.digest != RuntimePolicy().digest
    assert RuntimePolicy(allow_loopback=True).digest != RuntimePolicy().digest


def test_runtimes_without_a_stored_policy_get_the_default() -> None:
    policies = RuntimePolicies(["dev"])
    assert policies.of("prod") == RuntimePolicy()
    assert policies.of("dev").allow_loopback and not policies.is_stored("dev")
    policies.load({"dev": RuntimePolicy(allow_private=True)})
    assert policies.is_stored("dev") and not policies.of("dev").allow_loopback
