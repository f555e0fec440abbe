"""Entry point: `python -m claude_pool <command>` (also installed as `claude-pool`).

The internal commands below each live in their own module and are imported only when
chosen, so the slot agent never loads operator code and the operator never loads the dev
environment. Every other command (run, submit, get, status, mcp, ...) is the user CLI,
`claude_pool.cli.app`, loaded only then.
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


CLI = "claude_pool.cli.app"


def usage() -> str:
    lines = ["internal commands (python -m claude_pool COMMAND [ARGS...]):"]
    lines += [f"  {name:<13} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in COMMANDS:
        module = importlib.import_module(COMMANDS[args[0]][0])
    else:
        module = importlib.import_module(CLI)
        if args and args[0] in ("-h", "--help", "help"):
            code: int = module.main(["--help"])
            print(usage())
            return code
        return int(module.main(args))
    result: int = module.main(args[1:])
    return result


if __name__ == "__main__":
    sys.exit(main())
