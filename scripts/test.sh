#!/usr/bin/env bash
# Sets everything up (including the llama.cpp backend and the small test model), then runs lint and the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev llm
# The browser tests drive Debian's Chromium through Playwright (never `playwright install`, which downloads a build).
if [ ! -x /usr/lib/chromium/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
. .venv/bin/activate
export HAYSTACK_TELEMETRY_ENABLED=False
ruff check .
ruff format --check .
python -m pytest "$@"
