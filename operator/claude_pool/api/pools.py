"""The ClaudePool resource: a set of slot pods that run Claude CLI tasks, and its status.

The pool controller reads `ClaudePoolSpec` to build slot pods and writes `ClaudePoolStatus`;
the dispatcher reads both. `spec.slots` is owned by the user or an HPA (scale subresource);
the operator never writes it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from claude_pool.api.claude import ClaudeSettings
from claude_pool.api.common import (
    API_VERSION,
    CONFIG_KEY,
    ENV_NAME,
    MAX_CONTEXT_CHARS,
    MAX_CONTEXT_ENTRIES,
    MAX_LIST_ITEMS,
    MAX_MAP_ENTRIES,
    MAX_MESSAGE_LENGTH,
    MAX_SLOTS,
    MAX_TIMEOUT_SECONDS,
    MAX_TTL_SECONDS,
    Count,
    FreeForm,
    LocalObjectRef,
    LongText,
    Name,
    ObjectMeta,
    SpecModel,
    StatusModel,
    cel,
    validations,
)
from claude_pool.api.conditions import Conditions
from claude_pool.api.identities import Identity, PoolReview
from claude_pool.api.money import Microdollars
from claude_pool.api.workspacespecs import Workspace

RESERVED_LABEL_PREFIX = "claudepool.io/"
"""Slot pod labels and annotations with this prefix belong to the operator (selectors,
ownership, draining, template hash): a template that set one would make the operator fight
itself (a pod marked draining is replaced, its replacement is marked again, ...)."""
RESERVED_ENV_PREFIXES = (
    "CLAUDE_POOL_AGENT_",
    "ANTHROPIC_",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "KUBERNETES_",
)
"""Slot container variables the operator owns (the agent's settings, the API credential and
base URL, the CLI's OAuth token) or the kubelet sets (service links): a template entry with
one of these names is refused at admission."""
RESERVED_ENV_MESSAGE = (
    "is set by the operator and cannot be set in spec.template.env (reserved: "
    + ", ".join(prefix + "*" for prefix in RESERVED_ENV_PREFIXES)
    + "; use spec.credentials for the API key, OAuth token and base URL)"
)
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
MAX_RECENT_COMMITS = 512
"""Most task uids kept in status.budget.recentCommits (the budget ledger's ring)."""
API_KEY_ENV = "ANTHROPIC_API_KEY"
OAUTH_TOKEN_ENV = "CLAUDE_CODE_OAUTH_TOKEN"  # noqa: S105 - an env var name, not a secret

Quantity = int | Annotated[str, Field(max_length=64, pattern=QUANTITY_PATTERN)]
"""A Kubernetes resource quantity such as 500m, 2Gi or 1."""
StringMap = Annotated[
    dict[str, Annotated[str, Field(max_length=4096)]], Field(max_length=MAX_MAP_ENTRIES)
]


class ImagePullPolicy(StrEnum):
    """The slot container's imagePullPolicy."""

    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class ResourceRequirements(SpecModel):
    """CPU/memory requests and limits of the slot container."""

    requests: Annotated[dict[str, Quantity], Field(max_length=16)] | None = None
    """Minimum resources, e.g. {cpu: 500m, memory: 1Gi}."""
    limits: Annotated[dict[str, Quantity], Field(max_length=16)] | None = None
    """Maximum resources."""


_RESERVED_ENV_LIST = "[" + ", ".join(f"'{p}'" for p in RESERVED_ENV_PREFIXES) + "]"


def _reserved_keys_rule(field: str) -> dict[str, Any]:
    return validations(
        cel(
            f"self.all(k, !k.startsWith('{RESERVED_LABEL_PREFIX}'))",
            f"spec.template.{field} must not use the reserved prefix {RESERVED_LABEL_PREFIX}",
        )
    )


def reserved_env_name(name: str) -> bool:
    """Whether a slot container variable belongs to the operator (see RESERVED_ENV_PREFIXES)."""
    return name.startswith(RESERVED_ENV_PREFIXES)


class EnvVar(SpecModel):
    """An extra environment variable of the slot container. Names the operator owns
    (CLAUDE_POOL_AGENT_*, ANTHROPIC_*, CLAUDE_CODE_OAUTH_TOKEN*, KUBERNETES_*) are refused."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.value) && has(self.valueFrom))",
                "spec.template.env: set value or valueFrom, not both",
            ),
            cel(
                f"!{_RESERVED_ENV_LIST}.exists(p, self.name.startsWith(p))",
                f"spec.template.env: a reserved name {RESERVED_ENV_MESSAGE}",
                message_expression=(
                    f"'spec.template.env: ' + self.name + ' {RESERVED_ENV_MESSAGE}'"
                ),
            ),
        )
    )

    name: Annotated[str, Field(min_length=1, max_length=256, pattern=ENV_NAME)]
    """Variable name."""
    value: Annotated[str, Field(max_length=32768)] | None = None
    """Literal value."""
    value_from: FreeForm | None = None
    """A core/v1 EnvVarSource (secretKeyRef, configMapKeyRef, fieldRef, ...)."""

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        if self.value is not None and self.value_from is not None:
            raise ValueError("spec.template.env: set value or valueFrom, not both")
        if reserved_env_name(self.name):
            raise ValueError(f"spec.template.env: {self.name} {RESERVED_ENV_MESSAGE}")
        return self


class SlotTemplate(SpecModel):
    """Knobs of the slot pods. Operator-owned labels and annotations (claudepool.io/...) and
    environment variables cannot be set."""

    image: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    """Slot image (agent + Claude CLI); the operator's default when unset."""
    image_pull_policy: ImagePullPolicy | None = None
    """Always, IfNotPresent or Never."""
    image_pull_secrets: Annotated[list[LocalObjectRef], Field(max_length=16)] | None = None
    """Secrets for pulling the image."""
    resources: ResourceRequirements | None = None
    """Requests and limits of the slot container."""
    node_selector: StringMap | None = None
    """Node labels the slot pods must match."""
    tolerations: Annotated[list[FreeForm], Field(max_length=MAX_LIST_ITEMS)] | None = None
    """core/v1 Tolerations of the slot pods."""
    runtime_class_name: Name | None = None
    """RuntimeClass for the slot pods (e.g. gvisor, kata) to sandbox model-run code."""
    service_account_name: Name | None = None
    """ServiceAccount of the slot pods; its token is never mounted."""
    env: Annotated[list[EnvVar], Field(max_length=MAX_LIST_ITEMS)] | None = None
    """Extra environment variables of the slot container (at most 64; names starting with
    CLAUDE_POOL_AGENT_, ANTHROPIC_, CLAUDE_CODE_OAUTH_TOKEN or KUBERNETES_ are refused)."""
    labels: Annotated[StringMap | None, Field(json_schema_extra=_reserved_keys_rule("labels"))] = (
        None
    )
    """Extra labels of the slot pods (at most 64; the claudepool.io/ prefix is reserved)."""
    annotations: Annotated[
        StringMap | None, Field(json_schema_extra=_reserved_keys_rule("annotations"))
    ] = None
    """Extra annotations of the slot pods (at most 64; the claudepool.io/ prefix is reserved)."""

    @field_validator("labels", "annotations")
    @classmethod
    def _no_reserved_keys(
        cls, keys: dict[str, str] | None, info: ValidationInfo
    ) -> dict[str, str] | None:
        reserved = [key for key in keys or {} if key.startswith(RESERVED_LABEL_PREFIX)]
        if reserved:
            raise ValueError(
                f"spec.template.{info.field_name} must not use the reserved prefix "
                f"{RESERVED_LABEL_PREFIX}: {', '.join(reserved)}"
            )
        return keys


class Credentials(SpecModel):
    """Where the slots' API credentials are. Never copied into status, events or logs."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!(has(self.apiKeyKey) && has(self.oauthTokenKey))",
                "set at most one of spec.credentials.apiKeyKey and spec.credentials.oauthTokenKey",
            )
        )
    )

    secret_name: Name
    """Secret in the pool's namespace that holds the credential."""
    api_key_key: Annotated[str, Field(min_length=1, max_length=253, pattern=CONFIG_KEY)] | None = (
        None
    )
    """Key of an API key in the Secret (ANTHROPIC_API_KEY when neither key is set)."""
    oauth_token_key: (
        Annotated[str, Field(min_length=1, max_length=253, pattern=CONFIG_KEY)] | None
    ) = None
    """Key of a Claude Code OAuth token in the Secret (CLAUDE_CODE_OAUTH_TOKEN)."""
    base_url: Annotated[str, Field(max_length=2048, pattern=r"^https?://")] | None = Field(
        default=None, alias="baseURL"
    )
    """API base URL (ANTHROPIC_BASE_URL), for gateways and the fake API."""

    @model_validator(mode="after")
    def _one_key(self) -> Credentials:
        if self.api_key_key is not None and self.oauth_token_key is not None:
            raise ValueError("set at most one of apiKeyKey and oauthTokenKey")
        return self

    def secret_key(self) -> str:
        """The Secret key that holds the credential."""
        return self.oauth_token_key or self.api_key_key or API_KEY_ENV

    def env_name(self) -> str:
        """The environment variable the credential is given to the CLI as."""
        return OAUTH_TOKEN_ENV if self.oauth_token_key else API_KEY_ENV


class Budget(SpecModel):
    """The pool's spending limit, in microdollars (1 USD = 1000000)."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.limitMicrodollars) || !has(self.defaultTaskReservationMicrodollars)"
                " || self.defaultTaskReservationMicrodollars <= self.limitMicrodollars",
                "spec.budget.defaultTaskReservationMicrodollars must not exceed"
                " spec.budget.limitMicrodollars",
            )
        )
    )

    limit_microdollars: Microdollars | None = None
    """Most the pool may spend in total; no limit when unset."""
    default_task_reservation_microdollars: Microdollars | None = None
    """Money reserved before a task without config.maxBudgetMicrodollars starts."""

    @model_validator(mode="after")
    def _reservation_within_limit(self) -> Budget:
        limit, reservation = self.limit_microdollars, self.default_task_reservation_microdollars
        if limit is not None and reservation is not None and reservation > limit:
            raise ValueError("defaultTaskReservationMicrodollars must not exceed limitMicrodollars")
        return self


class Supervision(SpecModel):
    """Restart and retry limits."""

    max_restarts: Annotated[int, Field(ge=0, le=100)] = 3
    """Restarts of one slot before the pool reports Degraded (0 to 100)."""
    max_task_attempts: Annotated[int, Field(ge=1, le=20)] = 3
    """Attempts of a task whose slot died before it fails with SlotLost (1 to 20)."""
    drain_timeout_seconds: Annotated[int, Field(ge=0, le=MAX_TIMEOUT_SECONDS)] = 0
    """How long a slot being removed may keep running its task; 0 uses the operator's bound
    (CLAUDE_POOL_DRAIN_TIMEOUT_SECONDS, default 3600), which also caps larger values."""


CONTEXT_KEYS_MESSAGE = "spec.context keys must be 1 to 253 characters"
CONTEXT_SIZE_MESSAGE = (
    f"spec.context is too large: keys and values together must be at most"
    f" {MAX_CONTEXT_CHARS} characters (it goes into every task's system prompt)"
)
_CONTEXT_RULES = validations(
    cel("self.all(k, size(k) >= 1 && size(k) <= 253)", CONTEXT_KEYS_MESSAGE),
    cel(f"self.map(k, size(k) + size(self[k])).sum() <= {MAX_CONTEXT_CHARS}", CONTEXT_SIZE_MESSAGE),
)


class ClaudePoolSpec(SpecModel):
    """The desired state of a ClaudePool."""

    slots: Annotated[int, Field(ge=0, le=MAX_SLOTS)] = 1
    """Desired number of slots, 0 to 200 (scale subresource; an HPA may own it). Each slot
    is a pod; run several pools for more."""
    template: SlotTemplate = Field(default_factory=SlotTemplate)
    """Slot pod knobs."""
    claude: ClaudeSettings = Field(default_factory=ClaudeSettings)
    """Defaults for every task's CLI run."""
    credentials: Credentials | None = None
    """Secret with the API key or OAuth token."""
    budget: Budget = Field(default_factory=Budget)
    """Spending limit."""
    context: (
        Annotated[
            dict[str, Annotated[str, Field(max_length=MAX_MESSAGE_LENGTH)]],
            Field(max_length=MAX_CONTEXT_ENTRIES, json_schema_extra=_CONTEXT_RULES),
        ]
        | None
    ) = None
    """Key/value pairs added to every task's system prompt (the seed's shared context): at
    most 64 entries, each value up to 4096 characters, keys 1-253 characters, keys and values
    together at most MAX_CONTEXT_CHARS (32768). A change applies to tasks dispatched after
    it, never to a running one; a task's status.contextRevision says which revision it ran
    with."""
    identity: Identity | None = None
    """The slots' identity line in the system prompt (seed: name, role, description)."""
    review: PoolReview = Field(default_factory=PoolReview)
    """How reviews of this pool's tasks are checked (four-eyes)."""
    suspend: bool = False
    """Dispatch nothing new; running tasks finish (the seed's drain)."""
    supervision: Supervision = Field(default_factory=Supervision)
    """Restart and retry limits."""
    workspace: Workspace | None = None
    """A git repository every slot clones and works in: isolation, push policy, branch names,
    credentials and volume (docs/operations.md, "Workspaces"). No workspace: slots work in
    their own empty directory."""
    ttl_seconds_after_finished: Annotated[int, Field(ge=0, le=MAX_TTL_SECONDS)] | None = None
    """Default ttlSecondsAfterFinished of the pool's tasks (0 to 31536000 s, one year): a
    finished task without its own is deleted this long after it finished; kept forever when
    neither is set."""
    router_prompt: LongText | None = None
    """The routing prompt of this pool's auto tasks, instead of the built-in one (a task's
    spec.auto.routerPrompt wins over it). The task's hints are appended to it."""

    @field_validator("context")
    @classmethod
    def _bounded_context(cls, context: dict[str, str] | None) -> dict[str, str] | None:
        entries = (context or {}).items()
        if any(not 1 <= len(key) <= 253 for key, _ in entries):
            raise ValueError(CONTEXT_KEYS_MESSAGE)
        if sum(len(key) + len(value) for key, value in entries) > MAX_CONTEXT_CHARS:
            raise ValueError(CONTEXT_SIZE_MESSAGE)
        return context


class QueueStatus(StatusModel):
    """Task counts of the pool's queue."""

    pending: Count = 0
    """Admitted tasks waiting for a slot."""
    waiting: Count = 0
    """Tasks that cannot be admitted yet (suspended pool, budget)."""
    running: Count = 0
    """Tasks on a slot."""


class BudgetStatus(StatusModel):
    """The pool's money, in microdollars."""

    limit_microdollars: Microdollars | None = None
    """The limit in force (copied from spec)."""
    spent_microdollars: Microdollars = 0
    """Cost of every finished run, counted once."""
    reserved_microdollars: Microdollars = 0
    """Held for running tasks and released when they finish."""
    spent: Annotated[str, Field(max_length=32)] | None = None
    """spentMicrodollars as dollars (e.g. 1.25), for the printer column."""
    recent_commits: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=128)]],
        Field(max_length=MAX_RECENT_COMMITS),
    ] = Field(default_factory=list)
    """uids of the tasks whose cost was counted last, oldest first: written together with
    spentMicrodollars so that a commit retried after an operator crash is not counted twice."""


class ClaudePoolStatus(StatusModel):
    """The observed state of a ClaudePool."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status reflects."""
    replicas: Count = 0
    """Slot pods that exist (scale subresource)."""
    ready_slots: Count = 0
    """Slots whose agent answers."""
    idle_slots: Count = 0
    """Ready slots without a task."""
    busy_slots: Count = 0
    """Slots running a task."""
    draining_slots: Count = 0
    """Slots being removed that still finish a task."""
    selector: Annotated[str, Field(max_length=1024)] | None = None
    """Label selector of the slot pods (scale subresource, HPA)."""
    queue: QueueStatus = Field(default_factory=QueueStatus)
    """Task counts."""
    budget: BudgetStatus = Field(default_factory=BudgetStatus)
    """Money."""
    conditions: Conditions = Field(default_factory=list)
    """Ready, Degraded, BudgetExhausted, Suspended, and WorkspaceUnavailable with a
    spec.workspace."""


class ClaudePool(StatusModel):
    """A ClaudePool object as read from the API."""

    api_version: str = API_VERSION
    kind: str = "ClaudePool"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ClaudePoolSpec = Field(default_factory=ClaudePoolSpec)
    status: ClaudePoolStatus = Field(default_factory=ClaudePoolStatus)
