"""Running the real `talks` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def talks_env(workspace: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"TALKS_WORKSPACE": str(workspace), "HAYSTACK_TELEMETRY_ENABLED": "False", "COLUMNS": "200"})
    env.update(extra or {})
    return env


def talks(
    workspace: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs `talks ARGS` in a subprocess; `env` adds variables (e.g. TALKS_STORE) to the usual ones."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        env=talks_env(workspace, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_talks(workspace: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args],
        env=talks_env(workspace),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
