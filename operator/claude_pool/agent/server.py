"""The agent's HTTP API (aiohttp): thin handlers over `slot.Slot`.

Called by `main.serve`. Every request but `GET /healthz` needs `Authorization: Bearer
<token>` (compared with hmac.compare_digest); anything else is a 401 before any handler runs.

    GET    /healthz                   "ok" (no auth; reveals nothing)
    GET    /v1/slot                   SlotStatus
    PUT    /v1/tasks/{uid}            start (TaskRequest body): 201 started, 200 already known,
                                      400 malformed, 409 another task is running
    GET    /v1/tasks/{uid}            TaskStatus, 404 unknown
    GET    /v1/tasks/{uid}/events     server-sent events: `progress` (ProgressEvent, id = seq;
                                      Last-Event-ID resumes), then one `result` (TaskStatus)
    POST   /v1/tasks/{uid}/cancel     202 stopping (TaskStatus), 200 already finished, 404
    DELETE /v1/tasks/{uid}            acknowledge: 204 dropped, 409 running, 404 unknown
    POST   /v1/workspace/push         push a branch of the clone (PushRequest): 200
                                      PushResponse, 404 unknown branch or no workspace,
                                      409 clone not Ready, 502 the push failed (redacted)

On a workspace slot a PUT is a 409 `WorkspaceNotReady` until the clone is Ready, and the
task's workdir is resolved inside its worktree (`workspacerun`).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import ValidationError

from claude_pool.agent.gitrun import GitError
from claude_pool.agent.runner import resolve_workdir
from claude_pool.agent.slot import Ack, Slot, SlotBusyError, WorkspaceNotReadyError
from claude_pool.api.agent import (
    ErrorBody,
    ProgressEvent,
    TaskRequest,
    TaskState,
    TaskStatus,
    WireModel,
    is_valid_task_uid,
)
from claude_pool.api.workspaces import PushRequest

MAX_BODY_BYTES = 8 * 1024 * 1024
SLOT_KEY = web.AppKey("slot", Slot)
WORK_ROOT_KEY = web.AppKey("work_root", Path)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(model: WireModel, status: int = 200) -> web.Response:
    return web.json_response(model.to_wire(), status=status)


def _error(status: int, error: str, message: str) -> web.Response:
    return _json(ErrorBody(error=error, message=message), status)


def describe_validation(error: ValidationError) -> str:
    """`field.path: problem; ...` naming each field with its wire (camelCase) name."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def auth_middleware(token: str, log: Callable[[str], None]) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            log(f"agent: rejected a request without a valid token: {request.method} {request.path}")
            response = _error(401, "Unauthorized", "a valid bearer token is required")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return await handler(request)

    return check


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def get_slot(request: web.Request) -> web.Response:
    slot = request.app[SLOT_KEY]
    return _json(await asyncio.to_thread(slot.state))


def _uid(request: web.Request) -> str:
    uid = request.match_info["uid"]
    if not is_valid_task_uid(uid):
        raise web.HTTPBadRequest(
            text=ErrorBody(error="BadRequest", message=f"invalid task uid {uid!r}").model_dump_json(
                by_alias=True
            ),
            content_type="application/json",
        )
    return uid


async def put_task(request: web.Request) -> web.Response:
    slot = request.app[SLOT_KEY]
    uid = _uid(request)
    try:
        task = TaskRequest.model_validate_json(await request.read())
    except ValidationError as error:
        return _error(400, "BadRequest", describe_validation(error))
    workdir: Path | None = None
    if slot.workspace is None:
        if task.workspace is not None:
            return _error(400, "BadRequest", "workspace: this slot has no workspace")
        try:
            workdir = resolve_workdir(request.app[WORK_ROOT_KEY], task.workdir)
        except ValueError as error:
            return _error(400, "BadRequest", f"workdir: {error}")
    try:
        status, started = await slot.start(uid, task, workdir)
    except SlotBusyError as error:
        return _error(409, "Busy", str(error))
    except WorkspaceNotReadyError as error:
        return _error(409, "WorkspaceNotReady", str(error))
    return _json(status, 201 if started else 200)


async def get_task(request: web.Request) -> web.Response:
    status = request.app[SLOT_KEY].get(_uid(request))
    if status is None:
        return _error(404, "NotFound", "no such task on this slot")
    return _json(status)


async def cancel_task(request: web.Request) -> web.Response:
    status = request.app[SLOT_KEY].cancel(_uid(request))
    if status is None:
        return _error(404, "NotFound", "no such task on this slot")
    return _json(status, 202 if status.state is TaskState.RUNNING else 200)


async def delete_task(request: web.Request) -> web.Response:
    outcome = await asyncio.to_thread(request.app[SLOT_KEY].acknowledge, _uid(request))
    if outcome is Ack.RUNNING:
        return _error(409, "Running", "the task is still running; cancel it first")
    if outcome is Ack.UNKNOWN:
        return _error(404, "NotFound", "no such task on this slot")
    return web.Response(status=204)


async def task_events(request: web.Request) -> web.StreamResponse:
    slot = request.app[SLOT_KEY]
    uid = _uid(request)
    last = request.headers.get("Last-Event-ID", "")
    stream = slot.follow(uid, int(last) if last.isdigit() else 0)
    try:
        first = await anext(stream)
    except KeyError:
        return _error(404, "NotFound", "no such task on this slot")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    item: ProgressEvent | TaskStatus | None = first
    while True:
        if item is None:
            await response.write(b": keepalive\n\n")
        elif isinstance(item, ProgressEvent):
            data = item.model_dump_json(by_alias=True, exclude_none=True)
            await response.write(f"id: {item.seq}\nevent: progress\ndata: {data}\n\n".encode())
        else:
            data = item.model_dump_json(by_alias=True, exclude_none=True)
            await response.write(f"event: result\ndata: {data}\n\n".encode())
            break
        try:
            item = await anext(stream)
        except StopAsyncIteration:
            break
    await response.write_eof()
    return response


async def push_branch(request: web.Request) -> web.Response:
    workspace = request.app[SLOT_KEY].workspace
    if workspace is None:
        return _error(404, "NotFound", "this slot has no workspace")
    try:
        body = PushRequest.model_validate_json(await request.read())
    except ValidationError as error:
        return _error(400, "BadRequest", describe_validation(error))
    if not workspace.ready:
        return _error(409, "WorkspaceNotReady", f"the workspace is {workspace.phase.value}")
    try:
        return _json(await workspace.push(body.branch))
    except KeyError:
        return _error(404, "NotFound", f"no branch {body.branch!r} in the slot's clone")
    except GitError as error:
        workspace.log(f"workspace: push of {body.branch} failed: {error}")
        return _error(502, "PushFailed", str(error))


def build_app(
    slot: Slot, token: str, work_root: Path, log: Callable[[str], None]
) -> web.Application:
    """The agent's aiohttp application."""
    app = web.Application(middlewares=[auth_middleware(token, log)], client_max_size=MAX_BODY_BYTES)
    app[SLOT_KEY] = slot
    app[WORK_ROOT_KEY] = work_root
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/v1/slot", get_slot)
    app.router.add_put("/v1/tasks/{uid}", put_task)
    app.router.add_get("/v1/tasks/{uid}", get_task)
    app.router.add_get("/v1/tasks/{uid}/events", task_events)
    app.router.add_post("/v1/tasks/{uid}/cancel", cancel_task)
    app.router.add_delete("/v1/tasks/{uid}", delete_task)
    app.router.add_post("/v1/workspace/push", push_branch)
    return app
