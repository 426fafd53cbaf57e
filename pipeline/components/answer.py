"""The extractive answer: the passages' sentences most likely to answer the question, condensed and each cited."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from haystack import component

from pipeline.models import Answer, AnswerSentence, Passage
from pipeline.text import clean_sentence, split_sentences, words

_ENUMERATION = re.compile(r"^(?:and\s+)?(?:one|two|three|four|five|first(?:ly)?|second(?:ly)?|third(?:ly)?)\b", re.I)

#: Feature names, in the order of `SentenceCandidate.features`, and their weights in a sentence's score: a small grid
#: on the dev half of QMSum val (`bench/answers_qmsum.py`; README, "Answers"). Enumeration's weight does not move dev
#: (±0.05 ROUGE-1 for 0 to 0.4); 0.4 lets the points a speaker counts out come through ("Three reasons. One, ...").
FEATURES = ("similarity", "context", "passage_prior", "log_words", "enumeration")
WEIGHTS = {"similarity": 1.0, "context": 0.15, "passage_prior": 0.1, "log_words": 0.03, "enumeration": 0.4}


@dataclass
class SentenceCandidate:
    """One sentence of one passage that could go into the answer."""

    number: int  # the passage's number, from 1, as cited
    position: int  # the sentence's place in its passage
    text: str  # cleaned, without its speaker label
    features: list[float]


def candidates(
    passages: list[Passage], sentence_scores: list[list[float]], min_words: int = 5
) -> list[SentenceCandidate]:
    """The passages' sentences that can stand alone (not questions, not fragments), with their features.

    similarity: the highlighter's score (embedding similarity to the question plus shared words); context: the best
    similarity among the two sentences before it in its passage (answers follow the words that name the topic:
    "Three reasons. One, ..."); passage_prior: 1 / the passage's rank; log_words: longer sentences say more;
    enumeration: a point of a list the speaker counts out ("One, ...", "Second, ...").
    """
    result = []
    for number, (passage, scores) in enumerate(zip(passages, sentence_scores, strict=True), 1):
        for position, (sentence, score) in enumerate(zip(split_sentences(passage.text), scores, strict=True)):
            cleaned = clean_sentence(_without_label(sentence, passage.speakers))
            if len(cleaned.split()) < min_words or cleaned.endswith("?"):
                continue
            features = [
                score,
                max(scores[max(0, position - 2) : position], default=0.0),
                1.0 / number,
                math.log(len(cleaned.split())),
                float(bool(_ENUMERATION.match(sentence.strip()))),
            ]
            result.append(SentenceCandidate(number, position, cleaned, features))
    return result


@component
class ExtractiveAnswerWriter:
    """Writes `Answer.answer` from the passages' sentences most likely to answer the question, about `answer_words`
    long, each citing its passage as `[n]`.

    Each sentence that can stand alone is scored by a weighted sum of `FEATURES` (its similarity to the question,
    that of the sentences just before it, the passage's rank, its length, whether it is a counted point of a list),
    then the best are taken while they add something new (near-repeats by shared words are skipped), cleaned of
    fillers and put back in passage order.
    With `answer_words=0` only the passages are returned.

    Usage:
        writer = ExtractiveAnswerWriter(answer_words=65)
        answer = writer.run(query=question, passages=passages, sentence_scores=scores)["answer"]
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
        """
        :param query: the question.
        :param passages: the passages, best first (cited as `[1]`, `[2]`, ...).
        :param sentence_scores: for each passage, each sentence's similarity to the question (`split_sentences`).
        :param answer_words: overrides the length set at construction; 0 writes no answer.
        :returns: `answer`, the `Answer` with its passages, text and cited sentences.
        """
        budget = self.answer_words if answer_words is None else answer_words
        answer = Answer(question=query, passages=passages)
        if budget <= 0 or not passages:
            return {"answer": answer}
        pool = candidates(passages, sentence_scores, self.min_words)
        chosen = select(pool, budget, self.max_similarity)
        sentences = [AnswerSentence(text=c.text, citations=[c.number]) for c in chosen]
        text = " ".join(f"{s.text} [{s.citations[0]}]" for s in sentences)
        return {
            "answer": answer.model_copy(update={"answer": text or None, "sentences": sentences, "method": "extractive"})
        }


def predicted(candidate: SentenceCandidate) -> float:
    return sum(WEIGHTS[name] * value for name, value in zip(FEATURES, candidate.features, strict=True))


def select(pool: list[SentenceCandidate], budget: int, max_similarity: float = 0.6) -> list[SentenceCandidate]:
    """The best-scoring sentences, skipping near-repeats of those already taken, until `budget` words; in passage
    order."""
    chosen: list[SentenceCandidate] = []
    used = 0
    for candidate in sorted(pool, key=lambda c: -predicted(c)):
        if used >= budget:
            break
        if any(_overlap(candidate.text, other.text) > max_similarity for other in chosen):
            continue
        chosen.append(candidate)
        used += len(candidate.text.split())
    return sorted(chosen, key=lambda c: (c.number, c.position))


def _without_label(sentence: str, speakers: list[str]) -> str:
    for speaker in speakers:
        if sentence.startswith(f"{speaker}: "):
            return sentence[len(speaker) + 2 :]
    return sentence


def _overlap(a: str, b: str) -> float:
    first, second = set(words(a)), set(words(b))
    return len(first & second) / max(1, min(len(first), len(second)))
