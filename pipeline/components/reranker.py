"""A small learned reranker for the hybrid ranking: a logistic model over cheap features of each of the first
candidates (their keyword, embedding and fused ranks and scores, query-word coverage, a named speaker, length,
position, closeness to the best-ranked chunks and the kind of question), fitted on QMSum's train split by
`training/reranker.py` and shipped as `pipeline/weights/reranker.json`.

Sentence-level evidence (the similarity of a chunk's best sentences to the question, from the sentence embeddings
the SQLite store keeps) was tried as features and as a third fused ranking: it lowered recall on train
(cross-validated by meeting) and on val, so the model does not use it (README, "Retrieval").

Features use ranks and scores scaled within each question's lists (not raw BM25 values), so a change of the
store's keyword scoring (FTS5 BM25, BM25L) or of the similarity scale (cosine, Haystack's scaled cosine) moves
them little. scikit-learn fits the model in training; at query time the dot product needs only NumPy.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document, component, default_to_dict

from pipeline.components.candidates import Candidates
from pipeline.components.ranking import NeighbourSmoother, SpeakerBooster, speakers_named
from pipeline.text import words

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
WEIGHTS = "reranker.json"

#: Question kinds, as flags: a flag alone is the same for every candidate of a question, so each one enters the
#: model only through its products with the position and the keyword score.
QUESTION_KINDS = {
    "decision": re.compile(r"\b(decid\w*|decision|agree\w*|conclu\w*|choose|chose|settle\w*)\b", re.I),
    "why": re.compile(r"\b(why|reason\w*|because)\b", re.I),
    "next": re.compile(r"\b(next|future|plan\w*|follow[- ]?up|action items?|todo|to do)\b", re.I),
    "summary": re.compile(r"\b(summari[sz]e|overall|discuss\w*|talk\w* about)\b", re.I),
}
#: Words too common to count towards query coverage (QMSum questions all ask what "the group" "discussed").
_COMMON = frozenset(
    "a an and are as at be by did do does for from group had has have how i in is it its meeting of on or said say "
    "says so team than that the their them then there they this to was we were what when where which who why will "
    "with would about discuss discussed discussion think thought talk talked".split()
)
BASE_FEATURES = (
    "hybrid_rank",
    "hybrid_score",
    "keyword_rank",
    "keyword_score",
    "keyword_missing",
    "embedding_rank",
    "embedding_score",
    "embedding_missing",
    "coverage",
    "speaker_main",
    "speaker_present",
    "length",
    "position",
    "neighbours",
    "near_top",
)
FEATURES = BASE_FEATURES + tuple(
    f"{kind}_x_{feature}" for kind in QUESTION_KINDS for feature in ("position", "keyword_score")
)


class RerankerWeightsError(ValueError):
    """A reranker weights file that cannot be used (missing, not JSON, or for other features)."""


def _scaled(scores: list[float]) -> list[float]:
    """Scores scaled within their list to 0 (worst) … 1 (best): invariant to the scale and offset of a scoring."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    return [(s - low) / (high - low) if high > low else 1.0 for s in scores]


def _rank_feature(rank: int | None, depth: int) -> float:
    """1/log2(2 + rank) for a 0-based rank; a chunk missing from a ranking counts as ranked just past its end."""
    return 1.0 / math.log2(2 + (depth if rank is None else rank))


def _closeness(a: Document, b: Document) -> float:
    """1 for touching or overlapping chunks, falling with the number of turns between them (answers in meetings
    run over long stretches: a chunk near the best-ranked ones is likely in the same one)."""
    gap = max(
        0, a.meta["first_segment"] - b.meta["last_segment"] - 1, b.meta["first_segment"] - a.meta["last_segment"] - 1
    )
    return 1.0 / (1.0 + gap / 5)


def candidate_features(
    query: str,
    documents: Sequence[Document],
    keyword_documents: Sequence[Document],
    embedding_documents: Sequence[Document],
) -> np.ndarray:
    """One row of `FEATURES` for each of `documents` (the candidates, in the hybrid ranking's order), given each
    retriever's ranking."""
    keyword_rank = {d.id: i for i, d in enumerate(keyword_documents)}
    embedding_rank = {d.id: i for i, d in enumerate(embedding_documents)}
    keyword_score = dict(zip(keyword_rank, _scaled([d.score or 0.0 for d in keyword_documents]), strict=True))
    embedding_score = dict(zip(embedding_rank, _scaled([d.score or 0.0 for d in embedding_documents]), strict=True))
    hybrid_score = _scaled([d.score or 0.0 for d in documents])
    speakers = {name for d in documents for name in d.meta.get("speakers") or []}
    named = speakers_named(query, speakers)
    query_words = {w for w in words(query) if w not in _COMMON and len(w) > 2}
    kinds = [1.0 if pattern.search(query) else 0.0 for pattern in QUESTION_KINDS.values()]
    last = max([d.meta["last_segment"] for d in (*documents, *keyword_documents, *embedding_documents)] + [1])
    top = documents[:3]
    rows = []
    for i, doc in enumerate(documents):
        text_words = set(words(doc.content or ""))
        neighbours = sum(
            1
            for other in documents
            if other.id != doc.id
            and other.meta["first_segment"] <= doc.meta["last_segment"] + 1
            and doc.meta["first_segment"] <= other.meta["last_segment"] + 1
        )
        base = {
            "hybrid_rank": _rank_feature(i, len(documents)),
            "hybrid_score": hybrid_score[i],
            "keyword_rank": _rank_feature(keyword_rank.get(doc.id), len(keyword_documents)),
            "keyword_score": keyword_score.get(doc.id, 0.0),
            "keyword_missing": float(doc.id not in keyword_rank),
            "embedding_rank": _rank_feature(embedding_rank.get(doc.id), len(embedding_documents)),
            "embedding_score": embedding_score.get(doc.id, 0.0),
            "embedding_missing": float(doc.id not in embedding_rank),
            "coverage": len(query_words & text_words) / len(query_words) if query_words else 0.0,
            "speaker_main": float(doc.meta.get("speaker") in named),
            "speaker_present": float(bool(named & set(doc.meta.get("speakers") or []))),
            "length": math.log1p(len((doc.content or "").split())),
            "position": doc.meta["first_segment"] / last,
            "neighbours": float(neighbours),
            "near_top": max([_closeness(doc, other) for other in top if other.id != doc.id] + [0.0]),
        }
        crossed = [flag * base[feature] for flag in kinds for feature in ("position", "keyword_score")]
        rows.append([base[name] for name in BASE_FEATURES] + crossed)
    return np.asarray(rows, dtype=np.float64).reshape(len(documents), len(FEATURES))


def hybrid_ranking(
    documents: Sequence[Document], query: str, speaker_boost: float, neighbour_weight: float
) -> Sequence[Document]:
    """The fused ranking re-scored as the query pipeline does without the reranker: speaker boost, then neighbour
    smoothing. The reranker re-orders the head of this ranking (and was fitted on it)."""
    boosted = SpeakerBooster(speaker_boost).run(documents=documents, query=query)["documents"]
    return NeighbourSmoother(neighbour_weight).run(documents=boosted)["documents"]


def load_weights(path: Path | str | None = None) -> dict[str, Any]:
    """The model in `path` (default: the shipped `pipeline/weights/reranker.json`), checked against `FEATURES`."""
    path = Path(path) if path else WEIGHTS_DIR / WEIGHTS
    try:
        data = json.loads(path.read_text())
        names = tuple(data["features"])
        model = {key: np.asarray(data[key], dtype=np.float64) for key in ("mean", "scale", "coef")}
        intercept = float(data["intercept"])
    except OSError as error:
        raise RerankerWeightsError(f"reranker weights {path}: cannot read ({error.strerror or error})") from None
    except (ValueError, KeyError, TypeError) as error:
        raise RerankerWeightsError(f"reranker weights {path}: not a reranker model ({error!r})") from None
    if names != FEATURES:
        raise RerankerWeightsError(f"reranker weights {path}: fitted for other features than this version computes")
    if any(model[key].shape != (len(FEATURES),) for key in model) or not np.all(model["scale"] > 0):
        raise RerankerWeightsError(f"reranker weights {path}: {len(FEATURES)} means, positive scales and coefficients")
    return {
        **model,
        "intercept": intercept,
        "candidates": int(data.get("candidates", 30)),
        "keep_first": int(data.get("keep_first", 0)),
    }


def score_features(model: dict[str, Any], features: np.ndarray) -> np.ndarray:
    """The model's log-odds for each row of `features`."""
    return ((features - model["mean"]) / model["scale"]) @ model["coef"] + model["intercept"]


@component
class LearnedReranker:
    """Re-scores the fused ranking as the pipeline does without it (`speaker_boost`, `neighbour_weight`: see
    `SpeakerBooster`, `NeighbourSmoother`), then re-orders its first `candidates` chunks by a logistic model (see
    the module docstring), keeping the first `keep_first` where they are (as the model was fitted, score 1); the
    rest follow in their order. A reranked chunk's score becomes its modelled probability of holding the answer;
    the rest keep scores below those.

    :param weights: a model written by `training/reranker.py` (default: the shipped one).
    :param candidates: how many chunks of the ranking to re-order (default: as the model was fitted).

    Usage example:
    ```python
    from haystack import Document

    from pipeline.components.ranking import CandidateFusion
    from pipeline.components.reranker import LearnedReranker

    def chunk(first: int, text: str, score: float) -> Document:
        meta = {"talk_id": "demo", "first_segment": first, "last_segment": first + 3, "speakers": ["Ada"]}
        return Document(id=f"demo:{first}-{first + 3}", content=text, score=score, meta=meta)

    keyword = [chunk(8, "Pricing per seat.", 7.1), chunk(0, "Why we picked Apache.", 5.2)]
    embedding = [chunk(0, "Why we picked Apache.", 0.61), chunk(4, "Companies contribute.", 0.55)]
    fused = CandidateFusion().run(keyword_documents=keyword, embedding_documents=embedding)["documents"]
    reranker = LearnedReranker()
    reranker.warm_up()
    reranked = reranker.run(
        documents=fused, query="Why Apache?", keyword_documents=keyword, embedding_documents=embedding
    )["documents"]
    print([(document.id, round(document.score, 2)) for document in reranked])
    # [('demo:0-3', 0.49), ('demo:4-7', 0.33), ('demo:8-11', 0.09)]: each chunk's modelled chance of the answer
    ```
    """

    def __init__(
        self,
        weights: str | None = None,
        candidates: int | None = None,
        speaker_boost: float = 0.5,
        neighbour_weight: float = 0.75,
    ) -> None:
        self.weights = weights
        self.candidates = candidates
        self.speaker_boost = speaker_boost
        self.neighbour_weight = neighbour_weight
        self._model: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(
            self,
            weights=self.weights,
            candidates=self.candidates,
            speaker_boost=self.speaker_boost,
            neighbour_weight=self.neighbour_weight,
        )

    def warm_up(self) -> None:
        if self._model is None:
            self._model = load_weights(self.weights)

    @component.output_types(documents=Candidates)
    def run(
        self,
        documents: list[Document] | Candidates,
        query: str,
        keyword_documents: list[Document] | Candidates,
        embedding_documents: list[Document] | Candidates,
    ) -> dict[str, Any]:
        """
        :param documents: the fused ranking, best first.
        :param query: the question.
        :param keyword_documents, embedding_documents: each retriever's own ranking (lists or `Candidates`).
        :returns: `documents`, re-ordered copies (one `Candidates`).
        """
        self.warm_up()
        assert self._model is not None
        documents = hybrid_ranking(documents, query, self.speaker_boost, self.neighbour_weight)
        head = documents[: self.candidates or self._model["candidates"]]
        if not head:
            return {"documents": Candidates(documents)}
        logits = score_features(self._model, candidate_features(query, head, keyword_documents, embedding_documents))
        kept = min(self._model["keep_first"], len(head))
        order = list(range(kept)) + sorted(range(kept, len(head)), key=lambda i: (-logits[i], i))
        probability = 1.0 / (1.0 + np.exp(-logits))
        probability[:kept] = 1.0  # kept in place: above every reranked chunk, so scores still fall down the list
        reranked = [replace(head[i], score=float(probability[i])) for i in order]
        floor = float(probability.min())
        rest = [
            replace(d, score=floor * (1 - (n + 1) / (len(documents) + 1))) for n, d in enumerate(documents[len(head) :])
        ]
        return {"documents": Candidates(reranked + rest)}
