"""Resolve what a slot runs: pool defaults + task overrides -> the agent's `TaskRequest`.

Pure; called by the pool worker when it starts a task. The seed's rules
(notes/seed-claude-pool.md 2.4): scalars task > pool, permission mode falls back to `plan`;
allowed tools are the pool's then the task's (order kept); disallowed tools and tools are
the task's, else the pool's; MCP servers merge by name with the task winning; the pool's
shared context becomes the "Shared Context" section the agent appends to the system prompt;
the budget cap is the task's own, else the reservation made for it under a pool limit;
`sessionPolicy` (task > pool, default fresh) says whether the run resumes the slot's last
session (`resumeSlot`, the seed's behaviour). Model aliases (haiku, sonnet, ...) become full
model ids (`models.resolve_model`), so the CLI runs the model asked for in every permission
mode.
"""

from __future__ import annotations

from collections.abc import Mapping

from claude_pool.api.agent import CliEffort, CliPermissionMode, ContextEntry, TaskRequest
from claude_pool.api.claude import ClaudeSettings, SessionPolicy, TaskOverrides
from claude_pool.api.pools import ClaudePool
from claude_pool.workflows.models import MODEL_ALIASES, resolve_model


def resolve_request(
    pool: ClaudePool,
    prompt: str,
    overrides: TaskOverrides | None,
    *,
    timeout_seconds: int | None,
    slot_session: str | None = None,
    budget_cap: int | None = None,
    aliases: Mapping[str, str] = MODEL_ALIASES,
) -> TaskRequest:
    """The request that runs `prompt` on one of `pool`'s slots.

    `slot_session` is the session the slot's last successful run left (None: unknown); it is
    resumed only under `sessionPolicy: resumeSlot`. `budget_cap` is what the dispatcher
    reserved for the run: the CLI is stopped there (--max-budget-usd), so a run never costs
    much more than its reservation. `aliases` is the model alias table
    (`models.alias_table(settings.model_aliases)`)."""
    base: ClaudeSettings = pool.spec.claude
    task = overrides or TaskOverrides()
    mode = task.permission_mode or base.permission_mode
    permission = CliPermissionMode(mode.value) if mode else CliPermissionMode.PLAN
    effort = task.effort or base.effort
    policy = task.session_policy or base.session_policy or SessionPolicy.FRESH
    resume = slot_session if policy is SessionPolicy.RESUME_SLOT else None
    system_parts = [p for p in (base.append_system_prompt, task.append_system_prompt) if p]
    return TaskRequest(
        prompt=prompt,
        model=resolve_model(task.model or base.model, permission, aliases),
        fallback_model=resolve_model(
            task.fallback_model or base.fallback_model, permission, aliases
        ),
        permission_mode=permission,
        max_turns=task.max_turns or base.max_turns,
        allowed_tools=[*(base.allowed_tools or []), *(task.allowed_tools or [])],
        disallowed_tools=list(task.disallowed_tools or base.disallowed_tools or []),
        tools=task.tools if task.tools is not None else base.tools,
        effort=CliEffort(effort.value) if effort else None,
        append_system_prompt="\n\n".join(system_parts) or None,
        context=[ContextEntry(key=k, value=v) for k, v in (pool.spec.context or {}).items()],
        json_schema=task.json_schema,
        max_budget_microdollars=task.max_budget_microdollars or budget_cap or None,
        mcp_servers={**(base.mcp_servers or {}), **(task.mcp_servers or {})},
        resume_session_id=resume,
        timeout_seconds=timeout_seconds,
    )
