"""Retrieval quality of the SQLite store beside the memory store on QMSum val: hybrid recall@5 / hit@5.

Both stores hold the very same chunks and embeddings (the SQLite workspace is copied from the memory one by
`bench.qmsum.cached_workspace`, no re-embedding), so only the stores' own retrieval could differ (both keyword
sides are BM25L with Haystack's words, the SQLite one computed over FTS5; both embedding sides are exact cosine;
a store of schema 1, FTS5's bm25() with Porter stems, is upgraded on open). Each specific query is asked
against its own meeting; the two candidate lists go through the query pipeline's ranking components
(`bench.retrieval_qmsum.ranked`, checked there against `Searcher.ask`). Dev and check halves with 90% bootstrap
intervals over meetings, and the paired difference.

Run: `python bench/stores_qmsum.py [--limit N]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.qmsum import HALVES, cached_workspace, interval, load_meeting, val_halves
from bench.retrieval_qmsum import ranked
from pipeline.pipelines import QuerySettings
from pipeline.query import Searcher
from pipeline.stores import StoreConfig
from pipeline.workspace import Workspace

KINDS = ("memory", "sqlite")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings of each half")
    args = parser.parse_args()
    halves = val_halves(args.limit)
    files = halves["dev"] + halves["check"]
    settings = QuerySettings(top_k=10)
    searchers = {}
    for kind in KINDS:
        store = StoreConfig(kind=kind)
        searchers[kind] = Searcher(Workspace(cached_workspace("qmsum-val", files, store=store)), settings, store)
    embedder = searchers["sqlite"].pipeline.get_component("text_embedder")
    embedder.warm_up()
    figures: dict[str, dict[str, list[float]]] = {half: {} for half in HALVES}
    meetings: dict[str, list[str]] = {half: [] for half in HALVES}
    seconds = {kind: [] for kind in KINDS}
    for half in HALVES:
        for path in halves[half]:
            _, queries, _ = load_meeting(path)
            for query in queries:
                vector = embedder.run(text=query.question)["embedding"]
                meetings[half].append(query.meeting)
                for kind, searcher in searchers.items():
                    filters = searcher.filters(talk=query.meeting, event=None, speaker=None)
                    keyword = searcher.pipeline.get_component("bm25")
                    dense = searcher.pipeline.get_component("embedding_retriever")
                    started = time.perf_counter()
                    bm25 = keyword.run(query=query.question, filters=filters, top_k=settings.candidates)
                    nearest = dense.run(query_embedding=vector, filters=filters, top_k=settings.candidates)
                    seconds[kind].append(time.perf_counter() - started)
                    passages = ranked(settings, query.question, bm25["documents"], nearest["documents"], top_k=10)
                    covered = {t for p in passages[:5] for t in range(p.first_segment, p.last_segment + 1)}
                    gold = query.gold_turns
                    figures[half].setdefault(f"{kind} recall@5", []).append(100 * len(gold & covered) / len(gold))
                    figures[half].setdefault(f"{kind} hit@5", []).append(100.0 * bool(gold & covered))
    print("QMSum val, hybrid through the query pipeline's ranking, each query against its own meeting")
    print(
        f"{'figure':<28} " + " ".join(f"{half + ' (' + str(len(meetings[half])) + ' queries)':>24}" for half in HALVES)
    )
    for figure in ("recall@5", "hit@5"):
        for kind in KINDS:
            cells = [interval(figures[h][f"{kind} {figure}"], meetings[h]) for h in HALVES]
            print(f"{kind + ' ' + figure:<28} " + " ".join(f"{cell:>24}" for cell in cells))
        gains = [
            interval(
                np.subtract(figures[h][f"sqlite {figure}"], figures[h][f"memory {figure}"]), meetings[h], signed=True
            )
            for h in HALVES
        ]
        print(f"{'sqlite - memory ' + figure:<28} " + " ".join(f"{cell:>24}" for cell in gains))
        whole = {kind: np.mean([v for h in HALVES for v in figures[h][f"{kind} {figure}"]]) for kind in KINDS}
        print(f"{'whole val ' + figure:<28} " + ", ".join(f"{kind} {value:.1f}" for kind, value in whole.items()))
    print(
        "median retrieval ms a query (both retrievers, filtered to the meeting): "
        + ", ".join(f"{kind} {1000 * np.median(values):.0f}" for kind, values in seconds.items())
    )


if __name__ == "__main__":
    main()
