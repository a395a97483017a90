"""Property tests: generated valid packages load; a broken step type is reported where it is."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executors.runtime import PackageInvalid, load_package
from executors.runtime.registry import step_types
from tests.strategies import runtime_packages

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(runtime_packages())
def test_valid_generated_packages_load(data: dict[str, Any]) -> None:
    source = yaml.safe_dump(data, sort_keys=False)
    package = load_package(source)
    assert package.name == data["name"]
    assert set(package.processes) == set(data["processes"])
    assert [a.process for a in package.service.actions] == [
        a["process"] for a in data["service"]["actions"]
    ]


@SETTINGS
@given(runtime_packages(), st.data())
def test_a_mutated_step_type_is_reported_at_its_path(data: dict[str, Any], draw: Any) -> None:
    broken = copy.deepcopy(data)
    process = draw.draw(st.sampled_from(sorted(broken["processes"])), label="process")
    steps = broken["processes"][process]["steps"]
    index = draw.draw(st.integers(0, len(steps) - 1), label="step")
    (old_type,) = [key for key in steps[index] if key not in ("name", "id")]
    new_type = draw.draw(
        st.from_regex(r"\A[a-z_]{1,10}\Z").filter(
            lambda t: t not in step_types() and t not in ("name", "id")
        ),
        label="new type",
    )
    steps[index] = {new_type: steps[index][old_type]}

    try:
        load_package(yaml.safe_dump(broken, sort_keys=False))
    except PackageInvalid as error:
        issues = [(i.path, i.message) for i in error.issues]
    else:
        raise AssertionError("a package with an unknown step type loaded")
    path = f"processes.{process}.steps[{index}]"
    assert any(p == path and f"unknown step type '{new_type}'" in m for p, m in issues), issues
