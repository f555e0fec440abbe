"""Auto tasks: run the router as a child, then the route it chose as a second child (pure).

Called by `claude_pool.workflows.rollup.reconcile` for a task with spec.auto. Two children:
`<parent>-router` (a single task with the routing prompt, see `routing`) and, once it has
finished, `<parent>-route`: a single, fan-out or chain task built from the decision
(`routeparsing.decide_route`; any failure falls back to the original prompt as a single
task, and status.routing says why). The decision is a pure function of the router's result,
so after a crash it is made again, identically. The parent's cost is the router's plus the
route's; its output is the route's output.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from claude_pool.api.composites import ChildRole, RoutingStatus
from claude_pool.api.failures import FailureReason
from claude_pool.api.modes import Chain, ChainStep, FanOut, RoutePreference
from claude_pool.api.phases import TaskPhase
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskSpec
from claude_pool.workflows.children import ChildRef, ChildView, budget_share, inherited_spec
from claude_pool.workflows.plans import NewChild, Outcome, Plan, Progress, Stop, Verdict
from claude_pool.workflows.reruns import generation_of
from claude_pool.workflows.routeparsing import Route, RouteDecision, decide_route
from claude_pool.workflows.routing import router_config, router_prompt, router_task_prompt

TOO_LONG = "the prompt is too long to be sent to the router with its <task> tags"


def plan_auto(
    parent: ClaudeTask,
    children: Mapping[str, ChildView],
    stop: Stop | None,
    pool_router_prompt: str | None,
) -> tuple[Plan, RoutingStatus]:
    """The next step of an auto task, and its routing status to record."""
    auto = parent.spec.auto
    assert auto is not None
    name = parent.metadata.name
    rerun = generation_of(parent)
    router_ref = ChildRef(ChildRole.ROUTER, generation=rerun)
    route_ref = ChildRef(ChildRole.ROUTE, generation=rerun)
    router = children.get(router_ref.name(name))
    route = children.get(route_ref.name(name))
    recorded = parent.status.routing or RoutingStatus()
    routing = recorded.model_copy(update={"router": router_ref.name(name)})
    cap = parent.spec.config.max_budget_microdollars if parent.spec.config else None
    finished = sum(1 for v in (router, route) if v is not None and v.finished)
    progress = Progress(finished, 2)
    unfinished = tuple(v.name for v in (router, route) if v is not None and not v.finished)
    if stop is not None:
        if unfinished:
            return Plan(
                (), unfinished, None, progress, "stopping: cancelling the children"
            ), routing
        return _stopped(stop, route, progress), routing
    router_spec = _router_spec(
        parent, pool_router_prompt, budget_share(cap, committed=0, reserved=0, unstarted=2)
    )
    if router is None and router_spec is not None:
        if route is not None or recorded.route is not None:  # routed before; router not seen
            message = "waiting to see the router child again"
            return Plan((), (), None, progress, message), routing
        if router_spec.config is not None and router_spec.config.max_budget_microdollars == 0:
            return _budget_spent(progress), routing  # nothing left for even the router
        plan = Plan(
            (NewChild(router_ref, router_spec),), (), None, progress, "routing", routing=True
        )
        return plan, routing
    if router is None:  # the task cannot be routed at all: run it as it is
        routing = routing.model_copy(update={"router": None})
        decision = RouteDecision(Route(RoutePreference.SINGLE, (auto.prompt,)), (), TOO_LONG)
        committed = 0
    elif not router.finished:
        return Plan((), (), None, progress, "routing", routing=True), routing
    else:
        failed = router.phase is not TaskPhase.SUCCEEDED
        failure = f"{router.reason}: {router.message}" if failed else None
        decision = decide_route(
            router.structured_output, router.output, failure, auto.prompt, auto.hints
        )
        committed = router.cost_microdollars
    share = budget_share(cap, committed=committed, reserved=0, unstarted=1)
    spec, decision = _route_spec(parent, decision, share)
    routing = routing.model_copy(
        update={
            "route": decision.route.kind,
            "fallback_reason": decision.fallback_reason,
            "notes": list(decision.notes),
            "items": len(decision.route.prompts),
            "child": route_ref.name(name),
        }
    )
    label = f"route {decision.route.kind.value}"
    if route is None:
        if share == 0:
            return _budget_spent(progress), routing
        return Plan((NewChild(route_ref, spec),), (), None, progress, label), routing
    if not route.finished:
        return Plan((), (), None, progress, label), routing
    return _routed(route, decision, progress), routing


def _router_spec(
    parent: ClaudeTask, pool_router_prompt: str | None, share: int | None
) -> ClaudeTaskSpec | None:
    """The router child's spec; None when the task is too long to be wrapped for routing."""
    auto = parent.spec.auto
    assert auto is not None
    config = router_config(parent.spec.config, router_prompt(auto, pool_router_prompt))
    try:
        return inherited_spec(
            parent.spec,
            share,
            config=config,
            replace_config=True,
            prompt=router_task_prompt(auto.prompt),
        )
    except ValidationError:
        return None


def _route_spec(
    parent: ClaudeTask, decision: RouteDecision, share: int | None
) -> tuple[ClaudeTaskSpec, RouteDecision]:
    """The routed child's spec; a route that is no valid task falls back to single."""
    auto = parent.spec.auto
    assert auto is not None
    route = decision.route
    try:
        if route.kind is RoutePreference.PARALLEL:
            max_parallel = auto.hints.max_parallel if auto.hints else None
            fan_out = FanOut(prompts=list(route.prompts), max_parallel=max_parallel)
            return inherited_spec(parent.spec, share, fan_out=fan_out), decision
        if route.kind is RoutePreference.CHAIN:
            steps = [
                ChainStep(name=n, prompt=p) for n, p in zip(route.names, route.prompts, strict=True)
            ]
            return inherited_spec(parent.spec, share, chain=Chain(steps=steps)), decision
        return inherited_spec(parent.spec, share, prompt=route.prompts[0]), decision
    except ValidationError as exc:
        reason = (
            f"the router's {route.kind.value} route is not a valid task: {exc.errors()[0]['msg']}"
        )
        fallback = RouteDecision(Route(RoutePreference.SINGLE, (auto.prompt,)), (), reason)
        return inherited_spec(parent.spec, share, prompt=auto.prompt), fallback


def _routed(route: ChildView, decision: RouteDecision, progress: Progress) -> Plan:
    kind = decision.route.kind.value
    if route.phase is TaskPhase.SUCCEEDED:
        outcome = Outcome(
            Verdict.SUCCEEDED, TaskReason.COMPLETED, f"the {kind} route succeeded", route.output
        )
    else:
        reason = route.reason or TaskReason.CHILD_FAILED
        message = f"the {kind} route failed: {route.message}".rstrip(": ")
        outcome = Outcome(Verdict.FAILED, reason, message, route.output)
    return Plan((), (), outcome, progress, outcome.message)


def _stopped(stop: Stop, route: ChildView | None, progress: Progress) -> Plan:
    output = route.output if route is not None else ""
    if stop is Stop.CANCEL:
        outcome = Outcome(Verdict.CANCELLED, TaskReason.CANCEL_REQUESTED, "cancelled", output)
    else:
        outcome = Outcome(
            Verdict.FAILED, FailureReason.TIMEOUT, "spec.timeoutSeconds passed", output
        )
    return Plan((), (), outcome, progress, outcome.message)


def _budget_spent(progress: Progress) -> Plan:
    message = "spec.config.maxBudgetMicrodollars is spent"
    outcome = Outcome(Verdict.FAILED, FailureReason.BUDGET_EXCEEDED, message, "")
    return Plan((), (), outcome, progress, message)
