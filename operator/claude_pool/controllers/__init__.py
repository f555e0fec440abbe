"""claude_pool.controllers."""
