"""Workspaces end to end: the operator, the local node, the real CLI and a real git server.

A pool on a repository served by `tests/gitserver.py` (git http-backend behind HTTP Basic
with a token from a Secret); the fake API drives the CLI's real Write tool with
`permissionMode: bypassPermissions`, so files appear in the task's worktree; the agent
commits and pushes them. Asserted: pushed branches with the files, status.workspace with
the diffstat, parallel tasks without conflict, chains whose later step sees the earlier
step's file (same slot unpushed, another slot through the pushed branch), a claim per slot
that a replacement pod reuses, the pool's WorkspaceUnavailable condition for bad
credentials and an unknown ref (tasks wait), PushFailed, and the token in no status,
Event or log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.gitserver import GitServer
from tests.helpers import eventually
from tests.integration.harness import Env

REPO = "app"
CLAUDE = {"model": "sonnet", "maxRetries": 0, "permissionMode": "bypassPermissions"}


def git_secret(env: Env, token: str, name: str = "git") -> str:
    body = client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data={"token": token})
    env.core.create_namespaced_secret(env.namespace, body)
    return name


def workspace_pool(env: Env, git: GitServer, *, slots: int = 1, **workspace: Any) -> None:
    if REPO not in {p.name.removesuffix(".git") for p in git.root.iterdir()}:
        git.create_repo(REPO, {"README.md": "# app\n"})
    workspace.setdefault("repo", git.url(REPO))
    workspace.setdefault("credentialsSecret", {"name": git_secret(env, git.token)})
    env.create_pool(slots=slots, claude=dict(CLAUDE), workspace=workspace)


def write(file: str, extra: str = "") -> str:
    return f"Write {file}. [[fake tools=write file={file}{extra}]]"


def status(env: Env, name: str) -> dict[str, Any]:
    found: dict[str, Any] = env.task(name).get("status") or {}
    return found


def condition(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), None)


def assert_token_nowhere(env: Env, token: str) -> None:
    """The token is in no task or pool status, no Event, no operator or agent log line."""
    tasks = env.custom.list_namespaced_custom_object(
        "claudepool.io", "v1alpha1", env.namespace, "claudetasks"
    )["items"]
    pools = env.custom.list_namespaced_custom_object(
        "claudepool.io", "v1alpha1", env.namespace, "claudepools"
    )["items"]
    events = env.core.list_namespaced_event(env.namespace).items
    assert tasks, "no task to check"
    for body in (*tasks, *pools):
        assert token not in repr(body.get("status")), body["metadata"]["name"]
    for event in events:
        assert token not in (event.message or ""), event.reason
    assert token not in env.operator.log.read_text(errors="replace")
    logs = list(Path(env.node.pods_dir).rglob("container.log"))
    assert logs, "no agent log found"
    for log in logs:
        assert token not in log.read_text(errors="replace"), str(log)


@pytest.mark.timeout(240)
def test_parallel_tasks_push_their_branches_with_the_diffstat_in_status(
    env: Env, git_server: GitServer
) -> None:
    workspace_pool(env, git_server, slots=2, push="branch")
    env.create_task("one", prompt=write("one.txt"))
    env.create_task("two", prompt=write("two.txt"))
    for name in ("one", "two"):
        done = env.wait_phase(name, timeout=120)
        assert done["status"]["phase"] == "Succeeded", done["status"]
    one, two = status(env, "one")["workspace"], status(env, "two")["workspace"]
    assert one["branch"] == "claude-pool/one"
    assert one["repository"] == git_server.url(REPO)
    assert one["pushed"] is True
    assert (one["filesChanged"], one["files"]) == (1, ["one.txt"])
    assert "one.txt" in one["diffstat"]
    assert one["committedByAgent"] is True
    assert one["baseCommit"] != one["headCommit"]
    assert two["files"] == ["two.txt"]
    assert git_server.head(REPO, "claude-pool/one") == one["headCommit"]
    assert set(git_server.files(REPO, "claude-pool/one")) == {"README.md", "one.txt"}
    assert set(git_server.files(REPO, "claude-pool/two")) == {"README.md", "two.txt"}
    assert git_server.files(REPO, "main") == {"README.md": "# app\n"}
    assert {status(env, n)["slot"] for n in ("one", "two")} == {"pool-slot-0", "pool-slot-1"}
    assert_token_nowhere(env, git_server.token)


def chain_of(*steps: tuple[str, str]) -> dict[str, Any]:
    return {"steps": [{"name": name, "prompt": prompt} for name, prompt in steps]}


def step_tasks(env: Env, chain: str) -> dict[str, dict[str, Any]]:
    found = env.custom.list_namespaced_custom_object(
        "claudepool.io",
        "v1alpha1",
        env.namespace,
        "claudetasks",
        label_selector=f"claudepool.io/parent={chain}",
    )["items"]
    return {t["metadata"]["labels"]["claudepool.io/step"]: t for t in found}


@pytest.mark.timeout(240)
def test_an_unpushed_chain_keeps_one_worktree_on_one_slot_and_the_second_step_sees_the_first(
    env: Env, git_server: GitServer
) -> None:
    workspace_pool(env, git_server, slots=2, isolation="chain")
    env.create_task(
        "build", prompt=None, chain=chain_of(("a", write("a.txt")), ("b", write("b.txt")))
    )
    done = env.wait_phase("build", timeout=150)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    steps = step_tasks(env, "build")
    first, second = steps["a"]["status"], steps["b"]["status"]
    assert first["slot"] == second["slot"]
    ws = second["workspace"]
    assert ws["branch"] == "claude-pool/build"
    assert ws["files"] == ["a.txt", "b.txt"]  # base..head: the chain's whole work
    assert ws["pushed"] is False
    assert ws["slot"] == first["slot"]
    assert first["workspace"]["worktreeKept"] is True
    assert ws["worktreeKept"] is False  # the last step removed it; the branch stays
    assert done["status"]["workspace"]["branch"] == "claude-pool/build"
    assert "claude-pool/build" not in git_server.branches(REPO)


@pytest.mark.timeout(300)
def test_a_pushed_chain_continues_its_branch_on_another_slot(
    env: Env, git_server: GitServer
) -> None:
    workspace_pool(env, git_server, slots=2, isolation="chain", push="branch")
    env.create_task("long", prompt="Hold a slot. [[fake delay=90]]")
    eventually(lambda: status(env, "long").get("slot"), timeout=60, what="long runs")
    env.create_task(
        "ship",
        prompt=None,
        chain=chain_of(("a", write("a.txt", " delay=3")), ("b", write("b.txt"))),
    )
    eventually(lambda: step_tasks(env, "ship").get("a"), timeout=60, what="step a created")
    eventually(
        lambda: (step_tasks(env, "ship")["a"].get("status") or {}).get("slot"),
        timeout=60,
        what="step a runs",
    )
    # a task of higher priority takes step a's slot when it frees; step b waits until
    # "long" is cancelled, and runs on the slot "long" held: another slot
    env.create_task("blocker", prompt="Block. [[fake delay=90]]", priority=10)
    eventually(lambda: step_tasks(env, "ship").get("b"), timeout=90, what="step b created")
    eventually(lambda: status(env, "blocker").get("slot"), timeout=60, what="blocker runs")
    env.patch("claudetasks", "long", {"spec": {"cancel": True}})
    done = env.wait_phase("ship", timeout=200)
    env.patch("claudetasks", "blocker", {"spec": {"cancel": True}})
    assert done["status"]["phase"] == "Succeeded", done["status"]
    steps = step_tasks(env, "ship")
    first, second = steps["a"]["status"], steps["b"]["status"]
    assert first["slot"] != second["slot"], (first["slot"], second["slot"])
    assert first["workspace"]["pushed"] is True
    assert second["workspace"]["pushed"] is True
    assert set(git_server.files(REPO, "claude-pool/ship")) == {"README.md", "a.txt", "b.txt"}
    assert_token_nowhere(env, git_server.token)


@pytest.mark.timeout(240)
def test_a_slot_claim_outlives_its_pod_and_the_replacement_continues_the_slot_branch(
    env: Env, git_server: GitServer
) -> None:
    workspace_pool(env, git_server, isolation="slot", volume={"claimTemplate": {"size": "1Gi"}})
    env.create_task("first", prompt=write("first.txt"))
    assert env.wait_phase("first", timeout=120)["status"]["phase"] == "Succeeded"
    claim = env.core.read_namespaced_persistent_volume_claim("pool-ws-0", env.namespace)
    assert claim.metadata.owner_references[0].kind == "ClaudePool"
    old = env.slot_pods()[0]
    env.patch("claudepools", "pool", {"spec": {"slots": 0}})
    eventually(lambda: not env.slot_pods(), timeout=60, what="the slot pod gone")
    env.patch("claudepools", "pool", {"spec": {"slots": 1}})

    def replaced() -> bool:
        pods = env.slot_pods()
        return bool(pods) and pods[0].metadata.uid != old.metadata.uid

    assert eventually(replaced, timeout=60, what="a replacement slot pod")
    assert env.slot_pods()[0].metadata.name == old.metadata.name
    env.create_task("second", prompt=write("second.txt"))
    assert env.wait_phase("second", timeout=120)["status"]["phase"] == "Succeeded"
    ws = status(env, "second")["workspace"]
    assert ws["branch"] == "claude-pool/pool-slot-0"
    assert ws["files"] == ["first.txt", "second.txt"]
    assert ws["pushed"] is False
    assert ws["worktreeKept"] is True


@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    ("workspace", "reason"),
    [
        ({"credentialsSecret": {"name": "wrong-token"}}, "AuthenticationFailed"),
        ({"ref": "no-such-branch"}, "UnknownRef"),
    ],
    ids=["bad-credentials", "unknown-ref"],
)
def test_a_workspace_that_cannot_be_cloned_is_a_pool_condition_and_tasks_wait(
    env: Env, git_server: GitServer, workspace: dict[str, Any], reason: str
) -> None:
    git_secret(env, "not-the-token", "wrong-token")
    workspace_pool(env, git_server, **workspace)
    env.create_task("waits", prompt=write("x.txt"))

    def unavailable() -> dict[str, Any] | None:
        found = condition(env.pool(), "WorkspaceUnavailable")
        return found if found is not None and found["status"] == "True" else None

    found = eventually(unavailable, timeout=90, what="WorkspaceUnavailable=True")
    assert found["reason"] == reason, found

    def waiting() -> dict[str, Any] | None:
        admitted = condition(env.task("waits"), "Admitted")
        return admitted if admitted and admitted["reason"] == "WorkspaceUnavailable" else None

    admitted = eventually(waiting, timeout=30, what="the task waits")
    assert admitted["status"] == "False"
    assert reason in admitted["message"]
    assert status(env, "waits").get("slot") is None
    events = env.core.list_namespaced_event(env.namespace).items
    warned = [e for e in events if e.reason == "WorkspaceUnavailable"]
    assert len(warned) == 1, [e.message for e in warned]
    assert warned[0].type == "Warning" and reason in (warned[0].message or "")
    assert_token_nowhere(env, git_server.token)


@pytest.mark.timeout(180)
def test_a_refused_push_fails_the_task_with_push_failed_and_keeps_the_branch(
    env: Env, git_server: GitServer
) -> None:
    git_server.create_repo(REPO, {"README.md": "# app\n"})
    git_server.refuse_pushes(REPO, "pushes are closed for the test")
    workspace_pool(env, git_server, push="branch")
    env.create_task("refused", prompt=write("r.txt"))
    done = env.wait_phase("refused", timeout=120)
    assert done["status"]["phase"] == "Failed"
    failure = done["status"]["result"]["failure"]
    assert failure["reason"] == "PushFailed", failure
    assert "pushes are closed" in failure["message"]
    ws = done["status"]["workspace"]
    assert (ws["pushed"], ws["files"]) == (False, ["r.txt"])
    assert ws["slot"] == "pool-slot-0"
    assert "claude-pool/refused" not in git_server.branches(REPO)
    assert_token_nowhere(env, git_server.token)


@pytest.mark.timeout(120)
def test_a_chain_asking_for_a_worktree_on_a_pool_without_workspace_waits_saying_so(
    env: Env,
) -> None:
    env.create_pool(claude=dict(CLAUDE))
    chain = {**chain_of(("a", "Step a.")), "isolation": "worktree"}
    env.create_task("lonely", prompt=None, chain=chain)

    def waiting() -> dict[str, Any] | None:
        step = step_tasks(env, "lonely").get("a")
        admitted = condition(step, "Admitted") if step else None
        return admitted if admitted and admitted["reason"] == "WorkspaceUnavailable" else None

    admitted = eventually(waiting, timeout=60, what="step a waits for a workspace")
    assert "the pool has no spec.workspace" in admitted["message"]
    assert env.task("lonely")["status"]["phase"] == "Running"


def approve(env: Env, task: str) -> None:
    review = {
        "apiVersion": "claudepool.io/v1alpha1",
        "kind": "ClaudeReview",
        "metadata": {"name": f"{task}-ok"},
        "spec": {"taskRef": {"name": task}, "decision": "approve"},
    }
    env.custom.create_namespaced_custom_object(
        "claudepool.io", "v1alpha1", env.namespace, "claudereviews", review
    )


@pytest.mark.timeout(240)
def test_push_on_approval_pushes_the_branch_only_when_the_review_approves(
    env: Env, git_server: GitServer
) -> None:
    workspace_pool(env, git_server, push="branch", pushOnApproval=True)
    env.create_task("gated", prompt=write("gated.txt"), review={"required": True})
    held = env.wait_phase("gated", phases=("AwaitingReview",), timeout=120)["status"]
    assert held["workspace"]["pushed"] is False
    assert held["workspace"]["files"] == ["gated.txt"]
    assert "gated.txt" in held["workspace"]["diffstat"]  # what the reviewer reads
    assert "claude-pool/gated" not in git_server.branches(REPO)
    approve(env, "gated")
    done = env.wait_phase("gated", timeout=60)["status"]
    assert done["phase"] == "Succeeded", done
    assert done["workspace"]["pushed"] is True
    assert git_server.head(REPO, "claude-pool/gated") == done["workspace"]["headCommit"]
    assert set(git_server.files(REPO, "claude-pool/gated")) == {"README.md", "gated.txt"}


@pytest.mark.timeout(240)
def test_an_approval_whose_push_is_refused_fails_the_task_push_failed(
    env: Env, git_server: GitServer
) -> None:
    git_server.create_repo(REPO, {"README.md": "# app\n"})
    workspace_pool(env, git_server, push="branch", pushOnApproval=True)
    env.create_task("gated", prompt=write("gated.txt"), review={"required": True})
    env.wait_phase("gated", phases=("AwaitingReview",), timeout=120)
    git_server.refuse_pushes(REPO, "no pushes after review")
    approve(env, "gated")
    done = env.wait_phase("gated", timeout=60)["status"]
    assert done["phase"] == "Failed", done
    assert done["result"]["failure"]["reason"] == "PushFailed"
    assert "no pushes after review" in done["result"]["failure"]["message"]
    assert done["review"]["history"][0]["decision"] == "approve"
    assert_token_nowhere(env, git_server.token)


@pytest.mark.timeout(180)
def test_isolation_none_runs_in_the_clone_itself_and_commits_nothing(
    env: Env, git_server: GitServer
) -> None:
    workspace_pool(env, git_server, isolation="none")
    env.create_task("inplace", prompt=write("inplace.txt"))
    done = env.wait_phase("inplace", timeout=120)["status"]
    assert done["phase"] == "Succeeded", done
    ws = done.get("workspace")  # the agent may report the clone's own branch, untouched
    if ws is not None:
        assert (ws["committedByAgent"], ws["pushed"]) == (False, False), ws
        assert ws["headCommit"] == ws["baseCommit"], ws
    written = list(Path(env.node.pods_dir).rglob("clone/inplace.txt"))
    assert len(written) == 1, written
    assert git_server.branches(REPO) == ["main"]
