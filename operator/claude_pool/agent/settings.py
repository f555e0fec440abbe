"""The slot agent's settings, read once at start-up from `CLAUDE_POOL_AGENT_*` variables.

Called by `main.main`; everything else receives the resulting `AgentSettings`.
The slot volume (`volume_dir`) holds HOME, the work directory and the state directory unless
they are set one by one. A workspace (a git clone in `workspace_dir`) exists only when
`workspace_repo` is set; its credentials (`git_*`) are secrets: never logged, never given to
the CLI. slot-image/README.md lists every variable.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_TOKEN_CHARS = 16


class AgentSettings(BaseSettings):
    """Configuration of one slot agent."""

    model_config = SettingsConfigDict(env_prefix="CLAUDE_POOL_AGENT_", extra="ignore")

    token: SecretStr | None = None
    """The bearer token every request must carry (or use token_file)."""
    token_file: Path | None = None
    """A file holding the token (a mounted Secret); read at start-up, surrounding space dropped."""
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    volume_dir: Path = Path("/slot")
    state_dir: Path | None = None
    """Task records and results; default `<volume_dir>/state`."""
    work_dir: Path | None = None
    """Root of the tasks' working directories; default `<volume_dir>/work`."""
    home_dir: Path | None = None
    """HOME of the CLI (sessions live here: keep it for resume); default `<volume_dir>/home`."""
    claude_bin: str = "claude"
    """The CLI: a path, or a name looked up on PATH."""
    cli_retries: int = Field(default=2, ge=0, le=15)
    """CLAUDE_CODE_MAX_RETRIES for the CLI (its default of 10 holds a failing task ~3 min)."""
    api_timeout_ms: int = Field(default=600_000, ge=1000)
    """API_TIMEOUT_MS for the CLI: how long each API attempt may wait for response headers."""
    kill_grace_seconds: float = Field(default=5.0, ge=0.0)
    """After SIGTERM to the CLI's process group, wait this long before SIGKILL."""
    workspace_repo: str | None = Field(default=None, max_length=2048)
    """The repository to clone at start (https, http, ssh, scp-like or file URL); none: no
    workspace."""
    workspace_ref: str | None = Field(default=None, max_length=255)
    """The branch, tag or commit to clone; default the remote's HEAD."""
    workspace_depth: int | None = Field(default=None, ge=1, le=1_000_000)
    """Clone (and fetch) this many commits deep; default the whole history."""
    workspace_dir: Path = Path("/workspace")
    """Holds `clone/` and `worktrees/<name>/` (an emptyDir or the slot's PVC)."""
    git_token: SecretStr | None = None
    """The https token, sent as the password through GIT_ASKPASS (read at call time)."""
    git_username: str | None = None
    """The https user name; default `x-access-token`."""
    git_ssh_key: SecretStr | None = None
    """A private key for ssh URLs, written 0600 outside the clone."""
    git_known_hosts: str | None = None
    """known_hosts lines for ssh; without them the first host key seen is accepted."""
    git_timeout_seconds: float = Field(default=600.0, gt=0)
    """The bound of one network git command (clone, fetch, push)."""
    workspace_retry_seconds: float = Field(default=10.0, gt=0)
    """The first wait before retrying a failed clone; doubled each time up to the maximum."""
    workspace_retry_max_seconds: float = Field(default=300.0, gt=0)

    @model_validator(mode="after")
    def _fill_directories(self) -> AgentSettings:
        if self.state_dir is None:
            self.state_dir = self.volume_dir / "state"
        if self.work_dir is None:
            self.work_dir = self.volume_dir / "work"
        if self.home_dir is None:
            self.home_dir = self.volume_dir / "home"
        return self

    @property
    def state_path(self) -> Path:
        assert self.state_dir is not None  # filled by the validator
        return self.state_dir

    @property
    def work_path(self) -> Path:
        assert self.work_dir is not None  # filled by the validator
        return self.work_dir

    @property
    def home_path(self) -> Path:
        assert self.home_dir is not None  # filled by the validator
        return self.home_dir

    def resolve_token(self) -> str:
        """The bearer token, from `token` or `token_file`; raises ValueError if unusable."""
        if self.token is not None:
            token = self.token.get_secret_value().strip()
        elif self.token_file is not None:
            token = self.token_file.read_text().strip()
        else:
            raise ValueError("set CLAUDE_POOL_AGENT_TOKEN or CLAUDE_POOL_AGENT_TOKEN_FILE")
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"the agent token must have at least {MIN_TOKEN_CHARS} characters")
        return token

    def resolve_claude_bin(self) -> str:
        """The CLI's path; raises FileNotFoundError when it cannot be found."""
        found = shutil.which(self.claude_bin)
        if found is None:
            raise FileNotFoundError(f"Claude CLI not found: {self.claude_bin}")
        return found
