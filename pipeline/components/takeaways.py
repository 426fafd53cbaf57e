"""Takeaways: a theme's central, distinct sentences, cleaned of speech disfluencies, each cited."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import numpy as np
from haystack import Document, component

from pipeline.components.keyphrases import mmr, phrase_key, word_set
from pipeline.models import Citation, Takeaway, Theme, youtube_url
from pipeline.text import SENTENCE_END, clean_sentence

_DANGLING = re.compile(
    r"\b(?:the|a|an|and|or|but|of|to|in|on|for|with|that|which|because|so|if|is|are|was|we|i)\.$", re.I
)
# Openers that point back at something said before: the sentence is less self-contained.
_CONTEXT_OPENERS = word_set(
    "it it's that that's this these those they they're he she which who there's there here's his her its"
)


def citation_for(document: Document) -> Citation:
    meta = document.meta
    return Citation(
        talk_id=meta["talk_id"],
        first_segment=meta["first_segment"],
        last_segment=meta["last_segment"],
        start=meta.get("start"),
        end=meta.get("end"),
        url=youtube_url(meta.get("youtube_id"), meta.get("start")),
    )


def is_takeaway_candidate(
    document: Document, cleaned: str, min_words: int, max_words: int, punctuated: bool = True
) -> bool:
    """A statement by one of the talk's speakers, of a readable length, that is not a question nor (when the
    transcript is punctuated) a fragment cut at a caption boundary."""
    raw = (document.content or "").strip()
    return (
        document.meta.get("main_speaker", True)
        and not raw.endswith("?")
        and min_words <= len(cleaned.split()) <= max_words
        and not _DANGLING.search(cleaned)
        and (not punctuated or bool(SENTENCE_END.search(raw)))
    )


def is_punctuated(documents: list[Document]) -> bool:
    """Whether most sentences end in punctuation (not so in auto-captions)."""
    return sum(bool(SENTENCE_END.search((d.content or "").strip())) for d in documents) >= len(documents) / 2


def self_containment(cleaned: str) -> float:
    """1 for a sentence that stands on its own, less when it opens by pointing back ("It", "That", "Which")."""
    first = cleaned.split()[0].lower().strip(",.") if cleaned else ""
    return 0.85 if first in _CONTEXT_OPENERS else 1.0


@component
class TakeawayExtractor:
    """Picks 2-5 takeaways per theme: sentences central to the theme (and what sets it apart from the rest of its
    talk) and different from each other (MMR), cleaned, in the order they were said, each with a citation.

    Usage example:
    ```python
    from pipeline.components.segmenter import SentenceSplitter, ThemeSegmenter
    from pipeline.components.takeaways import TakeawayExtractor
    from pipeline.embedding import document_embedder
    from pipeline.models import Segment, Talk, Transcript

    lines = [
        "We picked the Apache licence because companies can contribute without asking a lawyer first.",
        "A permissive licence is not a gift, it is how you get contributors you never met.",
        "The licence question came up in every sales call during our first year.",
        "Pricing was the second thing we got wrong, and we got it wrong twice.",
        "We charged per seat, and small teams never made it past the trial.",
        "Usage based pricing is the only model where the customer wins when you win.",
    ]
    transcript = Transcript(
        talk=Talk(id="demo", title="Why Apache", speakers=["Ada"]),
        segments=[Segment(index=i, text=line, start=10.0 * i, end=10.0 * i + 10) for i, line in enumerate(lines)],
    )
    embedder = document_embedder()
    embedder.warm_up()
    sentences = embedder.run(documents=SentenceSplitter().run(transcripts=[transcript])["documents"])["documents"]
    segmented = ThemeSegmenter(unit_words=15, min_theme_words=40).run(
        documents=sentences, transcripts=[transcript], theme_count=2
    )
    extracted = TakeawayExtractor(min_takeaways=1).run(themes=segmented["themes"], documents=segmented["documents"])
    print([takeaway.text for takeaway in extracted["themes"][1].takeaways])
    # ['Pricing was the second thing we got wrong, and we got it wrong twice.']
    ```
    """

    def __init__(
        self,
        min_takeaways: int = 2,
        max_takeaways: int = 5,
        words_per_takeaway: int = 250,
        min_words: int = 8,
        max_words: int = 40,
        diversity: float = 0.3,
    ) -> None:
        """
        :param min_takeaways: fewest takeaways per theme (when it has enough sentences).
        :param max_takeaways: most takeaways per theme.
        :param words_per_takeaway: a theme gets one takeaway per this many words, within the bounds above.
        :param min_words: shortest takeaway, in words after cleaning.
        :param max_words: longest takeaway, in words after cleaning.
        :param diversity: MMR trade-off between centrality (0) and novelty (1).
        """
        if not 1 <= min_takeaways <= max_takeaways:
            raise ValueError("need 1 <= min_takeaways <= max_takeaways")
        if not 1 <= min_words <= max_words:
            raise ValueError("need 1 <= min_words <= max_words")
        self.min_takeaways = min_takeaways
        self.max_takeaways = max_takeaways
        self.words_per_takeaway = words_per_takeaway
        self.min_words = min_words
        self.max_words = max_words
        self.diversity = diversity

    @component.output_types(themes=list[Theme], scores=list[list[float]])
    def run(self, themes: list[Theme], documents: list[Document]) -> dict[str, Any]:
        """
        :param themes: the themes, in the order `meta["theme"]` numbers them (their keywords weigh in).
        :param documents: the embedded sentence Documents, each with its `meta["theme"]` (`ThemeSegmenter`'s).
        :returns: `themes`, copies with their `takeaways`, and `scores`: `scores[t][i]` is the centrality of theme
            t's takeaway i (the overview uses it).
        """
        by_theme: dict[int, list[Document]] = defaultdict(list)
        by_talk: dict[str, list[Document]] = defaultdict(list)
        for document in documents:
            by_theme[document.meta["theme"]].append(document)
            by_talk[document.meta["talk_id"]].append(document)
        talk_means = {talk: mean_embedding(docs) for talk, docs in by_talk.items()}
        out, all_scores = [], []
        for number, theme in enumerate(themes):
            takeaways, scores = [], []
            per_talk: dict[str, list[Document]] = defaultdict(list)
            for document in by_theme[number]:
                per_talk[document.meta["talk_id"]].append(document)
            for talk_docs in per_talk.values():  # a theme shared by several talks gets takeaways from each
                found, found_scores = self.pick(talk_docs, theme.keywords, talk_means, len(per_talk))
                takeaways += found
                scores += found_scores
            out.append(theme.model_copy(update={"takeaways": takeaways}))
            all_scores.append(scores)
        return {"themes": out, "scores": all_scores}

    def pick(
        self, documents: list[Document], keywords: list[str], talk_means: dict[str, np.ndarray], shared_by: int = 1
    ) -> tuple[list[Takeaway], list[float]]:
        """Takeaways from one talk's sentences of a theme (a share of them when `shared_by` talks have it)."""
        cleaned = [clean_sentence(d.content or "") for d in documents]
        punctuated = is_punctuated(documents)
        chosen = [
            i
            for i, d in enumerate(documents)
            if is_takeaway_candidate(d, cleaned[i], self.min_words, self.max_words, punctuated)
        ]
        if not chosen:
            return [], []
        words = sum(int(d.meta.get("words") or 0) for d in documents)
        wanted = max(self.min_takeaways, min(self.max_takeaways, round(words / self.words_per_takeaway)))
        if shared_by > 1:
            wanted = max(1, min(wanted, -(-self.max_takeaways // shared_by)))
        vectors = np.asarray([documents[i].embedding for i in chosen], dtype=np.float64)
        centroid = _unit(mean_embedding(documents))
        own_talks = {d.meta["talk_id"] for d in documents}
        distinct = _unit(mean_embedding(documents) - np.mean([talk_means[t] for t in own_talks], axis=0))
        keys = [phrase_key(k) for k in keywords]
        scores = np.asarray(
            [
                (vectors[j] @ centroid + 0.5 * vectors[j] @ distinct + 0.05 * _keyword_hits(cleaned[i], keys))
                * self_containment(cleaned[i])
                for j, i in enumerate(chosen)
            ]
        )
        picked: list[int] = []
        for p in mmr(scores, vectors @ vectors.T, 2 * wanted, self.diversity):
            if not _near_duplicate(cleaned[chosen[p]], [cleaned[chosen[q]] for q in picked]):
                picked.append(p)
            if len(picked) == wanted:
                break
        picked.sort(key=lambda p: documents[chosen[p]].meta["position"])
        takeaways = [Takeaway(text=cleaned[chosen[p]], citations=[citation_for(documents[chosen[p]])]) for p in picked]
        return takeaways, [float(scores[p]) for p in picked]


def mean_embedding(documents: list[Document]) -> np.ndarray:
    """The mean of the documents' embeddings."""
    return np.asarray([d.embedding for d in documents], dtype=np.float64).mean(axis=0)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / (np.linalg.norm(vector) or 1.0)


def _keyword_hits(text: str, keys: list[tuple[str, ...]]) -> int:
    words = phrase_key(text)
    joined = " " + " ".join(words) + " "
    return sum(1 for key in keys if " " + " ".join(key) in joined)


def _near_duplicate(text: str, others: list[str]) -> bool:
    """Caption files sometimes repeat a cue: the same sentence twice is one takeaway."""
    words = set(text.lower().split())
    return any(len(words & set(o.lower().split())) >= 0.8 * min(len(words), len(o.split())) for o in others)
