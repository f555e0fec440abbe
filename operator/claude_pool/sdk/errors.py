"""What can go wrong when the SDK talks to a cluster, as exception classes.

Raised by `claude_pool.sdk` (translated from `claude_pool.kube` errors in `translating`);
the CLI maps each class to its own exit code (`claude_pool.cli.exitcodes`) and the MCP
server returns the message as a tool error.
"""

from __future__ import annotations


class PoolSdkError(Exception):
    """Base of every SDK error; the message is meant for humans."""


class NotFoundError(PoolSdkError):
    """A pool or task does not exist in the namespace."""


class PoolNotFound(NotFoundError):
    """The ClaudePool named does not exist."""


class TaskNotFound(NotFoundError):
    """The ClaudeTask named does not exist (or was deleted while waiting)."""


class ReviewNotFound(NotFoundError):
    """The ClaudeReview named does not exist (or was deleted while waiting)."""


class ReviewRefused(PoolSdkError):
    """The operator refused a review (Applied=False: the task is not awaiting review, the
    review is stale, or a four-eyes pool bars the task's creator from approving it)."""


class InvalidRequest(PoolSdkError):
    """The request or manifest is invalid (refused by the models or by admission)."""


class ClusterUnavailable(PoolSdkError):
    """No usable kubeconfig, or the API server cannot be reached."""


class Forbidden(PoolSdkError):
    """The caller's RBAC does not allow the operation."""


class WaitTimeout(PoolSdkError):
    """A wait ended at its bound before the task finished."""


class ApiFailure(PoolSdkError):
    """Any other error answer of the API server."""
