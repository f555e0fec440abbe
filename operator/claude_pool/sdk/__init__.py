"""claude_pool.sdk: the Python SDK of claude-pool, sync (`Client`) and async (`AsyncClient`).

    from claude_pool.sdk import Client
    with Client.connect(namespace="team-a") as pool:
        task = pool.run("demo", "Say hello.", timeout=120)
        print(task.status.phase, task.status.result.output)

Objects are the pydantic models of `claude_pool.api`; errors are in `claude_pool.sdk.errors`.
It reaches Kubernetes only through `claude_pool.kube` (the caller's kubeconfig and RBAC).
"""

from claude_pool.sdk.client import AsyncClient
from claude_pool.sdk.errors import (
    ApiFailure,
    ClusterUnavailable,
    Forbidden,
    InvalidRequest,
    NotFoundError,
    PoolNotFound,
    PoolSdkError,
    ReviewNotFound,
    ReviewRefused,
    TaskNotFound,
    WaitTimeout,
)
from claude_pool.sdk.summaries import PoolSummary
from claude_pool.sdk.sync import Client

__all__ = [
    "ApiFailure",
    "AsyncClient",
    "Client",
    "ClusterUnavailable",
    "Forbidden",
    "InvalidRequest",
    "NotFoundError",
    "PoolNotFound",
    "PoolSdkError",
    "PoolSummary",
    "ReviewNotFound",
    "ReviewRefused",
    "TaskNotFound",
    "WaitTimeout",
]
