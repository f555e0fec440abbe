"""Auto-routing: the router child, parsing its answer, normalising, hints, fallback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from claude_pool.api.claude import PermissionMode, TaskOverrides
from claude_pool.api.composites import ChildRole
from claude_pool.api.conditions import get_condition
from claude_pool.api.modes import Auto, AutoHints, RoutePreference
from claude_pool.api.phases import TaskPhase
from claude_pool.api.tasks import ClaudeTask
from claude_pool.workflows.rollup import reconcile
from claude_pool.workflows.routeparsing import (
    Route,
    RouteError,
    decide_route,
    enforce,
    normalise,
    parse_answer,
)
from claude_pool.workflows.routing import (
    ROUTE_SCHEMA,
    ROUTER_MARKER,
    ROUTER_MAX_TURNS,
    ROUTER_PROMPT,
    render_hints,
    router_config,
    router_prompt,
)
from tests.workflow_sim import T0, Finish, Sim, composite

PARALLEL = {"route": "parallel", "prompts": ["a", "b"]}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(PARALLEL),
        "Sure:\n```json\n" + json.dumps(PARALLEL) + "\n```",
        "```\n" + json.dumps(PARALLEL) + "\n```",
        'I think {"route": "parallel", "prompts": ["a", "b"]} fits. {not json}',
        'x {"route": "parallel", "prompts": ["a", "b"]} y {"route": "single"}',
        json.dumps({"type": "result", "subtype": "success", "result": json.dumps(PARALLEL)}),
    ],
    ids=["plain", "json-fence", "bare-fence", "braces", "first-of-two", "envelope"],
)
def test_the_answer_text_is_parsed_tolerantly(text: str) -> None:
    assert parse_answer(None, text) == PARALLEL


def test_brace_matching_skips_braces_inside_strings() -> None:
    text = 'answer: {"route": "single", "prompt": "use {x} and \\"}\\" here"} done'
    assert parse_answer(None, text) == {"route": "single", "prompt": 'use {x} and "}" here'}


def test_structured_output_is_taken_first() -> None:
    assert parse_answer({"route": "single", "prompt": "s"}, "garbage") == {
        "route": "single",
        "prompt": "s",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no decision here", "could not find a routing decision"),
        (json.dumps({"type": "result", "subtype": "error_max_turns"}), "error_max_turns"),
    ],
)
def test_unparseable_answers_raise_a_route_error(text: str, message: str) -> None:
    with pytest.raises(RouteError, match=message):
        parse_answer(None, text)


@pytest.mark.parametrize(
    ("answer", "route", "notes"),
    [
        ({"route": "single", "prompt": "  do it  "}, Route(RoutePreference.SINGLE, ("do it",)), []),
        (
            {"route": "parallel", "prompts": [" a ", "", "  ", "b"]},
            Route(RoutePreference.PARALLEL, ("a", "b")),
            ["dropped 2 blank prompts"],
        ),
        (
            {"route": "parallel", "prompts": ["only", ""]},
            Route(RoutePreference.SINGLE, ("only",)),
            ["dropped 1 blank prompts", "a parallel route of one item runs as single"],
        ),
        (
            {
                "route": "chain",
                "steps": [{"name": "x", "prompt": "1"}, {"name": "y", "prompt": " "}],
            },
            Route(RoutePreference.SINGLE, ("1",)),
            ["dropped 1 steps with blank prompts", "a chain route of one item runs as single"],
        ),
        (
            {
                "route": "chain",
                "steps": [
                    {"name": "a.b", "prompt": "1"},
                    {"name": "x", "prompt": "2"},
                    {"name": "x", "prompt": "3"},
                ],
            },
            Route(RoutePreference.CHAIN, ("1", "2", "3"), ("step-1", "x", "step-3")),
            ["step name 'a.b' renamed to step-1", "step name 'x' renamed to step-3"],
        ),
    ],
)
def test_normalising_trims_drops_blanks_and_collapses_single_items(
    answer: dict[str, Any], route: Route, notes: list[str]
) -> None:
    assert normalise(answer) == (route, notes)


@pytest.mark.parametrize(
    "answer",
    [
        {"route": "single", "prompt": " "},
        {"route": "parallel", "prompts": []},
        {"route": "chain"},
        {"route": "other"},
    ],
)
def test_nothing_runnable_is_a_route_error(answer: dict[str, Any]) -> None:
    with pytest.raises(RouteError):
        normalise(answer)


def test_hints_cut_routes_that_are_too_long_with_a_note() -> None:
    hints = AutoHints(max_parallel=2, max_chain_steps=1)
    parallel = Route(RoutePreference.PARALLEL, ("a", "b", "c"))
    assert enforce(parallel, hints) == (
        Route(RoutePreference.PARALLEL, ("a", "b")),
        ["the router gave 3 prompts; cut to 2 (maxParallel)"],
    )
    chain = Route(RoutePreference.CHAIN, ("1", "2"), ("s1", "s2"))
    assert enforce(chain, hints) == (
        Route(RoutePreference.SINGLE, ("1",)),
        ["the router gave 2 steps; cut to 1 (maxChainSteps)"],
    )
    assert enforce(parallel, None) == (parallel, [])
    many = Route(
        RoutePreference.CHAIN, tuple(str(i) for i in range(25)), tuple(f"s{i}" for i in range(25))
    )
    cut, notes = enforce(many, None)
    assert len(cut.prompts) == 20 and notes == [
        "the router gave 25 steps; cut to 20 (the API limit)"
    ]


def test_any_failure_falls_back_to_the_original_prompt_with_the_reason() -> None:
    failed = decide_route(None, "", "ServerError: 500", "orig", None)
    assert failed.route == Route(RoutePreference.SINGLE, ("orig",))
    assert failed.fallback_reason == "the routing call failed: ServerError: 500"
    garbage = decide_route(None, "hmm", None, "orig", None)
    assert garbage.fallback_reason is not None and "could not find" in garbage.fallback_reason
    good = decide_route(PARALLEL, "", None, "orig", AutoHints(max_parallel=5))
    assert (good.route.kind, good.fallback_reason, good.notes) == (
        RoutePreference.PARALLEL,
        None,
        (),
    )


def test_the_router_prompt_is_ours_unless_the_pool_or_task_replaces_it_and_hints_follow() -> None:
    assert ROUTER_MARKER in ROUTER_PROMPT and "<task>" in ROUTER_PROMPT
    hints = AutoHints(
        max_parallel=3,
        max_chain_steps=4,
        prefer=RoutePreference.CHAIN,
        domain="backend",
        decomposition_hints=["api", "db"],
    )
    rendered = render_hints(hints)
    assert rendered.splitlines()[4:] == [
        "- A parallel route has at most 3 prompts.",
        "- A chain route has at most 4 steps.",
        '- The user prefers the "chain" route; take another only when the task clearly needs it.',
        "- The task is about: backend.",
        "- Split along these lines if you split: api; db.",
    ]
    assert render_hints(AutoHints()) == "" == render_hints(None)
    assert router_prompt(Auto(prompt="x"), None) == ROUTER_PROMPT
    assert router_prompt(Auto(prompt="x"), "pool's") == "pool's"
    assert (
        router_prompt(Auto(prompt="x", router_prompt="task's", hints=hints), "pool's")
        == "task's" + rendered
    )


def test_the_router_runs_in_plan_mode_without_tools_for_two_turns_with_the_schema() -> None:
    parent = TaskOverrides(
        model="haiku", allowed_tools=["Bash"], json_schema={"type": "string"}, max_turns=50
    )
    config = router_config(parent, "PROMPT")
    assert config.permission_mode is PermissionMode.PLAN
    assert config.max_turns == ROUTER_MAX_TURNS == 2
    assert config.json_schema == ROUTE_SCHEMA
    assert config.allowed_tools is None and config.tools == []
    assert "Bash" in (config.disallowed_tools or [])
    assert (config.model, config.append_system_prompt) == ("haiku", "PROMPT")


# -- the auto task end to end, with the in-memory worker stand-in --------------------------


def routed(answer: dict[str, Any] | None, *, fail_router: bool = False, text: str = "") -> Any:
    def leaf(task: ClaudeTask) -> Finish:
        if task.metadata.labels.get("claudepool.io/role") == ChildRole.ROUTER:
            if fail_router:
                return Finish(success=False, output="API Error: 400", cost=3)
            return Finish(output=text or json.dumps(answer), cost=40, structured=answer)
        return Finish(output=f"<{task.spec.prompt}>", cost=100)

    return leaf


def auto(**auto_spec: Any) -> ClaudeTask:
    return composite(auto={"prompt": "Do the thing.", **auto_spec})


def test_a_parallel_route_runs_as_a_fan_out_child_and_the_router_cost_counts() -> None:
    sim = Sim(leaf=routed({"route": "parallel", "prompts": ["x", "y", "z"]}))
    sim.add(auto(hints={"maxParallel": 2}))
    parent = sim.run()
    status = parent.status
    assert status.phase is TaskPhase.SUCCEEDED
    assert status.route is RoutePreference.PARALLEL
    assert status.routing is not None
    assert (status.routing.router, status.routing.child, status.routing.items) == (
        "p-router",
        "p-route",
        2,
    )
    assert status.routing.notes == ["the router gave 3 prompts; cut to 2 (maxParallel)"]
    route = sim.get("p-route")
    assert route.spec.fan_out is not None and route.spec.fan_out.max_parallel == 2
    assert status.result is not None and status.result.output == "[0] <x>\n[1] <y>"
    assert status.cost_microdollars == 40 + 200
    router = sim.get("p-router")
    assert router.spec.prompt == "<task>\nDo the thing.\n</task>"
    assert router.spec.config is not None and router.spec.config.json_schema == ROUTE_SCHEMA


def test_a_chain_route_runs_as_a_chain_child() -> None:
    steps = [{"name": "find", "prompt": "find"}, {"name": "fix", "prompt": "fix {previous_output}"}]
    sim = Sim(leaf=routed({"route": "chain", "steps": steps}))
    sim.add(auto())
    status = sim.run().status
    assert status.route is RoutePreference.CHAIN
    assert status.result is not None and status.result.output == "<fix <find>>"
    assert {"p-route-find", "p-route-fix"} <= set(sim.created)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"answer": None, "text": "I would rather not."}, "could not find a routing decision"),
        ({"answer": None, "fail_router": True}, "the routing call failed"),
        ({"answer": {"route": "parallel", "prompts": []}}, "has no prompts"),
    ],
    ids=["garbage", "router-failed", "empty"],
)
def test_a_routing_failure_runs_the_original_prompt_as_a_single_task(
    kw: dict[str, Any], reason: str
) -> None:
    sim = Sim(leaf=routed(**kw))
    sim.add(auto())
    parent = sim.run()
    status = parent.status
    assert status.phase is TaskPhase.SUCCEEDED
    assert status.route is RoutePreference.SINGLE
    assert status.routing is not None and status.routing.fallback_reason is not None
    assert reason in status.routing.fallback_reason
    assert sim.get("p-route").spec.prompt == "Do the thing."
    assert status.result is not None and status.result.output == "<Do the thing.>"


def test_while_the_router_runs_the_task_says_routing_and_a_pool_prompt_is_used() -> None:
    sim = Sim(leaf=lambda t: None, pool_router_prompt="POOL ROUTER")
    sim.add(auto())
    sim.cycle()
    running = get_condition(sim.get("p").status.conditions, "Running")
    assert running is not None and running.reason == "Routing"
    config = sim.get("p-router").spec.config
    assert config is not None and config.append_system_prompt == "POOL ROUTER"


def test_a_failed_route_fails_the_task_with_the_routes_reason() -> None:
    def leaf(task: ClaudeTask) -> Finish:
        if task.metadata.labels.get("claudepool.io/role") == ChildRole.ROUTER:
            return Finish(output="", structured={"route": "parallel", "prompts": ["ok", "bad"]})
        return Finish(success=task.spec.prompt == "ok", output="o")

    sim = Sim(leaf=leaf)
    sim.add(auto())
    parent = sim.run()
    failed = get_condition(parent.status.conditions, "Failed")
    assert failed is not None and failed.reason == "PartialFailure"
    assert failed.message.startswith("the parallel route failed: 1 of 2 items failed")


def test_a_prompt_too_long_for_the_router_runs_as_a_single_task_without_routing() -> None:
    sim = Sim(leaf=lambda t: Finish(output="done"))
    sim.add(composite(auto={"prompt": "x" * 65536}))
    status = sim.run().status
    assert sim.created == ["p-route"]
    assert status.routing is not None and status.routing.router is None
    assert (
        status.routing.fallback_reason is not None and "too long" in status.routing.fallback_reason
    )
    assert status.phase is TaskPhase.SUCCEEDED


def test_an_auto_task_without_budget_left_fails_before_routing() -> None:
    parent = composite(auto={"prompt": "x"}, config={"maxBudgetMicrodollars": 1})
    result = reconcile(parent, {}, now=T0)
    assert result.create == ()
    failed = get_condition(result.status.conditions, "Failed")
    assert failed is not None and failed.reason == "BudgetExceeded"
