"""Answers written by an LLM from the retrieved passages only, every sentence citing them as `[n]` (1-based)."""

from __future__ import annotations

import re
import time
from typing import Any

from haystack import component
from pydantic import BaseModel, Field

from pipeline.llm.base import Generator
from pipeline.llm.prompts import prompt_messages
from pipeline.llm.structured import generate_structured
from pipeline.models import Answer, AnswerSentence, GroundingReport, Passage, format_timestamp
from pipeline.text import clean_sentence

NO_ANSWER = "The passages do not answer this question."
_MARKER = re.compile(r"\s*\[(\d+)\]")
_TURN = re.compile(r"^([^:\n]{1,60}):\s+(.*)$")
#: Turns shorter than this after cleaning ("Yeah.", "Wood, wood.") are backchannels the model need not read.
MIN_TURN_WORDS = 3


class AnswerReplySentence(BaseModel):
    text: str
    citations: list[int] = Field(default_factory=list, max_length=6)


class AnswerReply(BaseModel):
    """What the model is asked to reply (its JSON schema is the response format)."""

    answerable: bool
    sentences: list[AnswerReplySentence] = Field(default_factory=list, max_length=8)


def answer_text(sentences: list[AnswerSentence]) -> str:
    """The sentences as one text with their `[n]` markers."""
    return " ".join(sentence.text + "".join(f" [{n}]" for n in sentence.citations) for sentence in sentences)


def passage_heading(passage: Passage) -> str:
    parts = [passage.title]
    if passage.start is not None:
        parts.append(format_timestamp(passage.start))
    if passage.speakers:
        parts.append(", ".join(passage.speakers))
    return " · ".join(parts)


def compact_text(passage: Passage) -> str:
    """The passage as the model reads it: each turn (`Speaker: text` lines of a passage naming its speakers) with
    fillers and repeated words dropped (`clean_sentence`), backchannel turns of fewer than `MIN_TURN_WORDS` words
    left out (all kept if that leaves none). Fewer tokens to read, and the model copies fewer "uh"s."""
    turns = []
    for line in passage.text.splitlines():
        match = _TURN.match(line.strip())
        speaker, body = match.groups() if match and match.group(1) in passage.speakers else (None, line)
        body = clean_sentence(body)
        if body:
            turns.append((speaker, body))
    kept = [turn for turn in turns if len(turn[1].split()) >= MIN_TURN_WORDS] or turns
    return "\n".join(f"{speaker}: {body}" if speaker else body for speaker, body in kept) or passage.text


def capped(sentences: list[AnswerSentence], max_words: int) -> list[AnswerSentence]:
    """The first sentences that fit in `max_words` words (always the first one): QMSum-like answers are ~65 words,
    and a small model that goes on mostly repeats itself."""
    kept, words = [], 0
    for sentence in sentences:
        words += len(sentence.text.split())
        if kept and words > max_words:
            break
        kept.append(sentence)
    return kept


def ground_reply(reply: AnswerReply, passages: int, report: GroundingReport) -> list[AnswerSentence]:
    """The reply's sentences with only citations of passages 1..`passages` (inline `[n]` markers count too);
    a sentence left with no citation is dropped. Counts go to `report`."""
    sentences = []
    for item in reply.sentences:
        cited = [*item.citations, *(int(n) for n in _MARKER.findall(item.text))]
        cited = list(dict.fromkeys(cited))
        valid = [n for n in cited if 1 <= n <= passages]
        report.citations_checked += len(cited)
        report.citations_dropped += len(cited) - len(valid)
        text = " ".join(_MARKER.sub("", item.text).split())
        if not text:
            continue
        if valid:
            sentences.append(AnswerSentence(text=text, citations=valid))
        else:
            report.claims_dropped += 1
    return sentences


def extractive_sentences(passages: list[Passage], limit: int = 3) -> list[AnswerSentence]:
    """A fallback answer when none was written: the best highlighted sentence of each of the first passages."""
    return [
        AnswerSentence(text=passage.highlights[0], citations=[number])
        for number, passage in enumerate(passages[:limit], start=1)
        if passage.highlights
    ]


@component
class LLMAnswerWriter:
    """Writes the answer to a question from its best `max_passages` passages with an LLM, in at most `max_sentences`
    sentences and `max_words` words; says so when the passages do not answer it.

    Citations of passages that do not exist are removed and counted; a reply that stays invalid after the repair
    attempt falls back to the extractive answer (the one `Searcher.ask` wrote, else the passages' highlighted
    sentences), recorded in `grounding.fallbacks`.

    `write(answer)` does the same for an `Answer` that already holds its passages (e.g. from `Searcher.ask`).

    Usage example:
    ```python
    from pipeline.llm.answer import LLMAnswerWriter
    from pipeline.llm.factory import create_generator
    from pipeline.llm.settings import GeneratorConfig
    from pipeline.models import Passage

    text = "We picked the Apache licence so that companies can contribute without asking a lawyer first."
    passage = Passage(talk_id="demo", title="Why Apache", text=text, score=0.8, first_segment=0, last_segment=3)
    # smollm2-135m: the small model packaged for tests; qwen2.5-1.5b (`talks models install`) writes real answers
    generator = create_generator(GeneratorConfig(backend="llama-cpp", model="smollm2-135m", n_ctx=2048))
    writer = LLMAnswerWriter(generator, max_tokens=128)
    writer.warm_up()
    answer = writer.run(question="Why did they pick Apache?", passages=[passage])["answer"]
    print(answer.answer)  # sentences citing the passages as [n] (the checks are in `answer.grounding`)
    ```
    """

    def __init__(
        self,
        generator: Generator,
        max_sentences: int = 4,
        max_tokens: int | None = 256,
        max_passages: int = 3,
        max_words: int = 90,
    ) -> None:
        if generator is None:
            raise ValueError("LLMAnswerWriter needs an LLM generator (llama-cpp or openai), not extractive")
        if min(max_sentences, max_passages, max_words) < 1:
            raise ValueError("max_sentences, max_passages and max_words must be at least 1")
        self.generator = generator
        self.max_sentences = max_sentences
        self.max_tokens = max_tokens
        self.max_passages = max_passages
        self.max_words = max_words

    def warm_up(self) -> None:
        self.generator.warm_up()

    @component.output_types(answer=Answer)
    def run(self, question: str, passages: list[Passage]) -> dict[str, Any]:
        """
        :param question: the question.
        :param passages: the retrieved passages, best first (`[1]` is the first).
        :returns: `answer`, the `Answer` with the written text, its cited sentences, `generation` and `grounding`.
        """
        return {"answer": self.write(Answer(question=question, passages=passages))}

    def write(self, answer: Answer) -> Answer:
        """A copy of `answer` (question and passages, e.g. from `Searcher.ask`) with the written answer."""
        started = time.perf_counter()
        report = GroundingReport()
        if not answer.passages:
            sentences, method = [AnswerSentence(text=NO_ANSWER)], "retrieval"
        else:
            self.warm_up()
            messages, shown = self._messages(answer.question, answer.passages, report)
            reply, attempts = generate_structured(
                self.generator, messages, AnswerReply, label="answer", max_tokens=self.max_tokens
            )
            method = self.generator.method
            if reply is None:
                report.fallbacks.append(f"answer: invalid reply after a repair attempt ({attempts.errors[-1]})")
                extractive = answer.sentences if answer.method == "extractive" else []
                sentences, method = extractive or extractive_sentences(answer.passages), "extractive"
            else:
                sentences = ground_reply(reply, shown, report) if reply.answerable else []
                sentences = capped(sentences, self.max_words)
            sentences = sentences or [AnswerSentence(text=NO_ANSWER)]
        return answer.model_copy(
            update={
                "answer": answer_text(sentences),
                "sentences": sentences,
                "method": method,
                "generation": self.generator.info(time.perf_counter() - started),
                "grounding": report,
            }
        )

    def _messages(self, question: str, passages: list[Passage], report: GroundingReport) -> tuple[list, int]:
        """The prompt with the best `max_passages` passages, or as many as fit the context beside the reply, shown
        compacted (`compact_text`) in the order they were said, each under its rank `[n]`."""
        reply_tokens = self.max_tokens or self.generator.config.max_tokens
        best = passages[: self.max_passages]
        for shown in range(len(best), 0, -1):
            ranked = list(enumerate(best[:shown], start=1))
            ranked.sort(key=lambda item: (item[1].talk_id, item[1].first_segment))
            items = [{"number": n, "heading": passage_heading(p), "text": compact_text(p)} for n, p in ranked]
            messages = prompt_messages(
                "answer", question=question, passages=items, count=shown, max_sentences=self.max_sentences
            )
            needed = self.generator.count_message_tokens(messages) + reply_tokens + self.generator.safety_margin
            if needed <= self.generator.context_tokens:
                break
        if shown < len(best):
            report.fallbacks.append(f"answer: passages {shown + 1}–{len(best)} left out to fit the context")
        return messages, shown
