"""`POST /hooks/<runtime>/<package>/<trigger>` in the gateway's OpenAPI document.

Webhooks are plain ASGI (`webhooks.py`), so FastAPI does not see them: this describes them by
hand, as `gateway/flow/openapi.py` does the /fs/ endpoints. One path for every webhook trigger:
what a trigger takes (JSON or any content) and answers (its process's first output document,
202 for an `async` one, 204 for no document) is the package's, named by `flowhost triggers`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["add_to"]

_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _refusal(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": _PROBLEM, **extra}


_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}}
_EXECUTION = {
    "X-Flowhost-Execution": {
        "schema": {"type": "string"},
        "description": "The execution's id, as `flowhost history` shows it",
    }
}

OPERATION: dict[str, Any] = {
    "tags": ["Webhooks"],
    "summary": "Run a webhook trigger's process on the body",
    "description": (
        "The caller proves itself with a runtime user's basic credentials (when the trigger "
        "allows users) or with `X-Flowhost-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
        '"<t>.<body>">` made with the secret the operator keeps in the package\'s configuration '
        "(docs/packages.md, `webhook`). A JSON trigger takes `application/json` only; a raw one "
        "takes any content type and hands the bytes to the process."
    ),
    "security": [{"runtimeUser": []}, {"webhookSignature": []}],
    "parameters": [
        _parameter("runtime", "The runtime the package is deployed to"),
        _parameter("package", "The package's name"),
        _parameter("trigger", "The webhook trigger's name in the package"),
    ],
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": {}},
            "*/*": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    "responses": {
        "200": {
            "description": "The process's first output document, with its content type",
            "headers": _EXECUTION,
            "content": {"*/*": {"schema": {}}},
        },
        "202": {
            "description": "An `async: true` trigger: the execution runs on",
            "headers": _EXECUTION,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["executionId"],
                        "properties": {"executionId": {"type": "string"}},
                    }
                }
            },
        },
        "204": {"description": "The process returned no document", "headers": _EXECUTION},
        "400": _refusal("The body is not what the trigger takes (`invalid_json`)"),
        "401": _refusal(
            "No credentials or signature, or a malformed, wrong or stale one "
            "(`missing_signature`, `malformed_signature`, `bad_signature`, `stale_signature`), "
            "or wrong basic credentials"
        ),
        "403": _refusal("The runtime user belongs to another runtime (`wrong_runtime`)"),
        "404": _refusal("No such runtime, package or webhook trigger (`unknown_trigger`)"),
        "405": _refusal("Not POST (`method_not_allowed`)"),
        "413": _refusal("The body is over the trigger's or the gateway's limit"),
        "415": _refusal("A JSON trigger got another content type (`unsupported_media_type`)"),
        "4XX": _refusal("Another refusal, or a process failing on the caller's input"),
        "503": _refusal(
            "The trigger is paused (`listener_paused`), its secret is not set "
            "(`webhook_secret_unset`), too many async executions run (`too_many_webhooks`), "
            "or no executor could take it",
            headers=_RETRY_AFTER,
        ),
        "5XX": _refusal("The process failed, or its upstream did, or its deadline passed"),
    },
}

SECURITY_SCHEMES = {
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Flowhost-Signature",
        "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256>` over `<t>.<body>`",
    }
}


def add_to(document: dict[str, Any]) -> None:
    """Add the webhook endpoint and its signature scheme to an OpenAPI ``document``."""
    document.setdefault("paths", {})["/hooks/{runtime}/{package}/{trigger}"] = {"post": OPERATION}
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    document.setdefault("tags", []).append(
        {"name": "Webhooks", "description": "Webhook triggers of deployed packages"}
    )
