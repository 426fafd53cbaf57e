"""Text generation backends behind one small interface, and schema-valid structured replies.

Backends: `extractive` (no LLM, the default), `llama-cpp` (any local GGUF, in process, through Haystack's
`LlamaCppChatGenerator`) and `openai` (any OpenAI-compatible endpoint through Haystack's `OpenAIChatGenerator`).
`generate_structured` sends a pydantic model's JSON schema as the response format, validates the reply and makes
one repair attempt with the validation error; callers fall back to the extractive method when it still fails.

The API key is only ever held in a Haystack `Secret`; it is never printed, logged or put in an error message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
# llama.cpp's OpenMP threads wait passively: spinning threads on busy cores slow generation down many times over.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jinja2
from haystack.dataclasses import ChatMessage, StreamingChunk
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.config import ConfigError, config_files, read_config_table
from pipeline.models import GenerationInfo
from pipeline.resources import PROMPTS_DIR

logger = logging.getLogger(__name__)

Backend = Literal["extractive", "llama-cpp", "openai"]
BACKENDS: tuple[str, ...] = ("extractive", "llama-cpp", "openai")
PLACEHOLDER_API_KEY = "sk-no-key-required"
WORDS_TO_TOKENS = 1.4

ENV_GENERATOR = "TALKS_GENERATOR"
ENV_MODEL = "TALKS_MODEL"
ENV_OPENAI_BASE_URL = "TALKS_OPENAI_BASE_URL"
ENV_OPENAI_MODEL = "TALKS_OPENAI_MODEL"
ENV_OPENAI_API_KEY_ENV = "TALKS_OPENAI_API_KEY_ENV"

_SETTINGS = (
    *("backend", "model", "openai_model", "base_url", "api_key_env"),
    *("temperature", "max_tokens", "n_ctx", "seed", "n_threads", "timeout"),
)
_ENVIRONMENT = {
    "backend": ENV_GENERATOR,
    "model": ENV_MODEL,
    "openai_model": ENV_OPENAI_MODEL,
    "base_url": ENV_OPENAI_BASE_URL,
    "api_key_env": ENV_OPENAI_API_KEY_ENV,
}

ModelT = TypeVar("ModelT", bound=BaseModel)


class GeneratorError(Exception):
    """The generator is misconfigured or its backend failed; the message never contains the API key."""


class GeneratorConfig(BaseModel):
    """Which backend writes text, and how. `model` is a GGUF path or short name (llama-cpp) or a model name (openai)."""

    model_config = ConfigDict(extra="forbid")

    backend: Backend = "extractive"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = Field(default="OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=16, description="Most tokens one reply may have.")
    n_ctx: int = Field(default=4096, ge=512, description="Context window in tokens (for openai: the budget assumed).")
    seed: int = 42
    n_threads: int | None = Field(default=None, ge=1, description="llama.cpp threads (default: half the cores).")
    timeout: float = Field(default=600.0, gt=0, description="Seconds an openai request may take.")

    @classmethod
    def resolve(
        cls,
        *,
        backend: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        n_ctx: int | None = None,
        seed: int | None = None,
        n_threads: int | None = None,
        workspace: Path | None = None,
        config_file: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> GeneratorConfig:
        """CLI flags (the arguments) > environment (`TALKS_*`) > `talks.toml` in the workspace > the user config file.

        Config files hold a `[generator]` table with the keys `backend`, `model` (GGUF path or short name),
        `openai_model`, `base_url`, `api_key_env`, `temperature`, `max_tokens`, `n_ctx`, `seed`, `n_threads` and
        `timeout`. `model` from the flags is the chosen backend's model; from the environment `TALKS_MODEL` is the
        llama.cpp model and `TALKS_OPENAI_MODEL` the endpoint's. With no backend named anywhere, a base URL or
        endpoint model selects `openai`, else a model `llama-cpp`, else the default is `extractive`.
        """
        environ = os.environ if environ is None else environ
        merged: dict[str, Any] = {}
        for path in config_files(workspace, config_file):
            merged.update(_read_config_file(path))
        merged.update({key: environ[name] for key, name in _ENVIRONMENT.items() if environ.get(name)})
        flags = {
            "backend": backend,
            "base_url": base_url,
            "api_key_env": api_key_env,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "n_ctx": n_ctx,
            "seed": seed,
            "n_threads": n_threads,
        }
        merged.update({key: value for key, value in flags.items() if value is not None})
        chosen = merged.get("backend")
        if not chosen:
            chosen = "openai" if merged.get("base_url") or merged.get("openai_model") else None
            chosen = chosen or ("llama-cpp" if model or merged.get("model") else "extractive")
        if chosen not in BACKENDS:
            raise GeneratorError(f"unknown generator '{chosen}' (choose one of: {', '.join(BACKENDS)})")
        merged["backend"] = chosen
        if model is not None:
            merged["model"] = merged["openai_model"] = model
        merged["model"] = merged.get("openai_model") if chosen == "openai" else merged.get("model")
        merged.pop("openai_model", None)
        try:
            return cls.model_validate(merged)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
            raise GeneratorError(f"invalid generator settings: {problems}") from None

    def parameters(self) -> dict[str, str | int | float | bool | None]:
        """The settings worth recording with a result (no secret; a base URL without any user:password part)."""
        values: dict[str, str | int | float | bool | None] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "n_ctx": self.n_ctx,
            "seed": self.seed,
        }
        if self.backend == "openai":
            values["base_url"] = public_url(self.base_url)
        elif self.n_threads:
            values["n_threads"] = self.n_threads
        return values


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        return read_config_table(path, "generator", _SETTINGS)
    except ConfigError as error:
        raise GeneratorError(str(error)) from None


def public_url(url: str | None) -> str | None:
    """`url` without any `user:password@` part or query string (where credentials may hide)."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query="", fragment=""))


# --- progress ---------------------------------------------------------------------------------------------------


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


# --- prompts ----------------------------------------------------------------------------------------------------


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


# --- generators -------------------------------------------------------------------------------------------------


class Generator:
    """The interface: `chat` one conversation, optionally constrained to a JSON schema. The base class is the
    `extractive` backend, which writes nothing (callers use their extractive method)."""

    method: Backend = "extractive"

    def __init__(self, config: GeneratorConfig | None = None, progress: ProgressCallback | None = None) -> None:
        self.config = config or GeneratorConfig()
        self.progress = progress
        self.usage = UsageTotals()

    @property
    def is_llm(self) -> bool:
        return self.method != "extractive"

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

    def warm_up(self) -> None:
        """Loads the model or connects; a no-op for the extractive backend."""

    def close(self) -> None:
        """Frees the model."""

    def count_tokens(self, text: str) -> int:
        """An estimate: words × 1.4 (backends with their own tokenizer count exactly)."""
        return int(len(text.split()) * WORDS_TO_TOKENS) + 1

    def count_message_tokens(self, messages: list[ChatMessage]) -> int:
        """Tokens of a conversation, with a few for each message's role markers."""
        return sum(self.count_tokens(message.text or "") + 8 for message in messages)

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
        raise GeneratorError("the extractive generator writes no text; choose --generator llama-cpp or openai")

    def info(self, seconds: float | None = None) -> GenerationInfo:
        """The `GenerationInfo` to record with a result made by this generator."""
        return GenerationInfo(
            method=self.method,
            model=self.model_name,
            parameters=self.config.parameters() if self.is_llm else {},
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


class LlamaCppGenerator(Generator):
    """A local GGUF model run in process by llama.cpp (Haystack's `LlamaCppChatGenerator`)."""

    method: Backend = "llama-cpp"

    def __init__(self, config: GeneratorConfig, progress: ProgressCallback | None = None) -> None:
        super().__init__(config, progress)
        from pipeline.models_install import resolve_model

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


class OpenAIGenerator(Generator):
    """Any OpenAI-compatible chat endpoint (OpenAI, a llama.cpp or vLLM server …) through `OpenAIChatGenerator`.

    The JSON schema goes as `{"type": "json_schema", ...}`; a server that refuses that form (the llama-cpp-python
    server does) is asked again, and from then on, with `{"type": "json_object", "schema": ...}`.
    """

    method: Backend = "openai"

    def __init__(self, config: GeneratorConfig, progress: ProgressCallback | None = None) -> None:
        super().__init__(config, progress)
        if not config.model:
            raise GeneratorError(f"name the endpoint's model: --model or ${ENV_OPENAI_MODEL}")
        self._generator: Any = None
        self._schema_form = "json_schema"
        self._secret_value: str | None = None

    @property
    def model_name(self) -> str | None:
        return self.config.model

    def _secret(self) -> Any:
        from haystack.utils import Secret

        name = self.config.api_key_env
        if os.environ.get(name):
            return Secret.from_env_var(name)
        if self.config.base_url:
            return Secret.from_token(PLACEHOLDER_API_KEY)
        raise GeneratorError(f"set ${name} to the API key (or --base-url for a local server that needs none)")

    def warm_up(self) -> None:
        if self._generator is not None:
            return
        from haystack.components.generators.chat import OpenAIChatGenerator

        secret = self._secret()
        self._secret_value = secret.resolve_value()
        self._generator = OpenAIChatGenerator(
            api_key=secret,
            model=self.config.model,
            api_base_url=self.config.base_url,
            generation_kwargs={
                "temperature": self.config.temperature,
                "max_tokens": self.config.max_tokens,
                "seed": self.config.seed,
            },
            timeout=self.config.timeout,
            max_retries=1,
        )
        self._generator.warm_up()

    def redact(self, text: str) -> str:
        """`text` with the API key, should it appear, replaced by `***`."""
        return text.replace(self._secret_value, "***") if self._secret_value else text

    def _response_format(self, schema: dict[str, Any], name: str) -> dict[str, Any]:
        if self._schema_form == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}
        return {"type": "json_object", "schema": schema}

    def chat(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        schema_name: str = "reply",
        max_tokens: int | None = None,
        label: str = "generating",
    ) -> Generation:
        import openai

        self.warm_up()
        while True:
            kwargs: dict[str, Any] = {"max_tokens": max_tokens or self.config.max_tokens}
            if schema is not None:
                kwargs["response_format"] = self._response_format(schema, _schema_name(schema_name))
            counter = self._stream(label, self.count_message_tokens(messages))
            try:
                result = self._generator.run(messages, streaming_callback=counter, generation_kwargs=kwargs)
                reply = result["replies"][0]
                break
            except openai.APIStatusError as error:
                message = self.redact(str(error))
                if schema is not None and self._schema_form == "json_schema" and _refuses_format(message):
                    logger.info("the endpoint refuses json_schema response formats; using json_object with a schema")
                    self._schema_form = "json_object"
                    continue
                raise GeneratorError(f"{public_url(self.config.base_url) or 'the endpoint'}: {message}") from None
            except openai.APIError as error:
                where = public_url(self.config.base_url) or "the OpenAI API"
                raise GeneratorError(f"cannot reach {where}: {self.redact(str(error))}") from None
        counter.finish()
        usage = reply.meta.get("usage") or {}
        tokens = usage.get("completion_tokens") or counter.tokens
        prompt_tokens = usage.get("prompt_tokens") or counter.prompt_tokens
        finish = reply.meta.get("finish_reason")
        text = reply.text or ""
        return self._record(Generation(text, tokens, prompt_tokens, counter.seconds, finish, counter.first_token))


def _schema_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "reply"


def _refuses_format(message: str) -> bool:
    lowered = message.lower()
    return "response_format" in lowered or "json_schema" in lowered


def create_generator(config: GeneratorConfig, progress: ProgressCallback | None = None) -> Generator:
    """The backend `config` names. Cheap: models load and clients connect in `warm_up` (or on first use)."""
    if config.backend == "llama-cpp":
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            raise GeneratorError("llama-cpp needs llama-cpp-python: pip install llama-cpp-haystack") from None
        return LlamaCppGenerator(config, progress)
    if config.backend == "openai":
        return OpenAIGenerator(config, progress)
    return Generator(config, progress)


# --- structured replies -----------------------------------------------------------------------------------------


@dataclass
class StructuredAttempts:
    """How a structured reply went: attempts made (1, or 2 with the repair), the problems seen, tokens and time."""

    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    valid: bool = False

    @property
    def repaired(self) -> bool:
        return self.valid and self.attempts > 1


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def parse_reply(text: str, model_cls: type[ModelT]) -> tuple[ModelT | None, str | None]:
    """The reply as `model_cls`, or None and a short description of what is wrong with it. Raw control characters
    inside strings (which grammar-constrained llama.cpp output may contain) are accepted."""
    body = _FENCE.sub("", text.strip())
    start, end = body.find("{"), body.rfind("}")
    if start < 0:
        return None, "the reply is not a JSON object"
    try:
        data = json.loads(body[start : end + 1] if end > start else body[start:], strict=False)
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error.msg} at character {error.pos})"
    try:
        return model_cls.model_validate(data), None
    except ValidationError as error:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in error.errors()[:6]]
        return None, "; ".join(problems)


def generate_structured(
    generator: Generator,
    messages: list[ChatMessage],
    model_cls: type[ModelT],
    *,
    label: str = "generating",
    max_tokens: int | None = None,
) -> tuple[ModelT | None, StructuredAttempts]:
    """A reply that validates as `model_cls`, or None after one failed repair attempt.

    The model's JSON schema goes with the request as the response format. An invalid reply is sent back with the
    validation error (`prompts/repair_user.jinja`) once.
    """
    schema = model_cls.model_json_schema()
    attempts = StructuredAttempts()
    conversation = list(messages)
    for attempt in (1, 2):
        generation = generator.chat(
            conversation,
            schema=schema,
            schema_name=model_cls.__name__,
            max_tokens=max_tokens,
            label=label if attempt == 1 else f"{label} (repair)",
        )
        attempts.attempts = attempt
        attempts.tokens += generation.tokens
        attempts.seconds += generation.seconds
        value, problem = parse_reply(generation.text, model_cls)
        if value is not None:
            attempts.valid = True
            return value, attempts
        if generation.finish_reason == "length":
            problem = f"{problem}; the reply was cut off at the token limit, so write less"
        attempts.errors.append(problem or "invalid reply")
        logger.info("%s: invalid reply (attempt %d): %s", label, attempt, problem)
        if attempt == 1:
            conversation = repair_messages(generator, messages, generation.text, problem or "", max_tokens)
    return None, attempts


def repair_messages(
    generator: Generator, messages: list[ChatMessage], reply: str, problem: str, max_tokens: int | None = None
) -> list[ChatMessage]:
    """The conversation with the invalid reply and the repair request; the reply is shortened if the context is
    short (it is only there to be corrected)."""
    request = ChatMessage.from_user(render_prompt("repair_user", problem=problem))
    room = (
        generator.context_tokens
        - generator.count_message_tokens([*messages, request])
        - (max_tokens or generator.config.max_tokens)
        - 16
    )
    if room <= 32:
        return [*messages, request]
    if generator.count_tokens(reply) > room:
        words = reply.split()
        keep = max(1, int(len(words) * room / (generator.count_tokens(reply) + 1) * 0.9))
        reply = " ".join(words[:keep]) + " …"
    return [*messages, ChatMessage.from_assistant(reply), request]
