"""claude_pool.mcpserver: the MCP server (`claude-pool mcp`) for a coordinating Claude session."""
