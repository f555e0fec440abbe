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


class TaskReason(StrEnum):
    """Reasons of ClaudeTask conditions other than failure causes."""

    # Admitted=True
    QUEUED = "Queued"
    """Admitted to its pool's queue; waiting for an idle slot."""
    # Admitted=False: the task waits (phase Waiting)
    POOL_NOT_FOUND = "PoolNotFound"
    """spec.poolRef names no ClaudePool in this namespace."""
    UNSUPPORTED_MODE = "UnsupportedMode"
    """The task's mode (fanOut, chain, auto) is not run by this operator version yet."""
    POOL_SUSPENDED = "PoolSuspended"
    """The pool has spec.suspend set."""
    POOL_NOT_READY = "PoolNotReady"
    """The pool cannot run tasks yet (e.g. its credentials are missing)."""
    BUDGET_EXHAUSTED = "BudgetExhausted"
    """The pool's spend plus reservations reached its limit."""
    INSUFFICIENT_BUDGET = "InsufficientBudget"
    """Less money is left than this task reserves (the seed's TaskBudgetExceedsRemaining)."""
    # Running
    DISPATCHED = "Dispatched"
    """Running=True: a slot runs the task."""
    ROUTING = "Routing"
    """Running=True: an auto task is choosing its route."""
    CHILDREN_RUNNING = "ChildrenRunning"
    """Running=True: a composite task's children are running."""
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
    """Failed=True: a fan-out child or chain step failed."""
    ROUTING_FAILED = "RoutingFailed"
    """Failed=True: an auto route produced nothing runnable."""
    INVALID_SPEC = "InvalidSpec"
    """Failed=True: the spec passed admission but cannot run (e.g. a template error)."""
    # Cancelled
    CANCEL_REQUESTED = "CancelRequested"
    """Cancelled=True: spec.cancel was set."""
