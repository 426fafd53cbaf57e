"""The question encoders side by side on QMSum val: torch (sentence-transformers), ONNX fp32 (`onnx`) and ONNX int8
(`onnx-int8`), all three querying the same SQLite store whose chunk vectors were made by torch at ingest (the default
set-up: stored vectors stay, only the question encoder changes). Prints hybrid recall@5 / hit@5 through the query
pipeline's ranking (`bench.retrieval_qmsum.ranked`) on the dev and check halves with 90% bootstrap intervals over
meetings and the paired differences to torch, the cosine between each ONNX question vector and torch's, the cosine
between ONNX vectors of stored chunk texts and the stored torch vectors, and the CPU time to encode those chunks (what
ingest pays).

Run: `OMP_NUM_THREADS=1 nice -n 10 python bench/encoder_qmsum.py [--limit N] [--chunks 300]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bench.qmsum import HALVES, cached_workspace, interval, load_meeting, val_halves
from bench.retrieval_qmsum import ranked
from pipeline.embedding import document_embedder, text_embedder
from pipeline.pipelines import QuerySettings
from pipeline.query import Searcher
from pipeline.stores import StoreConfig
from pipeline.workspace import Workspace

ENCODERS = ("torch", "onnx", "onnx-int8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings of each half")
    parser.add_argument("--chunks", type=int, default=300, help="stored chunks re-encoded for cosine and speed")
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime threads")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    halves = val_halves(args.limit)
    files = halves["dev"] + halves["check"]
    settings = QuerySettings(top_k=10)
    store = StoreConfig(kind="sqlite")
    searcher = Searcher(Workspace(cached_workspace("qmsum-val", files, store=store)), settings, store)
    embedders = {name: text_embedder(name) for name in ENCODERS}
    for name, embedder in embedders.items():
        if name != "torch":
            embedder.threads = args.threads
        embedder.warm_up()
    keyword = searcher.pipeline.get_component("bm25")
    dense = searcher.pipeline.get_component("embedding_retriever")
    figures: dict[str, dict[str, list[float]]] = {half: {} for half in HALVES}
    meetings: dict[str, list[str]] = {half: [] for half in HALVES}
    question_cosines: dict[str, list[float]] = {name: [] for name in ENCODERS[1:]}
    for half in HALVES:
        for path in halves[half]:
            _, queries, _ = load_meeting(path)
            for query in queries:
                meetings[half].append(query.meeting)
                filters = searcher.filters(talk=query.meeting, event=None, speaker=None)
                bm25 = keyword.run(query=query.question, filters=filters, top_k=settings.candidates)["documents"]
                vectors = {name: np.asarray(e.run(text=query.question)["embedding"]) for name, e in embedders.items()}
                for name, vector in vectors.items():
                    if name != "torch":
                        question_cosines[name].append(float(vector @ vectors["torch"]))
                    nearest = dense.run(query_embedding=vector.tolist(), filters=filters, top_k=settings.candidates)
                    passages = ranked(settings, query.question, bm25, nearest["documents"], top_k=10)
                    covered = {t for p in passages[:5] for t in range(p.first_segment, p.last_segment + 1)}
                    gold = query.gold_turns
                    figures[half].setdefault(f"{name} recall@5", []).append(100 * len(gold & covered) / len(gold))
                    figures[half].setdefault(f"{name} hit@5", []).append(100.0 * bool(gold & covered))
    print("QMSum val, hybrid through the query pipeline's ranking, torch-made chunk vectors, question encoder varies")
    print(f"{'figure':<30} " + " ".join(f"{h + ' (' + str(len(meetings[h])) + ' queries)':>24}" for h in HALVES))
    for figure in ("recall@5", "hit@5"):
        for name in ENCODERS:
            cells = [interval(figures[h][f"{name} {figure}"], meetings[h]) for h in HALVES]
            print(f"{name + ' ' + figure:<30} " + " ".join(f"{cell:>24}" for cell in cells))
        for name in ENCODERS[1:]:
            cells = [
                interval(
                    np.subtract(figures[h][f"{name} {figure}"], figures[h][f"torch {figure}"]), meetings[h], signed=True
                )
                for h in HALVES
            ]
            print(f"{name + ' - torch ' + figure:<30} " + " ".join(f"{cell:>24}" for cell in cells))
        whole = {n: np.mean([v for h in HALVES for v in figures[h][f"{n} {figure}"]]) for n in ENCODERS}
        print(f"{'whole val ' + figure:<30} " + ", ".join(f"{n} {value:.2f}" for n, value in whole.items()))
    for name, values in question_cosines.items():
        print(f"question cosine {name} vs torch: mean {np.mean(values):.4f}, min {np.min(values):.4f}")
    chunk_figures(searcher, args.chunks, args.threads)


def chunk_figures(searcher: Searcher, count: int, threads: int) -> None:
    """Stored chunks (torch vectors) re-encoded by each encoder: cosine to the stored vector, and encode CPU time."""
    from haystack import Document

    store = searcher.store
    chunks = [d for talk in store.talk_ids() for d in store.documents(talk)][:count]
    stored = np.asarray([d.embedding for d in chunks], dtype=np.float32)
    documents = [Document(content=d.content) for d in chunks]
    seconds: dict[str, list[float]] = {}
    for name in ENCODERS:
        embedder = document_embedder(32, name)
        if name != "torch":
            embedder.threads = threads
        embedder.warm_up()
        for _ in range(3):  # CPU time, not wall: the machine is shared
            started = time.process_time()
            out = embedder.run(documents=documents)["documents"]
            seconds.setdefault(name, []).append(time.process_time() - started)
        vectors = np.asarray([d.embedding for d in out], dtype=np.float32)
        cosines = (vectors * stored).sum(axis=1)
        print(
            f"{len(chunks)} stored chunks by {name}: cosine to the stored torch vectors mean {cosines.mean():.4f}, "
            f"min {cosines.min():.4f}; encode CPU median {statistics.median(seconds[name]):.2f} s"
        )
    base = statistics.median(seconds["torch"])
    print("encode speed vs torch: " + ", ".join(f"{n} x{base / statistics.median(s):.2f}" for n, s in seconds.items()))


if __name__ == "__main__":
    main()
