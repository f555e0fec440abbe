"""What every CLI command shares: the global flags, a connected client, option types.

The flags are kubectl's (`--kubeconfig`, `--context`, `-n/--namespace`) and, as with
kubectl, may stand anywhere on the command line (`app.hoist_globals` moves them first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

import typer

from claude_pool.cli.output import Format
from claude_pool.sdk.client import AsyncClient

T = TypeVar("T")
POOL_ENV = "CLAUDE_POOL_POOL"


@dataclass(frozen=True)
class Globals:
    """The global flags of one invocation."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def call(ctx: typer.Context, work: Callable[[AsyncClient], Awaitable[T]]) -> T:
    """Connect with the global flags, run `work` on its own event loop, disconnect."""
    flags: Globals = ctx.obj or Globals()

    async def go() -> T:
        client = AsyncClient.connect(
            kubeconfig=flags.kubeconfig, context=flags.context, namespace=flags.namespace
        )
        try:
            return await work(client)
        finally:
            client.close()

    return asyncio.run(go())


OutputOpt = Annotated[
    Format,
    typer.Option("--output", "-o", help="table (default), json, yaml or name.", show_default=False),
]
PoolOpt = Annotated[
    str,
    typer.Option(
        "--pool",
        "-p",
        envvar=POOL_ENV,
        help=f"The ClaudePool (or ${POOL_ENV}).",
        show_default=False,
    ),
]
PoolArg = Annotated[str, typer.Argument(help="The ClaudePool.", show_default=False)]
TaskArg = Annotated[str, typer.Argument(help="The ClaudeTask.", show_default=False)]
WaitOpt = Annotated[
    float, typer.Option("--timeout", help="Longest wait, in seconds (the task goes on after).")
]
