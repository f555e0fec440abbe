"""The CLI's exit codes: one per kind of outcome, so scripts can tell them apart.

Documented in docs/cli.md. `code_for` maps the SDK's errors; task outcomes map through
`code_for_phase`.
"""

from __future__ import annotations

from enum import IntEnum

from claude_pool.api.phases import TaskPhase
from claude_pool.sdk.errors import (
    ApiFailure,
    ClusterUnavailable,
    Forbidden,
    InvalidRequest,
    NotFoundError,
    PoolSdkError,
    ReviewRefused,
    WaitTimeout,
)


class ExitCode(IntEnum):
    """What `claude-pool` exits with."""

    OK = 0
    """Done; for run/wait/result: the task succeeded, or (a task with review) its result
    waits in AwaitingReview for approve/reject."""
    TASK_FAILED = 1
    """The task finished Failed."""
    USAGE = 2
    """Bad command line (unknown option, missing argument)."""
    NOT_FOUND = 3
    """The pool or task does not exist."""
    INVALID = 4
    """Bad manifest or request: refused by the models or by the API server's admission."""
    NO_CLUSTER = 5
    """No usable kubeconfig, or the API server cannot be reached."""
    TIMEOUT = 6
    """A wait reached its bound; the task goes on."""
    CANCELLED = 7
    """The task finished Cancelled."""
    FORBIDDEN = 8
    """RBAC refused the request."""
    API_ERROR = 9
    """Any other API error."""
    NOT_FINISHED = 10
    """`result`: the task has no result yet."""
    REVIEW_REFUSED = 11
    """approve/reject: the operator refused the review (the task is not awaiting review,
    the review is stale, or a four-eyes pool bars the task's creator)."""
    INTERRUPTED = 130
    """Ctrl-C."""


_BY_ERROR: tuple[tuple[type[PoolSdkError], ExitCode], ...] = (
    (ReviewRefused, ExitCode.REVIEW_REFUSED),
    (NotFoundError, ExitCode.NOT_FOUND),
    (InvalidRequest, ExitCode.INVALID),
    (ClusterUnavailable, ExitCode.NO_CLUSTER),
    (WaitTimeout, ExitCode.TIMEOUT),
    (Forbidden, ExitCode.FORBIDDEN),
    (ApiFailure, ExitCode.API_ERROR),
)


def code_for(error: PoolSdkError) -> ExitCode:
    """The exit code of an SDK error."""
    for kind, code in _BY_ERROR:
        if isinstance(error, kind):
            return code
    return ExitCode.API_ERROR


def code_for_phase(phase: TaskPhase) -> ExitCode:
    """The exit code of a task that stopped in `phase` (Review counts as done)."""
    if phase == TaskPhase.FAILED:
        return ExitCode.TASK_FAILED
    if phase == TaskPhase.CANCELLED:
        return ExitCode.CANCELLED
    if phase in (TaskPhase.SUCCEEDED, TaskPhase.AWAITING_REVIEW):
        return ExitCode.OK
    return ExitCode.NOT_FINISHED
