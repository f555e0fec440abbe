"""The images the container tests run, or the reason they are skipped.

A cold build of the images (Debian base by debootstrap, Node and Python bases, then the slot
and operator images) takes 6 to 10 minutes here, more than the suite should add, so the
container tests build only when that is cheap: when the engine already holds the bases, stale
product images are rebuilt from the layer cache (about a minute); when the bases are missing,
the tests are skipped with a reason naming `make images`, unless `CLAUDE_POOL_BUILD_IMAGES=1`
asks for the cold build. No engine at all (no Docker daemon, no podman): skipped with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from claude_pool.devenv.engine import Engine, EngineNotFound, find_engine
from claude_pool.devenv.images import (
    OPERATOR,
    SLOT,
    Base,
    bases_cached,
    default_base,
    ensure_images,
    stale_images,
)
from claude_pool.devenv.node import foreign_interfaces

BUILD_ENV = "CLAUDE_POOL_BUILD_IMAGES"


@dataclass(frozen=True)
class ContainerImages:
    engine: Engine
    slot: str
    operator: str


def container_images() -> ContainerImages:
    """The current slot and operator images (rebuilt if stale), or skip the test."""
    try:
        engine = find_engine()
    except EngineNotFound as exc:
        pytest.skip(f"container tests need a container engine: {exc}")
    base: Base = default_base(engine)
    if not bases_cached(engine, base) and os.environ.get(BUILD_ENV) != "1":
        pytest.skip(
            f"the image bases are not built ({engine.kind}, base {base}): run `make images` "
            f"once (cold: 6 to 10 min here) or set {BUILD_ENV}=1"
        )
    stale = stale_images(engine, base)
    if stale and not foreign_interfaces():  # a private network namespace: no downloads
        pytest.skip(
            f"{', '.join(stale)} out of date and this network namespace cannot download: run "
            "`make images` first (`make e2e-node` does)"
        )
    ensure_images(engine, base)
    return ContainerImages(engine, SLOT.tag, OPERATOR.tag)
