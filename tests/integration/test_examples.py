"""Every manifest under examples/ is applied to a real cluster and its tasks succeed.

The examples carry no API base URL (`make dev` sets it in every slot through its local
node); the suite's local node does not, so the test points each pool at the suite's fake API
by patching `spec.credentials.baseURL`, and creates the `claude-credentials` Secret. A pool
with a workspace is pointed at a repository of the suite's git server (tests/gitserver.py),
and its credentials Secret gets that server's token; its tasks' branches must be pushed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from claude_pool.api.common import GROUP, VERSION
from tests.gitserver import GitServer
from tests.integration.harness import Env

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLURALS = {"ClaudePool": "claudepools", "ClaudeTask": "claudetasks"}
ORDER = ("ClaudePool", "ClaudeTask")
RUN_MODES = ("prompt", "fanOut", "chain", "auto")
"""Task modes whose examples are waited for (every mode the operator runs)."""


def example_manifests() -> list[tuple[Path, dict[str, Any]]]:
    """Every YAML document under examples/, pools before tasks."""
    docs = [
        (path, doc)
        for path in sorted([*EXAMPLES.glob("**/*.yaml"), *EXAMPLES.glob("**/*.yml")])
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    unknown = [(path.name, doc.get("kind")) for path, doc in docs if doc.get("kind") not in PLURALS]
    assert not unknown, f"this test does not know how to apply {unknown}: extend PLURALS"
    return sorted(docs, key=lambda item: ORDER.index(item[1]["kind"]))


def test_the_examples_are_pools_and_a_task_of_each_mode() -> None:
    docs = example_manifests()
    kinds = [doc["kind"] for _, doc in docs]
    assert "ClaudePool" in kinds
    modes = {mode for _, doc in docs if doc["kind"] == "ClaudeTask" for mode in doc["spec"]}
    assert {"prompt", "fanOut", "chain", "auto"} <= modes
    for path, doc in docs:
        if doc["kind"] == "ClaudePool":
            assert "baseURL" not in doc["spec"].get("credentials", {}), (
                f"{path.name}: examples stay cluster-agnostic (no baseURL)"
            )


def _workspace_on(git: GitServer, env: Env, pool: dict[str, Any]) -> None:
    """Point the pool's workspace at a fresh repository of `git`, with its token."""
    workspace = pool["spec"]["workspace"]
    name = pool["metadata"]["name"]
    git.create_repo(name, {"README.md": f"# {name}\n"}, branch=workspace.get("ref", "main"))
    workspace["repo"] = git.url(name)
    secret = workspace.get("credentialsSecret", {}).get("name")
    if secret:
        env.core.create_namespaced_secret(
            env.namespace,
            {"metadata": {"name": secret}, "stringData": {"token": git.token}},
        )


def test_every_example_applies_and_its_tasks_succeed(env: Env, git_server: GitServer) -> None:
    env.credentials()
    pools: list[dict[str, Any]] = []
    pushed: list[str] = []
    workspace_pools: set[str] = set()
    tasks: list[str] = []
    reviewed: list[str] = []
    for path, doc in example_manifests():
        body = copy.deepcopy(doc)
        body["metadata"]["namespace"] = env.namespace
        if body["kind"] == "ClaudePool":
            body["spec"].setdefault("credentials", {})["baseURL"] = env.fake.base_url
            if "workspace" in body["spec"]:
                _workspace_on(git_server, env, body)
                workspace_pools.add(body["metadata"]["name"])
            pools.append(body)
        elif any(mode in body["spec"] for mode in RUN_MODES):
            tasks.append(body["metadata"]["name"])
            if body["spec"]["poolRef"]["name"] in workspace_pools:
                pushed.append(body["metadata"]["name"])
            if body["spec"].get("review", {}).get("required"):
                reviewed.append(body["metadata"]["name"])
        env.custom.create_namespaced_custom_object(
            GROUP, VERSION, env.namespace, PLURALS[body["kind"]], body, field_validation="Strict"
        )  # Strict: a field the CRD does not know fails here instead of being dropped
        print(f"applied {path.name}: {body['kind']}/{body['metadata']['name']}")
    for pool in pools:
        env.wait_ready_slots(pool["spec"].get("slots", 1), pool=pool["metadata"]["name"])
    assert tasks, "examples/ holds no ClaudeTask"
    assert reviewed, "examples/ holds no task with a review gate"
    for name in reviewed:  # the steps examples/review.yaml shows, with the admin's identity
        status = env.wait_phase(name, phases=("AwaitingReview",), timeout=90)["status"]
        assert "fake answer:" in status["result"]["output"], status  # "[0] fake ..." too
        approval = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ClaudeReview",
            "metadata": {"name": f"{name}-ok"},
            "spec": {"taskRef": {"name": name}, "decision": "approve"},
        }
        env.custom.create_namespaced_custom_object(
            GROUP, VERSION, env.namespace, "claudereviews", approval, field_validation="Strict"
        )
    for name in tasks:
        status = env.wait_phase(name, timeout=180)["status"]
        assert status["phase"] == "Succeeded", status
        # a fan-out's output lists its items ("[0] fake answer: ..."), a chain's is its last
        # step's, an auto task's its route's
        assert "fake answer:" in status["result"]["output"], status["result"]
        assert status["costMicrodollars"] > 0
    for name in pushed:  # a workspace pool's task: its branch is on the server
        workspace = env.task(name)["status"]["workspace"]
        assert workspace["pushed"] is True, workspace
        assert (
            git_server.head(
                workspace["repository"].rsplit("/", 1)[-1].removesuffix(".git"), workspace["branch"]
            )
            == workspace["headCommit"]
        )
    assert pushed, "examples/ holds no task on a workspace pool"
    for name in reviewed:
        (entry,) = env.task(name)["status"]["review"]["history"]
        assert entry["decision"] == "approve" and entry["reviewer"], entry
    for pool in pools:
        budget = env.pool(pool["metadata"]["name"])["status"]["budget"]
        assert budget["spentMicrodollars"] > 0, budget
