"""Who may set each configuration value: the package says, or the steps' use decides."""

from __future__ import annotations

import pytest

from executors.runtime import PackageInvalid, load_package
from executors.runtime.config_owners import host_config_names, referenced_names

from .helpers import package

PROCESSES = """
p:
  steps:
    - try:
        steps:
          - decision:
              if: 'true'
              then:
                - file: {action: list, folder: $config.folder}
        catch:
          - db: {url: '$config["dbUrl"]', sql: 'SELECT 1'}
    - http: {url: '"\\($config.apiBase)/x?q=\\($config.query)"'}
    - map: '{folderName: $config.label}'
    - return: {}
"""


def _owners(configuration: str) -> dict[str, str]:
    source = package(PROCESSES, service=f"{{path: t, configuration: {configuration}}}")
    return {c.name: c.set_by for c in load_package(source).service.configuration}


def test_host_fields_are_the_operators_however_deeply_nested() -> None:
    owners = _owners(
        "[{name: folder}, {name: dbUrl}, {name: apiBase}, {name: query}, {name: label}]"
    )
    assert owners == {
        "folder": "operator",
        "dbUrl": "operator",
        "apiBase": "operator",
        "query": "operator",  # part of the URL: it can change the host
        "label": "flow",  # only data
    }


def test_passwords_are_the_operators_and_the_package_may_say_otherwise() -> None:
    owners = _owners(
        "[{name: secret, type: password}, {name: label, set_by: operator},"
        " {name: folder, set_by: flow}]"
    )
    assert owners == {"secret": "operator", "label": "operator", "folder": "flow"}


def test_an_unknown_set_by_is_an_issue_with_its_path() -> None:
    with pytest.raises(PackageInvalid) as invalid:
        load_package(package(PROCESSES, service="{path: t, configuration: [{name: a, set_by: x}]}"))
    assert [i.path for i in invalid.value.issues] == ["service.configuration[0].set_by"]
    assert "operator, flow" in invalid.value.issues[0].message


def test_references_in_both_jq_spellings() -> None:
    assert referenced_names('"\\($config.a)/\\($config [ "b c" ])" + $configx.d') == {"a", "b c"}
    assert host_config_names([{"http": {"url": "$flow.token"}}]) == set()
