"""The console's forms (POST): deploy, roll back, redeliver, and manage runtime users.

Each calls the function the management API's endpoint calls. A refusal is shown on the page the
form came from, with the API's own message; a package's validation issues each at its path.
After a change the browser is sent (303) to the page, with a notice, so a reload repeats
nothing, except where a token is shown: that answer is rendered at once and never stored.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.callbacks import redeliver_callback
from gateway.api.packages import deploy_package
from gateway.api.users import NewUser, rotate_user_token
from gateway.console.gate import action, console_of, redirect
from gateway.console.pages import deployments_context, users_context
from gateway.console.render import render
from gateway.console.sessions import Session
from gateway.errors import GatewayError
from gateway.listeners.store import REASON_MAX_CHARS

__all__ = [
    "add_user",
    "deploy",
    "pause_listener",
    "redeliver",
    "remove_user",
    "resume_listener",
    "rollback",
    "rotate_user",
]


def _text(form: FormData, name: str, max_chars: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:max_chars] if isinstance(value, str) else ""


async def _done(request: Request, session: Session, text: str, to: str) -> Response:
    await asyncio.to_thread(console_of(request).sessions.notify, session, "ok", text)
    return redirect(to)


async def _refused(request: Request, session: Session, text: str, to: str) -> Response:
    await asyncio.to_thread(console_of(request).sessions.notify, session, "error", text)
    return redirect(to)


@action
async def deploy(request: Request, session: Session, form: FormData) -> Response:
    backend = console_of(request).backend
    runtime = _text(form, "runtime")
    dry_run = form.get("dry_run") == "on"
    upload = form.get("package")
    problem, issues, status = "", [], 400
    if not runtime:
        problem = "Choose the runtime to deploy to."
    elif not isinstance(upload, UploadFile) or not upload.filename:
        problem = "Choose a package file (YAML) to upload."
    else:
        raw = await upload.read()
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            source, problem = "", f"{upload.filename} is not UTF-8 text (byte {error.start})."
        if not problem:
            try:
                outcome = await deploy_package(
                    backend.control, backend.package_limits, runtime, source, dry_run
                )
            except GatewayError as error:
                problem, status = error.message, error.status
                issues = list(error.details.get("issues", ()))
                if issues:
                    problem = f"{upload.filename} is invalid: {len(issues)} problem(s)."
            else:
                spec = outcome.spec
                if outcome.dry_run:
                    verb = "is valid (dry run: nothing deployed)"
                elif outcome.created:
                    verb = f"deployed to {runtime} on {len(outcome.executors)} executor(s)"
                else:
                    verb = f"was already deployed; active again in {runtime}"
                return await _done(
                    request, session, f"{spec.name} {spec.version} {verb}.", "/deployments"
                )
    context = await deployments_context(backend)
    return render(
        request,
        "deployments.html",
        session,
        status=status,
        **context,
        problem=problem,
        issues=issues,
        chosen_runtime=runtime,
    )


@action
async def pause_listener(request: Request, session: Session, form: FormData) -> Response:
    """Flow calls to the service get 503 listener_paused; running executions finish."""
    control = console_of(request).backend.control
    runtime, service = _text(form, "runtime"), _text(form, "service", 1000)
    reason = _text(form, "reason", REASON_MAX_CHARS)
    try:
        path = await control.set_paused(runtime, service, True, reason)
    except GatewayError as error:
        return await _refused(request, session, error.message, "/services")
    text = (
        f"trigger {path} in {runtime} is paused."
        if "#" in path
        else f"/fs/{path} in {runtime} is paused: Flow calls get 503 listener_paused."
    )
    return await _done(request, session, text, "/services")


@action
async def resume_listener(request: Request, session: Session, form: FormData) -> Response:
    control = console_of(request).backend.control
    runtime, service = _text(form, "runtime"), _text(form, "service", 1000)
    try:
        path = await control.set_paused(runtime, service, False)
    except GatewayError as error:
        return await _refused(request, session, error.message, "/services")
    where = f"trigger {path}" if "#" in path else f"/fs/{path}"
    return await _done(request, session, f"{where} in {runtime} is serving.", "/services")


@action
async def rollback(request: Request, session: Session, form: FormData) -> Response:
    control = console_of(request).backend.control
    runtime, name = _text(form, "runtime"), _text(form, "name")
    version = _text(form, "version") or None
    try:
        active = await control.rollback(runtime, name, version)
    except GatewayError as error:
        return await _refused(request, session, error.message, "/deployments")
    return await _done(
        request, session, f"{name} in {runtime}: version {active} is active.", "/deployments"
    )


@action
async def redeliver(request: Request, session: Session, form: FormData) -> Response:
    backend = console_of(request).backend
    callback_id = _text(form, "callback_id", 300)
    execution_id = _text(form, "execution_id", 300)
    back = f"/executions/{quote(execution_id, safe='')}" if execution_id else "/callbacks"
    try:
        await redeliver_callback(backend.control, backend.outbox, backend.sender, callback_id)
    except GatewayError as error:
        return await _refused(request, session, error.message, back)
    return await _done(request, session, f"Callback {callback_id} is queued for delivery.", back)


async def _users_page(
    request: Request,
    session: Session,
    *,
    issued: dict[str, str] | None = None,
    problem: str = "",
    status: int = 200,
) -> Response:
    context = await users_context(console_of(request).backend)
    return render(
        request, "users.html", session, status=status, **context, issued=issued, problem=problem
    )


@action
async def add_user(request: Request, session: Session, form: FormData) -> Response:
    control = console_of(request).backend.control
    runtime = _text(form, "runtime")
    raw_name = form.get("name")
    if not runtime:
        return await _users_page(request, session, problem="Choose a runtime.", status=400)
    try:
        user = NewUser(name=raw_name if isinstance(raw_name, str) else "")
    except ValidationError:
        return await _users_page(
            request,
            session,
            problem="A user name is 1 to 128 letters, digits and . _ @ - (no spaces).",
            status=400,
        )
    try:
        token = await control.add_user(runtime, user.name)
    except GatewayError as error:
        return await _users_page(request, session, problem=error.message, status=error.status)
    issued = {"name": user.name, "runtime": runtime, "token": token, "verb": "created"}
    return await _users_page(request, session, issued=issued, status=201)


@action
async def rotate_user(request: Request, session: Session, form: FormData) -> Response:
    control = console_of(request).backend.control
    name = _text(form, "name")
    try:
        runtime, token = await rotate_user_token(control, name)
    except GatewayError as error:
        return await _users_page(request, session, problem=error.message, status=error.status)
    issued = {"name": name, "runtime": runtime, "token": token, "verb": "has a new token"}
    return await _users_page(request, session, issued=issued)


@action
async def remove_user(request: Request, session: Session, form: FormData) -> Response:
    control = console_of(request).backend.control
    name = _text(form, "name")
    try:
        await control.remove_user(name)
    except GatewayError as error:
        return await _refused(request, session, error.message, "/users")
    return await _done(
        request, session, f"User {name} is removed; its token no longer works.", "/users"
    )
