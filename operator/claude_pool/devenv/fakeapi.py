"""The project's fake Anthropic Messages API (aiohttp): server, runners, `fake-api` command.

Who calls it: integration tests (the slot agent's, the operator's, its own) run the real
Claude CLI against it; `python -m claude_pool fake-api` (dispatched to `main`) and the dev
environment run it as a process. Answers are scripted per request by `[[fake key=value]]`
directives in the prompt or system prompt (keys: `claude_pool.devenv.scripting`), or by a
scenario registered on the server and chosen by the base-URL path `/s/<name>`.

In-process, async (pytest-asyncio):

    async with FakeAnthropic.start() as fake:             # 127.0.0.1, a free port
        fake.add_scenario("slow", Scenario(delay=2))
        env = {"ANTHROPIC_BASE_URL": fake.base_url}       # or fake.scenario_url("slow")
        ...
        [r.body for r in fake.requests if r.kind == "messages"]

From sync tests, the same server on a background thread:

    with FakeAnthropicThread() as fake:                    # or .start() ... .stop()
        fake.base_url; fake.add_scenario(...); fake.requests; fake.clear_requests()

Out of process: `python -m claude_pool fake-api --port 0` prints
`fake-api listening on http://127.0.0.1:PORT` and serves until SIGINT/SIGTERM.

Endpoints (each also under `/s/<scenario>`): `POST /v1/messages` (SSE when `stream: true`,
else one JSON message), `POST /v1/messages/count_tokens`, `HEAD|GET /` (warm-up). Control:
`GET|DELETE /_fake/requests`, `GET /_fake/scenarios`, `PUT|DELETE /_fake/scenarios/{name}`
(PUT body: a JSON object with directive keys). Anything else: a 404 Anthropic error body.
Every API request is recorded (`RecordedRequest`); secret headers are stored as a
fingerprint (`mask_secret`), never in clear.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiohttp import web

from claude_pool.devenv.fakeconversations import BadRequest, conversation_from_body
from claude_pool.devenv.fakemessages import encode_sse, error_json, message_json, sse_events
from claude_pool.devenv.fakeplanning import (
    ROUTER_MARKER,
    ErrorReply,
    MessageReply,
    Plan,
    error_reply,
    plan_reply,
)
from claude_pool.devenv.fakerecords import SECRET_HEADERS, RecordedRequest, mask_secret
from claude_pool.devenv.scripting import DirectiveError, FailScope, Scenario, read_directives

__all__ = [
    "FakeAnthropic",
    "FakeAnthropicThread",
    "RecordedRequest",
    "Scenario",
    "main",
    "mask_secret",
]

log = logging.getLogger(__name__)
SCENARIO_PREFIX = "/s/{scenario}"
_R = TypeVar("_R", bound=web.StreamResponse)


class FakeAnthropic:
    """The fake API server. Scenarios and records live in memory; see the module docstring."""

    def __init__(
        self,
        *,
        router_marker: str = ROUTER_MARKER,
        clock: Callable[[], float] = time.time,
        max_records: int = 1000,
    ) -> None:
        self.router_marker = router_marker
        self.scenarios: dict[str, Scenario] = {}
        self.base_url = ""
        self._clock = clock
        self._max_records = max_records
        self._records: list[RecordedRequest] = []
        self._attempts: dict[tuple[str, ...], int] = {}
        self._seq = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.app = self._make_app()

    # -- public API ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first."""
        return list(self._records)

    def clear_requests(self) -> None:
        self._records.clear()

    def add_scenario(self, name: str, scenario: Scenario) -> None:
        self.scenarios[name] = scenario

    def scenario_url(self, name: str) -> str:
        """The base URL that selects scenario `name` (for ANTHROPIC_BASE_URL)."""
        return f"{self.base_url}/s/{name}"

    async def listen(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; return the base URL (with the real port when port is 0)."""
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        real_host, real_port = runner.addresses[0][:2]
        shown = f"[{real_host}]" if ":" in str(real_host) else str(real_host)
        self.base_url = f"http://{shown}:{real_port}"
        return self.base_url

    async def close(self) -> None:
        """Stop serving; pending delays and stalls end at once."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @classmethod
    @asynccontextmanager
    async def start(
        cls, host: str = "127.0.0.1", port: int = 0, **options: Any
    ) -> AsyncIterator[FakeAnthropic]:
        """`async with FakeAnthropic.start() as fake:` a listening server, closed on exit."""
        fake = cls(**options)
        await fake.listen(host, port)
        try:
            yield fake
        finally:
            await fake.close()

    # -- handlers --------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for prefix in ("", SCENARIO_PREFIX):
            app.router.add_post(f"{prefix}/v1/messages", self._messages)
            app.router.add_post(f"{prefix}/v1/messages/count_tokens", self._count_tokens)
        for path in ("/", SCENARIO_PREFIX, SCENARIO_PREFIX + "/"):
            app.router.add_get(path, self._warmup)
        app.router.add_get("/_fake/requests", self._list_requests)
        app.router.add_delete("/_fake/requests", self._clear_requests)
        app.router.add_get("/_fake/scenarios", self._list_scenarios)
        app.router.add_put("/_fake/scenarios/{name}", self._put_scenario)
        app.router.add_delete("/_fake/scenarios/{name}", self._delete_scenario)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        record = await self._record(request, "messages")
        plan, stream = self._plan(record)
        ids = f"fake{record.seq:06d}"
        headers = {"request-id": f"req_{ids}"}
        if not await self._sleep(plan.delay):
            return self._answered(record, web.Response(status=503), "server closing")
        if request.transport is None or request.transport.is_closing():
            return self._went_away(record, plan.summary, web.Response(status=499))
        reply = plan.reply
        if isinstance(reply, ErrorReply):
            headers.update(reply.headers)
            body = error_json(reply, headers["request-id"])
            response = web.json_response(body, status=reply.status, headers=headers)
            return self._answered(record, response, plan.summary)
        if not stream:
            response = web.json_response(message_json(reply, f"msg_{ids}"), headers=headers)
            return self._answered(record, response, plan.summary)
        return await self._stream(request, record, reply, f"msg_{ids}", headers, plan.summary)

    async def _stream(
        self,
        request: web.Request,
        record: RecordedRequest,
        reply: MessageReply,
        message_id: str,
        headers: dict[str, str],
        summary: str,
    ) -> web.StreamResponse:
        headers |= {"content-type": "text/event-stream", "cache-control": "no-cache"}
        response = web.StreamResponse(status=200, headers=headers)
        first, *rest = sse_events(reply, message_id)
        try:
            await response.prepare(request)
            self._answered(record, response, summary + " (streaming)")
            await response.write(encode_sse(first))
            if not await self._sleep(reply.stall):
                record.answer = summary + " (dropped: server closing)"
                return response
            for event in rest:
                await response.write(encode_sse(event))
            await response.write_eof()
        except ConnectionResetError:  # aiohttp's ClientConnectionResetError too
            return self._went_away(record, summary, response)
        record.answer = summary
        return response

    def _went_away(self, record: RecordedRequest, summary: str, response: _R) -> _R:
        """One log line (no traceback) for a client that disconnected mid-answer."""
        record.answer = summary + " (dropped: client went away)"
        log.info("%s %s -> client went away mid-answer (%s)", record.method, record.path, summary)
        return response

    async def _count_tokens(self, request: web.Request) -> web.Response:
        record = await self._record(request, "count_tokens")
        tokens = max(1, len(json.dumps(record.body)) // 4)  # a rough estimate by default
        try:
            convo = conversation_from_body(record.body)
            directives = read_directives(convo.directive_texts)[0]
            scenario = self._scenario(record.scenario).overlay(directives)
        except (BadRequest, DirectiveError, KeyError):
            scenario = Scenario()
        if scenario.input_tokens is not None:
            tokens = scenario.input_tokens
        return self._answered(record, web.json_response({"input_tokens": tokens}), "tokens")

    async def _warmup(self, request: web.Request) -> web.Response:
        record = await self._record(request, "warmup")
        body = {"service": "fake-anthropic", "messages": "/v1/messages"}
        return self._answered(record, web.json_response(body), "warmup")

    async def _unknown(self, request: web.Request) -> web.Response:
        record = await self._record(request, "unknown")
        reply = error_reply(404, f"fake: no route for {request.method} {request.path}")
        response = web.json_response(error_json(reply, f"req_fake{record.seq:06d}"), status=404)
        return self._answered(record, response, "error 404")

    async def _list_requests(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": [r.to_json() for r in self._records]})

    async def _clear_requests(self, request: web.Request) -> web.Response:
        count = len(self._records)
        self.clear_requests()
        return web.json_response({"cleared": count})

    async def _list_scenarios(self, request: web.Request) -> web.Response:
        body = {name: s.to_dict() for name, s in sorted(self.scenarios.items())}
        return web.json_response({"scenarios": body})

    async def _put_scenario(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise DirectiveError("body must be a JSON object of directive keys")
            scenario = Scenario.from_mapping(body)
        except (ValueError, DirectiveError) as exc:
            reply = error_reply(400, f"fake: {exc}")
            return web.json_response(error_json(reply, "req_fake_control"), status=400)
        self.add_scenario(name, scenario)
        return web.json_response({"name": name, "scenario": scenario.to_dict()})

    async def _delete_scenario(self, request: web.Request) -> web.Response:
        existed = self.scenarios.pop(request.match_info["name"], None) is not None
        return web.json_response({"deleted": existed})

    # -- helpers ---------------------------------------------------------------------------

    async def _record(self, request: web.Request, kind: str) -> RecordedRequest:
        headers = {
            k.lower(): mask_secret(v) if k.lower() in SECRET_HEADERS else v
            for k, v in request.headers.items()
        }
        record = RecordedRequest(
            seq=next(self._seq),
            time=self._clock(),
            method=request.method,
            path=request.path,
            query=dict(request.query),
            kind=kind,
            headers=headers,
            scenario=request.match_info.get("scenario"),
            session_id=request.headers.get("x-claude-code-session-id"),
        )
        if request.can_read_body:
            raw = await request.read()
            try:
                record.body = json.loads(raw)
            except ValueError:
                record.body = raw.decode("utf-8", "replace")
        self._records.append(record)
        del self._records[: max(0, len(self._records) - self._max_records)]
        return record

    def _answered(self, record: RecordedRequest, response: _R, answer: str) -> _R:
        record.status, record.answer = response.status, answer
        log.info(
            "%s %s scenario=%s session=%s -> %s %s",
            *(record.method, record.path, record.scenario, record.session_id),
            *(record.status, answer),
        )
        return response

    def _scenario(self, name: str | None) -> Scenario:
        if name is None:
            return Scenario()
        return self.scenarios[name]

    def _plan(self, record: RecordedRequest) -> tuple[Plan, bool]:
        """The plan for a messages request, and whether to stream it."""
        try:
            convo = conversation_from_body(record.body)
        except BadRequest as exc:
            return Plan(0.0, error_reply(400, f"fake: {exc}")), False
        try:
            base = self._scenario(record.scenario)
        except KeyError:
            known = ", ".join(sorted(self.scenarios)) or "none"
            message = f"fake: no scenario named {record.scenario!r} (known: {known})"
            return Plan(0.0, error_reply(400, message)), convo.stream
        try:
            directives, raw = read_directives(convo.directive_texts)
        except DirectiveError as exc:
            return Plan(0.0, error_reply(400, f"fake: bad directive: {exc}")), convo.stream
        scenario = base.overlay(directives)
        if scenario.fail_scope is FailScope.ALL:  # every session with this prompt counts
            key: tuple[str, ...] = ("*", record.scenario or "", raw, convo.prompt)
        else:
            key = (record.session_id or "", record.scenario or "", str(convo.turn_start), raw)
        attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        plan = plan_reply(
            scenario,
            convo,
            attempt=attempt,
            tool_id=f"toolu_fake{record.seq:06d}",
            router_marker=self.router_marker,
        )
        return plan, convo.stream

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server closes first; return False if it did."""
        if seconds <= 0:
            return not self._closing.is_set()
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            return True
        return False


class FakeAnthropicThread:
    """A FakeAnthropic on its own event loop in a daemon thread, for synchronous tests."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.fake = FakeAnthropic(**options)
        self._host, self._port = host, port
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return self.fake.base_url

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.fake.requests

    def clear_requests(self) -> None:
        self.fake.clear_requests()

    def add_scenario(self, name: str, scenario: Scenario) -> None:
        self.fake.add_scenario(name, scenario)

    def scenario_url(self, name: str) -> str:
        return self.fake.scenario_url(name)

    def start(self, timeout: float = 10.0) -> FakeAnthropicThread:
        """Start the server and wait until it listens (raises what listening raised)."""
        self._thread = threading.Thread(target=self._run, name="fake-anthropic", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"fake Anthropic API did not start within {timeout} s")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> FakeAnthropicThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.fake.listen(self._host, self._port)
        except BaseException as exc:  # handed to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.fake.close()


def main(argv: list[str]) -> int:
    """`python -m claude_pool fake-api --port N [--host H]`: serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m claude_pool fake-api", description="The fake Anthropic Messages API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--router-marker", default=ROUTER_MARKER, help="system prompt text of a routing call"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(message)s"
    )
    try:
        return asyncio.run(_serve(args.host, args.port, args.router_marker))
    except OSError as exc:
        print(f"fake-api: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1


async def _serve(host: str, port: int, router_marker: str) -> int:
    fake = FakeAnthropic(router_marker=router_marker)
    await fake.listen(host, port)
    print(f"fake-api listening on {fake.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await fake.close()
    return 0
