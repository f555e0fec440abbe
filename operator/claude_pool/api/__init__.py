"""claude_pool.api."""
