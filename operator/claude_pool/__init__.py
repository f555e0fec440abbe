"""claude-pool: a Kubernetes operator running a pool of Claude Code CLI slots."""
