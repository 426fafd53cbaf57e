"""`create_generator`: the backend a `GeneratorConfig` names, or None for `extractive` (no LLM)."""

from __future__ import annotations

from pipeline.llm.base import Generator, ProgressCallback
from pipeline.llm.settings import GeneratorConfig, GeneratorError


def create_generator(config: GeneratorConfig, progress: ProgressCallback | None = None) -> Generator | None:
    """The backend `config` names, or None for `extractive` (no LLM: callers use their extractive method). Cheap:
    models load and clients connect in `warm_up` (or on first use)."""
    if config.backend == "llama-cpp":
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise GeneratorError("llama-cpp needs llama-cpp-python: pip install llama-cpp-haystack") from None
        from pipeline.llm.llama_cpp import LlamaCppGenerator

        return LlamaCppGenerator(config, progress)
    if config.backend == "openai":
        from pipeline.llm.openai import OpenAIGenerator

        return OpenAIGenerator(config, progress)
    return None
