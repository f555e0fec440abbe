"""claude_pool.api: the ClaudePool and ClaudeTask API (group claudepool.io, v1alpha1).

Pydantic models of the custom resources and the pure helpers around them; the bottom layer
that every other package (and the slot agent) may import. Nothing here talks to the cluster
or reads the clock.

- common: API identity, bounds (MAX_SLOTS, MAX_FANOUT, ...), base models, string types
- money: integer microdollars and exact dollar-string conversion
- conditions, reasons, phases: status conditions, their reasons, the derived task phase
- claude: CLI settings (pool defaults, task overrides)
- pools, tasks, modes, results: the resources' spec and status
- schema, crdgen: structural OpenAPI generation and `python -m claude_pool crds`
- failures, agent: failure reasons and the slot agent's wire contract
"""
