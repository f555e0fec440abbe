"""What a finished run adds to its task's status and events beyond the agent's raw result.

Pure; for the pool worker (`runtime.recording`), when it records a finished run (with the task's
spec model as written, the `TaskRequest` it sent and the agent's `AgentResult`). `run_report`
gives the extra `status.result` fields (requested and resolved model, the denied tool uses),
the ModelMismatch condition to set (when the model that answered is not the one requested),
and the messages of the Warning Events that say so, so a user sees why a plan-mode task did
nothing, or why it cost more than the model they chose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claude_pool.api import agent
from claude_pool.api.common import dump, plural
from claude_pool.api.results import MAX_DENIAL_TARGET, MAX_DENIALS, PermissionDenial
from claude_pool.workflows.models import ModelCheck, check_model

DENIALS_IN_MESSAGE = 5


@dataclass(frozen=True)
class RunReport:
    """The extras of one finished run."""

    result_fields: dict[str, Any]
    """camelCase fields to merge into status.result (requestedModel, resolvedModel,
    permissionDenials)."""
    model_check: ModelCheck | None
    """For the ModelMismatch condition; None when there is nothing to compare."""
    mismatch_event: str | None
    """Message of the ModelMismatch Warning Event, when the models differ."""
    denial_event: str | None
    """Message of the PermissionDenied Warning Event, when the CLI denied tool uses."""


def denials(result: agent.AgentResult) -> list[PermissionDenial]:
    """The denied tool uses, in status form (bounded)."""
    return [
        PermissionDenial(tool=use.tool[:256], target=use.target[:MAX_DENIAL_TARGET])
        for use in result.denied_tool_uses[:MAX_DENIALS]
    ]


def denial_message(found: list[PermissionDenial]) -> str:
    """E.g. `the CLI denied 2 tool uses (permission mode): Write /w/a.py; Bash rm -rf x`."""
    shown = "; ".join(f"{d.tool} {d.target}".strip() for d in found[:DENIALS_IN_MESSAGE])
    more = len(found) - DENIALS_IN_MESSAGE
    tail = f"; and {more} more" if more > 0 else ""
    return (
        f"the CLI denied {plural(len(found), 'tool use')} for lack of permission: {shown}{tail}."
        " Allow them with allowedTools or another permissionMode."
    )


def run_report(
    requested_model: str | None, request: agent.TaskRequest, result: agent.AgentResult
) -> RunReport:
    """The extras of `result`, the run of `request` for a task that asked for
    `requested_model` (the pool's or task's spec value, alias or id)."""
    found = denials(result)
    fields: dict[str, Any] = {
        "requestedModel": requested_model,
        "resolvedModel": request.model,
        "permissionDenials": [dump(d) for d in found],
    }
    check = check_model(request.model, request.fallback_model, result.model)
    return RunReport(
        result_fields={k: v for k, v in fields.items() if v is not None},
        model_check=check,
        mismatch_event=check.message if check is not None and check.mismatch else None,
        denial_event=denial_message(found) if found else None,
    )
