"""claude_pool.slots."""
