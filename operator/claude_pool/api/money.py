"""Money in the API: integer microdollars, and exact conversion from and to dollar strings.

One representation on the wire: every amount is an integer number of microdollars
(1 USD = 1_000_000 µ$) in a field whose name ends in `Microdollars` (`spec.budget.
limitMicrodollars`, `status.result.costMicrodollars`). Integers are exact, compare in CEL
and never round, which the budget ledger needs; the seed uses the same unit. Nothing in the
API is a float.

Humans type dollars: the CLI, the SDK and the printer columns convert with `parse_dollars`
("12.50" -> 12_500_000, exact, via Decimal) and `format_dollars` (12_500_000 -> "12.50").
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import Field

MICRODOLLARS_PER_DOLLAR = 1_000_000
MAX_MICRODOLLARS = 10**15
"""Largest amount the API accepts: one billion dollars."""
DOLLARS_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,6})?$"
"""A non-negative decimal dollar amount with at most six decimals (exact in microdollars)."""

Microdollars = Annotated[int, Field(ge=0, le=MAX_MICRODOLLARS, strict=True)]
"""A non-negative amount of money in microdollars (strict: floats and strings are refused)."""

_DOLLARS = re.compile(DOLLARS_PATTERN)


class MoneyError(ValueError):
    """A dollar amount that cannot be represented exactly as microdollars."""


def parse_dollars(text: str) -> int:
    """Convert a decimal dollar string ("12.50", "$0.000001") to microdollars, exactly.

    Refuses floats (they are not exact), negative amounts, more than six decimals, exponents
    and anything else that is not a plain decimal number.
    """
    if not isinstance(text, str):
        raise MoneyError(f"a dollar amount must be a decimal string, not {type(text).__name__}")
    candidate = text.strip().removeprefix("$")
    if not _DOLLARS.fullmatch(candidate):
        raise MoneyError(
            f"{text!r} is not a dollar amount: use digits with up to six decimals, e.g. 12.50"
        )
    micro = Decimal(candidate) * MICRODOLLARS_PER_DOLLAR
    if micro > MAX_MICRODOLLARS:
        raise MoneyError(f"{text!r} is above the maximum of {format_dollars(MAX_MICRODOLLARS)}")
    return int(micro)


def format_dollars(microdollars: int) -> str:
    """Render microdollars as dollars with at least two and at most six decimals (exact)."""
    if microdollars < 0:
        return "-" + format_dollars(-microdollars)
    whole, fraction = divmod(microdollars, MICRODOLLARS_PER_DOLLAR)
    digits = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{whole}.{digits}"
