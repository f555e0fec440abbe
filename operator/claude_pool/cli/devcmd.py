"""Two commands that start something long-running: `dev` (the local dev environment, what
`make dev` and `python -m claude_pool dev` run) and `mcp` (the MCP server).

`dev` is the one place the CLI imports the dev environment, lazily, so that no other
command loads it (an import-linter contract allows exactly this import).
"""

from __future__ import annotations

from typing import Annotated

import typer

from claude_pool.cli.common import Globals


def dev(ctx: typer.Context) -> None:
    """Control plane, CRDs, operator, local node and fake API on loopback (Ctrl-C stops).

    Same as `make dev`; extra arguments go to `python -m claude_pool dev`.
    """
    from claude_pool.devenv.dev import main as dev_main

    raise typer.Exit(dev_main(list(ctx.args)))


def mcp(
    ctx: typer.Context,
    transport: Annotated[
        str, typer.Option("--transport", help="stdio (default) or http (streamable HTTP).")
    ] = "stdio",
    host: Annotated[str, typer.Option("--host", help="HTTP: address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="HTTP: port.")] = 8765,
    pool: Annotated[
        str | None,
        typer.Option("--pool", "-p", envvar="CLAUDE_POOL_POOL", help="Default pool of the tools."),
    ] = None,
) -> None:
    """The MCP server for a coordinating Claude session (tools: pool_run, pool_submit, ...)."""
    from claude_pool.mcpserver.server import serve

    flags: Globals = ctx.obj or Globals()
    serve(
        kubeconfig=flags.kubeconfig, context=flags.context, namespace=flags.namespace,
        transport=transport, host=host, port=port, default_pool=pool,
    )  # fmt: skip
