"""Retrieval quality on QMSum val: turn-recall@k and hit@k for BM25, embeddings and hybrid.

Each meeting is ingested through the real indexing pipeline (segments = turns, no times) and each specific
query is asked against its own meeting. Run: `python bench/retrieval_qmsum.py [--words N --overlap M] [--settings]`.
`--settings` adds a table of query settings, one change at a time from the defaults, scored through the query
pipeline's own ranking components (fusion, speaker boost, smoothing, selection) without the highlighter.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from haystack.components.joiners import DocumentJoiner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.qmsum import load_meeting, meeting_files
from pipeline.components.passages import PassageSelector, to_passage
from pipeline.components.ranking import NeighbourSmoother, RankFusion, SpeakerBooster
from pipeline.ingest import Ingestor
from pipeline.models import Passage
from pipeline.pipelines import IndexSettings, QuerySettings
from pipeline.query import Searcher
from pipeline.workspace import Workspace

KS = (1, 3, 5, 10)
DEFAULTS = QuerySettings()
PREVIOUS = dataclasses.replace(
    DEFAULTS, candidates=60, embedding_weight=1.0, neighbour_weight=0.5, leaders_after=None
)  # before issue 2's last round
SETTINGS = {
    "previous defaults": PREVIOUS,
    "defaults": DEFAULTS,
    "no retriever leaders": dataclasses.replace(DEFAULTS, leaders_after=None),
    "leaders after 2": dataclasses.replace(DEFAULTS, leaders_after=2),
    "candidates 60": dataclasses.replace(DEFAULTS, candidates=60),
    "candidates 200": dataclasses.replace(DEFAULTS, candidates=200),
    "weights 1:1": dataclasses.replace(DEFAULTS, embedding_weight=1.0),
    "weights 1:2": dataclasses.replace(DEFAULTS, embedding_weight=2.0),
    "rrf k 30": dataclasses.replace(DEFAULTS, rrf_k=30),
    "neighbours 0.5": dataclasses.replace(DEFAULTS, neighbour_weight=0.5),
    "neighbours 1.0": dataclasses.replace(DEFAULTS, neighbour_weight=1.0),
    "speaker boost 0": dataclasses.replace(DEFAULTS, speaker_boost=0.0),
    "speaker boost 1": dataclasses.replace(DEFAULTS, speaker_boost=1.0),
}


def turns_covered(passages: list[Passage]) -> set[int]:
    return {turn for p in passages for turn in range(p.first_segment, p.last_segment + 1)}


def as_passages(documents) -> list[Passage]:
    return [to_passage(document, []) for document in documents]


def score(rows: list[tuple[set[int], list[Passage], int]]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for k in KS:
        recalls, hits, shares = [], [], []
        for gold, passages, turns in rows:
            covered = turns_covered(passages[:k])
            recalls.append(len(gold & covered) / len(gold))
            hits.append(bool(gold & covered))
            shares.append(len(covered) / turns)
        figures[f"recall@{k}"] = 100 * float(np.mean(recalls))
        figures[f"hit@{k}"] = 100 * float(np.mean(hits))
        figures[f"share@{k}"] = 100 * float(np.mean(shares))
    words = [len(p.text.split()) for _, passages, _ in rows for p in passages[:5]]
    figures["words@5"] = float(np.mean(words))
    return figures


def ranked(settings: QuerySettings, question: str, bm25: list, dense: list, top_k: int) -> list[Passage]:
    """The query pipeline's ranking steps, component by component, under other settings."""
    fusion = RankFusion(settings.keyword_weight, settings.embedding_weight, settings.rrf_k)
    fused = fusion.run(keyword_documents=bm25[: settings.candidates], embedding_documents=dense[: settings.candidates])
    boosted = SpeakerBooster(settings.speaker_boost).run(documents=fused["documents"], query=question)["documents"]
    smoothed = NeighbourSmoother(settings.neighbour_weight).run(documents=boosted)["documents"]
    selector = PassageSelector(top_k, settings.max_overlap, settings.leaders_after or 0)
    leaders = fused["leaders"] if settings.leaders_after is not None else None
    return as_passages(selector.run(documents=smoothed, leaders=leaders)["documents"])


def print_table(rows: dict[str, list], width: int = 9) -> None:
    header = [f"{'method':>{width}}"] + [f"{h:>9}" for h in [f"{m}@{k}" for k in KS for m in ("recall", "hit")]]
    print(" | ".join(header + [f"{h:>9}" for h in ("share@5", "words@5")]))
    for method, method_rows in rows.items():
        figures = score(method_rows)
        values = [figures[f"{m}@{k}"] for k in KS for m in ("recall", "hit")] + [figures["share@5"], figures["words@5"]]
        print(" | ".join([f"{method:>{width}}"] + [f"{v:9.1f}" for v in values]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words", type=int, default=IndexSettings.chunk_words)
    parser.add_argument("--overlap", type=int, default=IndexSettings.chunk_overlap)
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings")
    parser.add_argument("--settings", action="store_true", help="also score other query settings, one at a time")
    args = parser.parse_args()
    files = meeting_files()[: args.limit or None]
    settings = IndexSettings(chunk_words=args.words, chunk_overlap=args.overlap)
    with tempfile.TemporaryDirectory() as directory:
        workspace = Workspace(Path(directory))
        ingestor = Ingestor(workspace, settings)
        ingestor.warm_up()
        started = time.perf_counter()
        meetings = [load_meeting(path)[:2] for path in files]
        for outcome in ingestor.ingest_many(transcript for transcript, _ in meetings):
            if outcome.error:
                raise outcome.error
        ingest_seconds = time.perf_counter() - started
        searcher = Searcher(workspace, QuerySettings(top_k=10))
        searcher.warm_up()
        selector = PassageSelector(top_k=10, max_overlap=searcher.settings.max_overlap)
        embedder = searcher.pipeline.get_component("text_embedder")
        keyword = searcher.pipeline.get_component("bm25")  # the pipeline's own retrievers, whatever the store
        dense_retriever = searcher.pipeline.get_component("embedding_retriever")
        joiner = DocumentJoiner(join_mode="reciprocal_rank_fusion")
        rows: dict[str, list] = {"bm25": [], "embedding": [], "plain rrf": [], "hybrid": []}
        variants: dict[str, list] = {name: [] for name in SETTINGS} if args.settings else {}
        deepest = max([searcher.settings.candidates] + [v.candidates for v in SETTINGS.values()])
        started = time.perf_counter()
        for transcript, queries in meetings:
            turns = len(transcript.segments)
            for query in queries:
                filters = searcher.filters(talk=query.meeting, event=None, speaker=None)
                depth = searcher.settings.candidates
                deep_bm25 = keyword.run(query=query.question, filters=filters, top_k=deepest)["documents"]
                vector = embedder.run(text=query.question)["embedding"]
                deep_dense = dense_retriever.run(query_embedding=vector, filters=filters, top_k=deepest)["documents"]
                bm25, dense = deep_bm25[:depth], deep_dense[:depth]
                fused = joiner.run(documents=[bm25, dense])["documents"]
                for name, variant in SETTINGS.items() if args.settings else ():
                    passages = ranked(variant, query.question, deep_bm25, deep_dense, top_k=10)
                    variants[name].append((query.gold_turns, passages, turns))
                rows["bm25"].append((query.gold_turns, as_passages(selector.run(documents=bm25)["documents"]), turns))
                rows["embedding"].append(
                    (query.gold_turns, as_passages(selector.run(documents=dense)["documents"]), turns)
                )
                rows["plain rrf"].append(
                    (query.gold_turns, as_passages(selector.run(documents=fused)["documents"]), turns)
                )
                answer = searcher.ask(query.question, top_k=10, talk=query.meeting)
                rows["hybrid"].append((query.gold_turns, answer.passages, turns))
        query_seconds = time.perf_counter() - started
    print(
        f"QMSum val: {len(meetings)} meetings, {len(rows['hybrid'])} queries; chunks of {args.words} words, "
        f"overlap {args.overlap}; ingest {ingest_seconds:.1f}s, queries {query_seconds:.1f}s"
    )
    print(
        "hybrid = the `talks ask` pipeline: BM25 + embeddings by weighted RRF, speaker boost, neighbour smoothing, "
        "each retriever's best chunk kept; plain rrf = the same two lists fused by Haystack's DocumentJoiner, "
        "nothing else"
    )
    print_table(rows)
    if variants:
        print(f"\nquery settings, one change at a time from the defaults ({DEFAULTS})")
        print_table(variants, width=22)
        same = score(variants["defaults"]) == score(rows["hybrid"])
        print(f"'defaults' row {'equals' if same else 'DIFFERS FROM'} the hybrid row above")


if __name__ == "__main__":
    main()
