"""The extractive answer: the passages' sentences most likely to answer the question, condensed and each cited."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from haystack import component

from pipeline.components.keyphrases import STOP_WORDS
from pipeline.models import Answer, AnswerSentence, Passage
from pipeline.text import clean_sentence, split_sentences, words

_ENUMERATION = re.compile(r"^(?:and\s+)?(?:one|two|three|four|five|first(?:ly)?|second(?:ly)?|third(?:ly)?)\b", re.I)

#: Feature names, in the order of `SentenceCandidate.features` (see `candidates`).
FEATURES = (
    "similarity",
    "context",
    "passage_prior",
    "log_words",
    "enumeration",
    "context_after",
    "passage_score",
    "position",
    "question_overlap",
    "centrality",
    "content_share",
    "cues",
    "relative_similarity",
    "number",
    "word_prior",
    "word_prior_total",
)
#: The hand-set scorer before the fitted one: a small grid on the dev half of QMSum val (README, "Answers"); the
#: features after "enumeration" did not exist then.
HAND_SET = {"similarity": 1.0, "context": 0.15, "passage_prior": 0.1, "log_words": 0.03, "enumeration": 0.4}
#: The fitted scorer: weights (and the selection's redundancy penalty) fitted on QMSum's train split by
#: `training/answer_scorer.py` (provenance inside the file).
FITTED_PATH = Path(__file__).resolve().parents[1] / "weights" / "answer_scorer.json"


@dataclass(frozen=True)
class Scorer:
    """A sentence scorer: a weight per feature of `FEATURES` and the selection's redundancy penalty."""

    weights: dict[str, float]
    redundancy: float = 0.0
    word_rates: dict[str, float] = field(default_factory=dict)  # for "word_prior": a rate per stop word
    other_rate: float = 0.0  # and one for every other word

    def score(self, candidate: SentenceCandidate) -> float:
        pairs = zip(FEATURES, candidate.features, strict=True)
        return sum(self.weights.get(name, 0.0) * value for name, value in pairs)


@lru_cache(maxsize=1)
def fitted_scorer() -> Scorer:
    data = json.loads(FITTED_PATH.read_text())
    if list(data["features"]) != list(FEATURES):
        raise ValueError(f"{FITTED_PATH} was fitted on other features: rerun training/answer_scorer.py")
    weights = dict(zip(data["features"], data["weights"], strict=True))
    return Scorer(weights, float(data["redundancy"]), dict(data["word_rates"]), float(data["other_rate"]))


DEFAULT_SCORER = "fitted"
SCORERS = {"fitted": fitted_scorer, "hand-set": lambda: Scorer(HAND_SET)}
#: Words that give a reason, a decision or a plan ("because", "decided", "agreed", "should"): what the "why" and
#: "what was decided" questions ask for.
_CUES = frozenset(
    "because since so therefore decided decide decision agreed agree should need needs must reason reasons "
    "idea plan going will want suggest suggested think".split()
)
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|percent)\b", re.I)


@dataclass
class SentenceCandidate:
    """One sentence of one passage that could go into the answer."""

    number: int  # the passage's number, from 1, as cited
    position: int  # the sentence's place in its passage
    text: str  # cleaned, without its speaker label
    features: list[float]


def _content(text: str) -> list[str]:
    return [word for word in words(text) if word not in STOP_WORDS and len(word) > 1]


def word_prior(text: str, rates: dict[str, float], other_rate: float) -> tuple[float, float]:
    """The mean and the sum (over 10) of the sentence's words' rates: how often such a word of a retrieved sentence
    is also in the reference answer (fitted on QMSum train, one rate per English stop word, one for all other
    words). Topic words share one rate, so what is learned is style: "the", "of", "that" are more often in a
    reference than "I", "you", "yeah"; sentences that describe beat backchannel and chatter."""
    return _word_prior(words(text), rates, other_rate)


def _word_prior(tokens: list[str], rates: dict[str, float], other_rate: float) -> tuple[float, float]:
    values = [rates.get(word, other_rate) for word in tokens]
    if not values:
        return 0.0, 0.0
    return sum(values) / len(values), sum(values) / 10


def candidates(
    passages: list[Passage],
    sentence_scores: list[list[float]],
    min_words: int = 5,
    query: str = "",
    scorer: Scorer | None = None,
) -> list[SentenceCandidate]:
    """The passages' sentences that can stand alone (not questions, not fragments), with their features.

    similarity: the highlighter's score (embedding similarity to the question plus shared words); context: the best
    similarity among the two sentences before it in its passage (answers follow the words that name the topic:
    "Three reasons. One, ..."); passage_prior: 1 / the passage's rank; log_words: longer sentences say more;
    enumeration: a point of a list the speaker counts out ("One, ...", "Second, ..."); context_after: the best
    similarity of the two sentences after it; passage_score: the passage's retrieval score over the best passage's;
    position: its place in the passage, 0 (first) to 1 (last); question_overlap: the share of the question's content
    words it holds; centrality: the cosine of its content words with all the passages' (what the passages keep
    talking about); content_share: its share of content words (not stop words or fillers); cues: reason, decision
    and plan words ("because", "decided", "should"), up to 3; relative_similarity: similarity minus the best
    similarity among the candidates; number: it says a number; word_prior, word_prior_total: see `word_prior`
    (0 without a `scorer` that has word rates).
    """
    question = set(_content(query))
    top_score = max((p.score for p in passages), default=0.0) or 1.0
    rows: list[tuple[int, int, str, list[float], list[str]]] = []
    for number, (passage, scores) in enumerate(zip(passages, sentence_scores, strict=True), 1):
        sentences = split_sentences(passage.text)
        for position, (sentence, score) in enumerate(zip(sentences, scores, strict=True)):
            raw = _without_label(sentence, passage.speakers)
            if len(raw.split()) < min_words:  # cleaning only removes words: too short already (half the time saved)
                continue
            cleaned = _clean(raw)
            tokens = cleaned.split()
            if len(tokens) < min_words or cleaned.endswith("?"):
                continue
            lowered = words(cleaned)
            content = [word for word in lowered if word not in STOP_WORDS and len(word) > 1]
            features = [
                score,
                max(scores[max(0, position - 2) : position], default=0.0),
                1.0 / number,
                math.log(len(tokens)),
                float(bool(_ENUMERATION.match(sentence.strip()))),
                max(scores[position + 1 : position + 3], default=0.0),
                passage.score / top_score,
                position / max(1, len(sentences) - 1),
                len(question & set(content)) / len(question) if question else 0.0,
                0.0,  # centrality, below
                len(content) / max(1, len(lowered)),
                float(min(3, sum(word in _CUES for word in lowered))),
                0.0,  # relative_similarity, below
                float(bool(_NUMBER.search(cleaned))),
                *(_word_prior(lowered, scorer.word_rates, scorer.other_rate) if scorer else (0.0, 0.0)),
            ]
            rows.append((number, position, cleaned, features, content))
    if not rows:
        return []
    centroid = Counter(word for row in rows for word in row[4])
    centroid_norm = math.sqrt(sum(count * count for count in centroid.values())) or 1.0
    best = max(row[3][0] for row in rows)
    result = []
    for number, position, cleaned, features, content in rows:
        bag = Counter(content)
        norm = math.sqrt(sum(count * count for count in bag.values())) or 1.0
        features[FEATURES.index("centrality")] = sum(c * centroid[w] for w, c in bag.items()) / (norm * centroid_norm)
        features[FEATURES.index("relative_similarity")] = features[0] - best
        result.append(SentenceCandidate(number, position, cleaned, features))
    return result


@component
class ExtractiveAnswerWriter:
    """Writes `Answer.answer` from the passages' sentences most likely to answer the question, about `answer_words`
    long, each citing its passage as `[n]`.

    Each sentence that can stand alone is scored by a weighted sum of `FEATURES` (its similarity to the question,
    that of the sentences around it, the passage's rank and score, the question's words it holds, how central it is
    to the passages, whether it is a counted point of a list, how descriptive its wording is, ...), with the weights
    of `scorer`: "fitted" (default; fitted on QMSum train, `pipeline/weights/answer_scorer.json`) or "hand-set"
    (the scorer before it). The best are then taken, each less a penalty for its overlap with those already taken,
    until the budget; they are cleaned of fillers (whole words only: "um", "you know") and put back in passage
    order. With `answer_words=0` only the passages are returned.

    Usage example:
    ```python
    from pipeline.components.answer import ExtractiveAnswerWriter
    from pipeline.models import Passage

    text = "Thanks for coming. We picked the Apache licence so that companies can contribute without a lawyer."
    passage = Passage(talk_id="demo", title="Why Apache", text=text, score=0.8, first_segment=0, last_segment=3)
    writer = ExtractiveAnswerWriter(answer_words=30)
    writer.warm_up()
    answer = writer.run(query="Why Apache?", passages=[passage], sentence_scores=[[0.1, 0.7]])["answer"]
    print(answer.answer)  # We picked the Apache licence so that companies can contribute without a lawyer. [1]
    ```
    """

    def __init__(
        self, answer_words: int = 80, min_words: int = 5, max_similarity: float = 0.6, scorer: str = DEFAULT_SCORER
    ) -> None:
        if answer_words < 0:
            raise ValueError("answer_words must not be negative")
        if scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {', '.join(SCORERS)}, not {scorer!r}")
        self.answer_words = answer_words
        self.min_words = min_words
        self.max_similarity = max_similarity
        self.scorer = scorer
        self._scorer: Scorer | None = None

    def warm_up(self) -> None:
        """Reads the scorer's weights (a small JSON file for the fitted one)."""
        if self._scorer is None:
            self._scorer = SCORERS[self.scorer]()

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
        self.warm_up()
        scorer = self._scorer or SCORERS[self.scorer]()
        pool = candidates(passages, sentence_scores, self.min_words, query, scorer)
        scores = [scorer.score(c) for c in pool]
        chosen = select(pool, scores, budget, self.max_similarity, scorer.redundancy)
        sentences = [AnswerSentence(text=c.text, citations=[c.number]) for c in chosen]
        text = " ".join(f"{s.text} [{s.citations[0]}]" for s in sentences)
        return {
            "answer": answer.model_copy(update={"answer": text or None, "sentences": sentences, "method": "extractive"})
        }


def select(
    pool: list[SentenceCandidate],
    scores: list[float],
    budget: int,
    max_similarity: float = 0.6,
    redundancy: float = 0.0,
) -> list[SentenceCandidate]:
    """The best sentences until `budget` words, in passage order: each step takes the highest of `scores` (one per
    candidate) less `redundancy` times its word overlap with the closest sentence already taken (maximal
    marginal relevance), skipping near-repeats (overlap above `max_similarity`)."""
    values = list(scores)
    bags = [set(words(c.text)) for c in pool]
    closest = [0.0] * len(pool)
    left = set(range(len(pool)))
    chosen: list[int] = []
    used = 0
    while left and used < budget:
        best = max(left, key=lambda i: (values[i] - redundancy * closest[i], -i))
        left.discard(best)
        if closest[best] > max_similarity:
            continue
        chosen.append(best)
        used += len(pool[best].text.split())
        for i in left:
            closest[i] = max(closest[i], _bag_overlap(bags[i], bags[best]))
    return sorted((pool[i] for i in chosen), key=lambda c: (c.number, c.position))


@lru_cache(maxsize=8192)
def _clean(sentence: str) -> str:
    """`clean_sentence`, remembered: most of the writer's time is these regular expressions, and a warm pipeline sees
    the same passages' sentences again and again (questions about one talk)."""
    return clean_sentence(sentence)


def _without_label(sentence: str, speakers: list[str]) -> str:
    for speaker in speakers:
        if sentence.startswith(f"{speaker}: "):
            return sentence[len(speaker) + 2 :]
    return sentence


def _bag_overlap(first: set[str], second: set[str]) -> float:
    return len(first & second) / max(1, min(len(first), len(second)))
