"""The MCP server's review and messaging tools (the seed's pool_submit_with_review,
pool_approve_result, pool_reject_result, pool_send_message, pool_broadcast and a message
list), registered by `claude_pool.mcpserver.server.build_server`.

approve/reject wait (bounded) until the operator applied the ClaudeReview, so a refusal
(task not awaiting review, stale, four-eyes) comes back as a tool error with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from mcp.server.mcpserver import MCPServer

from claude_pool.api.conditions import get_condition
from claude_pool.api.messages import ClaudeMessage, MessageConditionType
from claude_pool.api.reviews import ClaudeReview
from claude_pool.mcpserver.replies import task_reply
from claude_pool.sdk.collaboration import REVIEW_TIMEOUT

if TYPE_CHECKING:
    from claude_pool.mcpserver.server import PoolTools


def review_reply(review: ClaudeReview, phase: str) -> dict[str, Any]:
    return {
        "task_id": review.spec.task_ref.name,
        "review": review.metadata.name,
        "decision": str(review.spec.decision),
        "reviewer": review.spec.reviewer,
        "rejection": review.status.rejection,
        "phase": phase,
    }


def message_reply(message: ClaudeMessage) -> dict[str, Any]:
    spec = message.spec
    condition = get_condition(message.status.conditions, MessageConditionType.DELIVERED)
    return {
        "message_id": message.metadata.name,
        "from": spec.from_,
        "from_slot": spec.from_slot,
        "to_slot": spec.to_slot,
        "broadcast": spec.broadcast,
        "content": spec.content,
        "state": condition.reason if condition is not None else "Pending",
        "recipients": list(message.status.recipients),
        "deliveries": [
            {"slot": d.slot, "task": d.task, "time": d.time.isoformat()}
            for d in message.status.deliveries
        ],
    }


def for_slot(message: ClaudeMessage, slot: int) -> bool:
    """Whether the message is (or, a broadcast not yet seen by the operator, will be) for
    the slot."""
    spec = message.spec
    if spec.to_slot is not None:
        return spec.to_slot == slot
    if message.status.recipients:
        return slot in message.status.recipients
    return spec.from_slot != slot


def register_collaboration(server: MCPServer[Any], tools: PoolTools, wait_seconds: int) -> None:
    def tool(description: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            server.tool(name=fn.__name__, description=description)(fn)
            return fn

        return register

    client = tools.client

    @tool(
        "Run a prompt whose successful result waits in AwaitingReview for "
        "pool_approve_result or pool_reject_result; wait=true waits until it does."
    )
    async def pool_submit_with_review(
        prompt: str,
        pool: str | None = None,
        model: str | None = None,
        effort: Literal["low", "medium", "high", "max"] | None = None,
        max_budget_usd: float | str | None = None,
        max_rejections: int | None = None,
        wait: bool = False,
        timeout_seconds: int = wait_seconds,
    ) -> dict[str, Any]:
        config = tools.config(model, effort, max_budget_usd)
        task = await tools.guard(client.submit(
            tools.pool(pool), prompt, config=config, review=True, max_rejections=max_rejections
        ))  # fmt: skip
        if wait:
            return await tools.finished(task.metadata.name, timeout_seconds)
        return {"task_id": task.metadata.name}

    async def decided(review: ClaudeReview) -> dict[str, Any]:
        task = await tools.guard(client.task(review.spec.task_ref.name))
        return review_reply(review, task_reply(task)["phase"])

    @tool("Approve a task awaiting review: it ends Succeeded (refusals are errors).")
    async def pool_approve_result(
        task_id: str, feedback: str = "", timeout_seconds: int = int(REVIEW_TIMEOUT)
    ) -> dict[str, Any]:
        review = await tools.guard(
            client.approve(task_id, feedback, wait=True, timeout=timeout_seconds)
        )
        return await decided(review)

    @tool(
        "Reject a task awaiting review with feedback: it runs again with the feedback "
        "appended to its prompt, or fails at its max_rejections-th rejection."
    )
    async def pool_reject_result(
        task_id: str, feedback: str, timeout_seconds: int = int(REVIEW_TIMEOUT)
    ) -> dict[str, Any]:
        review = await tools.guard(
            client.reject(task_id, feedback, wait=True, timeout=timeout_seconds)
        )
        return await decided(review)

    @tool("Send a message to slot `to` of the pool; it is prepended to that slot's next task.")
    async def pool_send_message(
        to: int,
        content: str,
        pool: str | None = None,
        from_slot: int | None = None,
        sender: str | None = None,
    ) -> dict[str, Any]:
        message = await tools.guard(client.send_message(
            tools.pool(pool), to, content, from_slot=from_slot, sender=sender
        ))  # fmt: skip
        return {"message_id": message.metadata.name}

    @tool("Send a message to every slot of the pool except from_slot, at each one's next task.")
    async def pool_broadcast(
        content: str,
        pool: str | None = None,
        from_slot: int | None = None,
        sender: str | None = None,
    ) -> dict[str, Any]:
        message = await tools.guard(
            client.broadcast(tools.pool(pool), content, from_slot=from_slot, sender=sender)
        )
        return {"message_id": message.metadata.name}

    @tool(
        "The pool's messages with their delivery state (Pending, Delivered, NoRecipients, "
        "InboxFull) and deliveries; slot=N: only those for slot N."
    )
    async def pool_list_messages(
        pool: str | None = None, slot: int | None = None
    ) -> dict[str, Any]:
        found = await tools.guard(client.messages(tools.pool(pool)))
        if slot is not None:
            found = [m for m in found if for_slot(m, slot)]
        return {"messages": [message_reply(m) for m in found]}
