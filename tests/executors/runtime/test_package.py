"""Package validation: every kind of issue is reported, with its path, all at once."""

from __future__ import annotations

import textwrap

import pytest

from executors.runtime import PackageInvalid, load_package
from executors.runtime.errors import Issue

VALID = """
name: orders
version: 1.0.0
summary: Orders for Flow
service:
  path: shop/orders
  configuration:
    - {name: apiBase, type: string, required: true}
    - {name: limit, type: number, default: 10}
    - {name: verbose, type: boolean, default: "false", summary: Log more}
  profiles:
    OrderQuery: {type: object, properties: {orderId: {type: string}}, required: [orderId]}
    OrderStatus:
      type: object
      properties:
        status: {type: string}
        lines: {type: array, items: {type: object, properties: {sku: {type: string}}}}
    Country: {type: object, properties: {code: {type: string}, name: {type: string}}}
  actions:
    - name: getOrder
      process: get-order
      request: OrderQuery
      response: OrderStatus
      sync_timeout: 5s
      wait_message: Working on it
      outcomes: [found, missing]
  data:
    - {type: Country, profile: Country, id: code, load: get-order}
  files:
    - {path: /invoices, list: get-order, upload: get-order}
processes:
  get-order:
    mode: general
    timeout: 2m
    steps:
      - map: '{status: "open"}'
      - return: {}
"""


def issues_of(source: str) -> list[Issue]:
    with pytest.raises(PackageInvalid) as caught:
        load_package(textwrap.dedent(source))
    return caught.value.issues


def assert_issue(source: str, path: str, words: str) -> None:
    issues = issues_of(source)
    matching = [i for i in issues if i.path == path and words in i.message]
    assert matching, f"no issue at {path!r} mentioning {words!r} in {issues}"


def test_a_valid_package_loads_with_every_field() -> None:
    package = load_package(VALID)
    assert (package.name, package.version, package.summary) == (
        "orders",
        "1.0.0",
        "Orders for Flow",
    )
    service = package.service
    assert service.path == "shop/orders"
    assert [(c.name, c.type, c.required, c.default) for c in service.configuration] == [
        ("apiBase", "string", True, ""),
        ("limit", "number", False, "10"),
        ("verbose", "boolean", False, "false"),
    ]
    assert service.configuration[2].summary == "Log more"
    action = service.actions[0]
    assert (action.name, action.process, action.request, action.response) == (
        "getOrder",
        "get-order",
        "OrderQuery",
        "OrderStatus",
    )
    assert (action.sync_timeout_ms, action.wait_message, action.outcomes) == (
        5000,
        "Working on it",
        ["found", "missing"],
    )
    assert service.data[0].id == "code" and service.data[0].load == "get-order"
    assert service.data[0].save == "" and service.files[0].upload == "get-order"
    process = package.processes["get-order"]
    assert (process.mode, process.timeout_ms, len(process.steps)) == ("general", 120_000, 2)
    assert package.source == VALID


def test_defaults() -> None:
    package = load_package(
        """
        name: p
        version: 2
        service: {path: p, actions: [{name: a, process: x}]}
        processes: {x: {steps: [{map: .}]}}
        """.replace("\n        ", "\n")
    )
    assert package.version == "2"
    assert package.processes["x"].mode == "low-latency"
    assert package.processes["x"].timeout_ms == 300_000
    assert package.service.actions[0].sync_timeout_ms == 30_000
    assert package.service.actions[0].request == ""


def test_version_written_as_a_number_is_kept_as_text() -> None:
    assert load_package(VALID.replace("version: 1.0.0", "version: 1.0")).version == "1.0"


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (("name: orders", "name: Orders!"), "name", "not a valid package name"),
        (("version: 1.0.0", "version: [1]"), "version", "expected a string"),
        (("path: shop/orders", "path: /shop"), "service.path", "not a valid path"),
        (("summary: Orders for Flow", "sumary: x"), "sumary", "did you mean 'summary'"),
        (
            ("process: get-order\n", "process: get-ordr\n"),
            "service.actions[0].process",
            "no process named 'get-ordr'",
        ),
        (
            ("request: OrderQuery", "request: Nope"),
            "service.actions[0].request",
            "no profile named 'Nope'",
        ),
        (
            ("sync_timeout: 5s", "sync_timeout: soon"),
            "service.actions[0].sync_timeout",
            "expected a duration",
        ),
        (("id: code", "id: iso"), "service.data[0].id", "'iso' is not a property of profile"),
        (("profile: Country", "profile: Land"), "service.data[0].profile", "no profile named"),
        (("load: get-order}", "load: nope}"), "service.data[0].load", "no process named 'nope'"),
        (("list: get-order", "list: nope"), "service.files[0].list", "no process named 'nope'"),
        (("path: /invoices", "path: invoices"), "service.files[0].path", "not a valid path"),
        (
            ("type: number, default: 10", "type: integer"),
            "service.configuration[1].type",
            "expected one of string, number",
        ),
        (("default: 10", "default: ten"), "service.configuration[1].default", "expected a number"),
        (
            ("required: true}", "required: maybe}"),
            "service.configuration[0].required",
            "expected true or false",
        ),
        (("mode: general", "mode: fast"), "processes.get-order.mode", "expected one of"),
        (("timeout: 2m", "timeout: -1"), "processes.get-order.timeout", "cannot be negative"),
        (("timeout: 2m", "timeout: 2 days"), "processes.get-order.timeout", "expected a duration"),
        (
            ("map: '{status: \"open\"}'", "map: '{status: '"),
            "processes.get-order.steps[0].map",
            "jq compile error",
        ),
        (
            ("- return: {}", "- retrun: {}"),
            "processes.get-order.steps[1]",
            "unknown step type 'retrun' (did you mean 'return'?)",
        ),
        (
            ("- return: {}", "- {return: {}, map: .}"),
            "processes.get-order.steps[1]",
            "exactly one step type",
        ),
        (
            ("- return: {}", "- {name: only a name}"),
            "processes.get-order.steps[1]",
            "needs a step type",
        ),
        (
            ("- return: {}", "- return: {outcom: x}"),
            "processes.get-order.steps[1].outcom",
            "unknown key 'outcom'",
        ),
        (
            ("OrderQuery: {type: object,", "OrderQuery: {type: objekt,"),
            "service.profiles.OrderQuery",
            "not a valid JSON Schema",
        ),
        (
            ("Country: {type: object,", "Country: {type: array, items: {type: object},"),
            "service.profiles.Country.type",
            "root must be type: object",
        ),
        (
            ("items: {type: object, properties: {sku: {type: string}}}", "items: {type: string}"),
            "service.profiles.OrderStatus.properties.lines.items",
            "Flow lists hold objects",
        ),
    ],
)
def test_each_issue_has_its_path(change: tuple[str, str], path: str, words: str) -> None:
    old, new = change
    assert old in VALID, old
    assert_issue(VALID.replace(old, new, 1), path, words)


def test_duplicates_are_reported() -> None:
    source = VALID.replace(
        "  data:",
        "    - {name: getOrder, process: get-order}\n  data:",
    ).replace("- {name: limit, type: number", "- {name: apiBase, type: number")
    issues = issues_of(source)
    assert Issue("service.actions[1].name", "duplicate action 'getOrder'") in issues
    assert (
        Issue("service.configuration[1].name", "duplicate configuration value 'apiBase'") in issues
    )


def test_every_issue_is_reported_at_once() -> None:
    source = (
        VALID.replace("process: get-order\n", "process: nope\n")
        .replace("- return: {}", "- retrun: {}")
        .replace("map: '{status: \"open\"}'", "map: '{'")
        .replace("id: code", "id: iso")
    )
    with pytest.raises(PackageInvalid) as caught:
        load_package(source)
    error = caught.value
    paths = {issue.path for issue in error.issues}
    assert {
        "service.actions[0].process",
        "processes.get-order.steps[1]",
        "processes.get-order.steps[0].map",
        "service.data[0].id",
    } <= paths
    text = str(error)
    assert text.startswith(f"package is invalid ({len(error.issues)} issues)")
    assert all(str(issue) in text for issue in error.issues)


def test_missing_sections_and_wrong_shapes() -> None:
    assert_issue("name: x\nversion: '1'\nprocesses: {}\n", "", "missing required key 'service'")
    assert_issue("[1, 2]", "", "expected a mapping")
    source = "name: x\nversion: '1'\nservice: {path: x, actions: {a: b}}\nprocesses: {p: []}\n"
    assert_issue(source, "service.actions", "expected a list")
    assert_issue(source, "processes.p", "expected a mapping")
    assert_issue(
        "name: x\nversion: '1'\nservice: {path: x}\nprocesses: {p: {steps: []}}\n",
        "processes.p.steps",
        "at least one step",
    )


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("name: x\nname: y\n", "line 2, column 1: duplicate key 'name'"),
        ("name: [1,\nversion: 2\n", "line 3, column 1: expected ',' or ']'"),
        ("a: b: c\n", "line 1, column 5: mapping values are not allowed here"),
    ],
)
def test_malformed_yaml_is_reported_with_line_and_column(source: str, words: str) -> None:
    issues = issues_of(source)
    assert len(issues) == 1 and issues[0].path == "<yaml>"
    assert words in issues[0].message


def test_yaml_dates_and_yes_no_stay_strings() -> None:
    package = load_package(
        VALID.replace('default: "false"', "default: no").replace(
            "status: {type: string}", "status: {type: string, const: 2024-01-01}"
        )
    )
    assert package.service.configuration[2].default == "no"
    status = package.service.profiles["OrderStatus"]["properties"]["status"]
    assert status["const"] == "2024-01-01"


@pytest.mark.parametrize(
    ("step", "path", "words"),
    [
        ("{http: {url: '.', methd: GET}}", "processes.p.steps[0].methd", "did you mean 'method'"),
        ("{http: {method: FETCH, url: '.'}}", "processes.p.steps[0].method", "expected one of"),
        ("{http: {method: GET}}", "processes.p.steps[0]", "missing required key 'url'"),
        ("{http: {url: '.', retries: -1}}", "processes.p.steps[0].retries", "integer >= 0"),
        ("{decision: {if: '.a ==', then: []}}", "processes.p.steps[0].if", "jq compile error"),
        (
            "{decision: {if: .a, then: [{mapp: .}]}}",
            "processes.p.steps[0].then[0]",
            "unknown step type 'mapp'",
        ),
        (
            "{decision: {if: .a, then: [{map: '{'}]}}",
            "processes.p.steps[0].then[0].map",
            "jq compile error",
        ),
        (
            "{route: {by: .k, routes: {a: [{fail: ')'}]}}}",
            "processes.p.steps[0].routes.a[0].fail",
            "jq compile error",
        ),
        (
            "{branch: [[{map: .}], [{nope: 1}]]}",
            "processes.p.steps[0].branch[1][0]",
            "unknown step type",
        ),
        ("{branch: {}}", "processes.p.steps[0]", "expected a list of step lists"),
        (
            "{try: {steps: [{map: .}], catch: [{sleep: soon}]}}",
            "processes.p.steps[0].catch[0].sleep",
            "expected a duration",
        ),
        ("{call: other}", "processes.p.steps[0].call", "no process named 'other'"),
        ("{call: {process: other}}", "processes.p.steps[0].process", "no process named 'other'"),
        ("{set: {props: {a: '$nope'}}}", "processes.p.steps[0].props.a", "$nope is not defined"),
        ("{log: {level: loud, message: .}}", "processes.p.steps[0].level", "expected one of"),
        ("{combine: {key: [1]}}", "processes.p.steps[0].key", "expected a string"),
        ("{sleep: }", "processes.p.steps[0].sleep", "expected a duration"),
        ("{map: ., name: [1]}", "processes.p.steps[0].name", "expected a string"),
    ],
)
def test_step_issues_have_their_path(step: str, path: str, words: str) -> None:
    head = "name: x\nversion: '1'\nservice: {path: x}\n"
    source = f"{head}processes:\n  p:\n    steps:\n      - {step}\n"
    assert_issue(source, path, words)


def test_jq_compile_error_points_into_the_users_program() -> None:
    source = (
        "name: x\nversion: '1'\nservice: {path: x}\nprocesses: {p: {steps: [{map: '.a | foo'}]}}\n"
    )
    (issue,) = issues_of(source)
    assert issue.message == "jq compile error: foo/0 is not defined, line 1, column 6"
