"""The slots' clones of a pool's workspace, as their agents report them (`GET /v1/slot`).

A collaborator of `runtime.worker` (the one owner of this state): each cycle of a pool with
`spec.workspace`, `probe` asks the slot pods whose clone is not known to be ready (every
`interval` seconds; a ready one every `ready_interval`) and sets the worker's alarm while
any is cloning or failing, so a clone that becomes ready is noticed without a watch event.
`gate` holds back idle slots whose clone is not ready (dispatch does not see them; they
count as not ready), `facts` feeds the pool's WorkspaceUnavailable condition and
`waiting` says why tasks wait, `newly_unavailable` when to post the Warning Event.
Messages are the agent's, already redacted by it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from claude_pool.api.pools import ClaudePool
from claude_pool.api.workspaces import WorkspaceState
from claude_pool.controllers.state import PodView
from claude_pool.runtime.alarm import Alarm
from claude_pool.runtime.runs import base_url
from claude_pool.slots.client import SlotClient, SlotError, SlotUnreachable
from claude_pool.slots.planning import SlotView
from claude_pool.slots.workspaces import clone_ready, clone_verdict
from claude_pool.status.pools import WorkspaceFacts


@dataclasses.dataclass
class _Seen:
    state: WorkspaceState | None
    at: float
    name: str


def _key(pod: PodView) -> str:
    """A pod's incarnation: a restarted agent clones or fetches again, so it is asked again."""
    return f"{pod.uid}/{pod.restarts}"


class WorkspaceWatch:
    """Last workspace state of each slot pod (by pod uid and restarts) and when it was
    asked."""

    def __init__(self, *, interval: float = 2.0, ready_interval: float = 30.0) -> None:
        self.interval = interval
        self.ready_interval = ready_interval
        self._seen: dict[str, _Seen] = {}
        self._enabled = False
        self._announced = False

    async def probe(
        self,
        pool: ClaudePool,
        pods: Mapping[str, PodView],
        now: float,
        *,
        token: str | None,
        slots: SlotClient,
        alarm: Alarm,
    ) -> None:
        """Ask the due pods (`now` is monotonic)."""
        self._enabled = pool.spec.workspace is not None
        live = {_key(p): p for p in pods.values() if not p.terminating and p.ip}
        self._seen = {uid: seen for uid, seen in self._seen.items() if uid in live}
        if not self._enabled or token is None:
            self._seen.clear()
            return
        due = [pod for key, pod in live.items() if self._due(key, now)]
        answers = await asyncio.gather(
            *(slots.slot(base_url(pod), token) for pod in due), return_exceptions=True
        )
        for pod, answer in zip(due, answers, strict=True):
            if isinstance(answer, (SlotUnreachable, SlotError)):
                continue  # not answering yet: a starting agent
            if isinstance(answer, BaseException):
                raise answer
            self._seen[_key(pod)] = _Seen(answer.workspace, now, pod.name)
        if any(not self.ready(key) for key in live):
            alarm.at(self.interval)

    def _due(self, key: str, now: float) -> bool:
        seen = self._seen.get(key)
        if seen is None:
            return True
        wait = self.ready_interval if clone_ready(seen.state) else self.interval
        return now - seen.at >= wait

    def ready(self, key: str) -> bool:
        """Whether the pod's clone may take a task (always, without a workspace)."""
        if not self._enabled:
            return True
        seen = self._seen.get(key)
        return seen is not None and clone_ready(seen.state)

    def gate(self, views: list[SlotView]) -> list[SlotView]:
        """The views with idle slots whose clone is not ready shown as not ready."""
        return [
            v
            if v.task is not None or self.ready(f"{v.uid}/{v.restarts}")
            else dataclasses.replace(v, ready=False)
            for v in views
        ]

    def _verdict(self) -> tuple[WorkspaceFacts, str | None] | None:
        if not self._enabled:
            return None
        states = {seen.name: seen.state for seen in self._seen.values()}
        reason, message, waits = clone_verdict(states)
        return WorkspaceFacts(reason, message), waits

    def facts(self) -> WorkspaceFacts | None:
        """The pool's WorkspaceUnavailable condition (None: no workspace)."""
        verdict = self._verdict()
        return None if verdict is None else verdict[0]

    def newly_unavailable(self) -> str | None:
        """The condition's message when the clones just turned unavailable (once per
        episode: a Warning Event on the pool), else None."""
        facts = self.facts()
        unavailable = facts is not None and facts.unavailable
        if not unavailable:
            self._announced = False
            return None
        if self._announced:
            return None
        self._announced = True
        return None if facts is None else facts.message

    def waiting(self) -> str | None:
        """Why queued tasks wait, when no answering slot's clone is ready."""
        verdict = self._verdict()
        return None if verdict is None else verdict[1]
