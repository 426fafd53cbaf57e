"""Fits the hybrid ranking's learned reranker shipped in `pipeline/weights/reranker.json`
(`pipeline.components.reranker.LearnedReranker`).

Data: QMSum's training split only (`../shared/eval/qmsum/train/`, MIT licence; Yale-LILY/QMSum, commit 83d7768),
each meeting ingested through the real indexing pipeline (the bench cache, `bench.qmsum.cached_workspace`). For each
specific query asked against its own meeting, the first `--candidates` chunks of the hybrid ranking (the query
pipeline's own retrievers, fusion, speaker boost and neighbour smoothing) get the reranker's features, labelled 1
when the chunk holds any turn of the query's gold spans. A logistic regression (scikit-learn, L2, standardised
features) is fitted on them; val is never read here (`bench/retrieval_qmsum.py` reports its dev and check halves).

    nice -n 10 python training/reranker.py --cross-validate   # meetings in the bench cache; writes pipeline/weights/
    nice -n 10 python training/reranker.py --ingest   # first embeds the train meetings not yet in the cache (slow)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.qmsum import TRAIN_DIR, Query, cached_workspace, load_meeting, meeting_files  # noqa: E402
from pipeline.components.passages import PassageSelector  # noqa: E402
from pipeline.components.ranking import rank_fusion  # noqa: E402
from pipeline.components.reranker import (  # noqa: E402
    FEATURES,
    WEIGHTS,
    WEIGHTS_DIR,
    candidate_features,
    hybrid_ranking,
    score_features,
)
from pipeline.pipelines import IndexSettings, QuerySettings  # noqa: E402
from pipeline.query import Searcher  # noqa: E402
from pipeline.stores import StoreConfig  # noqa: E402
from pipeline.workspace import Workspace  # noqa: E402

CANDIDATES = 30
#: The hybrid's first chunks that stay in place, and the inverse L2 strength: chosen by 5-fold cross-validation over
#: train meetings (the best sum of recall@5 and hit@5 of the selected passages; `--cross-validate` reruns the choice
#: over C 0.01, 0.1, 1 and 0–3 chunks kept).
KEEP_FIRST = 0
C = 0.01


@dataclasses.dataclass
class Candidates:
    """One question's hybrid ranking (all of it, best first), each retriever's leaders, and the features of its
    first candidates."""

    query: Query
    ranking: list[Any]  # haystack Documents
    leaders: list[str]
    features: np.ndarray
    labels: np.ndarray


def hybrid(settings: QuerySettings, question: str, keyword: list, dense: list) -> list:
    """The query pipeline's ranking up to the reranker: fusion, speaker boost, neighbour smoothing."""
    fused = rank_fusion(settings.keyword_weight, settings.embedding_weight).run(documents=[keyword, dense])
    return hybrid_ranking(fused["documents"], question, settings.speaker_boost, settings.neighbour_weight)


def collect(searcher: Searcher, queries: list[Query], candidates: int = CANDIDATES) -> list[Candidates]:
    """Each query's hybrid ranking and candidate features, through the searcher's own retrievers and store."""
    settings = searcher.settings
    query_embedder = searcher.pipeline.get_component("text_embedder")
    keyword_retriever = searcher.pipeline.get_component("bm25")
    dense_retriever = searcher.pipeline.get_component("embedding_retriever")
    found = []
    for query in queries:
        filters = searcher.filters(talk=query.meeting, event=None, speaker=None)
        vector = query_embedder.run(text=query.question)["embedding"]
        keyword = keyword_retriever.run(query=query.question, filters=filters, top_k=settings.candidates)["documents"]
        dense = dense_retriever.run(query_embedding=vector, filters=filters, top_k=settings.candidates)["documents"]
        ranking = hybrid(settings, query.question, keyword, dense)
        head = ranking[:candidates]
        features = candidate_features(query.question, head, keyword, dense)
        labels = np.asarray(
            [
                any(t in query.gold_turns for t in range(d.meta["first_segment"], d.meta["last_segment"] + 1))
                for d in head
            ],
            dtype=float,
        )
        leaders = [ranked[0].id for ranked in (keyword, dense) if ranked]
        found.append(Candidates(query, ranking, list(dict.fromkeys(leaders)), features, labels))
    return found


def fit(rows: list[Candidates], c: float = 1.0) -> dict[str, Any]:
    """A logistic regression over the standardised features of all candidates."""
    from sklearn.linear_model import LogisticRegression

    features = np.concatenate([r.features for r in rows])
    labels = np.concatenate([r.labels for r in rows])
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=c, max_iter=2000).fit((features - mean) / scale, labels)
    return {"mean": mean, "scale": scale, "coef": model.coef_[0], "intercept": float(model.intercept_[0])}


def selected_figures(rows: list[Candidates], model: dict[str, Any] | None, keep_first: int) -> tuple[float, float]:
    """Mean recall@5 and hit@5 of the passages the pipeline would select (each retriever's leader after the first)
    from the reranked rankings (`model` None: the hybrid's own)."""
    recalls, hits = [], []
    for row in rows:
        head, ranking = row.ranking[:CANDIDATES], row.ranking
        if model is not None:
            logits = score_features(model, row.features)
            kept = min(keep_first, len(head))
            order = list(range(kept)) + sorted(range(kept, len(head)), key=lambda i: (-logits[i], i))
            ranking = [head[i] for i in order] + ranking[len(head) :]
        chosen = PassageSelector(5, 0.0, 1).run(documents=ranking, leaders=row.leaders)["documents"]
        covered = {t for d in chosen for t in range(d.meta["first_segment"], d.meta["last_segment"] + 1)}
        recalls.append(100 * len(row.query.gold_turns & covered) / len(row.query.gold_turns))
        hits.append(100.0 * bool(row.query.gold_turns & covered))
    return float(np.mean(recalls)), float(np.mean(hits))


def cross_validate(rows: list[Candidates], folds: int = 5) -> tuple[float, int]:
    """recall@5 / hit@5 of each choice, fitted on the other folds of train meetings, against the hybrid's own; the
    best (C, keep_first) by their sum."""
    meetings = sorted({r.query.meeting for r in rows})
    fold = {meeting: i % folds for i, meeting in enumerate(meetings)}
    print(f"hybrid: recall@5 {selected_figures(rows, None, 0)[0]:.1f}, hit@5 {selected_figures(rows, None, 0)[1]:.1f}")
    scores = {}
    for c in (0.01, 0.1, 1.0):
        for keep_first in (0, 1, 2, 3):
            figures = []
            for k in range(folds):
                model = fit([r for r in rows if fold[r.query.meeting] != k], c)
                held_out = [r for r in rows if fold[r.query.meeting] == k]
                figures.append((len(held_out), *selected_figures(held_out, model, keep_first)))
            total = sum(n for n, _, _ in figures)
            recall = sum(n * r for n, r, _ in figures) / total
            hit = sum(n * h for n, _, h in figures) / total
            print(f"C={c:<5} keep_first={keep_first}: recall@5 {recall:.1f}, hit@5 {hit:.1f}")
            scores[(c, keep_first)] = recall + hit
    return max(scores, key=lambda key: (scores[key], key))


def train_rows(limit: int = 0, ingest: bool = False) -> tuple[list[Candidates], int]:
    """Candidates of the train meetings in the bench cache (all of them with `ingest`)."""
    files = meeting_files(TRAIN_DIR)[: limit or None]
    store = StoreConfig(kind="sqlite")
    root = cached_workspace("qmsum-train", files if ingest else [], IndexSettings(), store)
    searcher = Searcher(Workspace(root), QuerySettings(), store)
    searcher.warm_up()
    present = set(searcher.talk_ids)
    queries = [q for path in files if path.stem in present for q in load_meeting(path)[1]]
    meetings = len({q.meeting for q in queries})
    return collect(searcher, queries), meetings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ingest", action="store_true", help="embed the train meetings missing from the cache")
    parser.add_argument("--limit", type=int, default=0, help="only the first N train meetings")
    parser.add_argument("--c", type=float, default=C, help=f"inverse L2 strength (default {C})")
    parser.add_argument("--keep-first", type=int, default=KEEP_FIRST, help=f"chunks kept first ({KEEP_FIRST})")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR / WEIGHTS)
    parser.add_argument("--cross-validate", action="store_true", help="compare C and keep_first by train folds")
    args = parser.parse_args()
    rows, meetings = train_rows(args.limit, args.ingest)
    if args.cross_validate:
        args.c, args.keep_first = cross_validate(rows)
        print(f"chosen: C={args.c}, keep_first={args.keep_first}")
    model = fit(rows, args.c)
    positives = int(sum(r.labels.sum() for r in rows))
    data = {
        "features": list(FEATURES),
        **{key: [round(float(v), 6) for v in model[key]] for key in ("mean", "scale", "coef")},
        "intercept": round(model["intercept"], 6),
        "candidates": CANDIDATES,
        "keep_first": args.keep_first,
        "provenance": (
            f"training/reranker.py on {meetings} QMSum train meetings ({len(rows)} queries, "
            f"{sum(len(r.labels) for r in rows)} candidates, {positives} holding gold turns), "
            f"C={args.c}, keep_first={args.keep_first}, {datetime.date.today().isoformat()}"
        ),
    }
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(data["provenance"])
    for name, value in sorted(zip(FEATURES, model["coef"], strict=True), key=lambda item: -abs(item[1])):
        print(f"{name:>28} {value:+.3f}")


if __name__ == "__main__":
    main()
