"""What the task commands share: their option types, the task config from flags, reading
prompts and files, reporting a created task, and following a task to its result (`finish`).
Used by `claude_pool.cli.tasks` and `claude_pool.cli.composites`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from claude_pool.api.claude import Effort, PermissionMode, TaskOverrides
from claude_pool.api.money import MoneyError, parse_dollars
from claude_pool.api.phases import TaskPhase
from claude_pool.api.tasks import ClaudeTask
from claude_pool.cli.exitcodes import code_for_phase
from claude_pool.cli.output import Format, emit, stderr
from claude_pool.cli.progress import TaskProgress
from claude_pool.sdk.client import AsyncClient
from claude_pool.sdk.errors import InvalidRequest
from claude_pool.sdk.summaries import task_phase
from claude_pool.sdk.translating import invalid

NameOpt = Annotated[
    str | None, typer.Option("--name", help="Task name (default: generated from the pool's).")
]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="Model for this task.")]
EffortOpt = Annotated[Effort | None, typer.Option("--effort", help="Reasoning effort.")]
TurnsOpt = Annotated[int | None, typer.Option("--max-turns", help="Most agentic turns.")]
BudgetOpt = Annotated[
    str | None, typer.Option("--max-budget", help="Spending cap of the task in dollars, e.g. 0.50.")
]
PermissionOpt = Annotated[
    PermissionMode | None, typer.Option("--permission-mode", help="The CLI's permission mode.")
]
PriorityOpt = Annotated[int, typer.Option("--priority", help="Higher runs first.")]
LabelOpt = Annotated[
    list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE label (repeatable).")
]
WaitFlag = Annotated[bool, typer.Option("--wait", "-w", help="Wait for the result.")]
ReviewOpt = Annotated[
    bool,
    typer.Option("--review", help="Hold the result in AwaitingReview for approve/reject."),
]
RejectionsOpt = Annotated[
    int | None,
    typer.Option("--max-rejections", help="With --review: rejections that fail it (default 3)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]


def overrides(
    model: str | None,
    effort: Effort | None = None,
    max_turns: int | None = None,
    max_budget: str | None = None,
    permission_mode: PermissionMode | None = None,
) -> TaskOverrides | None:
    """spec.config from the flags; None when no flag was given."""
    fields = {
        "model": model,
        "effort": effort,
        "max_turns": max_turns,
        "permission_mode": permission_mode,
    }
    try:
        if max_budget is not None:
            fields["max_budget_microdollars"] = parse_dollars(max_budget)
        given = {key: value for key, value in fields.items() if value is not None}
        return TaskOverrides(**given) if given else None
    except MoneyError as error:
        raise InvalidRequest(f"--max-budget: {error}") from None
    except ValidationError as error:
        raise invalid(error, "task config") from None


def labels_of(pairs: list[str] | None) -> dict[str, str]:
    labels = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"--label {pair!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def read_prompt(prompt: str) -> str:
    """The prompt argument, or standard input for `-`."""
    return sys.stdin.read() if prompt == "-" else prompt


def created(task: ClaudeTask, fmt: Format | None) -> None:
    """Report a created task like `kubectl create` (or print it as JSON/YAML)."""
    if fmt in (Format.JSON, Format.YAML):
        emit(task, fmt)
    elif fmt == Format.NAME:
        print(f"claudetask/{task.metadata.name}")
    else:
        print(f"claudetask/{task.metadata.name} created")


async def finish(
    client: AsyncClient, task: ClaudeTask, timeout: float, fmt: Format | None, quiet: bool
) -> int:
    """Follow a task to its result, print the output (or the task), return the exit code."""
    name = task.metadata.name
    show = not quiet and fmt not in (Format.JSON, Format.YAML)
    try:
        with TaskProgress(enabled=show) as display:
            display.update(task)
            task = await client.wait(name, timeout=timeout, on_update=display.update)
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels us, then exits with 130
        stderr.print(f"task {name} goes on; stop it with: claude-pool cancel {name}")
        raise
    phase = task_phase(task)
    output = await client.output(name)
    if fmt in (Format.JSON, Format.YAML):
        if task.status.result is not None and output is not None:
            task.status.result.output = output
        emit(task, fmt)
    elif output:
        print(output, end="" if output.endswith("\n") else "\n")
    result = task.status.result
    if result is not None and result.failure is not None:
        stderr.print(f"{name}: {phase}: {result.failure.reason}: {result.failure.message}",
                     markup=False)  # fmt: skip
    elif phase == TaskPhase.AWAITING_REVIEW:
        stderr.print(f"{name}: {phase}: decide with `claude-pool approve {name}` or "
                     f"`claude-pool reject {name} --feedback TEXT`", markup=False)  # fmt: skip
    elif phase != TaskPhase.SUCCEEDED:
        stderr.print(f"{name}: {phase}", markup=False)
    return code_for_phase(phase)


def read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidRequest(f"cannot read {path}: {error.strerror}") from None
