"""Flow values ↔ JSON documents: round trips, conversions, and every error message."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from gateway.flow.describe import install_v2
from gateway.flow.profiles import ProfileError
from gateway.flow.values import (
    FlowValueError,
    compile_object,
    compile_request,
    compile_response,
    document_to_object,
    format_scalar,
    object_to_document,
)
from gateway.spec import ActionSpec, DataSpec, ServiceSpec
from tests.strategies import flow_profiles_and_documents

ALL_KINDS = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "price": {"type": "number"},
        "count": {"type": "integer"},
        "active": {"type": "boolean"},
        "at": {"type": "string", "format": "date-time"},
        "owner": {"type": "object", "properties": {"id": {"type": "string"}}},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string"},
                    "qty": {"type": "number"},
                    "product": {"type": "object", "properties": {"code": {"type": "integer"}}},
                },
                "required": ["sku"],
            },
        },
    },
    "required": ["name"],
}


def value(name: str, content: str | None, content_type: str = "ContentString") -> dict[str, Any]:
    return {"developerName": name, "contentValue": content, "contentType": content_type}


def obj(type_name: str, **props: Any) -> dict[str, Any]:
    """An MObject as Flow sends it; a dict/list property value becomes objectData."""
    properties = []
    for name, v in props.items():
        if isinstance(v, dict):
            properties.append({"developerName": name, "contentValue": None, "objectData": [v]})
        elif isinstance(v, list):
            properties.append({"developerName": name, "contentValue": None, "objectData": v})
        else:
            properties.append({"developerName": name, "contentValue": v, "objectData": None})
    return {
        "internalId": None,
        "externalId": None,
        "developerName": type_name,
        "properties": properties,
    }


def walk_objects(values: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    found = []
    for v in values or ():
        for o in v.get("objectData") or ():
            found.append(o)
            found.extend(walk_objects(o["properties"]))
    return found


# --- properties --------------------------------------------------------------------------------


@given(flow_profiles_and_documents())
# Generating documents is slow only when the machine is (the parallel suite under load);
# that says nothing about the code under test.
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_outputs_read_back_as_inputs_give_the_same_document(case: Any) -> None:
    profile, document = case
    outputs = compile_response("act", profile).to_outputs(document)
    assert compile_request("act", profile).to_document(outputs) == document


@given(flow_profiles_and_documents())
def test_every_type_an_output_names_is_installed_with_those_properties(case: Any) -> None:
    profile, document = case
    spec = ServiceSpec(
        name="p",
        version="1",
        service_path="p",
        profiles={"R": profile},
        actions=(ActionSpec(name="act", process="x", request="R", response="R"),),
    )
    types = {t["developerName"]: t for t in install_v2(spec)["types"]}
    outputs = compile_response("act", profile).to_outputs(document)
    for v in outputs:
        if v["contentType"] in ("ContentObject", "ContentList"):
            assert v["typeElementDeveloperName"] in types
    for o in walk_objects(outputs):
        declared = [p["developerName"] for p in types[o["developerName"]]["properties"]]
        assert [p["developerName"] for p in o["properties"]] == declared


@given(flow_profiles_and_documents())
def test_data_objects_round_trip(case: Any) -> None:
    profile, document = case
    mobject = document_to_object(document, profile, "Thing", "ext-1")
    assert mobject["developerName"] == "Thing"
    assert mobject["externalId"] == "ext-1"
    assert object_to_document(mobject, profile) == document


def test_every_content_type_appears() -> None:
    document = {
        "name": "n",
        "price": 2.5,
        "count": 3,
        "active": True,
        "at": "2016-09-13T14:20:24.000+01:00",
        "owner": {"id": "o1"},
        "lines": [{"sku": "a", "qty": 30.0, "product": {"code": 7}}, {"sku": "b"}],
    }
    outputs = compile_response("act", ALL_KINDS).to_outputs(document)
    assert {v["contentType"] for v in outputs} == {
        "ContentString",
        "ContentNumber",
        "ContentBoolean",
        "ContentDateTime",
        "ContentObject",
        "ContentList",
    }
    assert compile_request("act", ALL_KINDS).to_document(outputs) == document


# --- request: conversions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("number", "3", 3),
        ("number", "-4", -4),
        ("number", "12.5", 12.5),
        ("number", "1e3", 1000.0),
        ("number", " 7 ", 7),
        ("integer", "42", 42),
        ("integer", "42.0", 42),
        ("boolean", "true", True),
        ("boolean", "FALSE", False),
        ("boolean", "True", True),
        ("string", "", ""),
        ("string", "x y", "x y"),
    ],
)
def test_scalars_convert_by_profile_type(kind: str, text: str, expected: Any) -> None:
    profile = {"type": "object", "properties": {"v": {"type": kind}}}
    doc = compile_request("a", profile).to_document([value("v", text)])
    assert doc == {"v": expected}
    assert type(doc["v"]) is type(expected)


def test_date_times_are_kept_as_text() -> None:
    profile = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}
    translator = compile_request("a", profile)
    stamp = "2016-09-13T14:20:24.000+01:00"
    assert translator.to_document([value("at", stamp, "ContentDateTime")]) == {"at": stamp}
    assert translator.to_document([value("at", "", "ContentDateTime")]) == {}


def test_missing_null_and_empty_optional_values_are_omitted_and_unknown_ones_ignored() -> None:
    translator = compile_request("act", ALL_KINDS)
    inputs = [
        value("name", "n"),
        value("price", ""),
        value("count", None),
        value("active", ""),
        {"developerName": "owner", "contentValue": None, "objectData": None},
        {"developerName": "lines", "contentValue": None, "objectData": []},
        value("surprise", "ignored"),
    ]
    assert translator.to_document(inputs) == {"name": "n", "lines": []}


def test_no_profile_means_no_inputs_and_no_outputs() -> None:
    assert compile_request("a", None).to_document([value("x", "1")]) == {}
    assert compile_response("a", None).to_outputs({"x": 1}) == []
    assert compile_response("a", {"type": "object"}).to_outputs(None) == []


# --- request: errors ---------------------------------------------------------------------------


QUANTITY = {
    "type": "object",
    "properties": {
        "orderId": {"type": "string"},
        "quantity": {"type": "number"},
        "count": {"type": "integer"},
        "rush": {"type": "boolean"},
        "customer": {
            "type": "object",
            "properties": {"id": {"type": "string"}},
            "required": ["id"],
        },
        "lines": {
            "type": "array",
            "items": {"type": "object", "properties": {"qty": {"type": "number"}}},
        },
    },
    "required": ["orderId"],
}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([value("quantity", "abc")], "input 'quantity': 'abc' is not a number"),
        ([], "input 'orderId' is required"),
        (None, "input 'orderId' is required"),
        ([value("orderId", None)], "input 'orderId' is required"),
        ([value("count", "2.5")], "input 'count': '2.5' is not an integer"),
        ([value("rush", "yes")], "input 'rush': 'yes' is not a boolean (true or false)"),
        ([value("quantity", "1e999")], "input 'quantity': '1e999' is out of range"),
        ([value("quantity", "nan")], "input 'quantity': 'nan' is not a number"),
        ([value("quantity", "Infinity")], "input 'quantity': 'Infinity' is not a number"),
        ([value("quantity", "1_000")], "input 'quantity': '1_000' is not a number"),
        (
            [value("quantity", "1180591620717411303424")],
            "input 'quantity': '1180591620717411303424' is outside the 64-bit integer range "
            "(-9223372036854775808 to 9223372036854775807); send it as text (a string "
            "property) if it is an identifier",
        ),
        ([value("count", "1e300")], "input 'count': '1e300' is outside the 64-bit integer range"),
        ([value("count", 2**64 - 1)], "input 'count': 18446744073709551615 is outside the 64"),
        ([value("quantity", "7" * 5000)], "input 'quantity': '77777777777777777...7777"),
        ([value("quantity", {"a": 1})], "input 'quantity': {'a': 1} is not a number"),
        ([value("lines", "3")], "input 'lines': expected ContentList with objectData"),
        (
            [{"developerName": "lines", "contentValue": None, "objectData": {"a": 1}}],
            "input 'lines': expected ContentList with objectData",
        ),
        ([value("customer", "c1")], "input 'customer': expected ContentObject with objectData"),
        (
            [{"developerName": "customer", "objectData": [obj("C", name="x")]}],
            "input 'customer.id' is required",
        ),
        (
            [{"developerName": "lines", "objectData": [obj("L", qty="1"), obj("L", qty="x")]}],
            "input 'lines[1].qty': 'x' is not a number",
        ),
        (
            [{"developerName": "lines", "objectData": ["nope"]}],
            "input 'lines[0]': expected ContentList with objectData",
        ),
        (["not a value"], "input: expected a list of Flow values"),
    ],
)
def test_input_errors_name_the_input(inputs: Any, message: str) -> None:
    if inputs and all(isinstance(i, dict) for i in inputs):
        inputs = [*inputs, value("orderId", "o1")] if "orderId" not in message else inputs
    with pytest.raises(FlowValueError) as caught:
        compile_request("order", QUANTITY).to_document(inputs)
    assert str(caught.value).startswith(message)
    assert len(str(caught.value)) < 200  # a huge value is never echoed whole
    assert isinstance(caught.value, ValueError)
    assert caught.value.side == "input"


def test_required_error_carries_the_name_and_no_reason() -> None:
    with pytest.raises(FlowValueError) as caught:
        compile_request("order", QUANTITY).to_document([])
    assert (caught.value.name, caught.value.reason) == ("orderId", None)


# --- response ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (-12, "-12"),
        (30.0, "30"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (12.5, "12.5"),
        (1e16, "1e+16"),
        (1e-7, "1e-07"),
        (True, "true"),
        (False, "false"),
        (None, None),
        ("x", "x"),
    ],
)
def test_numbers_and_booleans_format_as_flow_text(value: Any, text: str | None) -> None:
    assert format_scalar(value) == text


def test_outputs_have_the_engine_value_shape() -> None:
    outputs = compile_response("quote", QUANTITY).to_outputs(
        {"orderId": "o1", "quantity": 2.0, "customer": {"id": "c"}, "lines": [{"qty": 1}], "x": 1}
    )
    by_name = {v["developerName"]: v for v in outputs}
    assert list(by_name) == ["orderId", "quantity", "customer", "lines"]
    assert by_name["quantity"] == {
        "valueElementId": None,
        "typeElementId": None,
        "typeElementPropertyId": None,
        "developerName": "quantity",
        "typeElementDeveloperName": None,
        "typeElementPropertyDeveloperName": None,
        "contentValue": "2",
        "contentType": "ContentNumber",
        "objectData": None,
    }
    customer = by_name["customer"]
    assert customer["typeElementDeveloperName"] == "quote RESPONSE - customer"
    assert customer["objectData"] == [
        {
            "internalId": None,
            "externalId": None,
            "developerName": "quote RESPONSE - customer",
            "typeElementId": None,
            "order": 0,
            "isSelected": False,
            "properties": [
                {
                    "typeElementPropertyId": None,
                    "developerName": "id",
                    "contentType": "ContentString",
                    "contentValue": "c",
                    "contentFormat": None,
                    "objectData": None,
                }
            ],
        }
    ]
    assert by_name["lines"]["contentType"] == "ContentList"
    assert by_name["lines"]["typeElementDeveloperName"] == "quote RESPONSE - lines"


def test_explicit_null_outputs_clear_the_value() -> None:
    outputs = compile_response("a", QUANTITY).to_outputs({"quantity": None, "customer": None})
    assert [(v["developerName"], v["contentValue"], v["objectData"]) for v in outputs] == [
        ("quantity", None, None),
        ("customer", None, None),
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1], "output: expected a JSON object, got an array"),
        ({"quantity": {"a": 1}}, "output 'quantity': expected a scalar, got an object"),
        ({"quantity": float("nan")}, "output 'quantity': nan is not a finite number"),
        ({"customer": "c"}, "output 'customer': expected an object, got a scalar"),
        ({"lines": {"qty": 1}}, "output 'lines': expected an array of objects, got an object"),
        ({"lines": [{"qty": 1}, 2]}, "output 'lines[1]': expected an object, got a scalar"),
        ({"lines": [{"qty": [1]}]}, "output 'lines[0].qty': expected a scalar, got an array"),
    ],
)
def test_output_errors_name_the_output(document: Any, message: str) -> None:
    with pytest.raises(FlowValueError) as caught:
        compile_response("order", QUANTITY).to_outputs(document)
    assert str(caught.value) == message
    assert caught.value.side == "output"


# --- profiles ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"type": "array", "items": {"type": "object"}}, "profile (root): expected type: object"),
        (
            {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
            },
            "profile properties.tags: Flow lists hold objects: items must be type: object",
        ),
        (
            {"type": "object", "properties": {"x": {"$ref": "#/defs/x"}}},
            "profile properties.x: an unresolved $ref (deploy resolves them)",
        ),
        (
            {"type": "object", "properties": {"x": {"type": ["string", "number"]}}},
            "profile properties.x: ambiguous type ['string', 'number']",
        ),
    ],
)
def test_profiles_flow_cannot_hold_are_refused_at_compile_time(
    profile: dict[str, Any], message: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        compile_request("a", profile)
    assert str(caught.value) == message


def test_nullable_and_untyped_schemas_are_understood() -> None:
    profile = {
        "type": "object",
        "properties": {
            "n": {"type": ["number", "null"]},
            "o": {"properties": {"a": {}}},
        },
    }
    shape = compile_response("a", profile).shape
    assert [(f.name, f.kind) for f in shape.fields] == [("n", "number"), ("o", "object")]
    assert shape.fields[1].obj is not None
    assert shape.fields[1].obj.fields[0].kind == "string"


def test_data_types_name_nested_entries_after_the_type() -> None:
    translator = compile_object(
        {"type": "object", "properties": {"address": {"type": "object", "properties": {}}}},
        "Customer",
    )
    mobject = translator.to_object({"address": {}}, external_id="7")
    assert mobject["developerName"] == "Customer"
    assert mobject["properties"][0]["objectData"][0]["developerName"] == "Customer - address"


def test_data_spec_types_are_installed_with_a_binding() -> None:
    spec = ServiceSpec(
        name="p",
        version="1",
        service_path="p",
        profiles={"C": {"type": "object", "properties": {"id": {"type": "integer"}}}},
        data=(DataSpec(type="Country", profile="C", id="id"),),
    )
    (country,) = install_v2(spec)["types"]
    assert country["developerName"] == "Country"
    (binding,) = country["bindings"]
    assert binding["databaseTableName"] == "Country"
    assert binding["propertyBindings"][0]["typeElementPropertyDeveloperName"] == "id"


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("integer", "9223372036854775807", 2**63 - 1),
        ("integer", "-9223372036854775808", -(2**63)),
        ("number", "-9223372036854775808", -(2**63)),
        ("number", "1.180591620717411303424e21", 1.180591620717411303424e21),  # a double: fine
        ("number", "1e300", 1e300),
        ("integer", "4.0", 4),
    ],
)
def test_numbers_up_to_the_64_bit_edges_are_read(kind: str, text: str, expected: Any) -> None:
    profile = {"type": "object", "properties": {"n": {"type": kind}}}
    assert compile_request("a", profile).to_document([value("n", text)]) == {"n": expected}
