"""The operator's integration harness: the real operator process, the local node, the fake API.

`Env` bundles what an operator test needs on the suite's control plane: a namespace, the
local node (running slot agents as processes with the real Claude CLI), the fake Anthropic
API, and `python -m claude_pool operator` as a subprocess (so a test can SIGKILL it and
start it again). Helpers create pools and tasks and wait, always with a bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from claude_pool.api.common import GROUP, VERSION
from claude_pool.devenv.fakeapi import FakeAnthropicThread
from claude_pool.devenv.localnode import LocalNode
from claude_pool.devenv.operatorproc import OperatorProcess
from tests.builders import pool_manifest, task_manifest
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
FINISHED = ("Succeeded", "Failed", "Cancelled")


class Env:
    """Namespace + fake API + local node + operator, with helpers."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        fake: FakeAnthropicThread,
        node: LocalNode,
        operator: OperatorProcess,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.fake = fake
        self.node = node
        self.operator = operator
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    # objects
    def credentials(self, name: str = "claude-credentials") -> str:
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(name=name), string_data={"ANTHROPIC_API_KEY": "sk-test"}
        )
        try:
            self.core.create_namespaced_secret(self.namespace, secret)
        except ApiException as exc:
            if exc.status != 409:
                raise
        return name

    def create_pool(
        self, name: str = "pool", *, secret: bool = True, **spec: Any
    ) -> dict[str, Any]:
        if secret:
            self.credentials()
        spec.setdefault(
            "credentials", {"secretName": "claude-credentials", "baseURL": self.fake.base_url}
        )
        claude = spec.setdefault("claude", {})
        claude.setdefault("model", "sonnet")
        claude.setdefault("maxRetries", 0)
        body = pool_manifest(name, **spec)
        return self._create("claudepools", body)

    def create_task(
        self, name: str, pool: str = "pool", prompt: str = "hello", **spec: Any
    ) -> dict[str, Any]:
        return self._create("claudetasks", task_manifest(name, pool, prompt, **spec))

    def _create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, body
        )
        return result

    def get(self, plural: str, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, name
        )
        return result

    def task(self, name: str) -> dict[str, Any]:
        return self.get("claudetasks", name)

    def pool(self, name: str = "pool") -> dict[str, Any]:
        return self.get("claudepools", name)

    def patch(self, plural: str, name: str, body: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, name, body
        )

    def delete(self, plural: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)

    def slot_pods(self, pool: str = "pool") -> list[Any]:
        pods = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"claudepool.io/pool={pool}"
        ).items
        return sorted(pods, key=lambda p: p.metadata.name)

    # waiting
    def wait_phase(
        self, name: str, phases: tuple[str, ...] = FINISHED, timeout: float = 60
    ) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            task = self.task(name)
            return task if (task.get("status") or {}).get("phase") in phases else None

        try:
            return eventually(done, timeout=timeout, what=f"task {name} in {phases}")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\ntask: {self.task(name).get('status')}\n"
                f"operator log:\n{self.operator.tail()}"
            ) from None

    def wait_ready_slots(
        self, count: int, pool: str = "pool", timeout: float = 60
    ) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            body = self.pool(pool)
            status = body.get("status") or {}
            return (
                body if status.get("idleSlots", 0) + status.get("busySlots", 0) >= count else None
            )

        try:
            return eventually(ready, timeout=timeout, what=f"{count} ready slots")
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\npool: {self.pool(pool).get('status')}\n"
                f"operator log:\n{self.operator.tail()}"
            ) from None


def wait_gone(fn: Any, timeout: float = 30, what: str = "object gone") -> None:
    def gone() -> bool:
        try:
            fn()
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(gone, timeout=timeout, what=what)
