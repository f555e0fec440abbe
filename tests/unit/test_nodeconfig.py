"""The real node's configuration files (pure): containerd, CNI and kubelet."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import yaml

from claude_pool.devenv.nodeconfig import (
    NODE_IP,
    PAUSE_IMAGE,
    POD_CIDR,
    cni_conflist,
    containerd_toml,
    kubelet_yaml,
)

SOCKET = Path("/tmp/cpn-x/containerd.sock")


def test_containerd_runs_cri_with_runc_on_cgroupfs_and_the_local_pause_image() -> None:
    config = tomllib.loads(
        containerd_toml(Path("/store"), Path("/tmp/cpn-x/state"), SOCKET, Path("/cni"))
    )
    assert config["version"] == 3
    assert (config["root"], config["grpc"]["address"]) == ("/store", str(SOCKET))
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == PAUSE_IMAGE
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["restrict_oom_score_adj"] is True
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["options"] == {"BinaryName": "/usr/bin/runc", "SystemdCgroup": False}
    assert runtime["cni"]["conf_dir"] == "/cni"


def test_the_pod_network_is_a_bridge_without_masquerading() -> None:
    (plugin,) = json.loads(cni_conflist(Path("/ipam")))["plugins"]
    assert plugin["type"] == "bridge"
    assert plugin["ipMasq"] is False
    assert plugin["ipam"]["ranges"] == [[{"subnet": POD_CIDR, "gateway": "10.244.0.1"}]]
    assert plugin["ipam"]["dataDir"] == "/ipam"


def test_the_kubelet_uses_cgroupfs_and_accepts_this_cgroup_v1_host() -> None:
    config = yaml.safe_load(kubelet_yaml(SOCKET))
    assert config["kind"] == "KubeletConfiguration"
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["failCgroupV1"] is False
    assert config["containerRuntimeEndpoint"] == f"unix://{SOCKET}"
    assert config["address"] == NODE_IP
    assert config["readOnlyPort"] == 0
