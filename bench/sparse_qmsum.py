"""The Qdrant store's keyword side on QMSum val: qdrant-edge's BM25 sparse vectors (what `pipeline.stores.sparse`
uses: Qdrant's own tokeniser, English stop words and Snowball stems, the same token ids as a Qdrant server's BM25)
beside the hand-written encoder they replaced (Haystack's `\\b\\w\\w+\\b` tokens, CRC-32 ids, no stems).

Qdrant scores a sparse query by the dot product with each chunk's vector, the query side weighted by the IDF
modifier `ln(1 + (N - n + 0.5) / (n + 0.5))` over the whole collection; this bench does the same sums in numpy over
all val chunks (no server: only the encoders differ), takes each query's 100 best chunks of its own meeting, and
ranks them with the exact-cosine embedding candidates through the query pipeline's ranking
(`bench.retrieval_qmsum.ranked`). Hybrid recall@5 / hit@5, dev and check halves, 90% bootstrap intervals over
meetings, and the paired difference.

Run: `python bench/sparse_qmsum.py [--limit N]`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import zlib
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from haystack import Document

from bench.qmsum import HALVES, cached_workspace, interval, load_meeting, val_halves
from bench.retrieval_qmsum import ranked
from pipeline.pipelines import QuerySettings
from pipeline.query import Searcher
from pipeline.stores import StoreConfig, open_store
from pipeline.stores.sparse import bm25_document_vector, bm25_query_vector
from pipeline.workspace import Workspace

_WORDS = re.compile(r"(?u)\b\w\w+\b")


def _crc32_document(text: str, k1: float = 1.5, b: float = 0.75, average_length: float = 150.0) -> dict[int, float]:
    """The replaced encoder, kept here as the baseline: Haystack's in-memory BM25 tokens, CRC-32 ids."""
    counts = Counter(zlib.crc32(token.encode()) for token in _WORDS.findall(text.lower()))
    norm = k1 * (1 - b + b * sum(counts.values()) / average_length)
    return {index: tf * (k1 + 1) / (tf + norm) for index, tf in counts.items()}


def _crc32_query(text: str) -> dict[int, float]:
    return dict.fromkeys((zlib.crc32(token.encode()) for token in _WORDS.findall(text.lower())), 1.0)


def _edge_document(text: str) -> dict[int, float]:
    vector = bm25_document_vector(text)
    return dict(zip(vector.indices, vector.values, strict=True))


def _edge_query(text: str) -> dict[int, float]:
    vector = bm25_query_vector(text)
    return dict(zip(vector.indices, vector.values, strict=True))


ENCODERS = {"crc32": (_crc32_document, _crc32_query), "qdrant-edge": (_edge_document, _edge_query)}


class SparseIndex:
    """Chunks' sparse vectors and Qdrant's IDF over all of them; `search` is the IDF-weighted dot product."""

    def __init__(self, documents: list[Document], encode) -> None:
        self.documents = documents
        self.vectors = [encode(document.content or "") for document in documents]
        frequency = Counter(index for vector in self.vectors for index in vector)
        total = len(documents)
        self.idf = {index: math.log(1 + (total - n + 0.5) / (n + 0.5)) for index, n in frequency.items()}
        self.by_meeting: dict[str, list[int]] = defaultdict(list)
        for number, document in enumerate(documents):
            self.by_meeting[document.meta["talk_id"]].append(number)

    def search(self, query: dict[int, float], meeting: str, top_k: int) -> list[Document]:
        scored = []
        for number in self.by_meeting[meeting]:
            vector = self.vectors[number]
            score = sum(weight * self.idf.get(index, 0.0) * vector.get(index, 0.0) for index, weight in query.items())
            if score > 0:
                scored.append((score, number))
        scored.sort(key=lambda pair: (-pair[0], pair[1]))
        return [
            Document(
                id=self.documents[n].id, content=self.documents[n].content, meta=self.documents[n].meta, score=score
            )
            for score, n in scored[:top_k]
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N meetings of each half")
    args = parser.parse_args()
    halves = val_halves(args.limit)
    files = halves["dev"] + halves["check"]
    settings = QuerySettings(top_k=10)
    store = StoreConfig(kind="sqlite")
    root = cached_workspace("qmsum-val", files, store=store)
    searcher = Searcher(Workspace(root), settings, store)
    embedder = searcher.pipeline.get_component("text_embedder")
    embedder.warm_up()
    dense = searcher.pipeline.get_component("embedding_retriever")
    opened = open_store(store, root)
    try:
        documents = [document for path in files for document in opened.documents(path.stem)]
    finally:
        opened.close()
    indexes = {name: SparseIndex(documents, encode) for name, (encode, _) in ENCODERS.items()}
    figures: dict[str, dict[str, list[float]]] = {half: defaultdict(list) for half in HALVES}
    meetings: dict[str, list[str]] = {half: [] for half in HALVES}
    for half in HALVES:
        for path in halves[half]:
            for query in load_meeting(path)[1]:
                meetings[half].append(query.meeting)
                vector = embedder.run(text=query.question)["embedding"]
                filters = searcher.filters(talk=query.meeting, event=None, speaker=None)
                nearest = dense.run(query_embedding=vector, filters=filters, top_k=settings.candidates)["documents"]
                for name, (_, encode_query) in ENCODERS.items():
                    keyword = indexes[name].search(encode_query(query.question), query.meeting, settings.candidates)
                    passages = ranked(settings, query.question, keyword, nearest, top_k=10)
                    covered = {t for p in passages[:5] for t in range(p.first_segment, p.last_segment + 1)}
                    gold = query.gold_turns
                    figures[half][f"{name} recall@5"].append(100 * len(gold & covered) / len(gold))
                    figures[half][f"{name} hit@5"].append(100.0 * bool(gold & covered))
    print("QMSum val, Qdrant-style sparse BM25 + exact cosine through the query pipeline's ranking")
    print(f"{'figure':<28} " + " ".join(f"{f'{half} ({len(meetings[half])} queries)':>24}" for half in HALVES))
    for figure in ("recall@5", "hit@5"):
        for name in ENCODERS:
            cells = [interval(figures[h][f"{name} {figure}"], meetings[h]) for h in HALVES]
            print(f"{name + ' ' + figure:<28} " + " ".join(f"{cell:>24}" for cell in cells))
        gains = [
            interval(
                np.subtract(figures[h][f"qdrant-edge {figure}"], figures[h][f"crc32 {figure}"]),
                meetings[h],
                signed=True,
            )
            for h in HALVES
        ]
        print(f"{'qdrant-edge - crc32 ' + figure:<28} " + " ".join(f"{cell:>24}" for cell in gains))


if __name__ == "__main__":
    main()
