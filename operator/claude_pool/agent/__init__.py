"""claude_pool.agent."""
