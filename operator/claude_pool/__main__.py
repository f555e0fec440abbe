"""Entry point: `python -m claude_pool <command>` (also installed as `claude-pool`).

Each command lives in its own module and is imported only when chosen, so the slot agent
never loads operator code and the operator never loads the dev environment.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "agent": ("claude_pool.agent.main", "the slot agent (runs inside a slot pod)"),
    "operator": ("claude_pool.runtime.main", "the operator (kopf)"),
    "crds": ("claude_pool.api.crdgen", "write the CRD manifests generated from the models"),
    "fake-api": ("claude_pool.devenv.fakeapi", "the fake Anthropic Messages API"),
    "controlplane": ("claude_pool.devenv.controlplane", "start a local control plane"),
    "build": ("claude_pool.devenv.building", "build or find the control plane binaries"),
    "images": ("claude_pool.devenv.images", "build the slot and operator images (docker/podman)"),
    "dev": ("claude_pool.devenv.dev", "control plane + CRDs (+ operator, local node, fake API)"),
}


def usage() -> str:
    lines = ["usage: python -m claude_pool COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<13} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] not in COMMANDS:
        print(f"unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[args[0]][0])
    result: int = module.main(args[1:])
    return result


if __name__ == "__main__":
    sys.exit(main())
