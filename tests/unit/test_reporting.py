"""A finished run's extras: requested/resolved model, denied tool uses, the model check."""

from __future__ import annotations

from claude_pool.api.agent import AgentResult, DeniedToolUse, TaskRequest
from claude_pool.api.reasons import TaskReason
from claude_pool.api.results import TaskResult as StatusResult
from claude_pool.workflows.reporting import run_report

HAIKU = "claude-haiku-4-5-20251001"


def request(model: str | None = HAIKU) -> TaskRequest:
    return TaskRequest(prompt="x", model=model)


def test_the_result_says_what_was_asked_for_what_the_cli_got_and_that_it_ran() -> None:
    report = run_report("haiku", request(), AgentResult(success=True, model=HAIKU))
    assert report.result_fields == {
        "requestedModel": "haiku",
        "resolvedModel": HAIKU,
        "permissionDenials": [],
    }
    assert report.model_check is not None and not report.model_check.mismatch
    assert report.mismatch_event is None
    assert report.denial_event is None
    # the fields fit the status model the CRD is generated from
    status = StatusResult.model_validate({"success": True, **report.result_fields})
    assert status.resolved_model == HAIKU


def test_another_model_answering_gives_the_condition_and_a_warning() -> None:
    report = run_report("haiku", request(), AgentResult(success=True, model="claude-sonnet-5"))
    assert report.model_check is not None
    assert report.model_check.reason is TaskReason.OTHER_MODEL_USED
    assert report.mismatch_event == (
        f"{HAIKU} was requested but claude-sonnet-5 answered (and was billed)"
    )


def test_denied_tool_uses_are_listed_and_summed_up_in_the_warning() -> None:
    uses = [DeniedToolUse(tool="Write", target="/w/a.py")] + [
        DeniedToolUse(tool="Bash", target=f"rm {i}") for i in range(6)
    ]
    report = run_report(None, request(None), AgentResult(success=True, denied_tool_uses=uses))
    assert "requestedModel" not in report.result_fields
    assert report.model_check is None
    assert report.result_fields["permissionDenials"][0] == {"tool": "Write", "target": "/w/a.py"}
    assert len(report.result_fields["permissionDenials"]) == 7
    assert report.denial_event == (
        "the CLI denied 7 tool uses for lack of permission: Write /w/a.py; Bash rm 0; Bash rm 1;"
        " Bash rm 2; Bash rm 3; and 2 more. Allow them with allowedTools or another"
        " permissionMode."
    )


def test_one_denial_is_one_tool_use() -> None:
    uses = [DeniedToolUse(tool="Edit")]
    report = run_report(None, request(None), AgentResult(success=True, denied_tool_uses=uses))
    assert report.denial_event is not None
    assert report.denial_event.startswith("the CLI denied 1 tool use for lack of permission: Edit.")
