"""The real node's configuration files: containerd's, the CNI network's and the kubelet's.

Pure: each function returns the text of one file; `claude_pool.devenv.node` writes them. The
network is a bridge inside the network namespace the tier runs in (`make e2e-node` creates
it): pods get addresses from `POD_CIDR` in namespaces containerd creates, with the bridge as
their gateway; no masquerading, no route anywhere else.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

POD_CIDR = "10.244.0.0/24"
POD_GATEWAY = "10.244.0.1"
NODE_IP = "10.243.0.1"
"""The node's own address, on the loopback interface of the tier's namespace (the kernel
here has no dummy interfaces); pods reach it through their gateway."""
BRIDGE = "cpn-br0"
PAUSE_IMAGE = "localhost/claude-pool-pause:dev"
CNI_BIN_DIR = Path("/usr/lib/cni")


def cni_conflist(ipam_dir: Path) -> str:
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "claude-pool",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "isDefaultGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR, "gateway": POD_GATEWAY}]],
                        "dataDir": str(ipam_dir),
                    },
                }
            ],
        },
        indent=2,
    )


def containerd_toml(root: Path, state: Path, socket: Path, cni_conf_dir: Path) -> str:
    cri_images = '[plugins."io.containerd.cri.v1.images"]'
    runtime = '[plugins."io.containerd.cri.v1.runtime"]'
    runc = '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]'
    return f"""version = 3
root = "{root}"
state = "{state}"

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

{cri_images}
  snapshotter = "overlayfs"

{cri_images[:-1]}.pinned_images]
  sandbox = "{PAUSE_IMAGE}"

{runtime}
  # the sandbox lacks CAP_SYS_RESOURCE: the kubelet's negative oom_score_adj (-998 for the
  # pause container) would make runc's init fail; keep it at no lower than containerd's own
  restrict_oom_score_adj = true

{runtime[:-1]}.containerd]
  default_runtime_name = "runc"

{runc}
  runtime_type = "io.containerd.runc.v2"

{runc[:-1]}.options]
  BinaryName = "/usr/bin/runc"
  SystemdCgroup = false

{runtime[:-1]}.cni]
  bin_dirs = ["{CNI_BIN_DIR}"]
  conf_dir = "{cni_conf_dir}"
"""


def kubelet_yaml(socket: Path) -> str:
    """KubeletConfiguration: cgroupfs, cgroup v1 allowed, no auth to the node's own API."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,  # this host is cgroup v1; 1.35+ refuses it otherwise
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "address": NODE_IP,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "podCIDR": POD_CIDR,
        "maxPods": 30,
        "enforceNodeAllocatable": [],
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "localStorageCapacityIsolation": False,
        "syncFrequency": "5s",
        "nodeStatusUpdateFrequency": "4s",
        "resolvConf": "/etc/resolv.conf",
    }
    return yaml.safe_dump(config, sort_keys=False)
