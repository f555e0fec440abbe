"""The Claude CLI's per-model prices, to predict the `total_cost_usd` of a fake-API run.

Called by tests that check cost and budget accounting (the fake API's, the operator's).
Figures are the CLI's own (2.1.197, measured in notes/claude-cli.md §4): the CLI prices a
call by the *requested* model, linearly, per million tokens. Unknown models cost like opus.
"""

from __future__ import annotations

from dataclasses import dataclass

from claude_pool.workflows.models import MODEL_ALIASES


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float  # the 5-minute cache write


ALIASES = dict(MODEL_ALIASES)
"""The CLI's aliases (the operator resolves them the same way before the CLI sees them)."""
PRICES = {
    "claude-sonnet-5": Price(3, 15, 0.30, 3.75),
    "claude-opus-4-8": Price(5, 25, 0.50, 6.25),
    "claude-haiku-4-5-20251001": Price(1, 5, 0.10, 1.25),
    "claude-fable-5": Price(10, 50, 1, 12.50),
}


def price_of(model: str) -> Price:
    """The price of a model alias or id; unknown ids are priced like opus."""
    model_id = ALIASES.get(model, model).removesuffix("[1m]")  # no long-context surcharge
    return PRICES.get(model_id, PRICES["claude-opus-4-8"])


def cost_usd(
    model: str, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0
) -> float:
    """The CLI's cost figure for one call (sum the calls of a run)."""
    p = price_of(model)
    total = (
        input_tokens * p.input
        + output_tokens * p.output
        + cache_read * p.cache_read
        + cache_write * p.cache_write
    )
    return total / 1_000_000


def cost_microdollars(model: str, input_tokens: int, output_tokens: int) -> int:
    """The same, rounded to integer microdollars (the operator's money unit)."""
    return round(cost_usd(model, input_tokens, output_tokens) * 1_000_000)
