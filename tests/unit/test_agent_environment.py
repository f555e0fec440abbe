"""The CLI's environment, the IS_SANDBOX rule, settings and secret scrubbing."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_pool.agent.environment import cli_environment, needs_sandbox_flag, secrets_in
from claude_pool.agent.redaction import REDACTED, Redactor
from claude_pool.agent.settings import AgentSettings
from claude_pool.api.agent import (
    AgentResult,
    CliPermissionMode,
    DeniedToolUse,
    Failure,
    ProgressEvent,
    ProgressKind,
)
from claude_pool.api.failures import FailureReason

AGENT_ENV = {
    "PATH": "/usr/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
    "ANTHROPIC_API_KEY": "sk-ant-secret-key-123",
    "CLAUDE_CODE_USE_BEDROCK": "0",
    "CLAUDE_POOL_AGENT_TOKEN": "agent-token-abcdefghijklmnop",
    "KUBERNETES_SERVICE_HOST": "10.0.0.1",
    "IS_SANDBOX": "1",
    "HOME": "/root",
}


def environment(sandbox: bool = False) -> dict[str, str]:
    return cli_environment(
        AGENT_ENV, home=Path("/slot/home"), retries=2, api_timeout_ms=60000, sandbox=sandbox
    )


def test_the_cli_gets_the_api_settings_and_our_explicit_knobs() -> None:
    env = environment()
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:1"
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-secret-key-123"
    assert env["HOME"] == "/slot/home"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert env["DISABLE_TELEMETRY"] == "1"
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "2"
    assert env["API_TIMEOUT_MS"] == "60000"
    assert env["LC_ALL"] == "C.UTF-8"
    assert env["CLAUDE_CODE_USE_BEDROCK"] == "0"


def test_the_cli_never_sees_the_agent_token_or_unlisted_variables() -> None:
    env = environment()
    assert "CLAUDE_POOL_AGENT_TOKEN" not in env
    assert "agent-token-abcdefghijklmnop" not in env.values()
    assert "KUBERNETES_SERVICE_HOST" not in env
    assert "IS_SANDBOX" not in env


def test_is_sandbox_is_set_only_as_root_with_bypass_permissions() -> None:
    assert needs_sandbox_flag(0, CliPermissionMode.BYPASS_PERMISSIONS)
    assert not needs_sandbox_flag(10001, CliPermissionMode.BYPASS_PERMISSIONS)
    assert not needs_sandbox_flag(0, CliPermissionMode.ACCEPT_EDITS)
    assert not needs_sandbox_flag(0, None)
    assert environment(sandbox=True)["IS_SANDBOX"] == "1"


def test_the_api_key_is_a_secret_to_scrub() -> None:
    assert secrets_in(AGENT_ENV) == ["sk-ant-secret-key-123"]


def test_secrets_are_scrubbed_from_results_and_progress() -> None:
    redactor = Redactor(["sk-ant-secret-key-123", "agent-token-abcdefghijklmnop", "short"])
    result = AgentResult(
        output="the key is sk-ant-secret-key-123",
        success=False,
        structured_output={"k": ["sk-ant-secret-key-123"], "sk-ant-secret-key-123": 1},
        denied_tool_uses=[DeniedToolUse(tool="Bash", target="curl -H 'x: sk-ant-secret-key-123'")],
        failure=Failure(
            reason=FailureReason.MODEL_ERROR,
            message="token agent-token-abcdefghijklmnop",
            stderr_tail="env: ANTHROPIC_API_KEY=sk-ant-secret-key-123\n",
        ),
    )
    clean = redactor.scrub_result(result).model_dump_json()
    assert "sk-ant-secret-key-123" not in clean
    assert "agent-token-abcdefghijklmnop" not in clean
    assert clean.count(REDACTED) == 6
    event = ProgressEvent(seq=1, kind=ProgressKind.TEXT, text="sk-ant-secret-key-123")
    assert redactor.scrub_event(event).text == REDACTED
    assert redactor.scrub("a short word") == "a short word"  # too short to be a secret


def test_settings_default_to_directories_on_the_slot_volume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CLAUDE_POOL_AGENT_VOLUME_DIR", "/vol")
    monkeypatch.setenv("CLAUDE_POOL_AGENT_HOME_DIR", "/home/slot")
    settings = AgentSettings()
    assert (settings.state_path, settings.work_path, settings.home_path) == (
        Path("/vol/state"),
        Path("/vol/work"),
        Path("/home/slot"),
    )
    assert (settings.port, settings.cli_retries) == (8080, 2)


def test_the_token_comes_from_the_environment_or_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLAUDE_POOL_AGENT_TOKEN", raising=False)
    with pytest.raises(ValueError, match="CLAUDE_POOL_AGENT_TOKEN"):
        AgentSettings().resolve_token()
    token_file = tmp_path / "token"
    token_file.write_text("file-token-0123456789\n")
    monkeypatch.setenv("CLAUDE_POOL_AGENT_TOKEN_FILE", str(token_file))
    assert AgentSettings().resolve_token() == "file-token-0123456789"
    monkeypatch.setenv("CLAUDE_POOL_AGENT_TOKEN", "short")
    with pytest.raises(ValueError, match="at least 16"):
        AgentSettings().resolve_token()
