"""Fan-out: which items to start next, and how the items' results combine (pure).

Called by `claude_pool.workflows.rollup.reconcile` for a task with spec.fanOut. Each item is a
child task (a prompt, or a chain the child runs itself) named `<parent>-<index>`. At most
`maxParallel` items are unfinished at once, lowest index first. Every item runs to its end
and every result is kept: the task succeeds when all items did, else it fails with reason
PartialFailure naming the failed items. With `failFast` the first failure stops the start of
further items (they are Skipped) and cancels the running ones. The combined output lists
every item in order as `[i] output` (the seed's format), failed items with their reason.
The parent's cost is the sum of its children's; it adds nothing of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from claude_pool.api.common import MAX_ITEM_OUTPUT, MAX_MESSAGE_LENGTH
from claude_pool.api.composites import FINISHED_ITEM_PHASES, ItemPhase, ItemStatus
from claude_pool.api.failures import FailureReason
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskSpec
from claude_pool.workflows.children import ChildRef, ChildView, budget_share, inherited_spec
from claude_pool.workflows.plans import (
    NewChild,
    Outcome,
    Plan,
    Progress,
    Stop,
    Verdict,
    item_phase,
    preview,
)
from claude_pool.workflows.reruns import generation_of

_UNFINISHED = (ItemPhase.PENDING, ItemPhase.RUNNING)


def observe_items(
    parent: ClaudeTask, children: Mapping[str, ChildView]
) -> tuple[list[ItemStatus], dict[int, str]]:
    """Every item's status from its child (or, when the child is not seen, from what status
    recorded), and the whole output of the items whose child was seen."""
    fan_out = parent.spec.fan_out
    assert fan_out is not None
    recorded = {item.index: item for item in parent.status.items}
    items: list[ItemStatus] = []
    outputs: dict[int, str] = {}
    rerun = generation_of(parent)
    for index in range(fan_out.item_count()):
        name = ChildRef.item(index, rerun).name(parent.metadata.name)
        view = children.get(name)
        old = recorded.get(index)
        if view is None:
            items.append(old or ItemStatus(index=index))
            continue
        phase = item_phase(view)
        text, cut = preview(view.output.strip(), MAX_ITEM_OUTPUT)
        failed = phase in (ItemPhase.FAILED, ItemPhase.CANCELLED)
        items.append(
            ItemStatus(
                index=index,
                phase=phase,
                child=name,
                cost_microdollars=view.cost_microdollars,
                output=text,
                output_truncated=cut,
                reason=view.reason if failed else None,
                message=view.message[:MAX_ITEM_OUTPUT] if failed else "",
            )
        )
        outputs[index] = view.output
    return items, outputs


def plan_fan_out(
    parent: ClaudeTask, children: Mapping[str, ChildView], stop: Stop | None
) -> tuple[Plan, list[ItemStatus]]:
    """The next step of a fan-out, and its items' statuses to record."""
    fan_out = parent.spec.fan_out
    assert fan_out is not None
    items, outputs = observe_items(parent, children)
    failed = any(i.phase in (ItemPhase.FAILED, ItemPhase.CANCELLED) for i in items)
    halt = stop is not None or (fan_out.fail_fast and failed)
    running = [i for i in items if i.phase is ItemPhase.RUNNING]
    pending = [i for i in items if i.phase is ItemPhase.PENDING]
    # an item recorded as created whose child is not seen (not yet, or deleted): ask again,
    # create-if-absent makes that harmless
    unseen = [i for i in running if i.child is not None and i.child not in children]
    cap = parent.spec.config.max_budget_microdollars if parent.spec.config else None
    committed = sum(i.cost_microdollars for i in items if i.phase in FINISHED_ITEM_PHASES)
    reserved = sum(max(v.budget_cap or 0, v.cost_microdollars) for v in _views(running, children))
    share = budget_share(
        cap, committed=committed, reserved=reserved, unstarted=len(pending) + len(unseen)
    )
    budget_out = share == 0 and bool(pending)
    create: list[NewChild] = []
    rerun = generation_of(parent)
    if not halt and share != 0:
        room = len(pending) if fan_out.max_parallel is None else fan_out.max_parallel - len(running)
        for item in [*unseen, *pending[: max(0, room)]]:
            try:
                spec = _item_spec(parent, item.index, share)
            except ValidationError as exc:
                return _invalid(items, item.index, exc), items
            create.append(NewChild(ChildRef.item(item.index, rerun), spec))
    started = {c.ref.index for c in create}
    name = parent.metadata.name
    items = [
        i.model_copy(
            update={"phase": ItemPhase.RUNNING, "child": ChildRef.item(i.index, rerun).name(name)}
        )
        if i.index in started and i.phase is ItemPhase.PENDING
        else i
        for i in items
    ]
    done = sum(1 for i in items if i.phase in FINISHED_ITEM_PHASES)
    if any(i.phase is ItemPhase.RUNNING for i in items) or (
        pending and not halt and not budget_out
    ):
        cancel = tuple(i.child for i in items if halt and i.phase is ItemPhase.RUNNING and i.child)
        message = f"{done} of {len(items)} items finished"
        if halt:
            message = f"stopping: {message}"
        return Plan(tuple(create), cancel, None, Progress(done, len(items)), message), items
    items = [
        i.model_copy(update={"phase": ItemPhase.SKIPPED}) if i.phase is ItemPhase.PENDING else i
        for i in items
    ]
    outcome = _outcome(items, outputs, stop, budget_out, fan_out.fail_fast and failed)
    return Plan((), (), outcome, Progress(len(items), len(items)), outcome.message), items


def _views(items: Sequence[ItemStatus], children: Mapping[str, ChildView]) -> list[ChildView]:
    return [children[i.child] for i in items if i.child is not None and i.child in children]


def _item_spec(parent: ClaudeTask, index: int, share: int | None) -> ClaudeTaskSpec:
    fan_out = parent.spec.fan_out
    assert fan_out is not None
    if fan_out.prompts is not None:
        return inherited_spec(parent.spec, share, prompt=fan_out.prompts[index])
    assert fan_out.chains is not None
    return inherited_spec(parent.spec, share, chain=fan_out.chains[index])


def _invalid(items: list[ItemStatus], index: int, exc: ValidationError) -> Plan:
    message = f"item {index} cannot be created: {exc.errors()[0]['msg']}"
    outcome = Outcome(Verdict.FAILED, TaskReason.INVALID_SPEC, message, "")
    return Plan((), (), outcome, Progress(0, len(items)), message)


def combined_output(items: Sequence[ItemStatus], outputs: Mapping[int, str]) -> str:
    """`[i] output` per item, in order; items that did not succeed say what happened."""
    lines = []
    for item in items:
        if item.phase is ItemPhase.SUCCEEDED:
            text = outputs.get(item.index, item.output)
            lines.append(f"[{item.index}] {text.strip()}")
        elif item.phase is ItemPhase.FAILED:
            lines.append(
                f"[{item.index}] failed ({item.reason or 'Failed'}): {item.message}".rstrip()
            )
        else:
            lines.append(f"[{item.index}] {item.phase.value.lower()}")
    return "\n".join(lines)


def _outcome(
    items: list[ItemStatus],
    outputs: Mapping[int, str],
    stop: Stop | None,
    budget_out: bool,
    failed_fast: bool,
) -> Outcome:
    output = combined_output(items, outputs)
    bad = [i for i in items if i.phase in (ItemPhase.FAILED, ItemPhase.CANCELLED)]
    total = len(items)
    if stop is Stop.CANCEL:
        done = sum(1 for i in items if i.phase is ItemPhase.SUCCEEDED)
        return Outcome(
            Verdict.CANCELLED,
            TaskReason.CANCEL_REQUESTED,
            f"cancelled; {done} of {total} items succeeded",
            output,
        )
    if stop is Stop.TIMEOUT:
        return Outcome(Verdict.FAILED, FailureReason.TIMEOUT, "spec.timeoutSeconds passed", output)
    if budget_out and not bad:
        message = "spec.config.maxBudgetMicrodollars is spent; the remaining items were skipped"
        return Outcome(Verdict.FAILED, FailureReason.BUDGET_EXCEEDED, message, output)
    if not bad:
        return Outcome(
            Verdict.SUCCEEDED, TaskReason.COMPLETED, f"all {total} items succeeded", output
        )
    named = "; ".join(f"[{i.index}] {i.reason or i.phase.value}" for i in bad)
    message = f"{len(bad)} of {total} items failed: {named}"
    if failed_fast:
        message += " (failFast: the others were cancelled or skipped)"
    return Outcome(Verdict.FAILED, TaskReason.PARTIAL_FAILURE, message[:MAX_MESSAGE_LENGTH], output)
