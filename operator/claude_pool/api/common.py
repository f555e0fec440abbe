"""Shared building blocks of the CRD models: API identity, bounds, base classes, string types.

Every other module of `claude_pool.api` builds on these. The bounds are part of the API
contract: they become `maxLength` / `maxItems` / `maximum` in the generated CRDs, they keep
the apiserver's CEL cost estimates small, and they are the numbers users hit when a
manifest is rejected. Change them only together with `python -m claude_pool crds`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "claudepool.io"
CREATED_BY_ANNOTATION = "claudepool.io/created-by"
"""The user who created a ClaudeTask or ClaudeMessage, stamped by the admission policies in
deploy/admission.yaml from request.userInfo (never typed by the user)."""
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# --- bounds (see module docstring) -------------------------------------------------------
MAX_SLOTS = 200
"""Most slots one pool may have. Each slot is a pod with its own Claude CLI process; 200 is
well above what one API key's rate limits sustain, and keeps per-pool status and queue
bookkeeping small. Run several pools for more."""
MAX_FANOUT = 256
"""Most items (prompts or chains) in one fan-out, and most prompts of an auto-routed fan-out:
the size of Argo's and Tekton's matrix limits."""
MAX_CHAIN_STEPS = 20
"""Most steps in one chain."""
MAX_CHILDREN = 256
"""Most child tasks of one composite task: MAX_FANOUT items, or a chain's steps with all their
retries and recoveries (MAX_CHAIN_STEPS x (MAX_STEP_RETRIES + 2) = 240)."""
MAX_ITEM_OUTPUT = 512
"""Characters of each child's output kept in its parent's status.items / status.steps (the
whole output is in the child's own status, and in the parent's combined result)."""
MAX_STEP_RETRIES = 10
"""Most retries of one chain step (so at most 11 attempts plus one recovery)."""
MAX_REJECTIONS = 20
"""Highest `spec.review.maxRejections`."""
MAX_PROMPT_LENGTH = 65536
"""Longest inline prompt, system prompt or feedback text, in characters (64 KiB): the
apiserver stores the whole object in etcd, so larger prompts go through `spec.promptFrom`."""
MAX_PROMPT_FROM_BYTES = 1_048_576
"""Largest prompt read from a ConfigMap or Secret key (`spec.promptFrom`), in bytes (1 MiB):
the size of one ConfigMap or Secret, and the agent's bound on a prompt (given on stdin)."""
MAX_OUTPUT_LENGTH = 32768
"""Longest output kept inline in a task's status; longer output goes to `outputRef`."""
MAX_MESSAGE_LENGTH = 4096
"""Longest human-readable message (conditions, failures, stderr tails)."""
MAX_TOOLS = 128
"""Most entries in one tool list (allowedTools, disallowedTools, tools)."""
MAX_MCP_SERVERS = 32
"""Most MCP servers in one map."""
MAX_CONTEXT_ENTRIES = 64
"""Most key/value pairs in a pool's shared context."""
MAX_CONTEXT_CHARS = 32768
"""Most characters (keys plus values) in a pool's shared context: it goes into every task's
system prompt, so it is kept well below the model's context."""
MAX_SLOT_MESSAGE_LENGTH = 16384
"""Longest ClaudeMessage content, in characters."""
MAX_PENDING_MESSAGES = 100
"""Most undelivered ClaudeMessages one pool holds; the operator refuses newer ones."""
MAX_MESSAGES_PER_START = 20
"""Most messages prepended to one task's prompt; the rest wait for the slot's next task."""
MAX_USER_NAME_LENGTH = 1024
"""Longest user name the API server authenticates that we record (reviewers, creators)."""
MAX_MAP_ENTRIES = 64
"""Most entries in other string maps (labels, annotations, nodeSelector, outputVars)."""
MAX_LIST_ITEMS = 64
"""Most entries in other lists (env, tolerations, imagePullSecrets, hints)."""
MAX_CONDITIONS = 16
"""Most conditions on one object."""
MAX_TURNS = 10000
"""Highest maxTurns."""
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600
"""Longest task timeout: 7 days."""
MAX_TTL_SECONDS = 365 * 24 * 3600
"""Longest ttlSecondsAfterFinished: one year."""
MAX_PRIORITY = 1000
"""Task priorities range over -MAX_PRIORITY..MAX_PRIORITY (higher runs first)."""
MAX_COUNT = 2**53 - 1
"""Upper bound of counters (tokens, durations, sizes): exact in JSON numbers everywhere."""

# --- patterns -----------------------------------------------------------------------------
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"
"""A Secret or ConfigMap key."""
STEP_NAME = r"^[A-Za-z0-9]([-_A-Za-z0-9]*[A-Za-z0-9])?$"
"""A chain step name: usable in `{steps.NAME.VAR}` templates (no dots, no braces)."""
ENV_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"

# --- string and number types ------------------------------------------------------------
Name = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
"""The name of a Kubernetes object in the same namespace."""
ShortName = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL)]
Prompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_LENGTH)]
"""A non-empty prompt for the model."""
LongText = Annotated[str, Field(max_length=MAX_PROMPT_LENGTH)]
Message = Annotated[str, Field(max_length=MAX_MESSAGE_LENGTH)]
Identifier = Annotated[str, Field(min_length=1, max_length=256)]
"""A model name, tool name, session id or similar token."""
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
UserName = Annotated[str, Field(min_length=1, max_length=MAX_USER_NAME_LENGTH)]
"""A user name as the API server authenticated it (request.userInfo.username)."""
SlotIndex = Annotated[int, Field(ge=0, le=MAX_SLOTS - 1)]
"""A slot's index: slot N of pool P is the pod P-slot-N (stable across replacements)."""
Timestamp = datetime
"""An RFC 3339 time; the api package never reads the clock, callers pass `now`."""
FreeForm = dict[str, Any]
"""A JSON object the API does not interpret (kept whole: x-kubernetes-preserve-unknown-fields)."""


class SpecModel(BaseModel):
    """Base of everything users write: camelCase on the wire, unknown fields are errors."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )


class StatusModel(BaseModel):
    """Base of everything the operator writes: camelCase, tolerant of fields it does not know."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )


class LocalObjectRef(SpecModel):
    """A reference to an object by name in the same namespace."""

    name: Name
    """Name of the referenced object."""


class ObjectMeta(BaseModel):
    """The parts of Kubernetes metadata the operator reads; everything else is kept as is."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
    )

    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    generation: int | None = None
    resource_version: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None


def cel(
    rule: str,
    message: str,
    *,
    field_path: str | None = None,
    message_expression: str | None = None,
) -> dict[str, str]:
    """One CEL validation rule (x-kubernetes-validations entry); the message names the field.

    `message_expression` (a CEL string expression) builds the message from the object, e.g.
    to name the offending entry; `message` stays the fallback when it cannot be evaluated."""
    entry = {"rule": rule, "message": message}
    if message_expression is not None:
        entry["messageExpression"] = message_expression
    if field_path is not None:
        entry["fieldPath"] = field_path
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """The json_schema_extra that attaches CEL rules to a model or a field."""
    return {"x-kubernetes-validations": list(rules)}


def plural(count: int, noun: str) -> str:
    """`1 turn`, `2 turns`: a count for messages, events and logs."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form of a model: camelCase keys, JSON types, unset optional fields left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
