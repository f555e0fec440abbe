"""Condition reasons: the CamelCase codes that say why a pool or task condition is as it is.

Controllers set conditions with these (never with bare strings); users see them in
`kubectl describe` and in events. A task's Failed condition uses a `FailureReason`
(claude_pool.api.failures) or one of the composite reasons below.
"""

from __future__ import annotations

from enum import StrEnum


class PoolReason(StrEnum):
    """Reasons of ClaudePool conditions."""

    # Ready
    ALL_SLOTS_READY = "AllSlotsReady"
    """Ready=True: every desired slot is up."""
    SCALED_TO_ZERO = "ScaledToZero"
    """Ready=True: spec.slots is 0; tasks wait until the pool is scaled up."""
    SLOTS_STARTING = "SlotsStarting"
    """Ready=False: some desired slots are not up yet."""
    CREDENTIALS_MISSING = "CredentialsMissing"
    """Ready=False: spec.credentials is unset or names a Secret or key that does not exist."""
    # Degraded
    AS_EXPECTED = "AsExpected"
    """Degraded=False."""
    SLOT_RESTART_LIMIT = "SlotRestartLimit"
    """Degraded=True: a slot failed more than spec.supervision.maxRestarts times."""
    SLOT_CREATE_FAILED = "SlotCreateFailed"
    """Degraded=True: the apiserver refused a slot pod (quota, admission, bad template)."""
    SLOT_CHURN = "SlotChurn"
    """Degraded=True: slot pods were created and lost again faster than the operator's
    bound (CLAUDE_POOL_SLOT_CHURN_PER_MINUTE); new slot pods wait (also a Warning Event)."""
    # BudgetExhausted
    WITHIN_LIMIT = "WithinLimit"
    """BudgetExhausted=False: money is left."""
    NO_LIMIT = "NoLimit"
    """BudgetExhausted=False: spec.budget.limitMicrodollars is unset."""
    LIMIT_REACHED = "LimitReached"
    """BudgetExhausted=True: spent plus reserved reached the limit."""
    # Suspended
    ACTIVE = "Active"
    """Suspended=False: tasks are dispatched."""
    DRAINING = "Draining"
    """Suspended=True: nothing new starts; busy slots are finishing their tasks."""
    DRAINED = "Drained"
    """Suspended=True: nothing new starts and no slot is busy."""
    # WorkspaceUnavailable (pools with spec.workspace)
    WORKSPACE_READY = "WorkspaceReady"
    """WorkspaceUnavailable=False: every answering slot's clone is ready."""
    WORKSPACE_CLONING = "WorkspaceCloning"
    """WorkspaceUnavailable=False: slots are still cloning (their tasks wait)."""
    REPOSITORY_UNREACHABLE = "RepositoryUnreachable"
    """WorkspaceUnavailable=True: a slot cannot reach the repository (retried with backoff)."""
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    """WorkspaceUnavailable=True: the repository refused the credentials of
    spec.workspace.credentialsSecret (or asked for some and there are none)."""
    UNKNOWN_REF = "UnknownRef"
    """WorkspaceUnavailable=True: spec.workspace.ref names no branch, tag or commit."""
    CLONE_FAILED = "CloneFailed"
    """WorkspaceUnavailable=True: the clone failed for another reason (the message says)."""


class EventReason(StrEnum):
    """Reasons of the Events the operator posts (docs/operations.md, Events)."""

    STARTED = "Started"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    RETRYING = "Retrying"
    SLOT_LOST = "SlotLost"
    SLOT_REPLACED = "SlotReplaced"
    SLOT_CHURN = "SlotChurn"
    """Warning on a pool: slot pods are created and lost too fast; new ones wait."""
    WORKSPACE_UNAVAILABLE = "WorkspaceUnavailable"
    """Warning on a pool: a slot cannot clone spec.workspace (once per episode)."""
    MODEL_MISMATCH = "ModelMismatch"
    """Warning on a task: a model other than the requested one answered (and was billed)."""
    PERMISSION_DENIED = "PermissionDenied"
    """Warning on a task: the CLI refused tool uses for lack of permission."""


class TaskReason(StrEnum):
    """Reasons of ClaudeTask conditions other than failure causes."""

    # Admitted=True
    QUEUED = "Queued"
    """Admitted to its pool's queue; waiting for an idle slot."""
    COMPOSITE = "Composite"
    """A fan-out, chain or auto task: it runs no slot itself; its children queue instead."""
    # Admitted=False: the task waits (phase Waiting)
    WAITING_FOR_SLOT = "WaitingForSlot"
    """No slot was free within about a second: queued in the pool (phase Pending, not
    Waiting: nothing is wrong, and it starts as soon as a slot is free)."""
    POOL_NOT_FOUND = "PoolNotFound"
    """spec.poolRef names no ClaudePool in this namespace."""
    UNSUPPORTED_MODE = "UnsupportedMode"
    """Not set any more (composite tasks run as child tasks); written by earlier operator
    versions to fanOut, chain and auto tasks, which the composing step now admits."""
    POOL_SUSPENDED = "PoolSuspended"
    """The pool has spec.suspend set."""
    POOL_NOT_READY = "PoolNotReady"
    """The pool cannot run tasks yet (e.g. its credentials are missing)."""
    BUDGET_EXHAUSTED = "BudgetExhausted"
    """The pool's spend plus reservations reached its limit."""
    INSUFFICIENT_BUDGET = "InsufficientBudget"
    """Less money is left than this task reserves (the seed's TaskBudgetExceedsRemaining)."""
    PROMPT_SOURCE_MISSING = "PromptSourceMissing"
    """The ConfigMap or Secret key named by spec.promptFrom does not exist (yet)."""
    PROMPT_SOURCE_INVALID = "PromptSourceInvalid"
    """The spec.promptFrom value is empty, larger than 1 MiB or not UTF-8 text."""
    WORKSPACE_UNAVAILABLE = "WorkspaceUnavailable"
    """No slot's clone of the pool's spec.workspace is ready (cloning, or the repository is
    unreachable, the credentials are refused, the ref is unknown: the pool's
    WorkspaceUnavailable condition says which), or the task is a step of a chain with
    isolation worktree on a pool without spec.workspace."""
    # Running
    DISPATCHED = "Dispatched"
    """Running=True: a slot runs the task."""
    ROUTING = "Routing"
    """Running=True: an auto task is choosing its route."""
    CHILDREN_RUNNING = "ChildrenRunning"
    """Running=True: a composite task's children are running."""
    CANCELLING = "Cancelling"
    """Running=True: a composite task stops its unfinished children (cancel, timeout, failFast);
    it finishes once they have, so their costs are in its own."""
    RETRYING = "Retrying"
    """Running=False: the slot was lost; the task is queued for another attempt."""
    FINISHED = "Finished"
    """Running=False: the work ended (see Succeeded, Failed, Reviewed)."""
    # Reviewed
    AWAITING_REVIEW = "AwaitingReview"
    """Reviewed=False: the result waits for a ClaudeReview (approve or reject)."""
    APPROVED = "Approved"
    """Reviewed=True: a reviewer approved the result (Succeeded follows)."""
    REJECTED = "Rejected"
    """Reviewed=False: a reviewer rejected the result; the task runs again with the feedback
    (or, at spec.review.maxRejections, fails with reason Rejected)."""
    # Succeeded
    COMPLETED = "Completed"
    """Succeeded=True."""
    # Failed (besides FailureReason)
    CHILD_FAILED = "ChildFailed"
    """Failed=True: a chain step failed (after its retries and recovery), or an auto task's
    routed work failed."""
    PARTIAL_FAILURE = "PartialFailure"
    """Failed=True: some fan-out items failed (named in the message); the others' results are
    kept in status.items and status.result."""
    CHILD_LOST = "ChildLost"
    """Failed=True: a finished chain step's child task was deleted, and a later step needs its
    output."""
    ROUTING_FAILED = "RoutingFailed"
    """Failed=True: an auto route produced nothing runnable."""
    INVALID_SPEC = "InvalidSpec"
    """Failed=True: the spec passed admission but cannot run (e.g. a template error)."""
    # Cancelled
    CANCEL_REQUESTED = "CancelRequested"
    """Cancelled=True: spec.cancel was set."""
    # ModelMismatch
    REQUESTED_MODEL_USED = "RequestedModelUsed"
    """ModelMismatch=False: the requested model answered."""
    FALLBACK_MODEL_USED = "FallbackModelUsed"
    """ModelMismatch=True: the fallback model answered (the requested one was overloaded)."""
    OTHER_MODEL_USED = "OtherModelUsed"
    """ModelMismatch=True: a model other than the requested one (or its fallback) answered."""
