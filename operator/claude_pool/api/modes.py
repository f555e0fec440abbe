"""The composite task modes of a ClaudeTask (fan-out, chain, auto) and its review gate.

Shapes follow the seed (notes/seed-claude-pool.md 2.8, 2.11, 4, 5, 6.1). The workflow logic
that runs them (templating, routing, review transitions) is in `claude_pool.workflows`;
these models only say what a user may ask for, with bounds and CEL rules the apiserver checks.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from claude_pool.api.claude import TaskOverrides
from claude_pool.api.common import (
    MAX_CHAIN_STEPS,
    MAX_FANOUT,
    MAX_REJECTIONS,
    MAX_STEP_RETRIES,
    STEP_NAME,
    LongText,
    Prompt,
    SpecModel,
    cel,
    validations,
)

StepName = Annotated[str, Field(min_length=1, max_length=63, pattern=STEP_NAME)]
"""A chain step name, referenced in later prompts as {steps.NAME.VAR}."""
Hint = Annotated[str, Field(min_length=1, max_length=256)]


class ChainIsolation(StrEnum):
    """Where a chain's steps work (the seed's ChainIsolation; needs spec.workspace)."""

    NONE = "none"
    """Each step works as a single task (its own worktree with a pool workspace)."""
    WORKTREE = "worktree"
    """All steps in one git worktree created for the chain."""
    CLONE = "clone"
    """All steps in one clone of the repository created for the chain (refused at admission:
    use worktree)."""


CLONE_REFUSED = (
    "spec.chain.isolation: clone is not supported: use worktree (all steps in one git"
    " worktree of the slot's clone; the pool needs spec.workspace) or none"
)


class RoutePreference(StrEnum):
    """Which route an auto task should prefer (a hint; the router may choose otherwise)."""

    SINGLE = "single"
    PARALLEL = "parallel"
    CHAIN = "chain"


class ChainStep(SpecModel):
    """One step of a chain. Its prompt may use {previous_output} and {steps.NAME.VAR}."""

    name: StepName
    """Unique name of the step."""
    prompt: Prompt
    """The step's prompt template."""
    config: TaskOverrides | None = None
    """Overrides for this step (on top of the task's spec.config)."""
    retries: Annotated[int, Field(ge=0, le=MAX_STEP_RETRIES)] = 0
    """Extra attempts when the step fails (0 to 10)."""
    recovery_prompt: Prompt | None = None
    """Run once after the last failed attempt; may use {error} and {previous_output}."""
    output_vars: (
        Annotated[dict[str, Annotated[str, Field(max_length=256)]], Field(max_length=16)] | None
    ) = None
    """Variables taken from the step's JSON output (its structured output when config.jsonSchema
    is set): name -> dot path ("." or "" = whole output), used as {steps.NAME.VAR}."""


class Chain(SpecModel):
    """Run steps one after another, each seeing the outputs before it."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.steps.all(s, self.steps.exists_one(t, t.name == s.name))",
                "spec.chain.steps names must be unique",
                field_path=".steps",
            ),
            cel(
                "!has(self.isolation) || self.isolation != 'clone'",
                CLONE_REFUSED,
            ),
        )
    )

    steps: Annotated[list[ChainStep], Field(min_length=1, max_length=MAX_CHAIN_STEPS)]
    """The steps, in order: 1 to 20."""
    isolation: ChainIsolation | None = None
    """none (each step works as a single task, whatever the pool's isolation) or worktree
    (all steps in one worktree of the pool's spec.workspace, kept between steps); clone is
    refused. Unset: the pool's spec.workspace.isolation decides."""

    @model_validator(mode="after")
    def _unique_names(self) -> Chain:
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("spec.chain.steps names must be unique")
        if self.isolation is ChainIsolation.CLONE:
            raise ValueError(CLONE_REFUSED)
        return self


class FanOut(SpecModel):
    """Run every item as its own child task; the results are collected in order.

    The items are either prompts (one single-prompt child each) or chains (one chain child
    each, the seed's fan_out_chains): exactly one of the two lists is set, of 1 to 256 items."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.prompts) != has(self.chains)",
                "set exactly one of spec.fanOut.prompts and spec.fanOut.chains",
            )
        )
    )

    prompts: Annotated[list[Prompt], Field(min_length=1, max_length=MAX_FANOUT)] | None = None
    """The prompts, one child task each: 1 to 256 prompts of up to 65536 characters."""
    chains: Annotated[list[Chain], Field(min_length=1, max_length=MAX_FANOUT)] | None = None
    """Chains, one child task each (that child runs the chain's steps as its own children):
    1 to 256 chains."""
    max_parallel: Annotated[int, Field(ge=1, le=MAX_FANOUT)] | None = None
    """Most children unfinished at once; all items at once (the pool's slots decide) when unset."""
    fail_fast: bool = False
    """On the first failed item create no further items and cancel the running ones. Without
    it every item runs and the task fails with PartialFailure, keeping every result."""

    @model_validator(mode="after")
    def _one_kind(self) -> FanOut:
        if (self.prompts is None) == (self.chains is None):
            raise ValueError("set exactly one of spec.fanOut.prompts and spec.fanOut.chains")
        return self

    def item_count(self) -> int:
        """How many items (children) the fan-out has."""
        return len(self.prompts or self.chains or [])


class AutoHints(SpecModel):
    """Hints for the router (the seed's AutoHint): all are written into the router's prompt,
    and the two limits are enforced, not only advised (a longer route is cut, with a note in
    status.routing.notes)."""

    max_parallel: Annotated[int, Field(ge=1, le=MAX_FANOUT)] | None = None
    """Most prompts of a parallel route; also the routed fan-out's maxParallel."""
    max_chain_steps: Annotated[int, Field(ge=1, le=MAX_CHAIN_STEPS)] | None = None
    """Most steps of a chain route."""
    prefer: RoutePreference | None = None
    """The preferred route."""
    domain: Hint | None = None
    """What the task is about, e.g. backend or security."""
    decomposition_hints: Annotated[list[Hint], Field(max_length=20)] | None = None
    """Suggested boundaries to split along."""


class Auto(SpecModel):
    """Let a routing call choose single, parallel (fan-out) or chain, then run that."""

    prompt: Prompt
    """The task to route and run."""
    hints: AutoHints | None = None
    """Advice for the router."""
    router_prompt: LongText | None = None
    """Replaces the routing prompt (the seed's custom_prompt); wins over the pool's
    spec.routerPrompt, which wins over the built-in one. The hints are appended to it."""


class Review(SpecModel):
    """A review gate: a finished result waits for approve or reject (seed 6.1): a person
    creates a ClaudeReview naming the task."""

    required: bool = False
    """Hold a successful result in phase AwaitingReview until a ClaudeReview decides. A
    fan-out, chain or auto task is reviewed on its combined result; a rejection re-runs all
    of it as new child tasks (suffix .g<n>) with the feedback in every prompt."""
    max_rejections: Annotated[int, Field(ge=1, le=MAX_REJECTIONS)] = 3
    """Rejections after which the task fails (so it re-runs at most maxRejections-1 times);
    1 to 20."""
    resume_session: bool = True
    """A re-run after a rejection resumes the rejected run's Claude session (on the same
    slot), so the model keeps its context; false starts a fresh session. Single-prompt
    tasks only: a composite's new children start their own sessions."""
