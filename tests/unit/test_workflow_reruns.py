"""Review of composite tasks: a success held for review, a rejection re-running the whole
composite as a new generation of children with the feedback in every prompt, costs of every
generation counted once, the max-th rejection failing, and a failure ending unreviewed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from claude_pool.api.common import MAX_OUTPUT_LENGTH, MAX_PROMPT_LENGTH, dump
from claude_pool.api.conditions import get_condition
from claude_pool.api.phases import TaskPhase
from claude_pool.api.reviews import ClaudeReview
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskStatus
from claude_pool.workflows.children import ChildRef, child_generation
from claude_pool.workflows.plans import Stop
from claude_pool.workflows.review import ReviewVerdict, apply_reviews, feedback_block
from claude_pool.workflows.rollup import reconcile, stop_reason
from tests.builders import review_manifest
from tests.workflow_sim import Finish, Sim, composite

GATE = {"required": True, "maxRejections": 2}


def until(sim: Sim, phase: TaskPhase, cycles: int = 100) -> ClaudeTask:
    for _ in range(cycles):
        sim.cycle()
        if sim.get("p").status.phase is phase:
            return sim.get("p")
    raise AssertionError(f"p never {phase}: {sim.get('p').status}")


def decide(sim: Sim, name: str, decision: str, feedback: str = "") -> ReviewVerdict:
    """Apply a ClaudeReview to p as the worker would (its patch merged into p's status)."""
    manifest = review_manifest(name, "p", decision, reviewer="bob", feedback=feedback)
    manifest["metadata"]["creationTimestamp"] = (sim.now + timedelta(seconds=1)).isoformat()
    sim.now += timedelta(seconds=2)
    parent = sim.get("p")
    (outcome,) = apply_reviews(
        parent, [ClaudeReview.model_validate(manifest)], four_eyes=False, now=sim.now
    )
    assert outcome.task_patch is not None
    merged = {**dump(parent.status), **outcome.task_patch}
    status = ClaudeTaskStatus.model_validate({k: v for k, v in merged.items() if v is not None})
    sim.tasks["p"] = parent.model_copy(update={"status": status})
    return outcome.verdict


def prompts(sim: Sim, names: list[str]) -> list[str | None]:
    return [sim.get(n).spec.prompt for n in names]


def test_a_fan_out_is_held_then_a_rejection_reruns_every_item_with_the_feedback() -> None:
    sim = Sim(leaf=lambda t: Finish(output=f"done: {t.spec.prompt}", cost=100))
    sim.add(composite(fan_out={"prompts": ["a", "b"]}, review=GATE))
    held = until(sim, TaskPhase.AWAITING_REVIEW)
    reviewed = get_condition(held.status.conditions, "Reviewed")
    assert reviewed is not None and reviewed.reason == "AwaitingReview"
    assert get_condition(held.status.conditions, "Succeeded") is None
    assert held.status.result is not None and held.status.result.success is True
    assert held.status.result.output == "[0] done: a\n[1] done: b"
    assert held.status.cost_microdollars == 200
    assert held.status.review is not None and held.status.review.state == "Pending"
    for _ in range(3):  # nothing more happens while it waits
        sim.cycle()
    assert sim.get("p").status == held.status and sorted(sim.created) == ["p-0", "p-1"]

    assert decide(sim, "r1", "reject", "cite {previous_output} sources") is ReviewVerdict.RERUN
    assert sim.get("p").status.phase is TaskPhase.RUNNING
    second = until(sim, TaskPhase.AWAITING_REVIEW)
    block = feedback_block(1, 2, "cite {previous_output} sources")
    assert sim.created == ["p-0", "p-1", "p-0.g1", "p-1.g1"]
    assert prompts(sim, ["p-0.g1", "p-1.g1"]) == ["a" + block, "b" + block]
    assert sim.get("p-0.g1").metadata.labels["claudepool.io/generation"] == "1"
    assert sim.get("p-0").metadata.labels["claudepool.io/generation"] == "0"
    assert second.status.cost_microdollars == 400, "both generations, each once"
    assert second.status.children is not None
    assert (second.status.children.generation, second.status.children.total) == (1, 2)
    assert [i.child for i in second.status.items] == ["p-0.g1", "p-1.g1"]
    assert second.status.result is not None and block in second.status.result.output

    assert decide(sim, "r2", "approve") is ReviewVerdict.APPROVED
    done = sim.get("p").status
    assert done.phase is TaskPhase.SUCCEEDED and done.cost_microdollars == 400
    assert [h.decision for h in done.review.history] == ["reject", "approve"]  # type: ignore[union-attr]
    assert sim.runs == {"p-0": 1, "p-1": 1, "p-0.g1": 1, "p-1.g1": 1}


def test_a_chain_gets_the_feedback_after_rendering_and_the_max_th_rejection_fails_it() -> None:
    steps = [
        {"name": "plan", "prompt": "plan it"},
        {"name": "do", "prompt": "do {previous_output}"},
    ]
    sim = Sim(leaf=lambda t: Finish(output="P", cost=50))
    sim.add(composite(chain={"steps": steps}, review=GATE))
    until(sim, TaskPhase.AWAITING_REVIEW)
    decide(sim, "r1", "reject", "mind {previous_output}")
    until(sim, TaskPhase.AWAITING_REVIEW)
    block = feedback_block(1, 2, "mind {previous_output}")
    assert prompts(sim, ["p-plan.g1", "p-do.g1"]) == ["plan it" + block, "do P" + block]
    assert sim.get("p").status.cost_microdollars == 200
    assert decide(sim, "r2", "reject", "still bad") is ReviewVerdict.FAILED
    failed = sim.get("p").status
    assert failed.phase is TaskPhase.FAILED
    message = "task rejected 2 times (max: 2). Last feedback: still bad"
    assert failed.result is not None and failed.result.failure is not None
    assert (failed.result.failure.reason, failed.result.failure.message) == ("Rejected", message)
    sim.cycle()
    assert len(sim.created) == 4, "a failed composite creates no third generation"


def test_fan_out_chains_and_auto_prompts_carry_the_feedback_before_the_run() -> None:
    chain = {"steps": [{"name": "s", "prompt": "one", "recoveryPrompt": "fix {error}"}]}
    sim = Sim(leaf=lambda t: Finish(output="ok", cost=10))
    sim.add(composite(fan_out={"chains": [chain]}, review=GATE))
    until(sim, TaskPhase.AWAITING_REVIEW)
    decide(sim, "r1", "reject", "shorter")
    until(sim, TaskPhase.AWAITING_REVIEW)
    item = sim.get("p-0.g1").spec.chain
    block = feedback_block(1, 2, "shorter")
    assert item is not None
    assert (item.steps[0].prompt, item.steps[0].recovery_prompt) == (
        "one" + block,
        "fix {error}" + block,
    )
    assert sim.get("p-0.g1-s").spec.prompt == "one" + block

    auto = Sim(leaf=lambda t: Finish(output='{"route": "single", "prompt": "x"}', cost=10))
    auto.add(composite(auto={"prompt": "route me"}, review=GATE))
    until(auto, TaskPhase.AWAITING_REVIEW)
    decide(auto, "r1", "reject", "again")
    until(auto, TaskPhase.AWAITING_REVIEW)
    router = auto.get("p-router.g1").spec.prompt or ""
    assert "route me" + feedback_block(1, 2, "again") in router
    assert "p-route.g1" in auto.created
    assert auto.get("p").status.cost_microdollars == 40


def test_a_failed_rollup_ends_failed_without_review() -> None:
    sim = Sim(leaf=lambda t: Finish(success=t.spec.prompt != "b", output="x"))
    sim.add(composite(fan_out={"prompts": ["a", "b"]}, review=GATE))
    status = sim.run().status
    assert status.phase is TaskPhase.FAILED
    assert get_condition(status.conditions, "Reviewed") is None
    assert status.review is None


def test_a_feedback_that_makes_a_prompt_too_long_fails_the_rerun_with_a_message() -> None:
    sim = Sim(leaf=lambda t: Finish(output="x"))
    sim.add(composite(fan_out={"prompts": ["a" * MAX_PROMPT_LENGTH]}, review=GATE))
    until(sim, TaskPhase.AWAITING_REVIEW)
    decide(sim, "r1", "reject", "more")
    status = sim.run().status
    failed = get_condition(status.conditions, "Failed")
    assert failed is not None and failed.reason == "InvalidSpec"
    assert failed.message.startswith("the prompts with the rejection feedback")
    assert status.cost_microdollars == 100


def test_the_timeout_of_a_rerun_counts_from_its_rejection() -> None:
    parent = composite(timeoutSeconds=60, fan_out={"prompts": ["a"]}, review=GATE)
    sim = Sim(leaf=lambda t: Finish(output="x"))
    sim.add(parent)
    until(sim, TaskPhase.AWAITING_REVIEW)
    sim.now += timedelta(hours=1)  # a long wait for the reviewer
    decide(sim, "r1", "reject", "again")
    rejected = sim.get("p")
    assert stop_reason(rejected, sim.now + timedelta(seconds=30)) is None
    assert stop_reason(rejected, sim.now + timedelta(seconds=60)) is Stop.TIMEOUT


def test_generation_suffixes_never_collide_with_first_generation_names() -> None:
    first: list[Any] = [
        ChildRef.item(3),
        ChildRef.step_attempt(0, "g1", 1),
        ChildRef.step_attempt(0, "plan", 1),
        ChildRef.recovery(0, "plan"),
    ]
    later = [
        ChildRef.item(3, 1),
        ChildRef.step_attempt(0, "g1", 1, 2),
        ChildRef.step_attempt(0, "plan", 0, 1),
        ChildRef.recovery(0, "plan", 1),
    ]
    names = [r.name("p") for r in first + later]
    assert len(set(names)) == len(names)
    assert [child_generation(r.name("p")) for r in first + later] == [0, 0, 0, 0, 1, 2, 1, 1]
    expected = ["p-3.g1", "p-g1.1.g2", "p-plan.g1", "p-plan.recovery.g1"]
    assert [r.name("p") for r in later] == expected


def test_reconciling_an_awaiting_parent_changes_nothing() -> None:
    sim = Sim(leaf=lambda t: Finish(output="x"))
    sim.add(composite(chain={"steps": [{"name": "a", "prompt": "1"}]}, review=GATE))
    held = until(sim, TaskPhase.AWAITING_REVIEW)
    again = reconcile(held, sim.children(held), now=sim.now + timedelta(days=1))
    assert (again.create, again.cancel, again.status) == ((), (), held.status)


def test_a_long_combined_output_of_a_rerun_gets_its_own_config_map() -> None:
    sim = Sim(leaf=lambda t: Finish(output="z" * MAX_OUTPUT_LENGTH, cost=1))
    sim.add(composite(fan_out={"prompts": ["a"]}, review=GATE))
    first = until(sim, TaskPhase.AWAITING_REVIEW).status.result
    assert first is not None and first.output_ref == "p-output"
    decide(sim, "r1", "reject", "shorter")
    second = until(sim, TaskPhase.AWAITING_REVIEW).status.result
    assert second is not None and second.output_ref == "p-output.g1"
    assert second.output_truncated is True
