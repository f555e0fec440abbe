"""The `claude-pool` CLI (also `kubectl-claude`, so `kubectl claude ...` works): typer + rich.

`main` is the entry point of both scripts (`python -m claude_pool` hands it every command
that is not one of the internal ones: agent, operator, crds, ...). It moves kubectl's
global flags to the front, runs the typer app (which reports usage errors itself, exit 2),
and turns SDK errors into one line on stderr and a distinct exit code
(`exitcodes.ExitCode`).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from claude_pool.cli import collab, composites, devcmd, pools, tasks
from claude_pool.cli.common import Globals
from claude_pool.cli.exitcodes import ExitCode, code_for
from claude_pool.cli.output import stderr
from claude_pool.sdk.errors import PoolSdkError

app = typer.Typer(
    name="claude-pool",
    help="Run Claude Code tasks on claude-pool ClaudePools (also: kubectl claude ...).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: 0 ok, 1 task failed, 2 usage, 3 not found, 4 invalid, 5 no cluster, "
    "6 timeout, 7 cancelled, 8 forbidden, 9 API error, 10 no result yet, 11 review refused "
    "(docs/cli.md).",
)


@app.callback()
def _globals(
    ctx: typer.Context,
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG).")
    ] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", "-n", help="Namespace (default: the context's).")
    ] = None,
) -> None:
    ctx.obj = Globals(kubeconfig, context, namespace)


for command, name in (
    (tasks.run, "run"), (tasks.submit, "submit"), (tasks.wait, "wait"),
    (tasks.result, "result"), (tasks.logs, "logs"), (tasks.cancel, "cancel"),
    (tasks.delete, "delete"), (composites.fan_out, "fan-out"), (composites.chain, "chain"),
    (composites.auto, "auto"), (tasks.list_tasks, "list"), (pools.get, "get"),
    (pools.status, "status"), (pools.scale, "scale"), (pools.suspend, "suspend"),
    (pools.resume, "resume"), (pools.drain, "drain"), (collab.approve, "approve"),
    (collab.reject, "reject"),
):  # fmt: skip
    app.command(name)(command)
app.add_typer(pools.context_app, name="context")
app.add_typer(collab.message_app, name="message")
app.command("dev", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    devcmd.dev
)
app.command("mcp")(devcmd.mcp)

_VALUED = ("--kubeconfig", "--context", "--namespace", "-n")


def hoist_globals(args: list[str]) -> list[str]:
    """Move kubectl's global flags (and their values) before the command, as kubectl
    accepts them anywhere; `--` ends the scan."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        if arg in _VALUED and index + 1 < len(args):
            front += [arg, args[index + 1]]
            index += 2
            continue
        if any(arg.startswith(flag + "=") for flag in _VALUED if flag.startswith("--")):
            front.append(arg)
        else:
            rest.append(arg)
        index += 1
    return front + rest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args=hoist_globals(args), prog_name="claude-pool")
    except SystemExit as done:  # typer's way out: usage errors (2), typer.Exit(code), help
        return done.code if isinstance(done.code, int) else ExitCode.OK
    except PoolSdkError as error:
        stderr.print(f"error: {error}", markup=False)
        return code_for(error)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
