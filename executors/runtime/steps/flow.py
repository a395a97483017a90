"""``flow``: start a Flow through Flow's run API and (optionally) wait for it, as a Flow client.

Per document: ``POST {base}/api/run/1`` (an EngineInitializationRequest: the flow id and
version, the input values) with the tenant in ``ManyWhoTenant``, then one ``FORWARD`` invoke
``POST {base}/api/run/1/state/{stateId}``; with ``wait`` it then joins the state
(``GET /api/run/1/state/{stateId}``) every ``poll`` until the Flow is ``DONE`` or reaches the
named map element, bounded by ``timeout`` and the execution's deadline. The document becomes
``{stateId, invokeType, state, outputs}``: the Flow's output values by name.

The base URL, tenant and credentials are configuration values *named* by the step (never jq, so
a document cannot choose them); they default to the operator's (config_owners.py). With
``token`` its value is sent as ``Authorization``; with ``username``/``password`` the step first
logs in at ``POST {base}/api/draw/1/authentication`` and sends the token Flow answers. Every
request goes through the runtime's egress policy like the ``http`` step's. Shapes: the ManyWho
Java SDK's ``RunService`` and entities, and the Run API reference (docs/steps.md, ``flow``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from ..compile import CompileContext, StepTypeDef
from ..context import RunContext
from ..documents import Document
from ..egress import EgressRefused
from ..errors import StepError
from ..expressions import JqProgram
from ..limits import limit_exceeded

WAIT_NONE = "none"
WAIT_FINISH = "finish"
#: The configuration-name fields (config_owners.py makes them the operator's by default).
NAME_FIELDS = ("base_url", "tenant", "token", "username", "password")
CONFIG_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
#: Flow's content types for the scalar inputs the step sends.
_CONTENT_TYPES = {str: "ContentString", bool: "ContentBoolean", int: "ContentNumber"}


class FlowStep:
    __slots__ = (
        "flow_id",
        "inputs",
        "names",
        "poll_s",
        "timeout_s",
        "version_id",
        "wait",
    )

    def __init__(
        self,
        names: dict[str, str],
        flow_id: JqProgram,
        version_id: JqProgram | None,
        inputs: JqProgram | None,
        wait: str,
        timeout_s: float,
        poll_s: float,
    ):
        self.names = names
        self.flow_id = flow_id
        self.version_id = version_id
        self.inputs = inputs
        self.wait = wait
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    async def run(self, documents: list[Document], ctx: RunContext) -> list[Document]:
        return [await self.start(document, ctx) for document in documents]

    async def start(self, document: Document, ctx: RunContext) -> Document:
        flow_id = await self.flow_id.first(document, ctx)
        if not isinstance(flow_id, str) or not flow_id:
            raise StepError("flow_id must give the flow's id (a string)", code="flow_request")
        version = await self.version_id.first(document, ctx) if self.version_id else None
        if version is not None and not isinstance(version, str):
            raise StepError("version_id must give a string or null", code="flow_request")
        values = await self.inputs.first(document, ctx) if self.inputs else {}
        inputs = _engine_inputs(values)
        if ctx.answers is not None:  # a package test: its canned Flow answers instead
            answer = ctx.answers.answer("flow", flow_id)
            if not 200 <= answer.status < 300:
                raise StepError(f"flow {flow_id} answered {answer.status}", code="flow_error")
            outputs = answer.body if isinstance(answer.body, dict) else {}
            result = {"stateId": None, "invokeType": "DONE", "state": None, "outputs": outputs}
            return Document.from_value(result, dict(document.properties))
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await _Run(self, ctx).start(flow_id, version, inputs)
        except TimeoutError:
            raise StepError(
                f"flow {flow_id} did not {self._goal()} within {self.timeout_s:g}s",
                code="flow_timeout",
                retryable=True,
            ) from None
        properties = dict(document.properties)
        properties["flow_state_id"] = str(response.get("stateId") or "")
        return Document.from_value(_result(response), properties)

    def _goal(self) -> str:
        if self.wait == WAIT_FINISH:
            return "finish"
        return "answer" if self.wait == WAIT_NONE else f"reach {self.wait!r}"


class _Run:
    """One Flow run: the calls of one document, with the settings they share."""

    def __init__(self, step: FlowStep, ctx: RunContext):
        self.step = step
        self.ctx = ctx
        self.base = self._config("base_url").rstrip("/")
        if not self.base.startswith(("https://", "http://")):
            raise StepError(
                f"configuration value {step.names['base_url']!r} is not an http(s) URL",
                code="flow_config",
            )
        self.headers = {"ManyWhoTenant": self._config("tenant")}

    def _config(self, field: str) -> str:
        name = self.step.names[field]
        value = self.ctx.config.get(name)
        if value in (None, ""):
            raise StepError(
                f"configuration value {name!r} ({field} of the flow step) is not set",
                code="flow_config",
            )
        return str(value)

    async def start(self, flow_id: str, version: str | None, inputs: list[Any]) -> dict[str, Any]:
        if "token" in self.step.names:
            self.headers["Authorization"] = self._config("token")
        elif "username" in self.step.names:
            self.headers["Authorization"] = await self._login()
        initialization = {
            "flowId": {"id": flow_id, "versionId": version},
            "inputs": inputs or None,
            "mode": None,
        }
        started = await self._call("POST", "/api/run/1", initialization)
        if str(started.get("statusCode") or "200") == "401":
            raise StepError(
                f"flow {flow_id} refused the credentials (statusCode 401)",
                code="flow_unauthorized",
            )
        state_id = _text(started, "stateId")
        invoke = {
            "stateId": state_id,
            "stateToken": started.get("stateToken"),
            "currentMapElementId": started.get("currentMapElementId"),
            "invokeType": "FORWARD",
            "mapElementInvokeRequest": {"selectedOutcomeId": None},
        }
        response: dict[str, Any] = await self._call("POST", f"/api/run/1/state/{state_id}", invoke)
        while not self._reached(response):
            await asyncio.sleep(self.step.poll_s)
            response = await self._call("GET", f"/api/run/1/state/{state_id}", None)
        return response

    def _reached(self, response: dict[str, Any]) -> bool:
        wait = self.step.wait
        if wait == WAIT_NONE or response.get("invokeType") == "DONE":
            return True
        return wait != WAIT_FINISH and _state_name(response) == wait

    async def _login(self) -> str:
        login_url = f"{self.base}/plugins/manywho/api/draw/1/authentication"
        body = {
            "loginUrl": login_url,
            "username": self._config("username"),
            "password": self._config("password"),
        }
        token = await self._call("POST", "/api/draw/1/authentication", body, want=str)
        if not token:
            raise StepError("Flow's login answered no token", code="flow_unauthorized")
        return str(token)

    async def _call(self, method: str, path: str, body: Any, want: type = dict) -> Any:
        where = f"{method} {self.base}{path}"
        content = None if body is None else orjson.dumps(body)
        headers = dict(self.headers)
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            url = self.base + path
            timeout = self.step.timeout_s
            request = self.ctx.http.build_request(
                method, url, headers=headers, content=content, timeout=timeout
            )
            response = await self.ctx.http.send(request, stream=True)
            try:
                raw = await _bounded(response, self.ctx.policy.limits.document_bytes, where)
            finally:
                await response.aclose()
        except EgressRefused as refused:
            raise StepError(
                f"{where} refused by the runtime's egress policy: {refused}", code="egress_refused"
            ) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
            raise StepError(f"{where}: invalid request: {error}", code="flow_config") from None
        except httpx.TransportError as error:
            raise StepError(
                f"{where} failed: {type(error).__name__}", code="flow_error", retryable=True
            ) from None
        status = response.status_code
        if status in (401, 403):
            raise StepError(f"{where} returned {status}: not allowed", code="flow_unauthorized")
        if not response.is_success:
            snippet = raw[:200].decode("utf-8", errors="replace")
            raise StepError(
                f"{where} returned {status}" + (f": {snippet}" if snippet else ""),
                code="flow_error",
                retryable=status >= 500 or status == 429,
            )
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, want):
            raise StepError(
                f"{where} answered {'a JSON string' if want is str else 'no JSON object'}: "
                "not what Flow's run API answers",
                code="flow_answer",
            )
        return value


async def _bounded(response: httpx.Response, limit: int, where: str) -> bytes:
    """The body, refused (limit_exceeded) as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise limit_exceeded("document_bytes", limit, f"the answer of {where} is larger")
        chunks.append(chunk)
    return b"".join(chunks)


def _text(response: dict[str, Any], key: str) -> str:
    value = response.get(key)
    if not isinstance(value, str) or not value or not set(value) <= CONFIG_NAME_CHARS | {"-"}:
        raise StepError(f"Flow answered no usable {key}", code="flow_answer")
    return value


def _state_name(response: dict[str, Any]) -> str | None:
    """The developer name of the map element the state is at, when Flow says."""
    for element in response.get("mapElementInvokeResponses") or ():
        if isinstance(element, dict) and isinstance(element.get("developerName"), str):
            return str(element["developerName"])
    return None


def _engine_inputs(values: Any) -> list[dict[str, Any]]:
    """``{name: value}`` as the EngineInitializationRequest's inputs (scalars only)."""
    if values is None:
        return []
    if not isinstance(values, dict):
        raise StepError("inputs must give an object of names to values", code="flow_request")
    inputs = []
    for name, value in values.items():
        if value is None:
            continue
        kind = _CONTENT_TYPES.get(type(value)) or ("ContentNumber" if type(value) is float else "")
        if not kind:
            raise StepError(
                f"input {name!r} is {type(value).__name__}: the flow step sends strings, numbers "
                "and booleans",
                code="flow_request",
            )
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        inputs.append({"developerName": name, "contentType": kind, "contentValue": text})
    return inputs


def _output_value(value: Any) -> Any:
    """An EngineValue's content as JSON: numbers and booleans typed, objects as their
    properties by name (a list for ContentList)."""
    if not isinstance(value, dict):
        return None
    kind = value.get("contentType")
    text = value.get("contentValue")
    if kind in ("ContentObject", "ContentList"):
        data = value.get("objectData") or ()
        objects = [_object(item) for item in data if isinstance(item, dict)]
        return objects if kind == "ContentList" else (objects[0] if objects else None)
    if text is None:
        return None
    if kind == "ContentNumber":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in str(text) else number
    if kind == "ContentBoolean":
        return str(text).lower() == "true"
    return text


def _object(item: dict[str, Any]) -> dict[str, Any]:
    return {
        str(prop.get("developerName")): _output_value(prop)
        for prop in item.get("properties") or ()
        if isinstance(prop, dict) and prop.get("developerName")
    }


def _result(response: dict[str, Any]) -> dict[str, Any]:
    outputs = {
        str(value["developerName"]): _output_value(value)
        for value in response.get("outputs") or ()
        if isinstance(value, dict) and isinstance(value.get("developerName"), str)
    }
    return {
        "stateId": response.get("stateId"),
        "invokeType": response.get("invokeType"),
        "state": _state_name(response),
        "outputs": outputs,
    }


def compile_flow(config: Any, ctx: CompileContext) -> FlowStep:
    options = ctx.options(
        config,
        required=("base_url", "tenant", "flow_id"),
        optional=("version_id", "inputs", "wait", "timeout", "poll", *NAME_FIELDS[2:]),
    )
    names = {}
    for field in NAME_FIELDS:
        name = options.get(field)
        if name is None:
            continue
        if not isinstance(name, str) or not name or not set(name) <= CONFIG_NAME_CHARS:
            ctx.issue(f"expected the name of a configuration value, got {name!r}", field)
            continue
        names[field] = name
    if "token" in options and ("username" in options or "password" in options):
        ctx.issue("give token or username and password, not both")
    if ("username" in options) != ("password" in options):
        ctx.issue("username and password go together")
    wait = options.get("wait", WAIT_FINISH)
    if not isinstance(wait, str) or not wait:
        ctx.issue(f"expected finish, none or the name of a map element, got {wait!r}", "wait")
        wait = WAIT_FINISH
    return FlowStep(
        names=names,
        flow_id=ctx.jq(options.get("flow_id", "."), "flow_id"),
        version_id=ctx.jq(options["version_id"], "version_id") if "version_id" in options else None,
        inputs=ctx.jq(options["inputs"], "inputs") if "inputs" in options else None,
        wait=wait,
        timeout_s=ctx.duration(options.get("timeout"), "timeout", 60.0),
        poll_s=max(0.05, ctx.duration(options.get("poll"), "poll", 1.0)),
    )


step_type = StepTypeDef("flow", compile_flow)
