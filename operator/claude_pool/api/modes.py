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
    """Each step in its slot's own directory."""
    WORKTREE = "worktree"
    """All steps in one git worktree created for the chain."""
    CLONE = "clone"
    """All steps in one clone of the repository created for the chain."""


class RoutePreference(StrEnum):
    """Which route an auto task should prefer (a hint; the router may choose otherwise)."""

    SINGLE = "single"
    PARALLEL = "parallel"
    CHAIN = "chain"


class FanOut(SpecModel):
    """Run every prompt as its own child task; the results are collected in order."""

    prompts: Annotated[list[Prompt], Field(min_length=1, max_length=MAX_FANOUT)]
    """The prompts, one child task each."""
    max_parallel: Annotated[int, Field(ge=1, le=MAX_FANOUT)] | None = None
    """Most children running at once; unlimited (up to free slots) when unset."""


class ChainStep(SpecModel):
    """One step of a chain. Its prompt may use {previous_output} and {steps.NAME.VAR}."""

    name: StepName
    """Unique name of the step."""
    prompt: Prompt
    """The step's prompt template."""
    config: TaskOverrides | None = None
    """Overrides for this step (on top of the task's spec.config)."""
    retries: Annotated[int, Field(ge=0, le=MAX_STEP_RETRIES)] = 0
    """Extra attempts when the step fails."""
    recovery_prompt: Prompt | None = None
    """Run once after the last failed attempt; may use {error} and {previous_output}."""
    output_vars: (
        Annotated[dict[str, Annotated[str, Field(max_length=256)]], Field(max_length=16)] | None
    ) = None
    """Variables taken from the step's JSON output: name -> dot path ("." = whole output)."""


class Chain(SpecModel):
    """Run steps one after another, each seeing the outputs before it."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.steps.all(s, self.steps.exists_one(t, t.name == s.name))",
                "spec.chain.steps names must be unique",
                field_path=".steps",
            )
        )
    )

    steps: Annotated[list[ChainStep], Field(min_length=1, max_length=MAX_CHAIN_STEPS)]
    """The steps, in order."""
    isolation: ChainIsolation | None = None
    """none, worktree or clone (effective with spec.workspace)."""

    @model_validator(mode="after")
    def _unique_names(self) -> Chain:
        names = [step.name for step in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("spec.chain.steps names must be unique")
        return self


class AutoHints(SpecModel):
    """Advice for the router (the seed's AutoHint)."""

    max_parallel: Annotated[int, Field(ge=1, le=MAX_FANOUT)] | None = None
    """Most prompts of a parallel route."""
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
    """Replaces the built-in routing system prompt (the seed's custom_prompt)."""


class Review(SpecModel):
    """A review gate: a finished result waits for approve or reject (seed 6.1)."""

    required: bool = False
    """Hold the result for review before the task succeeds."""
    max_rejections: Annotated[int, Field(ge=1, le=MAX_REJECTIONS)] = 3
    """Rejections after which the task fails (so it re-runs at most maxRejections-1 times)."""
    resume_session: bool = True
    """A re-run after a rejection resumes the rejected run's Claude session (on the same
    slot), so the model keeps its context; false starts a fresh session."""
