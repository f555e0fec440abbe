"""The container launcher of the contract tests gives the container the slot pod's settings."""

from __future__ import annotations

import json
from pathlib import Path

from claude_pool.devenv.engine import EngineKind
from tests.agentdriver import container_run_args, slot_pod


def test_the_container_gets_the_slot_pods_user_root_capabilities_and_volumes() -> None:
    args = container_run_args(slot_pod("img:1"), "c1", Path("/v"))
    joined = " ".join(args)
    assert "--user 10001:10001" in joined
    assert "--read-only --read-only-tmpfs=false" in joined  # nothing else writable
    assert "--cap-drop=all" in args
    assert "--security-opt no-new-privileges" in joined
    assert "--volume /v:/slot" in joined
    assert "--tmpfs /tmp:rw,mode=1777" in joined
    entrypoint = json.loads(args[args.index("--entrypoint") + 1])
    assert entrypoint[:2] == ["/usr/bin/tini", "--"]


def test_docker_gets_no_podman_only_flag() -> None:
    args = container_run_args(slot_pod("img:1"), "c1", Path("/v"), EngineKind.DOCKER)
    assert "--read-only" in args
    assert not any(a.startswith("--read-only-tmpfs") for a in args)
