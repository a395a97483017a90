"""The jq subset evaluated in Python must give libjq's answer, or step aside.

Every check runs the same program on the same input both ways: through libjq (the jq binding,
the reference) and through `compile_subset`. Where the subset answers, the answer must be
libjq's exactly: same JSON types (1 is not 1.0), same key order. Where libjq errors, the subset
must not answer (it raises Unsupported and the step falls back to libjq, which reports the error).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import jq
import orjson
import pytest

from executors.runtime.documents import Document
from executors.runtime.errors import StepError
from executors.runtime.expressions import JqProgram
from executors.runtime.jqsubset import Unsupported, compile_subset
from executors.runtime.policy import RuntimePolicy

VARIABLES = {
    "props": {"p": 2, "name": "Ann", "nested": {"x": [1, 2]}},
    "config": {"region": "eu"},
    "flow": {"user": "u1", "tenantId": "t"},
    "docprops": {"d": "7"},
}

INPUT_VALUES: list[Any] = [
    0,
    1,
    -1,
    3,
    2.5,
    -0.0,
    3.0,
    1e-7,
    0.1,
    1e300,
    2**53 + 1,
    9223372036854775807,
    "Ab-ß",
    "",
    "x",
    "10",
    None,
    True,
    False,
    [1, "a", None],
    [],
    {"a": 1, "b": [2.0]},
    {},
]


def inputs(seed: int, count: int) -> list[Any]:
    chooser = random.Random(seed)
    documents: list[Any] = [
        {"sku": "ab-100", "quantity": 3, "unitPrice": 12.5},
        {"a": 1, "b": 2, "n": 2.5, "s": "Hello", "x": None},
        None,
        [1, 2],
        "text",
        7,
    ]
    for _ in range(count):
        documents.append(
            {k: chooser.choice(INPUT_VALUES) for k in "abnsx" if chooser.random() < 0.85}
        )
    return documents


def libjq(text: str, value: Any) -> list[Any] | str:
    """The reference: every output, or the error text."""
    try:
        program = jq.compile(text, args=VARIABLES)
        return list(program.input_text(json.dumps(value)))
    except ValueError as error:
        return f"error: {error}"


def subset(text: str, value: Any) -> Any:
    evaluate = compile_subset(text)
    assert evaluate is not None, f"{text!r} should be inside the subset"
    return evaluate(orjson.loads(json.dumps(value)), VARIABLES.__getitem__)


def same(left: Any, right: Any) -> bool:
    """Equal with JSON types kept apart (1 vs 1.0, True vs 1) and key order compared."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    return bool(left == right)


def check(text: str, value: Any) -> bool:
    """Assert agreement; True when the subset answered (rather than stepping aside)."""
    expected = libjq(text, value)
    try:
        answer = subset(text, value)
    except Unsupported:
        return False
    assert not isinstance(expected, str), (
        f"{text!r} on {value!r}: libjq {expected}, subset {answer!r}"
    )
    assert len(expected) == 1 and same(answer, expected[0]), (
        f"{text!r} on {value!r}: libjq {expected!r}, subset {answer!r}"
    )
    return True


EVERYDAY = [
    "{total: (.quantity * .unitPrice), sku: (.sku | ascii_upcase)}",
    ".quantity * .unitPrice",
    ".quantity * .unitPrice > 30",
    "{sku, quantity}",
    '{"unit price": .unitPrice, "n": 1}',
    ".sku | ascii_downcase",
    'if .quantity > 2 then "bulk" elif .quantity == 2 then "pair" else "single" end',
    "if .quantity > 2 then .sku end",
    '.missing // "default"',
    ".quantity >= 3 and .unitPrice < 20",
    '.quantity < 1 or .sku == "ab-100"',
    ".sku | length",
    "[.sku, .quantity] | length",
    "[.sku, (.quantity + 1)]",
    ".sku | type",
    ".missing | not",
    ".unitPrice | floor",
    ".unitPrice | ceil",
    "-.unitPrice + 1",
    ".quantity - .unitPrice - 1",
    ".unitPrice / .quantity / 2",
    "1 + 2 * 3 - 4 / 8",
    '.sku + "-" + (.quantity | type)',
    "{(.sku): .quantity}",
    '.["sku"]',
    '."sku"',
    "$props.p * .quantity",
    "$props.nested.x[1]",
    "{user: $flow.user, region: $config.region, d: $docprops.d}",
    ". + {extra: true}",
    "{a: {b: [.quantity, null, true]}} | .a.b[0]",
    ".",
    "null",
    "(.quantity)",
]


@pytest.mark.parametrize("text", EVERYDAY)
def test_everyday_programs_are_answered_in_python_with_libjqs_answer(text: str) -> None:
    document = {"sku": "ab-100", "quantity": 3, "unitPrice": 12.5}
    assert check(text, document), f"{text!r} fell back to libjq on an ordinary document"


@pytest.mark.parametrize("text", EVERYDAY)
def test_everyday_programs_agree_with_libjq_on_odd_inputs(text: str) -> None:
    for value in inputs(seed=len(text), count=40):
        check(text.replace(".sku", ".s").replace(".quantity", ".a"), value)


@pytest.mark.parametrize(
    "text",
    [
        ".[]",
        ".a, .b",
        "map(.a)",
        ".a?",
        '"\\(.a)"',
        ".a % 2",
        "# comment\n.a",
        "reduce .[] as $x (0; . + $x)",
        ".a as $x | $x",
        "try .a catch 0",
        "@base64",
        "..",
        ".[-1]",
        ".[1:]",
        "[.a | .b]",
        "(.a, .b)",
        "$ENV.HOME",
        "{if: 1}",
        "length(1)",
        ".a |= 1",
        "empty",
    ],
)
def test_programs_outside_the_subset_are_left_to_libjq(text: str) -> None:
    assert compile_subset(text) is None


def test_generated_programs_agree_with_libjq() -> None:
    chooser = random.Random(20261124)
    values = inputs(seed=1, count=30)
    answered = tried = 0
    for _ in range(400):
        text = generate(chooser, depth=3)
        if isinstance(libjq(text, None), str) and "compile" in libjq(text, None):
            continue  # not valid jq
        for value in chooser.sample(values, 6):
            tried += 1
            answered += check(text, value)
    # The comparison means something only if the subset answered a good share itself.
    print(f"subset answered {answered} of {tried}")
    assert answered > tried * 0.25, (answered, tried)


def generate(chooser: random.Random, depth: int) -> str:
    if depth == 0 or chooser.random() < 0.2:
        return chooser.choice(
            [
                *(".", ".a", ".b", ".n", ".s", ".x", "0", "1", "2.5", "1e3", '"Ab"', '""'),
                *("null", "true", "false", "$props.p", "$docprops.d", ".b[0]", '.["a"]', "[]"),
            ]
        )
    inner = [generate(chooser, depth - 1) for _ in range(3)]
    a, b, c = (f"({part})" for part in inner)
    operator = chooser.choice(["+", "-", "*", "/", "==", "!=", "<", "<=", ">", ">="])
    return chooser.choice(
        [
            f"{a} {operator} {b}",
            f"{a} and {b}",
            f"{a} or {b}",
            f"{a} // {b}",
            f"{a} | {chooser.choice(['not', 'length', 'ascii_upcase', 'type', 'floor'])}",
            f"{{k: {a}, j: {b}}}",
            f"[{a}, {b}]",
            f"if {a} then {b} else {c} end",
            f"{a}.a",
            f"{a}[0]",
            f"-{a}",
            f"{a} | {b}",
            f"{a} + {b} * {c}",
            f"{a} - {b} - {c}",
        ]
    )


class Context:
    """What a step hands a program: the document's JSON text, the variables, the policy."""

    policy = RuntimePolicy()

    def jq_input(self, document: Document, variables: tuple[str, ...]) -> str:
        assert not variables
        return document.raw.decode()

    def jq_variable(self, name: str, document: Document) -> Any:
        return VARIABLES[name]


async def test_a_step_sees_jqs_own_error_when_the_subset_steps_aside() -> None:
    program = JqProgram(".quantity * .unitPrice")
    document = Document.from_value({"quantity": [3], "unitPrice": 2})
    with pytest.raises(StepError) as raised:
        await program.values(document, Context())
    assert "cannot be multiplied" in str(raised.value)


async def test_a_step_gets_libjqs_outputs_where_the_subset_steps_aside() -> None:
    document = Document.from_value({"quantity": 3, "unitPrice": 12.5, "items": [1, 2]})
    assert await JqProgram(".items[]").values(document, Context()) == [1, 2]
    # An integer beyond 64 bits: orjson cannot read the document, libjq can.
    wide = Document.from_bytes(b'{"quantity": 100000000000000000000000}')
    assert await JqProgram(".quantity").values(wide, Context()) == [99999999999999991611392]


async def test_a_step_program_reads_the_executions_variables() -> None:
    document = Document.from_value({"quantity": 3})
    assert await JqProgram("$props.p * .quantity").values(document, Context()) == [6]
    assert await JqProgram("$docprops.d").first(document, Context()) == "7"


@pytest.mark.parametrize(
    "program",
    [" | ".join(["[., .]"] * 40), " | ".join([". + ."] * 40), " | ".join(["{a: ., b: .}"] * 40)],
)
def test_a_doubling_program_steps_aside_within_the_subsets_budget(program: str) -> None:
    """No loops run in Python, but values can double per pipe: the subset gives up quickly."""
    evaluate = compile_subset(program)
    assert evaluate is not None
    start = time.perf_counter()
    with pytest.raises(Unsupported):
        evaluate("ab", _no_variables)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("program", ["last(range(1e12))", "def f: f; f", "[recurse]", ".[]"])
def test_programs_that_loop_are_never_run_in_python(program: str) -> None:
    assert compile_subset(program) is None


def _no_variables(name: str) -> Any:
    raise AssertionError(name)
