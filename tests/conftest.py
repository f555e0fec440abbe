"""Shared test configuration: tier markers and the rule that every test is bounded.

Tiers: tests/unit (no cluster), tests/integration (the suite's own control plane, see
tests/integration/conftest.py), tests/e2e (kind; skipped with a reason without Docker).
"""

from __future__ import annotations

import pytest

from tests.gitserver import git_server_fixture  # noqa: F401 - registers the `git_server` fixture


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if "/tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        elif "/tests/e2e/" in path:
            item.add_marker(pytest.mark.e2e)
        # every test has a timeout: the pyproject default applies unless a test sets its own
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(120))
