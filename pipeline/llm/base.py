"""The generator interface: `Generator.chat` one conversation (optionally constrained to a JSON schema), with token
counting, progress events and usage totals. The backends (`llama_cpp`, `openai`) implement it; `extractive`, the
default, is no generator at all (`create_generator` returns None and callers use their extractive method)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from haystack.dataclasses import ChatMessage, StreamingChunk

from pipeline.llm.settings import Backend, GeneratorConfig
from pipeline.models import GenerationInfo

WORDS_TO_TOKENS = 1.4


@dataclass(frozen=True)
class ProgressEvent:
    """Where a generation stands: `label` names the step (e.g. "digest 2/5"), `tokens` are written so far."""

    label: str
    tokens: int
    seconds: float
    prompt_tokens: int | None = None
    done: bool = False


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class Generation:
    """One reply: its text, the tokens written and read, the time spent and why it stopped ("stop", "length")."""

    text: str
    tokens: int
    prompt_tokens: int | None
    seconds: float
    finish_reason: str | None
    first_token_seconds: float | None = None


@dataclass
class UsageTotals:
    """What a generator has done since it was made: calls, tokens written and read, seconds in all and until the
    first token of each reply (reading the prompt)."""

    calls: int = 0
    tokens: int = 0
    prompt_tokens: int = 0
    seconds: float = 0.0
    prompt_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        """Tokens written per second of the whole calls."""
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def prompt_tokens_per_second(self) -> float:
        """Prompt tokens read per second until the first token."""
        return self.prompt_tokens / self.prompt_seconds if self.prompt_seconds else 0.0

    @property
    def generation_tokens_per_second(self) -> float:
        """Tokens written per second after the first token."""
        writing = self.seconds - self.prompt_seconds
        return self.tokens / writing if writing > 0 else 0.0


class Generator(ABC):
    """An LLM backend: `chat` one conversation, optionally constrained to a JSON schema. Subclasses set `method` and
    implement `chat` (and `warm_up`, `close`, `count_tokens` where they can do better than the defaults).

        generator = create_generator(GeneratorConfig(backend="llama-cpp", model="qwen2.5-1.5b"))
        generator.warm_up()
        reply = generator.chat([ChatMessage.from_user("Say hello.")], max_tokens=16)
    """

    method: Backend

    def __init__(self, config: GeneratorConfig, progress: ProgressCallback | None = None) -> None:
        self.config = config
        self.progress = progress
        self.usage = UsageTotals()

    @property
    def model_name(self) -> str | None:
        return None

    @property
    def context_tokens(self) -> int:
        """Tokens the prompt and the reply must fit in together."""
        return self.config.n_ctx

    @property
    def safety_margin(self) -> int:
        """Context tokens to keep free for miscounts: more where tokens are estimated rather than counted."""
        exact = type(self).count_tokens is not Generator.count_tokens
        return 32 + self.context_tokens // (25 if exact else 8)

    def warm_up(self) -> None:  # noqa: B027 - backends without anything to load need nothing
        """Loads the model or connects."""

    def close(self) -> None:  # noqa: B027
        """Frees the model."""

    def count_tokens(self, text: str) -> int:
        """An estimate: words × 1.4 (backends with their own tokenizer count exactly)."""
        return int(len(text.split()) * WORDS_TO_TOKENS) + 1

    def count_message_tokens(self, messages: list[ChatMessage]) -> int:
        """Tokens of a conversation, with a few for each message's role markers."""
        return sum(self.count_tokens(message.text or "") + 8 for message in messages)

    @abstractmethod
    def chat(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        schema_name: str = "reply",
        max_tokens: int | None = None,
        label: str = "generating",
    ) -> Generation:
        """The reply to `messages`; with `schema`, a reply constrained to that JSON schema where the backend can."""

    def info(self, seconds: float | None = None) -> GenerationInfo:
        """The `GenerationInfo` to record with a result made by this generator."""
        return GenerationInfo(
            method=self.method,
            model=self.model_name,
            parameters=self.config.parameters(),
            seconds=None if seconds is None else round(seconds, 3),
        )

    def _stream(self, label: str, prompt_tokens: int | None) -> _StreamCounter:
        return _StreamCounter(label, prompt_tokens, self.progress)

    def _record(self, generation: Generation) -> Generation:
        self.usage.calls += 1
        self.usage.tokens += generation.tokens
        self.usage.prompt_tokens += generation.prompt_tokens or 0
        self.usage.seconds += generation.seconds
        self.usage.prompt_seconds += generation.first_token_seconds or 0.0
        return generation


class _StreamCounter:
    """A Haystack streaming callback that counts tokens and reports progress."""

    def __init__(self, label: str, prompt_tokens: int | None, progress: ProgressCallback | None) -> None:
        self.label = label
        self.prompt_tokens = prompt_tokens
        self.progress = progress
        self.tokens = 0
        self.first_token: float | None = None
        self.started = time.perf_counter()
        self._emit()

    def __call__(self, chunk: StreamingChunk) -> None:
        if chunk.content:
            if self.first_token is None:
                self.first_token = self.seconds
            self.tokens += 1
            self._emit()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def finish(self) -> None:
        self._emit(done=True)

    def _emit(self, done: bool = False) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(self.label, self.tokens, self.seconds, self.prompt_tokens, done))
