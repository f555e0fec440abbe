"""Static checks of slot-image/Dockerfile (the container tier builds and runs the image:
tests/integration/test_slot_container.py)."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "slot-image" / "Dockerfile").read_text()
INSTRUCTIONS = [
    line.strip()
    for line in re.sub(r"\\\n", " ", DOCKERFILE).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def instructions(keyword: str) -> list[str]:
    return [line.split(None, 1)[1] for line in INSTRUCTIONS if line.split()[0].upper() == keyword]


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    users = instructions("USER")
    assert users, "the image must set USER"
    user = users[-1].split(":")[0]
    assert user.isdigit()
    assert int(user) != 0


def build_arg_defaults() -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in instructions("ARG") if "=" in arg)


def test_every_base_image_is_pinned_to_a_version_tag() -> None:
    defaults = build_arg_defaults()
    bases = [image.split()[0] for image in instructions("FROM")]
    assert all(base.startswith("${") for base in bases), "bases are build arguments"
    for base in bases:
        name = defaults[base.removeprefix("${").removesuffix("}")]
        assert ":" in name, name
        tag = name.split(":", 1)[1]
        assert tag != "latest"
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{name}: pin a full version"


def test_the_cli_version_is_pinned_exactly_and_installed_from_package_json() -> None:
    package = json.loads((REPO / "slot-image" / "cli" / "package.json").read_text())
    version = package["dependencies"]["@anthropic-ai/claude-code"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    assert any("slot-image/cli/package.json" in c for c in instructions("COPY"))
    assert any("npm install --omit=dev" in r for r in instructions("RUN"))


def test_python_dependencies_are_pinned_and_exclude_kubernetes() -> None:
    installs = [r for r in instructions("RUN") if "pip install" in r and "/wheels" not in r]
    steps = [c for r in installs for c in r.split("&&") if "pip install" in c]
    commands = [c.split("pip install", 1)[1] for c in steps]
    packages = [w for c in commands for w in c.split() if not w.startswith("-")]
    assert packages
    for package in packages:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==\d+(\.\d+)*", package), package
    assert not any(name in DOCKERFILE for name in ("kubernetes==", "kopf=="))


def test_the_entry_point_is_the_agent_command_of_the_package() -> None:
    (entry,) = instructions("ENTRYPOINT")
    argv = json.loads(entry)
    assert argv[-4:] == ["python", "-m", "claude_pool", "agent"]
    main = importlib.import_module("claude_pool.__main__")
    module = importlib.import_module(main.COMMANDS["agent"][0])
    assert callable(module.main)


def test_writable_places_are_volumes_so_the_root_filesystem_can_be_read_only() -> None:
    (volumes,) = instructions("VOLUME")
    assert set(json.loads(volumes)) == {"/slot", "/tmp"}
    env = " ".join(instructions("ENV"))
    assert "CLAUDE_POOL_AGENT_VOLUME_DIR=/slot" in env
    assert "HOME=/slot/home" in env


def test_the_working_directory_is_not_inside_a_volume() -> None:
    # the runtime would create it in the fresh volume as root, unwritable for the agent
    (volumes,) = instructions("VOLUME")
    workdir = instructions("WORKDIR")[-1]
    assert not any(workdir.startswith(f"{volume}/") for volume in json.loads(volumes)), workdir


@pytest.mark.parametrize(
    "variable",
    [
        "CLAUDE_POOL_AGENT_TOKEN",
        "CLAUDE_POOL_AGENT_TOKEN_FILE",
        "CLAUDE_POOL_AGENT_HOST",
        "CLAUDE_POOL_AGENT_PORT",
        "CLAUDE_POOL_AGENT_VOLUME_DIR",
        "CLAUDE_POOL_AGENT_STATE_DIR",
        "CLAUDE_POOL_AGENT_WORK_DIR",
        "CLAUDE_POOL_AGENT_HOME_DIR",
        "CLAUDE_POOL_AGENT_CLI_RETRIES",
        "CLAUDE_POOL_AGENT_API_TIMEOUT_MS",
        "CLAUDE_POOL_AGENT_KILL_GRACE_SECONDS",
        "CLAUDE_POOL_AGENT_CLAUDE_BIN",
    ],
)
def test_the_readme_documents_every_setting(variable: str) -> None:
    from claude_pool.agent.settings import AgentSettings

    field = variable.removeprefix("CLAUDE_POOL_AGENT_").lower()
    assert field in AgentSettings.model_fields
    assert f"`{variable}`" in (REPO / "slot-image" / "README.md").read_text()
