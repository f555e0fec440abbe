"""claude_pool.devenv."""
