"""How the CLI prints objects: kubectl-like tables (rich), or JSON / YAML for scripts.

Called by the command modules. Tables go to stdout without borders, headers in capitals,
like `kubectl get`; `-o json|yaml` prints the API models by their wire names.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from claude_pool.api.money import format_dollars
from claude_pool.api.pools import ClaudePool
from claude_pool.api.tasks import ClaudeTask, task_mode
from claude_pool.sdk.summaries import PoolSummary, task_phase

TABLE_WIDTH = 1000
"""Tables are never cut to the terminal's width: long rows wrap in the terminal, as
kubectl's do, and a pipe gets every column whole."""
stdout = Console(soft_wrap=True, highlight=False, width=TABLE_WIDTH)
stderr = Console(stderr=True, highlight=False)


class Format(StrEnum):
    """-o/--output."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"
    NAME = "name"


def wire(value: Any) -> Any:
    """Models and lists of models as JSON-ready data (camelCase, unset fields left out)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, list | tuple):
        return [wire(item) for item in value]
    if isinstance(value, dict):
        return {key: wire(item) for key, item in value.items()}
    return value


def emit(value: Any, fmt: Format) -> None:
    """Print data as JSON or YAML (plain print: no markup, no wrapping)."""
    data = wire(value)
    if fmt == Format.YAML:
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
    else:
        print(json.dumps(data, indent=2, ensure_ascii=False))


def print_table(table: Table) -> None:
    """A table on stdout, without the padding rich leaves at the end of each line."""
    with stdout.capture() as captured:
        stdout.print(table)
    print("\n".join(line.rstrip() for line in captured.get().splitlines()))


def table_of(*headers: str) -> Table:
    """An empty kubectl-like table with these column headers."""
    return _table(*headers)


def _table(*headers: str) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, no_wrap=True)
    return table


def age(created: dt.datetime | None, now: dt.datetime) -> str:
    """kubectl's short age: 45s, 3m, 2h, 4d."""
    if created is None:
        return "<unknown>"
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def task_table(tasks: Sequence[ClaudeTask], now: dt.datetime) -> Table:
    table = _table("NAME", "POOL", "MODE", "PHASE", "SLOT", "COST", "AGE")
    for task in tasks:
        table.add_row(
            task.metadata.name,
            task.spec.pool_ref.name,
            str(task_mode(task.spec)),
            str(task_phase(task)),
            task.status.slot or "",
            format_dollars(task.status.cost_microdollars),
            age(task.metadata.creation_timestamp, now),
        )
    return table


def pool_table(pools: Sequence[ClaudePool], now: dt.datetime) -> Table:
    table = _table("NAME", "SLOTS", "READY", "IDLE", "BUSY", "SPENT", "SUSPENDED", "AGE")
    for pool in pools:
        status = pool.status
        table.add_row(
            pool.metadata.name,
            str(pool.spec.slots),
            str(status.ready_slots),
            str(status.idle_slots),
            str(status.busy_slots),
            format_dollars(status.budget.spent_microdollars),
            str(pool.spec.suspend).lower(),
            age(pool.metadata.creation_timestamp, now),
        )
    return table


def status_table(summaries: Sequence[PoolSummary]) -> Table:
    table = _table(
        "POOL", "SLOTS", "READY", "BUSY", "DRAINING", "QUEUED", "WAITING", "RUNNING",
        "SPENT", "RESERVED", "LIMIT", "STATE", "TASKS",
    )  # fmt: skip
    for s in summaries:
        limit = "-" if s.limit_microdollars is None else format_dollars(s.limit_microdollars)
        tasks = " ".join(f"{phase}={count}" for phase, count in s.tasks.items()) or "-"
        table.add_row(
            s.name, f"{s.replicas}/{s.slots}", str(s.ready), str(s.busy), str(s.draining),
            str(s.pending), str(s.waiting), str(s.running),
            format_dollars(s.spent_microdollars), format_dollars(s.reserved_microdollars),
            limit, s.state, tasks,
        )  # fmt: skip
    return table


def context_table(entries: dict[str, str]) -> Table:
    table = _table("KEY", "VALUE")
    for key, value in sorted(entries.items()):
        table.add_row(key, value)
    return table
