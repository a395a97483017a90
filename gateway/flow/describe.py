"""Describe a deployed service to Flow: `/metadata` (v1 and the v2 split), `/metadata/install`.

Everything is derived from a `gateway.spec.ServiceSpec` and is deterministic: the same spec always
yields the same JSON (outcome ids are uuid5 of package, action and outcome), so a caller computes
each answer once per deployed version and caches it. Types come from the same compiled shapes the
value translators use (`gateway.flow.profiles`), so type names agree everywhere.

Field names follow the Java SDK fixtures; where the platform model spells a field differently both
are emitted (``required``/``isRequired``, ``ordinal``/``order``,
``isViewMessageAction``/``viewMessageAction``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Final

from gateway.flow.profiles import (
    FieldShape,
    ObjectShape,
    action_shape,
    nested_types,
    type_shape,
)
from gateway.spec import ActionSpec, ServiceSpec

__all__ = ["describe_v1", "describe_v2", "install_v2", "outcome_id", "type_elements"]

# Fixed namespace for outcome ids; never change it, or every installed flow loses its outcomes.
OUTCOME_NAMESPACE: Final = uuid.UUID("6f1c3c1e-8f0a-5b8e-9a57-0f10d4f5e001")

_CONFIG_CONTENT_TYPES: Final = {
    "string": "ContentString",
    "number": "ContentNumber",
    "boolean": "ContentBoolean",
    "datetime": "ContentDateTime",
    "password": "ContentPassword",
}

_UNUSED_PROVIDES: Final = (
    "providesAutoBinding",
    "providesIdentity",
    "providesListening",
    "providesNotifications",
    "providesSmartSave",
    "providesSocial",
    "providesSharing",
    "providesViews",
    "providesVoting",
)


def outcome_id(spec: ServiceSpec, action: str, outcome: str) -> str:
    """The stable id of an action's outcome: the same for every version of the package."""
    return str(uuid.uuid5(OUTCOME_NAMESPACE, f"{spec.name}\n{action}\n{outcome}"))


def describe_v1(spec: ServiceSpec, uri: str | None, culture: Any) -> dict[str, Any]:
    """The v1 DescribeServiceResponse (``POST /metadata``): capabilities, actions and types."""
    return {
        "culture": culture,
        "uri": uri,
        **_capabilities(spec),
        "actions": _actions(spec),
        "install": {"typeElements": type_elements(spec)},
    }


def describe_v2(spec: ServiceSpec) -> dict[str, Any]:
    """The v2 describe (``GET|POST /metadata``): capabilities only, ``version: "2"``."""
    return {**_capabilities(spec), "version": "2"}


def install_v2(spec: ServiceSpec) -> dict[str, Any]:
    """``POST /metadata/install``, readable as both forms in use.

    The 2017 form is ``{actions, types}``; the 2020 Java SDK form is a full DescribeServiceResponse
    with ``install.typeElements``. This answer carries both (the type list is shared).
    """
    types = type_elements(spec)
    return {
        **describe_v2(spec),
        "actions": _actions(spec),
        "types": types,
        "install": {"typeElements": types},
    }


def _capabilities(spec: ServiceSpec) -> dict[str, Any]:
    caps: dict[str, Any] = {
        "configurationValues": [
            _describe_value(
                c.name,
                _CONFIG_CONTENT_TYPES.get(c.type, "ContentString"),
                None,
                c.required,
                i,
                c.default or None,
            )
            # Only what Flow may set: the operator's values are none of Flow's business.
            for i, c in enumerate(c for c in spec.configuration if c.flow_settable)
        ],
        "providesLogic": bool(spec.actions),
        "providesDatabase": bool(spec.data),
        "providesFiles": bool(spec.files),
    }
    for key in _UNUSED_PROVIDES:
        caps[key] = False
    return caps


def _describe_value(
    name: str,
    content_type: str,
    type_name: str | None,
    required: bool,
    order: int,
    default: str | None = None,
) -> dict[str, Any]:
    return {
        "developerName": name,
        "contentValue": default,
        "contentType": content_type,
        "typeElementDeveloperName": type_name,
        "ordinal": order,
        "order": order,
        "required": required,
        "isRequired": required,
    }


def _values(shape: ObjectShape) -> list[dict[str, Any]]:
    return [
        _describe_value(f.name, f.content_type, f.type_name, f.required, i)
        for i, f in enumerate(shape.fields)
    ]


def _action_shapes(spec: ServiceSpec, action: ActionSpec) -> tuple[ObjectShape, ObjectShape]:
    request = spec.profiles.get(action.request) if action.request else None
    response = spec.profiles.get(action.response) if action.response else None
    return (
        action_shape(action.name, "REQUEST", request),
        action_shape(action.name, "RESPONSE", response),
    )


def _actions(spec: ServiceSpec) -> list[dict[str, Any]]:
    out = []
    for action in spec.actions:
        request, response = _action_shapes(spec, action)
        out.append(
            {
                "uriPart": f"actions/{action.name}",
                "developerName": action.name,
                "developerSummary": action.summary,
                "serviceInputs": _values(request),
                "serviceOutputs": _values(response),
                "serviceActionOutcomes": [
                    {
                        "id": outcome_id(spec, action.name, o),
                        "developerName": o,
                        "developerSummary": "",
                    }
                    for o in action.outcomes
                ],
                "isViewMessageAction": False,
                "viewMessageAction": False,
            }
        )
    return out


def type_elements(spec: ServiceSpec) -> list[dict[str, Any]]:
    """Every Flow type the service needs: action profile entries, then data action types.

    Data action types carry a binding (``databaseTableName`` = the type name) so Flow can load
    and save them through ``/data``. A name seen twice keeps its first definition.
    """
    seen: dict[str, dict[str, Any]] = {}
    for action in spec.actions:
        for root in _action_shapes(spec, action):
            _add_types(seen, nested_types(root), bound=None)
    for data in spec.data:
        root = type_shape(data.type, spec.profiles.get(data.profile))
        _add_types(seen, nested_types(root), bound=data.type)
    return list(seen.values())


def _add_types(
    seen: dict[str, dict[str, Any]], shapes: Iterable[ObjectShape], bound: str | None
) -> None:
    for shape in shapes:
        name = shape.type_name
        if name is None or name in seen:
            continue
        summary = shape.summary or f"The {name} object structure"
        seen[name] = {
            "elementType": "TYPE",
            "developerName": name,
            "developerSummary": summary,
            "id": None,
            "serviceElementId": None,
            "properties": [_type_property(f) for f in shape.fields],
            "bindings": [_binding(name, shape)] if name == bound else [],
            # reinstalling a new package version updates the types in place instead of
            # creating "<name> (1)" duplicates
            "updateByName": True,
        }


def _type_property(f: FieldShape) -> dict[str, Any]:
    return {
        "id": None,
        "developerName": f.name,
        "contentFormat": None,
        "contentType": f.content_type,
        "typeElementId": None,
        "typeElementDeveloperName": f.type_name,
    }


def _binding(name: str, shape: ObjectShape) -> dict[str, Any]:
    return {
        "id": None,
        "developerName": name,
        "developerSummary": f"The binding for {name}",
        "databaseTableName": name,
        "serviceElementId": None,
        "propertyBindings": [
            {
                "databaseFieldName": f.name,
                "typeElementPropertyId": None,
                "typeElementPropertyDeveloperName": f.name,
                "databaseContentType": f.schema_type,
            }
            for f in shape.fields
        ],
    }
