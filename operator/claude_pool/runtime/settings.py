"""The operator's settings: one pydantic-settings object, read once at start-up.

Every field is an environment variable `CLAUDE_POOL_<FIELD>` (docs/operations.md lists
them). Called by `runtime.main`; everything else receives the object (no os.environ reads
elsewhere).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from claude_pool.runtime.logs import LogFormat


class Settings(BaseSettings):
    """Operator configuration."""

    model_config = SettingsConfigDict(env_prefix="CLAUDE_POOL_", extra="ignore")

    kubeconfig: str | None = None
    """Kubeconfig file; in-cluster config when unset."""
    namespaces: list[str] = Field(default_factory=list)
    """Namespaces to watch (JSON list); all namespaces when empty."""
    slot_image: str = "ghcr.io/claude-pool/slot:0.1.0"
    """Default slot image when a pool's template sets none."""
    slot_termination_grace_seconds: int = Field(default=30, ge=0)
    """Grace period of slot pods; the agent stops its CLI within it."""
    resync_seconds: float = Field(default=10.0, gt=0)
    """Each pool is reconciled at least this often even without events."""
    cycle_min_interval_seconds: float = Field(default=0.02, ge=0)
    """Least time between two cycles of one pool, so events batch into one cycle (the end of
    a chain step's run cuts it short: the next step is handed off at once)."""
    pool_status_min_interval_seconds: float = Field(default=1.0, ge=0)
    """Least time between pool status writes that only change counts."""
    progress_interval_seconds: float = Field(default=10.0, gt=0)
    """Least time between two progress patches of one running task."""
    drain_timeout_seconds: float = Field(default=3600.0, ge=0)
    """Upper bound on how long a slot being removed may keep its task (0: no bound); a pool's
    spec.supervision.drainTimeoutSeconds, when set, is used instead."""
    slot_backoff_seconds: float = Field(default=1.0, gt=0)
    """First delay before a failed slot pod is replaced; doubles per failure."""
    slot_backoff_max_seconds: float = Field(default=60.0, gt=0)
    """Cap on that delay."""
    slot_churn_per_minute: int = Field(default=10, ge=1)
    """Most slot pods of one pool that may be created and lost again within a minute; at the
    bound the pool creates no slot pod until the oldest leaves the minute, and reports
    Degraded=True, reason SlotChurn (a pod storm cannot run on)."""
    degraded_hold_seconds: float = Field(default=300.0, ge=0)
    """How long a pool stays Degraded after a slot was replaced for restarting too often."""
    agent_timeout_seconds: float = Field(default=10.0, gt=0)
    """Timeout of one HTTP call to a slot agent (not of the task)."""
    agent_unreachable_seconds: float = Field(default=30.0, gt=0)
    """A Running pod whose agent has not answered for this long counts as lost."""
    model_aliases: dict[str, str] = Field(default_factory=dict)
    """Model aliases (JSON object, alias -> full model id) on top of the built-in table of the
    pinned CLI (`workflows.models.MODEL_ALIASES`): the CLI is always given a full id."""
    output_status_limit: int = Field(default=32768, ge=1024)
    """Output longer than this (characters) is kept whole in an owned ConfigMap."""
    kube_workers: int = Field(default=16, ge=1)
    """Threads that run the synchronous Kubernetes client."""
    metrics_port: int = Field(default=8000, ge=0)
    """Prometheus metrics port (0 disables the endpoint)."""
    metrics_host: str = "0.0.0.0"
    health_port: int = Field(default=8080, ge=0)
    """kopf liveness endpoint port (0 disables it)."""
    log_format: LogFormat = LogFormat.TEXT
    """text (one line per record, structured fields as key=value) or json (JSON lines)."""
