"""CLI commands that create composite tasks: fan-out (of prompts, or of chains from a file),
chain (from a steps file), auto. `--wait` follows them like `run`; `--review` holds the combined
result for approve/reject (a rejection re-runs the whole composite with the feedback).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from claude_pool.api.modes import AutoHints, RoutePreference
from claude_pool.api.tasks import ClaudeTask
from claude_pool.cli.common import OutputOpt, PoolOpt, WaitOpt, call
from claude_pool.cli.exitcodes import ExitCode
from claude_pool.cli.output import Format
from claude_pool.cli.taskflags import (
    BudgetOpt,
    LabelOpt,
    ModelOpt,
    NameOpt,
    PriorityOpt,
    RejectionsOpt,
    ReviewOpt,
    WaitFlag,
    created,
    finish,
    labels_of,
    overrides,
    read_file,
    read_prompt,
)
from claude_pool.sdk import manifests
from claude_pool.sdk.client import DEFAULT_TIMEOUT, AsyncClient
from claude_pool.sdk.translating import invalid


async def _maybe_wait(
    client: AsyncClient, task: ClaudeTask, wait_: bool, timeout: float, fmt: Format
) -> int:
    if not wait_:
        created(task, fmt)
        return ExitCode.OK
    return await finish(client, task, timeout, fmt, quiet=False)


def fan_out(
    ctx: typer.Context,
    prompts: Annotated[
        list[str] | None, typer.Argument(help="The prompts, one child task each.")
    ] = None,
    *,
    pool: PoolOpt,
    chains_file: Annotated[
        Path | None,
        typer.Option(
            "--chains",
            help="YAML list of chains (each a list of steps or {steps, isolation}), one child"
            " chain each, instead of prompts ('-': stdin).",
        ),
    ] = None,
    max_parallel: Annotated[
        int | None, typer.Option("--max-parallel", help="Most children at once.")
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", help="Cancel the rest at the first failed child.")
    ] = False,
    name: NameOpt = None,
    model: ModelOpt = None,
    max_budget: BudgetOpt = None,
    priority: PriorityOpt = 0,
    label: LabelOpt = None,
    review: ReviewOpt = False,
    max_rejections: RejectionsOpt = None,
    wait_: WaitFlag = False,
    timeout: WaitOpt = DEFAULT_TIMEOUT,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create a fan-out task: every prompt (or every chain of --chains) runs as its own child
    task, in parallel."""
    if bool(prompts) == (chains_file is not None):
        raise typer.BadParameter("give the prompts or --chains FILE, not both and not neither")
    chains = None
    if chains_file is not None:
        text = sys.stdin.read() if str(chains_file) == "-" else read_file(chains_file)
        chains = manifests.load_chains(text)
    config = overrides(model, max_budget=max_budget)

    async def work(client: AsyncClient) -> int:
        task = await client.fan_out(
            pool, prompts or None, max_parallel=max_parallel, fail_fast=fail_fast, name=name,
            config=config, priority=priority, labels=labels_of(label), chains=chains,
            review=review, max_rejections=max_rejections,
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
    review: ReviewOpt = False,
    max_rejections: RejectionsOpt = None,
    wait_: WaitFlag = False,
    timeout: WaitOpt = DEFAULT_TIMEOUT,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create a chain task from a steps file: steps run in order, each seeing earlier outputs."""
    steps = manifests.load_chain(sys.stdin.read() if str(filename) == "-" else read_file(filename))
    config = overrides(model, max_budget=max_budget)

    async def work(client: AsyncClient) -> int:
        task = await client.submit_chain(
            pool, steps, name=name, config=config, priority=priority, labels=labels_of(label),
            review=review, max_rejections=max_rejections,
        )  # fmt: skip
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
    review: ReviewOpt = False,
    max_rejections: RejectionsOpt = None,
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
            config=config, labels=labels_of(label), review=review, max_rejections=max_rejections,
        )  # fmt: skip
        return await _maybe_wait(client, task, wait_, timeout, output)

    raise typer.Exit(call(ctx, work))
