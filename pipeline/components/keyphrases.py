"""Keyphrase titles and keywords for themes: n-gram candidates ranked by embedding similarity to the theme and
class-based TF-IDF across the themes (so titles tell themes apart), picked for diversity by MMR."""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from haystack import Document, component
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from pipeline.embedding import document_embedder
from pipeline.models import Theme


# Spoken fillers, hedges, vague nouns and common verbs: never the first or last word of a keyphrase.
def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


SPOKEN_STOP_WORDS = word_set(
    """
    um umm uh uhh erm er ah hmm mm mhm oh okay ok yeah yes yep nope right alright well like really actually
    basically honestly literally obviously maybe probably just pretty quite kind sort lot lots bit thing things
    stuff way ways time times gonna wanna gotta let lets guess mean means meant know knew known think thinking
    thought say said says saying tell told talk talking talked go goes going went gone get gets got getting
    come comes came coming make makes made making take takes took taken want wanted wants need needed needs
    look looked looking see saw seen try tried trying use used using start started starting ask asked asking
    feel felt work worked working happen happened put keep kept give gave run ran read wrote write turn turned
    good great nice sure whole able same different certain other own big little new old real huge lots
    people person guys everyone everybody anyone somebody someone nobody day days week weeks month months year
    years today tomorrow yesterday now question questions answer slide slides point points example part parts
    idea ideas reason reasons problem number numbers percent actual ahead anyway instead already still almost
    enough exactly especially genuinely having being doing sat written wrote built bought brought found held left
    lost met paid sent spent stood taught understood won began begun broke broken chose chosen drove fell forgot
    grew grown knew led rose spoke threw became become hit set cut shut quit stop stopped tried happens does did
    done stuck wrong funny depend depends morning afternoon evening night list answers thanks thank hey hello hi
    bye welcome
    """
)
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | SPOKEN_STOP_WORDS
# Function words a keyphrase may hold inside ("state of mind", "open source as a strategy").
CONNECTORS = frozenset({"of", "for", "without", "as", "with", "in", "on", "a", "an", "the"})
FILLER_PHRASES = ("you know", "kind of", "sort of", "i mean", "a lot", "you see")
_CHUNK_BREAK = re.compile(r"[,;:!?()\"“”…—–\[\]]|\.(?!\d)|\s-\s")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’\-]*(?:\.\d+)?")


@dataclass
class Candidates:
    """Keyphrase candidates of one theme: counts by normalised key, and the surface forms seen for each."""

    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    surfaces: dict[tuple[str, ...], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    words: int = 0


def phrase_key(text: str) -> tuple[str, ...]:
    """Lower case, hyphens as spaces, last word singular ("Open-source tools" → ("open", "source", "tool"))."""
    words = text.lower().replace("’", "'").replace("-", " ").split()
    if words and len(words[-1]) > 3 and words[-1].endswith("s") and not words[-1].endswith(("ss", "us", "is")):
        words[-1] = words[-1][:-3] + "y" if words[-1].endswith("ies") else words[-1][:-1]
    return tuple(words)


def prune_subsumed(counts: Counter[tuple[str, ...]], share: float = 0.5) -> set[tuple[str, ...]]:
    """Phrases that mostly occur inside a longer candidate ("alive" in "default alive"): dropped as keywords."""
    inside: Counter[tuple[str, ...]] = Counter()  # the count of the most frequent longer phrase holding each one
    for key, count in counts.items():
        for size in range(1, len(key)):
            for i in range(len(key) - size + 1):
                part = key[i : i + size]
                inside[part] = max(inside[part], count)
    return {key for key, count in counts.items() if inside[key] >= share * count}


def _is_edge_word(token: str) -> bool:
    """Whether a token may open or close a keyphrase."""
    low = token.lower().replace("’", "'")
    if "'" in low or low in STOP_WORDS or (len(low) < 2 and not low.isdigit()):
        return False
    if (low.endswith("ly") or low.endswith("ed")) and len(low) > 4:
        return False
    return any(ch.isalpha() for ch in low) or "." in low


def _is_inner_word(token: str) -> bool:
    return _is_edge_word(token) or token.lower() in CONNECTORS


def extract_candidates(texts: list[str], max_words: int = 4) -> Candidates:
    """Every phrase of 1..`max_words` words inside a clause whose edge words are content words, whose inner
    words are content words or connectors (at most two), and that holds no filler phrase."""
    found = Candidates()
    for text in texts:
        found.words += len(text.split())
        for chunk in _CHUNK_BREAK.split(text):
            tokens = _TOKEN.findall(chunk)
            for i in range(len(tokens)):
                if not _is_edge_word(tokens[i]):
                    continue
                for j in range(i, min(len(tokens), i + max_words)):
                    if j > i and not _is_inner_word(tokens[j]):
                        break
                    if not _is_edge_word(tokens[j]):
                        continue
                    words = tokens[i : j + 1]
                    if sum(w.lower() in CONNECTORS for w in words) > 2:
                        break
                    surface = " ".join(words)
                    padded = f" {surface.lower()} "
                    if any(f" {filler} " in padded for filler in FILLER_PHRASES):
                        continue
                    key = phrase_key(surface)
                    found.counts[key] += 1
                    found.surfaces[key][surface] += 1
    return found


def class_tfidf(per_class: list[Candidates]) -> list[dict[tuple[str, ...], float]]:
    """c-TF-IDF of each phrase in each class (theme): its frequency in the class, times the share of its
    occurrences that fall in this class (so a phrase spread over all themes names none of them), times
    log(1 + mean class words / its total count)."""
    totals: Counter[tuple[str, ...]] = Counter()
    for candidates in per_class:
        totals.update(candidates.counts)
    average = np.mean([max(1, c.words) for c in per_class])
    return [
        {key: count * (count / totals[key]) * math.log(1 + average / totals[key]) for key, count in c.counts.items()}
        for c in per_class
    ]


def display_form(surfaces: Counter[str]) -> str:
    """The most frequent surface form (ties: the one with most capitals, e.g. a proper noun)."""
    return max(surfaces.items(), key=lambda item: (item[1], sum(ch.isupper() for ch in item[0][1:])))[0]


def as_title(phrase: str) -> str:
    return phrase[:1].upper() + phrase[1:]


def mmr(scores: np.ndarray, similarity: np.ndarray, k: int, diversity: float) -> list[int]:
    """Maximal marginal relevance: up to `k` indices, each the best trade-off of score and novelty."""
    chosen: list[int] = []
    remaining = list(range(len(scores)))
    while remaining and len(chosen) < k:
        if chosen:
            penalty = similarity[np.ix_(remaining, chosen)].max(axis=1)
            values = (1 - diversity) * scores[remaining] - diversity * penalty
        else:
            values = scores[remaining]
        best = remaining[int(np.argmax(values))]
        chosen.append(best)
        remaining.remove(best)
    return chosen


def _talk_means(documents: list[Document]) -> dict[str, np.ndarray]:
    by_talk: dict[str, list[Document]] = defaultdict(list)
    for document in documents:
        by_talk[document.meta["talk_id"]].append(document)
    return {
        talk: np.asarray([d.embedding for d in docs], dtype=np.float64).mean(axis=0) for talk, docs in by_talk.items()
    }


def _direction(documents: list[Document], talk_means: dict[str, np.ndarray]) -> np.ndarray:
    """What a theme is about: the mean of its centroid and of what sets it apart from its talks (both unit)."""
    if not documents:
        return np.zeros(next(iter(talk_means.values())).shape) if talk_means else np.zeros(1)
    mean = np.asarray([d.embedding for d in documents], dtype=np.float64).mean(axis=0)
    apart = mean - np.mean([talk_means[t] for t in {d.meta["talk_id"] for d in documents}], axis=0)
    return 0.5 * (mean / (np.linalg.norm(mean) or 1.0) + apart / (np.linalg.norm(apart) or 1.0))


def _length_bonus(key: tuple[str, ...]) -> float:
    """Longer phrases are more specific: x1 for one word, x1.5 for two, x2 for three or more."""
    return 1 + 0.5 * min(len(key) - 1, 2)


def _overlaps(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """Whether one phrase's content words are all in the other's."""
    sa, sb = set(a) - CONNECTORS, set(b) - CONNECTORS
    return sa <= sb or sb <= sa


@component
class KeyphraseTitler:
    """Gives each theme a keyphrase title (a clean 1-4 word phrase, distinct across themes) and keywords."""

    def __init__(
        self,
        keywords: int = 6,
        max_words: int = 4,
        candidates: int = 30,
        diversity: float = 0.5,
        similarity_weight: float = 0.5,
    ) -> None:
        """
        :param keywords: keywords per theme (the title is one of them).
        :param max_words: longest keyphrase.
        :param candidates: phrases per theme, by c-TF-IDF, that are embedded and ranked.
        :param diversity: MMR trade-off between score (0) and novelty (1).
        :param similarity_weight: weight of embedding similarity against normalised c-TF-IDF in the score.
        """
        if keywords < 1 or max_words < 1 or candidates < 1:
            raise ValueError("keywords, max_words and candidates must be at least 1")
        self.keywords = keywords
        self.max_words = max_words
        self.candidates = candidates
        self.diversity = diversity
        self.similarity_weight = similarity_weight
        self._embedder = None
        self._names: set[str] = set()

    def warm_up(self) -> None:
        if self._embedder is None:
            self._embedder = document_embedder()
            self._embedder.warm_up()

    @component.output_types(themes=list[Theme])
    def run(self, themes: list[Theme], documents: list[Document]) -> dict[str, Any]:
        self.warm_up()
        by_theme: dict[int, list[Document]] = defaultdict(list)
        for document in documents:
            by_theme[document.meta["theme"]].append(document)
        self._names = {part.lower() for d in documents for part in str(d.meta.get("speaker") or "").split()}
        per_theme = [
            extract_candidates([d.content or "" for d in by_theme[t]], self.max_words) for t in range(len(themes))
        ]
        tfidf = class_tfidf(per_theme)
        pools = [self._pool(per_theme[t], tfidf[t]) for t in range(len(themes))]
        texts = [display_form(per_theme[t].surfaces[key]) for t in range(len(themes)) for key in pools[t]]
        embedded = (
            self._embedder.run(documents=[Document(content=text) for text in texts])["documents"] if texts else []
        )
        vectors = np.asarray([d.embedding for d in embedded], dtype=np.float64).reshape(len(texts), -1)
        talk_means = _talk_means(documents)
        ranked, offset = [], 0
        for t in range(len(themes)):
            size = len(pools[t])
            direction = _direction(by_theme[t], talk_means)
            ranked.append(self._rank(direction, per_theme[t], tfidf[t], pools[t], vectors[offset : offset + size]))
            offset += size
        used: list[tuple[str, ...]] = []
        out = []
        for theme, keywords in zip(themes, ranked, strict=True):
            title = self._title(keywords, used)
            if title:
                used.append(phrase_key(title))
            out.append(
                theme.model_copy(
                    update={"title": as_title(title) if title else "", "keywords": [k for k, _ in keywords]}
                )
            )
        return {"themes": out}

    def _pool(self, candidates: Candidates, tfidf: dict[tuple[str, ...], float]) -> list[tuple[str, ...]]:
        """The theme's best `candidates` phrases by c-TF-IDF (repeated ones, when there are enough)."""
        dropped = prune_subsumed(candidates.counts)
        allowed = [key for key in candidates.counts if key not in dropped and not set(key) & self._names]
        repeated = [key for key in allowed if candidates.counts[key] >= 2]
        pool = repeated if len(repeated) >= self.keywords else allowed
        return sorted(pool, key=lambda key: -tfidf[key] * _length_bonus(key))[: self.candidates]

    def _rank(
        self,
        direction: np.ndarray,
        candidates: Candidates,
        tfidf: dict[tuple[str, ...], float],
        pool: list[tuple[str, ...]],
        vectors: np.ndarray,
    ) -> list[tuple[str, float]]:
        """The theme's keywords, best first, as (display form, score)."""
        if not pool:
            return []
        texts = [display_form(candidates.surfaces[key]) for key in pool]
        similarity = vectors @ direction
        weights = np.asarray([tfidf[key] * _length_bonus(key) for key in pool])
        scores = self.similarity_weight * similarity + (1 - self.similarity_weight) * weights / (weights.max() or 1.0)
        picked: list[int] = []
        for index in mmr(scores, vectors @ vectors.T, len(pool), self.diversity):
            if not any(_overlaps(pool[index], pool[other]) for other in picked):
                picked.append(index)
            if len(picked) == self.keywords:
                break
        return [(texts[i], float(scores[i])) for i in picked]

    @staticmethod
    def _title(keywords: list[tuple[str, float]], used: list[tuple[str, ...]]) -> str:
        """The best keyword not used by an earlier theme; a multi-word phrase when it scores nearly as well."""
        free = [(text, score) for text, score in keywords if not any(_overlaps(phrase_key(text), u) for u in used)]
        if not free:
            return keywords[0][0] if keywords else ""
        best_text, best_score = free[0]
        for text, score in free:
            if len(phrase_key(text)) >= 2 and score >= 0.7 * best_score:
                return text
        return best_text
