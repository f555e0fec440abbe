"""The sync SDK: `Client` runs each `AsyncClient` call to completion on its own event loop.

For scripts and notebooks without asyncio. Same verbs, same arguments, same models and
errors as `claude_pool.sdk.client.AsyncClient` (see there); not for use inside a running
event loop (use AsyncClient there).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Coroutine, Iterator
from typing import Any, Self, TypeVar

from claude_pool.api.messages import ClaudeMessage
from claude_pool.api.pools import ClaudePool
from claude_pool.api.results import TaskResult
from claude_pool.api.reviews import ClaudeReview
from claude_pool.api.tasks import ClaudeTask
from claude_pool.sdk.client import AsyncClient
from claude_pool.sdk.summaries import PoolSummary

T = TypeVar("T")


class Client:
    """Blocking twin of AsyncClient."""

    def __init__(self, inner: AsyncClient) -> None:
        self.inner = inner
        self._runner = asyncio.Runner()

    @classmethod
    def connect(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
    ) -> Client:
        return cls(AsyncClient.connect(kubeconfig=kubeconfig, context=context, namespace=namespace))

    @property
    def namespace(self) -> str:
        return self.inner.namespace

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.inner.close()
        self._runner.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coro)

    # pools
    def pool(self, name: str, **kw: Any) -> ClaudePool:
        return self._run(self.inner.pool(name, **kw))

    def pools(self, **kw: Any) -> list[ClaudePool]:
        return self._run(self.inner.pools(**kw))

    def status(self, pool: str | None = None, **kw: Any) -> list[PoolSummary]:
        return self._run(self.inner.status(pool, **kw))

    def scale(self, pool: str, slots: int, **kw: Any) -> ClaudePool:
        return self._run(self.inner.scale(pool, slots, **kw))

    def suspend(self, pool: str, **kw: Any) -> ClaudePool:
        return self._run(self.inner.suspend(pool, **kw))

    def resume(self, pool: str, **kw: Any) -> ClaudePool:
        return self._run(self.inner.resume(pool, **kw))

    def drain(self, pool: str, **kw: Any) -> ClaudePool:
        return self._run(self.inner.drain(pool, **kw))

    def context(self, pool: str, **kw: Any) -> dict[str, str]:
        return self._run(self.inner.context(pool, **kw))

    def get_context(self, pool: str, key: str, **kw: Any) -> str | None:
        return self._run(self.inner.get_context(pool, key, **kw))

    def set_context(self, pool: str, key: str, value: str, **kw: Any) -> dict[str, str]:
        return self._run(self.inner.set_context(pool, key, value, **kw))

    def delete_context(self, pool: str, key: str, **kw: Any) -> str | None:
        return self._run(self.inner.delete_context(pool, key, **kw))

    # tasks
    def task(self, name: str, **kw: Any) -> ClaudeTask:
        return self._run(self.inner.task(name, **kw))

    def tasks(self, pool: str | None = None, **kw: Any) -> list[ClaudeTask]:
        return self._run(self.inner.tasks(pool, **kw))

    def create(self, task: ClaudeTask, **kw: Any) -> ClaudeTask:
        return self._run(self.inner.create(task, **kw))

    def submit(self, pool: str, prompt: str, **kw: Any) -> ClaudeTask:
        return self._run(self.inner.submit(pool, prompt, **kw))

    def run(self, pool: str, prompt: str, **kw: Any) -> ClaudeTask:
        return self._run(self.inner.run(pool, prompt, **kw))

    def fan_out(self, pool: str, prompts: list[str] | None = None, **kw: Any) -> ClaudeTask:
        return self._run(self.inner.fan_out(pool, prompts, **kw))

    def submit_chain(self, pool: str, chain: Any, **kw: Any) -> ClaudeTask:
        return self._run(self.inner.submit_chain(pool, chain, **kw))

    def auto(self, pool: str, prompt: str, **kw: Any) -> ClaudeTask:
        return self._run(self.inner.auto(pool, prompt, **kw))

    def wait(self, name: str, **kw: Any) -> ClaudeTask:
        return self._run(self.inner.wait(name, **kw))

    def result(self, name: str, **kw: Any) -> TaskResult | None:
        return self._run(self.inner.result(name, **kw))

    def output(self, name: str, **kw: Any) -> str | None:
        return self._run(self.inner.output(name, **kw))

    def cancel(self, name: str, **kw: Any) -> ClaudeTask:
        return self._run(self.inner.cancel(name, **kw))

    def delete(self, name: str, **kw: Any) -> None:
        self._run(self.inner.delete(name, **kw))

    # reviews and messages
    def approve(self, task: str, feedback: str = "", **kw: Any) -> ClaudeReview:
        return self._run(self.inner.approve(task, feedback, **kw))

    def reject(self, task: str, feedback: str, **kw: Any) -> ClaudeReview:
        return self._run(self.inner.reject(task, feedback, **kw))

    def review(self, name: str, **kw: Any) -> ClaudeReview:
        return self._run(self.inner.review(name, **kw))

    def reviews(self, task: str | None = None, **kw: Any) -> list[ClaudeReview]:
        return self._run(self.inner.reviews(task, **kw))

    def wait_review(self, name: str, **kw: Any) -> ClaudeReview:
        return self._run(self.inner.wait_review(name, **kw))

    def send_message(self, pool: str, to_slot: int, content: str, **kw: Any) -> ClaudeMessage:
        return self._run(self.inner.send_message(pool, to_slot, content, **kw))

    def broadcast(self, pool: str, content: str, **kw: Any) -> ClaudeMessage:
        return self._run(self.inner.broadcast(pool, content, **kw))

    def messages(self, pool: str | None = None, **kw: Any) -> list[ClaudeMessage]:
        return self._run(self.inner.messages(pool, **kw))

    def logs(self, name: str, **kw: Any) -> Iterator[str]:
        """The task's log lines, each as it arrives."""
        lines = self.inner.logs(name, **kw)
        try:
            while True:
                try:
                    yield self._run(_next(lines))
                except StopAsyncIteration:
                    return
        finally:
            self._run(lines.aclose())


async def _next(lines: AsyncGenerator[str, None]) -> str:
    return await anext(lines)
