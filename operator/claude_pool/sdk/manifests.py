"""Pure builders and loaders of ClaudeTask manifests for the SDK, CLI and MCP server.

Every manifest is validated with the same pydantic models the CRDs are generated from, so a
bad request is refused with a readable message before it reaches the API server (which
checks again: schema and CEL). Nothing here talks to a cluster.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from claude_pool.api.claude import TaskOverrides
from claude_pool.api.common import API_VERSION, LocalObjectRef, dump
from claude_pool.api.messages import ClaudeMessageSpec
from claude_pool.api.modes import Auto, AutoHints, Chain, ChainStep, FanOut, Review
from claude_pool.api.reviews import ReviewDecision
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskSpec
from claude_pool.sdk.errors import InvalidRequest
from claude_pool.sdk.translating import invalid

POOL_LABEL = "claudepool.io/pool"
"""Label the SDK puts on the tasks it creates, so `list --pool` is a label selector."""
COORDINATOR = "coordinator"
"""The sender recipients see on a message sent by no slot (spec.from)."""


def task_spec(
    pool: str,
    *,
    prompt: str | None = None,
    fan_out: FanOut | None = None,
    chain: Chain | None = None,
    auto: Auto | None = None,
    config: TaskOverrides | None = None,
    priority: int = 0,
    timeout_seconds: int | None = None,
    review: Review | None = None,
) -> ClaudeTaskSpec:
    """A validated task spec with exactly one mode."""
    try:
        return ClaudeTaskSpec(
            review=review,
            pool_ref=LocalObjectRef(name=pool),
            prompt=prompt,
            fan_out=fan_out,
            chain=chain,
            auto=auto,
            config=config,
            priority=priority,
            timeout_seconds=timeout_seconds,
        )
    except ValidationError as error:
        raise invalid(error, "task") from None


def task_manifest(
    spec: ClaudeTaskSpec,
    *,
    name: str | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The ClaudeTask to POST: a fixed name, or generateName `POOL-` when none is given."""
    metadata: dict[str, Any] = (
        {"name": name} if name else {"generateName": f"{spec.pool_ref.name}-"}
    )
    metadata["labels"] = {**(labels or {}), POOL_LABEL: spec.pool_ref.name}
    return {
        "apiVersion": API_VERSION,
        "kind": "ClaudeTask",
        "metadata": metadata,
        "spec": dump(spec),
    }


def review(required: bool, max_rejections: int | None = None) -> Review | None:
    """The review gate of a task (None: no gate)."""
    if not required:
        if max_rejections is not None:
            raise InvalidRequest("max_rejections applies only to a task with review")
        return None
    try:
        return Review(required=True, **({} if max_rejections is None else
                                        {"max_rejections": max_rejections}))  # fmt: skip
    except ValidationError as error:
        raise invalid(error, "review") from None


def fan_out(
    prompts: list[str] | None = None,
    max_parallel: int | None = None,
    *,
    chains: list[Chain] | None = None,
    fail_fast: bool = False,
) -> FanOut:
    """Prompts (one single-prompt child each) or chains (one chain child each)."""
    try:
        return FanOut(
            prompts=prompts, chains=chains, max_parallel=max_parallel, fail_fast=fail_fast
        )
    except ValidationError as error:
        raise invalid(error, "fan-out") from None


def auto(prompt: str, hints: AutoHints | None = None, router_prompt: str | None = None) -> Auto:
    try:
        return Auto(prompt=prompt, hints=hints, router_prompt=router_prompt)
    except ValidationError as error:
        raise invalid(error, "auto task") from None


def chain(steps: list[ChainStep] | list[dict[str, Any]], isolation: str | None = None) -> Chain:
    """A chain from steps (models or their camelCase dicts)."""
    try:
        return Chain.model_validate({"steps": steps, "isolation": isolation})
    except ValidationError as error:
        raise invalid(error, "chain") from None


def load_chain(text: str) -> Chain:
    """A chain from YAML: a list of steps, or a mapping with `steps` (and `isolation`)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidRequest(f"the chain file is not valid YAML: {error}") from None
    return _chain_of(data, "chain")


def load_chains(text: str) -> list[Chain]:
    """Fan-out items that are chains, from YAML: a list whose entries are each a chain (a
    list of steps, or a mapping with `steps` and `isolation`): the seed's fan_out_chains."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidRequest(f"the chains file is not valid YAML: {error}") from None
    if not isinstance(data, list) or not data:
        raise InvalidRequest("the chains file must be a non-empty list of chains")
    return [_chain_of(item, f"chain {index}") for index, item in enumerate(data)]


def _chain_of(data: Any, what: str) -> Chain:
    if isinstance(data, list):
        data = {"steps": data}
    if not isinstance(data, dict):
        raise InvalidRequest(f"{what}: must be a list of steps or a mapping with steps")
    try:
        return Chain.model_validate(data)
    except ValidationError as error:
        raise invalid(error, what) from None


def load_tasks(text: str) -> list[ClaudeTask]:
    """The ClaudeTasks of a YAML (or JSON) file with one or more documents, validated."""
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise InvalidRequest(f"the manifest is not valid YAML: {error}") from None
    if not documents:
        raise InvalidRequest("the manifest holds no object")
    tasks = []
    for index, doc in enumerate(documents):
        where = f"document {index + 1}"
        if not isinstance(doc, dict) or doc.get("kind") != "ClaudeTask":
            kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
            raise InvalidRequest(f"{where}: expected kind ClaudeTask, got {kind!r}")
        if doc.get("apiVersion") != API_VERSION:
            raise InvalidRequest(f"{where}: apiVersion must be {API_VERSION}")
        meta = doc.get("metadata") or {}
        if not (meta.get("name") or meta.get("generateName")):
            raise InvalidRequest(f"{where}: metadata.name or metadata.generateName is required")
        if "spec" not in doc:
            raise InvalidRequest(f"{where}: spec is required")
        try:
            tasks.append(ClaudeTask.model_validate(doc))
        except ValidationError as error:
            raise invalid(error, where) from None
    return tasks


def manifest_of(task: ClaudeTask) -> dict[str, Any]:
    """The wire form of a loaded task, without status, with the SDK's pool label."""
    metadata = task.metadata.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in ("uid", "resourceVersion", "creationTimestamp", "generation"):
        metadata.pop(key, None)
    metadata["labels"] = {**metadata.get("labels", {}), POOL_LABEL: task.spec.pool_ref.name}
    return {"apiVersion": API_VERSION, "kind": "ClaudeTask", "metadata": metadata,
            "spec": dump(task.spec)}  # fmt: skip


def review_manifest(task: str, decision: ReviewDecision, feedback: str = "") -> dict[str, Any]:
    """The ClaudeReview to POST (generateName TASK-DECISION-); spec.reviewer is left out:
    the API server stamps the caller's user (deploy/admission.yaml)."""
    if decision == ReviewDecision.REJECT and not feedback.strip():
        raise InvalidRequest("a rejection needs feedback: it tells the next run what to fix")
    spec: dict[str, Any] = {"taskRef": {"name": task}, "decision": str(decision)}
    if feedback:
        spec["feedback"] = feedback
    return {
        "apiVersion": API_VERSION,
        "kind": "ClaudeReview",
        "metadata": {"generateName": f"{task[:200]}-{decision}-"},
        "spec": spec,
    }


def message_manifest(
    pool: LocalObjectRef,
    content: str,
    *,
    to_slot: int | None,
    from_slot: int | None = None,
    sender: str | None = None,
) -> dict[str, Any]:
    """The ClaudeMessage to POST: for slot `to_slot`, or a broadcast when it is None. The
    sender shown to recipients defaults to slot-N (from_slot) or "coordinator"."""
    if sender is None:
        sender = f"slot-{from_slot}" if from_slot is not None else COORDINATOR
    try:
        spec = ClaudeMessageSpec.model_validate({
            "poolRef": dump(pool), "from": sender, "fromSlot": from_slot, "toSlot": to_slot,
            "broadcast": to_slot is None, "content": content,
        })  # fmt: skip
    except ValidationError as error:
        raise invalid(error, "message") from None
    return {
        "apiVersion": API_VERSION,
        "kind": "ClaudeMessage",
        "metadata": {"generateName": f"{pool.name[:200]}-msg-"},
        "spec": dump(spec),
    }
