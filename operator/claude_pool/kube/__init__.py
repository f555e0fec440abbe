"""claude_pool.kube."""
