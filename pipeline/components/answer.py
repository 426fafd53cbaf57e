"""The extractive answer: the passages' sentences closest to the question, condensed and each cited."""

from __future__ import annotations

from typing import Any

from haystack import component

from pipeline.models import Answer, AnswerSentence, Passage
from pipeline.text import clean_sentence, split_sentences, words


@component
class ExtractiveAnswerWriter:
    """Writes `Answer.answer` from the best-scoring sentences of the passages, about `answer_words` long.

    Sentences are taken by their similarity to the question (the highlighter's scores), skipping questions,
    fragments and near-repeats, cleaned of fillers, then put back in passage order; each one cites its passage as
    `[n]`. With `answer_words=0` only the passages are returned.
    """

    def __init__(self, answer_words: int = 80, min_words: int = 5, max_similarity: float = 0.6) -> None:
        if answer_words < 0:
            raise ValueError("answer_words must not be negative")
        self.answer_words = answer_words
        self.min_words = min_words
        self.max_similarity = max_similarity

    @component.output_types(answer=Answer)
    def run(
        self,
        query: str,
        passages: list[Passage],
        sentence_scores: list[list[float]],
        answer_words: int | None = None,
    ) -> dict[str, Any]:
        budget = self.answer_words if answer_words is None else answer_words
        answer = Answer(question=query, passages=passages)
        if budget <= 0 or not passages:
            return {"answer": answer}
        candidates = []
        for number, (passage, scores) in enumerate(zip(passages, sentence_scores, strict=True), 1):
            for position, (sentence, score) in enumerate(zip(split_sentences(passage.text), scores, strict=True)):
                cleaned = clean_sentence(_without_label(sentence, passage.speakers))
                if len(cleaned.split()) >= self.min_words and not cleaned.endswith("?"):
                    candidates.append((score, number, position, cleaned))
        chosen: list[tuple[int, int, str]] = []
        used = 0
        for _, number, position, cleaned in sorted(candidates, key=lambda item: -item[0]):
            if used >= budget:
                break
            if any(_overlap(cleaned, other) > self.max_similarity for *_, other in chosen):
                continue
            chosen.append((number, position, cleaned))
            used += len(cleaned.split())
        sentences = [AnswerSentence(text=text, citations=[number]) for number, _, text in sorted(chosen)]
        text = " ".join(f"{s.text} [{s.citations[0]}]" for s in sentences)
        return {
            "answer": answer.model_copy(update={"answer": text or None, "sentences": sentences, "method": "extractive"})
        }


def _without_label(sentence: str, speakers: list[str]) -> str:
    for speaker in speakers:
        if sentence.startswith(f"{speaker}: "):
            return sentence[len(speaker) + 2 :]
    return sentence


def _overlap(a: str, b: str) -> float:
    first, second = set(words(a)), set(words(b))
    return len(first & second) / max(1, min(len(first), len(second)))
