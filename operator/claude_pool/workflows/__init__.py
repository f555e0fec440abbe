"""claude_pool.workflows."""
