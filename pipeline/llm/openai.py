"""The `openai` backend: any OpenAI-compatible chat endpoint (OpenAI, a llama.cpp or vLLM server …) through Haystack's
`OpenAIChatGenerator`. The API key is only ever held in a Haystack `Secret`; it is never printed, logged or put in an
error message."""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from haystack.dataclasses import ChatMessage

from pipeline.config import public_url
from pipeline.llm.base import Generation, Generator, ProgressCallback
from pipeline.llm.settings import ENV_OPENAI_MODEL, Backend, GeneratorConfig, GeneratorError

logger = logging.getLogger(__name__)

PLACEHOLDER_API_KEY = "sk-no-key-required"


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
