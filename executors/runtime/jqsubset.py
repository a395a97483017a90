"""The everyday subset of jq, evaluated in Python; libjq stays the reference for everything else.

Most maps and conditions in packages are field picks, arithmetic, comparisons and a string case
change: ``{total: (.quantity * .unitPrice), sku: (.sku | ascii_upcase)}``. Handing such a program
to libjq costs more in crossing into C and back than the work itself (measured on the benchmark's
map: 24 µs through libjq, ~3 µs here; ``ascii_upcase`` alone is 14 µs in libjq, where it is
written in jq). So `compile_subset` turns a program that uses only the grammar below into a
Python function, and `JqProgram` calls it before libjq.

The rule that keeps this honest: the function returns a value only where it is the value libjq
gives. Every case this module does not reproduce exactly (a jq error, a type mix, a non-finite
number, a multi-output construct) raises `Unsupported`, and the caller runs the whole program
in libjq instead, which then gives jq's own answer or jq's own error message. Numbers follow
jq: arithmetic and comparisons on doubles, and outputs as the jq binding returns them
(integral doubles as ints). tests/executors/runtime/test_jqsubset.py checks the answers against
libjq on fixed and generated programs.

The subset has no loops, no recursion and no generators (``range``, ``recurse``, ``def``, ``.[]``
are libjq's), so an evaluation does at most one operation per node of the program. What stays is
the size of values: ``. + . | . + . | ...`` doubles a string per pipe and ``[., .] | [., .] | ...``
doubles the tree the output walk visits. So a concatenation longer than `MAX_CONCAT` and an
output of more than `MAX_OUTPUT_CONTAINERS` arrays and objects step aside (`Unsupported`) to
libjq, which runs in a worker the deadline can stop (jqworkers.py); the event loop is never held
longer than that bounded work (measured: 8 ms for a walk that reaches the budget).

Grammar (jq's precedence, single-output only)::

    pipe    := alt ('|' alt)*
    alt     := or ('//' alt)?
    or      := and ('or' and)*
    and     := cmp ('and' cmp)*
    cmp     := add (('=='|'!='|'<'|'<='|'>'|'>=') add)?
    add     := mul (('+'|'-') mul)*
    mul     := unary (('*'|'/') unary)*
    unary   := '-' postfix | postfix
    postfix := term ('.name' | '."name"' | '[' string-or-int ']' | '.[' string-or-int ']')*
    term    := '.' | '.name' | '."name"' | '.[' string-or-int ']' | number | "string" | null
             | true | false | $config | $flow | $props | $docprops | '(' pipe ')'
             | '{' key ':' alt-or-pipe, ... '}' | '[' alt, ... ']'
             | if pipe then pipe (elif pipe then pipe)* (else pipe)? end
             | not | length | ascii_upcase | ascii_downcase | type | floor | ceil
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, Protocol

#: What a compiled subset program is: (input value, variable lookup) -> output value.
Evaluate = Callable[[Any, "Variables"], Any]


class Variables(Protocol):
    def __call__(self, name: str) -> Any: ...


class Unsupported(Exception):
    """This input (or program) is outside what the subset reproduces exactly: ask libjq."""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<field>\.[a-zA-Z_][a-zA-Z_0-9]*)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<variable>\$[a-zA-Z_][a-zA-Z_0-9]*)
  | (?P<ident>[a-zA-Z_][a-zA-Z_0-9]*)
  | (?P<op>//|==|!=|<=|>=|\.\.|[.|,:()\[\]{}+\-*/<>])
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset(
    {
        *("and", "or", "if", "then", "elif", "else", "end", "as", "def", "reduce", "foreach"),
        *("try", "catch", "label", "import", "include", "__loc__"),
    }
)
_VARIABLES = frozenset(("config", "flow", "props", "docprops"))
_TWO_TO_53 = 2**53
_DBL_MAX = 1.7976931348623157e308
#: The longest string or array ``+`` builds in Python; longer ones are libjq's (in a worker).
MAX_CONCAT = 1 << 20
#: The most arrays and objects an output may hold to be handed back from Python.
MAX_OUTPUT_CONTAINERS = 10_000


class _Syntax(Exception):
    """The text uses something outside the subset (it is valid jq: libjq compiled it first)."""


def compile_subset(text: str) -> Evaluate | None:
    """A Python function giving ``text``'s single output, or None when the text is outside the
    subset. Only call this with text libjq compiled: validity is jq's to judge."""
    try:
        tokens = _tokenize(text)
        parser = _Parser(tokens)
        node = parser.pipe()
        if parser.peek() is not None:
            raise _Syntax
    except _Syntax:
        return None

    def evaluate(value: Any, variables: Variables) -> Any:
        return as_jq_output(node(value, variables), [MAX_OUTPUT_CONTAINERS])

    return evaluate


# tokens ------------------------------------------------------------------------------------


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # '#' comments, '@formats', '?', '%', ...
            raise _Syntax
        kind = match.lastgroup
        assert kind is not None
        position = match.end()
        if kind != "space":
            tokens.append((kind, match.group()))
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self._tokens = tokens
        self._at = 0

    def peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _is(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == text and token[0] in ("op", "ident")

    def _take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _Syntax
        self._at += 1
        return token

    def _expect(self, text: str) -> None:
        if not self._is(text):
            raise _Syntax
        self._at += 1

    # precedence levels, lowest first

    def pipe(self) -> Evaluate:
        node = self.alt()
        while self._is("|"):
            self._at += 1
            node = _pipe(node, self.alt())
        return node

    def alt(self) -> Evaluate:
        node = self._or()
        if self._is("//"):
            self._at += 1
            return _alternative(node, self.alt())
        return node

    def _or(self) -> Evaluate:
        return self._left_associative("or", self._and, _or)

    def _and(self) -> Evaluate:
        return self._left_associative("and", self._compare, _and)

    def _left_associative(
        self,
        word: str,
        operand: Callable[[], Evaluate],
        combine: Callable[[Evaluate, Evaluate], Evaluate],
    ) -> Evaluate:
        node = operand()
        while self._is(word):
            self._at += 1
            node = combine(node, operand())
        return node

    def _compare(self) -> Evaluate:
        node = self._add()
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in _COMPARISONS:
            self._at += 1
            node = _binary(_COMPARISONS[token[1]], node, self._add())
            following = self.peek()
            if following is not None and following[1] in _COMPARISONS:
                raise _Syntax  # jq: non-associative
        return node

    def _add(self) -> Evaluate:
        node = self._multiply()
        while self._is("+") or self._is("-"):
            operator = _add if self._take()[1] == "+" else _subtract
            node = _binary(operator, node, self._multiply())
        return node

    def _multiply(self) -> Evaluate:
        node = self._unary()
        while self._is("*") or self._is("/"):
            operator = _multiply if self._take()[1] == "*" else _divide
            node = _binary(operator, node, self._unary())
        return node

    def _unary(self) -> Evaluate:
        if self._is("-"):
            self._at += 1
            return _negate(self._postfix())
        return self._postfix()

    def _postfix(self) -> Evaluate:
        node = self._term()
        while True:
            token = self.peek()
            if token is None:
                return node
            kind, text = token
            if kind == "field":
                self._at += 1
                node = _pipe(node, _field(text[1:]))
            elif text == "." and self._next_is_index_or_string():
                self._at += 1
                node = _pipe(node, self._index_after_dot())
            elif text == "[" and kind == "op":
                node = _pipe(node, self._bracket())
            else:
                return node

    def _next_is_index_or_string(self) -> bool:
        following = self._tokens[self._at + 1] if self._at + 1 < len(self._tokens) else None
        return following is not None and (following[1] == "[" or following[0] == "string")

    def _index_after_dot(self) -> Evaluate:
        token = self.peek()
        if token is not None and token[0] == "string":
            self._at += 1
            return _field(_string(token[1]))
        return self._bracket()

    def _bracket(self) -> Evaluate:
        self._expect("[")
        kind, text = self._take()
        self._expect("]")
        if kind == "string":
            return _field(_string(text))
        if kind == "number" and text.isdigit():
            return _index(int(text))
        raise _Syntax  # .[] iterates, .[-1] and slices are left to libjq

    def _term(self) -> Evaluate:
        kind, text = self._take()
        if kind == "field":
            return _field(text[1:])
        if kind == "number":
            number = float(text)
            if not math.isfinite(number):
                raise _Syntax
            return _constant(number)
        if kind == "string":
            return _constant(_string(text))
        if kind == "variable":
            name = text[1:]
            if name not in _VARIABLES:
                raise _Syntax
            return _variable(name)
        if kind == "ident":
            return self._word(text)
        if text == ".":
            if self._next_is_index_or_string_here():
                return self._index_after_dot()
            return _identity
        if text == "(":
            node = self.pipe()
            self._expect(")")
            return node
        if text == "{":
            return self._object()
        if text == "[":
            return self._array()
        raise _Syntax

    def _next_is_index_or_string_here(self) -> bool:
        token = self.peek()
        return token is not None and (token[1] == "[" or token[0] == "string")

    def _word(self, word: str) -> Evaluate:
        if word in ("null", "true", "false"):
            return _constant({"null": None, "true": True, "false": False}[word])
        if word == "if":
            return self._if()
        if word in _BUILTINS and not self._is("("):
            return _BUILTINS[word]
        raise _Syntax

    def _if(self) -> Evaluate:
        branches = []
        while True:
            condition = self.pipe()
            self._expect("then")
            branches.append((condition, self.pipe()))
            if self._is("elif"):
                self._at += 1
                continue
            break
        otherwise: Evaluate = _identity
        if self._is("else"):
            self._at += 1
            otherwise = self.pipe()
        self._expect("end")
        return _conditional(branches, otherwise)

    def _object(self) -> Evaluate:
        entries: list[tuple[str | Evaluate, Evaluate]] = []
        while not self._is("}"):
            kind, text = self._take()
            key: str | Evaluate
            if kind == "ident" and text not in _KEYWORDS:
                key = text
            elif kind == "string":
                key = _string(text)
            elif text == "(":
                key = self.pipe()
                self._expect(")")
            else:
                raise _Syntax
            if self._is(":"):
                self._at += 1
                entries.append((key, self.pipe()))
            elif kind == "ident":  # {name} is {name: .name}
                entries.append((text, _field(text)))
            else:
                raise _Syntax
            if not self._is(","):
                break
            self._at += 1
        self._expect("}")
        return _object(entries)

    def _array(self) -> Evaluate:
        elements: list[Evaluate] = []
        if self._is("]"):
            self._at += 1
            return _array(elements)
        while True:
            elements.append(self.alt())
            if self._is(","):
                self._at += 1
                continue
            break
        self._expect("]")  # a '|' here would pipe into a comma list: several outputs
        return _array(elements)


def _string(literal: str) -> str:
    if "\\(" in literal:  # string interpolation
        raise _Syntax
    try:
        value = json.loads(literal)
    except ValueError:
        raise _Syntax from None
    assert isinstance(value, str)
    return value


# evaluation --------------------------------------------------------------------------------


def _identity(value: Any, variables: Variables) -> Any:
    return value


def _constant(constant: Any) -> Evaluate:
    return lambda value, variables: constant


def _variable(name: str) -> Evaluate:
    return lambda value, variables: variables(name)


def _pipe(first: Evaluate, then: Evaluate) -> Evaluate:
    return lambda value, variables: then(first(value, variables), variables)


def _field(name: str) -> Evaluate:
    def field(value: Any, variables: Variables) -> Any:
        if type(value) is dict:
            return value.get(name)
        if value is None:
            return None
        raise Unsupported  # jq: Cannot index <type> with "name"

    return field


def _index(position: int) -> Evaluate:
    def index(value: Any, variables: Variables) -> Any:
        if type(value) is list:
            return value[position] if position < len(value) else None
        if value is None:
            return None
        raise Unsupported

    return index


def _truthy(value: Any) -> bool:
    return value is not None and value is not False


def _alternative(first: Evaluate, otherwise: Evaluate) -> Evaluate:
    def alternative(value: Any, variables: Variables) -> Any:
        chosen = first(value, variables)
        return chosen if _truthy(chosen) else otherwise(value, variables)

    return alternative


def _or(left: Evaluate, right: Evaluate) -> Evaluate:
    return lambda value, variables: (
        _truthy(left(value, variables)) or _truthy(right(value, variables))
    )


def _and(left: Evaluate, right: Evaluate) -> Evaluate:
    return lambda value, variables: (
        _truthy(left(value, variables)) and _truthy(right(value, variables))
    )


def _conditional(branches: list[tuple[Evaluate, Evaluate]], otherwise: Evaluate) -> Evaluate:
    def conditional(value: Any, variables: Variables) -> Any:
        for condition, then in branches:
            if _truthy(condition(value, variables)):
                return then(value, variables)
        return otherwise(value, variables)

    return conditional


def _object(entries: list[tuple[str | Evaluate, Evaluate]]) -> Evaluate:
    def construct(value: Any, variables: Variables) -> Any:
        built = {}
        for key, entry in entries:
            if not isinstance(key, str):
                key = key(value, variables)
                if type(key) is not str:
                    raise Unsupported  # jq: Object keys must be strings
            built[key] = entry(value, variables)
        return built

    return construct


def _array(elements: list[Evaluate]) -> Evaluate:
    return lambda value, variables: [element(value, variables) for element in elements]


def _binary(operator: Callable[[Any, Any], Any], left: Evaluate, right: Evaluate) -> Evaluate:
    return lambda value, variables: operator(left(value, variables), right(value, variables))


def _negate(operand: Evaluate) -> Evaluate:
    return lambda value, variables: _finite(-_number(operand(value, variables)))


# numbers are doubles in jq

_NUMBER_TYPES = (int, float)


def _number(value: Any) -> float:
    if type(value) not in _NUMBER_TYPES:
        raise Unsupported
    try:
        return float(value)
    except OverflowError:  # an integer beyond the doubles
        raise Unsupported from None


def _finite(number: float) -> float:
    if math.isfinite(number):
        return number
    raise Unsupported  # jq carries inf/nan on with its own rules; leave them to it


def _add(left: Any, right: Any) -> Any:
    if left is None:
        return right
    if right is None:
        return left
    kind = type(left)
    if kind is type(right) and kind in (str, list):
        if len(left) + len(right) > MAX_CONCAT:
            raise Unsupported  # a doubling chain: bounded work is libjq's, in a worker
        return left + right
    if kind is dict and type(right) is dict:
        return {**left, **right}
    return _finite(_number(left) + _number(right))


def _subtract(left: Any, right: Any) -> Any:
    return _finite(_number(left) - _number(right))


def _multiply(left: Any, right: Any) -> Any:
    return _finite(_number(left) * _number(right))


def _divide(left: Any, right: Any) -> Any:
    divisor = _number(right)
    if divisor == 0:
        raise Unsupported  # jq: cannot be divided because the divisor is zero
    return _finite(_number(left) / divisor)


def _equal(left: Any, right: Any) -> bool:
    kind, other = type(left), type(right)
    if kind in _NUMBER_TYPES and other in _NUMBER_TYPES:
        return _number(left) == _number(right)
    if kind is str and other is str:
        return bool(left == right)
    if kind in (dict, list) or other in (dict, list):
        raise Unsupported
    return left is right  # null, true, false; any other mix of kinds is unequal


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def ordered(left: Any, right: Any) -> bool:
        if type(left) is str and type(right) is str:
            return compare(left, right)  # code point order, as jq's byte order of UTF-8
        return compare(_number(left), _number(right))

    return ordered


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    "!=": lambda left, right: not _equal(left, right),
    "<": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b),
    ">": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b),
}


# builtins without arguments


def _length(value: Any, variables: Variables) -> Any:
    if value is None:
        return 0
    if type(value) in (str, list, dict):
        return len(value)
    return abs(_number(value))  # bool: jq errors, _number refuses


def _ascii_case(upper: bool) -> Evaluate:
    def change(value: Any, variables: Variables) -> Any:
        if type(value) is not str:
            raise Unsupported
        if value.isascii():
            return value.upper() if upper else value.lower()
        # Only a-z / A-Z change in jq; bytes.upper() touches ASCII letters only.
        encoded = value.encode()
        return (encoded.upper() if upper else encoded.lower()).decode()

    return change


_TYPE_NAMES = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def _type(value: Any, variables: Variables) -> Any:
    name = _TYPE_NAMES.get(type(value))
    if name is None:
        raise Unsupported
    return name


_BUILTINS: dict[str, Evaluate] = {
    "not": lambda value, variables: not _truthy(value),
    "length": _length,
    "ascii_upcase": _ascii_case(upper=True),
    "ascii_downcase": _ascii_case(upper=False),
    "type": _type,
    "floor": lambda value, variables: float(math.floor(_number(value))),
    "ceil": lambda value, variables: float(math.ceil(_number(value))),
}


# output ------------------------------------------------------------------------------------


def as_jq_output(value: Any, budget: list[int] | None = None) -> Any:
    """``value`` as the jq binding would hand it back: numbers went through doubles and
    integral ones come back as ints. Containers are copied only where something changes.

    ``budget`` (one counter, shared down the walk) is how many more arrays and objects may be
    visited; past it the walk raises Unsupported."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is int:
        if -_TWO_TO_53 <= value <= _TWO_TO_53:
            return value
        return int(_number(value))
    if kind is float:
        if not math.isfinite(value):
            raise Unsupported
        return int(value) if value.is_integer() else value
    if kind is dict or kind is list:
        if budget is None:
            budget = [MAX_OUTPUT_CONTAINERS]
        budget[0] -= 1
        if budget[0] < 0:
            raise Unsupported  # a tree that shares its parts many times over
    if kind is dict:
        changed = None
        for key, item in value.items():
            output = as_jq_output(item, budget)
            if output is not item or type(output) is not type(item):
                if changed is None:
                    changed = dict(value)
                changed[key] = output
        return value if changed is None else changed
    if kind is list:
        outputs = [as_jq_output(item, budget) for item in value]
        if all(o is i for o, i in zip(outputs, value, strict=True)):
            return value
        return outputs
    raise Unsupported
