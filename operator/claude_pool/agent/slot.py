"""The slot: one task at a time, its progress for followers, its record on the volume.

Called by `server` (one method per endpoint) and `main` (shutdown). Starting is idempotent
by uid: the check and the claim happen with no await in between, so two identical PUTs run
the CLI once. The final record is written before the slot becomes idle again, so a new task
is accepted only once the previous result is durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path

from claude_pool.agent.runner import Runner, StopSignal
from claude_pool.agent.store import TaskStore
from claude_pool.agent.workspace import Workspace
from claude_pool.agent.workspacerun import run_in_workspace
from claude_pool.api.agent import (
    AgentResult,
    AgentSlotState,
    Failure,
    ProgressEvent,
    SlotStatus,
    TaskRequest,
    TaskState,
    TaskStatus,
)
from claude_pool.api.common import plural
from claude_pool.api.failures import FailureReason

MAX_EVENTS = 10_000
"""Progress events kept per run for followers; later ones are only logged."""
HEARTBEAT_SECONDS = 15.0


class SlotBusyError(Exception):
    """Another task is running."""

    def __init__(self, current: str) -> None:
        super().__init__(f"the slot is running task {current}")
        self.current = current


class WorkspaceNotReadyError(Exception):
    """The slot's clone is not Ready: a task cannot run yet."""

    def __init__(self, phase: str, message: str) -> None:
        detail = f": {message}" if message else ""
        super().__init__(f"the slot's workspace is not ready ({phase}){detail}")


class Ack(Enum):
    """The outcome of acknowledging a task."""

    DELETED = "deleted"
    RUNNING = "running"
    UNKNOWN = "unknown"


@dataclass
class TaskRun:
    """The task being run, with its progress so far."""

    uid: str
    request: TaskRequest
    status: TaskStatus
    stop: StopSignal = field(default_factory=StopSignal)
    events: list[ProgressEvent] = field(default_factory=list)
    final: TaskStatus | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set (and replaced) at every change: followers wait on the one they saw."""
    task: asyncio.Task[None] | None = None

    def add(self, event: ProgressEvent) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append(event.model_copy(update={"seq": len(self.events) + 1}))
            self._wake()

    def finish(self, status: TaskStatus) -> None:
        self.final = status
        self._wake()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class Slot:
    """The agent's single task slot."""

    def __init__(
        self,
        store: TaskStore,
        runner: Runner,
        *,
        clock: Callable[[], datetime],
        log: Callable[[str], None],
        agent_version: str,
        cli_version: str | None,
        workspace: Workspace | None = None,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.runner = runner
        self.clock = clock
        self.log = log
        self.agent_version = agent_version
        self.cli_version = cli_version
        self.current: TaskRun | None = None
        self.unsaved: dict[str, TaskStatus] = {}
        """Final records the volume refused (disk full): served from memory instead."""

    def state(self) -> SlotStatus:
        uids = {s.uid for s in self.store.all()} | set(self.unsaved)
        if self.current is not None:
            uids.add(self.current.uid)
        return SlotStatus(
            state=AgentSlotState.BUSY if self.current else AgentSlotState.IDLE,
            current_task=self.current.uid if self.current else None,
            tasks=sorted(uids),
            agent_version=self.agent_version,
            cli_version=self.cli_version,
            workspace=self.workspace.state() if self.workspace is not None else None,
        )

    def get(self, uid: str) -> TaskStatus | None:
        if self.current is not None and self.current.uid == uid:
            return self.current.status
        return self.unsaved.get(uid) or self.store.load(uid)

    async def start(
        self, uid: str, request: TaskRequest, workdir: Path | None
    ) -> tuple[TaskStatus, bool]:
        """Start `uid` unless it is known; return its status and whether it was started.

        `workdir` is None on a workspace slot: the task's checkout decides it.
        """
        known = self.get(uid)
        if known is not None:
            return known, False
        if self.current is not None:
            raise SlotBusyError(self.current.uid)
        if self.workspace is not None and not self.workspace.ready:
            raise WorkspaceNotReadyError(self.workspace.phase.value, self.workspace.message)
        status = TaskStatus(uid=uid, state=TaskState.RUNNING, started_at=self.clock())
        run = TaskRun(uid=uid, request=request, status=status)
        self.current = run
        try:
            await asyncio.to_thread(self.store.save, status)
        except OSError:
            self.current = None
            raise
        self.log(
            f"task {uid}: started (model {request.model or 'default'}, "
            f"workdir {workdir or 'in the workspace'}, prompt {len(request.prompt)} chars)"
        )
        run.task = asyncio.create_task(self._execute(run, workdir))
        return status, True

    async def _execute(self, run: TaskRun, workdir: Path | None) -> None:
        try:
            if self.workspace is not None:
                result = await run_in_workspace(
                    self.workspace, self.runner, run.uid, run.request, run.stop, run.add
                )
            else:
                assert workdir is not None  # the server resolves it without a workspace
                result = await self.runner.run(run.uid, run.request, workdir, run.stop, run.add)
        except Exception as error:  # a bug must still end the task, not wedge the slot
            result = AgentResult(
                success=False,
                failure=Failure(reason=FailureReason.CLI_CRASHED, message=f"agent error: {error}"),
            )
        final = run.status.model_copy(
            update={
                "state": TaskState.SUCCEEDED if result.success else TaskState.FAILED,
                "finished_at": self.clock(),
                "result": result,
            }
        )
        try:
            await asyncio.to_thread(self.store.save, final)
        except OSError as error:
            self.log(f"task {run.uid}: could not write the result to the volume: {error}")
            self.unsaved[run.uid] = final
        self.current = None
        run.finish(final)
        self.log(f"task {run.uid}: {describe(result)}")

    def cancel(self, uid: str) -> TaskStatus | None:
        """Ask the running task to stop; return its status (None if unknown)."""
        if self.current is not None and self.current.uid == uid:
            self.current.stop.request(FailureReason.CANCELLED, "the task was cancelled")
            self.log(f"task {uid}: cancel requested")
            return self.current.status
        return self.get(uid)

    def acknowledge(self, uid: str) -> Ack:
        if self.current is not None and self.current.uid == uid:
            return Ack.RUNNING
        in_memory = self.unsaved.pop(uid, None) is not None
        return Ack.DELETED if self.store.delete(uid) or in_memory else Ack.UNKNOWN

    async def follow(
        self, uid: str, after: int = 0
    ) -> AsyncIterator[ProgressEvent | TaskStatus | None]:
        """Progress events after seq `after`, then the final status; None is a heartbeat.

        Raises KeyError when the task is unknown.
        """
        run = self.current if self.current is not None and self.current.uid == uid else None
        if run is None:
            status = self.get(uid)
            if status is None:
                raise KeyError(uid)
            yield status
            return
        seen = max(after, 0)
        while True:
            changed = run.changed
            for event in run.events[seen:]:
                yield event
            seen = max(seen, len(run.events))
            if run.final is not None:
                yield run.final
                return
            try:
                await asyncio.wait_for(changed.wait(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield None

    async def shutdown(self) -> None:
        """Stop the running task (reported Interrupted) and wait until its record is written."""
        run = self.current
        if run is None or run.task is None:
            return
        run.stop.request(
            FailureReason.INTERRUPTED, "the slot agent was stopped while the task was running"
        )
        await asyncio.shield(run.task)


def describe(result: AgentResult) -> str:
    """A one-line summary of a result for the log."""
    cost = f"cost ${result.cost_microdollars / 1_000_000:.6f} ({result.cost_microdollars} µ$)"
    figures = f"{plural(result.turns, 'turn')}, {cost}, {result.duration_ms / 1000:.2f} s"
    if result.failure is None:
        return f"succeeded: {figures}"
    message = " ".join(result.failure.message.split())[:300]
    return f"failed: {result.failure.reason.value}: {message} ({figures})"
