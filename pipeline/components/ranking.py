"""Fusing and re-scoring retrieval results: Haystack's weighted reciprocal rank fusion of the keyword and embedding
rankings with each one's best chunk kept aside, a boost for speakers the question names, and neighbour smoothing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from haystack import Document, component
from haystack.components.joiners import DocumentJoiner

from pipeline.components.candidates import Candidates
from pipeline.components.passages import PassageSelector


def speakers_named(question: str, speakers: set[str]) -> set[str]:
    """Speakers the question names: the whole name (`Project Manager`, `Priya Raman`) or a surname (`Raman`)."""
    text = question.lower()
    named = set()
    for speaker in speakers:
        whole = re.search(rf"\b{re.escape(speaker.lower())}\b", text)
        words = speaker.split()
        surname = words[-1] if len(words) > 1 and len(words[-1]) >= 4 and words[-1][0].isupper() else None
        if whole or (surname and re.search(rf"\b{re.escape(surname.lower())}\b", text)):
            named.add(speaker)
    return named


def rank_fusion(keyword_weight: float = 1.0, embedding_weight: float = 1.0) -> DocumentJoiner:
    """Haystack's weighted reciprocal rank fusion (constant 61) of the keyword and the embedding ranking, in that
    order: a chunk scores `sum(w * 61 / (61 + rank))` over the rankings it appears in, weights normalised to sum 1.

    Usage: `rank_fusion(1.0, 1.5).run(documents=[bm25_documents, embedding_documents])["documents"]`. In a pipeline
    the joiner's variadic input lists arrive in the order its senders run (Haystack's lexicographic topological
    order), so the keyword retriever's name must sort before the embedding retriever's (`bm25` < `embedding_...`).
    """
    return DocumentJoiner(join_mode="reciprocal_rank_fusion", weights=[keyword_weight, embedding_weight])


@component
class RetrieverLeaders:
    """Names each ranking's best chunk (without repeats), for `PassageSelector` to keep among the passages even
    when fusion and re-scoring push it out: where the two retrievers disagree, each one's surest match is shown.

    :param keyword_weight, embedding_weight: a ranking whose fusion weight is 0 names no leader.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.ranking import RetrieverLeaders

    keyword = [Document(id="demo:4-7", content="Pricing per seat."), Document(id="demo:0-3", content="Apache.")]
    embedding = [Document(id="demo:0-3", content="Apache."), Document(id="demo:4-7", content="Pricing per seat.")]
    leaders = RetrieverLeaders().run(keyword_documents=keyword, embedding_documents=embedding)["leaders"]
    print(leaders)  # ['demo:4-7', 'demo:0-3']
    ```
    """

    def __init__(self, keyword_weight: float = 1.0, embedding_weight: float = 1.0) -> None:
        self.keyword_weight = keyword_weight
        self.embedding_weight = embedding_weight

    @component.output_types(leaders=list[str])
    def run(self, keyword_documents: list[Document], embedding_documents: list[Document]) -> dict[str, Any]:
        """
        :param keyword_documents: the keyword retriever's ranking, best first.
        :param embedding_documents: the embedding retriever's ranking, best first.
        :returns: `leaders`, the ids of each ranking's first chunk.
        """
        leaders: list[str] = []
        for ranking, weight in ((keyword_documents, self.keyword_weight), (embedding_documents, self.embedding_weight)):
            if ranking and weight and ranking[0].id not in leaders:
                leaders.append(ranking[0].id)
        return {"leaders": leaders}


@component
class CandidateFusion:
    """The keyword and the embedding ranking fused by `rank_fusion` (Haystack's weighted RRF, keyword first), with
    each ranking's best chunk named by `RetrieverLeaders`: one component for the two, because Haystack deep-copies
    every component's inputs and a second component on the same two lists of ~100 chunks cost more than both steps
    (bench/ask.py). The rankings may come as lists or as `Candidates` (copied as one object); the fused ranking
    leaves as `Candidates`.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.ranking import CandidateFusion

    apache, pricing, hiring = (Document(id=name, content=name) for name in ("apache", "pricing", "hiring"))
    fused = CandidateFusion(keyword_weight=1.0, embedding_weight=1.5).run(
        keyword_documents=[pricing, apache], embedding_documents=[apache, hiring]
    )
    print([document.id for document in fused["documents"]], fused["leaders"])
    # ['apache', 'hiring', 'pricing'] ['pricing', 'apache']: the embedding ranking weighs more
    ```
    """

    def __init__(self, keyword_weight: float = 1.0, embedding_weight: float = 1.0) -> None:
        self.keyword_weight = keyword_weight
        self.embedding_weight = embedding_weight
        self._joiner = rank_fusion(keyword_weight, embedding_weight)
        self._leaders = RetrieverLeaders(keyword_weight, embedding_weight)

    @component.output_types(documents=Candidates, leaders=list[str])
    def run(
        self, keyword_documents: list[Document] | Candidates, embedding_documents: list[Document] | Candidates
    ) -> dict[str, Any]:
        """
        :param keyword_documents: the keyword retriever's ranking, best first.
        :param embedding_documents: the embedding retriever's ranking, best first.
        :returns: `documents`, the fused ranking, best first (one `Candidates`), and `leaders`, the ids of each
            ranking's first chunk.
        """
        fused = self._joiner.run(documents=[keyword_documents, embedding_documents])["documents"]
        leaders = self._leaders.run(keyword_documents=keyword_documents, embedding_documents=embedding_documents)
        return {"documents": Candidates(fused), "leaders": leaders["leaders"]}


@component
class SpeakerBooster:
    """Raises the score of passages spoken by someone the question names ("What did Priya say about on-call?").

    A passage mainly spoken by that person gains `boost` times its score; one they only take part in, half that.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.ranking import SpeakerBooster

    def chunk(first: int, text: str, score: float, speaker: str = "Ada") -> Document:
        meta = {"talk_id": "demo", "first_segment": first, "last_segment": first + 3, "speaker": speaker}
        return Document(id=f"demo:{first}-{first + 3}", content=text, score=score, meta={**meta, "speakers": [speaker]})

    documents = [chunk(0, "We picked Apache.", 0.9), chunk(4, "Per-seat pricing failed.", 0.8, "Priya Raman")]
    boosted = SpeakerBooster(boost=0.5).run(documents=documents, query="What did Raman say about pricing?")
    print([(document.id, round(document.score, 2)) for document in boosted["documents"]])
    # [('demo:4-7', 1.2), ('demo:0-3', 0.9)]
    ```
    """

    def __init__(self, boost: float = 0.5) -> None:
        if boost < 0:
            raise ValueError("boost must not be negative")
        self.boost = boost

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document], query: str) -> dict[str, Any]:
        """
        :param documents: the candidates, with `meta["speaker"]` (who speaks most) and `meta["speakers"]`.
        :param query: the question.
        :returns: `documents`, copies re-scored and re-sorted, best first (unchanged when no speaker is named).
        """
        known = {name for doc in documents for name in doc.meta.get("speakers") or []}
        named = speakers_named(query, known)
        if not named or not self.boost:
            return {"documents": documents}
        boosted = []
        for doc in documents:
            factor = 1.0
            if doc.meta.get("speaker") in named:
                factor += self.boost
            elif named & set(doc.meta.get("speakers") or []):
                factor += self.boost / 2
            boosted.append(replace(doc, score=(doc.score or 0.0) * factor))
        return {"documents": sorted(boosted, key=lambda doc: -(doc.score or 0.0))}


@component
class NeighbourSmoother:
    """Adds `weight` times the scores of overlapping or adjacent candidates from the same talk to each one.

    Answers in talks and meetings run over stretches longer than one chunk; a chunk whose neighbours also match
    is more likely inside such a stretch than a lone lucky match.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.ranking import NeighbourSmoother

    def chunk(first: int, text: str, score: float, speaker: str = "Ada") -> Document:
        meta = {"talk_id": "demo", "first_segment": first, "last_segment": first + 3, "speaker": speaker}
        return Document(id=f"demo:{first}-{first + 3}", content=text, score=score, meta={**meta, "speakers": [speaker]})

    documents = [chunk(0, "Why Apache?", 0.5), chunk(30, "A lone match.", 0.6), chunk(4, "Apache, again.", 0.4)]
    smoothed = NeighbourSmoother(weight=0.5).run(documents=documents)["documents"]
    print([(document.id, round(document.score, 2)) for document in smoothed])
    # [('demo:0-3', 0.7), ('demo:4-7', 0.65), ('demo:30-33', 0.6)]
    ```
    """

    def __init__(self, weight: float = 0.5) -> None:
        if weight < 0:
            raise ValueError("weight must not be negative")
        self.weight = weight

    @component.output_types(documents=list[Document])
    def run(self, documents: list[Document]) -> dict[str, Any]:
        """
        :param documents: the candidates, with their segment range in `meta`.
        :returns: `documents`, copies re-scored and re-sorted, best first.
        """
        if not self.weight:
            return {"documents": documents}
        return {"documents": [replace(doc, score=score) for doc, score in smoothed_scores(documents, self.weight)]}


def smoothed_scores(documents: Sequence[Document], weight: float) -> list[tuple[Document, float]]:
    """`NeighbourSmoother`'s ranking as (document, smoothed score) pairs, best first, the documents unchanged: so that
    `PassageRanker` makes re-scored copies of the few passages it keeps only, not of every candidate."""
    by_talk: dict[str, list[Document]] = {}
    for doc in documents:
        by_talk.setdefault(doc.meta["talk_id"], []).append(doc)
    smoothed = []
    for docs in by_talk.values():
        docs.sort(key=lambda doc: doc.meta["first_segment"])
        for position, doc in enumerate(docs):
            neighbours = [docs[i] for i in (position - 1, position + 1) if 0 <= i < len(docs)]
            bonus = sum(n.score or 0.0 for n in neighbours if _touching(doc, n))
            smoothed.append((doc, (doc.score or 0.0) + weight * bonus))
    return sorted(smoothed, key=lambda pair: -pair[1])


def _touching(a: Document, b: Document) -> bool:
    return (
        a.meta["first_segment"] <= b.meta["last_segment"] + 1 and b.meta["first_segment"] <= a.meta["last_segment"] + 1
    )


@component
class PassageRanker:
    """Re-scores the fused candidates and picks the passages: `SpeakerBooster`, then `NeighbourSmoother`, then
    `PassageSelector` (with the leaders), run in turn inside one component. As three pipeline components they cost
    more in Haystack's deep copies of the ~150 candidates between them than in their own work (bench/ask.py); the
    smoother's ranking is taken as scores (`smoothed_scores`), and only the passages kept are copied re-scored.

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.ranking import PassageRanker

    def chunk(first: int, text: str, score: float, speaker: str = "Ada") -> Document:
        meta = {"talk_id": "demo", "first_segment": first, "last_segment": first + 3, "speaker": speaker}
        return Document(id=f"demo:{first}-{first + 3}", content=text, score=score, meta={**meta, "speakers": [speaker]})

    documents = [chunk(0, "Why Apache?", 0.5), chunk(2, "Apache, again.", 0.45), chunk(30, "Pricing.", 0.3)]
    passages = PassageRanker(top_k=2).run(documents=documents, query="Why Apache?", leaders=["demo:30-33"])
    print([document.id for document in passages["documents"]])  # ['demo:0-3', 'demo:30-33']
    ```
    """

    def __init__(
        self,
        top_k: int = 5,
        speaker_boost: float = 0.5,
        neighbour_weight: float = 0.5,
        max_overlap: float = 0.0,
        leaders_after: int = 1,
        grow: bool = False,
    ) -> None:
        self.top_k = top_k
        self.speaker_boost = speaker_boost
        self.neighbour_weight = neighbour_weight
        self.max_overlap = max_overlap
        self.leaders_after = leaders_after
        self.grow = grow
        self._booster = SpeakerBooster(boost=speaker_boost)
        if neighbour_weight < 0:
            raise ValueError("weight must not be negative")
        self._selector = PassageSelector(top_k=top_k, max_overlap=max_overlap, leaders_after=leaders_after, grow=grow)

    @component.output_types(documents=list[Document])
    def run(
        self,
        documents: list[Document] | Candidates,
        query: str,
        top_k: int | None = None,
        leaders: list[str] | None = None,
    ) -> dict[str, Any]:
        """
        :param documents: the fused candidates, best first, with their talk, segment range and speakers in `meta`
            (a list or one `Candidates`).
        :param query: the question (for the speaker boost).
        :param top_k: how many passages at most (default: as set at construction).
        :param leaders: chunk ids to keep among the passages (`CandidateFusion`'s `leaders`).
        :returns: `documents`, the passages, best first, each covering a distinct stretch of its talk.
        """
        boosted = self._booster.run(documents=documents, query=query)["documents"]
        if not self.neighbour_weight:
            return self._selector.run(documents=boosted, top_k=top_k, leaders=leaders)
        # the smoother's ranking without its copies: only the passages kept are copied with their new score
        ranked = smoothed_scores(boosted, self.neighbour_weight)
        chosen = self._selector.run(documents=[doc for doc, _ in ranked], top_k=top_k, leaders=leaders)["documents"]
        scores = {doc.id: score for doc, score in reversed(ranked)}  # a Document listed twice: its first score
        return {"documents": [replace(doc, score=scores[doc.meta.get("grown_from", doc.id)]) for doc in chosen]}
