"""claude_pool.budget."""
