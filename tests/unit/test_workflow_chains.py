"""Chains as child tasks: templates, retries, recovery, cancel, progress, resuming from status."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from typing import Any

from claude_pool.api.composites import ItemPhase
from claude_pool.api.conditions import get_condition
from claude_pool.api.phases import TaskPhase
from claude_pool.api.tasks import ClaudeTask
from claude_pool.workflows.children import ChildView
from claude_pool.workflows.rollup import reconcile
from tests.workflow_sim import T0, Finish, Sim, composite


def chain(*steps: dict[str, Any], **spec: Any) -> ClaudeTask:
    return composite(chain={"steps": list(steps)}, **spec)


def echo(task: ClaudeTask) -> Finish:
    return Finish(output=f"<{task.spec.prompt}>")


def reason_of(task: ClaudeTask, kind: str) -> str | None:
    found = get_condition(task.status.conditions, kind)
    return found.reason if found is not None else None


def test_output_vars_feed_later_steps_and_unknown_references_stay_verbatim() -> None:
    plan_json = json.dumps({"files": ["a.py", "b.py"], "meta": {"count": 2}, "title": "Fix"})

    def leaf(task: ClaudeTask) -> Finish:
        if task.spec.prompt == "Plan.":
            return Finish(output=plan_json)
        return echo(task)

    sim = Sim(leaf=leaf)
    sim.add(
        chain(
            {
                "name": "plan",
                "prompt": "Plan.",
                "outputVars": {"files": "files", "n": "meta.count", "t": "title", "all": "."},
            },
            {"name": "build", "prompt": "Build {steps.plan.t}: {steps.plan.files} x{steps.plan.n}"},
            {"name": "check", "prompt": "Check {previous_output} {steps.plan.missing} {steps.x.y}"},
        )
    )
    parent = sim.run()
    assert sim.get("p-build").spec.prompt == 'Build Fix: ["a.py","b.py"] x2'
    assert sim.get("p-check").spec.prompt == (
        'Check <Build Fix: ["a.py","b.py"] x2> {steps.plan.missing} {steps.x.y}'
    )
    status = parent.status
    assert status.phase is TaskPhase.SUCCEEDED
    assert status.result is not None
    assert (
        status.result.output
        == '<Check <Build Fix: ["a.py","b.py"] x2> {steps.plan.missing} {steps.x.y}>'
    )
    assert status.steps[0].vars == {
        "files": '["a.py","b.py"]',
        "n": "2",
        "t": "Fix",
        "all": plan_json.replace(" ", ""),
    }
    assert [s.phase for s in status.steps] == [ItemPhase.SUCCEEDED] * 3
    assert status.cost_microdollars == 300
    assert status.progress is not None and status.progress.completed_steps == 3


def test_a_retry_that_succeeds_is_a_new_child_named_after_the_attempt() -> None:
    tries: dict[str, int] = {}

    def leaf(task: ClaudeTask) -> Finish:
        tries[task.spec.prompt or ""] = tries.get(task.spec.prompt or "", 0) + 1
        if tries[task.spec.prompt or ""] == 1:
            return Finish(success=False, output="flaky", cost=30)
        return echo(task)

    sim = Sim(leaf=leaf)
    sim.add(chain({"name": "only", "prompt": "go", "retries": 2}))
    status = sim.run().status
    assert sim.created == ["p-only", "p-only.1"]
    assert status.steps[0].attempts == 2 and status.steps[0].phase is ItemPhase.SUCCEEDED
    assert status.cost_microdollars == 130


def test_after_the_retries_the_recovery_prompt_runs_with_the_error() -> None:
    def leaf(task: ClaudeTask) -> Finish:
        if task.spec.prompt == "break":
            return Finish(success=False, output="disk full", cost=10)
        return echo(task)

    sim = Sim(leaf=leaf)
    sim.add(
        chain(
            {"name": "a", "prompt": "start"},
            {
                "name": "b",
                "prompt": "break",
                "retries": 1,
                "recoveryPrompt": "Recover from {error} after {previous_output}",
            },
            {"name": "c", "prompt": "end {previous_output}"},
        )
    )
    status = sim.run().status
    assert sim.created == ["p-a", "p-b", "p-b.1", "p-b.recovery", "p-c"]
    assert sim.get("p-b.recovery").spec.prompt == "Recover from boom: disk full after <start>"
    step = status.steps[1]
    assert (step.phase, step.attempts, step.recovered) == (ItemPhase.SUCCEEDED, 2, True)
    assert status.result is not None
    assert status.result.output == "<end <Recover from boom: disk full after <start>>>"
    assert status.phase is TaskPhase.SUCCEEDED


def test_a_failed_recovery_stops_the_chain_with_its_error_and_skips_the_rest() -> None:
    sim = Sim(
        leaf=lambda t: (
            Finish(success=False, output="nope", cost=5) if t.spec.prompt != "ok" else echo(t)
        )
    )
    sim.add(
        chain(
            {"name": "a", "prompt": "ok"},
            {"name": "b", "prompt": "x", "recoveryPrompt": "fix {error}"},
            {"name": "c", "prompt": "ok"},
        )
    )
    parent = sim.run()
    status = parent.status
    assert status.phase is TaskPhase.FAILED
    assert reason_of(parent, "Failed") == "ChildFailed"
    assert [s.phase for s in status.steps] == [
        ItemPhase.SUCCEEDED,
        ItemPhase.FAILED,
        ItemPhase.SKIPPED,
    ]
    assert status.result is not None and status.result.output == "boom: nope"
    assert "p-c" not in sim.created


def test_a_step_without_recovery_fails_the_chain_after_its_retries() -> None:
    sim = Sim(leaf=lambda t: Finish(success=False, output="bad", cost=1))
    sim.add(chain({"name": "a", "prompt": "x", "retries": 2}, {"name": "b", "prompt": "y"}))
    status = sim.run().status
    assert sim.created == ["p-a", "p-a.1", "p-a.2"]
    assert status.steps[0].attempts == 3
    assert status.steps[1].phase is ItemPhase.SKIPPED
    assert status.cost_microdollars == 3


def test_cancel_mid_chain_cancels_the_step_skips_the_rest_and_keeps_the_last_output() -> None:
    sim = Sim(leaf=lambda t: echo(t) if t.spec.prompt == "one" else None)
    sim.add(
        chain(
            {"name": "a", "prompt": "one"},
            {"name": "b", "prompt": "two"},
            {"name": "c", "prompt": "three"},
        )
    )
    for _ in range(4):
        sim.cycle()
    parent = sim.get("p")
    assert parent.status.progress is not None
    assert parent.status.progress.current_step == "b"
    assert parent.status.progress.current_step_start_time is not None
    sim.add(parent.model_copy(update={"spec": parent.spec.model_copy(update={"cancel": True})}))
    done = sim.run()
    status = done.status
    assert status.phase is TaskPhase.CANCELLED
    assert [s.phase for s in status.steps] == [
        ItemPhase.SUCCEEDED,
        ItemPhase.CANCELLED,
        ItemPhase.SKIPPED,
    ]
    assert status.result is not None and status.result.output == "<one>"
    assert status.cost_microdollars == 100 + sim.cancel_cost
    assert status.progress is not None and status.progress.current_step is None


def test_a_timeout_stops_the_chain_like_a_cancel_but_fails_it() -> None:
    sim = Sim(leaf=lambda t: None)
    sim.add(chain({"name": "a", "prompt": "slow"}, timeoutSeconds=5))
    parent = sim.run(step=timedelta(seconds=2))
    assert parent.status.phase is TaskPhase.FAILED
    assert reason_of(parent, "Failed") == "Timeout"
    assert sim.get("p-a").spec.timeout_seconds == 5


def test_losing_status_writes_never_runs_a_step_twice_nor_skips_one() -> None:
    def leaf(task: ClaudeTask) -> Finish:
        if task.spec.prompt == "s3":
            return Finish(success=False, output="flaky")
        return Finish(output=json.dumps({"v": task.spec.prompt}))

    def run(lose: bool) -> tuple[str, list[str]]:
        rng = random.Random(3)
        sim = Sim(leaf=leaf)
        steps = [
            {
                "name": f"s{i}",
                "prompt": f"s{i}",
                "outputVars": {"v": "v"},
                "retries": 1,
                "recoveryPrompt": "r{error}",
            }
            for i in range(6)
        ]
        sim.add(chain(*steps))
        for _ in range(300):
            sim.cycle(lose_writes=lose and rng.random() < 0.6)
            if sim.get("p").status.phase is TaskPhase.SUCCEEDED:
                break
        assert set(sim.runs.values()) == {1}
        result = sim.get("p").status.result
        assert result is not None
        return result.output, sim.created

    assert run(lose=True) == run(lose=False)


def test_a_finished_step_whose_child_was_deleted_is_not_run_again() -> None:
    sim = Sim(leaf=echo)
    sim.add(chain({"name": "a", "prompt": "one"}, {"name": "b", "prompt": "two {previous_output}"}))
    for _ in range(3):
        sim.cycle()
    assert sim.get("p").status.steps[0].phase is ItemPhase.SUCCEEDED
    del sim.tasks["p-a"]
    status = sim.run().status
    assert sim.created.count("p-a") == 1 and sim.get("p-b").spec.prompt == "two <one>"
    assert status.phase is TaskPhase.SUCCEEDED


def test_a_lost_long_output_that_a_later_step_needs_fails_with_child_lost() -> None:
    parent = chain({"name": "a", "prompt": "one"}, {"name": "b", "prompt": "two {previous_output}"})
    first = reconcile(parent, {"p-a": ChildView("p-a", TaskPhase.SUCCEEDED, 5, "x" * 2000)}, now=T0)
    recorded = parent.model_copy(update={"status": first.status})
    assert first.create and first.status.steps[0].output_truncated
    lost = reconcile(recorded, {}, now=T0)
    assert lost.create == ()
    assert get_condition(lost.status.conditions, "Failed") is not None
    assert lost.status.conditions[-1].reason == "ChildLost"


def test_a_rendered_prompt_over_the_limit_fails_the_chain_with_invalid_spec() -> None:
    parent = chain(
        {"name": "a", "prompt": "one"},
        {"name": "b", "prompt": "{previous_output}{previous_output}"},
    )
    big = ChildView("p-a", TaskPhase.SUCCEEDED, 5, "y" * 40000)
    result = reconcile(parent, {"p-a": big}, now=T0)
    assert result.create == ()
    failed = get_condition(result.status.conditions, "Failed")
    assert failed is not None and failed.reason == "InvalidSpec"
    assert "step b cannot be created" in failed.message


def test_step_config_goes_over_the_task_config_and_the_budget_follows_the_spend() -> None:
    sim = Sim(leaf=lambda t: Finish(output="x", cost=300))
    sim.add(
        chain(
            {"name": "a", "prompt": "one", "config": {"model": "opus"}},
            {"name": "b", "prompt": "two", "config": {"maxBudgetMicrodollars": 100}},
            config={"model": "sonnet", "maxTurns": 3, "maxBudgetMicrodollars": 1000},
        )
    )
    sim.run()
    a, b = sim.get("p-a").spec.config, sim.get("p-b").spec.config
    assert a is not None and b is not None
    assert (a.model, a.max_turns, a.max_budget_microdollars) == ("opus", 3, 1000)
    assert (b.model, b.max_turns, b.max_budget_microdollars) == ("sonnet", 3, 100)


def test_step_names_that_are_no_dns_label_get_distinct_child_names() -> None:
    sim = Sim(leaf=echo)
    sim.add(
        chain(
            {"name": "Plan", "prompt": "1"},
            {"name": "plan", "prompt": "2"},
            {"name": "a_b", "prompt": "3"},
        )
    )
    assert sim.run().status.phase is TaskPhase.SUCCEEDED
    assert len(set(sim.created)) == 3
    assert "p-plan" in sim.created
    assert all(name == name.lower() and "_" not in name for name in sim.created)
    assert sim.get(sim.created[0]).metadata.labels["claudepool.io/step"] == "Plan"


def test_the_next_step_asks_for_the_slot_and_session_of_the_step_before() -> None:
    parent = chain({"name": "a", "prompt": "one"}, {"name": "b", "prompt": "two"})
    session = "0b6f6a0e-4c4b-4f57-9a40-5d3c1b2a1f01"
    done = ChildView("p-a", TaskPhase.SUCCEEDED, 5, "out", session_id=session, slot="pool-slot-1")
    result = reconcile(parent, {"p-a": done}, now=T0)
    [manifest] = result.create
    assert manifest["metadata"]["name"] == "p-b"
    assert manifest["metadata"]["annotations"] == {
        "claudepool.io/resume-session": session,
        "claudepool.io/preferred-slot": "pool-slot-1",
    }
    first = reconcile(parent, {}, now=T0).create[0]
    assert "annotations" not in first["metadata"]


def test_a_deleted_failed_attempt_is_not_created_again_when_a_later_one_exists() -> None:
    parent = chain({"name": "a", "prompt": "one", "retries": 2})
    later = ChildView("p-a.1", TaskPhase.FAILED, 5, "bad", message="bad")
    result = reconcile(parent, {"p-a.1": later}, now=T0)
    assert [m["metadata"]["name"] for m in result.create] == ["p-a.2"]
    assert result.status.steps[0].attempts == 3
