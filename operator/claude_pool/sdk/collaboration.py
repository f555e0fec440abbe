"""Review decisions and messages between slots: the SDK's approve, reject, send_message,
broadcast and messages verbs. `claude_pool.sdk.client.AsyncClient` owns one (built with its
door, namespace and clock) and exposes its verbs.

A decision is a ClaudeReview (`claude_pool.api.reviews`): the API server stamps
spec.reviewer with the caller's user (deploy/admission.yaml), the operator applies it and
writes its `Applied` condition. With `wait=True` the verb watches the review until that
condition is there (bounded) and raises ReviewRefused when it is False. A message is a
ClaudeMessage (`claude_pool.api.messages`), delivered at a recipient slot's next task start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from claude_pool.api.common import LocalObjectRef
from claude_pool.api.conditions import ConditionStatus, get_condition
from claude_pool.api.messages import ClaudeMessage
from claude_pool.api.reviews import ClaudeReview, ReviewConditionType, ReviewDecision
from claude_pool.sdk import manifests
from claude_pool.sdk.door import Door
from claude_pool.sdk.errors import PoolNotFound, ReviewNotFound, ReviewRefused, TaskNotFound
from claude_pool.sdk.translating import translated
from claude_pool.sdk.waiting import wait_for

REVIEWS = "claudereviews"
MESSAGES = "claudemessages"
REVIEW_TIMEOUT = 60.0
"""Default bound of waiting for the operator to apply a review, in seconds."""


def applied(review: ClaudeReview) -> bool | None:
    """True/False once the operator applied or refused the review; None before."""
    condition = get_condition(review.status.conditions, ReviewConditionType.APPLIED)
    if condition is None or condition.status == ConditionStatus.UNKNOWN:
        return None
    return condition.status == ConditionStatus.TRUE


def refusal(review: ClaudeReview) -> str:
    """The operator's reason and message of a refused review."""
    condition = get_condition(review.status.conditions, ReviewConditionType.APPLIED)
    if condition is None:
        return "not applied"
    return f"{condition.reason}: {condition.message}"


class Collaboration:
    """approve/reject (ClaudeReview) and messages (ClaudeMessage) of one namespace by default."""

    def __init__(self, door: Door, namespace: str, clock: Callable[[], float]) -> None:
        self.door = door
        self.namespace = namespace
        self.clock = clock

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.namespace

    # reviews ----------------------------------------------------------------------------
    async def approve(
        self,
        task: str,
        feedback: str = "",
        *,
        wait: bool = False,
        timeout: float = REVIEW_TIMEOUT,
        namespace: str | None = None,
    ) -> ClaudeReview:
        """Approve a task awaiting review: the task succeeds (seed: approve_result)."""
        return await self._decide(task, ReviewDecision.APPROVE, feedback, wait, timeout, namespace)

    async def reject(
        self,
        task: str,
        feedback: str,
        *,
        wait: bool = False,
        timeout: float = REVIEW_TIMEOUT,
        namespace: str | None = None,
    ) -> ClaudeReview:
        """Reject a task awaiting review: it runs again with the feedback appended to its
        prompt, or fails at its maxRejections-th rejection (seed: reject_result)."""
        return await self._decide(task, ReviewDecision.REJECT, feedback, wait, timeout, namespace)

    async def _decide(
        self,
        task: str,
        decision: ReviewDecision,
        feedback: str,
        wait: bool,
        timeout: float,
        namespace: str | None,
    ) -> ClaudeReview:
        ns = self._ns(namespace)
        missing = TaskNotFound(f"task {task!r} not found in namespace {ns!r}")
        with translated(missing):
            await self.door.get("claudetasks", ns, task)
        body = manifests.review_manifest(task, decision, feedback)
        with translated():
            review = ClaudeReview.model_validate(await self.door.create(REVIEWS, ns, body))
        if not wait:
            return review
        return await self.wait_review(review.metadata.name, timeout=timeout, namespace=ns)

    async def review(self, name: str, *, namespace: str | None = None) -> ClaudeReview:
        ns = self._ns(namespace)
        with translated(ReviewNotFound(f"review {name!r} not found in namespace {ns!r}")):
            return ClaudeReview.model_validate(await self.door.get(REVIEWS, ns, name))

    async def reviews(
        self, task: str | None = None, *, namespace: str | None = None
    ) -> list[ClaudeReview]:
        """The namespace's reviews (of one task when given)."""
        with translated():
            items, _ = await self.door.list(REVIEWS, self._ns(namespace))
        found = [ClaudeReview.model_validate(item) for item in items]
        return [r for r in found if task is None or r.spec.task_ref.name == task]

    async def wait_review(
        self, name: str, *, timeout: float = REVIEW_TIMEOUT, namespace: str | None = None
    ) -> ClaudeReview:
        """The review once the operator applied it (watching it); ReviewRefused when it
        refused it (NotAwaitingReview, Stale, SelfApproval, ...); WaitTimeout at the bound."""
        ns = self._ns(namespace)

        def decided(body: dict[str, Any]) -> bool:
            return applied(ClaudeReview.model_validate(body)) is not None

        body = await wait_for(
            self.door, REVIEWS, ns, name, decided, timeout=timeout, clock=self.clock,
            missing=ReviewNotFound(f"review {name!r} was deleted before it was applied"),
        )  # fmt: skip
        review = ClaudeReview.model_validate(body)
        if applied(review) is False:
            raise ReviewRefused(
                f"review {name} of task {review.spec.task_ref.name} refused: {refusal(review)}"
            )
        return review

    # messages ---------------------------------------------------------------------------
    async def send_message(
        self,
        pool: str,
        to_slot: int,
        content: str,
        *,
        from_slot: int | None = None,
        sender: str | None = None,
        namespace: str | None = None,
    ) -> ClaudeMessage:
        """A note for slot `to_slot` of the pool, prepended to its next task's prompt."""
        return await self._send(
            pool, content, to_slot=to_slot, from_slot=from_slot, sender=sender,
            namespace=namespace,
        )  # fmt: skip

    async def broadcast(
        self,
        pool: str,
        content: str,
        *,
        from_slot: int | None = None,
        sender: str | None = None,
        namespace: str | None = None,
    ) -> ClaudeMessage:
        """A note for every slot of the pool but `from_slot`, at each one's next task."""
        return await self._send(
            pool, content, to_slot=None, from_slot=from_slot, sender=sender, namespace=namespace
        )

    async def _send(
        self,
        pool: str,
        content: str,
        *,
        to_slot: int | None,
        from_slot: int | None,
        sender: str | None,
        namespace: str | None,
    ) -> ClaudeMessage:
        ns = self._ns(namespace)
        with translated(PoolNotFound(f"pool {pool!r} not found in namespace {ns!r}")):
            await self.door.get("claudepools", ns, pool)
        body = manifests.message_manifest(
            LocalObjectRef(name=pool), content, to_slot=to_slot, from_slot=from_slot,
            sender=sender,
        )  # fmt: skip
        with translated():
            return ClaudeMessage.model_validate(await self.door.create(MESSAGES, ns, body))

    async def messages(
        self, pool: str | None = None, *, namespace: str | None = None
    ) -> list[ClaudeMessage]:
        """Messages of the namespace (of one pool when given), oldest first, with their
        recipients, deliveries and Delivered condition."""
        with translated():
            items, _ = await self.door.list(MESSAGES, self._ns(namespace))
        found = [ClaudeMessage.model_validate(item) for item in items]
        if pool is not None:
            found = [m for m in found if m.spec.pool_ref.name == pool]
        return sorted(found, key=_age_order)


def _age_order(message: ClaudeMessage) -> tuple[float, str]:
    stamp = message.metadata.creation_timestamp
    return (stamp.timestamp() if stamp is not None else float("inf"), message.metadata.name)
