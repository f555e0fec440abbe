"""claude_pool.cli."""
