"""Where the package's files live: the `prompts/` folder (Jinja templates for drafts and LLM prompts, and the web
pages' templates and static files under `prompts/web/`).

`prompts/` stays at the top of the repository; a wheel ships it as `pipeline/prompts/` (see `setup.py`), found here
through `importlib.resources`. A source checkout or an editable install has no `pipeline/prompts/`, so the
repository's own folder is used.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _prompts_dir() -> Path:
    packaged = Path(str(files("pipeline") / "prompts"))  # wheels install unzipped: a real folder
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / "prompts"


PROMPTS_DIR: Path = _prompts_dir()
