"""Schema-valid structured replies: the pydantic model's JSON schema goes as the response format, the reply is
validated, and an invalid one is sent back once with the validation error (`prompts/repair_user.jinja`); callers
fall back to their extractive method when it still fails."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import TypeVar

from haystack.dataclasses import ChatMessage
from pydantic import BaseModel, ValidationError

from pipeline.llm.base import Generator
from pipeline.llm.prompts import render_prompt

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)


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
    schema: dict | None = None,
) -> tuple[ModelT | None, StructuredAttempts]:
    """A reply that validates as `model_cls`, or None after one failed repair attempt.

    The model's JSON schema goes with the request as the response format. An invalid reply is sent back with the
    validation error (`prompts/repair_user.jinja`) once. `schema`: a narrower schema than the model's to constrain
    the reply with (e.g. an `enum` of the numbers it may pick); the reply is still validated as `model_cls`.
    """
    schema = schema or model_cls.model_json_schema()
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
