"""Child tasks of a composite ClaudeTask: their names, labels, manifests and budget (pure).

Called by the fan-out, chain and routing logic of `claude_pool.workflows`, and by the pool
worker that creates the manifests (create-if-absent: a 409 means the child exists already)
and feeds the children it observes back as `ChildView`s.

Names are deterministic, so a child re-created after an operator crash is the same object:
`<parent>-<key>` where the key is an item index (`3`), a step name (`plan`), a later attempt
(`plan.1`), a recovery (`plan.recovery`), `router` or `route`; the children a reviewed
composite re-runs after its n-th rejection (generation n) add `.g<n>` (`3.g1`,
`plan.1.g2`). Keys never collide within a parent: step names cannot contain dots, a step
name that is not already a DNS label (`Plan`, `a_b`) is lowered and suffixed with a hash of
the original, and no first-generation key ends in `.g<digits>`. Names longer than
CHILD_NAME_LIMIT keep the key and replace the parent's tail with a hash. A child inherits its
parent's pool, priority, timeout and config, and gets an owner reference to it (controller,
blockOwnerDeletion), so deleting the parent deletes the children.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from claude_pool.api.claude import TaskOverrides
from claude_pool.api.common import API_VERSION, dump
from claude_pool.api.composites import (
    ATTEMPT_LABEL,
    GENERATION_LABEL,
    ITEM_LABEL,
    PARENT_LABEL,
    PARENT_UID_LABEL,
    ROLE_LABEL,
    STEP_LABEL,
    ChildRole,
)
from claude_pool.api.conditions import TaskConditionType, get_condition
from claude_pool.api.phases import TaskPhase, derive_phase
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskSpec
from claude_pool.api.taskworkspaces import TaskWorkspace

CHILD_NAME_LIMIT = 240
"""Longest child name: leaves room for the `-output` ConfigMap of a long output (253)."""
LABEL_VALUE_LIMIT = 63
MANAGED_BY = {"app.kubernetes.io/managed-by": "claude-pool"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_GENERATION_SUFFIX = re.compile(r"\.g([0-9]+)$")


def short_hash(text: str, size: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def step_key(step: str) -> str:
    """A step name as a name part: itself when it is a DNS label, else lowered plus a hash."""
    if _DNS_LABEL.fullmatch(step):
        return step
    cleaned = re.sub(r"[^a-z0-9-]", "-", step.lower()).strip("-") or "step"
    return f"{cleaned}-{short_hash(step, 6)}"


@dataclass(frozen=True)
class ChildRef:
    """Which child of a parent: its role and position. `key` names it within the parent."""

    role: ChildRole
    index: int | None = None
    step: str | None = None
    attempt: int = 0
    generation: int = 0
    """The review generation (0 first; n after the parent's n-th rejection)."""

    @classmethod
    def item(cls, index: int, generation: int = 0) -> ChildRef:
        return cls(ChildRole.ITEM, index=index, generation=generation)

    @classmethod
    def step_attempt(cls, index: int, step: str, attempt: int, generation: int = 0) -> ChildRef:
        return cls(ChildRole.STEP, index=index, step=step, attempt=attempt, generation=generation)

    @classmethod
    def recovery(cls, index: int, step: str, generation: int = 0) -> ChildRef:
        return cls(ChildRole.RECOVERY, index=index, step=step, generation=generation)

    @property
    def key(self) -> str:
        suffix = f".g{self.generation}" if self.generation else ""
        if self.role is ChildRole.ITEM:
            return f"{self.index}{suffix}"
        if self.role is ChildRole.STEP:
            base = step_key(self.step or "")
            return (base if self.attempt == 0 else f"{base}.{self.attempt}") + suffix
        if self.role is ChildRole.RECOVERY:
            return f"{step_key(self.step or '')}.recovery{suffix}"
        return self.role.value + suffix

    def name(self, parent: str) -> str:
        return child_name(parent, self.key)

    def labels(self, parent: ClaudeTask) -> dict[str, str]:
        labels = {
            **MANAGED_BY,
            PARENT_LABEL: label_value(parent.metadata.name),
            PARENT_UID_LABEL: parent.metadata.uid or "",
            ROLE_LABEL: self.role.value,
        }
        if self.index is not None and self.role is ChildRole.ITEM:
            labels[ITEM_LABEL] = str(self.index)
        if self.step is not None:
            labels[STEP_LABEL] = self.step
        if self.role is ChildRole.STEP:
            labels[ATTEMPT_LABEL] = str(self.attempt)
        if self.generation or (parent.spec.review is not None and parent.spec.review.required):
            labels[GENERATION_LABEL] = str(self.generation)
        return labels


def child_name(parent: str, key: str) -> str:
    """`<parent>-<key>`, or with the parent's tail replaced by a hash when too long."""
    name = f"{parent}-{key}"
    if len(name) <= CHILD_NAME_LIMIT:
        return name
    keep = CHILD_NAME_LIMIT - len(key) - 10
    prefix = parent[:keep].rstrip("-.")
    return f"{prefix}-{short_hash(parent + '/' + key)}-{key}"


def child_generation(name: str) -> int:
    """The review generation a child's name belongs to (its `.g<n>` suffix; 0 without)."""
    found = _GENERATION_SUFFIX.search(name)
    return int(found.group(1)) if found else 0


def label_value(name: str) -> str:
    """A name as a label value: itself up to 63 characters, else its beginning plus a hash."""
    if len(name) <= LABEL_VALUE_LIMIT:
        return name
    return f"{name[: LABEL_VALUE_LIMIT - 9].rstrip('-.')}-{short_hash(name)}"


def merge_overrides(base: TaskOverrides | None, top: TaskOverrides | None) -> TaskOverrides | None:
    """`top` over `base` field by field (a field `top` sets replaces the base's)."""
    if base is None or top is None:
        return top or base
    return base.model_copy(update=top.model_dump(exclude_unset=True, by_alias=False))


def with_budget(config: TaskOverrides | None, share: int | None) -> TaskOverrides | None:
    """The child's config with its budget cap lowered to its share of the parent's cap."""
    if share is None:
        return config
    own = config.max_budget_microdollars if config is not None else None
    capped = share if own is None else min(own, share)
    return (config or TaskOverrides()).model_copy(update={"max_budget_microdollars": capped})


def budget_share(cap: int | None, *, committed: int, reserved: int, unstarted: int) -> int | None:
    """What each not yet created child may spend so the children's sum stays within `cap`.

    `committed` is the cost of finished children, `reserved` the caps of unfinished ones;
    the rest is split evenly over the `unstarted` children. None when there is no cap."""
    if cap is None:
        return None
    return max(0, cap - committed - reserved) // max(1, unstarted)


def inherited_spec(
    parent: ClaudeTaskSpec,
    share: int | None,
    *,
    config: TaskOverrides | None = None,
    replace_config: bool = False,
    **mode: Any,
) -> ClaudeTaskSpec:
    """A child spec on the parent's pool with its priority and timeout; `mode` sets prompt,
    fan_out or chain. Its config is `config` over the parent's (or `config` alone with
    `replace_config`), capped at `share` of the parent's budget. Raises ValidationError when
    the result is not a valid spec (e.g. a rendered prompt over the length limit)."""
    merged = config if replace_config else merge_overrides(parent.config, config)
    fields: dict[str, Any] = {
        "pool_ref": parent.pool_ref,
        "priority": parent.priority,
        "timeout_seconds": parent.timeout_seconds,
        "config": with_budget(merged, share),
        **mode,
    }
    return ClaudeTaskSpec.model_validate(fields)


def child_manifest(
    parent: ClaudeTask,
    ref: ChildRef,
    spec: ClaudeTaskSpec,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ClaudeTask to create for `ref`, owned by `parent`."""
    meta = parent.metadata
    owner = {
        "apiVersion": API_VERSION,
        "kind": "ClaudeTask",
        "name": meta.name,
        "uid": meta.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    metadata: dict[str, Any] = {
        "name": ref.name(meta.name),
        "namespace": meta.namespace,
        "labels": ref.labels(parent),
        "ownerReferences": [owner],
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": API_VERSION,
        "kind": "ClaudeTask",
        "metadata": metadata,
        "spec": dump(spec),
    }


def is_child_of(task: ClaudeTask, parent: ClaudeTask) -> bool:
    """Whether `task` is one of `parent`'s children (and not a same-named stranger)."""
    return bool(parent.metadata.uid) and (
        task.metadata.labels.get(PARENT_UID_LABEL) == parent.metadata.uid
    )


@dataclass(frozen=True)
class ChildView:
    """What the workflow logic needs to know of one child task.

    `output` must be the child's whole output: when its status says outputTruncated, the
    worker reads the rest from the child's ConfigMap (`from_task(task, full_output=...)`)."""

    name: str
    phase: TaskPhase = TaskPhase.PENDING
    cost_microdollars: int = 0
    output: str = ""
    structured_output: Any = None
    reason: str | None = None
    message: str = ""
    budget_cap: int | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    session_id: str | None = None
    slot: str | None = None
    """The slot that ran it (last), for a chain's next step."""
    workspace: TaskWorkspace | None = None
    """Its status.workspace: the branch its run left (a chain shows its last step's)."""

    @property
    def finished(self) -> bool:
        return self.phase in (TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.CANCELLED)

    @property
    def error_text(self) -> str:
        """The text `{error}` stands for: the failure message, else the output, else why."""
        return self.message or self.output or self.reason or "the step failed"

    @classmethod
    def from_task(cls, task: ClaudeTask, full_output: str | None = None) -> ChildView:
        status = task.status
        result = status.result
        reason, message = None, ""
        for kind in (TaskConditionType.FAILED, TaskConditionType.CANCELLED):
            found = get_condition(status.conditions, kind)
            if found is not None and found.status == "True":
                reason, message = found.reason, found.message
        if result is not None and result.failure is not None:
            reason, message = result.failure.reason.value, result.failure.message
        config = task.spec.config
        return cls(
            name=task.metadata.name,
            phase=status.phase or derive_phase(status.conditions),
            cost_microdollars=status.cost_microdollars,
            output=full_output if full_output is not None else (result.output if result else ""),
            structured_output=result.structured_output if result else None,
            reason=reason,
            message=message,
            budget_cap=config.max_budget_microdollars if config else None,
            start_time=status.start_time,
            completion_time=status.completion_time,
            session_id=result.session_id if result else None,
            slot=status.slot,
            workspace=status.workspace,
        )
