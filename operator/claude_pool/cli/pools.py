"""CLI commands about pools: get, status, scale, suspend, resume, drain, and the `context`
group (the pool's shared context, spec.context). Registered by `claude_pool.cli.app`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from claude_pool.api.pools import ClaudePool
from claude_pool.api.tasks import ClaudeTask
from claude_pool.cli.common import OutputOpt, PoolArg, WaitOpt, call
from claude_pool.cli.exitcodes import ExitCode
from claude_pool.cli.output import (
    Format,
    context_table,
    emit,
    pool_table,
    print_table,
    status_table,
    stderr,
    task_table,
)
from claude_pool.sdk.client import DEFAULT_TIMEOUT, AsyncClient
from claude_pool.sdk.errors import InvalidRequest
from claude_pool.sdk.summaries import PoolSummary

TASK_WORDS = {"task", "tasks", "ctask", "ctasks", "claudetask", "claudetasks"}
POOL_WORDS = {"pool", "pools", "cpool", "cpools", "claudepool", "claudepools"}


def _print_objects(
    kind: str, objects: list[ClaudePool] | list[ClaudeTask], output: Format, *, one: bool
) -> None:
    now = dt.datetime.now(dt.UTC)
    if output in (Format.JSON, Format.YAML):
        emit(objects[0] if one else {"apiVersion": "v1", "kind": "List", "items": objects}, output)
    elif output == Format.NAME:
        for item in objects:
            print(f"{kind}/{item.metadata.name}")
    elif not objects:
        stderr.print("No resources found.")
    elif kind == "claudepool":
        print_table(pool_table([o for o in objects if isinstance(o, ClaudePool)], now))
    else:
        print_table(task_table([o for o in objects if isinstance(o, ClaudeTask)], now))


def get(
    ctx: typer.Context,
    resource: Annotated[str, typer.Argument(help="tasks (ctask) or pools (cpool).")],
    name: Annotated[str | None, typer.Argument(help="One object by name.")] = None,
    pool: Annotated[str | None, typer.Option("--pool", "-p", help="Tasks of this pool.")] = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Show tasks or pools like `kubectl get` (printer columns, -o json|yaml|name)."""
    word = resource.lower()
    if word in TASK_WORDS:

        async def tasks(client: AsyncClient) -> list[ClaudeTask]:
            return [await client.task(name)] if name else await client.tasks(pool)

        _print_objects("claudetask", call(ctx, tasks), output, one=name is not None)
    elif word in POOL_WORDS:

        async def pools(client: AsyncClient) -> list[ClaudePool]:
            return [await client.pool(name)] if name else await client.pools()

        _print_objects("claudepool", call(ctx, pools), output, one=name is not None)
    else:
        raise InvalidRequest(f"unknown resource {resource!r}: use tasks or pools")


def status(
    ctx: typer.Context,
    pool: Annotated[str | None, typer.Argument(help="One pool (default: all).")] = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Pools with slots, queue, spend and their tasks by phase."""

    async def work(client: AsyncClient) -> list[PoolSummary]:
        return await client.status(pool)

    summaries = call(ctx, work)
    if output in (Format.JSON, Format.YAML):
        emit(summaries, output)
    elif not summaries:
        stderr.print("No pools found.")
    else:
        print_table(status_table(summaries))


def _pool_done(pool: ClaudePool, verb: str, output: Format) -> None:
    if output in (Format.JSON, Format.YAML):
        emit(pool, output)
    else:
        print(f"claudepool/{pool.metadata.name} {verb}")


def scale(
    ctx: typer.Context,
    pool: PoolArg,
    slots: Annotated[int, typer.Argument(help="The desired slot count.", min=0)],
    output: OutputOpt = Format.TABLE,
) -> None:
    """Set the pool's slot count (the scale subresource, like `kubectl scale`)."""

    async def work(client: AsyncClient) -> ClaudePool:
        return await client.scale(pool, slots)

    _pool_done(call(ctx, work), "scaled", output)


def suspend(ctx: typer.Context, pool: PoolArg, output: OutputOpt = Format.TABLE) -> None:
    """Start nothing new on the pool; running tasks finish (spec.suspend)."""

    async def work(client: AsyncClient) -> ClaudePool:
        return await client.suspend(pool)

    _pool_done(call(ctx, work), "suspended", output)


def resume(ctx: typer.Context, pool: PoolArg, output: OutputOpt = Format.TABLE) -> None:
    """Dispatch again after suspend or drain."""

    async def work(client: AsyncClient) -> ClaudePool:
        return await client.resume(pool)

    _pool_done(call(ctx, work), "resumed", output)


def drain(
    ctx: typer.Context,
    pool: PoolArg,
    timeout: WaitOpt = DEFAULT_TIMEOUT,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Suspend the pool and wait until no slot is busy (the seed's drain); exit 6 on timeout."""

    async def work(client: AsyncClient) -> ClaudePool:
        return await client.drain(pool, timeout=timeout)

    found = call(ctx, work)
    if output in (Format.JSON, Format.YAML):
        emit(found, output)
    else:
        spent = found.status.budget.spent or "0.00"
        print(f"claudepool/{pool} drained (spent ${spent})")


context_app = typer.Typer(help="The pool's shared context (spec.context), added to every prompt.",
                          no_args_is_help=True)  # fmt: skip


@context_app.command("list")
def context_list(ctx: typer.Context, pool: PoolArg, output: OutputOpt = Format.TABLE) -> None:
    """All entries."""

    async def work(client: AsyncClient) -> dict[str, str]:
        return await client.context(pool)

    entries = call(ctx, work)
    if output in (Format.JSON, Format.YAML):
        emit(entries, output)
    elif not entries:
        stderr.print(f"pool {pool} has no context")
    else:
        print_table(context_table(entries))


@context_app.command("get")
def context_get(
    ctx: typer.Context,
    pool: PoolArg,
    key: Annotated[str, typer.Argument()],
    output: OutputOpt = Format.TABLE,
) -> None:
    """One entry's value; exits 3 when the key is not set."""

    async def work(client: AsyncClient) -> str | None:
        return await client.get_context(pool, key)

    value = call(ctx, work)
    if value is None:
        stderr.print(f"pool {pool} has no context key {key!r}")
        raise typer.Exit(ExitCode.NOT_FOUND)
    if output in (Format.JSON, Format.YAML):
        emit({key: value}, output)
    else:
        print(value)


@context_app.command("set")
def context_set(
    ctx: typer.Context,
    pool: PoolArg,
    key: Annotated[str, typer.Argument()],
    value: Annotated[str, typer.Argument()],
) -> None:
    """Set one entry (others are untouched)."""
    if not key:
        raise InvalidRequest("the context key must not be empty")

    async def work(client: AsyncClient) -> dict[str, str]:
        return await client.set_context(pool, key, value)

    call(ctx, work)
    print(f"claudepool/{pool} context {key} set")


@context_app.command("delete")
def context_delete(
    ctx: typer.Context, pool: PoolArg, key: Annotated[str, typer.Argument()]
) -> None:
    """Remove one entry; exits 3 when the key was not set."""

    async def work(client: AsyncClient) -> str | None:
        return await client.delete_context(pool, key)

    if call(ctx, work) is None:
        stderr.print(f"pool {pool} has no context key {key!r}")
        raise typer.Exit(ExitCode.NOT_FOUND)
    print(f"claudepool/{pool} context {key} deleted")
