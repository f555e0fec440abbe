"""Why a task failed: the reasons shared by the slot agent, the operator and the CRD status.

The agent classifies a CLI run into one of these; the operator adds the ones only it can
see (SlotLost, Rejected, ...). Values are CamelCase because they appear as condition reasons.
"""

from __future__ import annotations

from enum import StrEnum


class FailureReason(StrEnum):
    """A classified cause of a failed task."""

    AUTHENTICATION = "Authentication"
    """The API rejected the credentials (401/403)."""
    RATE_LIMITED = "RateLimited"
    """429 from the API after the CLI's own retries."""
    OVERLOADED = "Overloaded"
    """529 from the API after the CLI's own retries."""
    SERVER_ERROR = "ServerError"
    """5xx from the API after the CLI's own retries."""
    INVALID_REQUEST = "InvalidRequest"
    """400/413 from the API: retrying will not help."""
    MODEL_NOT_FOUND = "ModelNotFound"
    """404: the model does not exist or is not available to this key."""
    CONNECTION_ERROR = "ConnectionError"
    """The API could not be reached, or did not answer in time."""
    BUDGET_EXCEEDED = "BudgetExceeded"
    """The CLI stopped at --max-budget-usd."""
    MAX_TURNS = "MaxTurns"
    """The CLI stopped at --max-turns."""
    TIMEOUT = "Timeout"
    """The task's own timeout expired and the CLI was stopped."""
    CANCELLED = "Cancelled"
    """The task was cancelled and the CLI was stopped."""
    INTERRUPTED = "Interrupted"
    """The agent restarted while the task ran: the CLI's outcome is unknown."""
    CLI_CRASHED = "CLICrashed"
    """The CLI exited without a result line (crash, signal, bad flags)."""
    MODEL_ERROR = "ModelError"
    """The CLI produced a result with is_error set for a reason not listed above."""
    SLOT_LOST = "SlotLost"
    """The slot died with the task on it and the retries ran out (operator only)."""
    REJECTED = "Rejected"
    """A review rejected the result too many times (operator only)."""
    WORKSPACE_FAILED = "WorkspaceFailed"
    """The task's worktree could not be made (unknown base, git error): the CLI did not run."""
    PUSH_FAILED = "PushFailed"
    """The workspace branch could not be pushed (rejected, unreachable, bad credentials); the
    commits stay in the slot's clone."""
