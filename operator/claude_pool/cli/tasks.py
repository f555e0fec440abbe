"""CLI commands about single tasks: run, submit, wait, result, logs, cancel, delete, list.
Registered on the app by `claude_pool.cli.app`; each is a thin layer over the SDK.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from claude_pool.api.tasks import ClaudeTask
from claude_pool.cli.common import OutputOpt, PoolOpt, TaskArg, WaitOpt, call
from claude_pool.cli.exitcodes import ExitCode, code_for_phase
from claude_pool.cli.output import Format, emit, print_table, stderr, task_table
from claude_pool.cli.taskflags import (
    BudgetOpt,
    EffortOpt,
    LabelOpt,
    ModelOpt,
    NameOpt,
    PermissionOpt,
    PriorityOpt,
    QuietOpt,
    RejectionsOpt,
    ReviewOpt,
    TurnsOpt,
    created,
    finish,
    labels_of,
    overrides,
    read_file,
    read_prompt,
)
from claude_pool.sdk import manifests
from claude_pool.sdk.client import DEFAULT_TIMEOUT, AsyncClient
from claude_pool.sdk.errors import InvalidRequest
from claude_pool.sdk.summaries import task_phase


def run(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The prompt ('-' reads standard input).")],
    pool: PoolOpt,
    name: NameOpt = None,
    model: ModelOpt = None,
    effort: EffortOpt = None,
    max_turns: TurnsOpt = None,
    max_budget: BudgetOpt = None,
    permission_mode: PermissionOpt = None,
    priority: PriorityOpt = 0,
    task_timeout: Annotated[
        int | None, typer.Option("--task-timeout", help="spec.timeoutSeconds of the task.")
    ] = None,
    label: LabelOpt = None,
    review: ReviewOpt = False,
    max_rejections: RejectionsOpt = None,
    timeout: WaitOpt = DEFAULT_TIMEOUT,
    output: OutputOpt = Format.TABLE,
    quiet: QuietOpt = False,
) -> None:
    """Run a prompt on a pool: create the task, follow it live, print its output.

    Exits 0 when it succeeded (with --review: when its result awaits review), 1 failed,
    7 cancelled, 6 when --timeout passed first.
    """
    config = overrides(model, effort, max_turns, max_budget, permission_mode)
    text = read_prompt(prompt)

    async def work(client: AsyncClient) -> int:
        task = await client.submit(
            pool, text, name=name, config=config, priority=priority,
            timeout_seconds=task_timeout, labels=labels_of(label), review=review,
            max_rejections=max_rejections,
        )  # fmt: skip
        return await finish(client, task, timeout, output, quiet)

    raise typer.Exit(call(ctx, work))


def submit(
    ctx: typer.Context,
    prompt: Annotated[
        str | None, typer.Argument(help="The prompt ('-' reads standard input).")
    ] = None,
    pool: Annotated[
        str | None, typer.Option("--pool", "-p", envvar="CLAUDE_POOL_POOL", help="The ClaudePool.")
    ] = None,
    filename: Annotated[
        Path | None, typer.Option("--filename", "-f", help="ClaudeTask manifest(s) to create.")
    ] = None,
    name: NameOpt = None,
    model: ModelOpt = None,
    max_budget: BudgetOpt = None,
    priority: PriorityOpt = 0,
    label: LabelOpt = None,
    review: ReviewOpt = False,
    max_rejections: RejectionsOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create a task and return at once: a prompt for a pool, or manifests from a file."""
    if filename is not None:
        if prompt is not None:
            raise InvalidRequest("give a prompt or --filename, not both")
        text = sys.stdin.read() if str(filename) == "-" else read_file(filename)
        tasks = manifests.load_tasks(text)

        async def create_all(client: AsyncClient) -> list[ClaudeTask]:
            return [await client.create(task) for task in tasks]

        for task in call(ctx, create_all):
            created(task, output)
        return
    if prompt is None or pool is None:
        raise InvalidRequest("submit needs a prompt and --pool, or --filename")
    config = overrides(model, max_budget=max_budget)
    text = read_prompt(prompt)

    async def work(client: AsyncClient) -> ClaudeTask:
        return await client.submit(
            pool, text, name=name, config=config, priority=priority, labels=labels_of(label),
            review=review, max_rejections=max_rejections,
        )  # fmt: skip

    created(call(ctx, work), output)


def wait(ctx: typer.Context, name: TaskArg, timeout: WaitOpt = DEFAULT_TIMEOUT,
         output: OutputOpt = Format.TABLE, quiet: QuietOpt = False) -> None:  # fmt: skip
    """Wait for a task's result (watching it), print its output; exit code as for run."""

    async def work(client: AsyncClient) -> int:
        return await finish(client, await client.task(name), timeout, output, quiet)

    raise typer.Exit(call(ctx, work))


def result(ctx: typer.Context, name: TaskArg, output: OutputOpt = Format.TABLE) -> None:
    """Print a task's output (whole, also when kept in its output ConfigMap).

    Exits 10 while the task has no result; otherwise as for run.
    """

    async def work(client: AsyncClient) -> int:
        task = await client.task(name)
        found = await client.result(name)
        phase = task_phase(task)
        if found is None:
            stderr.print(f"task {name} has no result yet ({phase})", markup=False)
            return ExitCode.NOT_FINISHED
        whole = await client.output(name)
        if whole is not None:
            found.output = whole
        if output in (Format.JSON, Format.YAML):
            emit(found, output)
        else:
            print(found.output, end="" if found.output.endswith("\n") else "\n")
        if found.failure is not None:
            stderr.print(f"{name}: {found.failure.reason}: {found.failure.message}", markup=False)
        return code_for_phase(phase)

    raise typer.Exit(call(ctx, work))


def logs(
    ctx: typer.Context,
    name: TaskArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream until it ends.")] = False,
    timeout: WaitOpt = DEFAULT_TIMEOUT,
) -> None:
    """Print the task's lines of its slot's log (the agent's progress: turns, tools, result)."""

    async def work(client: AsyncClient) -> None:
        async for line in client.logs(name, follow=follow, timeout=timeout):
            print(line, flush=True)

    call(ctx, work)


def cancel(ctx: typer.Context, name: TaskArg, output: OutputOpt = Format.TABLE) -> None:
    """Cancel a task gracefully (spec.cancel); it is kept and ends Cancelled."""

    async def work(client: AsyncClient) -> ClaudeTask:
        return await client.cancel(name)

    task = call(ctx, work)
    if output in (Format.JSON, Format.YAML):
        emit(task, output)
    else:
        print(f"claudetask/{name} cancel requested")


def delete(ctx: typer.Context, name: TaskArg) -> None:
    """Delete a task (a running one is stopped; its cost is still counted)."""

    async def work(client: AsyncClient) -> None:
        await client.delete(name)

    call(ctx, work)
    print(f"claudetask/{name} deleted")


def list_tasks(
    ctx: typer.Context,
    pool: Annotated[str | None, typer.Option("--pool", "-p", help="Only this pool's.")] = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List tasks (like `kubectl get ctask`)."""

    async def work(client: AsyncClient) -> list[ClaudeTask]:
        return await client.tasks(pool)

    tasks = call(ctx, work)
    if output in (Format.JSON, Format.YAML):
        emit({"apiVersion": "v1", "kind": "List", "items": tasks}, output)
    elif output == Format.NAME:
        for task in tasks:
            print(f"claudetask/{task.metadata.name}")
    elif not tasks:
        stderr.print("No tasks found.")
    else:
        print_table(task_table(tasks, dt.datetime.now(dt.UTC)))
