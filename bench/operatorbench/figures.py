"""The figures a benchmark run reports: printed as they come, then as a table.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


@dataclass
class Figure:
    group: str
    label: str
    value: str
    target: str = ""
    ok: bool | None = None


FIGURES: list[Figure] = []


def figure(group: str, label: str, value: str, target: str = "", ok: bool | None = None) -> None:
    FIGURES.append(Figure(group, label, value, target, ok))
    verdict = "" if ok is None else ("PASS" if ok else "MISS")
    print(f"  [{group}] {label}: {value}  {target}  {verdict}".rstrip(), flush=True)


def note(text: str) -> None:
    print(f"  {text}", flush=True)


def print_table() -> None:
    rows = [
        (f.group, f.label, f.value, f.target, "" if f.ok is None else ("PASS" if f.ok else "MISS"))
        for f in FIGURES
    ]
    heads = ("group", "figure", "value", "target", "")
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)
    ]
    line = "  ".join("-" * w for w in widths)
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
