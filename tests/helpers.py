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


def run_cli(*args: str, env: dict[str, str] | None = None):
    """Runs `talks ARGS` in this process (typer's CliRunner: no start-up cost, the loaded model is shared) and
    checks that it ended by an exit code, never an exception; returns click's `Result` (stdout, stderr, exit_code)."""
    import traceback

    from typer.testing import CliRunner

    from pipeline.cli import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("".join(traceback.format_exception(*result.exc_info)))
    return result
