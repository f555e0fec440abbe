"""The slot agent: a small HTTP server in each slot pod that runs the Claude CLI for the operator.

Started by `python -m claude_pool agent` (`main`). It imports only `claude_pool.api` (checked
by import-linter) and holds no Kubernetes credentials. Modules: `settings` (environment),
`server` (HTTP API) over `slot` (one task at a time) over `runner` (the CLI process), with
the pure `argv`, `environment`, `events` and `redaction`, and `store` (results on the volume).
The contract is slot-image/README.md.
"""
