"""A normal (non-editable) install works: the wheel is built, installed into a fresh virtual environment, and the
installed `talks` ingests a talk, writes its Markdown recap and renders an LLM prompt, all from the packaged
`prompts/` (not from this checkout).

Nothing comes from the network: the wheel is built without build isolation and installed with `--no-deps`, and the
fresh environment sees the test environment's site-packages (for torch, Haystack …) through a `.pth` file, after
its own, so `pipeline` is the installed wheel's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT

SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "prompts", "pipeline")


def _run(*command: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "TALKS_WORKSPACE")}
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The `bin` folder of a fresh virtual environment with the talks wheel installed."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "src"
    source.mkdir()
    for name in SOURCES:  # a copy, so the build leaves nothing in the working tree
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    dist = base / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, ".", cwd=source)
    (wheel,) = dist.glob("talks-*.whl")
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base)
    python = venv / "bin" / "python"
    purelib = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base).stdout.strip()
    Path(purelib, "zz_test_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=base)
    return venv / "bin"


def test_the_wheel_ships_the_prompts_and_works_without_the_checkout(installed: Path, tmp_path: Path):
    python = installed / "python"
    where = _run(
        python,
        "-c",
        "import pipeline; from pipeline.resources import PROMPTS_DIR; print(pipeline.__file__); print(PROMPTS_DIR)",
        cwd=tmp_path,
    ).stdout.split()
    assert all(Path(path).is_relative_to(installed.parent) for path in where), where
    assert (Path(where[1]) / "web").is_dir() or not (ROOT / "prompts" / "web").is_dir()  # subfolders ship too
    restored = _run(  # the punctuation model's weights ship as package data
        python,
        "-c",
        "from pipeline.components.punctuation import PunctuationModel\n"
        "print(' '.join(PunctuationModel.load().restore('so what is pricing really i think'.split())))",
        cwd=tmp_path,
    ).stdout
    assert restored.startswith("So") and restored.strip().endswith(".")

    workspace = tmp_path / "ws"
    _run(installed / "talks", "ingest", DATA / "fireside-chat.txt", "--workspace", workspace, cwd=tmp_path)
    markdown = _run(
        installed / "talks", "recap", "fireside-chat", "--format", "md", "--workspace", workspace, cwd=tmp_path
    ).stdout
    assert markdown.startswith("---\n") and "\n---\n\n# Fireside Chat" in markdown and "## " in markdown

    prompt = _run(
        python,
        "-c",
        "from pipeline.llm.prompts import prompt_messages\n"
        "messages = prompt_messages('answer', question='Why Apache?', passages=[{'number': 1, 'heading': 'x', "
        "'text': 'We kept Apache.'}], count=1, max_sentences=3, words=70)\n"
        "print(messages[1].text)",
        cwd=tmp_path,
    ).stdout
    assert "Why Apache?" in prompt and "We kept Apache." in prompt
