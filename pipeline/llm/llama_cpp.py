"""The `llama-cpp` backend: a local GGUF model run in process by llama.cpp (Haystack's `LlamaCppChatGenerator`)."""

from __future__ import annotations

import os
from typing import Any

# llama.cpp's OpenMP threads wait passively: spinning threads on busy cores slow generation down many times over.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from haystack.dataclasses import ChatMessage

from pipeline.llm.base import Generation, Generator, ProgressCallback
from pipeline.llm.settings import Backend, GeneratorConfig, GeneratorError


class LlamaCppGenerator(Generator):
    """A local GGUF model run in process by llama.cpp (Haystack's `LlamaCppChatGenerator`)."""

    method: Backend = "llama-cpp"

    def __init__(self, config: GeneratorConfig, progress: ProgressCallback | None = None) -> None:
        super().__init__(config, progress)
        from pipeline.llm.install import resolve_model

        self.model_path = resolve_model(config.model)
        self._generator: Any = None

    @property
    def model_name(self) -> str:
        return self.model_path.name

    @property
    def context_tokens(self) -> int:
        llama = self._llama()
        return llama.n_ctx() if llama is not None else self.config.n_ctx

    def warm_up(self) -> None:
        if self._generator is not None:
            return
        from haystack_integrations.components.generators.llama_cpp import LlamaCppChatGenerator

        generator = LlamaCppChatGenerator(
            model=str(self.model_path),
            n_ctx=self.config.n_ctx,
            model_kwargs={
                "seed": self.config.seed,
                "verbose": False,
                "n_threads": self.config.n_threads,
                "n_threads_batch": self.config.n_threads,
            },
            generation_kwargs=self._generation_kwargs(None),
        )
        try:
            generator.warm_up()
        except (ValueError, RuntimeError, OSError) as error:
            raise GeneratorError(f"cannot load the model {self.model_path}: {error}") from None
        self._generator = generator

    def close(self) -> None:
        if self._generator is not None:
            self._generator.close()
            self._generator = None

    def _llama(self) -> Any:
        return None if self._generator is None else self._generator._model

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._llama().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _generation_kwargs(self, max_tokens: int | None) -> dict[str, Any]:
        return {
            "temperature": self.config.temperature,
            "max_tokens": max_tokens or self.config.max_tokens,
            "seed": self.config.seed,
        }

    def chat(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        schema_name: str = "reply",
        max_tokens: int | None = None,
        label: str = "generating",
    ) -> Generation:
        self.warm_up()
        kwargs = self._generation_kwargs(max_tokens)
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        counter = self._stream(label, self.count_message_tokens(messages))
        try:
            reply = self._generator.run(messages, generation_kwargs=kwargs, streaming_callback=counter)["replies"][0]
        except ValueError as error:  # llama.cpp: the prompt does not fit the context, and the like
            raise GeneratorError(f"llama.cpp could not generate: {error}") from None
        counter.finish()
        text, finish = reply.text or "", reply.meta.get("finish_reason")
        generation = Generation(
            text, counter.tokens, counter.prompt_tokens, counter.seconds, finish, counter.first_token
        )
        return self._record(generation)
