#!/usr/bin/env bash
# Sets everything up, then runs the main job on the bundled samples: ingest data/, answer a question with
# cited, timestamped passages, and draft the founder talk's recap (Markdown + JSON) into out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
export TALKS_WORKSPACE=${TALKS_WORKSPACE:-$PWD/workspace}
talks ingest data/
talks list
talks ask "Why did they decide against a source-available license?"
mkdir -p out
talks recap founder-talk --format md --out out/founder-talk.md
talks recap founder-talk --format json --out out/founder-talk.json
echo "Recap draft: out/founder-talk.md"
