"""LLM prompts: the system and user messages rendered from the Jinja templates in `prompts/` (`PROMPTS_DIR`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from haystack.dataclasses import ChatMessage

from pipeline.resources import PROMPTS_DIR


@cache
def _prompt_environment(directory: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render_prompt(template: str, **context: Any) -> str:
    """Renders `prompts/<template>.jinja`."""
    return _prompt_environment(PROMPTS_DIR).get_template(f"{template}.jinja").render(**context).strip()


def prompt_messages(name: str, **context: Any) -> list[ChatMessage]:
    """The system and user messages of `prompts/<name>_system.jinja` and `prompts/<name>_user.jinja`."""
    return [
        ChatMessage.from_system(render_prompt(f"{name}_system", **context)),
        ChatMessage.from_user(render_prompt(f"{name}_user", **context)),
    ]
