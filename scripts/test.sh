#!/usr/bin/env bash
# Sets everything up (including the llama.cpp backend and the small test model), then runs lint and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev llm
. .venv/bin/activate
export HAYSTACK_TELEMETRY_ENABLED=False
ruff check .
ruff format --check .
python -m pytest "$@"
