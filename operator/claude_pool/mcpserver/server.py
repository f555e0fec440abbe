"""The MCP server: the seed's claude-pool-mcp tools, backed by the cluster through the SDK.

`claude-pool mcp` (stdio, or streamable HTTP with `--transport http`) builds it with
`build_server`. Every tool call goes through one `AsyncClient` made from the caller's
kubeconfig, so the caller's RBAC decides what the tools may do. Tools take an optional
`pool` (default: `--pool`). Errors come back as tool errors with the SDK's message. The
review and messaging tools are in `collabtools`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from claude_pool.api.claude import Effort, TaskOverrides
from claude_pool.api.modes import AutoHints, RoutePreference
from claude_pool.api.money import MoneyError, parse_dollars
from claude_pool.mcpserver.collabtools import register_collaboration
from claude_pool.mcpserver.replies import status_reply, task_reply
from claude_pool.sdk.client import AsyncClient
from claude_pool.sdk.errors import InvalidRequest, PoolSdkError, WaitTimeout

T = TypeVar("T")
DEFAULT_WAIT_SECONDS = 600
INSTRUCTIONS = (
    "Run Claude Code tasks on a claude-pool ClaudePool in Kubernetes. pool_run waits for the "
    "result; pool_submit returns a task_id for pool_result. Money is in microdollars "
    "(1 USD = 1000000). Fan-out, chain and auto create composite tasks. "
    "pool_submit_with_review holds a result for pool_approve_result / pool_reject_result; "
    "pool_send_message and pool_broadcast leave notes for slots' next tasks."
)


class PoolTools:
    """The tools' implementations over one client; `pool` defaults to `default_pool`."""

    def __init__(self, client: AsyncClient, default_pool: str | None) -> None:
        self.client = client
        self.default_pool = default_pool

    def pool(self, pool: str | None) -> str:
        chosen = pool or self.default_pool
        if not chosen:
            raise ToolError("no pool given and the server has no default (--pool)")
        return chosen

    async def guard(self, work: Awaitable[T]) -> T:
        try:
            return await work
        except PoolSdkError as error:
            raise ToolError(str(error)) from None

    @staticmethod
    def config(
        model: str | None, effort: str | None, max_budget_usd: float | str | None
    ) -> TaskOverrides | None:
        fields: dict[str, Any] = {}
        if model:
            fields["model"] = model
        if effort:
            fields["effort"] = Effort(effort)
        if max_budget_usd is not None:
            text = max_budget_usd if isinstance(max_budget_usd, str) else f"{max_budget_usd:.6f}"
            try:
                fields["max_budget_microdollars"] = parse_dollars(text)
            except MoneyError as error:
                raise ToolError(f"max_budget_usd: {error}") from None
        return TaskOverrides(**fields) if fields else None

    async def finished(self, name: str, timeout: float) -> dict[str, Any]:
        """The finished task; at the bound, the task as it is with `timed_out` (it goes on:
        ask pool_result later)."""
        try:
            task = await self.client.wait(name, timeout=timeout)
        except WaitTimeout:
            reply = task_reply(await self.guard(self.client.task(name)))
            return {**reply, "timed_out": True}
        except PoolSdkError as error:
            raise ToolError(str(error)) from None
        output = await self.guard(self.client.output(name))
        return task_reply(task, output)


def _register(server: MCPServer[Any], tools: PoolTools) -> None:
    def tool(description: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            server.tool(name=fn.__name__, description=description)(fn)
            return fn

        return register

    client = tools.client

    @tool("Run a prompt on a pool slot and wait for its result (output, success, cost).")
    async def pool_run(
        prompt: str,
        pool: str | None = None,
        model: str | None = None,
        effort: Literal["low", "medium", "high", "max"] | None = None,
        max_budget_usd: float | str | None = None,
        timeout_seconds: int = DEFAULT_WAIT_SECONDS,
    ) -> dict[str, Any]:
        config = tools.config(model, effort, max_budget_usd)
        task = await tools.guard(client.submit(tools.pool(pool), prompt, config=config))
        return await tools.finished(task.metadata.name, timeout_seconds)

    @tool("Submit a prompt without waiting; returns task_id for pool_result.")
    async def pool_submit(
        prompt: str,
        pool: str | None = None,
        model: str | None = None,
        effort: Literal["low", "medium", "high", "max"] | None = None,
        max_budget_usd: float | str | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        config = tools.config(model, effort, max_budget_usd)
        task = await tools.guard(
            client.submit(tools.pool(pool), prompt, config=config, labels=tags)
        )
        return {"task_id": task.metadata.name}

    @tool("A task's phase, progress and (once finished) result; result is absent while running.")
    async def pool_result(task_id: str) -> dict[str, Any]:
        task = await tools.guard(client.task(task_id))
        output = await tools.guard(client.output(task_id))
        return task_reply(task, output)

    @tool("Cancel a task (it is kept and ends Cancelled).")
    async def pool_cancel(task_id: str) -> dict[str, Any]:
        task = await tools.guard(client.cancel(task_id))
        return {"task_id": task_id, "cancel_requested": True, "phase": task_reply(task)["phase"]}

    @tool("Run several prompts in parallel as one fan-out task; wait=true waits for all.")
    async def pool_fan_out(
        prompts: list[str],
        pool: str | None = None,
        max_parallel: int | None = None,
        fail_fast: bool = False,
        wait: bool = False,
        timeout_seconds: int = DEFAULT_WAIT_SECONDS,
    ) -> dict[str, Any]:
        task = await tools.guard(client.fan_out(
            tools.pool(pool), prompts, max_parallel=max_parallel, fail_fast=fail_fast
        ))  # fmt: skip
        if wait:
            return await tools.finished(task.metadata.name, timeout_seconds)
        return {"task_id": task.metadata.name}

    @tool(
        "Submit a chain: steps [{name, prompt, model?}] run in order; a prompt may use "
        "{previous_output} and {steps.NAME.VAR}. wait=true waits for the final output."
    )
    async def pool_submit_chain(
        steps: list[dict[str, Any]],
        pool: str | None = None,
        wait: bool = False,
        timeout_seconds: int = DEFAULT_WAIT_SECONDS,
    ) -> dict[str, Any]:
        shaped = [_step(step) for step in steps]
        task = await tools.guard(client.submit_chain(tools.pool(pool), shaped))
        if wait:
            return await tools.finished(task.metadata.name, timeout_seconds)
        return {"task_id": task.metadata.name}

    @tool("Route a prompt automatically (single, parallel or chain) and run it.")
    async def pool_auto(
        prompt: str,
        pool: str | None = None,
        prefer: Literal["single", "parallel", "chain"] | None = None,
        max_parallel: int | None = None,
        max_chain_steps: int | None = None,
        domain: str | None = None,
        decomposition_hints: list[str] | None = None,
        wait: bool = False,
        timeout_seconds: int = DEFAULT_WAIT_SECONDS,
    ) -> dict[str, Any]:
        given: dict[str, Any] = {
            "prefer": RoutePreference(prefer) if prefer else None,
            "max_parallel": max_parallel,
            "max_chain_steps": max_chain_steps,
            "domain": domain,
            "decomposition_hints": decomposition_hints,
        }
        present = {k: v for k, v in given.items() if v is not None}
        try:
            hints = AutoHints(**present) if present else None
        except ValueError as error:
            raise ToolError(f"invalid hints: {error}") from None
        task = await tools.guard(client.auto(tools.pool(pool), prompt, hints=hints))
        if wait:
            return await tools.finished(task.metadata.name, timeout_seconds)
        return {"task_id": task.metadata.name}

    @tool("Pool status: slots, queue, spend (microdollars), tasks by phase. All pools if none.")
    async def pool_status(pool: str | None = None) -> dict[str, Any]:
        summaries = await tools.guard(client.status(pool or tools.default_pool))
        return {"pools": [status_reply(summary) for summary in summaries]}

    @tool("List the pool's tasks with phase and cost (all pools' with pool='*').")
    async def pool_list_tasks(pool: str | None = None) -> dict[str, Any]:
        chosen = None if pool == "*" else (pool or tools.default_pool)
        found = await tools.guard(client.tasks(chosen))
        return {"tasks": [task_reply(task) for task in found]}

    @tool("Set a shared context entry (added to every task's system prompt).")
    async def context_set(key: str, value: str, pool: str | None = None) -> dict[str, Any]:
        await tools.guard(client.set_context(tools.pool(pool), key, value))
        return {"set": True}

    @tool("Read a shared context entry (value is null when unset).")
    async def context_get(key: str, pool: str | None = None) -> dict[str, Any]:
        return {"value": await tools.guard(client.get_context(tools.pool(pool), key))}

    @tool("All shared context entries as [key, value] pairs.")
    async def context_list(pool: str | None = None) -> dict[str, Any]:
        entries = await tools.guard(client.context(tools.pool(pool)))
        return {"entries": [[k, v] for k, v in sorted(entries.items())]}

    @tool("Delete a shared context entry.")
    async def context_delete(key: str, pool: str | None = None) -> dict[str, Any]:
        old = await tools.guard(client.delete_context(tools.pool(pool), key))
        return {"deleted": old is not None}

    async def _scale_to(pool: str, target: int) -> dict[str, Any]:
        if target < 0:
            raise ToolError(f"cannot scale to {target} slots")
        found = await tools.guard(client.scale(pool, target))
        return {"total_slots": found.spec.slots}

    @tool("Add slots to the pool.")
    async def pool_scale_up(count: int, pool: str | None = None) -> dict[str, Any]:
        name = tools.pool(pool)
        current = (await tools.guard(client.pool(name))).spec.slots
        return await _scale_to(name, current + count)

    @tool("Remove slots from the pool (busy slots finish their task first).")
    async def pool_scale_down(count: int, pool: str | None = None) -> dict[str, Any]:
        name = tools.pool(pool)
        current = (await tools.guard(client.pool(name))).spec.slots
        return await _scale_to(name, current - count)

    @tool("Set the pool's slot count.")
    async def pool_set_target_slots(target: int, pool: str | None = None) -> dict[str, Any]:
        return await _scale_to(tools.pool(pool), target)

    @tool("Suspend the pool and wait until no slot is busy; resume with pool_resume.")
    async def pool_drain(
        pool: str | None = None, timeout_seconds: int = DEFAULT_WAIT_SECONDS
    ) -> dict[str, Any]:
        name = tools.pool(pool)
        found = await tools.guard(client.drain(name, timeout=timeout_seconds))
        done = (await tools.guard(client.status(name)))[0].tasks.get("Succeeded", 0)
        return {
            "total_cost_microdollars": found.status.budget.spent_microdollars,
            "total_tasks_completed": done,
        }

    @tool("Dispatch again after pool_drain.")
    async def pool_resume(pool: str | None = None) -> dict[str, Any]:
        await tools.guard(client.resume(tools.pool(pool)))
        return {"resumed": True}


def _step(step: dict[str, Any]) -> dict[str, Any]:
    """A chain step from the tool's {name, prompt, model?} form to the CRD's."""
    if not isinstance(step, dict) or "name" not in step or "prompt" not in step:
        raise ToolError("each step needs a name and a prompt")
    shaped: dict[str, Any] = {"name": step["name"], "prompt": step["prompt"]}
    if step.get("model"):
        shaped["config"] = {"model": step["model"]}
    for key in ("retries", "recoveryPrompt", "outputVars"):
        if key in step:
            shaped[key] = step[key]
    return shaped


def build_server(client: AsyncClient, default_pool: str | None) -> MCPServer[Any]:
    """The MCP server with every pool tool registered."""
    server: MCPServer[Any] = MCPServer(name="claude-pool", instructions=INSTRUCTIONS)
    tools = PoolTools(client, default_pool)
    _register(server, tools)
    register_collaboration(server, tools, DEFAULT_WAIT_SECONDS)
    return server


def serve(
    *,
    kubeconfig: str | None,
    context: str | None,
    namespace: str | None,
    transport: str,
    host: str,
    port: int,
    default_pool: str | None,
) -> None:
    """Connect with the caller's kubeconfig and serve until stdin closes (or Ctrl-C)."""
    if transport not in ("stdio", "http"):
        raise InvalidRequest(f"--transport must be stdio or http, not {transport!r}")
    client = AsyncClient.connect(kubeconfig=kubeconfig, context=context, namespace=namespace)
    try:
        server = build_server(client, default_pool)
        if transport == "stdio":
            server.run("stdio")
        else:
            server.run("streamable-http", host=host, port=port)
    finally:
        client.close()
