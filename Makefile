# claude-pool: a Kubernetes operator running a pool of Claude Code CLI slots.
# `make help` lists the targets. Everything a fresh machine needs is installed by `make setup`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
CLI_DIR := $(TOOLS)/claude-code
CLI := $(CLI_DIR)/node_modules/.bin/claude
STAMP := $(TOOLS)/stamps
PYTEST_ARGS ?=

.PHONY: help setup dev test test-unit test-integration lint verify crds bench images kind-e2e e2e-node clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP)/venv: pyproject.toml
	@mkdir -p $(STAMP)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

$(STAMP)/cli: slot-image/cli/package.json
	@mkdir -p $(STAMP) $(CLI_DIR)
	cp slot-image/cli/package.json $(CLI_DIR)/package.json
	cd $(CLI_DIR) && npm install --no-package-lock --no-audit --no-fund --loglevel=error
	$(CLI) --version
	@touch $@

$(STAMP)/controlplane: $(STAMP)/venv operator/claude_pool/devenv/building.py
	$(PY) -m claude_pool build
	@touch $@

$(STAMP)/helm: $(STAMP)/venv operator/claude_pool/devenv/helmbin.py
	$(PY) -m claude_pool.devenv.helmbin
	@touch $@

# podman + runc + debootstrap for `make images` and the container tests: from apt where it is
# available as root; elsewhere the container tests are skipped with that reason.
$(STAMP)/podman:
	@mkdir -p $(STAMP)
	@if command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends podman runc debootstrap >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq --no-install-recommends podman runc debootstrap >/dev/null; }; \
	else echo "setup: no podman and no apt-get as root: container tests will be skipped"; fi
	@touch $@

setup: $(STAMP)/venv $(STAMP)/cli $(STAMP)/controlplane $(STAMP)/helm $(STAMP)/podman ## Install everything: venv, pinned Claude CLI, control plane and helm binaries (built from Go modules, cached), podman

dev: setup ## Run claude-pool locally: control plane, CRDs, operator, local node, fake API (Ctrl-C stops it)
	$(PY) -m claude_pool dev

test: setup lint verify ## The whole suite: lint, CRD drift check, unit and integration tests
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-unit: $(STAMP)/venv ## Unit tests only (no cluster, no CLI)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup ## Integration tests only (real control plane, real CLI, fake API)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

lint: $(STAMP)/venv ## ruff (lint + format check), mypy strict, import-linter layer contracts
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

crds: $(STAMP)/venv ## Regenerate crds/ from the pydantic models (and the Helm chart's copy)
	$(PY) -m claude_pool crds
	cp crds/*.yaml deploy/chart/crds/
	cp deploy/admission.yaml deploy/chart/files/admission.yaml

verify: $(STAMP)/venv ## Fail if crds/ (or the chart's copy) differs from what the models generate
	$(PY) -m claude_pool crds --check
	diff -r -x Kustomization crds deploy/chart/crds

bench: setup ## Run the benchmarks in bench/ (prints figures)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

images: $(STAMP)/venv $(STAMP)/podman ## Build the slot and operator images: Docker if its daemon answers, else podman (BASE=public|debian)
	$(PY) -m claude_pool images $(if $(BASE),--base $(BASE))

kind-e2e: setup ## End-to-end tests on kind (opt-in; skipped with a reason without Docker/kind)
	CLAUDE_POOL_E2E=1 $(PY) -m pytest tests/e2e $(PYTEST_ARGS)

# The real node tier runs in a network namespace of its own: its bridge, pods and addresses
# exist only for the run, and nothing routes to any other address.
e2e-node: setup images ## Real node tier (opt-in): kubelet + containerd + runc + CNI bridge, slot pods as containers
	@[ -x /usr/lib/cni/bridge ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containernetworking-plugins >/dev/null
	$(PY) -m claude_pool.devenv.nodebuild
	CLAUDE_POOL_E2E_NODE=1 unshare --net -- sh -c 'ip link set lo up && exec $(PY) -m pytest tests/integration/test_real_node.py $(PYTEST_ARGS)'

clean: ## Remove local state (keeps the control plane binary cache in ~/.cache/claude-pool)
	-test -x $(PY) && $(PY) -c 'import shutil, pathlib; from claude_pool.devenv.dev import node_root; shutil.rmtree(node_root(pathlib.Path(".dev")).parent, ignore_errors=True)'
	rm -rf .dev .pytest_cache .mypy_cache .ruff_cache
