"""CLI commands about tasks: run, submit, wait, result, logs, cancel, delete, fan-out, chain,
auto. Registered on the app by `claude_pool.cli.app`; each is a thin layer over the SDK.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from claude_pool.api.claude import Effort, PermissionMode, TaskOverrides
from claude_pool.api.modes import AutoHints, RoutePreference
from claude_pool.api.money import MoneyError, parse_dollars
from claude_pool.api.tasks import ClaudeTask
from claude_pool.cli.common import OutputOpt, PoolOpt, TaskArg, WaitOpt, call
from claude_pool.cli.exitcodes import ExitCode, code_for_phase
from claude_pool.cli.output import Format, emit, stderr, stdout, task_table
from claude_pool.cli.progress import TaskProgress
from claude_pool.sdk import manifests
from claude_pool.sdk.client import DEFAULT_TIMEOUT, AsyncClient
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
    elif phase != "Succeeded":
        stderr.print(f"{name}: {phase}", markup=False)
    return code_for_phase(phase)


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
    timeout: WaitOpt = DEFAULT_TIMEOUT,
    output: OutputOpt = Format.TABLE,
    quiet: QuietOpt = False,
) -> None:
    """Run a prompt on a pool: create the task, follow it live, print its output.

    Exits 0 when it succeeded, 1 failed, 7 cancelled, 6 when --timeout passed first.
    """
    config = overrides(model, effort, max_turns, max_budget, permission_mode)
    text = read_prompt(prompt)

    async def work(client: AsyncClient) -> int:
        task = await client.submit(
            pool, text, name=name, config=config, priority=priority,
            timeout_seconds=task_timeout, labels=labels_of(label),
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
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create a task and return at once: a prompt for a pool, or manifests from a file."""
    if filename is not None:
        if prompt is not None:
            raise InvalidRequest("give a prompt or --filename, not both")
        text = sys.stdin.read() if str(filename) == "-" else _read(filename)
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
            pool, text, name=name, config=config, priority=priority, labels=labels_of(label)
        )

    created(call(ctx, work), output)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidRequest(f"cannot read {path}: {error.strerror}") from None


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


async def _maybe_wait(
    client: AsyncClient, task: ClaudeTask, wait_: bool, timeout: float, fmt: Format
) -> int:
    if not wait_:
        created(task, fmt)
        return ExitCode.OK
    return await finish(client, task, timeout, fmt, quiet=False)


def fan_out(
    ctx: typer.Context,
    prompts: Annotated[list[str], typer.Argument(help="The prompts, one child task each.")],
    pool: PoolOpt,
    max_parallel: Annotated[
        int | None, typer.Option("--max-parallel", help="Most children at once.")
    ] = None,
    name: NameOpt = None,
    model: ModelOpt = None,
    max_budget: BudgetOpt = None,
    priority: PriorityOpt = 0,
    label: LabelOpt = None,
    wait_: WaitFlag = False,
    timeout: WaitOpt = DEFAULT_TIMEOUT,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create a fan-out task: every prompt runs as its own child task, in parallel."""
    config = overrides(model, max_budget=max_budget)

    async def work(client: AsyncClient) -> int:
        task = await client.fan_out(
            pool, prompts, max_parallel=max_parallel, name=name, config=config,
            priority=priority, labels=labels_of(label),
        )  # fmt: skip
        return await _maybe_wait(client, task, wait_, timeout, output)

    raise typer.Exit(call(ctx, work))


def chain(
    ctx: typer.Context,
    pool: PoolOpt,
    filename: Annotated[
        Path, typer.Option("--filename", "-f", help="YAML: a list of steps, or {steps, isolation}.")
    ],
    name: NameOpt = None,
    model: ModelOpt = None,
    max_budget: BudgetOpt = None,
    priority: PriorityOpt = 0,
    label: LabelOpt = None,
    wait_: WaitFlag = False,
    timeout: WaitOpt = DEFAULT_TIMEOUT,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create a chain task from a steps file: steps run in order, each seeing earlier outputs."""
    steps = manifests.load_chain(sys.stdin.read() if str(filename) == "-" else _read(filename))
    config = overrides(model, max_budget=max_budget)

    async def work(client: AsyncClient) -> int:
        task = await client.submit_chain(
            pool, steps, name=name, config=config, priority=priority, labels=labels_of(label)
        )
        return await _maybe_wait(client, task, wait_, timeout, output)

    raise typer.Exit(call(ctx, work))


def auto(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The task to route and run ('-': stdin).")],
    pool: PoolOpt,
    prefer: Annotated[
        RoutePreference | None, typer.Option("--prefer", help="Preferred route.")
    ] = None,
    max_parallel: Annotated[int | None, typer.Option("--max-parallel")] = None,
    max_chain_steps: Annotated[int | None, typer.Option("--max-chain-steps")] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="E.g. backend.")] = None,
    name: NameOpt = None,
    model: ModelOpt = None,
    max_budget: BudgetOpt = None,
    label: LabelOpt = None,
    wait_: WaitFlag = False,
    timeout: WaitOpt = DEFAULT_TIMEOUT,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create an auto task: a routing call chooses single, fan-out or chain, then runs it."""
    given = {"prefer": prefer, "max_parallel": max_parallel,
             "max_chain_steps": max_chain_steps, "domain": domain}  # fmt: skip
    try:
        hints = AutoHints(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as error:
        raise invalid(error, "auto hints") from None
    config = overrides(model, max_budget=max_budget)
    text = read_prompt(prompt)

    async def work(client: AsyncClient) -> int:
        task = await client.auto(
            pool, text, hints=hints if hints.model_fields_set else None, name=name,
            config=config, labels=labels_of(label),
        )  # fmt: skip
        return await _maybe_wait(client, task, wait_, timeout, output)

    raise typer.Exit(call(ctx, work))


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
        stdout.print(task_table(tasks, dt.datetime.now(dt.UTC)))
