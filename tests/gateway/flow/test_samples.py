"""Translation and describe checked against real Flow bodies in ../shared/flow-samples.

Skipped, with the reason, when the shared folder is not next to the repository.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.flow.describe import describe_v1, describe_v2, install_v2, outcome_id
from gateway.flow.values import compile_request, compile_response
from gateway.spec import ActionSpec, ConfigSpec, DataSpec, ServiceSpec

SAMPLES = (Path(__file__).parents[3] / "../shared/flow-samples").resolve()
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"Flow samples not found at {SAMPLES}")

# keys flowhost adds where the platform model and the Java SDK spell a field differently
EXTRA_SPELLINGS = {"isRequired", "order", "isViewMessageAction", "viewMessageAction"}


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props}


def lst(**props: Any) -> dict[str, Any]:
    return {"type": "array", "items": obj(**props)}


S = {"type": "string"}
DT = {"type": "string", "format": "date-time"}
B = {"type": "boolean"}

FOLDER = obj(ID=S, Name=S, Description=S, Files=lst(ID=S, Name=S), **{"Created At": DT})
FOLDER["properties"]["Modified At"] = DT
FILE = obj(ID=S, Name=S, Description=S, Content=S, Comments=lst(ID=S, Message=S))
FILE["properties"].update({"Parent Folder": FOLDER, "Created At": DT, "Modified At": DT})


# --- message action inputs -----------------------------------------------------------------------


def test_file_copy_inputs_with_nested_objects_become_one_document() -> None:
    profile = {
        "type": "object",
        "properties": {"Source File": FILE, "Destination Folder": FOLDER, "Name": S},
        "required": ["Source File", "Destination Folder"],
    }
    inputs = sample("box-action-file-copy-request.json")["inputs"]
    assert compile_request("file copy", profile).to_document(inputs) == {
        "Source File": {
            "ID": "76719779365",
            "Name": "mountain_cool (2).jpg",
            "Description": "",
            "Content": "",
            "Parent Folder": {"ID": "8793141473", "Name": "jose", "Description": "", "Files": []},
            "Created At": "2016-08-02T10:42:34.000+01:00",
            "Modified At": "2016-08-02T12:10:10.000+01:00",
        },
        "Destination Folder": {"ID": "0", "Name": "All Files", "Description": "", "Files": []},
        "Name": "mountain_cool (2).jpg",
    }


TASK_FOLDER = obj(ID=S, Name=S, Description=S, **{"Created At": DT, "Modified At": DT})
TASK_FOLDER["properties"]["Parent Folder"] = obj(ID=S)
TASK_FILE = obj(ID=S, Name=S, Description=S, Content=S, Comments=lst(ID=S))
TASK_FILE["properties"].update({"Parent Folder": TASK_FOLDER, "Created At": DT, "Modified At": DT})
TASK = obj(ID=S, Message=S, File=TASK_FILE, **{"Due At": DT, "Is Completed?": B, "Created At": DT})


def test_task_assignment_inputs_become_one_document() -> None:
    profile = {
        "type": "object",
        "properties": {"Task": TASK, "Assignee Email": S},
        "required": ["Task", "Assignee Email"],
    }
    inputs = sample("box-action-taskassignment-create-request.json")["inputs"]
    assert compile_request("task assign", profile).to_document(inputs) == {
        "Task": {
            "ID": "14627330",
            "Message": "94761962967",
            "Is Completed?": False,
            "Created At": "2016-09-13T14:20:24.000+01:00",
            "File": {
                "ID": "94761962967",
                "Name": "dog.jpg",
                "Description": "",
                "Content": "",
                "Parent Folder": {"ID": "0", "Name": "All Files", "Description": ""},
            },
        },
        "Assignee Email": "jose.collazzi@manywho.com",
    }


# --- message action outputs ----------------------------------------------------------------------

ASSIGNMENT_FOLDER = obj(ID=S, Name=S, Description=S, **{"Created At": DT, "Modified At": DT})
ASSIGNMENT_FOLDER["properties"]["Parent Folder"] = obj(ID=S)
ASSIGNMENT_FILE = obj(ID=S, Name=S, Description=S, Content=S)
ASSIGNMENT_FILE["properties"].update(
    {"Parent Folder": ASSIGNMENT_FOLDER, "Created At": DT, "Modified At": DT}
)
ASSIGNMENT = obj(ID=S, **{"Assignee Email": S}, File=ASSIGNMENT_FILE)  # the sample's order
ASSIGNMENT_RESPONSE = obj(**{"Task Assignment": ASSIGNMENT})


def same_shape(ours: Any, theirs: Any, path: str = "") -> None:
    """Same keys at every level and the same nesting; None and [] both mean "no objects"."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        assert set(ours) == set(theirs), path
        for key in theirs:
            same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list) and theirs:
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            same_shape(a, b, f"{path}[{i}]")
    else:
        assert not isinstance(ours, dict | list) or not ours, path


def test_task_assignment_outputs_match_the_sample_shape() -> None:
    expected = sample("box-action-taskassignment-create-response.json")["outputs"]
    # Read the sample's own outputs as a document, then write that document back as outputs.
    document = compile_request("task assign", ASSIGNMENT_RESPONSE).to_document(expected)
    assert document["Task Assignment"]["File"]["Name"] == "dog.jpg"
    outputs = compile_response("task assign", ASSIGNMENT_RESPONSE).to_outputs(document)
    same_shape(outputs, expected)
    assert outputs[0]["contentType"] == "ContentObject"
    assert outputs[0]["typeElementDeveloperName"] == "task assign RESPONSE - Task Assignment"

    def texts(values: list[dict[str, Any]]) -> list[tuple[str, Any]]:
        found = []
        for v in values:
            found.append((v["developerName"], v["contentValue"] or None))
            for o in v.get("objectData") or ():
                found.extend(texts(o["properties"]))
        return found

    assert texts(outputs) == texts(expected)


# --- describe ------------------------------------------------------------------------------------


def same_keys(ours: dict[str, Any], theirs: dict[str, Any], where: str) -> None:
    """Every key of the sample is ours, with a value of the same JSON kind; ours adds only the
    documented second spellings."""
    assert set(theirs) <= set(ours), f"{where}: missing {set(theirs) - set(ours)}"
    assert set(ours) - set(theirs) <= EXTRA_SPELLINGS | {"version", "types", "install"}, where
    for key, value in theirs.items():
        if value is None or ours[key] is None:
            continue
        assert type(ours[key]) is type(value), f"{where}.{key}"


def javasdk_like_spec() -> ServiceSpec:
    return ServiceSpec(
        name="test",
        version="1.0.0",
        service_path="test",
        configuration=(
            ConfigSpec(name="Value One", required=True),
            ConfigSpec(name="Value Two"),
        ),
        profiles={
            "In": obj(Type=obj(Name=S), Name=S, Types=lst(Name=S)),
            "Out": obj(**{"Created At": DT}),
            "Test Type": obj(Name=S),
        },
        actions=(
            ActionSpec(
                name="testaction",
                process="p",
                request="In",
                response="Out",
                summary="Test summary",
                outcomes=("done", "failed"),
            ),
        ),
        data=(DataSpec(type="Test Type", profile="Test Type", id="Name", load="p"),),
        files=(),
    )


def check_type_elements(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    for t in ours:
        same_keys(t, theirs[0], "type")
        for p in t["properties"]:
            same_keys(p, theirs[0]["properties"][0], "type.property")
        for b in t["bindings"]:
            same_keys(b, theirs[0]["bindings"][0], "type.binding")
            for pb in b["propertyBindings"]:
                same_keys(pb, theirs[0]["bindings"][0]["propertyBindings"][0], "propertyBinding")


def check_actions(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    for action in ours:
        same_keys(action, theirs[0], "action")
        for v in action["serviceInputs"] + action["serviceOutputs"]:
            same_keys(v, theirs[0]["serviceInputs"][0], "action.value")


@pytest.mark.parametrize(
    "name", ["javasdk-v1-metadata-response.json", "box-metadata-response.json"]
)
def test_describe_v1_has_the_sample_shape(name: str) -> None:
    theirs = sample(name)
    culture = {"language": "EN", "country": "USA"}
    ours = describe_v1(javasdk_like_spec(), "https://h/fs/test", culture)
    same_keys(ours, theirs, "describe")
    assert (ours["uri"], ours["culture"]) == ("https://h/fs/test", culture)
    for v in ours["configurationValues"]:
        same_keys(v, theirs["configurationValues"][0], "configurationValue")
    assert [
        (v["developerName"], v["contentType"], v["required"], v["isRequired"])
        for v in ours["configurationValues"]
    ] == [
        ("Value One", "ContentString", True, True),
        ("Value Two", "ContentString", False, False),
    ]
    check_actions(ours["actions"], theirs["actions"])
    check_type_elements(ours["install"]["typeElements"], theirs["install"]["typeElements"])
    assert (ours["providesLogic"], ours["providesDatabase"], ours["providesFiles"]) == (
        True,
        True,
        False,
    )
    assert not any(
        v
        for k, v in ours.items()
        if k.startswith("provides") and k not in {"providesLogic", "providesDatabase"}
    )


def test_describe_v1_actions_and_types_follow_the_profiles() -> None:
    spec = javasdk_like_spec()
    (action,) = describe_v1(spec, None, None)["actions"]
    assert action["uriPart"] == "actions/testaction"
    assert action["developerSummary"] == "Test summary"
    assert [
        (v["developerName"], v["contentType"], v["typeElementDeveloperName"], v["ordinal"])
        for v in action["serviceInputs"]
    ] == [
        ("Type", "ContentObject", "testaction REQUEST - Type", 0),
        ("Name", "ContentString", None, 1),
        ("Types", "ContentList", "testaction REQUEST - Types", 2),
    ]
    assert action["serviceOutputs"][0]["contentType"] == "ContentDateTime"
    assert action["serviceActionOutcomes"] == [
        {
            "id": outcome_id(spec, "testaction", "done"),
            "developerName": "done",
            "developerSummary": "",
        },
        {
            "id": outcome_id(spec, "testaction", "failed"),
            "developerName": "failed",
            "developerSummary": "",
        },
    ]
    types = {
        t["developerName"]: t for t in describe_v1(spec, None, None)["install"]["typeElements"]
    }
    assert list(types) == ["testaction REQUEST - Type", "testaction REQUEST - Types", "Test Type"]
    assert [b["databaseTableName"] for b in types["Test Type"]["bindings"]] == ["Test Type"]
    assert types["testaction REQUEST - Type"]["bindings"] == []


def test_outcome_ids_are_stable_across_versions_and_distinct() -> None:
    spec = javasdk_like_spec()
    again = ServiceSpec.from_json({**spec.to_json(), "version": "2.0.0"})
    assert outcome_id(spec, "testaction", "done") == outcome_id(again, "testaction", "done")
    assert outcome_id(spec, "testaction", "done") != outcome_id(spec, "testaction", "failed")
    assert describe_v1(spec, "u", None) == describe_v1(again, "u", None)


def test_describe_v2_has_the_sample_shape() -> None:
    theirs = sample("javasdk-v2-metadata-describe-response.json")
    ours = describe_v2(javasdk_like_spec())
    assert set(ours) == set(theirs)
    assert ours["version"] == "2"
    for v in ours["configurationValues"]:
        same_keys(v, theirs["configurationValues"][0], "configurationValue")


def test_install_v2_has_both_forms_of_the_sample_shape() -> None:
    theirs = sample("javasdk-v2-metadata-install-response.json")
    ours = install_v2(javasdk_like_spec())
    assert set(theirs) <= set(ours)
    check_actions(ours["actions"], theirs["actions"])
    check_type_elements(ours["types"], theirs["types"])
    assert ours["install"]["typeElements"] == ours["types"]
    assert "actions" not in describe_v2(javasdk_like_spec())
