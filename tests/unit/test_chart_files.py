"""The chart's copies stay in step (CRDs, dashboard) and the dashboard only queries series the
operator exports (docs/operations.md lists every claude_pool_* series)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "chart"
DASHBOARD = ROOT / "deploy" / "monitoring" / "dashboard.json"


def test_the_chart_carries_the_generated_crds() -> None:
    for name in ("claudepools.yaml", "claudetasks.yaml"):
        assert (CHART / "crds" / name).read_text() == (ROOT / "crds" / name).read_text(), (
            f"deploy/chart/crds/{name} is stale: run make crds"
        )


def test_the_chart_carries_the_same_dashboard() -> None:
    assert (CHART / "files" / "dashboard.json").read_text() == DASHBOARD.read_text()


def test_the_dashboard_queries_only_exported_series() -> None:
    board = json.loads(DASHBOARD.read_text())
    documented = (ROOT / "docs" / "operations.md").read_text()
    exprs = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    series = {re.sub(r"_(bucket|sum|count)$", "", name)
              for expr in exprs for name in re.findall(r"claude_pool_\w+", expr)}  # fmt: skip
    assert series, "the dashboard has no claude_pool_* query"
    missing = [name for name in sorted(series) if f"`{name}" not in documented]
    assert not missing, f"not exported (docs/operations.md): {missing}"
    titles = " ".join(panel["title"] for panel in board["panels"]).lower()
    for topic in ("queue", "slots", "dispatch latency", "spend", "namespace", "failures"):
        assert topic in titles


def test_chart_values_are_documented_in_its_readme() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()

    def leaves(tree: dict[str, object], prefix: str = "") -> list[str]:
        out = []
        for key, value in tree.items():
            path = f"{prefix}{key}"
            if isinstance(value, dict) and value and key not in ("resources", "labels"):
                out += leaves(value, path + ".")  # type: ignore[arg-type]
            else:
                out.append(path)
        return out

    undocumented = [leaf for leaf in leaves(values) if f"`{leaf}`" not in readme]
    assert not undocumented, undocumented


def test_the_chart_carries_the_same_admission_policies() -> None:
    deploy = ROOT / "deploy" / "admission.yaml"
    assert (CHART / "files" / "admission.yaml").read_text() == deploy.read_text()
