"""claude_pool.scheduling."""
