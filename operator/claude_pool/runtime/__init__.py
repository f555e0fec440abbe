"""claude_pool.runtime."""
