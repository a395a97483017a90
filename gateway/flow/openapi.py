"""The Flow endpoints (`/fs/...`) in the OpenAPI document.

They are plain ASGI (routes.py), not FastAPI routes, so FastAPI cannot see them: this module
describes them by hand, with the protocol's shapes (../shared/flow-protocol.md §2-4) and examples
from recorded traffic (openapi_examples.py), so the one document at /openapi.json describes both
halves of the gateway. The shapes are the wire's, loose where Flow is (extra fields are allowed).
"""

from __future__ import annotations

from typing import Any

from gateway.flow import openapi_examples as samples

_SERVICE = {
    "name": "service",
    "in": "path",
    "required": True,
    "description": "The package's service path (`service.path`), e.g. `shop`",
    "schema": {"type": "string"},
}
_ACTION = {
    "name": "action",
    "in": "path",
    "required": True,
    "description": "A message action's name (`service.actions[].name`)",
    "schema": {"type": "string"},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": summary,
        "properties": properties,
        "additionalProperties": True,
    }


_TEXT = {"type": ["string", "null"]}


def _LIST_OF(name: str) -> dict[str, Any]:
    return {"type": ["array", "null"], "items": _ref(name)}


SCHEMAS: dict[str, Any] = {
    "EngineValue": _object(
        {
            "developerName": {"type": "string"},
            "contentType": {  # null in real traffic (sql-metadata-request.json)
                "type": ["string", "null"],
                "enum": [
                    None,
                    "ContentString",
                    "ContentNumber",
                    "ContentBoolean",
                    "ContentDateTime",
                    "ContentObject",
                    "ContentList",
                    "ContentPassword",
                    "ContentContent",
                    "ContentEncrypted",
                ],
            },
            "contentValue": _TEXT,
            "objectData": _LIST_OF("MObject"),
        },
        "A value: scalars as text in `contentValue`, objects and lists in `objectData`",
    ),
    "Property": _object(
        {
            "developerName": {"type": "string"},
            "contentType": _TEXT,
            "contentValue": _TEXT,
            "objectData": _LIST_OF("MObject"),
        },
        "One property of an MObject",
    ),
    "MObject": _object(
        {
            "developerName": {"type": "string", "description": "The Flow type's name"},
            "externalId": _TEXT,
            "internalId": _TEXT,
            "properties": {"type": "array", "items": _ref("Property")},
        },
        "An object of a Flow type",
    ),
    "ServiceRequest": _object(
        {
            "inputs": _LIST_OF("EngineValue"),
            "configurationValues": _LIST_OF("EngineValue"),
            "callbackUri": {
                **_TEXT,
                "description": "When set, a process past the action's `sync_timeout` is "
                "answered WAIT and its result is POSTed here later",
            },
            "token": _TEXT,
            "tenantId": _TEXT,
            "stateId": _TEXT,
            "culture": {"type": ["object", "null"]},
        },
        "A message action's request",
    ),
    "ServiceResponse": _object(
        {
            "invokeType": {"type": "string", "enum": ["FORWARD", "WAIT"]},
            "outputs": _LIST_OF("EngineValue"),
            "selectedOutcomeId": _TEXT,
            "waitMessage": _TEXT,
            "token": _TEXT,
            "tenantId": _TEXT,
            "rootFaults": {"type": ["object", "null"]},
        },
        "A message action's answer (also what a callback POSTs)",
    ),
    "ObjectDataRequest": _object(
        {
            "objectDataType": {"type": ["object", "null"]},
            "objectData": _LIST_OF("MObject"),
            "listFilter": {"type": ["object", "null"], "description": "Load: which objects"},
            "configurationValues": _LIST_OF("EngineValue"),
        },
        "A data action's (or file resource's) request",
    ),
    "ObjectDataResponse": _object(
        {"objectData": _LIST_OF("MObject"), "hasMoreResults": {"type": "boolean"}},
        "Objects loaded, saved or listed",
    ),
    "DescribeServiceRequest": _object(
        {"uri": _TEXT, "configurationValues": _LIST_OF("EngineValue")},
        "Describe: what Flow sends when installing or refreshing the service",
    ),
    "DescribeServiceResponse": _object(
        {
            "configurationValues": {"type": "array"},
            "providesLogic": {"type": "boolean"},
            "providesDatabase": {"type": "boolean"},
            "providesFiles": {"type": "boolean"},
            "actions": {"type": "array"},
            "install": {"type": "object"},
        },
        "The service: configuration values, actions and Flow types",
    ),
    "Health": _object(
        {"status": {"type": "string", "enum": ["ok"]}, "executors": {"type": "integer"}},
        "Ready executors of the service's runtime (503 ServiceProblem when none)",
    ),
    "ServiceProblem": _object(
        {
            "kind": {"type": "string", "enum": ["service"]},
            "uri": {"type": "string"},
            "statusCode": {"type": "integer"},
            "message": {"type": "string"},
            "code": {"type": "string", "description": "flowhost's code (docs/operations.md)"},
        },
        "Every refusal on /fs/, with `X-ManyWho-Service-Problem-Kind: service`",
    ),
}

QUOTE_REQUEST = {
    "inputs": [
        {"developerName": "sku", "contentType": "ContentString", "contentValue": "ab-100"},
        {"developerName": "quantity", "contentType": "ContentNumber", "contentValue": "3"},
        {"developerName": "unitPrice", "contentType": "ContentNumber", "contentValue": "12.5"},
    ]
}
PROBLEM_EXAMPLE = {
    "kind": "service",
    "uri": "/fs/shop/actions/quote",
    "statusCode": 400,
    "message": "input 'quantity': expected a number, got 'three'",
    "code": "invalid_input",
}


def _json(schema: str, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": _ref(schema)}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def _operation(
    summary: str,
    request: tuple[str, Any] | None,
    response: tuple[str, Any],
    parameters: list[dict[str, Any]],
    tag: str = "Flow",
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": [tag],
        "summary": summary,
        "security": [{"runtimeUser": []}],
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": _json(*response)},
            "4XX": {
                "description": "A refusal (docs/operations.md, 'Errors on /fs/')",
                "content": _json("ServiceProblem", PROBLEM_EXAMPLE),
            },
            "5XX": {
                "description": "A failed step, no executor, a deadline",
                "content": _json("ServiceProblem"),
            },
        },
    }
    if request is not None:
        operation["requestBody"] = {"required": True, "content": _json(*request)}
    return operation


def _download_operation() -> dict[str, Any]:
    """A list result's downloadUri: the signed link is the only authentication."""
    operation = _operation(
        "Download a listed file (the downloadUri of a list result)", None, ("Health", None), []
    )
    operation["security"] = []  # the link's signature authenticates it
    operation["parameters"] = [
        _SERVICE,
        {
            "name": "link",
            "in": "path",
            "required": True,
            "description": "The signed, short-lived token of the list result's downloadUri",
            "schema": {"type": "string"},
        },
    ]
    operation["responses"]["200"] = {
        "description": "The file's bytes, with its Content-Type and Content-Disposition",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
    return operation


def paths() -> dict[str, Any]:
    """The /fs/ path items, for the document's ``paths``."""
    service = [_SERVICE]
    describe = ("DescribeServiceResponse", None)
    data_request = ("ObjectDataRequest", samples.DATA_LOAD_REQUEST)
    data_response = ("ObjectDataResponse", samples.DATA_LOAD_RESPONSE)
    return {
        "/fs/{service}/metadata": {
            "post": _operation(
                "Describe the service (v1): capabilities, actions, types",
                ("DescribeServiceRequest", samples.DESCRIBE_REQUEST),
                describe,
                service,
            ),
            "get": _operation(
                "Describe the service (v2): capabilities only",
                None,
                ("DescribeServiceResponse", samples.DESCRIBE_V2_RESPONSE),
                service,
            ),
        },
        "/fs/{service}/metadata/install": {
            "post": _operation(
                "Install (v2): the service's actions and types",
                ("DescribeServiceRequest", samples.DESCRIBE_REQUEST),
                describe,
                service,
            )
        },
        "/fs/{service}/actions/{action}": {
            "post": _operation(
                "Run a message action's process",
                ("ServiceRequest", QUOTE_REQUEST),
                ("ServiceResponse", samples.ACTION_RESPONSE),
                [_SERVICE, _ACTION],
            )
        },
        "/fs/{service}/data": {
            "post": _operation("Load objects", data_request, data_response, service),
            "put": _operation("Save objects", data_request, data_response, service),
        },
        "/fs/{service}/data/delete": {
            "post": _operation("Delete objects", data_request, data_response, service)
        },
        "/fs/{service}/file": {
            "post": _operation("List files", ("ObjectDataRequest", None), data_response, service)
        },
        "/fs/{service}/file/content": {
            "post": {
                **_operation("Upload a file", None, data_response, service),
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "FileDataRequest": {"type": "string", "format": "json"},
                                    "file": {"type": "string", "format": "binary"},
                                },
                                "required": ["file"],
                            }
                        }
                    },
                },
            }
        },
        "/fs/{service}/file/download/{link}": {"get": _download_operation()},
        "/fs/{service}/health": {
            "get": _operation(
                "Whether an executor of the service's runtime is ready",
                None,
                ("Health", {"status": "ok", "executors": 2}),
                service,
            )
        },
    }


SECURITY_SCHEMES = {
    "runtimeUser": {
        "type": "http",
        "scheme": "basic",
        "description": "A runtime user and its token (`flowhost users add`)",
    }
}


def add_to(document: dict[str, Any]) -> None:
    """Add the Flow endpoints, their shapes and their login to an OpenAPI ``document``."""
    document.setdefault("paths", {}).update(paths())
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(SCHEMAS)
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    document.setdefault("tags", []).append(
        {"name": "Flow", "description": "The Flow service protocol, as Flow calls it"}
    )
