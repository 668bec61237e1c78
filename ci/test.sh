#!/usr/bin/env bash
# The whole test suite, from nothing: Python deps, lint, types, a real Docker engine, pytest.
#
#   bash ci/test.sh [PYTEST ARGS...]          the full suite, as CI runs it
#   bash ci/test.sh --fast [PYTEST ARGS...]   the inner loop: no engine, Slurm, registry, MLflow
#
# Installs what it needs itself (a venv in .venv, Debian's docker.io and debootstrap, the
# local base image), so a fresh machine passes exactly as a developer's does. Engine tests
# are skipped loudly only when no engine can be started; under CI=true they must run.
#
# --fast: the same venv, ruff, mypy and site build (seconds), then pytest on every test that
# needs no service (the layer and docs checks included); it starts nothing. Tests get their
# service markers from the fixtures they use (tests/conftest.py); REPRO_TEST_TIER=fast points
# DOCKER_HOST, REPRO_REGISTRY and Slurm's commands at tripwires, so a test that reaches a
# service without its marker fails rather than skips.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
if [[ ${1:-} == "--fast" ]]; then
    fast=1
    shift
fi

log() { printf '\n== %s\n' "$*" >&2; }

log "python environment (.venv)"
if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,docs]'
# torch seeding (`repro run --deterministic`) is tested when a CPU torch wheel lies in pip's
# own find-links folder (never a multi-GB download from the index); otherwise its test says
# loudly that it was skipped.
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
    links="$(.venv/bin/python -m pip config get global.find-links 2>/dev/null || true)"
    wheel="$(ls "${links:-/nonexistent}"/torch-*+cpu-*.whl 2>/dev/null | tail -n 1 || true)"
    if [[ -n $wheel ]] && .venv/bin/python -m pip install --quiet "$wheel" 2>/dev/null; then
        :
    else
        echo "!! no local CPU torch wheel: the torch determinism test will be SKIPPED" >&2
    fi
fi
export PATH="$PWD/.venv/bin:$PATH"

log "ruff"
ruff check src tests bench ci
ruff format --check src tests bench ci
log "mypy"
mypy

# The site: any warning fails (a broken link or anchor, a page missing from the nav). The
# reference pages are checked against the code by tests/test_docs.py.
log "docs (mkdocs --strict)"
mkdocs build --strict --quiet

if [[ $fast -eq 1 ]]; then
    log "pytest (fast tier: no engine, Slurm, registry or MLflow server)"
    unset DOCKER_HOST REPRO_REGISTRY SLURM_CONF REPRO_REQUIRE_ENGINE REPRO_REQUIRE_SLURM
    export REPRO_TEST_TIER=fast
    exec pytest -m "not engine and not registry and not slurm and not mlflow and not network" "$@"
fi

log "docker engine"
engine_started=0
slurm_started=0
cleanup() {
    if [[ $slurm_started -eq 1 ]]; then bash ci/slurm.sh stop || true; fi
    if [[ $engine_started -eq 1 ]]; then
        bash ci/registry.sh stop >/dev/null 2>&1 || true
        bash ci/engine.sh stop || true
    fi
}
trap cleanup EXIT
if out="$(bash ci/engine.sh start)"; then
    eval "$out"
    engine_started=1
    bash ci/base-image.sh
    if reg="$(bash ci/registry.sh start)"; then
        eval "$reg"
    fi
else
    echo "!! NO DOCKER ENGINE could be started: engine tests will be SKIPPED" >&2
fi
if [[ "${CI:-}" == "true" && $engine_started -eq 1 ]]; then
    export REPRO_REQUIRE_ENGINE=1
fi

log "slurm (single-node cluster)"
if out="$(bash ci/slurm.sh start)" && [[ -n $out ]]; then
    eval "$out"
    slurm_started=1
else
    echo "!! NO SLURM CLUSTER could be started: Slurm tests will be SKIPPED" >&2
fi
if [[ "${CI:-}" == "true" ]]; then
    export REPRO_REQUIRE_SLURM=1
fi

log "pytest"
pytest "$@"
