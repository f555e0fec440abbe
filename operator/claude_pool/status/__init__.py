"""Task and pool status, rendered from the typed models of `claude_pool.api` (pure).

`status.tasks` returns a task's status transitions and `status.pools` the pool's whole
status, both as `ClaudeTaskStatus` / `ClaudePoolStatus` models dumped with
`model_dump(by_alias=True, exclude_none=True)`: what the operator writes is validated by the
same models the CRDs are generated from. Called by the pool worker (`runtime`).
"""
