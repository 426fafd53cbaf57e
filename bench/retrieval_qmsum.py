"""Retrieval quality on QMSum val: turn-recall@k and hit@k for BM25, embeddings and hybrid.

Each meeting is ingested through the real indexing pipeline (segments = turns, no times) and each specific
query is asked against its own meeting. Run: `python bench/retrieval_qmsum.py [--words N --overlap M]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from haystack.components.joiners import DocumentJoiner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.qmsum import load_meeting, meeting_files
from pipeline.components.passages import PassageSelector, to_passage
from pipeline.ingest import Ingestor
from pipeline.models import Passage
from pipeline.pipelines import IndexSettings, QuerySettings
from pipeline.query import Searcher
from pipeline.workspace import Workspace

KS = (1, 3, 5, 10)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words", type=int, default=IndexSettings.chunk_words)
    parser.add_argument("--overlap", type=int, default=IndexSettings.chunk_overlap)
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings")
    args = parser.parse_args()
    files = meeting_files()[: args.limit or None]
    settings = IndexSettings(chunk_words=args.words, chunk_overlap=args.overlap)
    with tempfile.TemporaryDirectory() as directory:
        workspace = Workspace(Path(directory))
        ingestor = Ingestor(workspace, settings)
        ingestor.warm_up()
        started = time.perf_counter()
        meetings = []
        for path in files:
            transcript, queries, _ = load_meeting(path)
            ingestor.ingest(transcript)
            meetings.append((transcript, queries))
        ingest_seconds = time.perf_counter() - started
        searcher = Searcher(workspace, QuerySettings(top_k=10))
        searcher.warm_up()
        selector = PassageSelector(top_k=10, max_overlap=searcher.settings.max_overlap)
        embedder = searcher.pipeline.get_component("text_embedder")
        joiner = DocumentJoiner(join_mode="reciprocal_rank_fusion")
        rows: dict[str, list] = {"bm25": [], "embedding": [], "plain rrf": [], "hybrid": []}
        started = time.perf_counter()
        for transcript, queries in meetings:
            turns = len(transcript.segments)
            for query in queries:
                filters = searcher.filters(talk=query.meeting, event=None, speaker=None)
                depth = searcher.settings.candidates
                bm25 = searcher.store.bm25_retrieval(query.question, filters=filters, top_k=depth)
                vector = embedder.run(text=query.question)["embedding"]
                dense = searcher.store.embedding_retrieval(vector, filters=filters, top_k=depth)
                fused = joiner.run(documents=[bm25, dense])["documents"]
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
        "hybrid = BM25 + embeddings by RRF, speaker boost, neighbour smoothing (the `talks ask` pipeline); "
        "plain rrf = the same two lists fused, nothing else"
    )
    header = ["method"] + [f"{m}@{k}" for k in KS for m in ("recall", "hit")] + ["share@5", "words@5"]
    print(" | ".join(f"{h:>9}" for h in header))
    for method, method_rows in rows.items():
        figures = score(method_rows)
        values = [figures[f"{m}@{k}"] for k in KS for m in ("recall", "hit")] + [figures["share@5"], figures["words@5"]]
        print(" | ".join([f"{method:>9}"] + [f"{v:9.1f}" for v in values]))


if __name__ == "__main__":
    main()
