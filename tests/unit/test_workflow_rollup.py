"""The composite rollup: conditions, phase, summary, cost, long output, and no needless writes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from claude_pool.api.common import MAX_OUTPUT_LENGTH, dump
from claude_pool.api.conditions import get_condition
from claude_pool.api.phases import TaskPhase
from claude_pool.api.tasks import ClaudeTask, TaskMode
from claude_pool.workflows.children import ChildView
from claude_pool.workflows.plans import Stop
from claude_pool.workflows.rollup import reconcile, stop_reason
from tests.workflow_sim import T0, Finish, Sim, composite

MODES = {
    "fanOut": {"fan_out": {"prompts": ["a", "b", "c"], "maxParallel": 2}},
    "chain": {"chain": {"steps": [{"name": "a", "prompt": "1"}, {"name": "b", "prompt": "2"}]}},
    "auto": {"auto": {"prompt": "route me"}},
}


@pytest.mark.parametrize("mode", list(MODES))
def test_reconciling_again_without_news_changes_nothing_so_nothing_is_written(mode: str) -> None:
    sim = Sim(leaf=lambda t: None if t.spec.prompt != "a" else Finish(output="x"))
    sim.add(composite(**MODES[mode]))
    for _ in range(4):
        sim.cycle()
        parent, views = sim.get("p"), sim.children(sim.get("p"))
        first = reconcile(parent, views, now=sim.now)
        recorded = parent.model_copy(update={"status": first.status})
        again = reconcile(recorded, views, now=sim.now + timedelta(seconds=30))
        assert dump(again.status) == dump(first.status)
        assert again.create == first.create and again.cancel == first.cancel


def test_a_running_composite_is_admitted_running_and_counts_its_children() -> None:
    parent = composite(**MODES["fanOut"])
    views = {
        "p-0": ChildView("p-0", TaskPhase.SUCCEEDED, 120, "x"),
        "p-1": ChildView("p-1", TaskPhase.PENDING),
    }
    status = reconcile(parent, views, now=T0).status
    assert (status.mode, status.phase) == (TaskMode.FAN_OUT, TaskPhase.RUNNING)
    admitted = get_condition(status.conditions, "Admitted")
    assert admitted is not None and admitted.reason == "Composite"
    assert status.children is not None
    assert (status.children.total, status.children.pending, status.children.succeeded) == (2, 1, 1)
    assert (status.cost_microdollars, status.cost) == (120, "0.00012")
    assert status.progress is not None
    assert (status.progress.completed_steps, status.progress.total_steps) == (1, 3)
    assert status.start_time == T0 and status.completion_time is None


def test_a_long_combined_output_goes_to_the_output_config_map() -> None:
    parent = composite(fan_out={"prompts": ["a", "b"]})
    text = "z" * MAX_OUTPUT_LENGTH
    views = {n: ChildView(n, TaskPhase.SUCCEEDED, 1, text) for n in ("p-0", "p-1")}
    result = reconcile(parent, views, now=T0)
    assert result.long_output is not None and result.long_output.startswith("[0] zzz")
    assert result.status.result is not None
    assert result.status.result.output_truncated is True
    assert result.status.result.output_ref == "p-output"
    assert result.status.result.output_size == len(result.long_output)
    assert len(result.status.result.output) == MAX_OUTPUT_LENGTH


def test_a_finished_parent_is_left_alone() -> None:
    sim = Sim()
    sim.add(composite(**MODES["chain"]))
    parent = sim.run()
    later = reconcile(parent, {}, now=sim.now + timedelta(hours=1))
    assert (later.create, later.cancel, later.status) == ((), (), parent.status)


def test_stop_reason_is_cancel_first_then_the_timeout_from_the_start() -> None:
    parent = composite(timeoutSeconds=10, **MODES["auto"])
    assert stop_reason(parent, T0) is None
    started = parent.model_copy(
        update={"status": parent.status.model_copy(update={"start_time": T0})}
    )
    assert stop_reason(started, T0 + timedelta(seconds=9)) is None
    assert stop_reason(started, T0 + timedelta(seconds=10)) is Stop.TIMEOUT
    cancelled = started.model_copy(
        update={"spec": started.spec.model_copy(update={"cancel": True})}
    )
    assert stop_reason(cancelled, T0) is Stop.CANCEL


def test_a_single_task_is_refused() -> None:
    single = ClaudeTask.model_validate(
        {"metadata": {"name": "s"}, "spec": {"poolRef": {"name": "p"}, "prompt": "x"}}
    )
    with pytest.raises(ValueError, match="not a composite"):
        reconcile(single, {}, now=T0)
