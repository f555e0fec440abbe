"""CLI commands for review decisions and messages between slots: approve, reject, and the
`message` group (send, broadcast, list). Registered by `claude_pool.cli.app`; thin layers
over `claude_pool.sdk.collaboration`.

approve/reject wait (bounded by --timeout) until the operator applied the ClaudeReview, so a
refused one (task not awaiting review, stale, four-eyes) ends with its reason and exit 11.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated

import typer
from rich.table import Table

from claude_pool.api.conditions import get_condition
from claude_pool.api.messages import ClaudeMessage, MessageConditionType
from claude_pool.api.reviews import ClaudeReview
from claude_pool.cli.common import OutputOpt, PoolArg, TaskArg, call
from claude_pool.cli.output import Format, age, emit, print_table, stderr, table_of
from claude_pool.sdk.client import AsyncClient
from claude_pool.sdk.collaboration import REVIEW_TIMEOUT

message_app = typer.Typer(help="Messages between the slots of a pool (ClaudeMessage).",
                          no_args_is_help=True)  # fmt: skip

ReviewWaitOpt = Annotated[
    float,
    typer.Option("--timeout", help="Longest wait for the operator to apply it, in seconds."),
]
NoWaitOpt = Annotated[
    bool, typer.Option("--no-wait", help="Return once created, without the outcome.")
]
FromSlotOpt = Annotated[
    int | None, typer.Option("--from-slot", help="The sending slot (a broadcast skips it).")
]
SenderOpt = Annotated[
    str | None,
    typer.Option("--from", help="Sender shown to recipients (default slot-N or coordinator)."),
]
ContentArg = Annotated[str, typer.Argument(help="The message text.", show_default=False)]


def _decided(review: ClaudeReview, waited: bool, fmt: Format) -> None:
    if fmt in (Format.JSON, Format.YAML):
        emit(review, fmt)
        return
    name = f"claudereview/{review.metadata.name}"
    if fmt == Format.NAME:
        print(name)
        return
    task = review.spec.task_ref.name
    if not waited:
        print(f"{name} created ({review.spec.decision} of task {task})")
    elif review.spec.decision == "approve":
        print(f"{name} applied: task {task} approved")
    else:
        print(f"{name} applied: task {task} rejected ({review.status.rejection or '?'}), "
              "it runs again or fails at its last rejection")  # fmt: skip


def approve(
    ctx: typer.Context,
    task: TaskArg,
    feedback: Annotated[str, typer.Option("--feedback", help="Why (kept in history).")] = "",
    timeout: ReviewWaitOpt = REVIEW_TIMEOUT,
    no_wait: NoWaitOpt = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Approve a task awaiting review: it ends Succeeded. Exit 11 when refused."""

    async def work(client: AsyncClient) -> ClaudeReview:
        return await client.approve(task, feedback, wait=not no_wait, timeout=timeout)

    _decided(call(ctx, work), not no_wait, output)


def reject(
    ctx: typer.Context,
    task: TaskArg,
    feedback: Annotated[
        str,
        typer.Option(
            "--feedback", help="What to fix (appended to the re-run's prompt).", show_default=False
        ),
    ],
    timeout: ReviewWaitOpt = REVIEW_TIMEOUT,
    no_wait: NoWaitOpt = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Reject a task awaiting review: it runs again with the feedback. Exit 11 when refused.

    At its maxRejections-th rejection the task fails instead.
    """

    async def work(client: AsyncClient) -> ClaudeReview:
        return await client.reject(task, feedback, wait=not no_wait, timeout=timeout)

    _decided(call(ctx, work), not no_wait, output)


def _sent(message: ClaudeMessage, fmt: Format) -> None:
    if fmt in (Format.JSON, Format.YAML):
        emit(message, fmt)
    elif fmt == Format.NAME:
        print(f"claudemessage/{message.metadata.name}")
    else:
        print(f"claudemessage/{message.metadata.name} created")


@message_app.command("send")
def send(
    ctx: typer.Context,
    pool: PoolArg,
    content: ContentArg,
    to: Annotated[
        int, typer.Option("--to", help="The receiving slot's index.", show_default=False)
    ],
    from_slot: FromSlotOpt = None,
    sender: SenderOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Send a note to slot N of a pool, prepended to its next task's prompt."""

    async def work(client: AsyncClient) -> ClaudeMessage:
        return await client.send_message(pool, to, content, from_slot=from_slot, sender=sender)

    _sent(call(ctx, work), output)


@message_app.command("broadcast")
def broadcast(
    ctx: typer.Context,
    pool: PoolArg,
    content: ContentArg,
    from_slot: FromSlotOpt = None,
    sender: SenderOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Send a note to every slot of a pool but --from-slot, at each one's next task."""

    async def work(client: AsyncClient) -> ClaudeMessage:
        return await client.broadcast(pool, content, from_slot=from_slot, sender=sender)

    _sent(call(ctx, work), output)


@message_app.command("list")
def list_messages(ctx: typer.Context, pool: PoolArg, output: OutputOpt = Format.TABLE) -> None:
    """List a pool's messages with their recipients and delivery state."""

    async def work(client: AsyncClient) -> list[ClaudeMessage]:
        return await client.messages(pool)

    messages = call(ctx, work)
    if output in (Format.JSON, Format.YAML):
        emit({"apiVersion": "v1", "kind": "List", "items": messages}, output)
    elif output == Format.NAME:
        for message in messages:
            print(f"claudemessage/{message.metadata.name}")
    elif not messages:
        stderr.print("No messages found.")
    else:
        print_table(message_rows(messages, dt.datetime.now(dt.UTC)))


def delivery(message: ClaudeMessage) -> str:
    """The Delivered condition's reason (Pending, Delivered, NoRecipients, InboxFull)."""
    condition = get_condition(message.status.conditions, MessageConditionType.DELIVERED)
    return condition.reason if condition is not None else "Pending"


def message_rows(messages: Sequence[ClaudeMessage], now: dt.datetime) -> Table:
    table = table_of("NAME", "FROM", "TO", "DELIVERED", "DELIVERIES", "AGE")
    for message in messages:
        spec = message.spec
        to = "all" if spec.broadcast else f"slot-{spec.to_slot}"
        done = len(message.status.deliveries)
        wanted = len(message.status.recipients)
        when = age(message.metadata.creation_timestamp, now)
        table.add_row(
            message.metadata.name, spec.from_, to, delivery(message), f"{done}/{wanted}", when
        )
    return table
